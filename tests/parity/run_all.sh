#!/usr/bin/env bash
# ONNX Runtime parity for the default model and every committed fixture (10,000 records each).
# Usage: tests/parity/run_all.sh path/to/fraudd
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
fraudd=$(realpath "${1:?usage: run_all.sh FRAUDD}")
py="$here/.venv/bin/python"
[ -x "$py" ] || { echo "run_all: $py missing: run scripts/setup-python.sh"; exit 1; }
rc=0
for m in "$here"/models/default/fraudd-default.onnx "$here"/tests/fixtures/*.onnx; do
  "$py" "$here/tests/parity/parity.py" --fraudd "$fraudd" --model "$m" --records 10000 || rc=1
done
exit $rc
