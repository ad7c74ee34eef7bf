#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite:
#   1. build/       warnings as errors; unit, integration (real redis-server) and monitoring
#                   tests through ctest (with --quick also the end-to-end tests)
#   2. build-asan/  AddressSanitizer + UndefinedBehaviorSanitizer build: the unit and
#                   integration test binaries, and the end-to-end tests (real sluice binary,
#                   real sockets) — run once, here, against the ASan binary
#   3. build-tsan/  ThreadSanitizer run of the tests whose threads share state
#                   (sluice_tsan_tests: memory store, stats, Redis client, router, sentinel)
#   4. build-fuzz/  every libFuzzer harness (tests/fuzz) for a short smoke run (clang)
# Usage: scripts/test.sh [--quick]   (--quick: step 1 only, end-to-end tests included)
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
[[ ${1:-} == --quick ]] && quick=1

scripts/install-deps.sh

# Each stage's wall time, printed when it ends: what to cut when the suite nears CI's
# budget.
stage_name="" stage_start=$SECONDS
stage() {
  [[ -n $stage_name ]] && echo "   ($stage_name: $((SECONDS - stage_start)) s)"
  stage_name=$1 stage_start=$SECONDS
  [[ -n $1 ]] && echo "== $1"
  return 0
}

# Line tables only (-g1): sanitizer reports and backtraces keep file:line, and a Beast
# translation unit compiles in three quarters of the time that full debug info takes.
lines_only=(-DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DCMAKE_CXX_FLAGS_DEBUG=-g1)

stage "build (warnings as errors)"
scripts/build.sh build -DSLUICE_WERROR=ON "${lines_only[@]}"
if [[ $quick -eq 1 ]]; then
  echo "== tests"
  exec ctest --test-dir build --output-on-failure --timeout 600
fi
# The end-to-end tests run once, in step 2: against the ASan binary they check the same
# behaviour and memory safety too (a second run here cost ~5 of CI's minutes).
stage "tests (unit, integration, monitoring; end to end in step 2)"
# The test binaries run whole here too (ctest's process per test cost ~35 s more).
build/sluice_core_tests --gtest_brief=1
timeout 900 build/sluice_net_tests --gtest_brief=1
ctest --test-dir build --output-on-failure --timeout 600 -LE 'e2e|unit|net'

stage "AddressSanitizer + UndefinedBehaviorSanitizer"
scripts/build.sh build-asan -DSLUICE_SANITIZE=address,undefined -DSLUICE_BUILD_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=Debug "${lines_only[@]}"
# The test binaries run whole (one process each, not one per test as ctest would: under
# ASan a process start costs ~0.2 s, times 1,100 tests). The ones with sockets and
# redis-servers print every test's start, so a hang the timeout ends names its test.
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
timeout 900 build-asan/sluice_core_tests --gtest_brief=1
timeout 900 build-asan/sluice_net_tests
ctest --test-dir build-asan --output-on-failure --timeout 900 -L e2e
unset ASAN_OPTIONS UBSAN_OPTIONS

stage "ThreadSanitizer (the tests whose threads share state)"
scripts/build.sh build-tsan -DSLUICE_SANITIZE=thread -DSLUICE_BUILD_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo "${lines_only[@]}" -- sluice_tsan_tests
TSAN_OPTIONS=halt_on_error=1 timeout 900 build-tsan/sluice_tsan_tests

stage "fuzz harnesses (smoke run; scripts/fuzz.sh [seconds] runs them longer)"
scripts/fuzz.sh "${SLUICE_FUZZ_SECONDS:-10}"
stage ""
echo "== all tests passed (${SECONDS} s)"
