#!/usr/bin/env bash
# Installs what is missing, builds, and runs Sluice with config.yaml (memory backend)
# in front of the bundled demo upstream on 127.0.0.1:8000, which it starts when
# nothing listens there. Ctrl-C stops both. Usage: scripts/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
echo "== building (build/sluice)"
scripts/build.sh build -- sluice

listening() {  # true when something accepts TCP connections on 127.0.0.1:$1
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

upstream_pid=""
sluice_pid=""
stop_children() {  # SIGTERM = graceful drain for Sluice
  trap - INT TERM EXIT
  for pid in $sluice_pid $upstream_pid; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  exit 0
}
trap stop_children INT TERM EXIT

if listening 8000; then
  echo "== something already listens on 127.0.0.1:8000; using it as the upstream"
else
  python3 scripts/demo_upstream.py --port 8000 &
  upstream_pid=$!
  for _ in $(seq 50); do listening 8000 && break; sleep 0.1; done
fi

build/sluice --config config.yaml &
sluice_pid=$!
for _ in $(seq 100); do
  listening 9901 && break
  kill -0 "$sluice_pid" 2>/dev/null || { echo "sluice failed to start" >&2; exit 1; }
  sleep 0.1
done

cat <<'EOF'

Sluice is running: proxy on http://127.0.0.1:8080, admin on http://127.0.0.1:9901.
Try, in another terminal:

  # an allowed request: the rate-limit headers and the echo of what the upstream got
  curl -i http://127.0.0.1:8080/users/42

  # a burst with the free demo key (burst 100, refilled at 60/min while the loop runs; then 429 with Retry-After)
  for i in $(seq 110); do
    curl -s -o /dev/null -w '%{http_code}\n' -H 'X-API-Key: key-demo-free' http://127.0.0.1:8080/api/items
  done | sort | uniq -c
  curl -i -H 'X-API-Key: key-demo-free' http://127.0.0.1:8080/api/items

  # the metrics, health and readiness
  curl -s http://127.0.0.1:9901/metrics | grep '^rate_limit_requests'
  curl -s http://127.0.0.1:9901/healthz

Access log (JSON lines) below. Ctrl-C stops Sluice and the demo upstream.

EOF
wait "$sluice_pid"
