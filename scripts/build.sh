#!/usr/bin/env bash
# Configures and builds one build directory with Ninja, with parallel jobs capped by
# memory (a Beast translation unit takes ~1.2 GiB). Usage:
#   scripts/build.sh <build-dir> [cmake -D options...] [-- <targets...>]
set -euo pipefail
cd "$(dirname "$0")/.."

dir=$1; shift
cmake_args=(); targets=()
while [[ $# -gt 0 ]]; do
  if [[ $1 == -- ]]; then shift; targets=("$@"); break; fi
  cmake_args+=("$1"); shift
done

mem_gib=$(awk '/MemAvailable/ {print int($2 / 1048576)}' /proc/meminfo)
jobs=$(nproc)
(( jobs > mem_gib / 2 )) && jobs=$(( mem_gib / 2 ))
(( jobs < 1 )) && jobs=1

if [[ ! -f "$dir/build.ninja" ]]; then
  cmake -S . -B "$dir" -G Ninja "${cmake_args[@]}" >/dev/null
elif [[ ${#cmake_args[@]} -gt 0 ]]; then
  cmake "$dir" "${cmake_args[@]}" >/dev/null
fi
if [[ ${#targets[@]} -gt 0 ]]; then
  cmake --build "$dir" -j "$jobs" --target "${targets[@]}"
else
  cmake --build "$dir" -j "$jobs"
fi
