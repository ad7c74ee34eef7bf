"""What the benchmarks in scripts/bench share: the processes they start and stop, and
how they measure them.

Used by compare.py (Sluice against nginx under wrk) and rls_bench.py (ShouldRateLimit
under h2load), both run as scripts/bench/<name>.py, so this directory is on sys.path.

  HERE, REPO   scripts/bench (templates, helpers) and the repository's root
  log          a line to stderr, flushed
  free_port    a free TCP port on 127.0.0.1
  http_get     one GET to 127.0.0.1 (HTTPS without verification with tls=True)
  CLK_TCK, cpu_ticks, children_of
               a process's utime + stime from /proc/<pid>/stat, in clock ticks; its
               child PIDs
  Service      one process a benchmark started: started with its output in a log file,
               ready once its probe answers, CPU ticks of the process (with_children:
               and of its children, e.g. nginx's master and workers), stopped by PID
               (SIGTERM, SIGKILL after 10 s)
  loadavg      the 1/5/15-minute load averages, as text

Python 3 stdlib only.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port: int, path: str, timeout: float = 2.0, tls: bool = False) -> tuple[int, bytes]:
    if tls:
        # The benchmark's own throwaway certificate: nothing to verify it against.
        context = ssl._create_unverified_context()
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        res = conn.getresponse()
        return res.status, res.read()
    finally:
        conn.close()


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# ---- processes -------------------------------------------------------------------------


def children_of(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(x) for x in path.read_text().split()]
    except OSError:
        pass
    kids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
            kids.append(int(entry.name))
    return kids


def user_and_system_ticks(pid: int) -> tuple[int, int]:
    """utime and stime of a process (all its threads), in clock ticks; 0s once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0, 0
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]), int(fields[12])


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process (all its threads), in clock ticks; 0 once it is gone."""
    return sum(user_and_system_ticks(pid))


class Service:
    """One process we started, stopped by its PID. `probe` answers True once it serves
    (an OSError, ValueError or KeyError from it means not yet); with_children: its CPU
    includes its children (nginx's workers), and any nginx child seen that outlives the
    stop is killed by PID."""

    def __init__(self, name: str, argv: list[str], logfile: Path, probe,
                 port: int | None = None, with_children: bool = False):
        self.name = name
        self.argv = argv
        self.logfile = logfile
        self.probe = probe
        self.port = port
        self.with_children = with_children
        self.proc: subprocess.Popen | None = None
        self.known_children: set[int] = set()

    def start(self) -> None:
        with open(self.logfile, "wb") as out:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def pids(self) -> list[int]:
        pids = [self.pid]
        if self.with_children:
            kids = children_of(self.pid)
            self.known_children.update(kids)
            pids += kids
        return pids

    def cpu_and_pids(self) -> tuple[int, list[int]]:
        """CPU ticks so far, and the PIDs they were summed over."""
        pids = self.pids()
        return sum(cpu_ticks(p) for p in pids), pids

    def cpu(self) -> int:
        return self.cpu_and_pids()[0]

    def user_cpu(self) -> int:
        """The user-mode part of cpu(): what the process's own code costs, the rest
        being the kernel's work for its system calls."""
        return sum(user_and_system_ticks(p)[0] for p in self.pids())

    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise SystemExit(
                    f"{self.name} exited with {self.proc.returncode}; see {self.logfile}:\n"
                    + self.logfile.read_text(errors="replace")[-2000:]
                )
            try:
                if self.probe():
                    self.pids()  # with_children: remember the workers
                    return
            except (OSError, ValueError, KeyError) as e:
                last = e
            time.sleep(0.1)
        where = f" on port {self.port}" if self.port is not None else ""
        raise SystemExit(f"{self.name} not ready{where} after {timeout}s: {last}; see {self.logfile}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self._reap_children()
            return
        self.pids()  # with_children: the workers to check on afterwards
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            # Sluice: its drain_timeout, then up to 5 s for gRPC calls in flight.
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log(f"{self.name} (pid {self.pid}) still running 10 s after SIGTERM: SIGKILL; see {self.logfile}")
            self.proc.kill()
            self.proc.wait(timeout=5)
        else:
            took = time.monotonic() - t0
            if took > 2:
                log(f"{self.name} (pid {self.pid}) took {took:.1f} s to stop after SIGTERM")
        self._reap_children()

    def _reap_children(self) -> None:
        # nginx workers exit with their master; kill any straggler we saw, by PID,
        # only if it is still an nginx process.
        for pid in self.known_children:
            try:
                comm = Path(f"/proc/{pid}/comm").read_text().strip()
            except OSError:
                continue
            if comm.startswith("nginx"):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
