"""Chooses the default model's training recipe on the VALIDATION split (models/ae_lib.py):

    .venv/bin/python models/tune_default.py [--members 3] [--out models/default/TUNING.md]

Each candidate recipe trains `--members` autoencoders (seeds 1..K) on the train split, folds them
into one network (their mean) and, for each shrink s (the output pulled toward the training mean:
y = (1 - s) * AE(x) + s * mean, which costs nothing in the graph), measures ROC-AUC of the score
of synthetic anomalies of every kind and strength (ae_lib.KINDS, made from the validation rows
with seed 11) against the score of the legit validation rows. The same numbers for the z-score
distance (no learning) head the table. The test split is never read here.
"""
import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ae_lib  # noqa: E402
from ae_lib import load_x, scaling  # noqa: E402
from train_default import RECIPE_1_1  # noqa: E402

SHRINKS = (0.0, 0.3, 0.6)
CANDIDATES = [  # (name, changes to ulb-ae-1.1.0's recipe RECIPE_1_1)
    ("1.1.0 recipe", {}),
    ("weight decay 1e-2", {"wd": 1e-2}),
    ("weight decay 1e-1", {"wd": 1e-1}),
    ("input noise 0.1", {"noise": 0.1}),
    ("input noise 0.3", {"noise": 0.3}),
    ("bottleneck 4", {"hidden": (16, 4, 16)}),
    ("bottleneck 12", {"hidden": (16, 12, 16)}),
    ("hidden 32-8-32", {"hidden": (32, 8, 32)}),
    ("75 epochs", {"epochs": 75}),
    ("300 epochs", {"epochs": 300}),
    ("lr 3e-3", {"lr": 3e-3}),
    ("all LeakyReLU", {"acts": ("leaky", "leaky", "leaky")}),
    ("robust scaling (median, IQR)", {"scale": "robust"}),
    # second round, around the best of the first (the wider hidden layers)
    ("hidden 64-8-64", {"hidden": (64, 8, 64)}),
    ("hidden 32-12-32", {"hidden": (32, 12, 32)}),
    ("hidden 64-12-64", {"hidden": (64, 12, 64)}),
    ("hidden 32-8-32, weight decay 1e-2", {"hidden": (32, 8, 32), "wd": 1e-2}),
    ("hidden 32-8-32, 300 epochs", {"hidden": (32, 8, 32), "epochs": 300}),
    ("hidden 32-8-32, robust scaling", {"hidden": (32, 8, 32), "scale": "robust"}),
    ("hidden 64-8-64, robust scaling", {"hidden": (64, 8, 64), "scale": "robust"}),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--members", type=int, default=3)
    ap.add_argument("--only", default="", help="comma-separated candidate numbers (1-based)")
    ap.add_argument("--out", default="", help="write the table (markdown) here")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    x_train, x_val, _ = ae_lib.splits(load_x())
    an = ae_lib.Anomalies(x_train)
    sets = an.all(x_val, 11)
    keys = list(sets)
    weights = 1.0 / an.std

    def row(name, s_val, score_fn):
        aucs = [ae_lib.auc(score_fn(sets[k]), s_val) for k in keys]
        return name, aucs

    rows = [row("z-score distance", ae_lib.zscore_distance(x_val, an.mean, an.std),
                lambda x: ae_lib.zscore_distance(x, an.mean, an.std))]
    print(fmt(rows[-1]), flush=True)
    chosen = [int(i) - 1 for i in args.only.split(",") if i] or range(len(CANDIDATES))
    for ci in chosen:
        name, change = CANDIDATES[ci]
        cfg = dict(RECIPE_1_1, **change)
        t0 = time.time()
        c, s = scaling(x_train, cfg["scale"])
        z_train = ((x_train - c) / s).astype(np.float32)
        nets = [ae_lib.train_member(z_train, weights * s, cfg, seed) for seed in range(1, args.members + 1)]
        for sh in SHRINKS:
            model = ae_lib.Standardised(c, s, ae_lib.fold(nets, sh)).eval()
            rows.append(row(f"{name}, shrink {sh:g}", ae_lib.scores_np(model, x_val, weights),
                            lambda x: ae_lib.scores_np(model, x, weights)))
            print(fmt(rows[-1]), flush=True)
        print(f"  ({time.time() - t0:.0f} s)", flush=True)
    if args.out:
        head = "| recipe (K = %d members) | mean | " % args.members + " | ".join(f"{k} {s:g}" for k, s in keys) + " |"
        lines = [head, "|" + "---|" * (len(keys) + 2)]
        lines += ["| %s | %.4f | " % (n, np.mean(a)) + " | ".join(f"{v:.3f}" for v in a) + " |" for n, a in rows]
        with open(args.out, "w") as f:
            f.write("# Validation ROC-AUC of the candidate recipes\n\nMade by `models/tune_default.py "
                    f"--members {args.members}`: ROC-AUC of anomalies vs legit validation rows "
                    "(846 rows; anomalies made from them with seed 11; kinds in models/ae_lib.py). "
                    "The test split is not used.\n\n" + "\n".join(lines) + "\n")


def fmt(r):
    name, a = r
    return f"{name:42s} mean {np.mean(a):.4f}  " + " ".join(f"{v:.3f}" for v in a)


if __name__ == "__main__":
    main()
