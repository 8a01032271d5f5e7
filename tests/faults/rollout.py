"""Model rollouts against a real broker: a shadow challenger, a canary, and a promotion under
load (issue 14; docs/RELIABILITY.md, "Model rollouts"). Run by tests/faults/run_faults.sh when
named (rollout_shadow, rollout_canary, rollout_promote), with the checker, feeder and closing
steps of faults.py.

The two models. The champion A is a copy of models/default/fraudd-default.onnx taken when the
scenario starts (whatever model is there then); the challenger B is made from that copy with
the onnx package: the bias of the graph's last Gemm + 0.05, fraudd.threshold 0.6 x A's (so some
verdicts differ as well), fraudd.version "<A's>-challenger", and, if A carries a
fraudd.selftest, its records' scores recomputed with ONNX Runtime as tests/parity does (else
fraudd would refuse B). Both are written into the run's temp folder.

The checker is another client build (confluent-kafka's bundled librdkafka): it reads every
result and dead letter as it arrives (faults.Checker, keeping each message whole), then reads
the input topic back. What a result must be is computed from the input records as the checker
read them, by `fraudd score --model A` and `--model B` offline, and, for a canary, by this
file's own hash of the record key. Each scenario checks lost 0 (every input offset has a
result), duplicates 0 (no crash, no rebalance: a clean SIGTERM at the end), no dead letters,
every result carrying its input's key, and after the SIGTERM the group's committed offsets at
the input's end; and:

  rollout_shadow   model.challenger mode shadow: every record scored by both. Each result is
                   A's `fraudd score` line with `,"challenger":<B's line without its
                   passthrough id>` appended, byte for byte; header fraudd.model.version = A's.
                   /metrics: fraudd_shadow_verdicts_total cells equal the checker's own count
                   of (A is_fraud, B is_fraud) pairs and sum to the results;
                   fraudd_score_count names both versions
  rollout_canary   mode canary, share 0.1: each result byte-identical to `fraudd score` with
                   the model it names; that model is the one the key picks, record by record:
                   B when (h >> 11) < 0.1 x 2^53, else A (and A for every record without a
                   key: 1 in 100 here), checked twice, with h = FNV-1a-64(key) (the issue's
                   contract) and with h = fmix64(FNV-1a-64(key)) (docs/DEPLOY.md); the cards
                   B serves (3,000 of the generator's card ids, about 10 records each) within
                   4.5 binomial standard deviations of 10 %; each card served by one model
                   only; fraudd_score_count names both versions. The canary also sets
                   model.challenger.threshold 5.5: B's results are `fraudd score --model B
                   --threshold 5.5`
  rollout_promote  a feed at a steady rate (2,000 records/s for 21 s); (A, shadow B) -> (B,
                   shadow A): the config file rewritten atomically (temp file renamed over
                   it), then SIGHUP; later -> (B alone): the file rewritten, no signal
                   (model.reload_interval_ms notices it). Each change is made 0.5 s into a
                   burst of 30,000 records at 20,000/s beside the steady feed, so that it
                   meets records in flight: both pairs must score some of the burst. Every
                   result byte-identical to what its model pair gives (read from its
                   model_version and challenger.model_version), the pairs change in that
                   order and only forward within each partition in offset order, each pair
                   scored records, fraudd logged each change (model_promoted, then
                   model_reloaded), every record fed after a change was logged has the new
                   pair's result; fraudd_shadow_verdicts_total cells per pair equal the
                   checker's counts at the end, and no scrape while it ran counted more
"""
import collections
import json
import math
import os
import re
import signal
import subprocess
import threading
import time

import faults as fl
import test_pipeline as tp
from test_pipeline import check
from confluent_kafka import Consumer, TopicPartition

RELOAD_MS = 500           # model.reload_interval_ms: also how often the config file is checked
CANARY_SHARE = 0.1
CANARY_THRESHOLD = 5.5    # rollout_canary: model.challenger.threshold, overriding B's own
BURST_RATE = 20000        # rollout_promote: records/s of the bursts around each change
CARDS = 3000              # distinct card keys of a canary feed
SHIFT = 0.05              # added to the last Gemm's bias to make the challenger
THRESHOLD_FACTOR = 0.6    # the challenger's fraudd.threshold: the champion's times this
FNV_OFFSET, FNV_PRIME = 0xcbf29ce484222325, 0x100000001b3
# the log events fraudd writes once a config change swapped the model pair in (src/reload/reload.c)
CHANGE_EVENTS = ("model_promoted", "model_reloaded")


class KeepingChecker(fl.Checker):
    KEEP = True


M64 = 0xFFFFFFFFFFFFFFFF


def fnv1a64(data):
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & M64
    return h


def fmix64(h):
    """MurmurHash3's 64-bit finalizer."""
    h ^= h >> 33
    h = (h * 0xff51afd7ed558ccd) & M64
    h ^= h >> 33
    h = (h * 0xc4ceb9fe1a85ec53) & M64
    return h ^ (h >> 33)


assert fnv1a64(b"") == 0xcbf29ce484222325 and fnv1a64(b"a") == 0xaf63dc4c8601ec8c  # published test vectors


def canary_pick(key, share):
    """True if the challenger serves a record with this key (bytes or None), by the hash
    docs/DEPLOY.md gives: (fmix64(FNV-1a-64(key)) >> 11) < share x 2^53 (FNV-1a alone would
    barely move its top bits for keys that differ in their last bytes, such as card numbers)."""
    if key is None:
        return False
    return (fmix64(fnv1a64(key)) >> 11) < share * 2.0 ** 53


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


def model_section(champion, challenger=None, mode=None, share=None, threshold=None):
    """The lines under `model:` of a scenario's config (after passthrough)."""
    s = "  path: %s\n  reload_interval_ms: %d\n" % (champion, RELOAD_MS)
    if challenger:
        s += "  challenger:\n    path: %s\n    mode: %s\n" % (challenger, mode)
        if share is not None:
            s += "    share: %s\n" % share
        if threshold is not None:
            s += "    threshold: %r\n" % threshold
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


def score_offline(name, model, inputs, threshold=None):
    """{position: `fraudd score --model model [--threshold threshold]` line} for the input records."""
    order = sorted(inputs)
    src = os.path.join(tp.WORK, name + "-input.jsonl")
    if not os.path.exists(src):
        with open(src, "wb") as f:
            f.write(b"".join(inputs[p][0] + b"\n" for p in order))
    out = os.path.join(tp.WORK, "%s-expected-%s-%s.jsonl" % (name, os.path.basename(model), threshold))
    subprocess.run([tp.FRAUDD, "score", "--model", model, "--input", src, "--output", out, "--quiet"] +
                   (["--threshold", repr(threshold)] if threshold is not None else []), check=True)
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
        self.name, self.items, self.rate = name, list(items), rate  # items: all records fed, bursts too
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
            print("  fraudd exit %s; its last log lines:\n    %s" % (self.d.proc.poll(), "\n    ".join(tail)),
                  flush=True)
            return False
        self.scrapes = []  # (time, verdict_cells) every 250 ms while fraudd runs
        self.scraping = threading.Thread(target=self._scrape, daemon=True)
        self.scraping.start()
        self.ld = tp.Loader(self.topics[0])
        self.t0 = time.time()
        self.feeder = self.ld.produce_in_background(list(self.items), self.rate)
        return True

    def _scrape(self):
        while not self.chk.stop_ev.is_set() and self.d.proc.poll() is None:
            t = time.time()
            try:
                self.scrapes.append((t, verdict_cells(tp.scrape(self.port))))
            except OSError:
                pass
            self.chk.stop_ev.wait(max(0.0, 0.25 - (time.time() - t)))

    def finish(self):
        self.feeder.join()
        self.ends, want = fl.input_ends(self.topics[0])
        deadline = time.time() + 120
        while time.time() < deadline and not want <= self.chk.sources():
            time.sleep(0.25)
        self.metrics = tp.scrape(self.port) if self.d.proc.poll() is None else {}
        self.scrapes.append((time.time(), verdict_cells(self.metrics)))
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
        print("  records in %d, results out %d, dead letters %d, lost %d, duplicates %d (%.1f s from the feed's "
              "start)" %
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
    shown = order + sorted(set(per) - set(order), key=str)
    print("  results per model pair: " + ", ".join("%s %d" % (show(p), per[p]) for p in shown))
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
    """fraudd_shadow_verdicts_total against the checker's own count of verdict pairs: at the end
    (the contract), and in every scrape while it ran (never above the checker's final count);
    prints, per pair, the last scrape that showed it."""
    got = verdict_cells(r.metrics)
    nonzero = {k: v for k, v in got.items() if v}
    print("  shadow verdicts (champion, challenger, champion verdict, challenger verdict): checker %s; "
          "/metrics at the end %s" % (dict(cells), nonzero))
    above = 0
    for pair in sorted({k[:2] for k in cells} | {k[:2] for _, c in r.scrapes for k in c}, key=str):
        shown = [(t, c) for t, c in r.scrapes if any(k[:2] == pair for k in c)]
        for t, c in shown:
            above += sum(1 for k, v in c.items() if k[:2] == pair and v > cells.get(k, 0))
        if shown:
            t, c = shown[-1]
            print("  %s + shadow %s: last shown %.1f s into the feed (%s), sum %d; the checker saw %d" %
                  (pair[0], pair[1], t - r.t0, "at the end" if t == r.scrapes[-1][0] else "then gone",
                   sum(v for k, v in c.items() if k[:2] == pair), sum(v for k, v in cells.items() if k[:2] == pair)))
    check(above == 0, "%s: no scrape of fraudd_shadow_verdicts_total counted more than the checker saw (%d cells did)" %
          (name, above))
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
    r = run(name, items, 3000, model_section(a, b, "canary", CANARY_SHARE, CANARY_THRESHOLD))
    if not r:
        return
    la, lb = score_offline(name, a, r.inputs), score_offline(name, b, r.inputs, CANARY_THRESHOLD)
    teeth(name, la, lb, a_ver, b_ver)
    lines = {a_ver: la, b_ver: lb}
    wrong = 0  # records served by another model than the hash picks
    mismatch = header = keyless_b = 0
    served = collections.Counter()
    by_card = collections.defaultdict(set)
    for pos, v, k, h in r.results:
        if pos not in r.inputs:
            continue
        key = r.inputs[pos][1]
        got_ver = json.loads(v).get("model_version")
        served[got_ver] += 1
        wrong += got_ver != (b_ver if canary_pick(key, CANARY_SHARE) else a_ver)
        keyless_b += key is None and got_ver != a_ver
        if key is not None:
            by_card[key].add(got_ver)
        if v != lines.get(got_ver, {}).get(pos):
            mismatch += 1
            if mismatch <= 3:
                print("  result   %s\n  expected %s" % (v[:300], lines.get(got_ver, {}).get(pos, b"")[:300]))
        header += h.get("fraudd.model.version") != got_ver
    keyless = sum(1 for _, k in r.inputs.values() if k is None)
    cards = {k for _, k in r.inputs.values() if k is not None}
    to_b = sum(1 for k in cards if canary_pick(k, CANARY_SHARE))
    seen_b = sum(1 for k, vs in by_card.items() if vs == {b_ver})
    sd = math.sqrt(len(cards) * CANARY_SHARE * (1 - CANARY_SHARE))
    print("  served: %s; %d distinct cards, served by the challenger %d, by docs/DEPLOY.md's hash %d "
          "should be; %d records without a key; fraudd.model.version header differs from "
          "model_version in %d results" % (dict(served), len(cards), seen_b, to_b, keyless, header))
    check(wrong == 0, "%s: every record is served by the model docs/DEPLOY.md's hash picks (FNV-1a 64, then "
          "MurmurHash3's fmix64, >> 11, below %g x 2^53; no key: the champion) (%d are not)" %
          (name, CANARY_SHARE, wrong))
    check(mismatch == 0, "%s: every result is byte-identical to `fraudd score --model <the model it names>` "
          "(B's with --threshold %g, model.challenger.threshold) (%d differ)" % (name, CANARY_THRESHOLD, mismatch))
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
    rate, secs, burst = 2000, 21, int(BURST_RATE * 1.5)
    steady = rate * secs
    items = feed(steady + 2 * burst, 53)
    bursts = [items[steady:steady + burst], items[steady + burst:]]
    del items[steady:]  # the steady feed; each burst joins r.items when it is sent
    order = [(a_ver, b_ver), (b_ver, a_ver), (b_ver, None)]
    changes = []

    def during(r):
        # (trigger, new model section, the event fraudd logs once the new pair serves, what its msg names)
        steps = [("SIGHUP", model_section(b, a, "shadow"), "model_promoted",
                  "version %s with shadow %s" % (b_ver, a_ver)),
                 ("the file check", model_section(b), "model_reloaded", ": version %s (" % b_ver)]
        # the bursts' producers, made now: a new idempotent producer needs a while before its
        # first record goes out (its producer id)
        loaders = [tp.Loader(r.topics[0]) for _ in steps]
        for k, (how, lines, event, names) in enumerate(steps):
            time.sleep(max(0.0, (k + 1) * secs / 3.0 - (time.time() - r.t0)))
            # a burst beside the steady feed (BURST_RATE records/s for 1.5 s); the change is made
            # 0.5 s into it, so that it meets records in flight (the steady feed alone leaves
            # fraudd idle most of the time), also when the file check takes up to 0.5 s to see it
            ld = loaders[k]
            r.items.extend(bursts[k])
            sender = ld.produce_in_background(bursts[k], BURST_RATE)
            time.sleep(0.5)
            r.d.mark()
            t = time.time()
            r.rewrite_config(lines)
            if how == "SIGHUP":
                r.d.proc.send_signal(signal.SIGHUP)
            got = r.d.wait_event(lambda e: e.get("event") in CHANGE_EVENTS, 20)
            seen = time.time()
            ev = [e for e in r.d.events() if e.get("event") in CHANGE_EVENTS]
            last = ev[-1] if got and ev else {}
            sender.join()
            changes.append((t, seen if got else None, ld.where))
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
    # a record the feeder handed over after fraudd logged a change was dispatched after it: the
    # new pair (or a later one) must score it. tp.Loader paces in blocks of 100: record i is
    # handed over no earlier than t0 + (i - i % 100) / rate
    rank = {}
    for pos, v, _, _ in r.results:
        obj = json.loads(v)
        pair = (obj.get("model_version"), (obj.get("challenger") or {}).get("model_version"))
        rank[pos] = order.index(pair) if pair in order else -1
    met = []
    for k, (_, seen, burst_where) in enumerate(changes):
        # how the burst sent just before the change was scored: both pairs if the change met it in flight
        met.append([sum(1 for pos in burst_where.values() if rank.get(pos) == x) for x in (k, k + 1)])
        check(min(met[-1]) > 0, "%s: change %d met the burst in flight: of its %d records %d were scored by the "
              "pair before, %d by the pair after" % (name, k + 1, len(burst_where), met[-1][0], met[-1][1]))
        if seen is None:
            continue
        after = [i for i in range(steady) if r.t0 + (i - i % 100) / rate > seen and i in r.ld.where]
        old = sum(1 for i in after if rank.get(r.ld.where[i], -1) <= k)
        check(after and old == 0, "%s: the %d records fed after change %d was logged are all scored by %s or later "
              "(%d are not)" % (name, len(after), k + 1, " + shadow ".join(x for x in order[k + 1] if x), old))
    check_verdicts(name, r, cells)
    fl.warnings_by_event([r.d])
    fl.report({"scenario": name, "records_in": len(r.inputs), "lost": len(r.tl.lost), "duplicates": r.tl.n_dups,
               "rate": rate, "bursts": burst, "per_pair": [per[p] for p in order], "burst_before_after": met,
               "change_logged_s": [round(c[1] - c[0], 2) if c[1] else None for c in changes]})


SCENARIOS = {"rollout_shadow": rollout_shadow, "rollout_canary": rollout_canary, "rollout_promote": rollout_promote}
