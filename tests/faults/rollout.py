"""Model rollouts against a real broker: a shadow challenger, a canary, and a promotion under
load (issue 14; docs/RELIABILITY.md, "Model rollouts"). Run by tests/faults/run_faults.sh when
named (rollout_shadow, rollout_canary, rollout_promote), with the checker, feeder and closing
steps of faults.py.

The two models. The champion A is a copy of models/default/fraudd-default.onnx taken when the
scenario starts (whatever model is there then); the challenger B is made from that copy with
the onnx package: the bias of the graph's last Gemm + 0.05, fraudd.threshold 0.6 x A's (so some
verdicts differ as well), fraudd.version "<A's>-challenger", and, if A carries a fraudd.selftest, its records' scores recomputed with ONNX Runtime as
tests/parity does (else fraudd would refuse B). Both are written into the run's temp folder.

The checker is another client build (confluent-kafka's bundled librdkafka): it reads every
result and dead letter as it arrives (faults.Checker, keeping each message whole), then reads
the input topic back. What a result must be is computed from the input records as the checker
read them, by `fraudd score --model A` and `--model B` offline, and, for a canary, by this
file's own FNV-1a 64 of the record key. Each scenario checks lost 0 (every input offset has a
result), duplicates 0 (no crash, no rebalance: a clean SIGTERM at the end), no dead letters,
every result carrying its input's key, and after the SIGTERM the group's committed offsets at
the input's end; and:

  rollout_shadow   model.challenger mode shadow: every record scored by both. Each result is
                   A's `fraudd score` line with `,"challenger":<B's line without its
                   passthrough id>` appended, byte for byte; header fraudd.model.version = A's.
                   /metrics: fraudd_shadow_verdicts_total cells equal the checker's own count
                   of (A is_fraud, B is_fraud) pairs and sum to the results;
                   fraudd_score_count names both versions
  rollout_canary   mode canary, share 0.1: a record whose key k has (FNV-1a-64(k) >> 11) <
                   0.1 * 2^53 gets B's `fraudd score` line, every other record (and every
                   record without a key: 1 in 100 here) A's, byte for byte, checked record by
                   record; the share over distinct cards (3,000 of the generator's card ids,
                   about 10 records each)
                   within 4.5 binomial standard deviations of 10 %; each card served by one
                   model only; fraudd_score_count names both versions
  rollout_promote  a feed at a steady rate; (A, shadow B) -> (B, shadow A): the config file
                   rewritten atomically (temp file renamed over it), then SIGHUP; later ->
                   (B alone): the file rewritten, no signal (model.reload_interval_ms notices
                   it). Every result byte-identical to what its model pair gives (read from
                   its model_version and challenger.model_version), the pairs change in that
                   order and only forward within each partition in offset order, each pair
                   scored records, fraudd logged each change, every record fed after a change
                   was logged has the new pair's result; fraudd_shadow_verdicts_total
                   cells per pair equal the checker's counts
"""
import collections
import json
import math
import os
import re
import signal
import subprocess
import time

import faults as fl
import test_pipeline as tp
from test_pipeline import check
from confluent_kafka import Consumer, TopicPartition

RELOAD_MS = 500           # model.reload_interval_ms: also how often the config file is checked
CANARY_SHARE = 0.1
CARDS = 3000              # distinct card keys of a canary feed
SHIFT = 0.05              # added to the last Gemm's bias to make the challenger
THRESHOLD_FACTOR = 0.6    # the challenger's fraudd.threshold: the champion's times this
FNV_OFFSET, FNV_PRIME = 0xcbf29ce484222325, 0x100000001b3
# the log events fraudd writes once a config change swapped the model pair in (src/reload/reload.c)
CHANGE_EVENTS = ("model_promoted", "model_reloaded")


class KeepingChecker(fl.Checker):
    KEEP = True


def fnv1a64(data):
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h


assert fnv1a64(b"") == 0xcbf29ce484222325 and fnv1a64(b"a") == 0xaf63dc4c8601ec8c  # published test vectors


def canary_pick(key, share):
    """True if the challenger serves a record with this key (bytes or None)."""
    return key is not None and (fnv1a64(key) >> 11) < share * 2.0 ** 53


# ------------------------------------------------------------------ models

def make_models(mdir):
    """(A's path, A's version, B's path, B's version): A a copy of the default model as it is
    now, B derived from that copy (see the module's docstring)."""
    import numpy as np
    import onnx
    from onnx import numpy_helper
    os.makedirs(mdir, exist_ok=True)
    with open(tp.DEFAULT_MODEL, "rb") as f:
        a_bytes = f.read()
    a = os.path.join(mdir, "champion.onnx")
    tp.write_atomic(a, a_bytes)
    m = onnx.load(a)
    gemms = [n for n in m.graph.node if n.op_type == "Gemm" and len(n.input) > 2]
    if not gemms:
        raise RuntimeError("%s has no Gemm with a bias to shift" % tp.DEFAULT_MODEL)
    bias = next(t for t in m.graph.initializer if t.name == gemms[-1].input[2])
    bias.CopyFrom(numpy_helper.from_array((numpy_helper.to_array(bias) + np.float32(SHIFT)).astype(np.float32),
                                          bias.name))
    meta = {p.key: p for p in m.metadata_props}
    a_ver = meta["fraudd.version"].value
    b_ver = meta["fraudd.version"].value = a_ver + "-challenger"
    if "fraudd.threshold" in meta:  # a lower threshold: some verdicts differ too
        meta["fraudd.threshold"].value = repr(float(meta["fraudd.threshold"].value) * THRESHOLD_FACTOR)
    b = os.path.join(mdir, "challenger.onnx")
    tp.write_atomic(b, m.SerializeToString())
    if "fraudd.selftest" in meta:
        st = json.loads(meta["fraudd.selftest"].value)
        st["scores"] = tp.ort_scores(b, st["records"])
        meta["fraudd.selftest"].value = json.dumps(st)
        tp.write_atomic(b, m.SerializeToString())
    print("  models: A %s (%s), B %s (last Gemm %s bias + %g, threshold x %g%s)" %
          (a_ver, tp.DEFAULT_MODEL, b_ver, gemms[-1].name or gemms[-1].output[0], SHIFT, THRESHOLD_FACTOR,
           ", self-test recomputed with ONNX Runtime" if "fraudd.selftest" in meta else ""), flush=True)
    return a, a_ver, b, b_ver


def model_section(champion, challenger=None, mode=None, share=None):
    """The lines under `model:` of a scenario's config (after passthrough)."""
    s = "  path: %s\n  reload_interval_ms: %d\n" % (champion, RELOAD_MS)
    if challenger:
        s += "  challenger:\n    path: %s\n    mode: %s\n" % (challenger, mode)
        if share is not None:
            s += "    share: %s\n" % share
    return s


# ------------------------------------------------------------------ feed and reference

def feed(n, seed, keyless_every=0):
    """n generated records (index, value, key), keyed by card. The generator gives almost every
    record a card of its own; here CARDS of its card ids are kept and each record gets one of
    them (seeded), so a card has about n / CARDS records. With keyless_every, every
    keyless_every-th record has no key."""
    import random
    rng = random.Random(seed)
    _, lines = tp.generate(n, seed)
    pool = list(dict.fromkeys(tp.card_key(l) for l in lines))[:CARDS]
    items = []
    for i, line in enumerate(lines):
        card = rng.choice(pool)
        v = re.sub(rb'"card_id":"[^"]*"', b'"card_id":"' + card + b'"', line, count=1)
        items.append((i, v, None if keyless_every and i % keyless_every == keyless_every - 1 else card))
    return items


def read_input(topic, ends):
    """{(partition, offset): (value, key)} of the input topic between its watermarks, read back
    by the checker's client."""
    c = Consumer({"bootstrap.servers": tp.BOOT, "group.id": "checker-in-" + topic,
                  "enable.auto.commit": False})
    c.assign([TopicPartition(topic, p, lo) for p, (lo, hi) in ends.items() if hi > lo])
    want = sum(hi - lo for lo, hi in ends.values())
    got = {}
    deadline = time.time() + 60
    while len(got) < want and time.time() < deadline:
        for m in c.consume(10000, 0.5):
            if not m.error():
                got[(m.partition(), m.offset())] = (m.value(), m.key())
    c.close()
    return got


def score_offline(name, model, inputs):
    """{position: `fraudd score --model model` line} for the input records."""
    order = sorted(inputs)
    src = os.path.join(tp.WORK, name + "-input.jsonl")
    if not os.path.exists(src):
        with open(src, "wb") as f:
            f.write(b"".join(inputs[p][0] + b"\n" for p in order))
    out = os.path.join(tp.WORK, "%s-expected-%s.jsonl" % (name, os.path.basename(model)))
    subprocess.run([tp.FRAUDD, "score", "--model", model, "--input", src, "--output", out, "--quiet"], check=True)
    with open(out, "rb") as f:
        lines = f.read().splitlines()
    if len(lines) != len(order):
        raise RuntimeError("fraudd score --model %s: %d results for %d records" % (model, len(lines), len(order)))
    return dict(zip(order, lines))


PASSTHROUGH_ID = re.compile(rb'^\{"id":"(?:[^"\\]|\\.)*",')


def shadow_line(champ, chal):
    """The contract's shadow result: the champion's line with the challenger's line, its
    passthrough id removed, appended as "challenger"."""
    body, k = PASSTHROUGH_ID.subn(b"{", chal)
    if k != 1:
        raise ValueError("no passthrough id at the start of %r" % chal[:60])
    return champ[:-1] + b',"challenger":' + body + b"}"


def series(metrics, name):
    """[(labels dict, value)] of one metric in tp.scrape's output."""
    out = []
    for k, v in metrics.items():
        if k.startswith(name + "{"):
            out.append((dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', k[len(name):])), v))
    return out


def verdict_cells(metrics):
    """{(champion version, challenger version, champion verdict, challenger verdict): count}
    from fraudd_shadow_verdicts_total."""
    return {(l.get("champion_version"), l.get("challenger_version"), l.get("champion"), l.get("challenger")): v
            for l, v in series(metrics, "fraudd_shadow_verdicts_total")}


def score_counts(metrics):
    return {l.get("model_version"): v for l, v in series(metrics, "fraudd_score_count")}


# ------------------------------------------------------------------ the run

class Run:
    """One scenario's fraudd, feed and checker. start() launches fraudd (and the feeder once it
    has partitions), finish() waits for every result, scrapes /metrics, SIGTERMs fraudd and
    reads the input back; then .results [(pos, value, key, headers)], .inputs, .metrics."""

    def __init__(self, name, items, rate, model_lines):
        self.name, self.items, self.rate = name, items, rate
        self.topics = tp.topics_for(name)
        self.group = "g-" + self.topics[0]
        self.port = tp.free_port()
        self.cfg = self.config(model_lines)
        self.chk = KeepingChecker(self.topics, self.group)
        self.d = None
        self.ok = False

    def config(self, model_lines, suffix=""):
        return tp.write_config(self.name + suffix, self.group, self.topics, session_ms=int(fl.SESSION_S * 1000),
                               extra_model=model_lines, http_port=self.port)

    def rewrite_config(self, model_lines):
        """The config file replaced atomically: the new one written beside it, renamed over it."""
        os.rename(self.config(model_lines, ".next"), self.cfg)

    def start(self):
        self.d = tp.Daemon(self.cfg, self.name)
        if not check(self.d.wait_assigned(), self.name + ": fraudd got partitions"):
            with open(self.d.log_path, "rb") as f:
                tail = f.read().decode(errors="replace").splitlines()[-3:]
            print("  fraudd exit %s; its last log lines:\n    %s" % (self.d.proc.poll(), "\n    ".join(tail)), flush=True)
            return False
        self.ld = tp.Loader(self.topics[0])
        self.t0 = time.time()
        self.feeder = self.ld.produce_in_background(self.items, self.rate)
        return True

    def finish(self):
        self.feeder.join()
        self.ends, want = fl.input_ends(self.topics[0])
        deadline = time.time() + 120
        while time.time() < deadline and not want <= self.chk.sources():
            time.sleep(0.25)
        self.metrics = tp.scrape(self.port) if self.d.proc.poll() is None else {}
        _, self.final_committed, _ = fl.finish(self.chk, self.d, self.name, lambda: want <= self.chk.sources(), 1)
        self.chk.close()
        self.inputs = read_input(self.topics[0], self.ends)
        self.tl = fl.tally(self.chk, want)
        self.results = [((sp, so), v, k, h) for t, sp, so, v, k, h in self.chk.kept if t == self.topics[1]]
        self.ok = True

    def cleanup(self):
        fl.cleanup(self.chk, *([self.d] if self.d else []))

    def delivery_checks(self):
        """lost 0, duplicates 0, no dead letters, keys kept, lag 0 after the SIGTERM."""
        n, name, tl = len(self.items), self.name, self.tl
        fed = sum(hi - lo for lo, hi in self.ends.values())
        print("  records in %d, results out %d, dead letters %d, lost %d, duplicates %d (%.1f s from the feed's start)" %
              (fed, tl.n_out, tl.n_dlq, len(tl.lost), tl.n_dups, time.time() - self.t0), flush=True)
        check(fed == n == len(self.inputs), name + ": the input holds every record fed (%d of %d, read back %d)" %
              (fed, n, len(self.inputs)))
        check(not tl.lost, name + ": lost 0: every input offset has a result (%d without)%s" %
              (len(tl.lost), (": first " + str(tl.lost[:5])) if tl.lost else ""))
        check(tl.n_dups == 0, name + ": duplicates 0 (%d extra results)" % tl.n_dups)
        check(tl.n_dlq == 0 and not tl.stray, name + ": no dead letters (%d), no result for an offset that does not "
              "exist (%d)" % (tl.n_dlq, len(tl.stray)))
        keys = sum(1 for pos, _, k, _ in self.results if pos in self.inputs and k != self.inputs[pos][1])
        check(keys == 0, name + ": every result carries its input's key (%d differ)" % keys)
        lag = sum(hi - self.final_committed.get(p, 0) for p, (_, hi) in self.ends.items())
        check(lag == 0, name + ": after the SIGTERM the committed offsets are the input's end (lag %d)" % lag)


def run(name, items, rate, model_lines, during=None):
    """A scenario's common part: fraudd with that model section, the feed at `rate`, during(r)
    while it runs; returns the finished Run, or None if fraudd never got partitions."""
    r = Run(name, items, rate, model_lines)
    try:
        if r.start():
            try:
                if during:
                    during(r)
            finally:
                r.finish()
    finally:
        r.cleanup()
    if not r.ok:
        return None
    r.delivery_checks()
    return r


def teeth(name, a_lines, b_lines, a_ver, b_ver):
    """The checks mean something only if A and B score records differently."""
    differ = sum(1 for p in a_lines if json.loads(a_lines[p])["score"] != json.loads(b_lines[p])["score"])
    verdicts = sum(1 for p in a_lines if json.loads(a_lines[p])["is_fraud"] != json.loads(b_lines[p])["is_fraud"])
    check(differ > 0.9 * len(a_lines), "%s: offline, %s and %s give different scores to %d of %d records "
          "(different verdicts: %d)" % (name, a_ver, b_ver, differ, len(a_lines), verdicts))


def check_pairs(name, r, models, order):
    """Every result byte-identical to what its (champion, challenger) pair gives, that pair one
    of `order`, and within each partition the pairs only move forward through `order` in
    offset order. models: {version: offline lines}. Returns the count of results per pair and
    the checker's verdict cells."""
    per, cells = collections.Counter(), collections.Counter()
    mismatch = unknown = backwards = header = 0
    last = {}
    for pos, v, k, h in sorted(r.results, key=lambda x: x[0]):
        obj = json.loads(v)
        chal = obj.get("challenger")
        pair = (obj.get("model_version"), chal.get("model_version") if isinstance(chal, dict) else None)
        per[pair] += 1
        header += h.get("fraudd.model.version") != pair[0]
        if pair not in order or pos not in r.inputs:
            unknown += 1
            continue
        want = models[pair[0]][pos] if pair[1] is None else shadow_line(models[pair[0]][pos], models[pair[1]][pos])
        if v != want:
            mismatch += 1
            if mismatch <= 3:
                print("  result   %s\n  expected %s" % (v[:400], want[:400]))
        if pair[1] is not None:
            cells[(pair[0], pair[1], "fraud" if obj["is_fraud"] else "legit",
                   "fraud" if chal.get("is_fraud") else "legit")] += 1
        rank = order.index(pair)
        if rank < last.get(pos[0], 0):
            backwards += 1
        last[pos[0]] = rank
    show = lambda p: "%s%s" % (p[0], " + shadow " + p[1] if p[1] else "")  # noqa: E731
    print("  results per model pair: " + ", ".join("%s %d" % (show(p), per[p]) for p in order + sorted(set(per) - set(order), key=str)))
    check(unknown == 0, "%s: every result names a pair in force (%s) (%d do not)" %
          (name, " -> ".join(map(show, order)), unknown))
    check(mismatch == 0, "%s: every result is byte-identical to `fraudd score` with the model(s) it names, "
          "a shadow result = champion's line + \"challenger\": challenger's line without its passthrough (%d differ)" %
          (name, mismatch))
    check(header == 0, "%s: the fraudd.model.version header names the champion (%d differ)" % (name, header))
    if len(order) > 1:
        check(backwards == 0, "%s: within each partition the pairs change only forward in offset order "
              "(%d go back)" % (name, backwards))
    return per, cells


def check_verdicts(name, r, cells):
    """fraudd_shadow_verdicts_total against the checker's own count of verdict pairs."""
    got = verdict_cells(r.metrics)
    nonzero = {k: v for k, v in got.items() if v}
    print("  shadow verdicts (champion, challenger, champion verdict, challenger verdict): checker %s; "
          "/metrics %s" % (dict(cells), nonzero))
    check(sum(got.values()) == sum(cells.values()), "%s: fraudd_shadow_verdicts_total sums to the shadow-scored "
          "results the checker saw (%d, checker %d)" % (name, sum(got.values()), sum(cells.values())))
    check(nonzero == dict(cells), "%s: each fraudd_shadow_verdicts_total cell equals the checker's count of "
          "is_fraud pairs" % name)


# ------------------------------------------------------------------ scenarios

def rollout_shadow(name="rollout_shadow"):
    mdir = os.path.join(tp.WORK, name + "-models")
    a, a_ver, b, b_ver = make_models(mdir)
    items = feed(30000, 43)
    r = run(name, items, 3000, model_section(a, b, "shadow"))
    if not r:
        return
    la, lb = score_offline(name, a, r.inputs), score_offline(name, b, r.inputs)
    teeth(name, la, lb, a_ver, b_ver)
    per, cells = check_pairs(name, r, {a_ver: la, b_ver: lb}, [(a_ver, b_ver)])
    check(per[(a_ver, b_ver)] == len(r.inputs), "%s: every result carries both models' results (%d of %d)" %
          (name, per[(a_ver, b_ver)], len(r.inputs)))
    check_verdicts(name, r, cells)
    sc = score_counts(r.metrics)
    print("  fraudd_score_count: %s (records %d)" % (sc, len(r.inputs)))
    check(sc.get(a_ver, 0) > 0 and sc.get(b_ver, 0) > 0,
          "%s: fraudd_score_count names both versions (%s)" % (name, sc))
    fl.report({"scenario": name, "records_in": len(r.inputs), "lost": len(r.tl.lost), "duplicates": r.tl.n_dups,
               "shadow_results": per[(a_ver, b_ver)], "verdict_cells": {"/".join(k[2:]): v for k, v in cells.items()}})


def rollout_canary(name="rollout_canary"):
    mdir = os.path.join(tp.WORK, name + "-models")
    a, a_ver, b, b_ver = make_models(mdir)
    items = feed(30000, 47, keyless_every=100)
    r = run(name, items, 3000, model_section(a, b, "canary", CANARY_SHARE))
    if not r:
        return
    la, lb = score_offline(name, a, r.inputs), score_offline(name, b, r.inputs)
    teeth(name, la, lb, a_ver, b_ver)
    wrong_model = mismatch = header = keyless_b = 0
    served = collections.Counter()
    by_card = collections.defaultdict(set)
    for pos, v, k, h in r.results:
        if pos not in r.inputs:
            continue
        key = r.inputs[pos][1]
        want_ver = b_ver if canary_pick(key, CANARY_SHARE) else a_ver
        got_ver = json.loads(v).get("model_version")
        served[got_ver] += 1
        keyless_b += key is None and got_ver != a_ver
        if key is not None:
            by_card[key].add(got_ver)
        if got_ver != want_ver:
            wrong_model += 1
        elif v != (lb if want_ver == b_ver else la)[pos]:
            mismatch += 1
            if mismatch <= 3:
                print("  result   %s\n  expected %s" % (v[:300], (lb if want_ver == b_ver else la)[pos][:300]))
        header += h.get("fraudd.model.version") != got_ver
    keyless = sum(1 for _, k in r.inputs.values() if k is None)
    cards = {k for _, k in r.inputs.values() if k is not None}
    to_b = sum(1 for k in cards if canary_pick(k, CANARY_SHARE))
    seen_b = sum(1 for k, vs in by_card.items() if vs == {b_ver})
    sd = math.sqrt(len(cards) * CANARY_SHARE * (1 - CANARY_SHARE))
    print("  served: %s; %d distinct cards, %d (%.2f %%) hash to the challenger, %d of them served by it; "
          "%d records without a key; fraudd.model.version header differs from model_version in %d results" %
          (dict(served), len(cards), to_b, 100.0 * to_b / max(1, len(cards)), seen_b, keyless, header))
    check(wrong_model == 0, "%s: every record is served by the model its key's FNV-1a 64 picks (share %g; no key: "
          "the champion) (%d are not)" % (name, CANARY_SHARE, wrong_model))
    check(mismatch == 0, "%s: every result is byte-identical to `fraudd score --model <the model it names>` "
          "(%d differ)" % (name, mismatch))
    check(keyless > 0 and keyless_b == 0, "%s: the %d records without a key are the champion's (%d are not)" %
          (name, keyless, keyless_b))
    check(all(len(vs) == 1 for vs in by_card.values()), "%s: each card is served by one model only (%d by both)" %
          (name, sum(1 for vs in by_card.values() if len(vs) > 1)))
    check(abs(seen_b - CANARY_SHARE * len(cards)) <= 4.5 * sd,
          "%s: the challenger serves %d of %d cards (%.2f %%): within 4.5 binomial sd (%.1f) of %g %%" %
          (name, seen_b, len(cards), 100.0 * seen_b / max(1, len(cards)), sd, 100 * CANARY_SHARE))
    sc = score_counts(r.metrics)
    print("  fraudd_score_count: %s (checker: %s)" % (sc, dict(served)))
    check(sc.get(a_ver, 0) > 0 and sc.get(b_ver, 0) > 0,
          "%s: fraudd_score_count names both versions (%s)" % (name, sc))
    fl.report({"scenario": name, "records_in": len(r.inputs), "lost": len(r.tl.lost), "duplicates": r.tl.n_dups,
               "cards": len(cards), "cards_challenger": seen_b, "served": dict(served)})


def rollout_promote(name="rollout_promote"):
    mdir = os.path.join(tp.WORK, name + "-models")
    a, a_ver, b, b_ver = make_models(mdir)
    rate, secs = 2000, 21
    items = feed(rate * secs, 53)
    order = [(a_ver, b_ver), (b_ver, a_ver), (b_ver, None)]
    changes = []

    def during(r):
        # (trigger, new model section, the event fraudd logs once the new pair serves, what its msg names)
        steps = [("SIGHUP", model_section(b, a, "shadow"), "model_promoted", "version %s with shadow %s" % (b_ver, a_ver)),
                 ("the file check", model_section(b), "model_reloaded", ": version %s (" % b_ver)]
        for k, (how, lines, event, names) in enumerate(steps):
            time.sleep(max(0.0, (k + 1) * secs / 3.0 - (time.time() - r.t0)))
            r.d.mark()
            t = time.time()
            r.rewrite_config(lines)
            if how == "SIGHUP":
                r.d.proc.send_signal(signal.SIGHUP)
            got = r.d.wait_event(lambda e: e.get("event") in CHANGE_EVENTS, 20)
            seen = time.time()
            ev = [e for e in r.d.events() if e.get("event") in CHANGE_EVENTS]
            last = ev[-1] if got and ev else {}
            changes.append((t, seen if got else None))
            check(last.get("event") == event and names in last.get("msg", ""),
                  "%s: %s: fraudd logged %s naming %s (%.1f s into the feed, %.2f s after the config rewrite): %s" %
                  (name, how, event, names.strip(": ("), t - r.t0, seen - t,
                   json.dumps(last) if last else "(no event)"))

    r = run(name, items, rate, model_section(a, b, "shadow"), during)
    if not r:
        return
    la, lb = score_offline(name, a, r.inputs), score_offline(name, b, r.inputs)
    teeth(name, la, lb, a_ver, b_ver)
    per, cells = check_pairs(name, r, {a_ver: la, b_ver: lb}, order)
    check(all(per[p] > 0 for p in order), "%s: each pair scored records (%s)" %
          (name, ", ".join(str(per[p]) for p in order)))
    # a record the feeder handed over after fraudd logged a change (record i no earlier than
    # t0 + i / rate) was dispatched after it: the new pair (or a later one) must score it
    rank = {}
    for pos, v, _, _ in r.results:
        obj = json.loads(v)
        pair = (obj.get("model_version"), (obj.get("challenger") or {}).get("model_version"))
        rank[pos] = order.index(pair) if pair in order else -1
    for k, (_, seen) in enumerate(changes):
        if seen is None:
            continue
        after = [i for i in range(len(items)) if r.t0 + i / rate > seen and i in r.ld.where]
        old = sum(1 for i in after if rank.get(r.ld.where[i], -1) <= k)
        check(after and old == 0, "%s: the %d records fed after change %d was logged are all scored by %s or later "
              "(%d are not)" % (name, len(after), k + 1, " + shadow ".join(x for x in order[k + 1] if x), old))
    check_verdicts(name, r, cells)
    fl.warnings_by_event([r.d])
    fl.report({"scenario": name, "records_in": len(r.inputs), "lost": len(r.tl.lost), "duplicates": r.tl.n_dups,
               "rate": rate, "per_pair": [per[p] for p in order], "change_logged_s": [round(b - a, 2) if b else None for a, b in changes]})


SCENARIOS = {"rollout_shadow": rollout_shadow, "rollout_canary": rollout_canary, "rollout_promote": rollout_promote}
