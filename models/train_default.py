"""Trains fraudd's default model: an autoencoder on real card transactions.

    .venv/bin/python models/train_default.py [--data ../shared/data/creditcard_legit_train.csv]

Data: the ULB / Worldline "Credit Card Fraud Detection" legit rows in ../shared/data (read in
place, never copied). Features: V1..V28 (PCA components) and Amount, 29 in that order.

Model (PyTorch, exported to ONNX with everything fraudd needs inside the file):
  * preprocessing not in the graph: Amount -> log1p(Amount)  (metadata `fraudd.log1p`)
  * in the graph: standardisation (x - mean) / std with the training split's statistics,
    a 29-16-8-16-29 network (Linear+Tanh, Linear+Tanh, Linear+Tanh, Linear), and the inverse
    standardisation y * std + mean, so the output is a reconstruction in the model's input space;
  * `fraudd.error_weights` = 1/std, so the score (mean squared weighted reconstruction error)
    is the reconstruction error in standard units: every feature counts alike.
  * threshold: the 99.5th percentile of the scores of the held-out validation rows (so about
    0.5% of normal traffic is flagged by construction; `--percentile` changes it).

Determinism: fixed seeds, a fixed 80/20 split, single-threaded torch. Re-running produces the
same model bytes up to float summation order of the platform's BLAS.

Outputs: models/default/fraudd-default.onnx and models/default/REPORT.md (the numbers).
"""
import argparse
import hashlib
import json
import os
import sys
import time

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
FEATURES = [f"V{i}" for i in range(1, 29)] + ["Amount"]
VERSION = "ulb-ae-1.0.0"


def load_ulb(path):
    """Returns the float64 matrix of FEATURES (Amount still raw) from the ULB csv.

    The file's rows carry one more field than its header (a trailing 0): columns are taken by
    the header's names, so the extra field is ignored."""
    with open(path) as f:
        header = f.readline().strip().split(",")
    cols = [header.index(n) for n in FEATURES]
    data = np.loadtxt(path, delimiter=",", skiprows=1, usecols=cols, dtype=np.float64)
    return data


class Standardised(nn.Module):
    """(x - mean) / std -> net -> y * std + mean, all in the exported graph."""

    def __init__(self, mean, std, net):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))
        self.net = net

    def forward(self, x):
        return self.net((x - self.mean) / self.std) * self.std + self.mean


def scores(model, x, weights):
    """The score fraudd computes: mean over features of (w * (y - x))^2, in float64."""
    with torch.no_grad():
        y = model(torch.from_numpy(x)).numpy()
    d = (y.astype(np.float64) - x.astype(np.float64)) * weights
    return (d * d).mean(axis=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.path.join(REPO, "..", "shared", "data", "creditcard_legit_train.csv"))
    ap.add_argument("--out", default=os.path.join(HERE, "default", "fraudd-default.onnx"))
    ap.add_argument("--report", default=os.path.join(HERE, "default", "REPORT.md"))
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--percentile", type=float, default=99.5)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    t_start = time.time()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    rng = np.random.RandomState(args.seed)

    raw = load_ulb(args.data)
    x_all = raw.copy()
    x_all[:, 28] = np.log1p(x_all[:, 28])  # fraudd.log1p: Amount
    x_all = x_all.astype(np.float32)
    perm = rng.permutation(len(x_all))
    n_train = int(0.8 * len(x_all))
    x_train, x_val = x_all[perm[:n_train]], x_all[perm[n_train:]]

    mean = x_train.mean(axis=0).astype(np.float32)
    std = x_train.std(axis=0).astype(np.float32)
    std[std < 1e-6] = 1.0
    weights = (1.0 / std.astype(np.float64))

    F = len(FEATURES)
    net = nn.Sequential(nn.Linear(F, 16), nn.Tanh(), nn.Linear(16, 8), nn.Tanh(),
                        nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, F))
    model = Standardised(mean, std, net)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    w_t = torch.tensor(weights, dtype=torch.float32)
    xt = torch.from_numpy(x_train)
    batch = 128
    for epoch in range(args.epochs):
        model.train()
        order = torch.from_numpy(rng.permutation(len(xt)))
        for i in range(0, len(xt), batch):
            xb = xt[order[i:i + batch]]
            loss = (((model(xb) - xb) * w_t) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    model.eval()

    s_train = scores(model, x_train, weights)
    s_val = scores(model, x_val, weights)
    threshold = float(np.percentile(s_val, args.percentile))

    # Synthetic anomalies: validation rows with 3 random V features pushed k std out.
    detect = {}
    for k in (6, 10, 15):
        x_anom = x_val.copy()
        for r in range(len(x_anom)):
            for f in rng.choice(28, size=3, replace=False):
                x_anom[r, f] += np.float32(rng.choice([-1, 1]) * k * std[f])
        detect[k] = 100 * np.mean(scores(model, x_anom, weights) > threshold)

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    tmp = args.out + ".tmp"
    torch.onnx.export(model, torch.from_numpy(x_val[:2]), tmp, input_names=["features"],
                      output_names=["reconstruction"],
                      dynamic_axes={"features": {0: "batch"}, "reconstruction": {0: "batch"}},
                      opset_version=13, do_constant_folding=True)
    import onnx  # the venv's onnx (see requirements.txt)
    m = onnx.load(tmp)
    meta = {
        "fraudd.features": json.dumps(FEATURES),
        "fraudd.threshold": repr(threshold),
        "fraudd.version": VERSION,
        "fraudd.log1p": json.dumps(["Amount"]),
        "fraudd.error_weights": json.dumps([float(np.float32(w)) for w in weights]),
    }
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    m.doc_string = ("fraudd default model: autoencoder trained on ULB legit card transactions; "
                    "see models/default/REPORT.md")
    onnx.checker.check_model(m)
    onnx.save(m, args.out)
    os.remove(tmp)

    # Check the exported file reproduces torch's scores (ONNX Runtime, float32).
    import onnxruntime as ort
    sess = ort.InferenceSession(args.out, providers=["CPUExecutionProvider"])
    y_ort = sess.run(None, {"features": x_val})[0]
    d = (y_ort.astype(np.float64) - x_val.astype(np.float64)) * weights
    s_ort = (d * d).mean(axis=1)
    max_rel = float(np.max(np.abs(s_ort - s_val) / np.maximum(np.abs(s_val), 1e-12)))
    if max_rel > 1e-4:
        sys.exit(f"exported model disagrees with torch: max relative score error {max_rel:.3g}")

    digest = hashlib.sha256(open(args.out, "rb").read()).hexdigest()[:16]
    ops = sorted({n.op_type for n in m.graph.node})
    report = f"""# Default model report

Produced by `models/train_default.py` (run: `.venv/bin/python models/train_default.py`).

| | |
|---|---|
| file | `models/default/fraudd-default.onnx` ({os.path.getsize(args.out)} bytes, sha256 {digest}...) |
| version | `{VERSION}` |
| data | {len(x_all)} legit ULB transactions (`../shared/data/creditcard_legit_train.csv`) |
| split | {len(x_train)} train / {len(x_val)} validation (seeded permutation, seed {args.seed}) |
| features | V1..V28, Amount (log1p before the graph) |
| graph | (x - mean)/std -> Linear 29-16, Tanh, Linear 16-8, Tanh, Linear 8-16, Tanh, Linear 16-29 -> y*std + mean |
| ONNX ops | {", ".join(ops)} (opset 13, exported by torch {torch.__version__}) |
| training | Adam lr 3e-3 cosine, {args.epochs} epochs, batch {batch}, weighted MSE in standard units |
| score | mean over features of ((y - x) / std)^2 |
| train score | mean {s_train.mean():.4f}, median {np.median(s_train):.4f} |
| validation score | mean {s_val.mean():.4f}, median {np.median(s_val):.4f} |
| threshold | {threshold:.6g} = {args.percentile}th percentile of validation scores |
| validation flagged | {100 * np.mean(s_val > threshold):.2f}% (normal rows above the threshold) |
| train flagged | {100 * np.mean(s_train > threshold):.2f}% |
| synthetic anomalies flagged | {detect[6]:.1f}% / {detect[10]:.1f}% / {detect[15]:.1f}% of validation rows with 3 V features moved 6 / 10 / 15 std |
| ONNX Runtime vs torch | max relative score difference {max_rel:.2g} |
| training time | {time.time() - t_start:.0f} s on this machine (1 thread) |

The data holds no fraud rows, so there is no true fraud recall to report: the synthetic
anomalies show the model reacts to off-distribution feature combinations, and the validation
flag rate is the expected false-positive rate on normal traffic like the training data.
"""
    with open(args.report, "w") as f:
        f.write(report)
    print(report)


if __name__ == "__main__":
    main()
