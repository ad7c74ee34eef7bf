#!/usr/bin/env bash
# The monitoring assets shipped in scripts/monitoring/:
#   1. promtool check rules  — the alert rules parse and their PromQL is valid;
#   2. promtool test rules   — every alert fires on its scenario and stays quiet on the
#                              healthy baseline and the near-threshold cases;
#   3. monitoring_assets.py  — the dashboard JSON parses and is well-formed, and every
#                              metric in any expression (alerts, dashboard, test series)
#                              is one that gateway/telemetry/metrics.cpp declares.
set -euo pipefail
cd "${SLUICE_SOURCE_DIR:-$(dirname "$0")/../..}"

if ! command -v promtool >/dev/null; then
  echo "promtool not found (Debian package: prometheus)" >&2
  exit 1
fi

promtool check rules scripts/monitoring/sluice-alerts.yml
promtool test rules scripts/monitoring/sluice-alerts_test.yml
PYTHONDONTWRITEBYTECODE=1 python3 tests/monitoring/monitoring_assets.py
