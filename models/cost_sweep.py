"""The candidate architectures' cost in fraudd against their validation AUC (issue 14 vs issue 12's
budget of >= 1M records/s for the scoring stage on one core):

    OPENBLAS_CORETYPE=SkylakeX .venv/bin/python models/cost_sweep.py [--rounds 5]
        [--bench build/release/bench_e2e] [--out models/default/COST.md]

For each architecture (KxA-B-C: K members of 29-A-B-C-29, models/train_default.py's recipe):
train on the 3,384-row train split, measure the mean ROC-AUC over every synthetic anomaly kind
and strength made from the 846 validation rows (seed 11, as models/tune_default.py) against those
legit rows, export the ONNX file (into --dir, not kept), then time fraudd's model + score stage
(`bench_e2e --only model --model FILE`: the fused plan, feature-major batch 64, plus the score and
top_features, one thread) for ulb-ae-1.1.0 (made again by models/train_1_1_0.py into --dir) and every file, interleaved, `--rounds`
rounds, the median per model. The test split is not read.
"""
import argparse
import os
import re
import subprocess
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ae_lib  # noqa: E402
from train_default import export, parse_arch, train  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ARCHS = ("1x16-8-16", "1x32-8-32", "2x32-8-32", "1x48-10-48", "1x64-12-64", "2x64-12-64", "3x64-12-64")


def macs(arch):
    k, hidden = parse_arch(arch)
    dims = (29, *hidden, 29)
    return k * sum(a * b for a, b in zip(dims, dims[1:]))


def bench(bench_bin, path, seconds):
    cmd = ["nice", bench_bin, "--only", "model", "--seconds", str(seconds)] + (["--model", path] if path else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ae_lib.REPO).stdout
    return float(re.search(r"RESULT model_stage_ns_per_record ([0-9.]+)", out).group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--archs", nargs="*", default=list(ARCHS))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--bench", default=os.path.join(ae_lib.REPO, "build", "release", "bench_e2e"))
    ap.add_argument("--dir", default="/tmp/fraudd-cost-sweep")
    ap.add_argument("--out", default=os.path.join(HERE, "default", "COST.md"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    x_train, x_val, _ = ae_lib.splits(ae_lib.load_x())
    sets = ae_lib.Anomalies(x_train).all(x_val, 11)
    rows = {}
    for arch in args.archs:
        t0 = time.time()
        model, w = train(x_train, arch)
        s_val = ae_lib.scores_np(model, x_val, w)
        aucs = [ae_lib.auc(ae_lib.scores_np(model, xa, w), s_val) for xa in sets.values()]
        path = os.path.join(args.dir, f"{arch}.onnx")
        export(model, w, x_val[:2], path, float(np.percentile(s_val, 99.5)))
        rows[arch] = {"auc": float(np.mean(aucs)), "min": float(np.min(aucs)), "path": path, "ns": []}
        print(f"{arch}: validation mean AUC {rows[arch]['auc']:.4f} ({time.time() - t0:.0f} s)", flush=True)
    import train_1_1_0
    base = "ulb-ae-1.1.0 (the previous default)"
    base_path = os.path.join(args.dir, "ulb-ae-1.1.0.onnx")
    train_1_1_0.build(train_1_1_0.parser().parse_args(["--out", base_path, "--quiet"]))
    rows[base] = {"path": base_path, "ns": []}
    for r in range(args.rounds):
        for name, row in rows.items():
            row["ns"].append(bench(args.bench, row["path"], args.seconds))
        print(f"round {r + 1}: " + ", ".join(f"{n} {row['ns'][-1]:.0f}" for n, row in rows.items()), flush=True)
    b = np.median(rows[base]["ns"])
    lines = ["| architecture | weights (multiply-adds per record) | validation mean AUC | worst kind's AUC | "
             "model + score stage, ns/record (median; min .. max) | vs ulb-ae-1.1.0 | records/s on one core |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    lines.append(f"| {base}, 1x16-8-16 trained on 4,230 rows | {macs('1x16-8-16')} | (not comparable: its training "
                 f"rows include the validation rows) | | {b:.0f} ({min(rows[base]['ns']):.0f} .. "
                 f"{max(rows[base]['ns']):.0f}) | 1.0x | {1e9 / b:,.0f} |")
    for arch in args.archs:
        row = rows[arch]
        ns = np.median(row["ns"])
        lines.append(f"| {arch} | {macs(arch)} | {row['auc']:.4f} | {row['min']:.3f} | {ns:.0f} "
                     f"({min(row['ns']):.0f} .. {max(row['ns']):.0f}) | {ns / b:.1f}x | {1e9 / ns:,.0f} |")
    table = "\n".join(lines)
    with open(args.out, "w") as f:
        f.write(f"""# Cost against validation AUC of the candidate architectures

Made by `OPENBLAS_CORETYPE=SkylakeX .venv/bin/python models/cost_sweep.py --rounds {args.rounds}` (see its
docstring): every architecture trained with models/train_default.py's recipe (ulb-ae-1.2.0's) on the 3,384 train
rows; AUC = mean ROC-AUC over the {len(sets)} synthetic anomaly kinds and strengths made from the
846 validation rows (seed 11); the stage timed by `build/release/bench_e2e --only model --model
FILE` ({args.rounds} interleaved rounds of {args.seconds:g} s per model, best of 5 sub-rounds each, under
`nice` on a 2-core machine shared with other work, so compare within this table rather than with
docs/BENCHMARKS.md). Issue 12's budget for the scoring stage is >= 1M records/s on one core
(<= 1,000 ns/record for everything but decode and encode). The test split is not read.

{table}
""")
    print(table)


if __name__ == "__main__":
    main()
