"""Static checks of the monitoring assets in scripts/monitoring/ (stdlib only).

Used by test_rules.sh (run as a script) and by test_prometheus_scrape.py (imported):
- the metric names Sluice declares, read from gateway/telemetry/metrics.cpp so the check
  follows the code;
- every PromQL expression of the alert rules and the Grafana dashboard, and the metric
  and label names each one uses;
- the dashboard's structure (datasource input, unique ids, panels inside the grid);
- every alert has severity/summary/description/runbook and promtool test cases that
  make it fire and that must not fire it.
"""

import json
import os
import re
import sys

SOURCE_DIR = os.environ.get("SLUICE_SOURCE_DIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
METRICS_CPP = os.path.join(SOURCE_DIR, "gateway", "telemetry", "metrics.cpp")
MONITORING = os.path.join(SOURCE_DIR, "scripts", "monitoring")
RULES = os.path.join(MONITORING, "sluice-alerts.yml")
RULES_TEST = os.path.join(MONITORING, "sluice-alerts_test.yml")
DASHBOARD = os.path.join(MONITORING, "grafana-dashboard.json")

HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# Metrics that Prometheus itself attaches to every target.
SCRAPE_METRICS = {"up"}
# Labels that Prometheus adds to every scraped series, and the histogram bucket label.
SCRAPE_LABELS = {"job", "instance"}


# ---- what the code declares -------------------------------------------------------------

def declared_metrics(path=METRICS_CPP):
    """{name: kind} for every family metrics.cpp declares: Build<Kind>().Name("...")
    for fixed series, and member_("name", ...) initialisers of the labelled_family<Kind>
    members metrics.hpp declares (families whose series come and go with the config)."""
    text = open(path, encoding="utf-8").read()
    found = re.findall(r'Build(Counter|Gauge|Histogram|Summary)\(\)\s*\.Name\("([A-Za-z_:][A-Za-z0-9_:]*)"\)',
                       text)
    declared = {name: kind.lower() for kind, name in found}
    header = open(os.path.splitext(path)[0] + ".hpp", encoding="utf-8").read()
    # event_counter and event_histogram (gateway/telemetry) are Sluice's own types.
    kinds = {"event_counter": "Counter", "event_histogram": "Histogram"}
    members = dict((m, kinds.get(k, k)) for k, m in re.findall(
        r"labelled_family<(?:prometheus::)?(Counter|Gauge|Histogram|Summary|event_counter|event_histogram)>\s+"
        r"([A-Za-z_][A-Za-z0-9_]*);", header))
    for member, name in re.findall(r'\b([A-Za-z_][A-Za-z0-9_]*_)\(\s*"([A-Za-z_:][A-Za-z0-9_:]*)"', text):
        if member in members:
            declared[name] = members[member].lower()
    return declared


def queryable_names(declared):
    """Series names those families expose: histograms as _bucket/_sum/_count."""
    names = set(SCRAPE_METRICS)
    for name, kind in declared.items():
        if kind in ("histogram", "summary"):
            names.update(name + s for s in HISTOGRAM_SUFFIXES)
            if kind == "summary":
                names.add(name)
        else:
            names.add(name)
    return names


# ---- PromQL expressions in the assets ---------------------------------------------------

def _yaml_values(text, key):
    """Values of `key:` in a YAML file: inline scalars and | or > block scalars.
    A small reader for the files in this directory, not a YAML parser."""
    lines = text.splitlines()
    out = []
    i = 0
    pattern = re.compile(r"^(\s*)(?:-\s+)?" + re.escape(key) + r":\s*(.*)$")
    while i < len(lines):
        m = pattern.match(lines[i])
        i += 1
        if not m:
            continue
        indent, value = len(m.group(1)), m.group(2).strip()
        if value[:1] in ("|", ">"):
            block = []
            while i < len(lines) and (not lines[i].strip() or
                                      len(lines[i]) - len(lines[i].lstrip()) > indent):
                block.append(lines[i].strip())
                i += 1
            out.append(" ".join(b for b in block if b))
        else:
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            out.append(value)
    return out


def alert_names(path=RULES):
    return re.findall(r"^\s*-\s+alert:\s*(\S+)\s*$", open(path, encoding="utf-8").read(), re.M)


def rule_exprs(path=RULES):
    return _yaml_values(open(path, encoding="utf-8").read(), "expr")


def _walk_panels(panels):
    for p in panels:
        yield p
        yield from _walk_panels(p.get("panels", []))


def dashboard_exprs(dashboard):
    """(where, expr) for every panel target and every templating query."""
    out = []
    for p in _walk_panels(dashboard.get("panels", [])):
        for t in p.get("targets", []):
            if t.get("expr"):
                out.append((f'panel "{p.get("title")}" {t.get("refId")}', t["expr"]))
    for v in dashboard.get("templating", {}).get("list", []):
        q = v.get("query")
        if isinstance(q, dict):
            q = q.get("query")
        if not q or v.get("type") != "query":
            continue
        m = re.fullmatch(r"\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*", q)
        out.append((f'variable "{v.get("name")}"', m.group(1) if m else q))
    return out


KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
            "unless", "bool", "offset", "inf", "nan", "atan2"}


def parse_expr(expr):
    """(metric names, label names) a PromQL expression uses. Understands what the
    assets use: selectors, matchers, ranges, aggregations with by/without, vector
    matching, functions, numbers, strings and Grafana $variables."""
    labels = set()
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    for body in re.findall(r"\{([^}]*)\}", s):
        labels.update(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)", body))
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    for _, body in re.findall(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", s):
        labels.update(x.strip() for x in body.split(",") if x.strip())
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    s = re.sub(r"\boffset\s+\S+", " ", s)
    s = re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", " ", s)
    s = re.sub(r"(?<![A-Za-z0-9_:])\d+(?:\.\d*)?(?:e[+-]?\d+)?", " ", s)
    metrics = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", s):
        name = m.group(0)
        if name.lower() in KEYWORDS or re.match(r"\s*\(", s[m.end():]):
            continue
        metrics.add(name)
    return metrics, labels


def rate_arguments(expr):
    """Metric names passed directly to rate/irate/increase (must be counters)."""
    return re.findall(r"\b(?:rate|irate|increase)\(\s*([A-Za-z_:][A-Za-z0-9_:]*)", expr)


def all_exprs():
    out = [(f"alert rule #{i + 1}", e) for i, e in enumerate(rule_exprs())]
    with open(DASHBOARD, encoding="utf-8") as f:
        out += dashboard_exprs(json.load(f))
    return out


# ---- checks -----------------------------------------------------------------------------

def check_metric_names(errors):
    declared = declared_metrics()
    if len(declared) < 20:
        errors.append(f"only {len(declared)} metric families found in {METRICS_CPP}: regex out of date?")
    names = queryable_names(declared)
    counters = {n for n, k in declared.items() if k == "counter"}
    counters |= {n + "_bucket" for n, k in declared.items() if k == "histogram"}
    for n in counters:
        if declared.get(n) == "counter" and not n.endswith("_total"):
            errors.append(f"counter {n} does not end in _total")
    exprs = all_exprs()
    for where, expr in exprs:
        metrics, _ = parse_expr(expr)
        if not metrics:
            errors.append(f"{where}: no metric found in {expr!r}")
        for m in sorted(metrics - names):
            errors.append(f"{where}: unknown metric {m!r} in {expr!r}")
        for m in rate_arguments(expr):
            if m in names and m not in counters:
                errors.append(f"{where}: rate/increase of non-counter {m!r}")
    # The promtool unit tests must feed series that Sluice really exports.
    for series in _yaml_values(open(RULES_TEST, encoding="utf-8").read(), "series"):
        name = re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", series).group(0)
        if name not in names:
            errors.append(f"sluice-alerts_test.yml: input series of unknown metric {name!r}")
    return len(exprs)


def check_alerts(errors):
    text = open(RULES, encoding="utf-8").read()
    names = alert_names()
    if len(names) != len(set(names)):
        errors.append("duplicate alert names")
    # Each rule's block: from its "- alert:" line to the next one.
    blocks = re.split(r"^\s*-\s+alert:\s*", text, flags=re.M)[1:]
    for name, block in zip(names, blocks):
        if not re.search(r"^\s*severity:\s*(warning|critical)\s*$", block, re.M):
            errors.append(f"{name}: no severity: warning|critical label")
        for ann in ("summary", "description", "runbook"):
            if not re.search(rf"^\s*{ann}:\s*\S", block, re.M):
                errors.append(f"{name}: no {ann} annotation")
        if "$value" not in block and "absent(" not in block:
            errors.append(f"{name}: annotations do not show the value")
    tests = open(RULES_TEST, encoding="utf-8").read()
    for name in names:
        fires = quiet = False
        for m in re.finditer(rf"alertname:\s*{re.escape(name)}\b", tests):
            rest = tests[m.end():]
            nxt = re.search(r"eval_time:", rest)
            case = rest[:nxt.start()] if nxt else rest
            fires |= "exp_labels" in case
            quiet |= re.search(r"exp_alerts:\s*\[\]", case) is not None
        if not fires:
            errors.append(f"{name}: no promtool test case in which it fires")
        if not quiet:
            errors.append(f"{name}: no promtool test case in which it must not fire")
    return names


def check_dashboard(errors):
    with open(DASHBOARD, encoding="utf-8") as f:
        d = json.load(f)
    if d.get("schemaVersion", 0) < 36:
        errors.append(f"dashboard schemaVersion {d.get('schemaVersion')} < 36")
    if not any(i.get("name") == "DS_PROMETHEUS" and i.get("pluginId") == "prometheus"
               for i in d.get("__inputs", [])):
        errors.append("dashboard has no DS_PROMETHEUS datasource input")
    ids = set()
    cells = set()
    for p in _walk_panels(d.get("panels", [])):
        if p.get("id") in ids:
            errors.append(f'duplicate panel id {p.get("id")}')
        ids.add(p.get("id"))
        g = p.get("gridPos", {})
        if not all(k in g for k in ("x", "y", "w", "h")) or g["x"] + g["w"] > 24:
            errors.append(f'panel "{p.get("title")}": bad gridPos {g}')
            continue
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                if (x, y) in cells:
                    errors.append(f'panel "{p.get("title")}" overlaps another panel at {x},{y}')
                    break
                cells.add((x, y))
        if p.get("type") == "row":
            continue
        if p.get("datasource", {}).get("uid") != "${DS_PROMETHEUS}":
            errors.append(f'panel "{p.get("title")}" does not use ${{DS_PROMETHEUS}}')
        if not p.get("targets"):
            errors.append(f'panel "{p.get("title")}" has no query')
    titles = " | ".join(p.get("title", "") for p in _walk_panels(d["panels"])).lower()
    for want in ("allowed vs blocked", "block ratio per route", "top limits by blocks", "by tier",
                 "shadow", "delayed", "check latency", "active limiters", "storage",
                 "code class", "upstream latency p99", "upstream errors by kind",
                 "http errors by code", "active connections", "reloads"):
        if want not in titles:
            errors.append(f"dashboard has no panel about {want!r}")


def main():
    errors = []
    n = check_metric_names(errors)
    names = check_alerts(errors)
    check_dashboard(errors)
    for e in errors:
        print("FAIL:", e)
    if errors:
        return 1
    print(f"ok: {n} PromQL expressions use only declared metrics; "
          f"{len(names)} alerts with annotations and firing/quiet test cases; dashboard well-formed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
