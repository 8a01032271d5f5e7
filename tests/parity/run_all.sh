#!/usr/bin/env bash
# ONNX Runtime parity (tests/parity/parity.py) for the default model and every committed fixture,
# 10,000 records each, with the repo's venv (scripts/setup-python.sh makes it).
# Usage: tests/parity/run_all.sh path/to/fraudd      Exit 0 only if every model passes.
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
fraudd=$(realpath "${1:?usage: run_all.sh FRAUDD_BIN}")
py="$here/.venv/bin/python"
[ -x "$py" ] || { echo "run_all: $py missing: run scripts/setup-python.sh"; exit 1; }
[ -x "$fraudd" ] || { echo "run_all: $fraudd is not an executable"; exit 1; }
shopt -s nullglob
models=("$here"/models/default/fraudd-default.onnx "$here"/tests/fixtures/*.onnx)
failed=0
for m in "${models[@]}"; do
  "$py" "$here/tests/parity/parity.py" --fraudd "$fraudd" --model "$m" --records 10000 || failed=$((failed + 1))
done
echo "run_all: ${#models[@]} models, $failed failed"
[ "$failed" -eq 0 ]
