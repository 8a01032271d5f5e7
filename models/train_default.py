"""Trains fraudd's default model, ulb-ae-1.2.0: an autoencoder on real card transactions.

    OPENBLAS_CORETYPE=SkylakeX .venv/bin/python models/train_default.py [--previous FILE]

Writes models/default/fraudd-default.onnx (embedded into fraudd by src/model/default_model.S)
and models/default/REPORT.md (its numbers, compared with ulb-ae-1.1.0 and the z-score distance;
a hand-written part below the report's HAND_MARK line is kept on a re-run). The previous
default, ulb-ae-1.1.0, is made by models/train_1_1_0.py; this script trains it again in a
temporary file for the comparison unless --previous names a file.

Data: the ULB / Worldline "Credit Card Fraud Detection" legit rows in data/ulb (source, licence and
citation in its README.md). Features: V1..V28 (PCA components) and Amount, 29 in that order.
Splits, the training of one member, the folding of K members into one chain graph, the synthetic
anomalies and the metrics: models/ae_lib.py. The recipe (RECIPE_1_1 with ARCH's widths) was
chosen on the validation split by models/tune_default.py (table: models/default/TUNING.md); the
architecture's cost in fraudd against its validation AUC: models/cost_sweep.py
(models/default/COST.md).

Model (ARCH = KxA-B-C): K members (seeds 1..K), each (x - mean)/std -> Linear 29-A, Tanh -> A-B,
Tanh -> B-C, LeakyReLU(0.01) -> C-29, trained alone on the 3,384 train rows, averaged inside one
network, y*std + mean; preprocessing not in the graph: Amount -> log1p(Amount) (`fraudd.log1p`);
`fraudd.error_weights` = 1/std so the score is the reconstruction error in standard units. ONNX
ops: the same as ulb-ae-1.1.0's. ulb-ae-1.2.0 is one member of 64-12-64.

Threshold, from the dev rows only (never the test split): the 4,230 dev rows (all but test) are
cut into 5 folds (ae_lib.dev_folds); for each fold the recipe is trained on the other four
(3,384 rows, as many as the shipped model's train block; the last fold is the shipped model
itself) and scores the fold it did not see. The threshold is a percentile q of these 4,230
out-of-fold scores, q chosen by choose_percentile(): the dev -> held-out transfer is simulated
five times (the q-th percentile of four folds' out-of-fold scores, the false-positive rate on the
fifth), and q is the lowest of GRID whose five rates have mean + 1 standard deviation <= the
issue's limit, FPR_LIMIT. The z-score distance gets the same treatment (its "training" is a mean
and a std). The test split is then scored once, for the report. The whole procedure (procedure()) is
measured on all 5,288 legit rows, against ulb-ae-1.1.0's, by models/nested_cv.py.

fraudd.score_histogram (docs/MODEL_FORMAT.md): the deciles of the shipped file's scores (ONNX
Runtime, fraudd's formula) of the 846 validation rows, the rows it was not trained on, and the
count in each bin: the reference fraudd's drift metric compares live scores with.

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
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ae_lib  # noqa: E402

from ae_lib import DEFAULT_DATA, FEATURES, load_ulb, load_x, ort_terms, scaling  # noqa: E402,F401 (make_fixtures: FEATURES, load_ulb)

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION = "ulb-ae-1.2.0"  # 1.2: 64-12-64, trained on 3,384 rows, out-of-fold threshold (1.1: 16-8-16)
ARCH = "1x64-12-64"  # K members x hidden widths: the recipe of models/tune_default.py, one member (COST.md)
FPR_LIMIT = 0.0057  # issue 14: no worse than ulb-ae-1.1.0's 0.57% of held-back legit rows
GRID = tuple(round(99.5 + 0.05 * i, 2) for i in range(10))  # percentiles tried by choose_percentile()
# models/nested_cv.py's result (its table is in REPORT.md's hand part), not recomputed here: rows
# flagged over all NESTED_ROWS legit rows by each procedure's threshold, each outer fold held back
NESTED_ROWS, NESTED = 5288, {"ulb-ae-1.2.0": 18, "ulb-ae-1.1.0": 19}
PERCENTILE_RC = 99.5  # the release candidate's percentile (over the limit on the test split), reported
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


def procedure(dev, p2, history=None):
    """The whole procedure on the dev rows (the docstring's training and threshold rule): the model
    trained on the first int(0.8 n) rows of the permutation p2, the out-of-fold scores of the dev
    rows, the percentile q choose_percentile() picks and the threshold, that percentile of the
    out-of-fold scores. Returns (model, weights, threshold, q, out-of-fold scores, rule rows).
    models/nested_cv.py runs it on other row sets."""
    n_train = int(0.8 * len(dev))
    x_train, x_val = dev[p2[:n_train]], dev[p2[n_train:]]
    model, weights = train(x_train, ARCH, history, x_val)
    oof = out_of_fold(dev, p2, ARCH, last=(model, weights))
    q, rule_rows = choose_percentile(oof, ae_lib.dev_folds(len(dev), p2))
    if q is None:
        sys.exit(f"no percentile of {GRID[0]}..{GRID[-1]} meets the threshold rule")
    return model, weights, float(np.percentile(oof, q)), q, oof, rule_rows


def export(model, weights, x_example, path, threshold, extra=None):
    """Writes the ONNX file with fraudd's metadata (threshold None: left out; extra: more keys)."""
    import onnx  # the venv's onnx (see requirements.txt)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    torch.onnx.export(model, torch.from_numpy(x_example), path, input_names=["features"],
                      output_names=["reconstruction"],
                      dynamic_axes={"features": {0: "batch"}, "reconstruction": {0: "batch"}},
                      opset_version=13, do_constant_folding=True)
    m = onnx.load(path)
    ae_lib.save_onnx(m, path, VERSION, weights, threshold,
                     "fraudd default model: autoencoder trained on ULB legit card transactions; "
                     "see models/default/REPORT.md", extra)
    return m


def rate(k, n):
    lo, hi = ae_lib.wilson(k, n)
    return f"{100 * k / n:.2f}% ({k} of {n}; 95% Wilson {100 * lo:.2f}% .. {100 * hi:.2f}%)"


def choose_percentile(oof, folds):
    """The threshold rule (see the docstring): (q, rows), q the lowest of GRID whose simulated
    dev -> held-out false-positive rates have mean + 1 sample standard deviation <= FPR_LIMIT
    (None if no q of GRID does), rows = (q, flagged count per fold, mean, sd, passes) for the
    report. Reads only the out-of-fold dev scores."""
    rows, chosen = [], None
    for q in GRID:
        counts = [int(np.sum(oof[held] > np.percentile(oof[np.setdiff1d(np.arange(len(oof)), held)], q)))
                  for _, held in folds]
        rates = np.array(counts) / np.array([len(h) for _, h in folds])
        mean, sd = float(rates.mean()), float(rates.std(ddof=1))
        ok = mean + sd <= FPR_LIMIT
        rows.append((q, counts, mean, sd, ok))
        if ok and chosen is None:
            chosen = q
    return chosen, rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--out", default=os.path.join(HERE, "default", "fraudd-default.onnx"))
    ap.add_argument("--report", default=os.path.join(HERE, "default", "REPORT.md"))
    ap.add_argument("--previous", default=None,
                    help="the model this one replaces, compared with it in the report (default: "
                         "ulb-ae-1.1.0 trained again by models/train_1_1_0.py in a temporary file)")
    ap.add_argument("--calibrate-only", action="store_true",
                    help="print the out-of-fold calibration and stop (reads no test row)")
    args = ap.parse_args()

    t_start = time.time()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    eval_rng = np.random.RandomState(EVAL_SEED)

    x_all = load_x(args.data)
    dev, x_test, p2 = ae_lib.dev_test(x_all)
    x_train, x_val, _ = ae_lib.splits(x_all)
    folds = ae_lib.dev_folds(len(dev), p2)
    history = []
    model, weights, threshold, q, oof, rule_rows = procedure(dev, p2, history)
    threshold_rc = float(np.percentile(oof, PERCENTILE_RC))
    boot = np.percentile(eval_rng.choice(oof, size=(1000, len(oof))), q, axis=1)
    thr_lo, thr_hi = np.percentile(boot, [5, 95])
    n_oof_flag = int(np.sum(oof > threshold))
    print(f"{ARCH}: threshold {threshold:.6g} = {q}th percentile of {len(oof)} out-of-fold dev scores "
          f"(bootstrap 90% {thr_lo:.3g} .. {thr_hi:.3g}); out-of-fold flagged {rate(n_oof_flag, len(oof))}",
          flush=True)
    if args.calibrate_only:
        for r in rule_rows:
            print(r)
        return
    s_val_torch = ae_lib.scores_np(model, x_val, weights)
    s_test_torch = ae_lib.scores_np(model, x_test, weights)

    # Export; the score histogram comes from the exported file's own (ONNX Runtime) scores of the
    # validation rows, then every reported number of this model is the final file's.
    tmp = args.out + ".tmp"
    export(model, weights, x_val[:2], tmp, threshold)
    terms, _ = ort_terms(tmp)
    source = (f"{VERSION} scores (ONNX Runtime, fraudd's formula) of the {len(x_val)} validation rows "
              "of models/ae_lib.py's split: legit ULB rows the model was not trained on")
    hist = ae_lib.score_histogram(terms(x_val).mean(axis=1), source)
    os.remove(tmp)
    m = export(model, weights, x_val[:2], args.out, threshold, {"fraudd.score_histogram": hist})
    terms, meta = ort_terms(args.out)
    assert meta["fraudd.score_histogram"] == hist

    def score(x):
        return terms(x).mean(axis=1)

    s_train, s_val, s_test = score(x_train), score(x_val), score(x_test)
    max_rel = max(float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))
                  for a, b in ((s_val, s_val_torch), (s_test, s_test_torch)))
    if max_rel > 1e-4:
        os.remove(args.out)
        sys.exit(f"exported model disagrees with torch: max relative score difference {max_rel:.3g}")

    # The comparison on the test split: the previous model, the z-score distance, this model.
    tmpdir = None
    prev_path = args.previous
    if prev_path is None:
        import tempfile
        import train_1_1_0
        tmpdir = tempfile.mkdtemp(prefix="fraudd-train-")
        prev_path = os.path.join(tmpdir, "ulb-ae-1.1.0.onnx")
        train_1_1_0.build(train_1_1_0.parser().parse_args(["--data", args.data, "--out", prev_path, "--quiet"]))
    prev_digest = hashlib.sha256(open(prev_path, "rb").read()).hexdigest()
    prev_terms, prev_meta = ort_terms(prev_path)
    if tmpdir:
        os.remove(prev_path)
        os.rmdir(tmpdir)
    an = ae_lib.Anomalies(x_train)
    z_oof = out_of_fold(dev, p2, None)
    z_q, _ = choose_percentile(z_oof, folds)
    zmean, zstd = an.mean, an.std
    prev_name = prev_meta["fraudd.version"]
    contenders = {  # name -> (score function, threshold)
        prev_name: (lambda x: prev_terms(x).mean(axis=1), float(prev_meta["fraudd.threshold"])),
        "z-score distance": (lambda x: ae_lib.zscore_distance(x, zmean, zstd), float(np.percentile(z_oof, z_q))),
        VERSION: (score, threshold),
    }
    names = list(contenders)
    sets = an.all(x_test, TEST_ANOMALY_SEED)
    legit = {n: f(x_test) for n, (f, _) in contenders.items()}
    table = []
    for key, xa in sets.items():
        cells, sa_mine = [], None
        for n, (f, thr) in contenders.items():
            sa = f(xa)
            cells.append((ae_lib.auc(sa, legit[n]), 100 * np.mean(sa > thr)))
            sa_mine = sa
        table.append((key, cells, 100 * np.mean(sa_mine > threshold_rc)))
    fpr = {n: int(np.sum(legit[n] > thr)) for n, (_, thr) in contenders.items()}
    fpr_rc = int(np.sum(legit[VERSION] > threshold_rc))
    mean_auc = [np.mean([cells[i][0] for _, cells, _ in table]) for i in range(len(contenders))]
    mean_flag = [np.mean([cells[i][1] for _, cells, _ in table]) for i in range(len(contenders))]
    mean_flag_rc = np.mean([r for _, _, r in table])
    # top_features on the shift3 rows: how often fraudd's 3 largest terms name a moved feature
    xa = sets[("shift3", 6)]
    moved = np.abs(xa - x_test) > 0
    t = terms(xa)
    flagged = t.mean(axis=1) > threshold
    top3 = np.argsort(-t, axis=1, kind="stable")[:, :3]
    explained = 100 * np.mean(np.take_along_axis(moved, top3, axis=1).mean(axis=1)[flagged])

    digest = hashlib.sha256(open(args.out, "rb").read()).hexdigest()
    ops = sorted({n.op_type for n in m.graph.node})
    F = len(FEATURES)
    members, hid = parse_arch(ARCH)
    arch = " -> ".join(["(x - mean)/std"] + [f"Linear {a}-{b}" + (f", {ae_lib.ACT_NAMES[RECIPE_1_1['acts'][i]]}" if i < len(hid) else "")
                                             for i, (a, b) in enumerate(zip((F, *hid), (*hid, F)))])
    n_params = sum(p.numel() for p in model.net.parameters() if p.dim() == 2)
    curve = ", ".join(f"{e}: {tl:.3f}/{vl:.3f}" for e, tl, vl in history)
    n_test = len(x_test)
    head = "| anomaly kind, strength | " + " | ".join(f"{n} AUC" for n in names) + \
        " | flagged at threshold: " + " / ".join(names) + f" | {VERSION} flagged at the rc's threshold {threshold_rc:.6g} |"
    rows = [head, "|---|" + "---:|" * (len(names) + 2)]
    for (kind, k), cells, rc in table:
        best = max(a for a, _ in cells)
        rows.append(f"| {kind} {k:g} | " + " | ".join((f"**{a:.3f}**" if a == best else f"{a:.3f}") for a, _ in cells)
                    + " | " + " / ".join(f"{f:.1f}%" for _, f in cells) + f" | {rc:.1f}% |")
    rows.append("| mean over the rows above | " + " | ".join(f"{v:.4f}" for v in mean_auc) + " | "
                + " / ".join(f"{v:.1f}%" for v in mean_flag) + f" | {mean_flag_rc:.1f}% |")
    rows.append("| legit test rows flagged (FPR at threshold) | " + " | ".join("" for _ in names) + " | " +
                " / ".join(f"{100 * fpr[n] / n_test:.2f}% ({fpr[n]} of {n_test})" for n in names)
                + f" | {100 * fpr_rc / n_test:.2f}% ({fpr_rc} of {n_test}) |")
    rows.append("| 95% Wilson interval of that FPR | " + " | ".join("" for _ in names) + " | " + " / ".join(
        "{:.2f}% .. {:.2f}%".format(*(100 * v for v in ae_lib.wilson(fpr[n], n_test))) for n in names)
        + " | {:.2f}% .. {:.2f}% |".format(*(100 * v for v in ae_lib.wilson(fpr_rc, n_test))))
    rows.append("| threshold | " + " | ".join("" for _ in names) + " | " +
                " / ".join(f"{contenders[n][1]:.6g}" for n in names) + f" | {threshold_rc:.6g} |")
    rule = ["| percentile q of the out-of-fold scores | held-out rows flagged, fold 1..5 (of 846) | mean | sd | mean + sd <= 0.57% | threshold on all 4,230 |",
            "|---:|---|---:|---:|---|---:|"]
    for rq, counts, mean, sd, ok in rule_rows:
        mark = "**" if rq == q else ""
        rule.append(f"| {mark}{rq:.2f}{mark} | {', '.join(map(str, counts))} | {100 * mean:.2f}% | {100 * sd:.2f}% | "
                    f"{'yes' if ok else 'no'} ({100 * (mean + sd):.2f}%) | {np.percentile(oof, rq):.6g} |")
    h = json.loads(hist)
    limit_rows = int(FPR_LIMIT * n_test)
    over = fpr[VERSION] - limit_rows
    verdict = "met" if over <= 0 else (f"over by {over} row{'s' if over > 1 else ''} on this split alone, too few rows "
                                       "to tell; the decision is the nested figure above")
    nested_new, nested_old = NESTED[VERSION], NESTED[prev_name]
    report = f"""# Default model report

Produced by `models/train_default.py`:

    OPENBLAS_CORETYPE=SkylakeX .venv/bin/python models/train_default.py

Byte-reproducible: run it twice and compare, `sha256sum models/default/fraudd-default.onnx`
must print the same digest as below both times (and `git status` shows no change to the .onnx
file). Across CPUs the BLAS kernels decide the last bits; `OPENBLAS_CORETYPE=SkylakeX` selects
the AVX-512 kernels the committed file was made with (see the script's docstring). The previous
default, {prev_name}, is reproduced byte for byte by `OPENBLAS_CORETYPE=SkylakeX .venv/bin/python
models/train_1_1_0.py` (sha256 {prev_digest[:16]}..., the file compared below; it is also the
file `git show 03ccd8f:models/default/fraudd-default.onnx` prints). The recipe was chosen on the
validation split by `models/tune_default.py` (table: [TUNING.md](TUNING.md)), the architecture on
its cost in fraudd against validation AUC by `models/cost_sweep.py` (table: [COST.md](COST.md)).

| | |
|---|---|
| file | `models/default/fraudd-default.onnx` ({os.path.getsize(args.out)} bytes) |
| sha256 | `{digest}` |
| version | `{VERSION}` (replaces `{prev_name}`) |
| data | {len(x_all)} legit ULB transactions (`data/ulb/creditcard_legit_train.csv`) |
| split | {len(x_train)} train / {len(x_val)} validation / {n_test} test (models/ae_lib.py: test = the seed-{ae_lib.TEST_SEED} permutation's last 20%, the rows {prev_name} held out; the rest, the dev rows, split 80/20 by seed {ae_lib.DEV_SEED}) |
| features | V1..V28, Amount (log1p before the graph: `fraudd.log1p`) |
| architecture | {members} autoencoder{"s" if members > 1 else ""} {arch} (seed{f"s 1..{members}" if members > 1 else " 1"}), then y*std + mean ({n_params} weights; {prev_name}: 1184) |
| ONNX ops | {", ".join(ops)} (opset 13, exported by torch {torch.__version__}) |
| training | AdamW lr {RECIPE_1_1['lr']:g} cosine to 0, weight decay {RECIPE_1_1['wd']:g}, {RECIPE_1_1['epochs']} epochs, batch {RECIPE_1_1['batch']}, loss = fraudd's score |
| loss by epoch (train/validation) | {curve} |
| final loss | train {s_train.mean():.4f}, validation {s_val.mean():.4f}, test {s_test.mean():.4f} (medians {np.median(s_train):.4f} / {np.median(s_val):.4f} / {np.median(s_test):.4f}) |
| score | mean over the 29 features of ((y - x) / std)^2 (`fraudd.error_weights` = 1/std of the train split) |
| threshold | {threshold:.6g} = {q}th percentile of the {len(oof)} out-of-fold dev scores (rule below; bootstrap 90% interval {thr_lo:.3g} .. {thr_hi:.3g}) |
| out-of-fold dev rows flagged | {rate(n_oof_flag, len(oof))} |
| validation flagged (this model, its own held-out fold) | {100 * np.mean(s_val > threshold):.2f}% |
| **held-back false-positive rate of the procedure (nested 5-fold CV over all {NESTED_ROWS} legit rows: the decision)** | **{rate(nested_new, NESTED_ROWS)}**; {prev_name}'s procedure {rate(nested_old, NESTED_ROWS)}; the rule (within {100 * FPR_LIMIT:.2f}% and at most 1 row per 1,058 above {prev_name}'s) is {"met: it ships" if nested_new / NESTED_ROWS <= FPR_LIMIT and (nested_new - nested_old) / NESTED_ROWS <= 1 / 1058 else "NOT met"} (`models/nested_cv.py`; its table is in the hand-written part below) |
| test flagged (false-positive rate on the test split alone, outer fold 5 of the above) | **{rate(fpr[VERSION], n_test)}**; the issue's limit is {100 * FPR_LIMIT:.2f}% ({limit_rows} of {n_test}): {verdict} |
| ... at the rc's threshold ({PERCENTILE_RC}th percentile, {threshold_rc:.6g}) | {rate(fpr_rc, n_test)} |
| `fraudd.score_histogram` | edges {", ".join(f"{e:.4g}" for e in h["edges"])}; counts {", ".join(map(str, h["counts"]))} ({h["source"]}) |
| top_features on shift3 6 | {explained:.0f}% of the flagged rows' 3 named features are moved ones |
| ONNX Runtime vs torch | max relative score difference {max_rel:.2g} (this model's numbers are ONNX Runtime's; the out-of-fold scores are torch's) |
| training, calibration and comparison time | {time.time() - t_start:.0f} s on this machine (1 thread) |

## The threshold rule (dev rows only)

The issue asks for a false-positive rate on held-back legit rows no worse than {prev_name}'s
0.57%. The percentile of the out-of-fold dev scores is chosen on the dev rows alone by
simulating the dev -> held-out transfer five times: for each fold, the threshold is the q-th
percentile of the other four folds' out-of-fold scores and the fold's 846 rows are the held-out
rows. The fold-to-fold spread of those rates is the margin: q is the lowest percentile of the
grid whose five rates have mean + 1 standard deviation <= 0.57%, so a held-out set like one fold
stays under the limit about five times in six (if the rates were normal). Lower q flags more
anomalies; higher q fewer legit rows.

{chr(10).join(rule)}

**The test split is not clean any more, and this says how.** The {n_test} test rows were
scored before this rule existed: for an earlier 3x64-12-64 candidate (at the 99.5th, 99.7th
and 99.8th percentiles of its validation scores: 0.95%, 0.76%, 0.66%), and once for this very
graph (the release candidate, the same bytes but for the threshold and the new metadata key) at
the 99.5th percentile of the out-of-fold scores (threshold {threshold_rc:.6g}: {fpr_rc} of
{n_test} flagged, over the limit; the rc's report also scored 3x64-12-64 and 1x48-10-48 at that
rule: 7 and 6). So it was known that a threshold above {threshold_rc:.4g} was
needed. The rule above was then fixed from the dev rows alone (the table) before the test split
was scored with it, and the test rate reported here is the one measurement of it; no other
percentile was scored on the test split. It is still a weaker estimate than a first look would
be, and the intervals are wide: each test row is {100 / n_test:.2f}%.

## Old, no-learning baseline and new, on the test split

ROC-AUC of the score of anomalous rows against the score of the {n_test} legit test rows
(1.0 = every anomaly above every legit row, 0.5 = no better than chance; best in bold), and the
share of anomalous rows flagged at each model's threshold; the last column is {VERSION} at the
threshold the rc used ({PERCENTILE_RC}th percentile, flagging {fpr_rc} test rows), to show what
the higher threshold costs. The anomalies are the test rows moved (seed {TEST_ANOMALY_SEED}); kinds
and strengths are defined in `models/ae_lib.py`: shift3 / spread / major / minor / fraudlike move a
row by the energy of 3 features moved k std (3 chosen features; 10; along the legit rows' main
correlations; against them; along the direction the legit rows' correlations point to as the
fraud direction), amount raises log1p(Amount) by k std, flip negates k correlated features'
deviations, shuffle takes a share k of the features from other rows (every marginal unchanged).
The z-score distance is the mean of the 29 squared z-scores (train mean and std), with its
threshold by the same rule (the {z_q}th percentile of its out-of-fold scores).

{chr(10).join(rows)}

How to read it. {prev_name}'s test rows are the rows its threshold was set on, so its FPR here
is in-sample (0.57% by construction); {VERSION} and the z-score distance set theirs on the dev
rows. 6 of 1058 (0.57%) has a 95% interval of 0.26% .. 1.23%: with this many rows no model can
be shown to be under 0.57%, only not over it. The data holds no fraud rows: none of this is a
fraud recall. On real ULB fraud (not in this repository) the issue reports ROC-AUC 0.942 for
{prev_name} and 0.956 for the z-score distance; that cannot be re-measured here.
"""
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
