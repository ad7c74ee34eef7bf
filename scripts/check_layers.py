#!/usr/bin/env python3
"""Checks the layering of gateway/ (README "Development", the folder map).

Every folder under gateway/ is a room with a rank; a file may include headers of its
own room and of rooms below it, never of a room above it. The files directly in
gateway/ (main.cpp, cli.*) are the top. Reads every `#include "..."` of every source
file under gateway/ and fails, naming file:line and both rooms, on an include that
points upwards, on a folder that is not in LAYERS, and on an include of a header that
does not exist. Python 3 standard library only.

Usage: scripts/check_layers.py [gateway-dir]   (exit 0: clean, 1: violations)
"""

import re
import sys
from pathlib import Path

# Bottom to top. Keep in step with the folder map in README.md.
LAYERS = [
    "util",  # pure helpers: hashing, percent-decoding, IP addresses, JSON text
    "config",  # reading and validating config.yaml and the policies; the limit vocabulary
    "identity",  # who a request is from: client IP, overrides (allow/deny lists, tiers)
    "limit",  # the decision engine: compiled policy, algorithms, memory store
    "redis",  # the Redis client, cluster/sentinel routing, the Lua decision code
    "telemetry",  # what the record phase writes: Prometheus metrics, dashboard stats, access log
    "net",  # the Asio/Beast names every networked room uses
    "tls",  # TLS server contexts: certificates, SNI, ALPN, client certificates (OpenSSL)
    "store",  # decision backends (memory, Redis) and runtime entries
    "runtime",  # the config snapshot, the upstream circuit breaker, the services a session uses
    "rls",  # Envoy's rate limit service: the gRPC listener and its messages
    "http",  # the proxy: listener, session, wire, upstream pool
    "admin",  # the admin listener and its endpoints, dashboard
    "process",  # the gateway that wires every room, the config file watcher
]
TOP = "(top level)"  # files directly in gateway/: main.cpp, cli.*
RANK = {room: i for i, room in enumerate(LAYERS)}
RANK[TOP] = len(LAYERS)

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
SOURCES = (".cpp", ".hpp", ".h", ".cc", ".ipp")


def room_of(path: Path, root: Path) -> str:
    parts = path.relative_to(root).parts
    return parts[0] if len(parts) > 1 else TOP


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent.parent / "gateway")
    root = root.resolve()
    problems = []
    for room in sorted(p.name for p in root.iterdir() if p.is_dir()):
        if room not in RANK:
            problems.append(
                f"gateway/{room}/: a room that scripts/check_layers.py does not know; "
                "add it to LAYERS (and to the README folder map) at its place"
            )
    files = sorted(p for p in root.rglob("*") if p.suffix in SOURCES and p.is_file())
    for path in files:
        here = room_of(path, root)
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            target = m.group(1)
            where = f"gateway/{path.relative_to(root)}:{number}"
            if not (root / target).is_file():
                if (path.parent / target).is_file():
                    problems.append(f'{where}: "{target}": include as "{path.parent.relative_to(root) / target}" (from gateway/)')
                else:
                    problems.append(f'{where}: "{target}" is not a file under gateway/')
                continue
            there = room_of(root / target, root)
            if there not in RANK or here not in RANK:
                continue  # reported above
            if RANK[there] > RANK[here]:
                problems.append(
                    f'{where}: #include "{target}": {here} (layer {RANK[here]}) must not '
                    f"include {there} (layer {RANK[there]}), which sits above it; move the "
                    "shared piece down or pass it in"
                )
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"check_layers: {len(problems)} problem(s); order, bottom to top: "
              + " -> ".join(LAYERS + [TOP]), file=sys.stderr)
        return 1
    print(f"check_layers: {len(files)} files, no upward include ("
          + " -> ".join(LAYERS + [TOP]) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
