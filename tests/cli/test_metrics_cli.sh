#!/usr/bin/env bash
# A live scrape of `fraudd demo` (the streaming pipeline on the in-process cluster) passes
# Prometheus' own linter, `promtool check metrics`; /readyz turns 200 once partitions are
# assigned, /healthz is 200 while records flow, and the counters move. Every metric that the
# Grafana dashboard and the alert rules in monitoring/ use exists in that scrape. The demo runs
# the embedded default model, which carries a fraudd.score_histogram, so the score drift gauges
# are in the scrape with samples, and generated traffic (real held-out rows) keeps the PSI low.
set -euo pipefail
fraudd=$1
src=$(cd "$(dirname "$0")/../.." && pwd)
version=$("$fraudd" inspect | awk '$1 == "version:" {print $2; exit}') # the embedded model's
fail() { echo "FAIL: $*"; exit 1; }
[ -n "$version" ] || fail "fraudd inspect names no model version"
command -v promtool >/dev/null || fail "promtool missing (Debian package prometheus; scripts/setup.sh)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
log=$(mktemp)
"$fraudd" demo --duration 20 --http-port "$port" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log" "$log.m"' EXIT
for _ in $(seq 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ] && break
  sleep 0.2
done
[ "$(curl -s "http://127.0.0.1:$port/readyz")" = ready ] || fail "/readyz never became ready"
# wait for the first librdkafka statistics (lag, producer queue; every 5 s)
for _ in $(seq 60); do
  curl -s "http://127.0.0.1:$port/metrics" | grep -q '^fraudd_consumer_lag_records{' && break
  sleep 0.25
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz")" = 200 ] || fail "/healthz not 200"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/nope")" = 404 ] || fail "unknown path not 404"
curl -sf "http://127.0.0.1:$port/metrics" >"$log.m" || fail "/metrics"
lint=$(promtool check metrics <"$log.m" 2>&1) || fail "promtool check metrics: $lint"
[ -z "$lint" ] || fail "promtool check metrics warnings: $lint"
consumed=$(awk '$1 == "fraudd_records_consumed_total" {print $2}' "$log.m")
produced=$(awk '$1 == "fraudd_results_produced_total" {print $2}' "$log.m")
[ "${consumed%%.*}" -gt 0 ] && [ "${produced%%.*}" -gt 0 ] || fail "counters did not move ($consumed, $produced)"
grep -qF "fraudd_score_bucket{model_version=\"$version\",le=\"+Inf\"}" "$log.m" || fail "score histogram"
# generated traffic against the model's own training distribution: a PSI, and a small one
psi=$(awk -v k="fraudd_model_score_psi{model_version=\"$version\"}" '$1 == k {print $2}' "$log.m")
[ -n "$psi" ] || fail "no fraudd_model_score_psi sample for $version"
awk -v p="$psi" 'BEGIN {exit !(p >= 0 && p < 0.1)}' || fail "PSI of generated traffic $psi, expected < 0.1"
grep -qF "fraudd_model_score_psi_window_records{model_version=\"$version\"} " "$log.m" || fail "PSI window records"
grep -q '^fraudd_end_to_end_latency_seconds_count ' "$log.m" || fail "latency histogram"
for f in "$src/monitoring/grafana-dashboard.json" "$src/monitoring/alerts.yaml"; do
  for name in $(grep -oE '\b(fraudd|process)_[a-z0-9_]+' "$f" | sort -u); do
    grep -qE "^${name}[ {]|^# TYPE ${name} " "$log.m" || fail "$(basename "$f") uses $name, which /metrics does not serve"
  done
done
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$src/monitoring/grafana-dashboard.json" ||
  fail "dashboard is not valid JSON"
wait $pid || fail "demo exit status"
echo "metrics: promtool clean, $consumed consumed / $produced produced at scrape time, score PSI $psi"
