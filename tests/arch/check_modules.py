#!/usr/bin/env python3
"""The module graph of src/: computed from the code, checked against rules and the docs.

    tests/arch/check_modules.py SRC_DIR BUILD_DIR [--print] [--doc docs/ARCHITECTURE.md]

A module is one folder under src/ (src/sink, src/common, ...); its public header is
include/fraudd/<module>.h (plus the few named in HEADER_OWNER), its internal headers live in
its own folder. Module A depends on module B when

  - a file of A (its sources, internal headers or public headers) includes a header of B, or
  - an object file of A (compiled by BUILD_DIR: CMakeFiles/<target>.dir/src/A/*.o) has an
    undefined fr_* symbol that an object file of B defines (nm): the calls the compiler saw.

Rules (each violation is printed with the names that make it; exit 1 if any):
  1. The graph is acyclic: no module calls into a module that calls back into it, however
     long the loop (strongly connected components of more than one module are reported with
     every edge inside them and the symbols or includes behind each edge).
  2. fr__ names are internal to their module: no other module's object refers to an fr__
     symbol, and no file outside src/<module>/ includes that module's internal headers.
  3. An fr_ function a module exports is used outside that module (by another module, a test,
     a benchmark or a fuzzer); one that is not should be static or fr__.
  4. With --doc: the block between `<!-- module-graph:begin -->` and `<!-- module-graph:end -->`
     in that file lists exactly the computed edges, one line per module ("a -> b, c").

--print writes the computed block (to paste into the docs) and the layers, lowest first.
"""
import os
import re
import subprocess
import sys

# public headers whose name is not their module's name
HEADER_OWNER = {
    "err.h": "common",
    "clock.h": "common",
    "buf.h": "common",
    "thread.h": "common",
    "sys.h": "common",
    "kstats.h": "kafka",
    "record.h": "decode",
    "job.h": "job",
}

INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
IDENT_RE = re.compile(r"\bfr_[A-Za-z0-9_]+")
SRC_EXT = (".c", ".cpp", ".h", ".S")


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    return re.sub(r'"(?:\\.|[^"\\\n])*"', '""', text)


def header_owner(name, modules):
    base = os.path.basename(name)
    if HEADER_OWNER.get(base) in modules:
        return HEADER_OWNER[base]
    mod = base[:-2] if base.endswith(".h") else base
    return mod if mod in modules else None


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


class Graph:
    def __init__(self, src_dir):
        self.root = src_dir
        self.modules = sorted(
            d for d in os.listdir(os.path.join(src_dir, "src")) if os.path.isdir(os.path.join(src_dir, "src", d))
        )
        self.edges = {m: {} for m in self.modules}  # a -> {b: set(reasons)}
        self.errors = []

    def add(self, a, b, why):
        if a != b:
            self.edges[a].setdefault(b, set()).add(why)

    def files_of(self, m):
        d = os.path.join(self.root, "src", m)
        out = [os.path.join(d, f) for f in sorted(os.listdir(d)) if f.endswith(SRC_EXT)]
        inc = os.path.join(self.root, "include", "fraudd")
        if os.path.isdir(inc):
            out += [os.path.join(inc, h) for h in sorted(os.listdir(inc)) if header_owner(h, self.modules) == m]
        return out

    def scan_includes(self):
        inc = os.path.join(self.root, "include", "fraudd")
        for h in sorted(os.listdir(inc)) if os.path.isdir(inc) else []:
            if h.endswith(".h") and header_owner(h, self.modules) is None:
                self.errors.append(f"include/fraudd/{h}: no module owns it (name it after its module, or add it "
                                   f"to HEADER_OWNER in tests/arch/check_modules.py)")
        for m in self.modules:
            for path in self.files_of(m):
                rel = os.path.relpath(path, self.root)
                for inc_name in INCLUDE_RE.findall(read(path)):
                    if inc_name.startswith("fraudd/"):
                        owner = header_owner(inc_name, self.modules)
                        if owner:
                            self.add(m, owner, f"#include \"{inc_name}\" ({rel})")
                    elif "/" in inc_name:
                        owner = inc_name.split("/")[0]
                        if owner in self.modules and owner != m:
                            self.errors.append(f"{rel}: includes \"{inc_name}\", an internal header of module "
                                               f"{owner} (use include/fraudd/{owner}.h)")
                            self.add(m, owner, f"#include \"{inc_name}\" ({rel})")

    def scan_objects(self, build_dir):
        """nm over every object compiled from src/<module>/ in build_dir."""
        objs = {m: [] for m in self.modules}
        for dirpath, _, files in os.walk(build_dir):
            if "CMakeFiles" not in dirpath:
                continue
            parts = dirpath.replace(os.sep, "/").split("/src/")
            if len(parts) < 2:
                continue
            m = parts[-1].split("/")[0]
            if m not in objs:
                continue
            objs[m] += [os.path.join(dirpath, f) for f in files if f.endswith(".o")]
        if not any(objs.values()):
            self.errors.append(f"{build_dir}: no object files of src/ found (build it first)")
            return
        self.defined = {}  # symbol -> module
        self.undefined = {m: {} for m in self.modules}  # module -> {symbol: object}
        self.functions = {}  # exported fr_ function -> (module, object)
        for m, files in objs.items():
            # one object per source file: a flavour built twice (two targets) is read once
            seen = set()
            for o in sorted(files):
                key = os.path.basename(o)
                if key in seen:
                    continue
                seen.add(key)
                out = subprocess.run(["nm", "-P", o], capture_output=True, text=True, check=True).stdout
                for line in out.splitlines():
                    f = line.split()
                    if len(f) < 2 or not f[0].startswith("fr_"):
                        continue
                    sym, kind = f[0], f[1]
                    if kind == "U":
                        self.undefined[m].setdefault(sym, os.path.basename(o))
                    elif kind in ("T", "D", "B", "R", "V", "W"):
                        prev = self.defined.get(sym)
                        if prev and prev != m:
                            self.errors.append(f"{sym}: defined by modules {prev} and {m}")
                        self.defined[sym] = m
                        if kind == "T":
                            self.functions[sym] = (m, os.path.basename(o))
        for m, syms in self.undefined.items():
            for sym, obj in syms.items():
                owner = self.defined.get(sym)
                if owner is None or owner == m:
                    continue
                self.add(m, owner, f"{sym} ({obj})")
                if sym.startswith("fr__"):
                    self.errors.append(f"module {m} ({obj}) calls {sym}, internal to module {owner}")

    def check_exports(self, extra_dirs):
        """Rule 3: exported fr_ functions are used outside their module."""
        used_outside = {}
        for m in self.modules:
            for sym in self.undefined.get(m, {}):
                used_outside.setdefault(sym, set()).add(m)
        tokens = set()
        for d in extra_dirs:
            for dirpath, _, files in os.walk(d):
                for f in files:
                    if f.endswith((".c", ".cpp", ".h")):
                        tokens |= set(IDENT_RE.findall(strip_comments(read(os.path.join(dirpath, f)))))
        for sym, (m, obj) in sorted(self.functions.items()):
            if sym.startswith("fr__"):
                continue
            outside = used_outside.get(sym, set()) - {m}
            if not outside and sym not in tokens:
                self.errors.append(f"{sym} ({m}/{obj}): exported but used only inside module {m}: "
                                   f"make it static, or fr__ if other files of {m} call it")

    def cycles(self):
        """Tarjan's strongly connected components; returns the ones with more than one module."""
        index, low, on, stack, out = {}, {}, set(), [], []
        counter = [0]

        def visit(v):
            index[v] = low[v] = counter[0]
            counter[0] += 1
            stack.append(v)
            on.add(v)
            for w in sorted(self.edges[v]):
                if w not in index:
                    visit(w)
                    low[v] = min(low[v], low[w])
                elif w in on:
                    low[v] = min(low[v], index[w])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))

        sys.setrecursionlimit(10000)
        for v in self.modules:
            if v not in index:
                visit(v)
        return out

    def layers(self):
        """Modules grouped by height: layer 0 depends on nothing, layer k on layers < k."""
        level = {}

        def h(v, path=()):
            if v in level:
                return level[v]
            if v in path:
                return 0
            level[v] = 1 + max((h(w, path + (v,)) for w in self.edges[v]), default=-1)
            return level[v]

        for v in self.modules:
            h(v)
        out = {}
        for v, k in level.items():
            out.setdefault(k, []).append(v)
        return [sorted(out[k]) for k in sorted(out)]

    def block(self):
        return "\n".join(f"{m} -> {', '.join(sorted(self.edges[m])) or '(nothing)'}" for m in self.modules)


def doc_block(path):
    text = read(path)
    m = re.search(r"<!-- module-graph:begin -->\s*```[a-z]*\n(.*?)```\s*<!-- module-graph:end -->", text, re.S)
    return m.group(1).strip() if m else None


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    if len(args) < 2:
        print(__doc__)
        return 2
    src_dir, build_dir = args[0], args[1]
    doc = None
    if "--doc" in argv:
        doc = argv[argv.index("--doc") + 1]
        args = [a for a in args if a != doc]
    g = Graph(src_dir)
    g.scan_includes()
    g.scan_objects(build_dir)
    if hasattr(g, "functions"):
        g.check_exports([os.path.join(src_dir, d) for d in ("tests", "bench") if os.path.isdir(os.path.join(src_dir, d))])
    for comp in g.cycles():
        lines = [f"cycle between modules {', '.join(comp)}:"]
        for a in comp:
            for b in sorted(g.edges[a]):
                if b in comp:
                    why = sorted(g.edges[a][b])
                    more = f" (+{len(why) - 4} more)" if len(why) > 4 else ""
                    lines.append(f"  {a} -> {b}: {'; '.join(why[:4])}{more}")
        g.errors.append("\n".join(lines))
    if "--print" in argv:
        print(g.block())
        print()
        for k, layer in enumerate(g.layers()):
            print(f"layer {k}: {' '.join(layer)}")
    if doc:
        want = doc_block(os.path.join(src_dir, doc) if not os.path.isabs(doc) else doc)
        if want is None:
            g.errors.append(f"{doc}: no ```...``` block between <!-- module-graph:begin --> and <!-- module-graph:end -->")
        elif want != g.block():
            have, said = set(g.block().splitlines()), set(want.splitlines())
            diff = [f"  code: {l}" for l in sorted(have - said)] + [f"  doc:  {l}" for l in sorted(said - have)]
            g.errors.append(f"{doc}: the module graph differs from the code (run with --print):\n" + "\n".join(diff))
    for e in g.errors:
        print(f"check_modules: {e}", file=sys.stderr)
    if not g.errors:
        n_edges = sum(len(v) for v in g.edges.values())
        print(f"check_modules: {len(g.modules)} modules, {n_edges} dependencies, no cycle")
    return 1 if g.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
