#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz/*_fuzz.cpp, clang, ASan + UBSan) in
# build-fuzz/ and runs each one in turn for a while, one core at a time. Usage:
#   scripts/fuzz.sh [seconds-per-harness (default 60)] [harness...]   e.g.
#   scripts/fuzz.sh 600 path_route_fuzz
# Each harness starts from its committed seed corpus (tests/fuzz/corpus/<harness>/,
# read only) plus a work corpus that grows across runs (build-fuzz/corpus/<harness>/).
# Exits non-zero when any harness crashes, hangs (an input over $FUZZ_TIMEOUT s, default
# 5), leaks or runs out of memory, and prints the reproducer's path; rerun it with
#   build-fuzz/fuzz/<harness> <reproducer>
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
per_input_timeout=${FUZZ_TIMEOUT:-5}
rss_limit_mb=${FUZZ_RSS_LIMIT_MB:-2048}

clang=$(command -v clang++ || true)
if [[ -z $clang ]]; then
  echo "fuzz.sh: clang++ not found (scripts/install-deps.sh installs clang)" >&2
  exit 1
fi

echo "== building the fuzz harnesses (build-fuzz, clang)"
scripts/build.sh build-fuzz -DSLUICE_FUZZ=ON -DCMAKE_CXX_COMPILER="$clang" \
  -DSLUICE_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo -- fuzz

if [[ $# -gt 0 ]]; then
  harnesses=("$@")
else
  harnesses=()
  for f in tests/fuzz/*_fuzz.cpp; do harnesses+=("$(basename "$f" .cpp)"); done
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p build-fuzz/logs
failed=()
for h in "${harnesses[@]}"; do
  bin=build-fuzz/fuzz/$h
  seed=tests/fuzz/corpus/$h
  work=build-fuzz/corpus/$h
  artifacts=build-fuzz/artifacts/$h/
  log=build-fuzz/logs/$h.log
  mkdir -p "$seed" "$work" "$artifacts"
  args=(-max_total_time="$seconds" -timeout="$per_input_timeout" -rss_limit_mb="$rss_limit_mb"
        -malloc_limit_mb="$rss_limit_mb" -artifact_prefix="$artifacts" -print_final_stats=1)
  dict=tests/fuzz/dict/${h%_fuzz}.dict
  [[ -f $dict ]] && args+=(-dict="$dict")
  echo "== $h: ${seconds}s"
  # The work corpus comes first: libFuzzer writes new inputs only to the first directory.
  if "$bin" "${args[@]}" "$work" "$seed" >"$log" 2>&1; then
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    echo "   ok: ${execs:-?} executions (${rate:-?}/s); ${done_line#*DONE   }"
  else
    failed+=("$h")
    echo "   FAILED ($log):"
    grep -E 'ERROR: |property violated|^== |SUMMARY: ' "$log" | head -8 | sed 's/^/   /'
    reproducer=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    if [[ -n $reproducer ]]; then
      echo "   reproducer: $reproducer   (rerun: $bin $reproducer)"
    fi
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "== fuzzing found problems in: ${failed[*]}"
  exit 1
fi
echo "== fuzzing: no findings"
