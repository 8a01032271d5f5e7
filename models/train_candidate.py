"""Trains a candidate for fraudd's next default model: autoencoders on real card transactions.

    OPENBLAS_CORETYPE=SkylakeX .venv/bin/python models/train_candidate.py [--arch 3x64-12-64]
        [--compare 1x48-10-48 ...] [--calibrate-only]

STATUS (branch model-v2, issue 14): a candidate, written to models/candidate/, NOT the embedded
default (models/default/fraudd-default.onnx, made by models/train_default.py, is unchanged and is
the model it is compared with). models/candidate/REPORT.md says whether it meets the issue's
false-positive limit (0.57% of held-back legit rows).

Data: the ULB / Worldline "Credit Card Fraud Detection" legit rows in data/ulb (source, licence and
citation in its README.md). Features: V1..V28 (PCA components) and Amount, 29 in that order.
Splits, the training of one member, the folding of K members into one chain graph, the synthetic
anomalies and the metrics: models/ae_lib.py. The recipe (RECIPE) was chosen on the validation
split by models/tune_default.py (table: models/candidate/TUNING.md); the architecture's cost in
fraudd against its validation AUC: models/cost_sweep.py (models/candidate/COST.md).

Model (--arch KxA-B-C): K members (seeds 1..K), each (x - mean)/std -> Linear 29-A, Tanh -> A-B,
Tanh -> B-C, LeakyReLU(0.01) -> C-29, trained alone on the 3,384 train rows, averaged inside one
network, y*std + mean; preprocessing not in the graph: Amount -> log1p(Amount) (`fraudd.log1p`);
`fraudd.error_weights` = 1/std so the score is the reconstruction error in standard units. ONNX
ops: the same as ulb-ae-1.1.0's.

Threshold, calibrated out of fold, without the test split: the 4,230 dev rows (all but test) are
cut into 5 folds (ae_lib.dev_folds); for each fold the same recipe is trained on the other four
(3,384 rows, as many as the shipped model's train block; the last fold is the shipped model
itself) and scores the fold it did not see. The threshold is the PERCENTILE-th percentile of
these 4,230 out-of-fold scores. PERCENTILE was fixed at 99.5 (ulb-ae-1.1.0's rule; expected
false-positive rate 0.5%, under the issue's 0.57%) before any test number of this calibration
was computed (`--calibrate-only` prints the calibration and reads no test row). The test split
is then scored once. The z-score distance gets the same out-of-fold treatment (its "training" is
a mean and a std).

Determinism: fixed seeds, seeded splits, single-threaded torch with deterministic algorithms;
re-running on the same machine reproduces the file byte for byte. Across machines the BLAS
kernels decide the last bits: Debian's OpenBLAS picks them by CPU; the files here were made with
its SkylakeX (AVX-512) kernels, so `OPENBLAS_CORETYPE=SkylakeX` reproduces them on an AVX-512 CPU
(checked on an AMD EPYC, whose default Zen kernels differ).

Checked on every run (exits non-zero otherwise): the exported ONNX file, run by ONNX Runtime,
reproduces torch's scores (max relative difference <= 1e-4).
"""
import argparse
import hashlib
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ae_lib  # noqa: E402

from ae_lib import DEFAULT_DATA, FEATURES, load_x, ort_terms, scaling  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION = "ulb-ae-1.2.0"  # 1.2: an ensemble of members folded into one graph (1.1: one member)
ARCH = "1x64-12-64"  # K members x hidden widths: the recipe of models/tune_default.py, one member (COST.md)
PERCENTILE = 99.5  # of the out-of-fold dev scores; fixed before the test split was scored
EVAL_SEED, TEST_ANOMALY_SEED = 9, 12
HAND_MARK = "<!-- written by hand below: kept when this script rewrites the report -->"

# ulb-ae-1.1.0's recipe (Adam = AdamW with weight decay 0), the base models/tune_default.py varies
RECIPE_1_1 = {"hidden": (16, 8, 16), "acts": ("tanh", "tanh", "leaky"), "epochs": 150, "lr": 1e-2, "wd": 0.0,
              "noise": 0.0, "batch": 128, "scale": "std"}


def parse_arch(arch):
    """"3x64-12-64" -> (3, (64, 12, 64))."""
    k, hidden = arch.split("x")
    return int(k), tuple(int(v) for v in hidden.split("-"))


def train(x_train, arch, history=None, x_val=None):
    """The recipe with architecture `arch` trained on x_train: (torch model in input space,
    float64 score weights as fraudd reads them back from the metadata)."""
    members, hidden = parse_arch(arch)
    cfg = dict(RECIPE_1_1, hidden=hidden)
    c, s = scaling(x_train, cfg["scale"])
    weights = (1.0 / s.astype(np.float64)).astype(np.float32).astype(np.float64)
    z_train = ((x_train - c) / s).astype(np.float32)
    z_val = None if x_val is None else ((x_val - c) / s).astype(np.float32)
    nets = [ae_lib.train_member(z_train, weights * s, cfg, seed, history if seed == 1 else None, z_val)
            for seed in range(1, members + 1)]
    return ae_lib.Standardised(c, s, ae_lib.fold(nets, 0.0)).eval(), weights


def out_of_fold(dev, p2, arch, last=None):
    """Each dev row's score under the recipe trained without its fold (ae_lib.dev_folds).
    arch None: the z-score distance. last: the already trained model of the last fold."""
    oof = np.empty(len(dev))
    folds = ae_lib.dev_folds(len(dev), p2)
    for i, (tr, held) in enumerate(folds):
        if arch is None:
            m, sd = dev[tr].mean(axis=0).astype(np.float64), dev[tr].std(axis=0).astype(np.float64)
            oof[held] = ae_lib.zscore_distance(dev[held], m, sd)
            continue
        model, w = last if (last is not None and i == len(folds) - 1) else train(dev[tr], arch)
        oof[held] = ae_lib.scores_np(model, dev[held], w)
    return oof


def export(model, weights, x_example, path, threshold):
    """Writes the ONNX file with fraudd's metadata (threshold None: left out)."""
    import onnx  # the venv's onnx (see requirements.txt)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    torch.onnx.export(model, torch.from_numpy(x_example), path, input_names=["features"],
                      output_names=["reconstruction"],
                      dynamic_axes={"features": {0: "batch"}, "reconstruction": {0: "batch"}},
                      opset_version=13, do_constant_folding=True)
    m = onnx.load(path)
    ae_lib.save_onnx(m, path, VERSION, weights, threshold,
                     "fraudd candidate model: autoencoders trained on ULB legit card transactions; "
                     "see models/candidate/REPORT.md")
    return m


def rate(k, n):
    lo, hi = ae_lib.wilson(k, n)
    return f"{100 * k / n:.2f}% ({k} of {n}; 95% Wilson {100 * lo:.2f}% .. {100 * hi:.2f}%)"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--arch", default=ARCH, help="the candidate written to --out: KxA-B-C")
    ap.add_argument("--compare", nargs="*", default=[],
                    help="more architectures, trained and calibrated alike, in the test table only")
    ap.add_argument("--out", default=os.path.join(HERE, "candidate", f"{VERSION}-rc.onnx"))
    ap.add_argument("--report", default=os.path.join(HERE, "candidate", "REPORT.md"))
    ap.add_argument("--previous", default=os.path.join(HERE, "default", "fraudd-default.onnx"),
                    help="the model this one would replace, compared with it in the report")
    ap.add_argument("--calibrate-only", action="store_true",
                    help="print the out-of-fold calibration of --arch and stop (reads no test row)")
    args = ap.parse_args()

    t_start = time.time()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    eval_rng = np.random.RandomState(EVAL_SEED)

    x_all = load_x(args.data)
    dev, x_test, p2 = ae_lib.dev_test(x_all)
    x_train, x_val, _ = ae_lib.splits(x_all)
    history = []
    model, weights = train(x_train, args.arch, history, x_val)
    oof = out_of_fold(dev, p2, args.arch, last=(model, weights))
    threshold = float(np.percentile(oof, PERCENTILE))
    boot = np.percentile(eval_rng.choice(oof, size=(1000, len(oof))), PERCENTILE, axis=1)
    thr_lo, thr_hi = np.percentile(boot, [5, 95])
    n_oof_flag = int(np.sum(oof > threshold))
    print(f"{args.arch}: threshold {threshold:.6g} = {PERCENTILE}th percentile of {len(oof)} out-of-fold "
          f"dev scores (bootstrap 90% {thr_lo:.3g} .. {thr_hi:.3g}); out-of-fold flagged {rate(n_oof_flag, len(oof))}",
          flush=True)
    if args.calibrate_only:
        return
    s_val_torch = ae_lib.scores_np(model, x_val, weights)
    s_test_torch = ae_lib.scores_np(model, x_test, weights)

    # Export, then compute every reported number of this model from the file with ONNX Runtime.
    m = export(model, weights, x_val[:2], args.out, threshold)
    terms, _ = ort_terms(args.out)

    def score(x):
        return terms(x).mean(axis=1)

    s_train, s_val, s_test = score(x_train), score(x_val), score(x_test)
    max_rel = max(float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))
                  for a, b in ((s_val, s_val_torch), (s_test, s_test_torch)))
    if max_rel > 1e-4:
        os.remove(args.out)
        sys.exit(f"exported model disagrees with torch: max relative score difference {max_rel:.3g}")

    # The comparison on the test split: the previous model, the z-score distance, the candidates.
    prev_terms, prev_meta = ort_terms(args.previous)
    an = ae_lib.Anomalies(x_train)
    z_oof = out_of_fold(dev, p2, None)
    zmean, zstd = an.mean, an.std
    contenders = {  # name -> (score function, threshold)
        prev_meta["fraudd.version"]: (lambda x: prev_terms(x).mean(axis=1), float(prev_meta["fraudd.threshold"])),
        "z-score distance": (lambda x: ae_lib.zscore_distance(x, zmean, zstd), float(np.percentile(z_oof, PERCENTILE))),
        f"{args.arch} (this file)": (score, threshold),
    }
    for arch in args.compare:
        cm, cw = train(x_train, arch)
        c_thr = float(np.percentile(out_of_fold(dev, p2, arch, last=(cm, cw)), PERCENTILE))
        contenders[arch] = ((lambda mm, ww: lambda x: ae_lib.scores_np(mm, x, ww))(cm, cw), c_thr)
    names = list(contenders)
    sets = ae_lib.Anomalies(x_train).all(x_test, TEST_ANOMALY_SEED)
    legit = {n: f(x_test) for n, (f, _) in contenders.items()}
    table = []
    for key, xa in sets.items():
        cells = []
        for n, (f, thr) in contenders.items():
            sa = f(xa)
            cells.append((ae_lib.auc(sa, legit[n]), 100 * np.mean(sa > thr)))
        table.append((key, cells))
    fpr = {n: int(np.sum(legit[n] > thr)) for n, (_, thr) in contenders.items()}
    mean_auc = [np.mean([cells[i][0] for _, cells in table]) for i in range(len(contenders))]
    # top_features on the shift3 rows: how often fraudd's 3 largest terms name a moved feature
    xa = sets[("shift3", 6)]
    moved = np.abs(xa - x_test) > 0
    t = terms(xa)
    flagged = t.mean(axis=1) > threshold
    top3 = np.argsort(-t, axis=1, kind="stable")[:, :3]
    explained = 100 * np.mean(np.take_along_axis(moved, top3, axis=1).mean(axis=1)[flagged])

    digest = hashlib.sha256(open(args.out, "rb").read()).hexdigest()[:16]
    ops = sorted({n.op_type for n in m.graph.node})
    F = len(FEATURES)
    members, hid = parse_arch(args.arch)
    arch = " -> ".join(["(x - mean)/std"] + [f"Linear {a}-{b}" + (f", {ae_lib.ACT_NAMES[RECIPE_1_1['acts'][i]]}" if i < len(hid) else "")
                                             for i, (a, b) in enumerate(zip((F, *hid), (*hid, F)))])
    n_params = sum(p.numel() for p in model.net.parameters() if p.dim() == 2)
    curve = ", ".join(f"{e}: {tl:.3f}/{vl:.3f}" for e, tl, vl in history)
    head = "| anomaly kind, strength | " + " | ".join(f"{n} AUC" for n in names) + \
        " | flagged at threshold: " + " / ".join(names) + " |"
    rows = [head, "|---|" + "---:|" * (len(names) + 1)]
    for (kind, k), cells in table:
        best = max(a for a, _ in cells)
        rows.append(f"| {kind} {k:g} | " + " | ".join((f"**{a:.3f}**" if a == best else f"{a:.3f}") for a, _ in cells)
                    + " | " + " / ".join(f"{f:.1f}%" for _, f in cells) + " |")
    rows.append("| mean over the rows above | " + " | ".join(f"{v:.4f}" for v in mean_auc) + " | |")
    rows.append("| legit test rows flagged (FPR at threshold) | " +
                " | ".join(f"{100 * fpr[n] / len(x_test):.2f}% ({fpr[n]} of {len(x_test)})" for n in names) + " | |")
    rows.append("| 95% Wilson interval of that FPR | " + " | ".join(
        "{:.2f}% .. {:.2f}%".format(*(100 * v for v in ae_lib.wilson(fpr[n], len(x_test)))) for n in names) + " | |")
    rows.append("| threshold | " + " | ".join(f"{contenders[n][1]:.6g}" for n in names) + " | |")
    mine = names[2]
    report = f"""# Candidate default model report

Produced by `models/train_candidate.py` (run: `OPENBLAS_CORETYPE=SkylakeX .venv/bin/python
models/train_candidate.py --arch {args.arch}{" --compare " + " ".join(args.compare) if args.compare else ""}`;
deterministic: re-running reproduces the file byte for byte, see the script's docstring for the
BLAS caveat). The recipe was chosen on the validation split by `models/tune_default.py` (its table:
`models/candidate/TUNING.md`), the architectures' cost against validation AUC by
`models/cost_sweep.py` (`models/candidate/COST.md`); the threshold's percentile ({PERCENTILE}) was
fixed before the test split was scored, and the test split was used for no choice.

| | |
|---|---|
| file | `models/candidate/{os.path.basename(args.out)}` ({os.path.getsize(args.out)} bytes, sha256 {digest}...) |
| version | `{VERSION}` (a candidate, NOT the embedded default: compared with `{names[0]}`, `models/default/fraudd-default.onnx`) |
| data | {len(x_all)} legit ULB transactions (`data/ulb/creditcard_legit_train.csv`) |
| split | {len(x_train)} train / {len(x_val)} validation / {len(x_test)} test (models/ae_lib.py: test = the seed-{ae_lib.TEST_SEED} permutation's last 20%, the rows {names[0]} held out; the rest split 80/20 by seed {ae_lib.DEV_SEED}) |
| features | V1..V28, Amount (log1p before the graph: `fraudd.log1p`) |
| architecture | {members} autoencoder{"s" if members > 1 else ""} {arch}, trained alone (seed{f"s 1..{members}" if members > 1 else " 1"}){", folded into one network: the first layers side by side, the inner ones block-diagonal, the last averaged" if members > 1 else ""}; then y*std + mean ({n_params} weights) |
| ONNX ops | {", ".join(ops)} (opset 13, exported by torch {torch.__version__}) |
| training | each member: AdamW lr {RECIPE_1_1['lr']:g} cosine to 0, weight decay {RECIPE_1_1['wd']:g}, {RECIPE_1_1['epochs']} epochs, batch {RECIPE_1_1['batch']}, loss = fraudd's score |
| loss by epoch, member 1 (train/validation) | {curve} |
| final loss | train {s_train.mean():.4f}, validation {s_val.mean():.4f}, test {s_test.mean():.4f} (medians {np.median(s_train):.4f} / {np.median(s_val):.4f} / {np.median(s_test):.4f}) |
| score | mean over the 29 features of ((y - x) / std)^2 (`fraudd.error_weights` = 1/std of the train split) |
| threshold | {threshold:.6g} = {PERCENTILE}th percentile of the {len(oof)} out-of-fold dev scores (5 folds, each model trained on the other 3,384 dev rows with this recipe; the last fold is this file's model) (bootstrap 90% interval {thr_lo:.3g} .. {thr_hi:.3g}) |
| out-of-fold dev rows flagged | {rate(n_oof_flag, len(oof))} (by construction) |
| validation flagged (this model, its own held-out fold) | {100 * np.mean(s_val > threshold):.2f}% |
| **test flagged (false-positive rate)** | **{rate(fpr[mine], len(x_test))}**; the issue's limit is 0.57% (6 of 1058) |
| top_features on shift3 6 | {explained:.0f}% of the flagged rows' 3 named features are moved ones |
| ONNX Runtime vs torch | max relative score difference {max_rel:.2g} (this model's numbers are ONNX Runtime's; the out-of-fold scores and --compare models are torch's) |
| training and calibration time | {time.time() - t_start:.0f} s on this machine (1 thread) |

## Old, no-learning baseline and new, on the test split

ROC-AUC of the score of anomalous rows against the score of the {len(x_test)} legit test rows
(1.0 = every anomaly above every legit row, 0.5 = no better than chance; best in bold), and the
share of anomalous rows flagged at each model's threshold. The anomalies are the test rows moved
(seed {TEST_ANOMALY_SEED}); kinds and strengths are defined in `models/ae_lib.py`: shift3 / spread /
major / minor / fraudlike move a row by the energy of 3 features moved k std (3 chosen
features; 10; along the legit rows' main correlations; against them; along the direction the
legit rows' correlations point to as the fraud direction), amount raises log1p(Amount) by k std,
flip negates k correlated features' deviations, shuffle takes a share k of the features from
other rows (every marginal unchanged). The z-score distance is the mean of the 29 squared
z-scores (train mean and std). Every contender but {names[0]} has its threshold at the
{PERCENTILE}th percentile of its own out-of-fold dev scores.

{chr(10).join(rows)}

How to read it. {names[0]}'s test rows are the rows its threshold was set on, so its FPR here
is in-sample (0.57% by construction); the others set theirs out of fold on the dev rows, so their
FPR on the test rows is an honest estimate. Each flagged row is 0.09% of the test split, so the
intervals are wide: 6 of 1058 (0.57%) and 7 of 1058 (0.66%) cannot be told apart with this many
rows (their 95% intervals overlap almost entirely). The data holds no fraud rows: none of this is
a fraud recall. On real ULB fraud (not in this repository) the issue reports ROC-AUC 0.942 for
{names[0]} and 0.956 for the z-score distance; that cannot be re-measured here.
"""
    cost = os.path.join(HERE, "candidate", "COST.md")
    if os.path.exists(cost):  # models/cost_sweep.py's table
        with open(cost) as f:
            report += "\n## Cost in fraudd against validation AUC\n\n" + f.read().split("\n", 1)[1].lstrip()
    kept = ""  # a hand-written part below HAND_MARK survives a re-run
    if os.path.exists(args.report):
        with open(args.report) as f:
            old = f.read()
        if HAND_MARK in old:
            kept = old[old.index(HAND_MARK):]
    with open(args.report, "w") as f:
        f.write(report + ("\n" + kept if kept else ""))
    print(report)


if __name__ == "__main__":
    main()
