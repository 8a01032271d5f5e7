#!/usr/bin/env bash
# The generator's embedded data (src/gen/ulb_profile.c) is what models/make_profile.py makes from
# data/ulb, byte for byte: its rows are models/ae_lib.py's test split (checked by the script when
# the .venv's torch lets it import ae_lib) and its statistics those of the committed csv.
# Usage: test_gen_profile.sh [FRAUDD]   (ctest passes FRAUDD, unused here)
set -euo pipefail
src=${FR_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
py=python3
[ -x "$src/.venv/bin/python" ] && py=$src/.venv/bin/python
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
"$py" "$src/models/make_profile.py" --out "$t/ulb_profile.c" >"$t/log" 2>&1 || { echo "FAIL: make_profile.py:"; cat "$t/log"; exit 1; }
cmp -s "$t/ulb_profile.c" "$src/src/gen/ulb_profile.c" ||
  { echo "FAIL: src/gen/ulb_profile.c differs from a fresh models/make_profile.py run; re-run it"; exit 1; }
grep -q "the same rows as models/ae_lib.py's test split" "$t/log" ||
  echo "note: rows not cross-checked against models/ae_lib.py ($py has no torch)"
echo "ok: $(cat "$t/log")"
