"""Integration tests of `fraudd run` against a real Kafka broker.

Run by tests/integration/run_all.sh, which starts the broker (scripts/kafka.sh) and sets
FR_KAFKA_BOOTSTRAP. The test client is confluent-kafka (its own bundled librdkafka), so fraudd
is checked by an independent client build.

  full        100,000 generated records over 4 partitions: every input has exactly one
              result, byte-identical to `fraudd score` on the same record, with the input's
              key and headers naming the source partition/offset and the model version
  sigterm     SIGTERM mid-stream, restart: no loss, no duplicate
  sigkill     SIGKILL mid-stream, restart: no loss; duplicates counted and reported
  malformed   not JSON, missing features, wrong types, 1 MB values: dead-letter topic with
              the original bytes/key and reason headers; the stream goes on
  rebalance   two fraudd processes in one group share the partitions; the second joining
              and then leaving mid-stream loses nothing
  rolling     rolling updates: a second fraudd starts, then the first gets SIGTERM while
              records flow, at five moments (ROLLING_WHEN), three of them inside the cooperative
              rebalance the newcomer starts; no loss, no duplicate, the final commit goes through
  prometheus  a real Prometheus server (Debian's) scrapes fraudd's /metrics while records flow:
              the counted records equal what was sent and the consumer lag returns to 0

usage: test_pipeline.py FRAUDD_BINARY [SCENARIO ...]
Every scenario uses its own topics and group. Prints one line per check; exits 1 on failure.
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

BOOT = os.environ.get("FR_KAFKA_BOOTSTRAP")
FRAUDD = None
WORK = tempfile.mkdtemp(prefix="fraudd-it-")
FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)
    return cond


def create_topics(names, partitions=4):
    admin = AdminClient({"bootstrap.servers": BOOT})
    fs = admin.create_topics([NewTopic(n, num_partitions=partitions, replication_factor=1,
                                       config={"max.message.bytes": "4194304"}) for n in names])
    for n, f in fs.items():
        f.result(30)
    # wait until every partition has a leader
    deadline = time.time() + 30
    while time.time() < deadline:
        md = admin.list_topics(timeout=10)
        if all(n in md.topics and len(md.topics[n].partitions) == partitions and
               all(p.leader >= 0 for p in md.topics[n].partitions.values()) for n in names):
            return
        time.sleep(0.2)
    raise RuntimeError("topics not ready: %s" % names)


class Loader:
    """Produces records (value, key) and remembers where each one landed."""

    def __init__(self, topic):
        self.topic = topic
        self.p = Producer({"bootstrap.servers": BOOT, "linger.ms": 5, "enable.idempotence": True,
                           "message.max.bytes": 4000000, "queue.buffering.max.messages": 200000})
        self.where = {}  # index -> (partition, offset)

    def produce(self, items, rate=None):
        t0 = time.time()
        for i, (idx, value, key) in enumerate(items):
            def cb(err, msg, idx=idx):
                if err:
                    raise RuntimeError("produce failed: %s" % err)
                self.where[idx] = (msg.partition(), msg.offset())
            while True:
                try:
                    self.p.produce(self.topic, value=value, key=key, on_delivery=cb)
                    break
                except BufferError:
                    self.p.poll(0.01)
            self.p.poll(0)
            if rate and i % 100 == 99:
                ahead = (i + 1) / rate - (time.time() - t0)
                if ahead > 0:
                    time.sleep(ahead)
        self.p.flush(60)

    def produce_in_background(self, items, rate):
        """Starts producing at `rate` records/s on a thread; join it to wait."""
        t = threading.Thread(target=self.produce, args=(items, rate))
        t.start()
        return t


def keyed(lines, n):
    """(index, record, key) for the first n generated records, keyed by card."""
    return [(i, lines[i], card_key(lines[i])) for i in range(n)]


def loss_and_dups(ld, out):
    """Input positions without a result, and results beyond one per input."""
    src = by_source(out)
    return set(ld.where.values()) - set(src), sum(len(v) - 1 for v in src.values()), src


def read_topic(topic, want, timeout):
    """Reads a topic from the beginning until it holds results for `want` distinct source
    positions (fraudd.source.* headers) or the timeout. Returns a list of (value, key, headers)."""
    c = Consumer({"bootstrap.servers": BOOT, "group.id": "reader-" + uuid.uuid4().hex,
                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "fetch.max.bytes": 8388608, "max.partition.fetch.bytes": 8388608})
    md = c.list_topics(topic, timeout=10)
    c.assign([TopicPartition(topic, p, 0) for p in md.topics[topic].partitions])
    out = []
    distinct = set()
    deadline = time.time() + timeout
    quiet_until = None
    while time.time() < deadline:
        msgs = c.consume(10000, 0.5)
        for m in msgs:
            if m.error():
                continue
            h = {k: v.decode() for k, v in (m.headers() or [])}
            out.append((m.value(), m.key(), h))
            distinct.add((h.get("fraudd.source.partition"), h.get("fraudd.source.offset")))
        if len(distinct) >= want:
            # linger briefly to catch duplicates arriving just behind
            if quiet_until is None:
                quiet_until = time.time() + 2.0
            if time.time() >= quiet_until:
                break
    c.close()
    return out


def write_config(name, group, topics, extra_pipeline="", extra_model="", workers=2, extra_consumer="",
                 level="info"):
    inp, out, dlq = topics
    path = os.path.join(WORK, name + ".yaml")
    with open(path, "w") as f:
        f.write(f"""kafka:
  bootstrap_servers: "${{FR_KAFKA_BOOTSTRAP}}"
  group_id: {group}
  input_topic: {inp}
  output_topic: {out}
  dead_letter_topic: {dlq}
  consumer:
    session.timeout.ms: "10000"
    heartbeat.interval.ms: "1000"
{extra_consumer}pipeline:
  workers: {workers}
  shutdown_timeout_ms: 20000
{extra_pipeline}model:
  passthrough: [id]
{extra_model}http:
  port: 0
logging:
  format: json
  level: {level}
""")
    return path


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Daemon:
    def __init__(self, cfg, name, args=()):
        self.log_path = os.path.join(WORK, name + ".log")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([FRAUDD, "run", "--config", cfg, *args], stdout=self.log, stderr=self.log)

    def wait_assigned(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with open(self.log_path) as f:
                if '"event":"assigned"' in f.read():
                    return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.1)
        return False

    def mark(self):
        """Later poll_event calls look only at log lines written after this call."""
        self.seen = os.path.getsize(self.log_path)

    def poll_event(self, pred):
        """True if a log line written since the last mark/poll satisfies pred."""
        with open(self.log_path, "rb") as f:
            f.seek(getattr(self, "seen", 0))
            chunk = f.read()
        end = chunk.rfind(b"\n") + 1
        self.seen = getattr(self, "seen", 0) + end
        for line in chunk[:end].splitlines():
            try:
                if pred(json.loads(line)):
                    return True
            except ValueError:
                pass
        return False

    def wait_event(self, pred, timeout=60):
        """Waits until a log line satisfies pred (from the start of the log, or from mark()),
        checked every 5 ms, so a signal sent right after can land inside a short window."""
        return first_event([self], pred, timeout) is self

    def stop(self, sig=signal.SIGTERM, timeout=40):
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = "timeout"
        self.log.close()
        return rc

    def events(self):
        out = []
        with open(self.log_path) as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out


def first_event(daemons, pred, timeout=60):
    """The first of daemons to log a line satisfying pred (see Daemon.poll_event), or None."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for d in daemons:
            if d.poll_event(pred):
                return d
        if all(d.proc.poll() is not None for d in daemons):
            return None
        time.sleep(0.005)
    return None


def generate(n, seed):
    path = os.path.join(WORK, f"gen-{seed}-{n}.jsonl")
    subprocess.run([FRAUDD, "generate", "--count", str(n), "--seed", str(seed), "--anomaly-rate", "0.01",
                    "--output", path], check=True)
    with open(path, "rb") as f:
        lines = f.read().splitlines()
    return path, lines


def card_key(line):
    return json.loads(line)["card_id"].encode()


def by_source(msgs):
    """(partition, offset) -> list of messages, from the fraudd.source.* headers."""
    seen = {}
    for v, k, h in msgs:
        seen.setdefault((int(h["fraudd.source.partition"]), int(h["fraudd.source.offset"])), []).append((v, k, h))
    return seen


def topics_for(name):
    t = name + "-" + uuid.uuid4().hex[:8]
    topics = (t + "-in", t + "-out", t + "-dlq")
    create_topics(topics)
    return topics


# ---------------------------------------------------------------- scenarios

def scenario_full():
    n = 100000
    topics = topics_for("full")
    path, lines = generate(n, 7)
    expected_path = os.path.join(WORK, "full-expected.jsonl")
    subprocess.run([FRAUDD, "score", "--input", path, "--output", expected_path, "--quiet"], check=True)
    with open(expected_path, "rb") as f:
        expected = f.read().splitlines()
    check(len(expected) == n, "fraudd score scored all %d generated records" % n)
    ld = Loader(topics[0])
    ld.produce(keyed(lines, n))
    check(len(ld.where) == n, "loaded %d records into 4 partitions" % n)
    d = Daemon(write_config("full", "g-" + topics[0], topics), "full")
    t0 = time.time()
    out = read_topic(topics[1], n, 300)
    secs = time.time() - t0
    rc = d.stop()
    check(rc == 0, "fraudd exits 0 on SIGTERM (got %s)" % rc)
    src = by_source(out)
    pos_to_idx = {v: k for k, v in ld.where.items()}
    check(len(out) == n, "%d results for %d records (%.1f s)" % (len(out), n, secs))
    check(set(src) == set(pos_to_idx), "every input position has a result")
    check(all(len(v) == 1 for v in src.values()), "no input has more than one result")
    mismatch = keymis = hdr = 0
    for pos, [(v, k, h)] in ((p, m) for p, m in src.items() if len(m) == 1):
        i = pos_to_idx.get(pos)
        if i is None:
            continue
        if v != expected[i]:
            mismatch += 1
            if mismatch <= 3:
                print("  result   ", v[:200], "\n  expected ", expected[i][:200])
        if k != card_key(lines[i]):
            keymis += 1
        if h.get("fraudd.model.version") != "ulb-ae-1.1.0" or h.get("fraudd.source.topic") != topics[0]:
            hdr += 1
    check(mismatch == 0, "every result is byte-identical to `fraudd score` on the same record (%d differ)" % mismatch)
    check(keymis == 0, "every result carries its input's key (%d differ)" % keymis)
    check(hdr == 0, "every result names the model version and source topic in headers (%d wrong)" % hdr)
    flagged = sum(1 for v, _, _ in out if b'"is_fraud":true' in v)
    print("  flagged %d of %d (%.2f%%)" % (flagged, n, 100.0 * flagged / n))
    dl = read_topic(topics[2], 0, 3)
    check(len(dl) == 0, "no dead letters for valid records")


def streaming_restart(name, sig):
    """Records arrive at a steady rate; fraudd is stopped with `sig` mid-stream and restarted."""
    n, rate = 60000, 15000
    topics = topics_for(name)
    _, lines = generate(n, 11 if sig == signal.SIGTERM else 13)
    cfg = write_config(name, "g-" + topics[0], topics)
    ld = Loader(topics[0])
    d1 = Daemon(cfg, name + "-1")
    check(d1.wait_assigned(), name + ": first fraudd got partitions")
    feeder = ld.produce_in_background(keyed(lines, n), rate)
    time.sleep(1.5)  # mid-stream
    rc1 = d1.stop(sig)
    check(rc1 == (0 if sig == signal.SIGTERM else -signal.SIGKILL), "%s: first fraudd ended by %s (rc %s)" %
          (name, signal.Signals(sig).name, rc1))
    first = [e for e in d1.events() if e.get("event") == "shutdown_complete"]
    if sig == signal.SIGTERM:
        check(bool(first), name + ": first fraudd logged shutdown_complete")
        if first:
            print("  " + first[0]["msg"])
    d2 = Daemon(cfg, name + "-2")
    feeder.join()
    out = read_topic(topics[1], n, 180)
    rc2 = d2.stop()
    check(rc2 == 0, name + ": second fraudd exits 0 on SIGTERM")
    lost, dups, src = loss_and_dups(ld, out)
    check(len(set(ld.where.values())) == n, name + ": %d records produced" % n)
    check(not lost, name + ": no record lost (%d without a result)" % len(lost))
    if sig == signal.SIGTERM:
        check(dups == 0, name + ": no duplicates after a clean shutdown (%d)" % dups)
    else:
        check(True, name + ": duplicates after SIGKILL: %d (at-least-once: the uncommitted tail is redelivered)" % dups)
        # a duplicate must be an identical result
        diff = sum(1 for v in src.values() if len(v) > 1 and len({m[0] for m in v}) > 1)
        check(diff == 0, name + ": duplicates are identical to the first result (%d differ)" % diff)
    return dups


def scenario_sigterm():
    streaming_restart("sigterm", signal.SIGTERM)


def scenario_sigkill():
    streaming_restart("sigkill", signal.SIGKILL)


def scenario_malformed():
    topics = topics_for("malformed")
    _, lines = generate(3000, 17)
    good = [json.loads(l) for l in lines]
    big = json.dumps(dict(good[0], note="x" * 1000000)).encode()       # 1 MB, valid: too_large
    bigfeat = json.dumps(dict(good[1], V3="9" * 1000000)).encode()     # 1 MB number string
    bad = [
        (b"this is not json", "decode", "not_json"),
        (b"[1,2,3]", "decode", "not_object"),
        (json.dumps({k: v for k, v in good[2].items() if k != "V7"}).encode(), "feature", "missing_feature"),
        (json.dumps(dict(good[3], V4=None)).encode(), "feature", "null_feature"),
        (json.dumps(dict(good[4], V5="abc")).encode(), "feature", "bad_type"),
        (json.dumps(dict(good[5], V6=True)).encode(), "feature", "bad_type"),
        (json.dumps(dict(good[6], Amount=-5)).encode(), "model", "preprocess"),
        (b'{"id":"trunc","V1":1.0,', "decode", "not_json"),
        (b"", "decode", "not_json"),
        (big, "decode", "too_large"),
        (bigfeat, "decode", "too_large"),
    ]
    items = []
    kinds = {}
    idx = 0
    for i, l in enumerate(lines):
        items.append((idx, l, card_key(l)))
        idx += 1
        if i % 250 == 100 and bad:
            v, cls, reason = bad.pop(0)
            kinds[idx] = (v, cls, reason)
            items.append((idx, v, b"bad-%d" % idx))
            idx += 1
    total = len(items)
    cfg = write_config("malformed", "g-" + topics[0], topics, extra_model="  max_record_bytes: 65536\n")
    ld = Loader(topics[0])
    ld.produce(items)
    d = Daemon(cfg, "malformed")
    out = read_topic(topics[1], total - len(kinds), 120)
    dl = read_topic(topics[2], len(kinds), 60)
    rc = d.stop()
    check(rc == 0, "malformed: fraudd exits 0")
    check(len(out) == total - len(kinds), "malformed: every valid record has a result (%d of %d)" %
          (len(out), total - len(kinds)))
    check(len(dl) == len(kinds), "malformed: every bad record is in the dead-letter topic (%d of %d)" %
          (len(dl), len(kinds)))
    pos_to_idx = {v: k for k, v in ld.where.items()}
    ok = 0
    for v, k, h in dl:
        i = pos_to_idx.get((int(h["fraudd.source.partition"]), int(h["fraudd.source.offset"])))
        want = kinds.get(i)
        if want and v == want[0] and k == b"bad-%d" % i and h.get("fraudd.error.class") == want[1] and \
                h.get("fraudd.error.reason") == want[2] and h.get("fraudd.error.message") and \
                h.get("fraudd.model.version") == "ulb-ae-1.1.0" and h.get("fraudd.source.topic") == topics[0]:
            ok += 1
        else:
            print("  unexpected dead letter:", i, v[:80], k, {x: y[:80] for x, y in h.items()})
    check(ok == len(kinds), "malformed: dead letters carry original bytes and key, class, reason, message, "
          "source and model version (%d of %d)" % (ok, len(kinds)))
    last_bad = max(kinds)
    after = [ld.where[i] for i in range(last_bad + 1, total)]
    have = set(by_source(out))
    check(all(p in have for p in after), "malformed: the stream goes on after the last bad record")
    ev = d.events()
    warns = [e for e in ev if e.get("event") == "record_rejected"]
    check(len(warns) >= 1, "malformed: rejections are logged (rate-limited: %d lines for %d records)" %
          (len(warns), len(kinds)))


def scenario_rebalance():
    n, rate = 60000, 12000
    topics = topics_for("rebalance")
    _, lines = generate(n, 19)
    cfg = write_config("rebalance", "g-" + topics[0], topics, workers=1)
    ld = Loader(topics[0])
    a = Daemon(cfg, "rebalance-a")
    check(a.wait_assigned(), "rebalance: fraudd A got partitions")
    feeder = ld.produce_in_background(keyed(lines, n), rate)
    time.sleep(1.0)
    b = Daemon(cfg, "rebalance-b")
    check(b.wait_assigned(), "rebalance: fraudd B joined the group and got partitions")
    time.sleep(1.5)
    rcb = b.stop()  # B leaves mid-stream: its partitions move back to A
    check(rcb == 0, "rebalance: B leaves cleanly (rc %s)" % rcb)
    feeder.join()
    out = read_topic(topics[1], n, 180)
    rca = a.stop()
    check(rca == 0, "rebalance: A exits 0")
    lost, dups, src = loss_and_dups(ld, out)
    check(not lost, "rebalance: no record lost across join and leave (%d missing)" % len(lost))
    check(dups == 0, "rebalance: no duplicates across cooperative rebalances (%d)" % dups)
    consumed = {}
    for name, dmn in (("A", a), ("B", b)):
        for e in dmn.events():
            if e.get("event") == "shutdown_complete":
                consumed[name] = int(e["msg"].split(" records consumed")[0].split()[-1])
    check(consumed.get("A", 0) > 0 and consumed.get("B", 0) > 0,
          "rebalance: both processes scored records (A %s, B %s)" % (consumed.get("A"), consumed.get("B")))
    revokes = [e for e in a.events() + b.events() if e.get("event") == "revoked"]
    check(len(revokes) >= 1, "rebalance: revocations were drained and logged (%d)" % len(revokes))


ROLLING_WHEN = {
    # SIGTERM to the old pod ...
    "early": "as soon as the new pod's process runs, before it owns partitions (its JoinGroup meets "
             "the old pod's shutdown, or comes just after the old pod left)",
    "join": "(two old pods) the moment the first old pod to notice the rebalance the new pod "
            "started rejoins: its JoinGroup is parked at the coordinator until the other old pod "
            "notices it at its next heartbeat",
    "revoke": "the moment the old pod revokes the partitions moving to the new one: the second half "
              "of the cooperative rebalance is under way (the old pod's JoinGroup is parked at the "
              "coordinator until the new pod rejoins)",
    "joined": "0.5 s after the new pod's first rebalance callback (what a readiness probe would see)",
    "late": "after the new pod owns partitions and the group has settled",
}


def owns_some(e):
    return e.get("event") == "assigned" and not e["msg"].endswith("now own 0")


def rolling_update(name, when):
    """A rolling update: the old pod owns all partitions (with `join`, two old pods share them)
    and records flow at 12k/s; a new pod starts in the same group; the old pod gets SIGTERM at
    the moment `when` (ROLLING_WHEN). Every record must have exactly one result: the old pod
    waits until the group is not rebalancing before its final commit (src/source/consumer.c,
    fr_source_commit_final)."""
    n, rate = 60000, 12000
    topics = topics_for(name)
    _, lines = generate(n, 29)
    group = "g-" + topics[0]
    cfg = write_config(name, group, topics, workers=1)
    ld = Loader(topics[0])
    others = []
    if when == "join":
        # two old pods, with librdkafka's group debug lines, which show when a JoinGroup goes out
        dcfg = write_config(name + "-debug", group, topics, workers=1, extra_consumer="    debug: cgrp\n",
                            level="debug")
        olds = [Daemon(dcfg, name + "-old")]
        check(olds[0].wait_assigned(), name + ": the first old pod owns the partitions")
        olds.append(Daemon(dcfg, name + "-old2"))
        check(olds[1].wait_event(owns_some), name + ": the two old pods share the partitions")
        time.sleep(1.0)  # both heartbeat, group stable
    else:
        olds = [Daemon(cfg, name + "-old")]
        check(olds[0].wait_assigned(), name + ": the old pod owns the partitions")
    feeder = ld.produce_in_background(keyed(lines, n), rate)
    time.sleep(1.0)
    for d in olds:
        d.mark()
    new = Daemon(cfg, name + "-new")  # the new pod comes up ...
    old = olds[0]
    if when == "join":
        # the first old pod to rejoin waits at the coordinator for the other one's heartbeat
        old = first_event(olds, lambda e: "changed join state" in e.get("msg", "") and "-> wait-join" in e["msg"])
        check(old is not None, name + ": an old pod rejoins")
        old = old or olds[0]
        others = [d for d in olds if d is not old]
    elif when == "early":
        check(new.wait_event(lambda e: e.get("event") == "started"), name + ": the new pod started")
    elif when == "revoke":
        check(old.wait_event(lambda e: e.get("event") == "revoked"), name + ": the old pod revoked partitions")
    elif when == "joined":
        check(new.wait_assigned(), name + ": the new pod joined the group")
        time.sleep(0.5)
    else:
        check(new.wait_event(owns_some), name + ": the new pod owns partitions")
        time.sleep(1.5)
    rc_old = old.stop()  # ... then the old one gets SIGTERM, as in a rolling update
    check(rc_old == 0, name + ": the old pod drained and exited 0 (rc %s)" % rc_old)
    feeder.join()
    out = read_topic(topics[1], n, 180)
    rc_new = [d.stop() for d in [new] + others]
    check(rc_new == [0] * len(rc_new), name + ": the other pods exit 0 (rc %s)" % rc_new)
    lost, dups, src = loss_and_dups(ld, out)
    ev = old.events()
    final = [e["msg"] for e in ev if e.get("event") == "final_commit"]
    refused = [e["msg"] for e in ev if e.get("event") in ("commit_failed", "partitions_lost")]
    print("  old pod: %s" % (final[0] if final else "no final_commit logged"))
    for r in refused:
        print("  old pod: " + r)
    check(bool(final) and not refused, name + ": the old pod's final commit went through")
    check(not lost, name + ": no record lost (%d missing)" % len(lost))
    check(dups == 0, name + ": no duplicates across the handover (%d)" % dups)
    waited = re.search(r"waited (\d+) ms", final[0]) if final else None
    return int(waited.group(1)) if waited else 0


def scenario_rolling():
    waited = {}
    for when in ("early", "join", "revoke", "joined", "late"):
        print("  --- SIGTERM " + ROLLING_WHEN[when], flush=True)
        waited[when] = rolling_update("rolling-" + when, when)
    # the hard case was hit: the old pod found the group rebalancing when it came to commit
    # (each of these three misses it only if the other pod's heartbeat ends the rebalance
    # within the few ms the old pod's drain takes)
    hard = {w: waited[w] for w in ("join", "revoke", "joined")}
    check(any(hard.values()), "rolling: the final commit waited for a rebalance in progress (ms: %s)" % hard)


def prom_query(port, q):
    import urllib.parse
    import urllib.request
    url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (port, urllib.parse.quote(q))
    with urllib.request.urlopen(url, timeout=10) as r:
        res = json.load(r)["data"]["result"]
    return float(res[0]["value"][1]) if res else None


def scenario_prometheus():
    n = 20000
    topics = topics_for("prometheus")
    _, lines = generate(n, 23)
    ld = Loader(topics[0])
    ld.produce(keyed(lines, n))
    http_port, prom_port = free_port(), free_port()
    d = Daemon(write_config("prometheus", "g-" + topics[0], topics), "prometheus",
               ["--http-port", str(http_port)])
    pdir = os.path.join(WORK, "prometheus")
    os.makedirs(pdir, exist_ok=True)
    with open(os.path.join(pdir, "prometheus.yml"), "w") as f:
        f.write("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: fraudd\n"
                "    static_configs:\n      - targets: ['127.0.0.1:%d']\n" % http_port)
    plog = open(os.path.join(pdir, "prometheus.log"), "wb")
    prom = subprocess.Popen(["prometheus", "--config.file=" + os.path.join(pdir, "prometheus.yml"),
                             "--storage.tsdb.path=" + os.path.join(pdir, "data"),
                             "--web.listen-address=127.0.0.1:%d" % prom_port], stdout=plog, stderr=plog)
    try:
        out = read_topic(topics[1], n, 120)
        check(len(out) == n, "prometheus: %d results for %d records" % (len(out), n))
        want = {"fraudd_records_consumed_total": n, "fraudd_results_produced_total": n,
                "sum(fraudd_consumer_lag_records)": 0, "fraudd_ready": 1, "up": 1}
        got = {}
        deadline = time.time() + 40  # lag comes from 5 s librdkafka statistics
        while time.time() < deadline:
            try:
                got = {q: prom_query(prom_port, q) for q in want}
            except OSError:
                got = {}
            if got == {q: float(v) for q, v in want.items()}:
                break
            time.sleep(1)
        for q, v in want.items():
            check(got.get(q) == v, "prometheus: %s = %s (want %s)" % (q, got.get(q), v))
        dead = prom_query(prom_port, "sum(fraudd_dead_letters_total)")
        check(dead == 0, "prometheus: no dead letters counted (%s)" % dead)
    finally:
        prom.terminate()
        prom.wait(20)
        plog.close()
        rc = d.stop()
    check(rc == 0, "prometheus: fraudd exits 0")


SCENARIOS = {"full": scenario_full, "sigterm": scenario_sigterm, "sigkill": scenario_sigkill,
             "malformed": scenario_malformed, "rebalance": scenario_rebalance,
             "rolling": scenario_rolling, "prometheus": scenario_prometheus}

if __name__ == "__main__":
    if not BOOT or len(sys.argv) < 2:
        sys.exit(__doc__)
    FRAUDD = os.path.abspath(sys.argv[1])
    names = sys.argv[2:] or list(SCENARIOS)
    for s in names:
        print("=== " + s, flush=True)
        t = time.time()
        try:
            SCENARIOS[s]()
        except Exception as e:  # a broken scenario is a failure, not a crash of the suite
            check(False, "%s raised %r" % (s, e))
        print("  (%.1f s)" % (time.time() - t), flush=True)
    print("integration: %d failed checks; logs in %s" % (len(FAILS), WORK))
    sys.exit(1 if FAILS else 0)
