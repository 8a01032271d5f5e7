#!/usr/bin/env bash
# Configures and builds one flavour of fraudd into build/<flavour>.
#   scripts/build.sh release   optimised, with benchmarks (default)
#   scripts/build.sh asan      AddressSanitizer + UndefinedBehaviorSanitizer
#   scripts/build.sh tsan      ThreadSanitizer
#   scripts/build.sh fuzz      clang + libFuzzer targets (tests/fuzz)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
flavour=${1:-release}
dir="$here/build/$flavour"
case "$flavour" in
  release) opts=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  asan)    opts=(-DCMAKE_BUILD_TYPE=Debug -DFR_SANITIZE=ON) ;;
  tsan)    opts=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DFR_TSAN=ON) ;;
  # fuzz: -O1 without -DNDEBUG, so simdjson's development checks abort on API misuse
  fuzz)    opts=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DFR_FUZZ=ON -DFR_TESTS=OFF -DFR_BENCH=OFF
                 "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g" "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g"
                 -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++) ;;
  *) echo "build.sh: unknown flavour '$flavour'" >&2; exit 2 ;;
esac
cmake -S "$here" -B "$dir" -G Ninja "${opts[@]}" >/dev/null
cmake --build "$dir" -j"$(nproc)"
