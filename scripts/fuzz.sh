#!/usr/bin/env bash
# Runs every libFuzzer target in build/fuzz for SECONDS each (default 30),
# seeded from tests/fuzz/corpus/<target>, tests/fuzz/regressions/<target> (inputs that once
# failed) and, for the model loader, the committed models. Any crash,
# leak or timeout fails; the reproducer is left in build/fuzz/artifacts/.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-30}
out="$here/build/fuzz"
mkdir -p "$out/artifacts"
for bin in "$out"/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin"); target=${name#fuzz_}
  work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
  [ -d "$here/tests/fuzz/corpus/$target" ] && cp -r "$here/tests/fuzz/corpus/$target/." "$work/"
  # inputs that once crashed a target stay in its seed corpus (regression tests)
  [ -d "$here/tests/fuzz/regressions/$target" ] && cp -r "$here/tests/fuzz/regressions/$target/." "$work/"
  if [ "$target" = onnx ]; then
    cp "$here"/models/default/*.onnx "$here"/tests/fixtures/*.onnx "$work/" 2>/dev/null || true
  fi
  echo "fuzz: $name for ${secs}s ($(ls "$work" | wc -l) seeds)"
  "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="$out/artifacts/$name-" -print_final_stats=1 "$work" 2>"$out/$name.log" || {
      tail -40 "$out/$name.log"; echo "fuzz: $name FAILED"; exit 1; }
  grep -E "^stat::number_of_executed_units|^Done" "$out/$name.log" | tr '\n' ' '; echo
  rm -rf "$work"; trap - EXIT
done
