#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite through ctest:
#   1. build/       warnings as errors; unit, integration (real redis-server) and
#                   end-to-end tests (real sluice binary, real sockets)
#   2. build-asan/  AddressSanitizer + UndefinedBehaviorSanitizer build: unit, integration
#                   and end-to-end tests again (the e2e tests run the ASan sluice binary)
#   3. build-tsan/  ThreadSanitizer run of the concurrency tests and of the Redis
#                   client's, cluster router's and sentinel watcher's tests
#   4. build-fuzz/  every libFuzzer harness (tests/fuzz) for a short smoke run (clang)
# Usage: scripts/test.sh [--quick]   (--quick: step 1 only)
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
[[ ${1:-} == --quick ]] && quick=1

scripts/install-deps.sh

echo "== build (warnings as errors)"
scripts/build.sh build -DSLUICE_WERROR=ON
echo "== tests"
ctest --test-dir build --output-on-failure --timeout 600

[[ $quick -eq 1 ]] && exit 0

echo "== AddressSanitizer + UndefinedBehaviorSanitizer"
scripts/build.sh build-asan -DSLUICE_SANITIZE=address,undefined -DSLUICE_BUILD_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=Debug
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure --timeout 900 -L 'unit|net|e2e'

echo "== ThreadSanitizer (concurrency tests, the Redis client's and router's cross-thread tests)"
scripts/build.sh build-tsan -DSLUICE_SANITIZE=thread -DSLUICE_BUILD_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -- sluice_core_tests sluice_net_tests
TSAN_OPTIONS=halt_on_error=1 build-tsan/sluice_core_tests --gtest_filter='*Concurrency*'
TSAN_OPTIONS=halt_on_error=1 build-tsan/sluice_net_tests \
  --gtest_filter='RedisClient*:RedisCluster*:SentinelWatcher*'

echo "== fuzz harnesses (smoke run; scripts/fuzz.sh [seconds] runs them longer)"
scripts/fuzz.sh "${SLUICE_FUZZ_SECONDS:-15}"
echo "== all tests passed"
