"""ONNX Runtime parity: fraudd's scores and outputs equal ONNX Runtime's on the same model and input.

    .venv/bin/python tests/parity/parity.py --fraudd build/release/fraudd --model M.onnx [--records 10000]

What it proves. N JSON transactions are built from the real ULB rows in ../shared/data (each row
perturbed with a little seeded noise so all N differ), scored by `fraudd score --emit-output`,
and independently run through ONNX Runtime (CPU, float32) on the same float32 matrix: raw
values rounded to float32, then log1p in float32 for the features the model's `fraudd.log1p`
names, as fraudd does. Per record it checks
  * outputs: max_j |fraudd_j - ort_j| <= 1e-5 * max_j |ort_j|   (1e-5 relative to the record's
    output scale: elements near zero can only be judged against the row's magnitude, since
    float32 sums of terms of that magnitude carry that much absolute rounding);
  * score: |fraudd - ref| <= 1e-5 * |ref|, ref computed in float64 from ORT's float32 outputs
    with fraudd's formula (mean of (w_i * (y_i - x_i))^2, or the single output);
  * is_fraud: equal, unless the score is within 1e-5 relative of the threshold;
  * every record scored (none rejected, none missing), ids in order.
Exit 0 and a PASS line, or exit 1 with the worst records.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(REPO, "..", "shared", "data", "creditcard_legit_train.csv")
TOL = 1e-5


def metadata(model_path):
    m = onnx.load(model_path)
    return {p.key: p.value for p in m.metadata_props}


def build_records(features, n, seed):
    with open(DATA) as f:
        header = f.readline().strip().split(",")
    cols = [header.index(c) for c in features]
    rows = np.loadtxt(DATA, delimiter=",", skiprows=1, usecols=cols, dtype=np.float64)
    rng = np.random.RandomState(seed)
    idx = np.arange(n) % len(rows)
    raw = rows[idx] * (1 + 0.01 * rng.standard_normal((n, len(features))))
    amount = [i for i, c in enumerate(features) if c == "Amount"]
    for i in amount:
        raw[:, i] = np.abs(raw[:, i])
    return raw


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fraudd", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--records", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=5)
    a = ap.parse_args()
    name = os.path.basename(a.model)
    meta = metadata(a.model)
    features = json.loads(meta["fraudd.features"])
    log1p = set(json.loads(meta.get("fraudd.log1p", "[]")))
    weights = np.array(json.loads(meta["fraudd.error_weights"]), dtype=np.float32).astype(np.float64) \
        if "fraudd.error_weights" in meta else np.ones(len(features))
    threshold = float(meta["fraudd.threshold"])

    raw = build_records(features, a.records, a.seed)
    with tempfile.TemporaryDirectory() as tmp:
        inp, out, rej = (os.path.join(tmp, f) for f in ("in.jsonl", "out.jsonl", "rej.jsonl"))
        with open(inp, "w") as f:
            for r in range(len(raw)):
                rec = {"id": f"p-{r}"}
                rec.update({c: float(raw[r, j]) for j, c in enumerate(features)})
                f.write(json.dumps(rec) + "\n")
        p = subprocess.run([a.fraudd, "score", "--model", a.model, "--input", inp, "--output", out,
                            "--rejects", rej, "--emit-output", "--passthrough", "id", "--quiet"],
                           capture_output=True, text=True)
        if p.returncode != 0:
            print(f"parity {name}: fraudd exited {p.returncode}: {p.stderr.strip()}")
            if os.path.exists(rej):
                print(open(rej).read()[:2000])
            return 1
        results = [json.loads(line) for line in open(out)]

    x = raw.astype(np.float32)
    for j, c in enumerate(features):
        if c in log1p:
            x[:, j] = np.log1p(x[:, j])  # float32 in, float32 out, as fraudd
    sess = ort.InferenceSession(a.model, providers=["CPUExecutionProvider"])
    y = sess.run(None, {sess.get_inputs()[0].name: x})[0].reshape(len(x), -1).astype(np.float32)
    if y.shape[1] == len(features):
        d = (y.astype(np.float64) - x.astype(np.float64)) * weights
        ref = (d * d).mean(axis=1)
    else:
        ref = y[:, 0].astype(np.float64)

    if len(results) != len(x):
        print(f"parity {name}: {len(results)} results for {len(x)} records: FAIL")
        return 1
    bad, worst_out, worst_score = [], 0.0, 0.0
    for r, res in enumerate(results):
        if res.get("id") != f"p-{r}":
            print(f"parity {name}: result {r} has id {res.get('id')}: FAIL")
            return 1
        fo = np.array(res["output"], dtype=np.float64)
        scale = max(np.max(np.abs(y[r])), np.finfo(np.float32).tiny)
        e_out = float(np.max(np.abs(fo - y[r])) / scale)
        e_score = abs(res["score"] - ref[r]) / max(abs(ref[r]), 1e-30)
        worst_out, worst_score = max(worst_out, e_out), max(worst_score, e_score)
        verdict_ok = res["is_fraud"] == bool(ref[r] > threshold) or abs(ref[r] - threshold) <= TOL * abs(threshold)
        if e_out > TOL or e_score > TOL or not verdict_ok:
            bad.append((r, e_out, e_score, verdict_ok))
    status = "PASS" if not bad else "FAIL"
    flagged = sum(1 for res in results if res["is_fraud"])
    print(f"parity {name}: {len(x)} records ({flagged} flagged), max rel err output {worst_out:.2g} "
          f"score {worst_score:.2g} (tolerance {TOL:g}): {status}")
    for r, eo, es, vo in bad[:10]:
        print(f"  record {r}: output err {eo:.3g}, score err {es:.3g}, verdict {'ok' if vo else 'DIFFERS'}")
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
