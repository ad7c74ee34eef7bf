#!/usr/bin/env python3
"""Side-by-side benchmark: Sluice against nginx limit_req (SPEC section 12).

Usage (README-ready):

    scripts/build.sh build-bench -- sluice            # RelWithDebInfo (-O2)
    scripts/bench/compare.py                          # 3 interleaved reps x 10 s each
    scripts/bench/compare.py --reps 5 --duration 15   # longer, steadier
    scripts/bench/compare.py --targets sluice-allow,nginx-allow   # a subset
    scripts/bench/compare.py --baseline /path/to/old/sluice  # A/B: adds sluice-*-base
    scripts/bench/compare.py --targets sluice-allow,sluice-redis-allow,sluice-redis-reject
        # Redis against the memory store, plus redis-benchmark's FCALL and EVALSHA ceilings
    scripts/bench/compare.py --targets sluice-allow,sluice-redis-allow --old-evalsha e1883c5
        # ... and the EVALSHA of the decision script as it was at a git revision

  One invocation starts, on free 127.0.0.1 ports, and stops by PID at the end:
    upstream      nginx `return 200 "ok"`, keep-alive (shared by every scenario)
    nginx-allow   nginx proxy, limit_req that never trips, keep-alive upstream pool
    nginx-reject  nginx proxy, limit_req 1r/m (primed), limit_req_status 429
    sluice-allow  Sluice, token bucket per ip that never runs dry
    sluice-reject Sluice, 1/day burst 1 per ip (primed): every request gets 429
    sluice-redis-allow, sluice-redis-reject
                  the same two with storage.backend: redis, against a redis-server
                  (no persistence) started on a free port; on_error: deny, so a failed
                  Redis decision shows as a non-2xx answer, never as a local decision
    nginx-tls-allow, sluice-tls-allow
                  nginx-allow and sluice-allow behind an HTTPS listener (TLS 1.3, the
                  same ECDSA P-256 certificate, made with the openssl CLI per run); wrk
                  keeps its connections, so this is the per-request cost of TLS
                  records, not of handshakes
    sluice-redis-cluster-allow
                  sluice-redis-allow against a 3-master Redis Cluster (redis-server
                  --cluster-enabled yes x3, redis-cli --cluster create), storage.redis
                  mode: cluster; its Redis CPU per request is summed over the 3 masters
  and runs the same `wrk -t1 -c50 -d10s --latency` against each, interleaved (the
  order rotates every repetition so machine drift hits every scenario alike).

  Fairness: nginx worker_processes 1 and Sluice server.threads 1 (--workers). On a
  2-core machine wrk needs one core and the upstream shares the other with the proxy;
  more proxy workers would only measure scheduler contention. Access logs are off on
  both; both add the same forwarding headers (X-Forwarded-For/-Proto/-Host, Via).
  Sluice keeps its shipped response headers (X-RateLimit-*, RateLimit-*).

  Reported per scenario (medians over the repetitions): requests/s, p50 and p99
  latency (wrk), and the proxy's CPU time per request: utime+stime from
  /proc/<pid>/stat over the wrk run (nginx: master + workers; Sluice: every thread),
  divided by the requests wrk completed. "upstream" is the upstream measured directly
  (its CPU column is the upstream's own). Then Sluice's ratios to nginx with the
  SPEC 12 targets: CPU/request <= 1.0, throughput >= 1.0, p99 <= 1.2.

  With the Redis scenarios: redis-server's own CPU per request (its /proc stat over
  the same wrk run), the Redis/memory ratios (SPEC 12: throughput >= 0.7), and Redis's
  own ceiling for Sluice's decision: `redis-benchmark -c 50`, unpipelined and with
  -P 16, sending the very FCALL Sluice sends (captured with MONITOR from one request
  to sluice-redis-allow, whose function library Sluice loaded; its name is checked
  against the library assembled here from gateway/**/*.lua as
  gateway/redis/decide_script.cpp does), the FCALL of a 3-limit request (captured from
  a Sluice started for that with sluice-allow-3.yaml), and the same 1-limit decision
  as EVALSHA of the decision script (what a Redis without Functions runs; SCRIPT LOAD,
  SHA checked). --old-evalsha REV adds the EVALSHA of the script as it was at a git
  revision, with the captured arguments in that script's layout (nine per limit).
  Reported per call: calls/s, redis-server CPU µs (/proc) and INFO commandstats
  usec_per_call (the time inside the command, nested calls included), medians of
  --redis-reps interleaved runs.

  The summary goes to <build-dir>/bench/compare-<time>.{json,md} and
  compare-latest.{json,md}; configs and logs of the last run to <build-dir>/bench/run/.
  Numbers on a shared machine are noisy: compare ratios from one run, not absolute
  numbers across runs.

  Profiling helpers (same setup, one scenario):
    scripts/bench/compare.py --perf sluice-allow      # perf record -g on the proxy PID
    scripts/bench/compare.py --callgrind sluice-reject --duration 10 --connections 4
        # Sluice under callgrind, instrumentation on only during wrk: prints
        # instructions per request, ranked by area and function (callgrind_report.py),
        # and leaves callgrind.out.* for callgrind_annotate
    scripts/bench/compare.py --syscalls nginx-allow --duration 5  # calls/request (perf stat)

Requires nginx, wrk, redis-server and redis-benchmark for the Redis scenarios (and perf
or valgrind for the helpers); Python 3 stdlib only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import bench_support
from bench_support import CLK_TCK, HERE, REPO, free_port, http_get, loadavg, log

TARGETS = [
    "upstream",
    "nginx-allow",
    "nginx-reject",
    "sluice-allow",
    "sluice-reject",
    "sluice-redis-allow",
    "sluice-redis-reject",
    "sluice-redis-cluster-allow",
    "nginx-tls-allow",
    "sluice-tls-allow",
]
CLUSTER_MASTERS = 3

# SPEC 12 targets for Sluice / nginx.
TARGET_CPU = 1.0
TARGET_RPS = 1.0
TARGET_P99 = 1.2
# SPEC 12: Sluice with Redis / Sluice with the memory store.
TARGET_REDIS_RPS = 0.7

# The decision code as gateway/redis/decide_script.cpp assembles it (same order, same
# separators), so the names and SHAs here are the ones Sluice uses.
DECIDE_CODE_FILES = [
    "decision.lua",
    "bucket.lua",
    "fixed_window.lua",
    "sliding_window.lua",
    "sliding_log.lua",
    "decide.lua",
]
# Where the old (text-state, 9 arguments per limit) script lived, for --old-evalsha.
OLD_SCRIPT_PATHS = [f"gateway/limit/algorithms/{n}" for n in DECIDE_CODE_FILES[:-1]] + [
    "gateway/redis/decide.lua"
]


def fill(template: str, values: dict[str, str]) -> str:
    text = (HERE / template).read_text()
    for k, v in values.items():
        text = text.replace(f"@{k}@", str(v))
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise SystemExit(f"{template}: unfilled placeholders {sorted(set(left))}")
    return text


# ---- processes -------------------------------------------------------------------------


class Service(bench_support.Service):
    """One process we started (nginx master + its workers, or sluice, or redis-server),
    probed with a GET / on its port (HTTPS in the -tls- scenarios) unless told otherwise."""

    def __init__(self, name: str, argv: list[str], logfile: Path, port: int, with_children: bool):
        super().__init__(name, argv, logfile, lambda: http_get(self.port, "/", tls=self.tls)[0] > 0,
                         port=port, with_children=with_children)
        self.admin_port: int | None = None  # Sluice only
        self.tls = "-tls-" in name


# ---- redis -------------------------------------------------------------------------------


def resp_command(*args: str | bytes) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def redis_call(port: int, *args: str) -> bytes:
    """One command, its raw reply (enough for PING and SCRIPT LOAD)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(resp_command(*args))
        reply = b""
        while not reply.endswith(b"\r\n") or (reply.startswith(b"$") and reply.count(b"\r\n") < 2):
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
        return reply


def code_part(name: str, source: str) -> str:
    text = f"-- ---- {name} ----\n" + source
    return text if text.endswith("\n") else text + "\n"


def decision_code() -> dict:
    """The Functions library and the EVAL decide script, as decide_script.cpp builds them."""
    def source(name: str) -> str:
        return next(REPO.joinpath("gateway").rglob(name)).read_text()

    body = "".join(code_part(n, source(n)) for n in DECIDE_CODE_FILES)
    library = "#!lua name=@LIBRARY@\n" + body + code_part("register.lua", source("register.lua"))
    name = "sluice_" + hashlib.sha1(library.encode()).hexdigest()[:8]
    script = body + "return decide(KEYS, ARGV, false)\n"
    return {"library_name": name, "library": library.replace("@LIBRARY@", name),
            "decide_function": name + "_decide", "decide_script": script}


def old_script(rev: str) -> str:
    """The decision script at git revision `rev`, assembled as compare.py did then."""
    text = ""
    for path in OLD_SCRIPT_PATHS:
        source = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:{path}"],
                                capture_output=True, text=True, check=True).stdout
        text += code_part(path.rsplit("/", 1)[1], source)
    return text


def old_layout(args: list[str]) -> list[str]:
    """FCALL arguments (numkeys, keys, then spec and cost per limit) in the old script's
    layout: numkeys, keys, peek flag, then per limit algorithm, count, period_us, burst,
    max_delay_us, interval_num, interval_den, cost, shadow."""
    n = int(args[0])
    out = args[: 1 + n] + ["0"]
    rest = args[1 + n :]
    for i in range(n):
        spec, cost = rest[2 * i].split(), rest[2 * i + 1]
        out += spec[:7] + [cost, spec[7]]
    return out


def redis_info(port: int, section: str) -> str:
    """INFO <section> as text."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(resp_command("INFO", section))
        data = b""
        while b"\r\n" not in data:
            data += s.recv(65536)
        length = int(data[1 : data.index(b"\r\n")])
        body = data[data.index(b"\r\n") + 2 :]
        while len(body) < length:
            body += s.recv(65536)
        return body[:length].decode()


def usec_per_call(port: int, command: str) -> float | None:
    m = re.search(rf"^cmdstat_{command}:calls=\d+,usec=\d+,usec_per_call=([0-9.]+)",
                  redis_info(port, "commandstats"), re.M)
    return float(m.group(1)) if m else None


def unquote_monitor(arg: str) -> str:
    # MONITOR quotes arguments with sdscatrepr: \" \\ \n \r \t \a \b and \xHH.
    return re.sub(
        r"\\(x[0-9a-fA-F]{2}|.)",
        lambda m: chr(int(m.group(1)[1:], 16)) if m.group(1)[0] == "x" and len(m.group(1)) == 3
        else {"n": "\n", "r": "\r", "t": "\t", "a": "\a", "b": "\b"}.get(m.group(1), m.group(1)),
        arg,
    )


def capture_fcall(redis_port: int, sluice_port: int, path: str) -> list[str]:
    """The FCALL Sluice sends for one request, as MONITOR shows it (FCALL first)."""
    with socket.create_connection(("127.0.0.1", redis_port), timeout=5) as s:
        s.sendall(resp_command("MONITOR"))
        s.recv(100)  # +OK
        http_get(sluice_port, path)
        data = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            data += s.recv(65536)
            for line in data.decode(errors="replace").splitlines():
                if '"FCALL"' in line or '"fcall"' in line:
                    args = [unquote_monitor(a) for a in re.findall(r'"((?:[^"\\]|\\.)*)"', line)]
                    return args
    raise SystemExit("no FCALL from Sluice seen by MONITOR")


# ---- wrk ---------------------------------------------------------------------------------

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def to_ms(text: str) -> float:
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"unparsed wrk latency {text!r}")
    return float(m.group(1)) * UNITS[m.group(2)]


def parse_wrk(out: str) -> dict:
    r: dict = {}
    m = re.search(r"(\d+) requests in ([0-9.]+\w+)", out)
    if not m:
        raise ValueError("wrk output without a request count:\n" + out)
    r["requests"] = int(m.group(1))
    r["rps"] = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        r[f"p{pct}_ms"] = to_ms(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    r["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    return r


def run_wrk(args, port: int, duration: int, tls: bool = False) -> str:
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}{args.path}"
    argv = [
        "wrk",
        f"-t{args.wrk_threads}",
        f"-c{args.connections}",
        f"-d{duration}s",
        "--latency",
        url,
    ]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    if res.returncode != 0:
        raise SystemExit(f"wrk failed ({res.returncode}): {res.stdout}{res.stderr}")
    return res.stdout


# ---- the scenarios ------------------------------------------------------------------------


class Bench:
    def __init__(self, args):
        self.args = args
        self.services: dict[str, Service] = {}
        self.dir = args.out / "run"

    def setup_dir(self) -> None:
        if self.dir.exists():
            shutil.rmtree(self.dir)
        (self.dir / "tmp").mkdir(parents=True)
        self.dir.chmod(0o755)

    def nginx(self, name: str, template: str, values: dict) -> Service:
        port = values["PORT"] if "PORT" in values else values["UPSTREAM_PORT"]
        conf = self.dir / f"{name}.nginx.conf"
        conf.write_text(fill(template, {"DIR": self.dir, "NAME": name, **values}))
        argv = ["nginx", "-p", str(self.dir), "-c", str(conf), "-e", str(self.dir / f"{name}.error.log")]
        return Service(name, argv, self.dir / f"{name}.out", port, with_children=True)

    def redis(self) -> Service:
        port = free_port()
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.dir)]
        s = Service("redis", argv, self.dir / "redis.out", port, with_children=False)
        s.probe = lambda: redis_call(port, "PING").startswith(b"+PONG")
        return s

    def cluster_node(self, index: int) -> Service:
        """A Redis Cluster node; the cluster is created once all are up (start())."""
        port = free_port()
        while port + 10000 > 65535:
            port = free_port()
        d = self.dir / f"cluster-{index}"
        d.mkdir(exist_ok=True)
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(d), "--cluster-enabled", "yes",
                "--cluster-config-file", str(d / "nodes.conf")]
        s = Service(f"cluster-{index}", argv, d / "redis.out", port, with_children=False)
        s.probe = lambda: redis_call(port, "PING").startswith(b"+PONG")
        return s

    def create_cluster(self) -> None:
        nodes = [s for n, s in self.services.items() if n.startswith("cluster-")]
        for s in nodes:
            s.wait_ready()
        res = subprocess.run(["redis-cli", "--cluster", "create"] +
                             [f"127.0.0.1:{s.port}" for s in nodes] + ["--cluster-yes"],
                             capture_output=True, text=True, timeout=60)
        if res.returncode != 0:
            raise SystemExit("redis-cli --cluster create failed:\n" + res.stdout + res.stderr)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if all(b"cluster_state:ok" in redis_call(s.port, "CLUSTER", "INFO") for s in nodes):
                return
            time.sleep(0.1)
        raise SystemExit("the benchmark's Redis Cluster did not reach cluster_state:ok")

    def make_certificate(self) -> None:
        """A self-signed ECDSA P-256 certificate for 127.0.0.1, shared by both proxies."""
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", str(self.dir / "tls.key"), "-out", str(self.dir / "tls.pem")],
            check=True, capture_output=True, timeout=60)

    def nginx_tls(self, name: str) -> dict:
        """The listen flag and certificate lines of an nginx scenario (none when plain)."""
        if "-tls-" not in name:
            return {"SSL": "", "SSL_CONFIG": ""}
        return {
            "SSL": " ssl",
            "SSL_CONFIG": (f"ssl_certificate {self.dir / 'tls.pem'};\n"
                           f"    ssl_certificate_key {self.dir / 'tls.key'};\n"
                           "    ssl_protocols TLSv1.2 TLSv1.3;"),
        }

    def sluice(self, name: str, policy: str, upstream_port: int, wrapper: list[str], binary: Path) -> Service:
        port = free_port()
        admin_port = free_port()
        if "-cluster-" in name:
            seeds = ", ".join(f"127.0.0.1:{s.port}" for n, s in self.services.items()
                              if n.startswith("cluster-"))
            storage = (
                "  backend: redis\n  redis:\n    mode: cluster\n"
                f"    address: [{seeds}]\n"
                f"    timeout: 250ms\n    connections: {self.args.redis_connections}\n"
                f'    key_prefix: "{name}:"\n  on_error: deny'
            )
        elif "-redis-" in name:
            # A generous timeout: this measures throughput, not the timeout path; a
            # failed decision would answer 503 (on_error: deny) and show as non-2xx.
            storage = (
                "  backend: redis\n  redis:\n"
                f"    address: 127.0.0.1:{self.services['redis'].port}\n"
                f"    timeout: 250ms\n    connections: {self.args.redis_connections}\n"
                f'    key_prefix: "{name}:"\n  on_error: deny'
            )
        else:
            storage = "  backend: memory"
        conf = self.dir / f"{name}.server.yaml"
        shutil.copy(HERE / policy, self.dir / policy)
        conf.write_text(
            fill(
                "sluice.yaml.in",
                {
                    "LISTEN": (f"{{ address: 127.0.0.1:{port}, tls: {{ cert: {self.dir / 'tls.pem'}, "
                               f"key: {self.dir / 'tls.key'} }} }}" if "-tls-" in name
                               else f"127.0.0.1:{port}"),
                    "UPSTREAM_PORT": upstream_port,
                    "ADMIN_PORT": admin_port,
                    "WORKERS": self.args.workers,
                    "POLICY": policy,
                    "STORAGE": storage,
                },
            )
        )
        argv = wrapper + [str(binary), "--config", str(conf)]
        s = Service(name, argv, self.dir / f"{name}.out", port, with_children=False)
        s.admin_port = admin_port
        return s

    def start(self, targets: list[str], sluice_wrapper: dict[str, list[str]] | None = None) -> None:
        sluice_wrapper = sluice_wrapper or {}
        self.setup_dir()
        up_port = free_port()
        w = self.args.workers
        up = self.nginx("upstream", "upstream.nginx.conf.in", {"UPSTREAM_PORT": up_port, "WORKERS": w})
        self.services["upstream"] = up
        if any("-redis-" in t and "-cluster-" not in t for t in targets):
            self.services["redis"] = self.redis()
        if any("-cluster-" in t for t in targets):
            for i in range(CLUSTER_MASTERS):
                self.services[f"cluster-{i}"] = self.cluster_node(i)
                self.services[f"cluster-{i}"].start()
            self.create_cluster()
        if any("-tls-" in t for t in targets):
            self.make_certificate()
        for name in ("nginx-allow", "nginx-tls-allow"):
            if name not in targets:
                continue
            self.services[name] = self.nginx(
                name,
                "proxy.nginx.conf.in",
                {
                    "MODE": "allow",
                    "PORT": free_port(),
                    "UPSTREAM_PORT": up_port,
                    "WORKERS": w,
                    "RATE": "100000000r/s",
                    "BURST": " burst=100000000 nodelay",
                    **self.nginx_tls(name),
                },
            )
        if "nginx-reject" in targets:
            self.services["nginx-reject"] = self.nginx(
                "nginx-reject",
                "proxy.nginx.conf.in",
                {
                    "MODE": "reject",
                    "PORT": free_port(),
                    "UPSTREAM_PORT": up_port,
                    "WORKERS": w,
                    "RATE": "1r/m",
                    "BURST": "",
                    **self.nginx_tls("nginx-reject"),
                },
            )
        for name in targets:
            if not name.startswith("sluice-"):
                continue
            mode = "allow" if "-allow" in name else "reject"
            binary = self.args.baseline if name.endswith("-base") else self.args.sluice
            self.services[name] = self.sluice(
                name, f"sluice-{mode}.yaml", up_port, sluice_wrapper.get(name, []), binary
            )
        # Redis first: a gateway that starts without it reports storage degraded.
        for s in self.services.values():
            if s.name.startswith("cluster-"):
                continue  # started and joined above
            s.start()
            if s.name == "redis":
                s.wait_ready()
        for name, s in self.services.items():
            s.wait_ready(timeout=120 if name in sluice_wrapper else 15)
        self.prime()

    def prime(self) -> None:
        """Exhausts the reject limits and checks that every scenario answers as intended."""
        for name, s in self.services.items():
            if name == "redis" or name.startswith("cluster-"):
                continue
            expect = 429 if "reject" in name else 200
            status = 0
            # A cluster gateway learns the slot map in the background: give it time.
            for _ in range(50 if "-cluster-" in name else 3):
                status, body = http_get(s.port, self.args.path, timeout=30, tls=s.tls)
                if status == expect:
                    break
                time.sleep(0.1 if "-cluster-" in name else 0)
            if status != expect:
                raise SystemExit(f"{name}: expected {expect} after priming, got {status}: {body!r}")

    def stop(self) -> None:
        for s in reversed(list(self.services.values())):
            try:
                s.stop()
            except Exception as e:  # keep stopping the others
                log(f"stopping {s.name}: {e}")

    def measure(self, name: str, duration: int) -> dict:
        s = self.services[name]
        up = self.services["upstream"]
        c0, pids = s.cpu_and_pids()
        user0 = s.user_cpu()
        u0 = up.cpu()
        # The Redis CPU this scenario used: the one server, or every cluster master.
        redis_side = ([v for k, v in self.services.items() if k.startswith("cluster-")]
                      if "-cluster-" in name else
                      [self.services["redis"]] if "redis" in self.services else [])
        r0 = sum(x.cpu() for x in redis_side)
        t0 = time.monotonic()
        out = run_wrk(self.args, s.port, duration, s.tls)
        elapsed = time.monotonic() - t0
        c1 = s.cpu()
        user1 = s.user_cpu()
        u1 = up.cpu()
        r1 = sum(x.cpu() for x in redis_side)
        r = parse_wrk(out)
        n = max(r["requests"], 1)
        r["proxy_cpu_us_per_req"] = (c1 - c0) / CLK_TCK * 1e6 / n
        r["proxy_user_us_per_req"] = (user1 - user0) / CLK_TCK * 1e6 / n
        r["proxy_cpu_util"] = (c1 - c0) / CLK_TCK / elapsed
        r["upstream_cpu_us_per_req"] = (u1 - u0) / CLK_TCK * 1e6 / n
        r["redis_cpu_us_per_req"] = (r1 - r0) / CLK_TCK * 1e6 / n if "-redis-" in name else None
        r["pids"] = pids
        r["raw"] = out
        return r


    def storage_errors(self, name: str) -> float | None:
        """rate_limit_storage_errors_total of a Sluice scenario (its admin /metrics)."""
        s = self.services[name]
        try:
            _, body = http_get(s.admin_port, "/metrics")
        except OSError:
            return None
        total = 0.0
        for line in body.decode(errors="replace").splitlines():
            if line.startswith("rate_limit_storage_errors_total"):
                total += float(line.split()[-1])
        return total

    def capture_three_limits(self) -> list[str]:
        """The FCALL of a 3-limit request, from a Sluice started for that alone."""
        s = self.sluice("sluice-redis-capture3", "sluice-allow-3.yaml",
                        self.services["upstream"].port, [], self.args.sluice)
        s.start()
        try:
            s.wait_ready()
            http_get(s.port, self.args.path, timeout=30)  # the library is loaded by now
            return capture_fcall(self.services["redis"].port, s.port, self.args.path)
        finally:
            s.stop()

    def redis_benchmark(self, requests: int) -> dict:
        """redis-benchmark -c 50 (unpipelined and -P 16) on the same redis-server: the
        FCALL Sluice sends for 1 and 3 limits, and EVALSHA of the same 1-limit decision
        (and of the script at --old-evalsha). Interleaved; medians."""
        redis = self.services["redis"]
        code = decision_code()
        one = capture_fcall(redis.port, self.services["sluice-redis-allow"].port, self.args.path)
        if one[1] != code["decide_function"]:
            raise SystemExit(f"Sluice called {one[1]}, the library here is {code['library_name']}: "
                             "not the same code")
        three = self.capture_three_limits()
        sha = redis_call(redis.port, "SCRIPT", "LOAD", code["decide_script"]).split(b"\r\n")[1].decode()
        calls = {
            "FCALL, 1 limit": one,
            "FCALL, 3 limits": three,
            "EVALSHA, 1 limit (same code, no Functions)": ["EVALSHA", sha] + one[2:],
        }
        if self.args.old_evalsha:
            old_sha = redis_call(redis.port, "SCRIPT", "LOAD", old_script(self.args.old_evalsha))
            old_sha = old_sha.split(b"\r\n")[1].decode()
            calls[f"EVALSHA, 1 limit (script at {self.args.old_evalsha})"] = (
                ["EVALSHA", old_sha] + old_layout(one[2:]))
        runs: dict[tuple[str, int], list[dict]] = {}
        for rep in range(self.args.redis_reps):
            for pipeline in (1, 16):
                for name, argv in calls.items():
                    runs.setdefault((name, pipeline), []).append(
                        self.redis_benchmark_run(argv, requests, pipeline))
        results = []
        for (name, pipeline), rs in runs.items():
            argv = calls[name]
            shown = argv[:2] + ["<spec>" if " " in a else a for a in argv[2:]]
            results.append({
                "call": name,
                "pipeline": pipeline,
                "rps": median([r["rps"] for r in rs]),
                "redis_cpu_us_per_call": median([r["redis_cpu_us_per_call"] for r in rs]),
                "usec_per_call": median([r["usec_per_call"] for r in rs]),
                "reps": len(rs),
                "command": f"redis-benchmark -c {self.args.connections} -P {pipeline} -n {requests} "
                           + " ".join(shown),
                "argv": argv,
            })
        return {"requests": requests, "results": results}

    def redis_benchmark_run(self, argv: list[str], requests: int, pipeline: int) -> dict:
        redis = self.services["redis"]
        cmd = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(redis.port), "-c",
               str(self.args.connections), "-P", str(pipeline), "-n", str(requests), "-q"] + argv
        redis_call(redis.port, "CONFIG", "RESETSTAT")
        c0 = redis.cpu()
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        c1 = redis.cpu()
        m = re.findall(r"([0-9.]+) requests per second", res.stdout.replace("\r", "\n"))
        if res.returncode != 0 or not m or "ERR" in res.stdout:
            raise SystemExit(f"redis-benchmark failed ({res.returncode}): {res.stdout[-500:]}{res.stderr[-500:]}")
        return {
            "rps": float(m[-1]),
            "redis_cpu_us_per_call": (c1 - c0) / CLK_TCK * 1e6 / requests,
            "usec_per_call": usec_per_call(redis.port, argv[0].lower()),
        }


# ---- reporting ------------------------------------------------------------------------------


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(runs: dict[str, list[dict]]) -> dict:
    med = {}
    for name, rs in runs.items():
        med[name] = {
            k: median([r[k] for r in rs])
            for k in (
                "rps",
                "p50_ms",
                "p99_ms",
                "proxy_cpu_us_per_req",
                "proxy_user_us_per_req",
                "upstream_cpu_us_per_req",
                "redis_cpu_us_per_req",
                "proxy_cpu_util",
                "requests",
            )
        }
        med[name]["non_2xx_fraction"] = median([r["non_2xx"] / max(r["requests"], 1) for r in rs])
        med[name]["socket_errors"] = sum(r["socket_errors"] for r in rs)
        med[name]["reps"] = len(rs)
    def ratio(a: str, b: str) -> dict:
        x, y = med[a], med[b]
        r = {
            "cpu_per_request": x["proxy_cpu_us_per_req"] / y["proxy_cpu_us_per_req"],
            "throughput": x["rps"] / y["rps"],
            "p99": x["p99_ms"] / y["p99_ms"],
        }
        # Ratios of each repetition (same rep = closest in time), to show the spread.
        r["per_rep"] = [
            {
                "cpu_per_request": ra["proxy_cpu_us_per_req"] / rb["proxy_cpu_us_per_req"],
                "throughput": ra["rps"] / rb["rps"],
                "p99": ra["p99_ms"] / rb["p99_ms"],
            }
            for ra, rb in zip(runs[a], runs[b])
        ]
        return r

    ratios, ab, redis = {}, {}, {}
    for mode in ("allow", "reject", "tls-allow"):
        if f"sluice-redis-{mode}" in med and f"sluice-{mode}" in med:
            redis[mode] = ratio(f"sluice-redis-{mode}", f"sluice-{mode}")
        for suffix in ("", "-base"):
            if f"sluice-{mode}{suffix}" in med and f"nginx-{mode}" in med:
                ratios[mode + suffix] = ratio(f"sluice-{mode}{suffix}", f"nginx-{mode}")
        if f"sluice-{mode}" in med and f"sluice-{mode}-base" in med:
            ab[mode] = ratio(f"sluice-{mode}", f"sluice-{mode}-base")
    return {"medians": med, "ratios": ratios, "candidate_vs_baseline": ab, "redis_vs_memory": redis}


def verdict(value: float, target: float, higher_is_better: bool) -> str:
    ok = value >= target if higher_is_better else value <= target
    return "ok" if ok else "MISS"


def render(summary: dict, meta: dict) -> str:
    med, ratios = summary["medians"], summary["ratios"]
    lines = [
        f"Sluice vs nginx limit_req — {meta['time']}, {meta['host_cpus']} CPUs, "
        f"load avg before/after {meta['load_before']} / {meta['load_after']}",
        f"wrk -t{meta['wrk_threads']} -c{meta['connections']} -d{meta['duration']}s --latency, "
        f"{meta['reps']} interleaved reps (medians); proxy workers: {meta['workers']}",
        "",
        "| scenario | req/s | p50 ms | p99 ms | proxy CPU µs/req | of it user | proxy CPU util | upstream CPU µs/req | redis CPU µs/req | non-2xx |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in med:
        m = med[name]
        redis_cpu = "" if m["redis_cpu_us_per_req"] is None else f"{m['redis_cpu_us_per_req']:.1f}"
        lines.append(
            f"| {name} | {m['rps']:.0f} | {m['p50_ms']:.3f} | {m['p99_ms']:.3f} | "
            f"{m['proxy_cpu_us_per_req']:.1f} | {m['proxy_user_us_per_req']:.1f} | "
            f"{m['proxy_cpu_util']*100:.0f}% | "
            f"{m['upstream_cpu_us_per_req']:.1f} | {redis_cpu} | {m['non_2xx_fraction']*100:.1f}% |"
        )
    if ratios:
        lines += [
            "",
            "| Sluice / nginx | CPU/request (<= 1.0) | throughput (>= 1.0) | p99 (<= 1.2) | per-rep CPU ratios |",
            "|---|---:|---:|---:|---|",
        ]
        for mode, r in ratios.items():
            reps = ", ".join(f"{x['cpu_per_request']:.2f}" for x in r["per_rep"])
            lines.append(
                f"| {mode} | {r['cpu_per_request']:.2f} {verdict(r['cpu_per_request'], TARGET_CPU, False)} "
                f"| {r['throughput']:.2f} {verdict(r['throughput'], TARGET_RPS, True)} "
                f"| {r['p99']:.2f} {verdict(r['p99'], TARGET_P99, False)} | {reps} |"
            )
    if summary.get("redis_vs_memory"):
        lines += [
            "",
            "| Sluice Redis / Sluice memory | CPU/request | throughput (>= 0.7) | p99 | per-rep throughput ratios |",
            "|---|---:|---:|---:|---|",
        ]
        for mode, r in summary["redis_vs_memory"].items():
            reps = ", ".join(f"{x['throughput']:.2f}" for x in r["per_rep"])
            lines.append(
                f"| {mode} | {r['cpu_per_request']:.2f} | {r['throughput']:.2f} "
                f"{verdict(r['throughput'], TARGET_REDIS_RPS, True)} | {r['p99']:.2f} | {reps} |"
            )
    if meta.get("storage_errors"):
        errors = ", ".join(f"{k} {v:.0f}" for k, v in meta["storage_errors"].items())
        lines += ["", f"Redis storage errors (rate_limit_storage_errors_total): {errors}"]
    if summary.get("redis_benchmark"):
        rb = summary["redis_benchmark"]
        lines += [
            "",
            f"Redis's own ceiling for the decision (redis-benchmark, {rb['requests']} calls per run, medians):",
            "",
            "| call | -P | calls/s | redis CPU µs/call | commandstats µs/call |",
            "|---|---:|---:|---:|---:|",
        ]
        by = {(r["call"], r["pipeline"]): r for r in rb["results"]}
        for r in rb["results"]:
            lines.append(
                f"| {r['call']} | {r['pipeline']} | {r['rps']:.0f} | {r['redis_cpu_us_per_call']:.2f} | "
                f"{r['usec_per_call']:.2f} |"
            )
        lines.append("")
        for pipeline in (1, 16):
            fcall = by.get(("FCALL, 1 limit", pipeline))
            three = by.get(("FCALL, 3 limits", pipeline))
            for (name, p), r in by.items():
                if p == pipeline and name.startswith("EVALSHA"):
                    lines.append(f"-P {pipeline}: FCALL calls/s / {name}: {fcall['rps'] / r['rps']:.2f}")
            lines.append(
                f"-P {pipeline}: 3 limits / 1 limit, redis CPU per call: "
                f"{three['redis_cpu_us_per_call'] / fcall['redis_cpu_us_per_call']:.2f}, "
                f"commandstats: {three['usec_per_call'] / fcall['usec_per_call']:.2f}"
            )
        if "sluice-redis-allow" in med:
            fcall = by[("FCALL, 1 limit", 1)]
            lines.append(
                f"sluice-redis-allow reaches {med['sluice-redis-allow']['rps'] / fcall['rps']:.2f} "
                "of the unpipelined FCALL ceiling."
            )
        lines += ["", "Commands:"] + [f"`{r['command']}`" for r in rb["results"] if r["pipeline"] == 1]
    if summary.get("candidate_vs_baseline"):
        lines += [
            "",
            f"Candidate ({meta['sluice']}) / baseline ({meta.get('baseline')}):",
            "",
            "| mode | CPU/request | throughput | p99 | per-rep CPU ratios |",
            "|---|---:|---:|---:|---|",
        ]
        for mode, r in summary["candidate_vs_baseline"].items():
            reps = ", ".join(f"{x['cpu_per_request']:.2f}" for x in r["per_rep"])
            lines.append(
                f"| {mode} | {r['cpu_per_request']:.3f} | {r['throughput']:.3f} | {r['p99']:.3f} | {reps} |"
            )
    lines += [
        "",
        "Shared 2-core machine: absolute numbers move run to run; compare the ratios.",
    ]
    return "\n".join(lines) + "\n"


# ---- modes -------------------------------------------------------------------------------------


def compare(args) -> None:
    targets = args.targets
    bench = Bench(args)
    meta = {
        "time": dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
        "host_cpus": os.cpu_count(),
        "load_before": loadavg(),
        "wrk_threads": args.wrk_threads,
        "connections": args.connections,
        "duration": args.duration,
        "reps": args.reps,
        "workers": args.workers,
        "path": args.path,
        "sluice": str(args.sluice),
        "baseline": str(args.baseline) if args.baseline else None,
        "git": subprocess.run(
            ["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True, text=True
        ).stdout.strip(),
    }
    runs: dict[str, list[dict]] = {t: [] for t in targets}
    try:
        bench.start(targets)
        if args.warmup > 0:
            for t in targets:
                log(f"warm-up {t} ({args.warmup}s)")
                bench.measure(t, args.warmup)
        for rep in range(args.reps):
            order = targets[rep % len(targets) :] + targets[: rep % len(targets)]
            for t in order:
                r = bench.measure(t, args.duration)
                runs[t].append(r)
                log(
                    f"rep {rep + 1}/{args.reps} {t:14s} {r['rps']:9.0f} req/s  p50 {r['p50_ms']:.3f} ms  "
                    f"p99 {r['p99_ms']:.3f} ms  cpu {r['proxy_cpu_us_per_req']:.1f} us/req  "
                    f"non-2xx {r['non_2xx']}/{r['requests']}"
                    + (f"  redis cpu {r['redis_cpu_us_per_req']:.2f} us/req"
                       if r.get("redis_cpu_us_per_req") is not None else "")
                )
        redis_bench = None
        if "sluice-redis-allow" in targets:
            meta["storage_errors"] = {t: bench.storage_errors(t) for t in targets if "-redis-" in t}
            log("redis-benchmark FCALL and EVALSHA")
            redis_bench = bench.redis_benchmark(requests=args.redis_requests)
    finally:
        bench.stop()
    meta["load_after"] = loadavg()
    summary = summarize(runs)
    if redis_bench:
        summary["redis_benchmark"] = redis_bench
    text = render(summary, meta)
    print(text)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    doc = {"meta": meta, **summary, "runs": {t: [{k: v for k, v in r.items() if k != "raw"} for r in rs] for t, rs in runs.items()}}
    for base in (f"compare-{stamp}", "compare-latest"):
        (args.out / f"{base}.json").write_text(json.dumps(doc, indent=2) + "\n")
        (args.out / f"{base}.md").write_text(text)
    log(f"summary: {args.out / f'compare-{stamp}.md'} (and .json)")


def profile_perf(args) -> None:
    target = args.perf
    bench = Bench(args)
    try:
        bench.start([target])
        bench.measure(target, 2)
        s = bench.services[target]
        data = args.out / f"perf-{target}.data"
        pids = ",".join(str(p) for p in s.pids())
        perf = subprocess.Popen(
            ["perf", "record", "-g", "-F", str(args.perf_freq), "-p", pids, "-o", str(data)],
            stdout=subprocess.DEVNULL,
            stderr=open(bench.dir / "perf.log", "wb"),
        )
        time.sleep(0.5)
        r = bench.measure(target, args.duration)
        perf.send_signal(signal.SIGINT)
        perf.wait(timeout=60)
        log(f"{target}: {r['rps']:.0f} req/s, {r['proxy_cpu_us_per_req']:.1f} us/req, {r['requests']} requests")
        log(f"perf data: {data}\n  perf report -i {data} --no-children --percent-limit 1 --stdio")
    finally:
        bench.stop()


# The system calls a proxy makes per request, counted one by one (failed ones too).
SYSCALLS = ["recvfrom", "recvmsg", "read", "readv", "sendto", "sendmsg", "write", "writev",
            "epoll_wait", "epoll_pwait", "epoll_ctl", "getsockopt", "setsockopt", "accept4",
            "close", "ioctl", "poll", "futex", "timerfd_settime", "io_uring_enter"]
TRACEFS = Path("/sys/kernel/tracing/events")


def profile_syscalls(args) -> None:
    """System calls per request, by name, with how many failed (a read that found nothing
    fails with EAGAIN), during one wrk run: perf stat on the kernel's syscall tracepoints.
    Not strace: strace stops the proxy at every call, which gives its peers the time to
    answer, so reads that find nothing at full speed find bytes under strace (it counted
    5.1 calls per allowed request where the tracepoints count 7.0)."""
    target = args.syscalls
    names = [n for n in SYSCALLS if (TRACEFS / "syscalls" / f"sys_enter_{n}").exists()]
    if not names:
        raise SystemExit(f"no syscall tracepoints under {TRACEFS} (mount tracefs; run as root)")
    events = ["-e", "context-switches", "-e", "raw_syscalls:sys_enter", "-e", "raw_syscalls:sys_exit", "--filter", "ret < 0"]
    for n in names:
        events += ["-e", f"syscalls:sys_enter_{n}", "-e", f"syscalls:sys_exit_{n}", "--filter", "ret < 0"]
    bench = Bench(args)
    try:
        bench.start([target])
        bench.measure(target, 2)
        s = bench.services[target]
        report = bench.dir / f"syscalls-{target}.csv"
        pids = ",".join(str(p) for p in s.pids())
        counter = subprocess.Popen(["perf", "stat", "-x,", "-o", str(report)] + events + ["-p", pids],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        r = bench.measure(target, args.duration)
        counter.send_signal(signal.SIGINT)
        counter.wait(timeout=60)
    finally:
        bench.stop()
    n = max(r["requests"], 1)
    counts = {}
    for line in report.read_text().splitlines():
        f = line.split(",")
        if len(f) > 2 and f[0].isdigit():
            counts[f[2]] = int(f[0])
    print(f"{target}: {r['requests']} requests ({r['rps']:.0f} req/s, "
          f"{r['proxy_cpu_us_per_req']:.1f} µs CPU/request under perf stat)")
    print(f"{'syscall':20s} {'calls/req':>10s} {'failed/req':>10s}")
    rows = [(name, counts.get(f"syscalls:sys_enter_{name}", 0) / n,
             counts.get(f"syscalls:sys_exit_{name}", 0) / n) for name in names]
    for name, c, e in sorted(rows, key=lambda x: -x[1]):
        if c >= 0.005:
            print(f"{name:20s} {c:10.3f} {e:10.3f}")
    total = counts.get("raw_syscalls:sys_enter", 0) / n
    print(f"{'other':20s} {max(total - sum(c for _, c, _ in rows), 0.0):10.3f}")
    print(f"{'total':20s} {total:10.3f} {counts.get('raw_syscalls:sys_exit', 0) / n:10.3f}")
    print(f"context switches per request: {counts.get('context-switches', 0) / n:.3f}")


def profile_callgrind(args) -> None:
    target = args.callgrind
    if not target.startswith("sluice"):
        raise SystemExit("--callgrind runs Sluice only")
    out_file = args.out / f"callgrind.out.{target}"
    wrapper = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out_file}",
    ]
    for old in args.out.glob(f"callgrind.out.{target}*"):
        old.unlink()
    bench = Bench(args)
    try:
        bench.start([target], sluice_wrapper={target: wrapper})
        s = bench.services[target]
        bench.measure(target, 2)  # warm: pools, buffers, lazily resolved metrics
        subprocess.run(["callgrind_control", "-i", "on", str(s.pid)], check=True, capture_output=True)
        r = bench.measure(target, args.duration)
        subprocess.run(["callgrind_control", "-i", "off", str(s.pid)], check=True, capture_output=True)
        subprocess.run(["callgrind_control", "-d", str(s.pid)], check=True, capture_output=True)
        time.sleep(1)
    finally:
        bench.stop()
    # The dump taken right after wrk holds the measured window (the file written at
    # exit holds only what ran after it).
    dumps = sorted(args.out.glob(f"callgrind.out.{target}*"))
    best, ir = out_file, 0
    for f in dumps:
        for line in f.read_text(errors="replace").splitlines():
            # With instrumentation toggled at run time "summary:" stays 0; "totals:" counts.
            if line.startswith(("summary:", "totals:")) and int(line.split()[1]) > ir:
                best, ir = f, int(line.split()[1])
    newest = best
    log(f"{target}: {r['requests']} requests under callgrind, {ir} Ir -> {ir / max(r['requests'], 1):.0f} instructions/request")
    log(f"  callgrind_annotate --inclusive=yes {newest} | head -60")
    if ir > 0:
        sys.path.insert(0, str(HERE))
        import callgrind_report

        log(callgrind_report.report(str(newest), r["requests"]))
    print(json.dumps({"target": target, "requests": r["requests"], "ir": ir, "ir_per_request": ir / max(r["requests"], 1), "file": str(newest)}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build-dir", type=Path, default=None, help="default: build-bench, else build")
    p.add_argument("--sluice", type=Path, default=None, help="the sluice binary (default <build-dir>/sluice)")
    p.add_argument("--targets", default=",".join(TARGETS), help="comma-separated subset of " + ",".join(TARGETS))
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    p.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per scenario (0: none)")
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--wrk-threads", type=int, default=1)
    p.add_argument("--workers", type=int, default=1, help="nginx worker_processes = Sluice server.threads")
    p.add_argument("--path", default="/", help="request path")
    p.add_argument("--redis-requests", type=int, default=200000, help="calls per redis-benchmark run")
    p.add_argument("--redis-connections", type=int, default=1,
                   help="storage.redis.connections of the sluice-redis-* scenarios (per worker)")
    p.add_argument("--redis-reps", type=int, default=3, help="interleaved redis-benchmark runs per call")
    p.add_argument("--old-evalsha", metavar="REV",
                   help="also redis-benchmark the EVALSHA decision script as it was at git revision REV")
    p.add_argument(
        "--baseline",
        type=Path,
        help="a second sluice binary: adds sluice-allow-base and sluice-reject-base (A/B in one run)",
    )
    p.add_argument("--perf", choices=TARGETS[1:], help="record a perf profile of one scenario")
    p.add_argument("--perf-freq", type=int, default=2999)
    p.add_argument("--syscalls", choices=TARGETS, help="count system calls per request (perf stat)")
    p.add_argument("--callgrind", choices=[t for t in TARGETS if t.startswith("sluice")], help="count instructions per request")
    args = p.parse_args()

    if args.build_dir is None:
        args.build_dir = REPO / ("build-bench" if (REPO / "build-bench").exists() else "build")
    args.sluice = (args.sluice or Path(os.environ.get("SLUICE_BIN", args.build_dir / "sluice"))).resolve()
    args.out = (args.build_dir / "bench").resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if args.baseline:
        args.baseline = args.baseline.resolve()
        if not args.baseline.exists():
            raise SystemExit(f"{args.baseline} not found")
        args.targets += [f"{t}-base" for t in args.targets if t.startswith("sluice-")]
    for t in args.targets:
        if t.removesuffix("-base") not in TARGETS:
            raise SystemExit(f"unknown target {t!r}; choose from {', '.join(TARGETS)}")
    redis_tools = ["redis-server", "redis-benchmark"] if any("-redis-" in t for t in args.targets) else []
    for tool in ["nginx", "wrk"] + redis_tools + (["perf"] if args.perf else []) + (["valgrind"] if args.callgrind else []) + (["perf"] if args.syscalls else []):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found")
    if any(t.startswith("sluice") for t in args.targets) and not args.sluice.exists():
        raise SystemExit(f"{args.sluice} not found: scripts/build.sh build-bench -- sluice")

    def on_signal(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.perf:
        profile_perf(args)
    elif args.callgrind:
        profile_callgrind(args)
    elif args.syscalls:
        profile_syscalls(args)
    else:
        compare(args)


if __name__ == "__main__":
    main()
