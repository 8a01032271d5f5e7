"""Checks that a peer's results agree with fraudd's, record by record.

usage: check.py EXPECTED.jsonl ACTUAL.jsonl [--rtol 1e-4] [--atol 1e-6]

EXPECTED is `fraudd score` output, ACTUAL a peer's (`python_peer.py score`, the Streams peer's
`score` mode) over the same input. Numbers may be printed differently (fraudd writes the
shortest float32 text, Python the shortest float64 of the same float32), so values are compared,
not text: the same keys in the same order, the same id, threshold and model_version; score
within atol + rtol * |score| (the reconstruction comes from ONNX Runtime in the peers and from
fraudd's fused kernels in fraudd, docs/BENCHMARKS.md (b)); is_fraud equal unless the score is
that close to the threshold; top_features: the same names in the same order, except where two
errors are within the tolerance of each other (a tie that either runtime may break), each value
equal as float32 and each error within the tolerance. Prints the first mismatches and a
summary; exits 1 if any record disagrees.
"""
import argparse
import json
import os
import sys

import numpy as np


def close(a, b, rtol, atol):
    return abs(a - b) <= atol + rtol * abs(b)


def compare(exp, act, rtol, atol):
    """A list of the ways one result differs (empty if it agrees)."""
    bad = []
    if list(exp) != list(act):
        bad.append("keys %s != %s" % (list(act), list(exp)))
    for k in ("id", "threshold", "model_version"):
        if exp.get(k) != act.get(k):
            bad.append("%s %r != %r" % (k, act.get(k), exp.get(k)))
    s, t = exp["score"], exp["threshold"]
    if not close(act["score"], s, rtol, atol):
        bad.append("score %r != %r" % (act["score"], s))
    if act["is_fraud"] != exp["is_fraud"] and not close(s, t, rtol, atol):
        bad.append("is_fraud %r != %r" % (act["is_fraud"], exp["is_fraud"]))
    et, at = exp["top_features"], act["top_features"]
    if len(et) != len(at):
        return bad + ["%d top features != %d" % (len(at), len(et))]
    for k, (e, a) in enumerate(zip(et, at)):
        if not close(a["error"], e["error"], rtol, atol):
            bad.append("top_features[%d].error %r != %r" % (k, a["error"], e["error"]))
            continue
        if a["name"] != e["name"]:
            # a tie: the peer's feature must have an error within tolerance of fraudd's k-th
            twin = [x for x in et if x["name"] == a["name"]]
            if not twin or not close(twin[0]["error"], e["error"], rtol, atol):
                bad.append("top_features[%d].name %r != %r" % (k, a["name"], e["name"]))
                continue
            e = twin[0]
        if np.float32(a["value"]) != np.float32(e["value"]):
            bad.append("top_features[%d].value %r != %r" % (k, a["value"], e["value"]))
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("expected")
    ap.add_argument("actual")
    ap.add_argument("--rtol", type=float, default=1e-4)
    ap.add_argument("--atol", type=float, default=1e-6)
    args = ap.parse_args()
    with open(args.expected, "rb") as f:
        exp = [json.loads(x) for x in f.read().splitlines()]
    with open(args.actual, "rb") as f:
        act = [json.loads(x) for x in f.read().splitlines()]
    agree, worst = 0, 0.0
    if len(exp) != len(act):
        print("FAIL %s: %d results, fraudd has %d" % (args.actual, len(act), len(exp)))
    for n, (e, a) in enumerate(zip(exp, act)):
        worst = max(worst, abs(a["score"] - e["score"]) / max(abs(e["score"]), 1e-12))
        bad = compare(e, a, args.rtol, args.atol)
        if not bad:
            agree += 1
        elif n - agree < 10:
            print("FAIL record %d (%s): %s" % (n + 1, e.get("id"), "; ".join(bad)))
    ok = agree == len(exp) == len(act)
    print("%s %s: %d of %d results agree with fraudd (largest relative score difference %.2e)" %
          ("ok  " if ok else "FAIL", os.path.basename(args.actual), agree, len(exp), worst))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
