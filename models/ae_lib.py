"""Shared by models/train_default.py (the shipped ulb-ae-1.2.0), models/train_1_1_0.py (the
previous default, ulb-ae-1.1.0), models/tune_default.py and models/cost_sweep.py: loading the
ULB rows, data splits, training of the autoencoder members, folding K members (and the shrink toward the mean) into one chain network,
the synthetic anomalies and the rank metrics. Everything is seeded; nothing here reads a clock.

Splits (all from the 5,288 legit ULB rows, Amount already log1p):
  * test (1,058 rows): the seed-7 permutation's last 20%, exactly the rows ulb-ae-1.1.0 held
    out, so neither the old nor a new model ever trained on them. Used for the report only:
    never for a choice (hyper-parameters, epochs, threshold).
  * dev (4,230 rows, the rest) split again by a seed-8 permutation: train (80%, 3,384 rows) and
    validation (846 rows): early choices, hyper-parameters and the threshold come from validation.
"""
import json
import os
import sys

import numpy as np
import torch
from torch import nn

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = os.path.join(REPO, "data", "ulb", "creditcard_legit_train.csv")
FEATURES = [f"V{i}" for i in range(1, 29)] + ["Amount"]
TEST_SEED, DEV_SEED = 7, 8


def load_ulb(path=DEFAULT_DATA, features=FEATURES):
    """Returns the float64 matrix of `features` (Amount still raw) from the ULB csv.

    The header names 31 columns (Time, V1..V28, Amount, Class) but every data row has 32 fields:
    one extra, unnamed trailing column. Columns are matched by header position from the left;
    the layout is checked (the extra field and Class hold only 0, Time never decreases) so a
    shifted or differently shaped file is refused instead of being read into the wrong columns."""
    with open(path) as f:
        header = f.readline().strip().split(",")
    need = set(features) | {"Time", "Class"}
    if not need <= set(header):
        sys.exit(f"{path}: header lacks {sorted(need - set(header))}")
    data = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    if data.shape[1] not in (len(header), len(header) + 1):
        sys.exit(f"{path}: rows have {data.shape[1]} fields, header {len(header)}")
    extra_ok = data.shape[1] == len(header) or np.all(data[:, -1] == 0)
    if not (extra_ok and np.all(data[:, header.index("Class")] == 0)
            and np.all(np.diff(data[:, header.index("Time")]) >= 0)):
        sys.exit(f"{path}: unexpected layout (Class / trailing field not all 0, or Time decreasing)")
    return data[:, [header.index(n) for n in features]]


def load_x(path=DEFAULT_DATA):
    x = load_ulb(path)
    x[:, 28] = np.log1p(x[:, 28])  # fraudd.log1p: Amount
    return x.astype(np.float32)


def scaling(x, kind):
    """The in-graph standardisation (centre, scale) of the training rows: mean and std, or median
    and IQR / 1.349 (the std of a normal with that IQR)."""
    if kind == "std":
        c, s = x.mean(axis=0), x.std(axis=0)
    else:
        q1, med, q3 = np.percentile(x, [25, 50, 75], axis=0)
        c, s = med, (q3 - q1) / 1.349
    s = np.where(s < 1e-6, 1.0, s)
    return c.astype(np.float32), s.astype(np.float32)


def fraudd_terms(x, y, weights):
    """The per-feature terms (w_i * (y_i - x_i))^2 of fraudd's autoencoder score, in float64."""
    d = (y.astype(np.float64) - x.astype(np.float64)) * weights
    return d * d


def ort_terms(path):
    """A function rows -> fraudd's per-feature score terms under the ONNX file at `path` (ONNX
    Runtime, its own fraudd.error_weights), and the file's metadata."""
    import onnx
    import onnxruntime as ort
    meta = {p.key: p.value for p in onnx.load(path).metadata_props}
    w = np.array(json.loads(meta["fraudd.error_weights"]), dtype=np.float32).astype(np.float64)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return (lambda x: fraudd_terms(x, sess.run(None, {"features": x})[0], w)), meta




def save_onnx(m, path, version, weights, threshold, doc, extra=None):
    """Adds fraudd's metadata to the ONNX model m (the features, the threshold unless None, the
    version, log1p of Amount, the error weights as float32, then the keys of `extra` in order),
    checks it and writes it to path."""
    import onnx
    meta = {"fraudd.features": json.dumps(FEATURES)}
    if threshold is not None:
        meta["fraudd.threshold"] = repr(threshold)
    meta.update({
        "fraudd.version": version,
        "fraudd.log1p": json.dumps(["Amount"]),
        "fraudd.error_weights": json.dumps([float(np.float32(w)) for w in weights]),
    })
    meta.update(extra or {})
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    m.doc_string = doc
    onnx.checker.check_model(m)
    onnx.save(m, path)


def score_histogram(scores, source, k=10):
    """fraudd.score_histogram (docs/MODEL_FORMAT.md): the k-quantiles of `scores` as k - 1
    strictly increasing edges and the count of scores in each of the k bins (bin 0: score < e1;
    bin i: e_i <= score < e_(i+1); the last: score >= e_(k-1)), as compact JSON with the
    shortest round-trip repr of every number. Exits if the edges are not strictly increasing
    (ties in the scores)."""
    s = np.asarray(scores, dtype=np.float64)
    edges = [float(e) for e in np.percentile(s, [100 * i / k for i in range(1, k)])]
    if not all(np.isfinite(edges)) or any(b <= a for a, b in zip(edges, edges[1:])):
        sys.exit(f"score histogram: edges not strictly increasing finite numbers: {edges}")
    counts = np.bincount(np.searchsorted(np.array(edges), s, side="right"), minlength=k)
    assert len(counts) == k and int(counts.sum()) == len(s)
    return json.dumps({"edges": edges, "counts": [int(c) for c in counts], "source": source},
                      separators=(",", ":"))


def dev_test(x_all):
    """(dev, test, p2): the 4,230 dev rows, the 1,058 test rows, and the seed-8 permutation of
    the dev rows that splits() and dev_folds() cut."""
    perm = np.random.RandomState(TEST_SEED).permutation(len(x_all))
    n_dev = int(0.8 * len(x_all))
    dev, test = x_all[perm[:n_dev]], x_all[perm[n_dev:]]
    return dev, test, np.random.RandomState(DEV_SEED).permutation(len(dev))


def splits(x_all):
    """(train, validation, test) row blocks of x_all (float32, Amount already log1p)."""
    dev, test, p2 = dev_test(x_all)
    n_train = int(0.8 * len(dev))
    return dev[p2[:n_train]], dev[p2[n_train:]], test


def dev_folds(n_dev, p2, k=5):
    """k folds of the dev rows for out-of-fold scoring: fold i holds out the block of p2 between
    i * n_dev // k and (i + 1) * n_dev // k and trains on the rest in p2's order. For the 4,230 dev
    rows the folds are equal (846), every fold trains on as many rows as splits()' train block
    (3,384) and the last fold IS splits()' (train, validation); for any n_dev the last fold trains
    on the first int(0.8 n_dev) rows of p2 when k = 5 (models/nested_cv.py's outer training sets).
    Returns [(train indices, held-out indices)] into dev."""
    cut = [i * n_dev // k for i in range(k + 1)]
    return [(np.concatenate([p2[:cut[i]], p2[cut[i + 1]:]]), p2[cut[i]:cut[i + 1]]) for i in range(k)]


def wilson(k, n, z=1.959964):
    """Wilson score interval (95% by default) of a rate of k events in n trials."""
    p = k / n
    d = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / d
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, centre - half), min(1.0, centre + half)


class Standardised(nn.Module):
    """(x - mean) / std -> net -> y * std + mean, all in the exported graph."""

    def __init__(self, mean, std, net):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))
        self.net = net

    def forward(self, x):
        return self.net((x - self.mean) / self.std) * self.std + self.mean


ACTS = {"tanh": nn.Tanh, "leaky": lambda: nn.LeakyReLU(0.01), "relu": nn.ReLU}
ACT_NAMES = {"tanh": "Tanh", "leaky": "LeakyReLU(0.01)", "relu": "Relu"}


def make_net(n_features, hidden, acts):
    dims = [n_features, *hidden, n_features]
    layers = []
    for i in range(len(dims) - 1):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2:
            layers.append(ACTS[acts[i]]())
    return nn.Sequential(*layers)


def train_member(z_train, w_std, cfg, seed, log=None, z_val=None):
    """One autoencoder on standardised rows z_train; loss = mean of ((y - z) * w_std)^2, which is
    fraudd's score when w_std = error_weights * std. cfg: hidden, acts, epochs, lr, wd, noise,
    batch. noise > 0 trains a denoising AE (input + N(0, noise^2) in standard units, target clean).
    Returns the net (in standard units)."""
    torch.manual_seed(seed)
    rng = np.random.RandomState(seed + 1000)
    net = make_net(z_train.shape[1], cfg["hidden"], cfg["acts"])
    opt = torch.optim.AdamW(net.parameters(), lr=cfg["lr"], weight_decay=cfg["wd"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg["epochs"])
    w = torch.tensor(w_std, dtype=torch.float32)
    zt = torch.from_numpy(z_train)
    b = cfg["batch"]
    for epoch in range(cfg["epochs"]):
        net.train()
        order = torch.from_numpy(rng.permutation(len(zt)))
        for i in range(0, len(zt), b):
            zb = zt[order[i:i + b]]
            inp = zb
            if cfg["noise"] > 0:
                inp = zb + torch.from_numpy(rng.standard_normal(zb.shape).astype(np.float32)) * cfg["noise"]
            loss = (((net(inp) - zb) * w) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        if log is not None and ((epoch + 1) % 25 == 0 or epoch == 0):
            net.eval()
            with torch.no_grad():
                lv = [float((((net(z) - z) * w) ** 2).mean()) for z in (zt, torch.from_numpy(z_val))]
            log.append((epoch + 1, *lv))
    net.eval()
    return net


def fold(nets, shrink):
    """One chain network equal to (1 - shrink) * mean of the K nets' outputs (+ shrink * 0, i.e.
    toward the training mean in standard units): the first layers side by side, the inner ones
    block-diagonal, the last ones averaged. Same ONNX ops as one member; K times the weights."""
    K = len(nets)
    linears = [[m for m in n if isinstance(m, nn.Linear)] for n in nets]
    acts = [m for m in nets[0] if not isinstance(m, nn.Linear)]
    layers = []
    for li in range(len(linears[0])):
        parts = [ls[li] for ls in linears]
        first, last = li == 0, li == len(linears[0]) - 1
        fin = parts[0].in_features * (1 if first else K)
        fout = parts[0].out_features * (1 if last else K)
        lin = nn.Linear(fin, fout)
        W = torch.zeros(fout, fin)
        bias = torch.zeros(fout)
        with torch.no_grad():
            for k, p in enumerate(parts):
                o, i = p.out_features, p.in_features
                if last:
                    W[:, k * i:(k + 1) * i] = p.weight * ((1 - shrink) / K)
                    bias += p.bias * ((1 - shrink) / K)
                else:
                    cols = slice(0, i) if first else slice(k * i, (k + 1) * i)
                    W[k * o:(k + 1) * o, cols] = p.weight
                    bias[k * o:(k + 1) * o] = p.bias
            lin.weight.copy_(W)
            lin.bias.copy_(bias)
        layers.append(lin)
        if not last:
            layers.append(type(acts[li])() if not isinstance(acts[li], nn.LeakyReLU)
                          else nn.LeakyReLU(acts[li].negative_slope))
    return nn.Sequential(*layers).eval()


def scores_np(model, x, weights):
    """fraudd's autoencoder score (float64) of the rows x under a torch model in input space."""
    with torch.no_grad():
        y = model(torch.from_numpy(x)).numpy()
    d = (y.astype(np.float64) - x.astype(np.float64)) * weights
    return (d * d).mean(axis=1)


def zscore_distance(x, mean, std):
    """The no-learning baseline: mean over the 29 features of the squared z-score (rank-equal to
    the sum, and exactly what an autoencoder outputting the training mean would score)."""
    z = (x.astype(np.float64) - mean) / std
    return (z * z).mean(axis=1)


def auc(pos, neg):
    """ROC-AUC of scores pos (anomalies) over neg (legit): P(pos > neg) + 0.5 P(tie)."""
    from scipy.stats import rankdata
    r = rankdata(np.concatenate([pos, neg]))
    return float((r[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


# Synthetic anomalies. Each kind moves every row of a legit set; strength is the parameter.
# The "shift" kinds add a displacement d in standard units (train std) with |d|^2 = 3 k^2,
# the energy of 3 features moved k std, so they differ only in direction:
#   shift3: 3 random V features +-k (ulb-ae-1.1.0's REPORT kind);
#   spread: 10 random features, random signs, each k*sqrt(3/10);
#   major:  a random direction in the span of the 5 largest principal components of the
#           training rows (a move along correlations legit rows have, just far);
#   minor:  the same in the span of the 5 smallest (a move against the legit correlations);
#   fraudlike: along +-u, u the eigenvector of the most negative eigenvalue of (correlation - I)
#           of V1..V28 on the training rows. ULB's V features are principal components of ALL
#           rows, fraud included, hence uncorrelated over all rows; the legit-only rows' remaining
#           correlation is what removing the fraud rows left, mostly rank one along the fraud
#           mean shift. u is derived from the legit rows alone (it loads V17, V14, V10, V12, V16,
#           V7, V3 one way, V11, V4, V2 the other: the features known to separate ULB fraud) and
#           legit rows vary along it ~40 times less than along a feature;
# amount: log1p(Amount) + k std (the amount times e^(k * 1.64));
# flip:   k features drawn among those with a |correlation| >= 0.15 partner get their deviation
#         from the mean negated (each value alone still looks normal for symmetric features);
# shuffle: a share k of each row's features taken, each from another random row of the same
#          set (every marginal is unchanged, so a per-feature distance cannot see it: jointly
#          unusual rows).
KINDS = {"shift3": (2, 4, 6), "spread": (2, 4, 6), "major": (2, 4, 6), "minor": (1, 2, 4),
         "fraudlike": (0.5, 1, 3, 9),
         "amount": (2, 3, 4), "flip": (2, 4, 8), "shuffle": (0.3, 0.6, 1.0)}


class Anomalies:
    def __init__(self, x_train):
        self.mean = x_train.mean(axis=0).astype(np.float64)
        self.std = x_train.std(axis=0).astype(np.float64)
        z = (x_train - self.mean) / self.std
        c = np.corrcoef(z, rowvar=False)
        ev, vec = np.linalg.eigh(c)  # ascending
        self.minor_basis, self.major_basis = vec[:, :5], vec[:, -5:]
        np.fill_diagonal(c, 0)
        ev28, vec28 = np.linalg.eigh(c[:28, :28] - np.eye(28))
        self.fraud_dir = np.zeros(c.shape[0])
        self.fraud_dir[:28] = vec28[:, 0]
        self.fraud_var = float(ev28[0] + 1)
        self.flip_pool = np.flatnonzero(np.abs(c).max(axis=1) >= 0.15)

    def make(self, x, kind, k, rng):
        n, F = x.shape
        z = (x.astype(np.float64) - self.mean) / self.std
        if kind in ("shift3", "spread", "major", "minor", "fraudlike"):
            d = np.zeros((n, F))
            for r in range(n):
                if kind in ("shift3", "spread"):
                    m = 3 if kind == "shift3" else 10
                    f = rng.choice(28 if kind == "shift3" else F, size=m, replace=False)
                    d[r, f] = rng.choice([-1.0, 1.0], size=m)
                elif kind == "fraudlike":
                    d[r] = self.fraud_dir * rng.choice([-1.0, 1.0])
                else:
                    basis = self.major_basis if kind == "major" else self.minor_basis
                    d[r] = basis @ rng.standard_normal(5)
                d[r] *= np.sqrt(3) * k / np.linalg.norm(d[r])
            z = z + d
        elif kind == "amount":
            z[:, 28] += k
        elif kind == "flip":
            for r in range(n):
                f = rng.choice(self.flip_pool, size=int(k), replace=False)
                z[r, f] = -z[r, f]
        elif kind == "shuffle":
            out = z.copy()
            for r in range(n):
                f = np.flatnonzero(rng.random_sample(F) < k) if k < 1 else np.arange(F)
                out[r, f] = z[rng.randint(0, n, size=len(f)), f]
            z = out
        else:
            raise ValueError(kind)
        return (z * self.std + self.mean).astype(np.float32)

    def all(self, x, seed):
        """{(kind, strength): anomalous copy of x}, seeded."""
        rng = np.random.RandomState(seed)
        return {(kind, k): self.make(x, kind, k, rng) for kind, ks in KINDS.items() for k in ks}
