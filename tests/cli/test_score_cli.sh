#!/usr/bin/env bash
# CLI behaviour of `fraudd score`, `inspect`, `generate` and `demo`: exit codes, every input line
# accounted for (results + rejects), rejects carry reasons and the original text, errors on stderr.
# Usage: test_score_cli.sh path/to/fraudd
set -euo pipefail
fraudd=$1
src=${FR_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$fraudd" --version | grep -q "^fraudd [0-9]" || fail "--version"
"$fraudd" --help | grep -q "score" || fail "--help"
set +e; "$fraudd" nosuch 2>"$t/err"; rc=$?; set -e
[ $rc -eq 2 ] && grep -q "unknown command" "$t/err" || fail "unknown command exit 2 (got $rc)"

# generate 2000 records, break some on purpose
"$fraudd" generate --count 2000 --seed 4 --anomaly-rate 0.02 > "$t/in.jsonl"
[ "$(wc -l < "$t/in.jsonl")" -eq 2000 ] || fail "generate count"
{
  cat "$t/in.jsonl"
  echo 'not json'
  echo '{"id":"m1","V1":1}'
  echo '{"id":"t1","V1":true}'
  echo '[1,2]'
  printf '{"id":"big","pad":"%s"}\n' "$(head -c 3000000 /dev/zero | tr '\0' 'a')"
  echo ''
} > "$t/mixed.jsonl"
set +e
"$fraudd" score --input "$t/mixed.jsonl" --output "$t/out.jsonl" --rejects "$t/rej.jsonl" 2>"$t/err"; rc=$?
set -e
[ $rc -eq 4 ] || { cat "$t/err"; fail "score with rejects must exit 4, got $rc"; }
[ "$(wc -l < "$t/out.jsonl")" -eq 2000 ] || fail "2000 results expected, got $(wc -l < "$t/out.jsonl")"
[ "$(wc -l < "$t/rej.jsonl")" -eq 6 ] || { cat "$t/rej.jsonl" | cut -c1-200; fail "6 rejects expected"; }
for reason in not_json missing_feature bad_type not_object too_large; do
  grep -q "\"reason\":\"$reason\"" "$t/rej.jsonl" || fail "reject reason $reason missing"
done
grep -q '"line":2001' "$t/rej.jsonl" || fail "reject line numbers"
grep -q '"record":"not json"' "$t/rej.jsonl" || fail "reject keeps the original text"
grep -q "2006 records: 2000 scored" "$t/err" || { cat "$t/err"; fail "summary on stderr"; }
# results in input order with ids passed through
head -1 "$t/out.jsonl" | grep -q '^{"id":"tx-00000000000000000001","score":' || fail "first result"
sed -n 2000p "$t/out.jsonl" | grep -q '"id":"tx-00000000000000002000"' || fail "last result"

# stdin/stdout and threshold override: threshold 0 flags everything
head -50 "$t/in.jsonl" | "$fraudd" score --threshold 0 --quiet | grep -c '"is_fraud":true' | grep -qx 50 || fail "--threshold"
# clean input exits 0
head -50 "$t/in.jsonl" | "$fraudd" score --quiet > /dev/null || fail "clean input exit 0"

# model errors exit 3 and name the problem
head -c 100 "$src/models/default/fraudd-default.onnx" > "$t/trunc.onnx"
set +e; "$fraudd" score --model "$t/trunc.onnx" < /dev/null 2>"$t/err"; rc=$?; set -e
[ $rc -eq 3 ] && grep -q "trunc.onnx" "$t/err" || fail "truncated model: exit 3 with its name (got $rc)"
set +e; "$fraudd" score --batch 0 2>"$t/err"; rc=$?; set -e
[ $rc -eq 2 ] && grep -q "\-\-batch" "$t/err" || fail "bad option exit 2"

# --challenger: a second model scores every record; its result goes inside the champion's as the
# last key (shadow mode's format) and the summary compares the verdicts. The same model with a
# threshold of 0 flags every record: the scores agree, "only the challenger" = the rest.
head -300 "$t/in.jsonl" > "$t/300.jsonl"
"$fraudd" score --input "$t/300.jsonl" --output "$t/plain.out" --quiet || fail "score 300"
flagged=$(grep -c '"is_fraud":true' "$t/plain.out" || true)
"$fraudd" score --input "$t/300.jsonl" --output "$t/shadow.out" --challenger "$src/models/default/fraudd-default.onnx" \
  --challenger-threshold 0 2>"$t/err" || { cat "$t/err"; fail "--challenger exit 0"; }
[ "$(wc -l < "$t/shadow.out")" -eq 300 ] || fail "--challenger: 300 results"
# each line: the plain result without its closing brace, then ,"challenger":{"score":<the same score>,...}}
while IFS= read -r a && IFS= read -r b <&3; do
  score=$(printf '%s' "$a" | sed -E 's/.*"score":([^,]*),.*/\1/')
  case "$b" in
    "${a%\}},\"challenger\":{\"score\":$score,\"threshold\":0,\"is_fraud\":true,"*"}}") ;;
    *) fail "--challenger: line not the champion's result with the challenger's inside: ${b:0:300}" ;;
  esac
done < "$t/plain.out" 3< "$t/shadow.out"
grep -q "of 300 scored records, both flagged $flagged, neither 0, only the champion 0, only the challenger $((300 - flagged)); the challenger rejected 0" "$t/err" ||
  { cat "$t/err"; fail "--challenger summary"; }
"$fraudd" score --input "$t/300.jsonl" --challenger "$src/tests/fixtures/torch_mlp_ae.onnx" --quiet |
  grep -c '"challenger":{"score":[^}]*"model_version":"fixture-torch-mlp-2"' | grep -qx 300 || fail "--challenger: another model"
set +e; "$fraudd" score --challenger-threshold 1 < /dev/null 2>"$t/err"; rc=$?; set -e
[ $rc -eq 2 ] && grep -q "needs --challenger" "$t/err" || fail "--challenger-threshold alone: exit 2 (got $rc)"
set +e; "$fraudd" score --challenger "$t/trunc.onnx" < /dev/null 2>"$t/err"; rc=$?; set -e
[ $rc -eq 3 ] && grep -q "trunc.onnx" "$t/err" || fail "truncated challenger: exit 3 with its name (got $rc)"

"$fraudd" inspect | grep -q "compiled plan" || fail "inspect"
for f in "$src"/tests/fixtures/*.onnx; do "$fraudd" inspect "$f" > /dev/null || fail "inspect $f"; done
out=$("$fraudd" demo --count 5000) || fail "demo exit"
echo "$out" | grep -q "5000 transactions in, 5000 results out" || fail "demo: every generated record has a result"
# drift on purpose: --shift moves the V features, keeps the rest; out of range is a usage error
"$fraudd" generate --count 3 --seed 4 --shift 0.5 > "$t/shifted.jsonl"
"$fraudd" generate --count 3 --seed 4 > "$t/plain.jsonl"
! cmp -s "$t/shifted.jsonl" "$t/plain.jsonl" || fail "generate --shift changes nothing"
[ "$(cut -d, -f1 "$t/shifted.jsonl")" = "$(cut -d, -f1 "$t/plain.jsonl")" ] || fail "generate --shift: other records"
set +e; "$fraudd" generate --shift 11 >/dev/null 2>"$t/err"; rc=$?; set -e
[ $rc -eq 2 ] && grep -q "\-\-shift" "$t/err" || fail "generate --shift 11: exit 2 naming the option (got $rc)"
set +e; "$fraudd" demo --drift-window 5 >/dev/null 2>"$t/err"; rc=$?; set -e
[ $rc -eq 2 ] && grep -q "\-\-drift-window" "$t/err" || fail "demo --drift-window 5: exit 2 naming the option (got $rc)"
echo "cli: all checks passed"
