#!/usr/bin/env python3
"""End to end: a real Prometheus scrapes a real Sluice and loads the shipped alert rules.

Processes, all on free 127.0.0.1 ports and stopped by PID in `finally`:
  - a tiny upstream (http.server in a thread) that counts what it receives;
  - $SLUICE_BIN with a generated config.yaml and one policy file: limit `tiny`
    (token bucket, burst 5, 1/day: the first 5 requests of a client pass, the rest get
    429) and a deny list; 127.0.0.1 is a trusted proxy so X-Forwarded-For picks clients;
  - Debian's `prometheus` scraping the admin listener every second with
    scripts/monitoring/sluice-alerts.yml in rule_files.

Traffic: client A (direct) sends 12 -> 5 allowed, 7 blocked by `tiny`; client B (via
X-Forwarded-For) sends 3 -> 3 allowed; client C (deny-listed) sends 2 -> 403, reason
`denylist`. Once Prometheus has scraped after the last response, PromQL must return
exactly those counts. Also: every rule loaded and evaluates without error, the
exposition passes `promtool check metrics`, and every metric and label the alerts and
the dashboard query exists in what Sluice really serves.
"""

import http.client
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import monitoring_assets as assets  # noqa: E402

SOURCE_DIR = assets.SOURCE_DIR
SLUICE_BIN = os.path.abspath(os.environ.get("SLUICE_BIN") or os.path.join(SOURCE_DIR, "build", "sluice"))
DEADLINE = time.monotonic() + 90  # hard cap; normally ~10 s

BURST = 5
A_REQUESTS, B_REQUESTS, C_REQUESTS = 12, 3, 2
ALLOWED = BURST + B_REQUESTS                   # 8
BLOCKED_TINY = A_REQUESTS - BURST              # 7
BLOCKED_DENY = C_REQUESTS                      # 2
BLOCKED = BLOCKED_TINY + BLOCKED_DENY          # 9
TOTAL = A_REQUESTS + B_REQUESTS + C_REQUESTS   # 17


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def left():
    return DEADLINE - time.monotonic()


def wait_for(what, probe, timeout=20, interval=0.1):
    end = time.monotonic() + min(timeout, max(left(), 0))
    last = None
    while time.monotonic() < end:
        try:
            result = probe()
            if result:
                return result
        except (OSError, http.client.HTTPException, ValueError) as e:
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last error: {last})")


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


# ---- upstream -----------------------------------------------------------------------------

class Upstream(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port):
        self.received = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", port), UpstreamHandler)


class UpstreamHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        with self.server.lock:
            self.server.received += 1
        body = b'{"ok":true}\n'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


# ---- sluice and prometheus ----------------------------------------------------------------

def write_files(tmp, ports):
    with open(os.path.join(tmp, "config.yaml"), "w") as f:
        f.write(f"""\
listen: 127.0.0.1:{ports['proxy']}
upstream:
  url: http://127.0.0.1:{ports['upstream']}
server:
  threads: 1
  access_log: off
  drain_timeout: 2s
admin:
  listen: 127.0.0.1:{ports['admin']}
identity:
  trusted_proxies: [127.0.0.1/32]
storage:
  backend: memory
policies: policy.yaml
reload: {{ watch: false }}
""")
    with open(os.path.join(tmp, "policy.yaml"), "w") as f:
        f.write(f"""\
access:
  deny: {{ ips: [203.0.113.0/24] }}
routes:
  - {{ name: items, match: "GET /items/{{id}}" }}
limits:
  - name: tiny
    key: ip
    rate: 1/day
    burst: {BURST}
""")
    with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
        f.write(f"""\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - {assets.RULES}
scrape_configs:
  - job_name: sluice
    static_configs:
      - targets: ["127.0.0.1:{ports['admin']}"]
""")


class Prometheus:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"

    def api(self, path, **params):
        url = f"{self.base}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        status, body = http_get(url)
        doc = json.loads(body)
        if doc.get("status") != "success":
            raise AssertionError(f"{url}: {doc}")
        return doc["data"]

    def query(self, expr):
        """{frozenset(labels): value} of an instant query."""
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", data
        return {frozenset(r["metric"].items()): float(r["value"][1]) for r in data["result"]}

    def scalar(self, expr):
        result = self.query(expr)
        assert len(result) == 1, f"{expr}: expected one series, got {result}"
        return next(iter(result.values()))


def send(port, path, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def exposition_labels(text):
    """{series name: label names} from Prometheus text format."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.partition("{")
        name = name.split()[0]
        labels = set()
        if rest:
            body = rest.rsplit("}", 1)[0]
            labels = {kv.split("=", 1)[0].strip() for kv in split_labels(body)}
        out.setdefault(name, set()).update(labels)
    return out


def split_labels(body):
    parts, cur, quoted, esc = [], "", False, False
    for ch in body:
        if esc:
            cur += ch
            esc = False
        elif ch == "\\":
            cur += ch
            esc = True
        elif ch == '"':
            cur += ch
            quoted = not quoted
        elif ch == "," and not quoted:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return parts


def stop(proc, name):
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()  # SIGTERM to this PID only
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        print(f"{name} (pid {proc.pid}) ignored SIGTERM, killing", file=sys.stderr)
        proc.kill()
        proc.wait(timeout=5)


def dump_logs(tmp):
    for name in ("sluice.log", "prometheus.log"):
        path = os.path.join(tmp, name)
        if os.path.exists(path):
            with open(path, errors="replace") as f:
                text = f.read()
            print(f"---- {name} (last 4000 chars) ----\n{text[-4000:]}", file=sys.stderr)


# ---- the test -----------------------------------------------------------------------------

def run(tmp):
    for tool in ("prometheus", "promtool"):
        if not shutil.which(tool):
            raise AssertionError(f"{tool} not found (Debian package: prometheus)")
    if not os.access(SLUICE_BIN, os.X_OK):
        raise AssertionError(f"SLUICE_BIN={SLUICE_BIN} is not an executable")

    ports = {k: free_port() for k in ("upstream", "proxy", "admin", "prometheus")}
    write_files(tmp, ports)
    upstream = Upstream(ports["upstream"])
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    sluice = prom = None
    try:
        with open(os.path.join(tmp, "sluice.log"), "w") as log:
            sluice = subprocess.Popen([SLUICE_BIN, "--config", os.path.join(tmp, "config.yaml")],
                                      cwd=tmp, stdout=log, stderr=subprocess.STDOUT)
        with open(os.path.join(tmp, "prometheus.log"), "w") as log:
            prom = subprocess.Popen(
                ["prometheus", f"--config.file={os.path.join(tmp, 'prometheus.yml')}",
                 f"--storage.tsdb.path={os.path.join(tmp, 'tsdb')}",
                 f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
                 "--web.console.templates=/nonexistent", "--web.console.libraries=/nonexistent"],
                cwd=tmp, stdout=log, stderr=subprocess.STDOUT)
        p = Prometheus(ports["prometheus"])
        admin = f"http://127.0.0.1:{ports['admin']}"

        def alive():
            for proc, name in ((sluice, "sluice"), (prom, "prometheus")):
                if proc.poll() is not None:
                    raise AssertionError(f"{name} exited with {proc.returncode}")
            return True

        wait_for("sluice /readyz", lambda: alive() and http_get(admin + "/readyz")[0] == 200)
        wait_for("prometheus /-/ready",
                 lambda: alive() and http_get(p.base + "/-/ready")[0] == 200, timeout=30)

        # ---- traffic ----
        statuses = {"A": [], "B": [], "C": []}
        for i in range(A_REQUESTS):
            statuses["A"].append(send(ports["proxy"], f"/items/{i}"))
        for i in range(B_REQUESTS):
            statuses["B"].append(send(ports["proxy"], f"/items/{i}", {"X-Forwarded-For": "198.51.100.9"}))
        for i in range(C_REQUESTS):
            statuses["C"].append(send(ports["proxy"], f"/items/{i}", {"X-Forwarded-For": "203.0.113.7"}))
        traffic_end = time.time()
        assert statuses["A"] == [200] * BURST + [429] * BLOCKED_TINY, statuses
        assert statuses["B"] == [200] * B_REQUESTS, statuses
        assert statuses["C"] == [403] * C_REQUESTS, statuses
        assert upstream.received == ALLOWED, upstream.received

        # ---- wait for a scrape that started after the last response ----
        def scraped_after():
            alive()
            r = p.query('timestamp(up{job="sluice"})')
            return r and next(iter(r.values())) > traffic_end
        wait_for("a scrape after the traffic", scraped_after, timeout=30, interval=0.25)

        # ---- exact counts through PromQL ----
        checks = [
            ('sum(rate_limit_requests_total{job="sluice"})', TOTAL),
            ('sum(rate_limit_requests_allowed_total{job="sluice"})', ALLOWED),
            ('sum(rate_limit_requests_blocked_total{job="sluice"})', BLOCKED),
            ('sum(rate_limit_requests_blocked_total{job="sluice",route="items",method="GET",reason="tiny"})', BLOCKED_TINY),
            ('sum(rate_limit_requests_blocked_total{job="sluice",route="items",method="GET",reason="denylist"})', BLOCKED_DENY),
            ('sum(rate_limit_requests_by_scope_total{job="sluice",scope="tiny"})', A_REQUESTS + B_REQUESTS),
            ('sum(rate_limit_blocked_by_scope_total{job="sluice",scope="tiny"})', BLOCKED_TINY),
            ('sum(gateway_upstream_requests_total{job="sluice",route="items",code_class="2xx"})', ALLOWED),
            ('sum(gateway_http_errors_total{job="sluice",code="403"})', BLOCKED_DENY),
            ('sum(rate_limit_check_duration_seconds_count{job="sluice",backend="memory"})', A_REQUESTS + B_REQUESTS),
            ('sum(gateway_config_reloads_total{job="sluice",result="error"})', 0),
            ('rate_limit_storage_degraded{job="sluice"}', 0),
            ('up{job="sluice"}', 1),
        ]
        failures = []
        for expr, want in checks:
            got = p.scalar(expr)
            if got != want:
                failures.append(f"{expr} = {got}, want {want}")
        by_reason = {dict(k)["reason"]: v for k, v in
                     p.query('sum by (reason) (rate_limit_requests_blocked_total{job="sluice"})').items()}
        if by_reason != {"tiny": BLOCKED_TINY, "denylist": BLOCKED_DENY}:
            failures.append(f"blocked by reason = {by_reason}")
        assert not failures, "\n".join(failures)

        # ---- the shipped rules loaded and evaluate without error ----
        names = assets.alert_names()

        def rules_evaluated():
            alive()
            rules = [r for g in p.api("rules")["groups"] for r in g["rules"]]
            return rules if rules and all(r.get("health") == "ok" for r in rules) else None
        try:
            rules = wait_for("every rule evaluated", rules_evaluated, timeout=15, interval=0.25)
        except AssertionError:
            bad = [(r["name"], r.get("health"), r.get("lastError"))
                   for g in p.api("rules")["groups"] for r in g["rules"] if r.get("health") != "ok"]
            raise AssertionError(f"rules not healthy: {bad}")
        loaded = sorted(r["name"] for r in rules if r["type"] == "alerting")
        assert loaded == sorted(names), f"loaded alerts {loaded} != rules file {sorted(names)}"
        for r in rules:
            assert not r.get("lastError"), (r["name"], r["lastError"])
        # The target is up and scraped: the two alerts about the target must be inactive.
        # (SluiceTargetMissing goes pending on evaluations before the first scrape, and
        # back to inactive on the first evaluation that sees the target.)
        def target_alerts_inactive():
            alive()
            alerts = [a for a in p.api("alerts")["alerts"]
                      if a["labels"]["alertname"] in ("SluiceDown", "SluiceTargetMissing")]
            assert not [a for a in alerts if a["state"] == "firing"], alerts
            return not alerts
        wait_for("SluiceDown and SluiceTargetMissing inactive", target_alerts_inactive,
                 timeout=15, interval=0.25)

        # ---- the exposition and the assets agree with what Sluice serves ----
        _, body = http_get(admin + "/metrics")
        lint = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True)
        assert lint.returncode == 0, f"promtool check metrics: {lint.stdout!r} {lint.stderr!r}"
        served = exposition_labels(body.decode())
        served["up"] = set()
        served_names = set(p.api("label/__name__/values"))
        problems = []
        for where, expr in assets.all_exprs():
            metrics, labels = assets.parse_expr(expr)
            for m in sorted(metrics):
                if m not in served or m not in served_names:
                    problems.append(f"{where}: {m} not served by sluice / not in Prometheus")
            known = set(assets.SCRAPE_LABELS)
            for m in metrics:
                known |= served.get(m, set())
            for label in sorted(labels - known):
                problems.append(f"{where}: label {label!r} is on none of {sorted(metrics)}")
        assert not problems, "\n".join(problems)
        return len(checks)
    finally:
        stop(prom, "prometheus")
        stop(sluice, "sluice")
        upstream.shutdown()
        upstream.server_close()


def main():
    started = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="sluice-prom-")
    ok = False
    try:
        n = run(tmp)
        ok = True
        print(f"ok: {n} PromQL counts exact, {len(assets.alert_names())} alert rules healthy, "
              f"every queried metric/label served ({time.monotonic() - started:.1f}s)")
    except Exception as e:  # noqa: BLE001 - any failure: report it with the logs
        print(f"FAIL: {type(e).__name__}: {e}", file=sys.stderr)
        dump_logs(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
