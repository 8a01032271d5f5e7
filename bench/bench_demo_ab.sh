#!/usr/bin/env bash
# Two fraudd binaries against each other where fraudd itself is the bottleneck: `fraudd demo`
# (the full pipeline on the in-process cluster, no broker JVM competing) for SECONDS each,
# RUNS times each in ABBA order (which binary runs first alternates, so a VM that slows the
# second of two back-to-back runs books it on both); prints records delivered per run and
# the medians' ratio B/A. Used for the cost of the model-swap machinery (a job's model
# generation, the per-run split of a batch): A = the commit before it, B = after.
# usage: bench/bench_demo_ab.sh FRAUDD_A FRAUDD_B [SECONDS=8] [RUNS=5]
set -euo pipefail
a=$1; b=$2; secs=${3:-8}; runs=${4:-5}
one() { "$1" demo --duration "$secs" --http-port 0 2>&1 | grep -oE 'in, [0-9]+ results out' | grep -oE '[0-9]+'; }
ra=(); rb=()
for r in $(seq "$runs"); do
  if (( r % 2 )); then ra+=("$(one "$a")"); rb+=("$(one "$b")"); else rb+=("$(one "$b")"); ra+=("$(one "$a")"); fi
  echo "run $r: A ${ra[-1]}  B ${rb[-1]}"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ma=$(median "${ra[@]}"); mb=$(median "${rb[@]}")
echo "median A $ma, B $mb, B/A $(python3 -c "print(round($mb/$ma, 3))")"
