#!/usr/bin/env bash
# Installs the Debian packages Sluice needs to build, test and benchmark; quiet and
# quick when everything is already present. Usage: scripts/install-deps.sh [extra-package...]
# Extras not installed by default: nginx-light wrk valgrind linux-perf nghttp2-client (scripts/bench), liburing-dev
# (cmake -DSLUICE_IO_URING=ON; README, Performance).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config curl ca-certificates
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libboost-system1.81-dev
  libyaml-cpp-dev prometheus-cpp-dev libhiredis-dev libgtest-dev libgmock-dev libbenchmark-dev
  libssl-dev openssl  # TLS (gateway/tls); the tests make their CA with the openssl CLI
  # redis-server also runs Redis Sentinel (redis-server <sentinel.conf> --sentinel, as
  # tests/e2e/test_redis_sentinel.py does): no redis-sentinel package is needed.
  redis-server redis-tools prometheus python3 clang-format
  python3-websockets  # WebSocket upstream and client (tests/e2e/test_websocket.py)
  # Envoy's rate limit service (gateway/rls): gRPC C++ and protoc with its plugin; the
  # e2e tests' client (tests/e2e/test_rls.py) is Python's grpcio with protoc's messages.
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  python3-grpcio python3-protobuf
  # Calendar quotas (gateway/config/calendar.cpp): Howard Hinnant's date/tz on the
  # system's tz database; tzdata for the zone files and Python's zoneinfo in the tests.
  libhowardhinnant-date-dev tzdata
  libgoogle-perftools-dev  # tcmalloc_minimal for the sluice binary (-DSLUICE_TCMALLOC=OFF: glibc)
  chromium  # headless, for the dashboard's end-to-end test (tests/e2e/test_dashboard.py)
  clang libclang-rt-14-dev  # libFuzzer, for the fuzz harnesses (scripts/fuzz.sh)
  "$@"
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "Installing: ${missing[*]}"
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
