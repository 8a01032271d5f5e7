#!/usr/bin/env bash
# Metrics on vs off where fraudd itself is the bottleneck: `fraudd demo` (the full pipeline on
# the in-process cluster, no broker JVM competing) for SECONDS, alternating
#   off: --http-port 0 (no HTTP server; the per-worker counters are always kept)
#   on:  HTTP server up and /metrics scraped every second (curl, like a 1 s Prometheus)
# RUNS times each, in ABBA order (which one runs first alternates: on this VM the second of
# two back-to-back runs is often slower, which a fixed order would book as a metrics cost);
# prints records delivered per run and the medians' ratio.
# usage: bench/bench_metrics_demo.sh FRAUDD [SECONDS=10] [RUNS=5]
set -euo pipefail
fraudd=$1; secs=${2:-10}; runs=${3:-5}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
one() { # one on|off -> records delivered
  local mode=$1 out pid scrapes=0
  if [ "$mode" = on ]; then
    "$fraudd" demo --duration "$secs" --http-port "$port" >/tmp/fr_bm.$$ 2>&1 & pid=$!
    while kill -0 $pid 2>/dev/null; do
      curl -s -o /dev/null "http://127.0.0.1:$port/metrics" && scrapes=$((scrapes + 1)); sleep 1
    done
    wait $pid
  else
    "$fraudd" demo --duration "$secs" --http-port 0 >/tmp/fr_bm.$$ 2>&1
  fi
  out=$(grep -oE 'in, [0-9]+ results out' /tmp/fr_bm.$$ | grep -oE '[0-9]+')
  rm -f /tmp/fr_bm.$$
  echo "$out"
}
off=(); on=()
for r in $(seq "$runs"); do
  if (( r % 2 )); then off+=("$(one off)"); on+=("$(one on)"); else on+=("$(one on)"); off+=("$(one off)"); fi
  echo "run $r: off ${off[-1]}  on ${on[-1]}"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mo=$(median "${off[@]}"); mn=$(median "${on[@]}")
echo "median off $mo, on $mn, on/off $(python3 -c "print(round($mn/$mo, 3))")"
