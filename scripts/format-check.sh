#!/usr/bin/env bash
# Informational: for each C/C++ file in src/, include/, tests/unit, tests/fuzz and bench/,
# how many of its lines clang-format (with the repository's .clang-format) would rewrite,
# and the size of that diff (removed + added lines). Files it leaves alone are not listed.
# Changes nothing and always exits 0. Usage: scripts/format-check.sh [FILE...]
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here" || exit 0
cf=${CLANG_FORMAT:-clang-format}
if ! command -v "$cf" >/dev/null 2>&1; then
  echo "format-check: $cf not found (Debian: apt-get install clang-format); nothing checked"
  exit 0
fi
if (($#)); then
  files=("$@")
else
  # src/gen/ulb_profile.c is generated (models/make_profile.py)
  mapfile -t files < <(git ls-files -- src include tests/unit tests/fuzz bench \
    | grep -E '\.(c|h|cpp|hpp|cc)$' | grep -vx 'src/gen/ulb_profile.c')
fi
total=0 total_diff=0 lines=0 touched=0
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  d=$("$cf" --style=file --assume-filename="$f" <"$f" | diff -U0 "$f" - | tail -n +3)
  minus=$(grep -c '^-' <<<"$d")
  plus=$(grep -c '^+' <<<"$d")
  lines=$((lines + $(wc -l <"$f")))
  if ((minus + plus)); then
    printf '%6d %6d  %s\n' "$minus" "$((minus + plus))" "$f"
    touched=$((touched + 1))
  fi
  total=$((total + minus)) total_diff=$((total_diff + minus + plus))
done
printf '%6d %6d  total: lines rewritten, diff lines (%d of %d files, %d lines; %s)\n' \
  "$total" "$total_diff" "$touched" "${#files[@]}" "$lines" "$("$cf" --version | head -1)"
exit 0
