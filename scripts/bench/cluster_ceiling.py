#!/usr/bin/env python3
"""Redis's own ceiling for Sluice's decision: one redis-server against a Redis Cluster
(issue 10, "fleet ceiling ... vs a single Redis").

Starts, on free loopback ports, one plain redis-server and a cluster of --masters
masters (redis-server --cluster-enabled yes, redis-cli --cluster create), loads
Sluice's Functions library (assembled by compare.py exactly as decide_script.cpp
does) everywhere, and runs redis-benchmark sending the single-limit FCALL a request
sends (per-client keys, tagged as in cluster mode: <prefix>{key:<client>}:<limit>):
- against the one server: one redis-benchmark;
- against the cluster: one redis-benchmark per master at once, each on keys of that
  master's slots (what many gateways with many clients do).
Reports calls/s of each, the scaling factor, and redis-server CPU per call (summed
over the masters), from /proc. Every process it starts is stopped by PID.

  scripts/bench/cluster_ceiling.py [--masters 3] [--requests 200000] [--pipeline 16]
                                   [--reps 3]

On a box with fewer cores than masters + benchmark clients the scaling factor is
bound by the cores, not by Redis: read the CPU per call (it must not grow by more
than 10% in cluster mode) and multiply by the cores a real deployment gives each
master.
"""
import argparse
import importlib.util
import os
import pathlib
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
SPEC = "0 1000000 1000000 1000000 0 1 1 0 0"  # token bucket, 1,000,000/s, burst 1,000,000
CLK_TCK = os.sysconf("SC_CLK_TCK")


def load_compare():
    spec = importlib.util.spec_from_file_location("compare", HERE / "compare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(port, *args, check=True):
    res = subprocess.run(["redis-cli", "-p", str(port)] + [str(a) for a in args],
                         capture_output=True, text=True, timeout=60)
    if check and res.returncode != 0:
        raise SystemExit(f"redis-cli {' '.join(map(str, args))} failed: {res.stderr}")
    return res.stdout.strip()


def cpu_seconds(pid):
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Servers:
    def __init__(self, workdir):
        self.workdir = pathlib.Path(workdir)
        self.procs = []

    def start(self, name, extra=()):
        for _ in range(3):  # a free port may be taken before redis-server binds it
            port = free_port()
            d = self.workdir / f"{name}-{port}"
            d.mkdir()
            argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--dir", str(d)] + list(extra)
            with open(d / "out", "wb") as out:
                p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
            self.procs.append(p)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and p.poll() is None:
                if cli(port, "PING", check=False) == "PONG":
                    return port, p.pid
                time.sleep(0.02)
        raise SystemExit(f"redis-server {name} did not start (see {d / 'out'})")

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


def keys_on(port, count, stem):
    """`count` cluster-mode keys of clients whose slot `port` serves."""
    mine = set()
    for line in cli(port, "CLUSTER", "NODES").splitlines():
        parts = line.split()
        if "myself" in parts[2]:
            for r in parts[8:]:
                if "[" in r:
                    continue
                a, _, b = r.partition("-")
                mine.update(range(int(a), int(b or a) + 1))
    out, i = [], 0
    while len(out) < count:
        key = f"sluice:{{key:{stem}{i}}}:per-client"
        if int(cli(port, "CLUSTER", "KEYSLOT", key)) in mine:
            out.append(key)
        i += 1
    return out


def benchmark(port, key, function, args):
    """One redis-benchmark process (started, not waited for)."""
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", "50",
            "-P", str(args.pipeline), "-n", str(args.requests), "-q",
            "FCALL", function, "1", key, SPEC, "1"]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def calls_per_second(output):
    found = re.findall(r"([0-9.]+) requests per second", output)
    if not found:
        raise SystemExit("redis-benchmark printed no rate:\n" + output[-500:])
    return float(found[-1])


def run(targets, function, args):
    """targets: [(port, pid, key)]. Aggregate calls/s and CPU µs per call."""
    before = [cpu_seconds(pid) for _, pid, _ in targets]
    started = time.monotonic()
    procs = [benchmark(port, key, function, args) for port, _, key in targets]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    wall = time.monotonic() - started
    cpu = sum(cpu_seconds(pid) - b for (_, pid, _), b in zip(targets, before))
    calls = args.requests * len(targets)
    rate = sum(calls_per_second(o) for o in outputs)
    return rate, cpu / calls * 1e6, wall


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--masters", type=int, default=3)
    p.add_argument("--requests", type=int, default=200000, help="calls per redis-benchmark")
    p.add_argument("--pipeline", type=int, default=16)
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args()
    for tool in ("redis-server", "redis-cli", "redis-benchmark"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} not found (scripts/install-deps.sh installs it)")
    code = load_compare().decision_code()
    function = code["library_name"] + "_decide"
    workdir = tempfile.mkdtemp(prefix="sluice-cluster-ceiling-")
    servers = Servers(workdir)
    try:
        single_port, single_pid = servers.start("single")
        nodes = [servers.start(f"node{i}", ["--cluster-enabled", "yes",
                                             "--cluster-config-file", "nodes.conf"])
                 for i in range(args.masters)]
        res = subprocess.run(["redis-cli", "--cluster", "create"] +
                             [f"127.0.0.1:{port}" for port, _ in nodes] + ["--cluster-yes"],
                             capture_output=True, text=True, timeout=120)
        if res.returncode != 0:
            raise SystemExit("redis-cli --cluster create failed:\n" + res.stdout + res.stderr)
        for _ in range(300):
            if all("cluster_state:ok" in cli(port, "CLUSTER", "INFO") for port, _ in nodes):
                break
            time.sleep(0.05)
        for port, _ in [(single_port, single_pid)] + nodes:
            cli(port, "FUNCTION", "LOAD", "REPLACE", code["library"])
        single = [(single_port, single_pid, "sluice:{key:client0}:per-client")]
        cluster = [(port, pid, keys_on(port, 1, f"m{port}-")[0]) for port, pid in nodes]
        results = {"single": [], "cluster": []}
        for _ in range(args.reps):  # interleaved
            results["single"].append(run(single, function, args))
            results["cluster"].append(run(cluster, function, args))
    finally:
        servers.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    def med(name, i):
        return statistics.median(r[i] for r in results[name])

    print(f"redis-benchmark -c 50 -P {args.pipeline} -n {args.requests}, FCALL {function} "
          f"(1 limit), {args.reps} interleaved reps, medians; {os.cpu_count()} cores")
    print(f"{'target':<28}{'calls/s':>12}{'redis CPU µs/call':>20}")
    print(f"{'one redis-server':<28}{med('single', 0):>12,.0f}{med('single', 1):>20.2f}")
    print(f"{f'cluster, {args.masters} masters':<28}{med('cluster', 0):>12,.0f}"
          f"{med('cluster', 1):>20.2f}")
    print(f"scaling factor {med('cluster', 0) / med('single', 0):.2f}x; CPU per call "
          f"{med('cluster', 1) / med('single', 1):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
