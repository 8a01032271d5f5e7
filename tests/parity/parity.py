"""ONNX Runtime parity: fraudd scores exactly what ONNX Runtime computes, record by record.

    .venv/bin/python tests/parity/parity.py --fraudd build/release/fraudd --model M.onnx
                                            [--records 10000] [--seed 5] [--log1p libm|numpy] [--keep DIR]
    .venv/bin/python tests/parity/parity.py --self-test [--model M.onnx ...] [--records 10000]

What the parity run proves. N JSON transactions (one object per line: "id": "p-<n>" for
n = 0..N-1, plus one key per feature of the model's `fraudd.features`) are built from the real
ULB rows in data/ulb, cycling through the 5,288 rows and perturbing every feature with a
little seeded noise (0.01 std added; log1p features such as Amount are scaled by 1 + 0.01 noise
instead and stay >= 0) so that all N records differ. Every value is rounded to float32 first and
written as the exact decimal of that float32, so fraudd and this script start from the same
float32 matrix. `fraudd score --model M --input IN --output OUT --emit-output --passthrough id`
scores them; independently ONNX Runtime (CPU, 1 thread, float32) runs the model on the same
matrix after the preprocessing fraudd does outside the graph: log1pf() in float32 on the
`fraudd.log1p` features (by default glibc's log1pf through ctypes, the very function fraudd
calls; `--log1p numpy` uses numpy's float32 log1p, which on AVX-512 machines differs from glibc's
by 1 ulp for a few % of values). Then, per record:
  * every record has exactly one result, in input order, with its id (none missing or
    rejected: fraudd's exit status and --rejects file are checked);
  * output: for every element j of fraudd's "output" array and ORT's output b of that record,
        |a_j - b_j| <= 1e-5 * max(|b_j|, max_k |b_k|, 0.05)
    i.e. relative 1e-5, with the row's largest magnitude as the floor. The floor is needed:
    an element near zero is a float32 sum of terms of the row's scale, so two correct float32
    evaluations (different summation order, FMA or not) differ there by ~1e-7 of the row's
    scale, not of the element. (A floor of 1e-5 * max|b| instead would demand agreement to
    1e-10 of the row's scale, which float32 cannot give: ORT and fraudd are each ~1e-6 of the
    row's scale off a float64 evaluation on such elements; see --self-test.) The absolute floor
    0.05 (so values below 0.05 must agree to 5e-7) is for small sigmoid outputs: ORT's Sigmoid
    is a fast approximation accurate to 1.3e-7 ABSOLUTE (measured: 3e-4 relative at x = -8,
    output 3.4e-4), so relative agreement there would measure ORT's error, not fraudd's.
  * score: |a - ref| <= 1e-5 * max(|ref|, 0.05), ref computed here in float64 from ORT's
    float32 outputs and the float32 graph input x with fraudd's formula: autoencoder (output
    width F) (1/F) * sum_i (w_i * (y_i - x_i))^2 with w_i = fraudd.error_weights as float32
    (default 1); scorer (output width 1) y_0;
  * is_fraud == (ref > threshold), except when ref is within 1e-5 relative of the threshold
    (either verdict is right then; such records are counted and printed);
  * threshold and model_version are the model's; top_features (autoencoders) name three
    features whose reference terms are the three largest (ties within the tolerance allowed),
    with "error" = that term within the term tolerance and "value" = the record's raw value.
    The term tolerance of feature i is TOL * max(max_k t_k, 0.05) (the term's own float32
    rounding, as for the score) PLUS what the output error that the output check accepts does
    to the term: t_i = (w_i (y_i - x_i))^2, x_i is the same float32 on both sides, and y_i may
    be off by dy_i = TOL * max(|y_i|, max_k |y_k|, 0.05), so t_i may be off by
        w_i^2 (2 |y_i - x_i| dy_i + dy_i^2)
    (fraudd's float32 subtraction y_i - x_i adds a relative 6e-8 of the difference: inside
    the first part). Without the second part the term check demanded more of y than the output
    check does: a model that reconstructs well has terms ~100x smaller than its outputs, and a
    y_i a few float32 ulps of the row's scale away from ORT's (ulb-ae-1.2.0, then a candidate:
    up to 37 ulps of y_i = 0.80, 2.2e-6, 2.8e-6 of the row's largest output, well inside the
    output check)
    moved a term by up to 2.3e-6 against a tolerance of 1.2e-6 (81 of 10,000 records failed).
Prints one summary line
    parity NAME: N records, max rel err output E1 score E2: PASS
(details of up to 10 violations before it), exit 0 on PASS, 1 on any violation or any
missing/rejected record.

What --self-test proves (no fraudd binary needed): for each model (the default model and every
fixture unless --model is given), (1) the JSON records carry the float32 matrix exactly (written
then parsed back bit for bit), (2) ONNX Runtime agrees with an independent float64 numpy
evaluation of the ONNX graph within the same tolerances, so ORT is a valid reference, (3) the
float32 log1p used matches glibc's log1pf bit for bit (and how often numpy's differs), and
(4) the checker is not vacuous: results built from ORT's own outputs pass, and each planted
fault (an output element, a score, a verdict, a top feature, a missing record) is caught.
"""
import argparse
import ctypes
import ctypes.util
import glob
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnx.helper
import onnx.numpy_helper
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(REPO, "data", "ulb", "creditcard_legit_train.csv")
TOL = 1e-5        # relative tolerance for outputs, scores, top-feature errors
ABS_FLOOR = 0.05  # magnitudes below this are compared absolutely (to TOL * ABS_FLOOR): see above
N_TOP = 3


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------

def load_rows(features):
    """The ULB legit rows' values of `features` (float64, raw: no log1p).

    The header names 31 columns but every data row has 32 fields (an extra, unnamed trailing
    one): columns are matched by header position from the left and the layout is checked
    (trailing field and Class all 0, Time non-decreasing), as models/train_default.py does."""
    with open(DATA) as f:
        header = f.readline().strip().split(",")
    missing = [c for c in list(features) + ["Time", "Class"] if c not in header]
    if missing:
        raise SystemExit(f"{DATA}: no column {missing}")
    data = np.loadtxt(DATA, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    ok = data.shape[1] in (len(header), len(header) + 1) \
        and (data.shape[1] == len(header) or np.all(data[:, -1] == 0)) \
        and np.all(data[:, header.index("Class")] == 0) and np.all(np.diff(data[:, header.index("Time")]) >= 0)
    if not ok:
        raise SystemExit(f"{DATA}: unexpected layout ({data.shape[1]} fields per row, header {len(header)})")
    return data[:, [header.index(c) for c in features]]


def build_raw(features, log1p, n, seed):
    """n distinct float32 records (raw feature values) from the ULB rows, seeded."""
    rows = load_rows(features)
    rng = np.random.RandomState(seed)
    raw = rows[np.arange(n) % len(rows)].copy()
    std = rows.std(axis=0)
    noise = rng.standard_normal(raw.shape)
    for j, name in enumerate(features):
        if name in log1p:
            raw[:, j] = np.abs(raw[:, j] * (1 + 0.01 * noise[:, j]))  # stays in log1p's domain
        else:
            raw[:, j] += 0.01 * std[j] * noise[:, j]
    raw = raw.astype(np.float32)
    if len(np.unique(raw, axis=0)) != n:
        raise SystemExit("parity: generated records are not all distinct")
    return raw


def write_records(path, raw, features):
    """One JSON object per line; each float32 value written as its exact decimal (the shortest
    text of the float64 equal to it), so any correct parser recovers the float32 bit for bit."""
    with open(path, "w") as f:
        for r in range(len(raw)):
            rec = {"id": f"p-{r}"}
            rec.update(zip(features, map(float, raw[r])))
            f.write(json.dumps(rec) + "\n")


_log1pf = None


def log1pf_libm():
    """glibc's log1pf (what fraudd calls), via ctypes."""
    global _log1pf
    if _log1pf is None:
        lib = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
        _log1pf = lib.log1pf
        _log1pf.restype, _log1pf.argtypes = ctypes.c_float, [ctypes.c_float]
    return _log1pf


def log1p_f32(v, mode):
    v = np.asarray(v, dtype=np.float32)
    if mode == "numpy":
        return np.log1p(v)  # float32 in, float32 out
    f = log1pf_libm()
    return np.array([f(float(a)) for a in v], dtype=np.float32)


def preprocess(raw, features, log1p, mode):
    """The graph's float32 input: raw values with log1pf on the log1p features, as fraudd does."""
    x = raw.copy()
    for j, name in enumerate(features):
        if name in log1p:
            x[:, j] = log1p_f32(x[:, j], mode)
    return x


# ---------------------------------------------------------------------------------------------
# The model: metadata, ONNX Runtime, reference scores
# ---------------------------------------------------------------------------------------------

class Model:
    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)
        self.proto = onnx.load(path)
        meta = {p.key: p.value for p in self.proto.metadata_props}
        self.features = json.loads(meta["fraudd.features"])
        self.log1p = set(json.loads(meta.get("fraudd.log1p", "[]")))
        F = len(self.features)
        w = json.loads(meta["fraudd.error_weights"]) if "fraudd.error_weights" in meta else [1.0] * F
        self.weights = np.array(w, dtype=np.float32).astype(np.float64)  # fraudd keeps them as float
        self.threshold = float(meta["fraudd.threshold"])
        self.version = meta.get("fraudd.version", "unversioned")

    def run_ort(self, x):
        """ORT's outputs as an (N, width) float32 array. A graph whose output ORT returns as
        [N*width, 1] (skl2onnx's multi-output MLPRegressor ends with Reshape [-1, 1]) is read
        back in record order, as fraudd does."""
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        sess = ort.InferenceSession(self.path, so, providers=["CPUExecutionProvider"])
        y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        if y.dtype != np.float32 or y.size % len(x):
            raise SystemExit(f"{self.name}: ORT output {y.dtype} {y.shape} for {len(x)} records")
        y = y.reshape(len(x), -1)
        if y.shape[1] not in (1, len(self.features)):
            raise SystemExit(f"{self.name}: output width {y.shape[1]} is neither 1 nor {len(self.features)}")
        return y

    def is_autoencoder(self, y):
        return y.shape[1] == len(self.features)

    def terms(self, x, y):
        """Autoencoder score terms (w_i * (y_i - x_i))^2, float64 from the float32 arrays."""
        d = (y.astype(np.float64) - x.astype(np.float64)) * self.weights
        return d * d

    def scores(self, x, y):
        return self.terms(x, y).mean(axis=1) if self.is_autoencoder(y) else y[:, 0].astype(np.float64)


# ---------------------------------------------------------------------------------------------
# The comparison
# ---------------------------------------------------------------------------------------------

def rel_err_rows(a, b):
    """Per row: max_j |a_j - b_j| / max(|b_j|, max_k |b_k|, ABS_FLOOR), i.e. the error in units
    of the output tolerance's scale (compare with TOL)."""
    b = b.astype(np.float64)
    scale = np.maximum(np.abs(b), np.max(np.abs(b), axis=1, keepdims=True))
    scale = np.maximum(scale, ABS_FLOOR)
    return np.max(np.abs(a - b) / scale, axis=1)


def compare(model, results, raw, x, y):
    """Checks fraudd's result objects against the reference. Returns (problems, stats):
    problems is a list of (record or None, text); stats has the max errors observed."""
    problems = []
    n = len(x)
    ref = model.scores(x, y)
    stats = {"out": 0.0, "score": 0.0, "ties": 0, "flagged": 0}
    if len(results) != n:
        problems.append((None, f"{len(results)} results for {n} records"))
    ok_rows = []
    for r, res in enumerate(results[:n]):
        if res.get("id") != f"p-{r}":
            problems.append((r, f"result {r} has id {res.get('id')!r}, expected 'p-{r}' (order or loss)"))
            break
        if not isinstance(res.get("output"), list) or len(res["output"]) != y.shape[1]:
            problems.append((r, f"output is not a list of {y.shape[1]} numbers"))
            continue
        ok_rows.append(r)
    if not ok_rows:
        return problems, stats
    rows = np.array(ok_rows)
    fo = np.array([results[r]["output"] for r in rows], dtype=np.float64)
    fs = np.array([results[r]["score"] for r in rows], dtype=np.float64)
    ff = np.array([results[r]["is_fraud"] is True for r in rows])
    e_out = rel_err_rows(fo, y[rows])
    e_score = np.abs(fs - ref[rows]) / np.maximum(np.abs(ref[rows]), ABS_FLOOR)
    tie = np.abs(ref[rows] - model.threshold) <= TOL * max(abs(model.threshold), ABS_FLOOR)
    verdict_bad = (ff != (ref[rows] > model.threshold)) & ~tie
    stats.update(out=float(e_out.max()), score=float(e_score.max()), ties=int(tie.sum()), flagged=int(ff.sum()))
    for i in np.flatnonzero((e_out > TOL) | (e_score > TOL) | verdict_bad):
        r = rows[i]
        j = int(np.argmax(np.abs(fo[i] - y[r])))
        problems.append((r, f"output rel err {e_out[i]:.3g} (worst element {j}: fraudd {fo[i, j]!r} ORT "
                            f"{float(y[r, j])!r}), score fraudd {fs[i]!r} ref {ref[r]!r} (rel err {e_score[i]:.3g}), "
                            f"is_fraud {bool(ff[i])} ref {bool(ref[r] > model.threshold)}"))
    for r in rows:
        res = results[r]
        if res.get("threshold") != model.threshold or res.get("model_version") != model.version:
            problems.append((r, f"threshold/model_version {res.get('threshold')!r}/{res.get('model_version')!r}, "
                                f"model has {model.threshold!r}/{model.version!r}"))
            break
    problems += check_top_features(model, results, rows, raw, x, y)
    return problems, stats


def term_tolerance(model, x, y):
    """(N, F): how far fraudd's top_features "error" of each feature may be from the reference
    term: the term's float32 rounding plus the effect of the output error the output check
    accepts (derivation in the module docstring)."""
    terms = model.terms(x, y)
    y64 = np.abs(y.astype(np.float64))
    dy = TOL * np.maximum(np.maximum(y64, y64.max(axis=1, keepdims=True)), ABS_FLOOR)
    d = np.abs(y.astype(np.float64) - x.astype(np.float64))
    own = TOL * np.maximum(terms.max(axis=1, keepdims=True), ABS_FLOOR)
    return own + model.weights ** 2 * (2 * d * dy + dy * dy)


def check_top_features(model, results, rows, raw, x, y):
    """top_features: empty for scorers; for autoencoders N_TOP distinct features whose reference
    terms are the largest (a listed term may trail an unlisted one by the tolerance), each with
    error = its term and value = the record's raw value."""
    problems = []
    index = {name: i for i, name in enumerate(model.features)}
    if not model.is_autoencoder(y):
        for r in rows:
            if results[r].get("top_features") not in ([], None):
                problems.append((r, "scorer model result has top_features"))
                break
        return problems
    terms = model.terms(x, y)
    tols = term_tolerance(model, x, y)
    k = min(N_TOP, len(model.features))
    for r in rows:
        tops = results[r].get("top_features")
        t, tol_r = terms[r], tols[r]
        try:
            idx = [index[e["name"]] for e in tops]
            errs = np.array([e["error"] for e in tops], dtype=np.float64)
            vals = np.array([e["value"] for e in tops], dtype=np.float64)
        except (TypeError, KeyError):
            problems.append((r, f"malformed top_features {tops!r}"))
            continue
        rest = np.delete(t, idx) if len(set(idx)) == len(idx) else t
        why = None
        if len(idx) != k or len(set(idx)) != k:
            why = f"{len(idx)} features listed, expected {k} distinct"
        elif np.any(np.abs(errs - t[idx]) > tol_r[idx]):
            why = f"errors {errs.tolist()} vs reference terms {t[idx].tolist()} (tolerances {tol_r[idx].tolist()})"
        elif np.any(np.diff(t[idx]) > tol_r[idx][1:] + tol_r[idx][:-1]):
            why = "not in decreasing order of their terms"
        elif len(rest) and t[idx].min() < rest.max() - tol_r[idx].max() - np.delete(tol_r, idx).max():
            why = f"term {t[idx].min():.7g} listed while {rest.max():.7g} is larger"
        elif np.any(vals.astype(np.float32) != raw[r, idx]):
            why = f"values {vals.tolist()} are not the record's {raw[r, idx].tolist()}"
        if why:
            problems.append((r, "top_features: " + why))
    return problems


def report(name, n, stats, problems, label="parity"):
    for r, text in problems[:10]:
        print(f"  {'record ' + str(r) if r is not None else 'run'}: {text}")
    if len(problems) > 10:
        print(f"  ... {len(problems) - 10} more")
    if stats["ties"]:
        print(f"  {stats['ties']} records score within {TOL:g} relative of the threshold (either verdict accepted)")
    status = "PASS" if not problems else f"FAIL ({len(problems)} violation{'s' if len(problems) > 1 else ''})"
    print(f"{label} {name}: {n} records, max rel err output {stats['out']:.2g} score {stats['score']:.2g}: {status}")
    return 0 if not problems else 1


# ---------------------------------------------------------------------------------------------
# Parity against the fraudd binary
# ---------------------------------------------------------------------------------------------

def run_fraudd(fraudd, model, inp, tmp):
    """Runs fraudd score; returns (results, problems)."""
    out, rej = os.path.join(tmp, "out.jsonl"), os.path.join(tmp, "rejects.jsonl")
    cmd = [fraudd, "score", "--model", model.path, "--input", inp, "--output", out,
           "--emit-output", "--passthrough", "id", "--rejects", rej, "--quiet"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    problems = []
    if os.path.exists(rej) and os.path.getsize(rej):
        with open(rej) as f:
            lines = f.read().splitlines()
        problems.append((None, f"{len(lines)} records rejected, first: {lines[0][:300]}"))
    if p.returncode != 0:
        problems.append((None, f"fraudd exited {p.returncode}: {p.stderr.strip()[:500]}"))
    results = []
    if os.path.exists(out):
        with open(out) as f:
            for i, line in enumerate(f):
                try:
                    results.append(json.loads(line))
                except json.JSONDecodeError as e:
                    problems.append((i, f"result line {i + 1} is not JSON ({e}): {line[:200]!r}"))
                    break
    return results, problems


def parity(args):
    model = Model(args.model)
    raw = build_raw(model.features, model.log1p, args.records, args.seed)
    x = preprocess(raw, model.features, model.log1p, args.log1p)
    y = model.run_ort(x)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or tmp
        os.makedirs(work, exist_ok=True)
        inp = os.path.join(work, "in.jsonl")
        write_records(inp, raw, model.features)
        results, problems = run_fraudd(os.path.abspath(args.fraudd), model, inp, work)
    more, stats = compare(model, results, raw, x, y)
    return report(model.name, args.records, stats, problems + more)


# ---------------------------------------------------------------------------------------------
# Self-test: ORT against an independent float64 evaluation, and the checker against faults
# ---------------------------------------------------------------------------------------------

def eval_numpy(proto, x):
    """Evaluates the ONNX graph in float64 with numpy: an implementation independent of ORT for
    the ops fraudd supports (plus Cast, which skl2onnx emits)."""
    env = {}
    for t in proto.graph.initializer:
        a = onnx.numpy_helper.to_array(t)
        env[t.name] = a.astype(np.float64) if a.dtype.kind == "f" else a
    env[proto.graph.input[0].name] = x.astype(np.float64)
    for n in proto.graph.node:
        a = {at.name: onnx.helper.get_attribute_value(at) for at in n.attribute}
        i = [env[name] if name else None for name in n.input]
        op = n.op_type
        if op == "Gemm":
            A = i[0].T if a.get("transA", 0) else i[0]
            B = i[1].T if a.get("transB", 0) else i[1]
            out = a.get("alpha", 1.0) * (A @ B)
            if len(i) > 2 and i[2] is not None:
                out = out + a.get("beta", 1.0) * i[2]
        elif op == "MatMul":
            out = i[0] @ i[1]
        elif op in ("Add", "Sub", "Mul", "Div"):
            out = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op](i[0], i[1])
        elif op == "Relu":
            out = np.maximum(i[0], 0)
        elif op == "LeakyRelu":
            out = np.where(i[0] >= 0, i[0], a.get("alpha", 0.01) * i[0])
        elif op == "Sigmoid":
            out = 1 / (1 + np.exp(-i[0]))
        elif op == "Tanh":
            out = np.tanh(i[0])
        elif op == "BatchNormalization":
            X, scale, bias, mean, var = i[:5]
            out = (X - mean) / np.sqrt(var + a.get("epsilon", 1e-5)) * scale + bias
        elif op in ("Identity", "Dropout"):
            out = i[0]
        elif op == "Cast":
            if a["to"] not in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.INT64):
                raise SystemExit(f"self-test: Cast to {a['to']} not evaluated")
            out = i[0].astype(np.int64) if a["to"] == onnx.TensorProto.INT64 else i[0].astype(np.float64)
        elif op == "Flatten":
            axis = a.get("axis", 1)
            out = i[0].reshape(int(np.prod(i[0].shape[:axis])), -1)
        elif op == "Reshape":
            shape = [i[0].shape[k] if d == 0 else d for k, d in enumerate(i[1].astype(np.int64))]
            out = i[0].reshape(shape)
        elif op == "Constant":
            if "value" in a:
                out = onnx.numpy_helper.to_array(a["value"])
            else:
                out = np.array(next(v for k, v in a.items() if k.startswith("value_")))
            out = out.astype(np.float64) if out.dtype.kind == "f" else out
        elif op == "Scaler" and n.domain == "ai.onnx.ml":
            out = (i[0] - np.array(a.get("offset", [0.0]))) * np.array(a.get("scale", [1.0]))
        else:
            raise SystemExit(f"self-test: op {n.domain}:{op} (node {n.name}) has no reference implementation")
        env[n.output[0]] = out
    return env[proto.graph.output[0].name].reshape(len(x), -1)


def fake_results(model, raw, x, y):
    """What a correct fraudd would print for these records, built from ORT's outputs:
    outputs and errors as shortest float32 text, score and threshold as float64."""
    f32 = lambda v: float(repr(np.float32(v)))  # noqa: E731  shortest float32 text, read back
    ref = model.scores(x, y)
    ae = model.is_autoencoder(y)
    terms = model.terms(x, y) if ae else None
    out = []
    for r in range(len(x)):
        tops = []
        if ae:
            for j in np.argsort(-terms[r], kind="stable")[:N_TOP]:
                tops.append({"name": model.features[j], "value": f32(raw[r, j]), "error": f32(terms[r, j])})
        out.append({"id": f"p-{r}", "score": float(ref[r]), "threshold": model.threshold,
                    "is_fraud": bool(ref[r] > model.threshold), "model_version": model.version,
                    "top_features": tops, "output": [f32(v) for v in y[r]]})
    return json.loads(json.dumps(out))  # through JSON text, as the real results are


def planted_faults(model, r, autoencoder, err_tol=None):
    """Edits of correct results (record r) that the checker must catch, by name. err_tol: the
    term tolerance of record r's first top feature."""
    def output_element(res):
        out = res[r]["output"]
        out[0] += 10 * TOL * max(max(abs(v) for v in out), ABS_FLOOR)

    def score(res):
        res[r]["score"] += 10 * TOL * max(abs(res[r]["score"]), ABS_FLOOR)

    def verdict(res):
        res[r]["is_fraud"] = not res[r]["is_fraud"]

    def missing(res):
        res.pop(r)

    def swapped(res):
        res.insert(r + 1, res.pop(r))

    def top_feature(res):
        listed = {t["name"] for t in res[r]["top_features"]}
        res[r]["top_features"][0]["name"] = next(c for c in model.features if c not in listed)

    faults = {"output element off by 10x the tolerance": output_element, "score off by 10x the tolerance": score,
              "verdict flipped": verdict, "record missing": missing, "records swapped": swapped}
    def top_error(res):
        res[r]["top_features"][0]["error"] += 10 * err_tol

    if autoencoder:
        faults["top feature renamed"] = top_feature
        faults["top feature error off by 10x its tolerance"] = top_error
    return faults


def self_test_one(path, n, seed):
    model = Model(path)
    raw = build_raw(model.features, model.log1p, n, seed)
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        inp = os.path.join(tmp, "in.jsonl")
        write_records(inp, raw, model.features)
        with open(inp) as f:
            back = [json.loads(line) for line in f]
    parsed = np.array([[rec[c] for c in model.features] for rec in back], dtype=np.float32)
    if [rec["id"] for rec in back] != [f"p-{r}" for r in range(n)] or not np.array_equal(
            parsed.view(np.uint32), raw.view(np.uint32)):
        failures.append("JSON records do not carry the float32 matrix exactly")

    x = preprocess(raw, model.features, model.log1p, "libm")
    lp = [j for j, c in enumerate(model.features) if c in model.log1p]
    x_np = preprocess(raw, model.features, model.log1p, "numpy")
    ulps = np.abs(x.view(np.int32)[:, lp].astype(np.int64) - x_np.view(np.int32)[:, lp]) if lp else np.zeros(1)
    exact = np.log1p(raw[:, lp].astype(np.float64))  # correctly rounded reference for the report
    libm_off = np.abs(x[:, lp].astype(np.float64) - exact) / np.maximum(np.abs(exact), 1e-300) if lp else np.zeros(1)
    if ulps.max() > 1 or libm_off.max() > 2.5e-7:
        failures.append(f"log1pf: numpy and libm {ulps.max()} ulp apart, libm {libm_off.max():.2g} off float64")

    y = model.run_ort(x)
    y64 = eval_numpy(model.proto, x)
    e_out = rel_err_rows(y, y64)
    s_ort = model.scores(x, y)
    s_ref = model.scores(x, y64) if model.is_autoencoder(y) else y64[:, 0]
    e_score = np.abs(s_ort - s_ref) / np.maximum(np.abs(s_ref), ABS_FLOOR)
    if e_out.max() > TOL or e_score.max() > TOL:
        failures.append(f"ORT vs float64 numpy: output {e_out.max():.3g}, score {e_score.max():.3g}")

    # the checker: passes ORT's own results, catches each planted fault
    good = fake_results(model, raw, x, y)
    problems, _ = compare(model, good, raw, x, y)
    if problems:
        failures.append(f"checker rejects correct results: {problems[0][1]}")
    ae = model.is_autoencoder(y)
    err_tol = term_tolerance(model, x, y)[n // 2, np.argmax(model.terms(x, y)[n // 2])] if ae else None
    faults = planted_faults(model, n // 2, ae, err_tol)
    caught = 0
    for what, plant in faults.items():
        bad = json.loads(json.dumps(good))
        plant(bad)
        if compare(model, bad, raw, x, y)[0]:
            caught += 1
        else:
            failures.append(f"checker misses a planted fault: {what}")
    for f in failures:
        print(f"  {f}")
    lp_note = (f"log1pf numpy != libm in {int(np.count_nonzero(ulps))} of {ulps.size} values (max {int(ulps.max())} ulp)"
               if lp else "no log1p features")
    print(f"self-test {model.name}: {n} records, ORT vs float64 max rel err output {e_out.max():.2g} score "
          f"{e_score.max():.2g}, {lp_note}, checker caught {caught}/{len(faults)} planted faults: "
          f"{'PASS' if not failures else 'FAIL'}")
    return 0 if not failures else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--fraudd", help="path to the fraudd binary")
    ap.add_argument("--model", action="append", help="ONNX model (repeatable with --self-test)")
    ap.add_argument("--records", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--log1p", choices=("libm", "numpy"), default="libm",
                    help="float32 log1p for the reference input: glibc's log1pf (fraudd's) or numpy's")
    ap.add_argument("--keep", metavar="DIR", help="keep the input and fraudd's output files in DIR")
    ap.add_argument("--self-test", action="store_true", help="test this script's reference side, no fraudd needed")
    args = ap.parse_args()
    if args.records < 2:
        ap.error("--records must be at least 2")
    if args.self_test:
        models = args.model or [os.path.join(REPO, "models", "default", "fraudd-default.onnx")] + \
            sorted(glob.glob(os.path.join(REPO, "tests", "fixtures", "*.onnx")))
        return max(self_test_one(m, args.records, args.seed) for m in models)
    if not args.fraudd or not args.model or len(args.model) != 1:
        ap.error("--fraudd and one --model are required (or --self-test)")
    args.model = args.model[0]
    return parity(args)


if __name__ == "__main__":
    sys.exit(main())
