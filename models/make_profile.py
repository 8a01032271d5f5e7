"""Writes src/gen/ulb_profile.c, the sample generator's data, from the ULB rows in data/ulb.

    /usr/bin/python3 models/make_profile.py [--data data/ulb/creditcard_legit_train.csv]
                                           [--out src/gen/ulb_profile.c]

Needs only numpy (the system python3's numpy 1.24 is enough). The generated file holds:

  * the generator's rows: the 1,058 legit rows of the test split of models/ae_lib.py (the last 20%
    of the seed-7 permutation of the 5,288 rows), V1..V28 as float32 and Amount in cents, in the
    file's order. A normal generated record is one of them, picked uniformly at random
    (src/gen/gen.c). They are real transactions that no shipped model was trained on: neither
    the default ulb-ae-1.2.0 (trained on 3,384 rows of the other 80%, its threshold and
    fraudd.score_histogram from the other 80% too) nor ulb-ae-1.1.0 (trained on the other 80%),
    so the default scores generated traffic as it scores real held-out data. The validation
    rows (846) are left out on purpose: the default's fraudd.score_histogram is made of their
    scores, so generating them would check the drift metric against its own reference.
  * summary statistics of all 5,288 rows over [V1..V28, log1p(Amount)]: mean and standard
    deviation (n - 1); the generator moves features by multiples of the standard deviation
    (anomalies, --shift). And the range of Time.

The split is recomputed here (numpy's RandomState(7).permutation is stable across versions);
when models/ae_lib.py can be imported (the .venv, with torch), the rows are checked to be its
test split.

The CSV's header names 31 columns (Time, V1..V28, Amount, Class) but every data row has 32
fields: one extra, unnamed trailing column. Columns are therefore matched by header position
from the left, the extra trailing field is checked to hold nothing but zeros and is ignored,
and any other row shape is refused.

Output is deterministic and uses no BLAS (element-wise numpy reductions only): the same data
gives a byte-identical file on any machine; tests/cli/test_gen_profile.sh checks the committed
file against a fresh run. Doubles are written with repr() (the shortest text that reads back to
the same double), the rows' V values as the shortest text that reads back to the same float32.
"""
import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
V_NAMES = [f"V{i}" for i in range(1, 29)]
DIM = 29  # V1..V28, log1p(Amount)
TEST_SEED = 7  # models/ae_lib.py: TEST_SEED, dev_test()


def load(path):
    with open(path) as f:
        header = f.readline().strip().split(",")
        rows = [line.rstrip("\r\n").split(",") for line in f if line.strip()]
    need = ["Time"] + V_NAMES + ["Amount", "Class"]
    missing = [n for n in need if n not in header]
    if missing:
        sys.exit(f"{path}: header lacks {missing}")
    widths = {len(r) for r in rows}
    if widths - {len(header), len(header) + 1}:
        sys.exit(f"{path}: rows have {sorted(widths)} fields, header {len(header)}")
    extra = [r[len(header)] for r in rows if len(r) == len(header) + 1]
    if extra and any(float(e) != 0 for e in extra):
        sys.exit(f"{path}: the unnamed extra trailing column is not all zeros; check the column alignment")
    if any(float(r[header.index("Class")]) != 0 for r in rows):
        sys.exit(f"{path}: a row is not legit (Class != 0)")
    cols = [header.index(n) for n in need[:-1]]
    d = np.array([[float(r[c]) for c in cols] for r in rows], dtype=np.float64)
    amount_text = [r[header.index("Amount")] for r in rows]
    return d, amount_text, len(extra)


def cents(text):
    """Amount text ("149.62", "2.0", "0") -> integer cents, refusing more than two decimals."""
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0")
    if len(frac) > 2 or not whole.isdigit() or (frac and not frac.isdigit()):
        sys.exit(f"Amount {text!r} is not a non-negative amount in cents")
    return int(whole) * 100 + int((frac + "00")[:2])


def f32_text(v):
    """The shortest decimal text that reads back (strtof, or a C float literal) to float32(v)."""
    f = np.float32(v)
    t = np.format_float_positional(f, unique=True, trim="-")
    if len(t) > 12:
        t = np.format_float_scientific(f, unique=True, trim="-")
    assert np.float32(float(t)) == f, (v, t)
    return t


def test_rows(n):
    """Indices (into the file's rows) of models/ae_lib.py's test split, in increasing order."""
    perm = np.random.RandomState(TEST_SEED).permutation(n)
    return np.sort(perm[int(0.8 * n):])


def check_against_ae_lib(path, x, idx):
    """When models/ae_lib.py imports (torch present), its test split must be exactly these rows."""
    sys.path.insert(0, HERE)
    try:
        import ae_lib
    except ImportError:
        return "not checked against models/ae_lib.py (no torch here)"
    _, _, test = ae_lib.splits(ae_lib.load_x(path))
    mine = x[idx].astype(np.float32)
    order = lambda a: a[np.lexsort(a.T[::-1])]
    if test.shape != mine.shape or not np.array_equal(order(test), order(mine)):
        sys.exit("the rows picked here are not models/ae_lib.py's test split")
    return "the same rows as models/ae_lib.py's test split"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(REPO, "data", "ulb", "creditcard_legit_train.csv"))
    ap.add_argument("--out", default=os.path.join(REPO, "src", "gen", "ulb_profile.c"))
    args = ap.parse_args()

    d, amount_text, n_extra = load(args.data)
    time = d[:, 0]
    x = d[:, 1:].copy()
    if (x[:, 28] < 0).any():
        sys.exit("negative Amount in the data")
    x[:, 28] = np.log1p(x[:, 28])
    mean = x.mean(axis=0)
    std = x.std(axis=0, ddof=1)
    idx = test_rows(len(x))
    checked = check_against_ae_lib(args.data, x, idx)
    row_cents = [cents(amount_text[i]) for i in idx]
    if max(row_cents) >= 2**32:
        sys.exit("an amount does not fit 32 bits of cents")

    def nums(v, per_line=4):
        t = [repr(float(a)) for a in v]
        return ",\n    ".join(", ".join(t[i:i + per_line]) for i in range(0, len(t), per_line))

    names = V_NAMES + ["Amount"]
    names_text = ",\n    ".join(", ".join(f'"{n}"' for n in names[k:k + 10]) for k in range(0, DIM, 10))
    # one row per line; the comment names the row's line in the csv (the header is line 1)
    rows_text = "\n".join(
        f"    {{{{{', '.join(f32_text(v) + 'f' for v in d[i, 1:29])}}}, {c}u}}, /* line {i + 2} */"
        for i, c in zip(idx, row_cents))

    with open(args.out, "w") as f:
        f.write(f"""/* GENERATED by models/make_profile.py - do not edit; re-run:
 *     /usr/bin/python3 models/make_profile.py
 * Source: data/ulb/creditcard_legit_train.csv, {len(x)} legit ULB card transactions
 * ({n_extra} rows carry an unnamed all-zero trailing column, ignored).
 *
 * What: the sample generator's data (src/gen/gen.c).
 *   - fr__ulb_rows: {len(idx)} rows of the file, models/ae_lib.py's test split (the last 20% of
 *     the seed-7 permutation): legit rows no shipped model was trained on, so the default
 *     scores generated traffic as real held-out data (not the validation split as well: the
 *     default's fraudd.score_histogram is made of its scores). V1..V28 as float32, Amount in
 *     cents, in the file's order; a normal generated record is one of them, picked uniformly.
 *   - mean and standard deviation (n - 1) of [V1..V28, log1p(Amount)] over all {len(x)} rows
 *     (anomalies and --shift move features by multiples of it), and the range of Time (seconds).
 * Threads: constant data, read-only.
 */
#include "gen/ulb_profile.h"

const char *const fr__ulb_names[FR__ULB_DIM] = {{
    {names_text}}};

const double fr__ulb_mean[FR__ULB_DIM] = {{
    {nums(mean)}}};

const double fr__ulb_std[FR__ULB_DIM] = {{
    {nums(std)}}};

const double fr__ulb_time_min = {float(time.min())!r};
const double fr__ulb_time_max = {float(time.max())!r};
const double fr__ulb_time_span = {float(time.max() - time.min())!r};

const size_t fr__ulb_nrows = {len(idx)};

const fr__ulb_row fr__ulb_rows[{len(idx)}] = {{
{rows_text}
}};
""")
    print(f"wrote {args.out}: {len(idx)} of {len(x)} rows ({checked}), amounts {min(row_cents) / 100:g}.."
          f"{max(row_cents) / 100:g}; statistics of all {len(x)} rows ({n_extra} with the extra trailing "
          f"column), log1p(Amount) mean {mean[28]:.3f} std {std[28]:.3f}, Time {time.min():g}..{time.max():g}")


if __name__ == "__main__":
    main()
