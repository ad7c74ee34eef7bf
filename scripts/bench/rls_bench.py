#!/usr/bin/env python3
"""Benchmark of Envoy's rate limit service API: ShouldRateLimit on `rls.listen` (issue 13).

Usage (README-ready):

    scripts/build.sh build-bench -- sluice sluice_rls_load   # RelWithDebInfo (-O2)
    scripts/bench/rls_bench.py                         # memory and redis: 20k calls/s, then max
    scripts/bench/rls_bench.py --backends memory --modes rate --rate 20000 --duration 10
    scripts/bench/rls_bench.py --modes max             # the per-core ceiling only
    scripts/bench/rls_bench.py --scenarios allow,over  # also a call that is OVER_LIMIT
    scripts/bench/rls_bench.py --modes max --sluice-cpus 1 --load-cpus 0   # one core each
    scripts/bench/rls_bench.py --backends memory --modes rate --floor   # vs nginx's empty answer
    scripts/bench/rls_bench.py --load h2load --streams 8   # h2load instead of the paced client
    scripts/bench/rls_bench.py --sluice build/sluice --duration 3   # a quick check

  One invocation starts, on free 127.0.0.1 ports, and stops by PID at the end (also on
  Ctrl-C or an error: SIGTERM, SIGKILL after 10 s), per backend:
    memory   Sluice with storage.backend: memory
    redis    Sluice with storage.backend: redis (on_error: deny, so a failed Redis
             decision is an OVER_LIMIT counted as code "unavailable", never a local
             decision) against a redis-server started for it (--save '' --appendonly no)
  Sluice runs with server.threads 1 and `rls: { listen, config }` pointing at two
  envoyproxy/ratelimit files: the reference README's example 2 ("messaging": a
  message_type=marketing + to_number descriptor under one for to_number) with limits
  that never run out (`allow`: every call OK), and the same shape as domain
  "messaging-over" with marketing at 1 per year (`over`: primed, every call
  OVER_LIMIT, nothing charged; all_or_nothing).

  The load (--load): paced (default), sluice_rls_load (tests/bench/rls_load.cpp, built
  next to the sluice binary), a gRPC C++ client of proto/ sending the prepared request:
    rate   call i is due at start + i/RATE, sent when due (open loop) round-robin over
           --clients connections; its latency runs from when it was due, so a client
           behind its schedule counts too (no coordinated omission)
    max    --max-clients x --max-streams calls kept in flight (the ceiling)
  or h2load (Debian's nghttp2-client), one thread, plaintext HTTP/2 (h2c) POSTs of a
  prepared gRPC body (0, a 4-byte big-endian length, the RateLimitRequest that the
  protoc-generated Python messages of proto/ serialize) with content-type
  application/grpc and te: trailers, to /envoy.service.ratelimit.v3.RateLimitService/
  ShouldRateLimit:
    rate   a fixed rate: -n RATE*DURATION --rps RATE/CLIENTS -c CLIENTS (default 20000
           calls/s over 4 connections, -m 64 so pacing never waits for a free stream)
    max    as fast as h2load can: -D DURATION -c 4 -m 32 (the per-core ceiling)
  h2load's --rps starts what is due in clumps of up to -m streams per connection and
  times a call from when its stream starts. Either way, per scenario and backend, after
  a --warmup run; when the achieved pacing (calls over the span of their start times)
  falls short of --rate by more than 2 %, the run is flagged "rate not reached" and its
  p99 is not a p99 at that rate.

  Validity (a run that fails any of these is flagged INVALID and the exit code is 1):
  before the load, one python3-grpcio call per scenario must answer the expected
  overall_code (OK for allow, OVER_LIMIT for over, with one status per descriptor);
  the paced client must see every call answered gRPC OK with that overall_code;
  h2load must report 0 failed/errored/timeout and every done call 2xx (gRPC errors
  are HTTP 200 with grpc-status in trailers, which h2load does not read, so also:) the
  delta of Sluice's rate_limit_rls_requests_total{domain,code} over the run must be
  exactly the calls h2load completed with the expected code ("ok"/"over_limit") and 0
  for every other code; with -D, calls in flight when h2load stops are answered but not
  counted as done, so there the count must lie between done and started (the counter
  is read once it stops moving, before and after each run). Redis runs also need
  rate_limit_storage_errors_total unchanged.

  Reported per run: calls, calls/s, p50/p99/p99.9/max latency (and p90 in the JSON)
  from the paced client's summary (and its p99 from the send) or h2load's --log-file
  (per call: start µs, status, µs to the end of the response), Sluice's CPU
  (utime+stime of every thread from /proc/<pid>/stat over the load run) per call and
  as decisions per CPU-second (= per core), Sluice's CPU utilisation, redis-server's
  CPU per call, the load generator's own CPU utilisation (near 100 % in `max`: the
  load generator is the limit, not Sluice), and how Sluice's CPU splits between its
  own threads and gRPC's.
  Then the issue-13 target (p99 < 1 ms at 20k calls/s, memory) and the Redis/memory
  ratios. Summary: <build-dir>/bench/rls-<time>.{json,md} and rls-latest.{json,md};
  configs and logs of the last run in <build-dir>/bench/rls-run/.

  --floor runs the same load first against nginx answering every POST with 200 and an
  empty gRPC answer over h2c (no decision, one process): the latency the load
  generator measures on this machine with no rate limit service at all; the summary
  gives Sluice's p50/p99 as ratios of it.

  Note: server.threads sizes Sluice's I/O threads and its gRPC completion queues (one
  polling thread each, which decides memory-backend calls itself); gRPC keeps a few
  threads of its own (timers, executor), so the CPU figures count every thread of the
  process. For a one-core ceiling pin them:
  --sluice-cpus 1 --h2load-cpus 0 (taskset; the Sluice PID measured is taskset's,
  which execs Sluice). Numbers on a shared 2-core machine are noisy: compare ratios
  from one run, not absolute numbers across runs.

Requires sluice_rls_load (or h2load, nghttp2-client, for --load h2load), protoc (protobuf-compiler), python3-grpcio and
python3-protobuf (Debian's /usr/bin/python3: the script re-runs itself with it when the
python3 on PATH has no grpc), redis-server for the redis backend.
"""

from __future__ import annotations

import importlib.util
import os
import sys


def have_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a missing parent package
        return False


if not (have_module("grpc") and have_module("google.protobuf")):
    # Debian's python3-grpcio lives in /usr/bin/python3's dist-packages; a pyenv or
    # venv python3 first on PATH does not see it.
    if os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") and os.path.exists(
        "/usr/bin/python3"
    ):
        os.execv("/usr/bin/python3", ["/usr/bin/python3", os.path.abspath(__file__)] + sys.argv[1:])
    raise SystemExit("python3-grpcio and python3-protobuf are needed: scripts/install-deps.sh")

import argparse
import datetime as dt
import json
import re
import resource
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path

from bench_support import CLK_TCK, REPO, Service, free_port, http_get, loadavg, log

PROTOS = [
    "envoy/type/v3/ratelimit_unit.proto",
    "envoy/config/core/v3/base.proto",
    "envoy/extensions/common/ratelimit/v3/ratelimit.proto",
    "envoy/service/ratelimit/v3/rls.proto",
]
METHOD = "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit"
BACKENDS = ["memory", "redis"]
SCENARIOS = ["allow", "over"]
MODES = ["rate", "max"]

# Issue 13: p99 < 1 ms at 20k calls/s on the memory backend.
TARGET_P99_MS = 1.0
TARGET_RATE = 20000
# A fixed-rate run whose achieved rate is below this share of --rate is flagged.
RATE_TOLERANCE = 0.98

# envoyproxy/ratelimit's README example 2 ("messaging"), limits raised so no call is
# ever refused; the `over` domain has the same shape with marketing at 1 per year
# (primed: every later call is OVER_LIMIT and, all_or_nothing, charges nothing).
def messaging_yaml(domain: str, marketing_unit: str, marketing_limit: int) -> str:
    """Example 2's shape: a marketing + number descriptor under message_type, and a
    number one (whose limit never runs out here)."""
    return f"""\
domain: {domain}
descriptors:
  - key: message_type
    value: marketing
    descriptors:
      - key: to_number
        rate_limit:
          unit: {marketing_unit}
          requests_per_unit: {marketing_limit}
  - key: to_number
    rate_limit:
      unit: day
      requests_per_unit: 1000000000
"""


RLS_FILES = {
    "messaging.yaml": messaging_yaml("messaging", "day", 1000000000),
    "messaging-over.yaml": messaging_yaml("messaging-over", "year", 1),
}
DOMAIN = {"allow": "messaging", "over": "messaging-over"}
EXPECTED_CODE = {"allow": "ok", "over": "over_limit"}  # rate_limit_rls_requests_total's code
EXPECTED_OVERALL = {"allow": "OK", "over": "OVER_LIMIT"}  # RateLimitResponse.overall_code
NUMBER = "+12065550100"

# --floor: nginx answering every POST with a fixed 200 over plaintext HTTP/2, deciding
# nothing: the latency the same h2load measures on this machine with no rate limit
# service at all (one process, one worker, keep-alive without a request limit).
NGINX_FLOOR_CONF = """\
daemon off;
master_process off;
worker_processes 1;
error_log {dir}/nginx-floor.err;
pid {dir}/nginx-floor.pid;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  keepalive_requests 1000000000;
  keepalive_timeout 600s;
  client_body_temp_path {dir}/nginx-floor-body;
  server {{
    listen 127.0.0.1:{port} http2;
    # A gRPC trailers-only answer (content-type and grpc-status on the only HEADERS
    # frame), so a gRPC client reads it as a finished call (with no message).
    location / {{ default_type application/grpc; add_header grpc-status 0; return 200; }}
  }}
}}
"""

# Sluice's config.yaml; the upstream is never called (no HTTP traffic), but one is required.
SLUICE_YAML = """\
# Sluice under rls_bench.py: server.threads {threads}, access log off, a short drain, the
# storage of the backend, the RLS listener with envoyproxy/ratelimit files in rls/.
listen: 127.0.0.1:{port}
upstream:
  url: http://127.0.0.1:{upstream_port}
server:
  threads: {threads}
  access_log: "off"
  drain_timeout: 1s
admin:
  listen: 127.0.0.1:{admin_port}
storage:
{storage}
policies: policies.yaml
reload: {{ watch: false }}
rls:
  listen: 127.0.0.1:{rls_port}
  config: rls
"""
POLICY_YAML = """\
limits:
  - name: per-ip
    key: ip
    rate: 100000/s
    burst: 100000
"""


def redis_ping(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(b"*1\r\n$4\r\nPING\r\n")
        return s.recv(64).startswith(b"+PONG")


# ---- processes --------------------------------------------------------------------------


def accepts(port: int) -> bool:
    """A TCP connection is accepted (nginx-floor speaks only HTTP/2: no HTTP/1 probe)."""
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


def thread_ticks(pid: int) -> dict[int, tuple[str, int]]:
    """Per thread of `pid`: (name, utime + stime in ticks)."""
    out = {}
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return out
    for t in tasks:
        try:
            stat = (t / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        out[int(t.name)] = (name, int(fields[11]) + int(fields[12]))
    return out


def thread_group(name: str) -> str:
    # Sluice's own threads keep the process name; everything else is gRPC's.
    return "sluice" if name.startswith("sluice") else "grpc"


# ---- messages ---------------------------------------------------------------------------


class Messages:
    """The protoc-generated messages of proto/ (in a temporary directory) and the calls."""

    def __init__(self, tmp: Path):
        subprocess.run(
            ["protoc", "-I", str(REPO / "proto"), "--python_out", str(tmp)] + PROTOS, check=True
        )
        sys.path.insert(0, str(tmp))
        from envoy.service.ratelimit.v3 import rls_pb2  # noqa: E402

        self.pb = rls_pb2

    def request(self, scenario: str):
        """The reference README's messaging call: marketing to a number, and the number."""
        r = self.pb.RateLimitRequest(domain=DOMAIN[scenario])
        for entries in ([("message_type", "marketing"), ("to_number", NUMBER)], [("to_number", NUMBER)]):
            d = r.descriptors.add()
            for key, value in entries:
                e = d.entries.add()
                e.key, e.value = key, value
        return r

    def body(self, scenario: str) -> bytes:
        """The gRPC length-prefixed message: uncompressed flag 0, 4-byte big-endian length."""
        payload = self.request(scenario).SerializeToString()
        return b"\x00" + struct.pack(">I", len(payload)) + payload

    def call(self, port: int, scenario: str):
        import grpc

        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=10)
            stub = channel.unary_unary(
                METHOD,
                request_serializer=self.pb.RateLimitRequest.SerializeToString,
                response_deserializer=self.pb.RateLimitResponse.FromString,
            )
            return stub(self.request(scenario), timeout=5)

    def code_name(self, code: int) -> str:
        return self.pb.RateLimitResponse.Code.Name(code)


# ---- metrics -------------------------------------------------------------------------------


def metrics(admin_port: int) -> dict[tuple[str, tuple], float]:
    """Sluice's /metrics: (name, sorted labels) -> value."""
    status, body = http_get(admin_port, "/metrics", timeout=5)
    if status != 200:
        raise SystemExit(f"/metrics answered {status}")
    out = {}
    for line in body.decode(errors="replace").splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)", line)
        if not m:
            continue
        labels = tuple(sorted(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or "")))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def rls_counts(snapshot: dict, domain: str) -> dict[str, float]:
    """rate_limit_rls_requests_total of one domain, by code."""
    out = {}
    for (name, labels), value in snapshot.items():
        if name == "rate_limit_rls_requests_total" and dict(labels).get("domain") == domain:
            out[dict(labels)["code"]] = value
    return out


def settled_metrics(admin_port: int, timeout: float = 5.0) -> dict:
    """/metrics once rate_limit_rls_requests_total stops moving: calls still in flight
    when h2load -D stops are answered (and counted) after it exits."""
    snapshot = metrics(admin_port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.2)
        again = metrics(admin_port)
        if family_total(again, "rate_limit_rls_requests_total") == family_total(
            snapshot, "rate_limit_rls_requests_total"
        ):
            return again
        snapshot = again
    return snapshot


def family_total(snapshot: dict, family: str) -> float:
    return sum(v for (name, _), v in snapshot.items() if name == family)


# ---- h2load --------------------------------------------------------------------------------


def h2load_argv(args, mode: str, port: int, body: Path, logfile: Path | None, seconds: float) -> list[str]:
    argv = (["taskset", "-c", args.load_cpus] if args.load_cpus else []) + ["h2load", "-t1"]
    if mode == "rate":
        per_client = args.rate // args.clients
        argv += [f"-n{int(per_client * args.clients * seconds)}", f"--rps={per_client}",
                 f"-c{args.clients}", f"-m{args.streams}"]
    else:
        argv += [f"-D{seconds:g}", f"-c{args.max_clients}", f"-m{args.max_streams}"]
    argv += ["-H", "content-type: application/grpc", "-H", "te: trailers", "-d", str(body)]
    if logfile is not None:
        argv.append(f"--log-file={logfile}")
    argv.append(f"http://127.0.0.1:{port}{METHOD}")
    return argv


def paced_argv(args, mode: str, port: int, body: Path, seconds: float) -> list[str]:
    """sluice_rls_load (tests/bench/rls_load.cpp): calls due on an even schedule (rate),
    or a fixed number in flight (max), latency timed from when each call was due."""
    argv = (["taskset", "-c", args.load_cpus] if args.load_cpus else []) + [
        str(args.load_bin), "--target", f"127.0.0.1:{port}", "--body", str(body), "--seconds", f"{seconds:g}"]
    if mode == "rate":
        argv += ["--rate", str(args.rate), "--connections", str(args.clients)]
    else:
        argv += ["--in-flight", str(args.max_clients * args.max_streams), "--connections", str(args.max_clients)]
    return argv


GRPC_DEADLINE_EXCEEDED = "4"


def parse_paced(out: str, expected_overall: str | None) -> dict:
    """sluice_rls_load's JSON in the shape parse_h2load and parse_log give: a call
    "succeeded" when its gRPC status is OK and its overall_code the expected one."""
    j = json.loads(out)
    grpc_ok = j["grpc_codes"].get("0", 0)
    overall = j["overall_codes"]
    succeeded = overall.get(expected_overall, 0) if expected_overall else j["done"]
    r = {"total": j["started"], "started": j["started"], "done": j["done"], "succeeded": succeeded,
         "failed": j["done"] - grpc_ok if expected_overall else 0, "errored": 0,
         "timeout": j["grpc_codes"].get(GRPC_DEADLINE_EXCEEDED, 0),
         "load_seconds": j["seconds"], "load_rps": j["done"] / j["seconds"] if j["seconds"] else 0.0,
         "logged": j["done"], "logged_non_200": 0, "start_span_s": j["start_span_s"],
         "grpc_codes": j["grpc_codes"], "overall_codes": overall, "max_outstanding": j["max_outstanding"]}
    r["2xx"], r["3xx"], r["4xx"], r["5xx"] = r["succeeded"], 0, 0, 0
    for name in ("p50", "p90", "p99", "p999", "max", "mean"):
        r[f"{name}_ms"] = j["from_due"][f"{name}_ms"]
        r[f"send_{name}_ms"] = j["from_send"][f"{name}_ms"]
    return r


def parse_h2load(out: str) -> dict:
    m = re.search(
        r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
        r"(\d+) errored, (\d+) timeout",
        out,
    )
    if not m:
        raise ValueError("h2load output without a request count:\n" + out)
    keys = ("total", "started", "done", "succeeded", "failed", "errored", "timeout")
    r = dict(zip(keys, (int(x) for x in m.groups())))
    m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    r["2xx"], r["3xx"], r["4xx"], r["5xx"] = (int(x) for x in m.groups())
    m = re.search(r"finished in ([0-9.]+)s, ([0-9.]+) req/s", out)
    r["load_seconds"], r["load_rps"] = float(m.group(1)), float(m.group(2))
    return r


def percentile(sorted_values: list[int], p: float) -> float:
    """Nearest-rank percentile."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(-(-p * len(sorted_values) // 100)) - 1))
    return float(sorted_values[k])


def parse_log(path: Path) -> dict:
    """h2load --log-file: start µs since the epoch, HTTP status (-1: failed stream), µs to
    the end of the response; tab-separated, one line per call."""
    durations, starts, bad = [], [], 0
    with open(path) as f:
        for line in f:
            fields = line.split("\t")
            if len(fields) < 3:
                continue
            if fields[1] != "200":
                bad += 1
                continue
            starts.append(int(fields[0]))
            durations.append(int(fields[2]))
    durations.sort()
    r = {"logged": len(durations) + bad, "logged_non_200": bad}
    for name, p in (("p50", 50), ("p90", 90), ("p99", 99), ("p999", 99.9)):
        r[f"{name}_ms"] = percentile(durations, p) / 1000
    r["max_ms"] = durations[-1] / 1000 if durations else float("nan")
    r["mean_ms"] = sum(durations) / len(durations) / 1000 if durations else float("nan")
    # Calls per second over the span of the starts (the pacing h2load achieved).
    span = (max(starts) - min(starts)) / 1e6 if len(starts) > 1 else 0
    r["start_span_s"] = span
    return r


# ---- the benchmark --------------------------------------------------------------------------


class Bench:
    def __init__(self, args, messages: Messages):
        self.args = args
        self.msg = messages
        self.dir = args.out / "rls-run"
        self.services: list[Service] = []
        self.commands: list[str] = []

    def setup_dir(self) -> None:
        if self.dir.exists():
            shutil.rmtree(self.dir)
        (self.dir / "rls").mkdir(parents=True)
        for name, text in RLS_FILES.items():
            (self.dir / "rls" / name).write_text(text)
        (self.dir / "policies.yaml").write_text(POLICY_YAML)
        for scenario in self.args.scenarios:
            (self.dir / f"body-{scenario}.bin").write_bytes(self.msg.body(scenario))

    def start_redis(self) -> Service:
        port = free_port()
        d = self.dir / "redis"
        d.mkdir(exist_ok=True)
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(d)]
        s = Service("redis", argv, self.dir / "redis.out", lambda: redis_ping(port), port=port)
        self.services.append(s)
        s.start()
        s.wait_ready()
        return s

    def start_sluice(self, backend: str, redis: Service | None) -> Service:
        port, admin_port, rls_port, upstream_port = (free_port() for _ in range(4))
        if backend == "redis":
            # A generous timeout: this measures throughput, not the timeout path. A
            # failed decision answers OVER_LIMIT, counted as code "unavailable".
            storage = (
                "  backend: redis\n  redis:\n"
                f"    address: 127.0.0.1:{redis.port}\n"
                f"    timeout: 250ms\n    connections: {self.args.redis_connections}\n"
                '    key_prefix: "rls-bench:"\n  on_error: deny'
            )
        else:
            storage = "  backend: memory"
        conf = self.dir / f"sluice-{backend}.yaml"
        conf.write_text(SLUICE_YAML.format(
            port=port, upstream_port=upstream_port, threads=self.args.threads,
            admin_port=admin_port, storage=storage, rls_port=rls_port))
        check = subprocess.run([str(self.args.sluice), "--check-config", str(conf)],
                               capture_output=True, text=True, timeout=60)
        if check.returncode != 0:
            raise SystemExit(
                f"{self.args.sluice} --check-config {conf} failed (a binary without `rls`? "
                f"rebuild: scripts/build.sh build-bench -- sluice, or pass --sluice):\n"
                + check.stdout[-1500:] + check.stderr[-1500:])

        def probe() -> bool:
            status, body = http_get(admin_port, "/admin/stats" if backend == "redis" else "/readyz")
            if status != 200:
                return False
            if backend == "redis":
                # Served from the first call on: wait until every thread reaches Redis.
                return bool(json.loads(body)["storage"]["reachable"])
            return True

        pin = ["taskset", "-c", self.args.sluice_cpus] if self.args.sluice_cpus else []
        s = Service(f"sluice-{backend}", pin + [str(self.args.sluice), "--config", str(conf)],
                    self.dir / f"sluice-{backend}.out", probe)
        s.admin_port, s.rls_port = admin_port, rls_port
        self.services.append(s)
        s.start()
        s.wait_ready()
        return s

    def start_floor(self) -> Service:
        port = free_port()
        conf = self.dir / "nginx-floor.conf"
        conf.write_text(NGINX_FLOOR_CONF.format(dir=self.dir, port=port))
        pin = ["taskset", "-c", self.args.sluice_cpus] if self.args.sluice_cpus else []
        s = Service("nginx-floor", pin + ["nginx", "-c", str(conf), "-p", str(self.dir)],
                    self.dir / "nginx-floor.out", lambda: accepts(port), port=port)
        s.rls_port = port
        self.services.append(s)
        s.start()
        s.wait_ready()
        return s

    def stop(self) -> None:
        for s in reversed(self.services):
            try:
                s.stop()
            except Exception as e:  # keep stopping the others
                log(f"stopping {s.name}: {e}")
        self.services = []

    def sanity(self, sluice: Service, scenario: str) -> None:
        """One real gRPC call (after priming `over`): the answer must be the expected one,
        so the load below measures decisions, not errors."""
        pb = self.msg.pb.RateLimitResponse
        if scenario == "over":
            self.msg.call(sluice.rls_port, scenario)  # the one marketing call the year allows
            want, want_statuses = pb.OVER_LIMIT, [pb.OVER_LIMIT, pb.OK]
        else:
            want, want_statuses = pb.OK, [pb.OK, pb.OK]
        r = self.msg.call(sluice.rls_port, scenario)
        statuses = [s.code for s in r.statuses]
        if r.overall_code != want or statuses != want_statuses or not r.statuses[0].HasField("current_limit"):
            raise SystemExit(
                f"{sluice.name} {scenario}: expected overall_code {self.msg.code_name(want)} with statuses "
                f"{[self.msg.code_name(c) for c in want_statuses]}, got {self.msg.code_name(r.overall_code)} "
                f"{[self.msg.code_name(c) for c in statuses]}:\n{r}")
        log(f"{sluice.name} {scenario}: sanity call answered {self.msg.code_name(r.overall_code)} "
            f"(statuses {', '.join(self.msg.code_name(c) for c in statuses)})")

    def load(self, argv: list[str], seconds: float, out: Path) -> tuple[str, float]:
        """Runs the load generator; its output and its own CPU seconds (RUSAGE_CHILDREN)."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        limit = 3 * seconds + 30
        try:
            res = subprocess.run(argv, capture_output=True, text=True, timeout=limit)
        except subprocess.TimeoutExpired:
            # subprocess.run has killed it (by PID).
            raise SystemExit(f"the load did not finish within {limit:g}s (a fixed --rate Sluice cannot "
                             f"sustain runs long: lower --rate): {shlex.join(argv)}")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        out.write_text(shlex.join(argv) + "\n\n" + res.stdout + res.stderr)
        if res.returncode != 0:
            raise SystemExit(f"{argv[0]} failed ({res.returncode}): {res.stdout}{res.stderr}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return res.stdout, cpu

    def measure(self, backend: str, scenario: str, mode: str, server: Service, redis: Service | None,
                between=lambda: None) -> dict:
        """One warm-up and one measured run of the load against `server`: the load's
        counts and latencies, the server's (and redis-server's) CPU, and the problems the
        load's own counts show. `between` runs right before and right after the measured
        run (Sluice's counters)."""
        a = self.args
        body = self.dir / f"body-{scenario}.bin"
        name = f"{a.load}-{backend}-{scenario}-{mode}"
        paced = a.load == "paced"
        # A floor (nginx answering 200) gives no gRPC answer: only its timing counts.
        expected = None if backend == "nginx-floor" else EXPECTED_OVERALL[scenario]

        def argv_for(logfile: Path | None, seconds: float) -> list[str]:
            if paced:
                return paced_argv(a, mode, server.rls_port, body, seconds)
            return h2load_argv(a, mode, server.rls_port, body, logfile, seconds)

        if a.warmup > 0:
            self.load(argv_for(None, a.warmup), a.warmup, self.dir / f"{name}-warmup.out")
        logfile = self.dir / f"{name}.tsv"
        logfile.unlink(missing_ok=True)  # h2load appends to an existing log
        argv = argv_for(logfile, a.duration)
        self.commands.append(shlex.join(argv))
        between()
        c0, t0 = server.cpu(), thread_ticks(server.pid)
        r0 = redis.cpu() if redis else 0
        w0 = time.monotonic()
        out, load_cpu = self.load(argv, a.duration, self.dir / f"{name}.out")
        wall = time.monotonic() - w0
        c1, t1 = server.cpu(), thread_ticks(server.pid)
        r1 = redis.cpu() if redis else 0
        between()

        r = {"backend": backend, "scenario": scenario, "mode": mode, "load": a.load, "command": shlex.join(argv)}
        if paced:
            r.update(parse_paced(out, expected))
            if mode == "rate":
                r["total"] = int(a.rate * a.duration)
        else:
            r.update(parse_h2load(out))
            r.update(parse_log(logfile))
            if not a.keep_logs:
                logfile.unlink(missing_ok=True)
        n = max(r["done"], 1)
        cpu_s = (c1 - c0) / CLK_TCK
        r["calls_per_s"] = r["load_rps"]
        r["sluice_cpu_s"] = cpu_s
        r["sluice_cpu_us_per_call"] = cpu_s * 1e6 / n
        r["decisions_per_cpu_s"] = r["done"] / cpu_s if cpu_s > 0 else float("nan")
        r["sluice_cpu_util"] = cpu_s / r["load_seconds"] if r["load_seconds"] else float("nan")
        r["redis_cpu_us_per_call"] = (r1 - r0) / CLK_TCK * 1e6 / n if redis else None
        r["load_cpu_util"] = load_cpu / wall
        groups: dict[str, int] = {}
        for tid, (tname, ticks) in t1.items():
            before = t0.get(tid, (tname, 0))[1]
            groups[thread_group(tname)] = groups.get(thread_group(tname), 0) + ticks - before
        total = sum(groups.values()) or 1
        r["cpu_share"] = {g: v / total for g, v in sorted(groups.items())}
        r["threads"] = len(t1)

        problems = []
        if r["failed"] or r["errored"] or r["timeout"]:
            problems.append(f"{a.load}: {r['failed']} failed, {r['errored']} errored, {r['timeout']} timeout")
        if r["2xx"] != r["done"] or r["succeeded"] != r["done"]:
            what = f"answered {expected}" if paced else "2xx"
            problems.append(f"{a.load}: {r['2xx']} {what}, {r['succeeded']} succeeded of {r['done']} done")
        if r["logged"] != r["done"] or r["logged_non_200"]:
            problems.append(f"--log-file: {r['logged']} lines ({r['logged_non_200']} not 200) for {r['done']} done")
        if mode == "rate" and r["done"] != r["total"]:
            problems.append(f"{a.load}: {r['done']} of {r['total']} calls done")
        r["problems"] = problems
        r["rate_reached"] = None
        if mode == "rate":
            target = a.rate if paced else (a.rate // a.clients) * a.clients
            r["target_rate"] = target
            # The pacing achieved: calls over the span of their start times (the load's
            # own calls/s also counts connecting and the last answer).
            paced_rate = (r["logged"] - 1) / r["start_span_s"] if r["start_span_s"] > 0 else 0.0
            r["paced_rate"] = paced_rate
            r["rate_reached"] = paced_rate >= RATE_TOLERANCE * target
        return r

    def run_floor(self, mode: str, nginx: Service) -> dict:
        """The same load against nginx answering 200 (--floor): h2load's checks only."""
        return self.measure("nginx-floor", "allow", mode, nginx, None)

    def run(self, backend: str, scenario: str, mode: str, sluice: Service, redis: Service | None) -> dict:
        """A measured run against Sluice, valid only if Sluice counted exactly its calls."""
        snapshots = []
        # Read once the counter stops moving: the warm-up's last calls are counted first.
        r = self.measure(backend, scenario, mode, sluice, redis,
                         between=lambda: snapshots.append(settled_metrics(sluice.admin_port)))
        m0, m1 = snapshots
        problems = r["problems"]
        before, after = rls_counts(m0, DOMAIN[scenario]), rls_counts(m1, DOMAIN[scenario])
        delta = {code: after.get(code, 0) - before.get(code, 0) for code in set(before) | set(after)}
        want = EXPECTED_CODE[scenario]
        counted = delta.get(want, 0)
        r["sluice_counted"] = {k: int(v) for k, v in delta.items() if v}
        low, high = (r["done"], r["done"]) if mode == "rate" else (r["done"], r["started"])
        if not low <= counted <= high:
            problems.append(
                f"rate_limit_rls_requests_total{{domain={DOMAIN[scenario]},code={want}}} grew by "
                f"{counted:.0f}, {self.args.load} completed {r['done']}" + (f" (started {r['started']})" if mode == "max" else ""))
        others = {k: v for k, v in delta.items() if k != want and v}
        if others:
            problems.append(f"other codes counted: {others}")
        if backend == "redis":
            errors = family_total(m1, "rate_limit_storage_errors_total") - family_total(m0, "rate_limit_storage_errors_total")
            if errors:
                problems.append(f"rate_limit_storage_errors_total grew by {errors:.0f}")
        return r


# ---- report ------------------------------------------------------------------------------------


def fmt(x, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def label(r: dict) -> str:
    if r["mode"] == "rate":
        return f"rate {r['target_rate']}/s"
    return "max"


def threads_split(r: dict) -> str:
    if r["backend"] == "nginx-floor":
        return "-"
    share = r["cpu_share"]
    return f"{share.get('sluice', 0) * 100:.0f}% / {share.get('grpc', 0) * 100:.0f}%"


def render(results: list[dict], meta: dict, commands: list[str]) -> str:
    a = meta
    lines = [
        f"# Sluice ShouldRateLimit benchmark ({a['time']})",
        "",
        f"sluice {a['sluice']} (git {a['git']}), server.threads {a['threads']}, host CPUs {a['host_cpus']}, "
        f"load {a['load_before']} -> {a['load_after']}; load generator: {a['load_tool']}",
        f"{a['duration']}s per run after {a['warmup']}s of warm-up; rate: -c {a['clients']} -m {a['streams']}; "
        f"max: -c {a['max_clients']} -m {a['max_streams']}; CPUs: Sluice {a['sluice_cpus'] or 'any'}, "
        f"load generator {a['load_cpus'] or 'any'}",
        "",
        "| backend | scenario | mode | calls | calls/s | p50 ms | p99 ms | p99.9 ms | max ms | p99 ms from the send "
        "| Sluice CPU µs/call | decisions/CPU-s | Sluice CPU | redis CPU µs/call | load CPU | CPU sluice/grpc threads | valid |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        valid = "yes" if not r["problems"] else "INVALID"
        if r["rate_reached"] is False:
            valid += ", rate not reached"
        lines.append(
            f"| {r['backend']} | {r['scenario']} | {label(r)} | {r['done']} | {r['calls_per_s']:.0f} "
            f"| {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r['p999_ms']:.3f} | {r['max_ms']:.3f} "
            f"| {fmt(r.get('send_p99_ms'), '.3f')} "
            f"| {r['sluice_cpu_us_per_call']:.1f} | {r['decisions_per_cpu_s']:.0f} | {r['sluice_cpu_util'] * 100:.0f}% "
            f"| {fmt(r['redis_cpu_us_per_call'], '.1f')} | {r['load_cpu_util'] * 100:.0f}% "
            f"| {threads_split(r)} | {valid} |"
        )
    bad = [r for r in results if r["problems"]]
    if bad:
        lines += ["", "INVALID runs (do not use their numbers):"]
        for r in bad:
            lines += [f"- {r['backend']} {r['scenario']} {r['mode']}: " + "; ".join(r["problems"])]

    by = {(r["backend"], r["scenario"], r["mode"]): r for r in results}
    summary = []
    for mode in a["modes"]:
        floor, mem = by.get(("nginx-floor", "allow", mode)), by.get(("memory", "allow", mode))
        if floor and mem:
            summary.append(
                f"- memory allow {mode} against nginx answering 200 with no decision (the floor): "
                f"p50 {mem['p50_ms'] / floor['p50_ms']:.2f}x, p99 {mem['p99_ms'] / floor['p99_ms']:.2f}x "
                f"(floor p50 {floor['p50_ms']:.3f} ms, p99 {floor['p99_ms']:.3f} ms)")
    for scenario in a["scenarios"]:
        for backend in a["backends"]:
            r = by.get((backend, scenario, "rate"))
            if r:
                verdict = ""
                if backend == "memory" and scenario == "allow" and r["target_rate"] >= TARGET_RATE:
                    ok = r["p99_ms"] < TARGET_P99_MS and r["rate_reached"] and not r["problems"]
                    verdict = f" (issue 13: p99 < {TARGET_P99_MS:g} ms at {TARGET_RATE}/s: {'met' if ok else 'NOT met'})"
                summary.append(
                    f"- {backend} {scenario} at {r['target_rate']}/s: {r['calls_per_s']:.0f} calls/s achieved, "
                    f"p99 {r['p99_ms']:.3f} ms, {r['decisions_per_cpu_s']:.0f} decisions per CPU-second{verdict}")
            r = by.get((backend, scenario, "max"))
            if r:
                limiter = " (the load generator near its core: a floor, not Sluice's ceiling)" if r["load_cpu_util"] > 0.9 else ""
                summary.append(
                    f"- {backend} {scenario} max: {r['calls_per_s']:.0f} calls/s, p99 {r['p99_ms']:.3f} ms, "
                    f"{r['decisions_per_cpu_s']:.0f} decisions per CPU-second (per core), "
                    f"Sluice at {r['sluice_cpu_util'] * 100:.0f}% of a core{limiter}")
        for mode in a["modes"]:
            mem, red = by.get(("memory", scenario, mode)), by.get(("redis", scenario, mode))
            if mem and red:
                summary.append(
                    f"- redis / memory, {scenario} {mode}: calls/s {red['calls_per_s'] / mem['calls_per_s']:.2f}, "
                    f"Sluice CPU/call {red['sluice_cpu_us_per_call'] / mem['sluice_cpu_us_per_call']:.2f}, "
                    f"p99 {red['p99_ms'] / mem['p99_ms']:.2f}; redis-server adds "
                    f"{red['redis_cpu_us_per_call']:.1f} µs CPU per call")
    if summary:
        lines += ["", "Summary:", ""] + summary
    lines += ["", "Command:", "", f"    {a['command']}", "", "Load runs (ports change per invocation):", ""]
    lines += [f"    {c}" for c in commands]
    lines += ["", "Shared 2-core machine: absolute numbers move run to run; compare the ratios."]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sluice", type=Path, default=None,
                   help="the sluice binary (default build-bench/sluice, else build/sluice)")
    p.add_argument("--out", type=Path, default=None,
                   help="where the summary and rls-run/ go (default <the binary's build dir>/bench)")
    p.add_argument("--backends", default="memory,redis", help="comma-separated subset of " + ",".join(BACKENDS))
    p.add_argument("--scenarios", default="allow", help="comma-separated subset of " + ",".join(SCENARIOS))
    p.add_argument("--modes", default="rate,max", help="comma-separated subset of " + ",".join(MODES))
    p.add_argument("--rate", type=int, default=TARGET_RATE, help="calls/s in total for the rate mode")
    p.add_argument("--duration", type=int, default=10, help="seconds per measured load run")
    p.add_argument("--warmup", type=int, default=1, help="seconds of unmeasured load before each run (0: none)")
    p.add_argument("--clients", type=int, default=4, help="rate mode: HTTP/2 connections (h2load -c)")
    p.add_argument("--streams", type=int, default=64, help="rate mode, h2load: -m (streams per connection; the paced client opens what is due)")
    p.add_argument("--max-clients", type=int, default=4, help="max mode: HTTP/2 connections (h2load -c)")
    p.add_argument("--max-streams", type=int, default=32, help="max mode: streams per connection (h2load -m; paced: calls in flight = clients x streams)")
    p.add_argument("--threads", type=int, default=1, help="Sluice server.threads")
    p.add_argument("--redis-connections", type=int, default=1, help="storage.redis.connections (per thread)")
    p.add_argument("--sluice-cpus", metavar="LIST",
                   help="pin Sluice (all its threads, gRPC's too) with taskset -c LIST, e.g. 1")
    p.add_argument("--load", choices=["paced", "h2load"], default="paced",
                   help="the load generator: paced (sluice_rls_load: calls due on an even schedule, "
                        "latency from when each was due) or h2load (its --rps clumps)")
    p.add_argument("--load-bin", type=Path, default=None,
                   help="sluice_rls_load (default: next to the sluice binary)")
    p.add_argument("--load-cpus", "--h2load-cpus", dest="load_cpus", metavar="LIST",
                   help="pin the load generator with taskset -c LIST, e.g. 0")
    p.add_argument("--keep-logs", action="store_true", help="keep h2load's per-call logs in rls-run/")
    p.add_argument("--floor", action="store_true",
                   help="first the same load against nginx answering 200 over h2c (no decision): "
                        "this machine's latency floor for h2load, to compare Sluice's with")
    args = p.parse_args()

    def subset(text: str, allowed: list[str], what: str) -> list[str]:
        items = [x.strip() for x in text.split(",") if x.strip()]
        for x in items:
            if x not in allowed:
                raise SystemExit(f"unknown {what} {x!r}; choose from {', '.join(allowed)}")
        if not items:
            raise SystemExit(f"no {what} given")
        return [x for x in allowed if x in items]

    args.backends = subset(args.backends, BACKENDS, "backend")
    args.scenarios = subset(args.scenarios, SCENARIOS, "scenario")
    args.modes = subset(args.modes, MODES, "mode")
    if args.load == "h2load" and (args.rate < args.clients or args.rate % args.clients):
        raise SystemExit(f"--rate {args.rate} must be a multiple of --clients {args.clients} (h2load --rps is per client)")
    if args.duration <= 0:
        raise SystemExit("--duration must be positive")
    if args.sluice is None:
        env = os.environ.get("SLUICE_BIN")
        bench_bin, dev_bin = REPO / "build-bench" / "sluice", REPO / "build" / "sluice"
        args.sluice = Path(env) if env else bench_bin if bench_bin.exists() else dev_bin
        if not env and args.sluice == bench_bin and dev_bin.exists() and dev_bin.stat().st_mtime > bench_bin.stat().st_mtime:
            log(f"note: {bench_bin} is older than {dev_bin}; rebuild it (scripts/build.sh build-bench -- sluice) "
                "or pass --sluice")
    args.sluice = args.sluice.resolve()
    if not args.sluice.exists():
        raise SystemExit(f"{args.sluice} not found: scripts/build.sh build-bench -- sluice")
    args.out = (args.out or args.sluice.parent / "bench").resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    pinning = ["taskset"] if args.sluice_cpus or args.load_cpus else []
    for tool in ((["h2load"] if args.load == "h2load" else []) + ["protoc"] + (["redis-server"] if "redis" in args.backends else []) + pinning
                 + (["nginx"] if args.floor else [])):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: scripts/install-deps.sh nghttp2-client")
    if args.load == "paced":
        args.load_bin = (args.load_bin or args.sluice.parent / "sluice_rls_load").resolve()
        if not args.load_bin.exists():
            raise SystemExit(f"{args.load_bin} not found: scripts/build.sh build-bench -- sluice sluice_rls_load")
        load_tool = f"{args.load_bin} (paced gRPC client, latency from when each call was due)"
    else:
        load_tool = subprocess.run(["h2load", "--version"], capture_output=True, text=True).stdout.strip()

    def on_signal(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    command = shlex.join([os.path.relpath(__file__, Path.cwd())] + sys.argv[1:])
    meta = {
        "time": dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
        "command": command,
        "sluice": str(args.sluice),
        "git": subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                              capture_output=True, text=True).stdout.strip(),
        "load_tool": load_tool,
        "host_cpus": os.cpu_count(),
        "load_before": loadavg(),
        **{k: getattr(args, k) for k in ("threads", "duration", "warmup", "rate", "clients", "streams",
                                         "max_clients", "max_streams", "redis_connections",
                                         "sluice_cpus", "load_cpus", "load", "floor",
                                         "backends", "scenarios", "modes")},
    }
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="sluice-rls-bench-pb-") as tmp:
        bench = Bench(args, Messages(Path(tmp)))
        bench.setup_dir()
        try:
            if args.floor:
                nginx = bench.start_floor()
                log(f"nginx-floor: pid {nginx.pid}, h2c 127.0.0.1:{nginx.port}")
                for mode in args.modes:
                    r = bench.run_floor(mode, nginx)
                    results.append(r)
                    log(f"nginx-floor {label(r):14s} {r['calls_per_s']:8.0f} calls/s  p50 {r['p50_ms']:.3f} ms  "
                        f"p99 {r['p99_ms']:.3f} ms" + (f"  INVALID: {'; '.join(r['problems'])}" if r["problems"] else ""))
                bench.stop()
            for backend in args.backends:
                redis = bench.start_redis() if backend == "redis" else None
                sluice = bench.start_sluice(backend, redis)
                log(f"{sluice.name}: pid {sluice.pid}, rls 127.0.0.1:{sluice.rls_port}, "
                    f"admin 127.0.0.1:{sluice.admin_port}" + (f", redis pid {redis.pid} port {redis.port}" if redis else ""))
                for scenario in args.scenarios:
                    bench.sanity(sluice, scenario)
                    for mode in args.modes:
                        r = bench.run(backend, scenario, mode, sluice, redis)
                        results.append(r)
                        log(f"{backend:6s} {scenario:5s} {label(r):14s} {r['calls_per_s']:8.0f} calls/s  "
                            f"p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms  "
                            f"{r['sluice_cpu_us_per_call']:.1f} µs CPU/call  "
                            f"{r['decisions_per_cpu_s']:.0f} decisions/CPU-s"
                            + (f"  INVALID: {'; '.join(r['problems'])}" if r["problems"] else ""))
                bench.stop()
        finally:
            bench.stop()
    meta["load_after"] = loadavg()
    text = render(results, meta, bench.commands)
    print(text)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    doc = {"meta": meta, "runs": results}
    for base in (f"rls-{stamp}", "rls-latest"):
        (args.out / f"{base}.json").write_text(json.dumps(doc, indent=2) + "\n")
        (args.out / f"{base}.md").write_text(text)
    log(f"summary: {args.out / f'rls-{stamp}.md'} (and .json); configs and logs: {bench.dir}")
    if any(r["problems"] for r in results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
