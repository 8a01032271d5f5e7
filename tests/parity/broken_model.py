"""The parity checker is not blind to a slightly wrong model: fraudd runs a copy of MODEL with ONE
weight (element 0 of the first or last Gemm's weight) changed by 1e-3, the reference is ONNX
Runtime on the original; the check must fail, and this prints which checks caught it.

    .venv/bin/python tests/parity/broken_model.py MODEL.onnx first|last   (from the repository root)
"""
import collections
import os
import sys
import tempfile

import onnx
import onnx.numpy_helper as nh

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import parity as P  # noqa: E402
orig, which = sys.argv[1], sys.argv[2]   # which: first|last Gemm
proto = onnx.load(orig)
gemms = [n for n in proto.graph.node if n.op_type == "Gemm"]
wname = (gemms[0] if which == "first" else gemms[-1]).input[1]
for t in proto.graph.initializer:
    if t.name == wname:
        a = nh.to_array(t).copy(); a.flat[0] += 1e-3
        t.CopyFrom(nh.from_array(a, t.name))
tmp = tempfile.mkdtemp(); bpath = os.path.join(tmp, "broken.onnx"); onnx.save(proto, bpath)
model = P.Model(orig)
raw = P.build_raw(model.features, model.log1p, 10000, 5)
x = P.preprocess(raw, model.features, model.log1p, "libm")
y = model.run_ort(x)
inp = os.path.join(tmp, "in.jsonl"); P.write_records(inp, raw, model.features)
bm = P.Model(bpath)
results, problems = P.run_fraudd(os.path.abspath("build/release/fraudd"), bm, inp, tmp)
more, stats = P.compare(model, results, raw, x, y)
kinds = collections.Counter(t.split(":")[0].split(" rel")[0] for _, t in more)
print(f"{os.path.basename(orig)}: weight {wname}[0] += 1e-3 in the {which} Gemm -> {len(more)} violations {dict(kinds)}; "
      f"top_features-only violations: {sum(1 for _, t in more if t.startswith('top_features'))}")
sys.exit(0 if P.report("broken", 10000, stats, problems + more) else 1)  # exit 0: the checker failed it
