#!/usr/bin/env bash
# Two bench_e2e binaries (section (a) of docs/BENCHMARKS.md) against each other in one run:
# RUNS rounds in ABBA order (which binary runs first alternates, so a VM that slows the
# second of two back-to-back runs books it on both). Per round and binary:
#   wall   bench_e2e --seconds S: every path and stage, best of its 5 internal rounds (ns/record)
#   cpu    bench_e2e --only fraudd --passes 40, minus --passes 1, timed by `perf stat -e
#          task-clock`: on-CPU ns/record of the fraudd path, which a busy shared machine
#          disturbs less than wall time (it does not count time the process waits for a core)
# Prints every round and the medians, and B/A ratios of the fraudd path.
# usage: bench/bench_e2e_ab.sh BENCH_E2E_A BENCH_E2E_B [RUNS=5] [SECONDS=2]   (from the repository root)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../scripts/lib.sh
. "$here/scripts/lib.sh"
command -v perf >/dev/null || apt_install_missing linux-perf
a=$1; b=$2; runs=${3:-5}; secs=${4:-2}
records=$("$a" --only fraudd --passes 1 | grep -oE '[0-9]+ records' | grep -oE '[0-9]+')
wall() { "$1" --seconds "$secs" | grep RESULT | sed 's/RESULT e2e_ns_per_record //'; }
cpu_ms() { perf stat -x, -e task-clock "$1" --only fraudd --passes "$2" 2>&1 >/dev/null | awk -F, '/task-clock/ {print $1}'; }
cpu() { python3 -c "print(round(($(cpu_ms "$1" 40) - $(cpu_ms "$1" 1)) * 1e6 / (39 * $records)))"; }
declare -A W C
for r in $(seq "$runs"); do
  order="a b"; (( r % 2 )) || order="b a"
  for x in $order; do
    bin=$a; [ "$x" = b ] && bin=$b
    W[$x,$r]=$(wall "$bin"); C[$x,$r]=$(cpu "$bin")
  done
  echo "round $r: A ${W[a,$r]} cpu=${C[a,$r]}"
  echo "         B ${W[b,$r]} cpu=${C[b,$r]}"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
field() { sed -n "s/.*\b$1=\([0-9]*\).*/\1/p" <<<"$2"; }
for k in fraudd jansson decode model encode; do
  va=(); vb=()
  for r in $(seq "$runs"); do va+=("$(field "$k" "${W[a,$r]}")"); vb+=("$(field "$k" "${W[b,$r]}")"); done
  printf 'median %-8s A %6s  B %6s ns/record\n' "$k" "$(median "${va[@]}")" "$(median "${vb[@]}")"
done
ca=(); cb=()
for r in $(seq "$runs"); do ca+=("${C[a,$r]}"); cb+=("${C[b,$r]}"); done
ma=$(median "${ca[@]}"); mb=$(median "${cb[@]}")
echo "median cpu      A $ma  B $mb ns/record on-CPU; A/B $(python3 -c "print(round($ma/$mb, 3))")"
