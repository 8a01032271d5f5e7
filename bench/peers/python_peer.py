"""The Python peer of fraudd: the scoring service a good engineer would write in Python.

usage:
  python_peer.py run --bootstrap HOST:PORT --group G --input T --output T --dead-letter T
                 [--model PATH] [--batch 1000] [--poll-ms 5] [--passthrough id]
  python_peer.py score INPUT.jsonl OUTPUT.jsonl [--model PATH] [--passthrough id]

`run` consumes JSON transactions from a Kafka topic and publishes one result per record, as
`fraudd run` does (docs/OUTPUT.md, "In Kafka"): the value is the same result object (passthrough
fields, score, threshold, is_fraud, model_version, top_features), the key is the input's key, the
headers name the model version and the source topic, partition and offset. Records it cannot
score go to the dead-letter topic with fraudd.error.reason / .message headers. `score` runs the
same code over a JSONL file (no Kafka), for bench/peers/check.py to compare with `fraudd score`.

How (what a team would write, tuned but not contorted):
  - confluent-kafka (librdkafka) with the client settings fraudd uses by default (idempotent
    producer, linger.ms 5, cooperative-sticky assignment, 16 MB prefetch per partition queue);
    batches of up to --batch records from Consumer.consume(), which returns as soon as the batch
    is full or --poll-ms has passed.
  - orjson to parse and to write JSON; the features of a batch become one float32 matrix.
  - ONNX Runtime (1 intra-op and 1 inter-op thread, sequential) runs the model once per batch,
    the same .onnx file fraudd serves, its metadata read as fraudd reads it: fraudd.features,
    fraudd.threshold, fraudd.version, fraudd.log1p, fraudd.error_weights, fraudd.defaults.
  - numpy computes fraudd's score: mean over features of (w_i * (y_i - x_i))^2 in float64 from
    the float32 input (after log1p) and reconstruction, and the three largest terms.
  - At least once: enable.auto.offset.store=false. A batch's offsets are stored only when every
    one of its results (or dead letters) is acknowledged by the broker and every batch before
    it is too; the consumer's auto-commit (every second) commits what is stored. Batches do not
    wait for each other's acknowledgements: up to the producer's queue is in flight. On a
    partition's revocation and at SIGTERM the producer is flushed and the offsets committed.
Less strict than fraudd on odd input (a documented difference, not on the benchmark's path):
booleans are read as 0/1 and any string float() accepts is a number.
"""
import argparse
import collections
import operator
import signal
import sys
import time

import numpy as np
import onnxruntime as ort
import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition


class Reject(Exception):
    """A record that cannot be scored: reason (fraudd's names, docs/OUTPUT.md) and a sentence."""

    def __init__(self, reason, detail):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


ERROR_CLASS = {"not_json": "decode", "not_object": "decode", "missing_feature": "feature",
               "null_feature": "feature", "bad_type": "feature", "non_finite": "feature",
               "preprocess": "model"}


class Scorer:
    """The model and its metadata; score_batch turns raw record values into result values."""

    def __init__(self, path, passthrough=("id",)):
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        self.input_name = self.sess.get_inputs()[0].name
        meta = self.sess.get_modelmeta().custom_metadata_map
        self.features = orjson.loads(meta["fraudd.features"])
        nf = len(self.features)
        self.threshold = float(meta["fraudd.threshold"])
        self.version = meta.get("fraudd.version", "unversioned")
        # fraudd stores the weights as float32 and widens each to double in the score
        w = orjson.loads(meta["fraudd.error_weights"]) if "fraudd.error_weights" in meta else [1.0] * nf
        self.weights = np.asarray(w, dtype=np.float32).astype(np.float64)
        log1p = set(orjson.loads(meta.get("fraudd.log1p", "[]")))
        self.log1p_cols = np.array([i for i, f in enumerate(self.features) if f in log1p], dtype=np.intp)
        self.defaults = orjson.loads(meta.get("fraudd.defaults", "{}"))
        self.dotted = any("." in f for f in self.features)
        self.getter = operator.itemgetter(*self.features)
        self.passthrough = list(passthrough)
        self.names = self.features

    def _feature(self, rec, name):
        v = rec
        for part in name.split("."):
            if not isinstance(v, dict) or part not in v:
                if name in self.defaults:
                    return self.defaults[name]
                raise Reject("missing_feature", 'feature "%s" is missing; expected a number' % name)
            v = v[part]
        if v is None:
            if name in self.defaults:
                return self.defaults[name]
            raise Reject("null_feature", 'feature "%s" is null; expected a number' % name)
        if isinstance(v, (dict, list)):
            raise Reject("bad_type", 'feature "%s" is not a number' % name)
        try:
            f = np.float32(float(v))
        except (TypeError, ValueError):
            raise Reject("bad_type", 'feature "%s" is not a number' % name) from None
        if not np.isfinite(f):
            raise Reject("non_finite", 'feature "%s" is not finite as a float32' % name)
        return f

    def _row_slow(self, rec):
        """One record's features, with every check and default (the path for odd records)."""
        if not isinstance(rec, dict):
            raise Reject("not_object", "the record is not a JSON object")
        return tuple(self._feature(rec, f) for f in self.features)

    def score_batch(self, values):
        """values: the records' bytes. Returns (results, rejects): results a list of
        (index, result bytes), rejects a list of (index, Reject)."""
        recs, rows, idx, rejects = [], [], [], []
        for i, v in enumerate(values):
            try:
                rec = orjson.loads(v)
            except orjson.JSONDecodeError as e:
                rejects.append((i, Reject("not_json", "not JSON: %s" % e)))
                continue
            try:
                row = self._row_slow(rec) if self.dotted else self.getter(rec)
            except (KeyError, TypeError):
                try:
                    row = self._row_slow(rec)
                except Reject as r:
                    rejects.append((i, r))
                    continue
            except Reject as r:
                rejects.append((i, r))
                continue
            recs.append(rec)
            rows.append(row)
            idx.append(i)
        if not rows:
            return [], rejects
        try:
            x = np.array(rows, dtype=np.float32)
        except (TypeError, ValueError):  # a bad value somewhere: find it record by record
            keep = []
            for k, rec in enumerate(recs):
                try:
                    rows[k] = self._row_slow(rec)
                    keep.append(k)
                except Reject as r:
                    rejects.append((idx[k], r))
            recs, rows, idx = [recs[k] for k in keep], [rows[k] for k in keep], [idx[k] for k in keep]
            if not rows:
                return [], rejects
            x = np.array(rows, dtype=np.float32)
        bad = ~np.isfinite(x).all(axis=1)
        if self.log1p_cols.size:
            bad |= (x[:, self.log1p_cols] <= -1).any(axis=1)
        if bad.any():  # rare: say why, drop those rows
            keep = []
            for k in range(len(rows)):
                if not bad[k]:
                    keep.append(k)
                    continue
                try:
                    self._row_slow(recs[k])  # raises for null / non-finite values
                    rejects.append((idx[k], Reject("preprocess", "log1p of a value <= -1")))
                except Reject as r:
                    rejects.append((idx[k], r))
            x, recs, idx = x[keep], [recs[k] for k in keep], [idx[k] for k in keep]
            if not recs:
                return [], rejects
        raw = x
        if self.log1p_cols.size:
            x = x.copy()
            x[:, self.log1p_cols] = np.log1p(x[:, self.log1p_cols])
        y = self.sess.run(None, {self.input_name: x})[0]
        d = (y.astype(np.float64) - x.astype(np.float64)) * self.weights
        terms = d * d
        score = terms.sum(axis=1) / terms.shape[1]
        err = terms.astype(np.float32)
        top = np.argsort(-err, axis=1, kind="stable")[:, :3]  # ties keep the earlier feature
        top_err = np.take_along_axis(err, top, axis=1).tolist()
        top_val = np.take_along_axis(raw, top, axis=1).tolist()
        top = top.tolist()
        fraud = (score > self.threshold).tolist()
        score = score.tolist()
        names, thr, ver = self.names, self.threshold, self.version
        results = []
        for k, rec in enumerate(recs):
            out = {}
            for p in self.passthrough:
                if p in rec:
                    out[p] = rec[p]
            out["score"] = score[k]
            out["threshold"] = thr
            out["is_fraud"] = fraud[k]
            out["model_version"] = ver
            t, tv, te = top[k], top_val[k], top_err[k]
            out["top_features"] = [{"name": names[t[0]], "value": tv[0], "error": te[0]},
                                   {"name": names[t[1]], "value": tv[1], "error": te[1]},
                                   {"name": names[t[2]], "value": tv[2], "error": te[2]}]
            results.append((idx[k], orjson.dumps(out)))
        return results, rejects


class Batch:
    """One consumed batch: its highest offset per partition and how many of its messages the
    broker has not acknowledged yet. Its `delivered` is every message's on_delivery."""
    __slots__ = ("pending", "offsets", "failed")

    def __init__(self, msgs):
        self.pending = 0
        self.failed = None
        self.offsets = {}
        for m in msgs:
            self.offsets[(m.topic(), m.partition())] = m.offset() + 1

    def delivered(self, err, msg):
        self.pending -= 1
        if err is not None and self.failed is None:
            self.failed = err


class Service:
    def __init__(self, args, scorer):
        self.args, self.scorer = args, scorer
        self.consumer = Consumer({
            "bootstrap.servers": args.bootstrap, "group.id": args.group,
            "enable.auto.offset.store": False, "enable.auto.commit": True, "auto.commit.interval.ms": 1000,
            "auto.offset.reset": "earliest", "partition.assignment.strategy": "cooperative-sticky",
            "queued.max.messages.kbytes": 16384, "client.id": "python-peer"})
        self.producer = Producer({
            "bootstrap.servers": args.bootstrap, "enable.idempotence": True, "linger.ms": 5,
            "queue.buffering.max.messages": 200000, "message.max.bytes": 8388608, "client.id": "python-peer"})
        self.inflight = collections.deque()  # Batch, in consumption order
        self.stop = False

    def log(self, event, **kv):
        sys.stderr.write(orjson.dumps({"ts": time.time(), "event": event, **kv}).decode() + "\n")
        sys.stderr.flush()

    def store_done(self):
        """Stores the offsets of the acknowledged batches at the front of the queue."""
        self.producer.poll(0)
        done = {}
        while self.inflight and self.inflight[0].pending == 0:
            b = self.inflight.popleft()
            if b.failed is not None:
                raise KafkaException(b.failed)  # not stored: the records are read again after a restart
            done.update(b.offsets)
        if done:
            try:
                self.consumer.store_offsets(offsets=[TopicPartition(t, p, o) for (t, p), o in done.items()])
            except KafkaException as e:  # partitions revoked meanwhile: their new owner re-reads them
                self.log("store_failed", error=str(e))

    def drain(self):
        self.producer.flush(30)
        self.store_done()

    def on_assign(self, consumer, parts):
        self.log("assigned", partitions=[p.partition for p in parts])

    def on_revoke(self, consumer, parts):
        self.drain()
        try:
            consumer.commit(asynchronous=False)
        except KafkaException as e:
            if e.args[0].code() != KafkaError._NO_OFFSET:
                self.log("commit_failed", error=str(e))
        self.log("revoked", partitions=[p.partition for p in parts])

    def run(self):
        a, sc = self.args, self.scorer
        self.consumer.subscribe([a.input], on_assign=self.on_assign, on_revoke=self.on_revoke)
        ver = sc.version.encode()
        src_topic = a.input.encode()
        timeout = a.poll_ms / 1000.0
        while not self.stop:
            msgs = self.consumer.consume(num_messages=a.batch, timeout=timeout)
            if not msgs:
                self.store_done()
                continue
            good = [m for m in msgs if m.error() is None]
            for m in msgs:
                if m.error() is not None and m.error().code() != KafkaError._PARTITION_EOF:
                    self.log("consume_error", error=str(m.error()))
            batch = Batch(good)
            self.inflight.append(batch)
            results, rejects = sc.score_batch([m.value() for m in good])
            batch.pending = len(results) + len(rejects)
            for i, value in results:
                m = good[i]
                hdrs = [("fraudd.model.version", ver), ("fraudd.source.topic", src_topic),
                        ("fraudd.source.partition", str(m.partition())), ("fraudd.source.offset", str(m.offset()))]
                self.produce(a.output, value, m.key(), hdrs, batch.delivered)
            for i, r in rejects:
                m = good[i]
                hdrs = list(m.headers() or []) + [
                    ("fraudd.source.topic", src_topic), ("fraudd.source.partition", str(m.partition())),
                    ("fraudd.source.offset", str(m.offset())), ("fraudd.model.version", ver),
                    ("fraudd.error.class", ERROR_CLASS.get(r.reason, "decode")),
                    ("fraudd.error.reason", r.reason), ("fraudd.error.message", r.detail)]
                self.produce(a.dead_letter, m.value(), m.key(), hdrs, batch.delivered)
            self.store_done()
        self.drain()
        try:
            self.consumer.commit(asynchronous=False)
        except KafkaException as e:
            if e.args[0].code() != KafkaError._NO_OFFSET:
                self.log("commit_failed", error=str(e))
        self.consumer.close()
        self.log("stopped")

    def produce(self, topic, value, key, headers, cb):
        while True:
            try:
                self.producer.produce(topic, value, key, headers=headers, on_delivery=cb)
                return
            except BufferError:  # the producer's queue is full: serve delivery reports, retry
                self.producer.poll(0.01)


def cmd_score(args):
    sc = Scorer(args.model, args.passthrough)
    with open(args.input, "rb") as f:
        lines = f.read().splitlines()
    out = []
    for b in range(0, len(lines), args.batch):
        chunk = lines[b:b + args.batch]
        results, rejects = sc.score_batch(chunk)
        for i, r in rejects:
            print("line %d: %s: %s" % (b + i + 1, r.reason, r.detail), file=sys.stderr)
        out.extend(v for _, v in results)
    with open(args.output, "wb") as f:
        f.write(b"\n".join(out) + (b"\n" if out else b""))
    return 0


def main():
    import os
    default_model = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models", "default",
                                 "fraudd-default.onnx")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--bootstrap", required=True)
    r.add_argument("--group", required=True)
    r.add_argument("--input", required=True)
    r.add_argument("--output", required=True)
    r.add_argument("--dead-letter", required=True)
    r.add_argument("--poll-ms", type=float, default=5.0, help="longest wait for a batch to fill (ms)")
    s = sub.add_parser("score")
    s.add_argument("input")
    s.add_argument("output")
    for p in (r, s):
        p.add_argument("--model", default=os.path.normpath(default_model))
        p.add_argument("--batch", type=int, default=1000, help="records per consume() and per model call")
        p.add_argument("--passthrough", nargs="*", default=["id"], help="fields copied to each result")
    args = ap.parse_args()
    if args.cmd == "score":
        return cmd_score(args)
    svc = Service(args, Scorer(args.model, args.passthrough))

    def on_term(signum, frame):
        svc.stop = True
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    svc.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
