#!/usr/bin/env bash
# The module check fails when it should: made-up modules under a temp src/, compiled with cc,
# then check_modules.py on them. A cycle through calls alone (no include), a cycle of three,
# a call into another module's fr__ name and an exported function nobody else uses must each
# fail and be named; the same tree without them must pass.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fails=0

# tree MODULE:SOURCE ...: src/<module>/<module>.c and include/fraudd/<module>.h for each, compiled
tree() {
  rm -rf "$t/src" "$t/include" "$t/build"
  mkdir -p "$t/include/fraudd"
  local spec m
  for spec in "$@"; do
    m=${spec%%:*}
    mkdir -p "$t/src/$m" "$t/build/CMakeFiles/core.dir/src/$m"
    printf '#ifndef H_%s\n#define H_%s\nint fr_%s_f(void);\n#endif\n' "$m" "$m" "$m" > "$t/include/fraudd/$m.h"
    printf '%s\n' "${spec#*:}" > "$t/src/$m/$m.c"
  done
  for spec in "$@"; do
    m=${spec%%:*}
    cc -std=c11 -c -I"$t/include" "$t/src/$m/$m.c" -o "$t/build/CMakeFiles/core.dir/src/$m/$m.c.o"
  done
}

# expect STATUS WHAT PATTERN...: runs the check, wants that exit status and every pattern
expect() {
  local want=$1 what=$2 out rc=0
  shift 2
  out=$(python3 "$here/check_modules.py" "$t" "$t/build" 2>&1) || rc=$?
  if [ "$rc" != "$want" ]; then
    echo "FAIL $what: exit $rc, wanted $want"; echo "$out"; fails=$((fails + 1)); return
  fi
  for pat in "$@"; do
    if ! grep -qF -- "$pat" <<<"$out"; then
      echo "FAIL $what: no \"$pat\" in:"; echo "$out"; fails=$((fails + 1)); return
    fi
  done
  echo "ok   $what"
}

users='#include "fraudd/a.h"
#include "fraudd/b.h"
int main(void) { return fr_a_f() + fr_b_f(); }'

tree "a:#include \"fraudd/b.h\"
int fr_a_f(void) { return fr_b_f(); }" \
  "b:int fr_b_f(void) { return 1; }" "user:$users"
expect 0 "a -> b, no way back: passes" "no cycle"

# b calls a without including a.h: only the object file shows it
tree "a:#include \"fraudd/b.h\"
int fr_a_f(void) { return fr_b_f(); }" \
  "b:int fr_a_f(void);
int fr_b_f(void) { return fr_a_f() + 1; }" "user:$users"
expect 1 "b calls back into a (a call only nm sees)" "cycle between modules a, b" "b -> a: fr_a_f (b.c.o)" \
  "a -> b: #include \"fraudd/b.h\""

tree "a:#include \"fraudd/b.h\"
int fr_a_f(void) { return fr_b_f(); }" \
  "b:#include \"fraudd/c.h\"
int fr_b_f(void) { return fr_c_f(); }" \
  "c:#include \"fraudd/a.h\"
int fr_c_f(void) { return fr_a_f(); }" "user:$users"
expect 1 "a -> b -> c -> a" "cycle between modules a, b, c" "c -> a"

tree "a:int fr__a_helper(void) { return 2; }
int fr_a_f(void) { return fr__a_helper(); }" \
  "b:int fr__a_helper(void);
int fr_b_f(void) { return fr__a_helper(); }" "user:$users"
expect 1 "b calls a's internal fr__ name" "module b (b.c.o) calls fr__a_helper, internal to module a"

tree "a:int fr_a_lonely(void) { return 3; }
int fr_a_f(void) { return fr_a_lonely(); }" "b:int fr_b_f(void) { return 1; }" "user:$users"
expect 1 "an exported function only its own module uses" "fr_a_lonely (a/a.c.o): exported but used only inside module a"

if [ "$fails" -ne 0 ]; then echo "$fails case(s) failed"; exit 1; fi
echo "the module check caught every planted violation"
