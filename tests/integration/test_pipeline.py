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
  reload      model hot reload from model.path under load: A -> B swaps; a corrupt file, one
              with a renamed feature, one failing its fraudd.selftest and one reusing B's version
              are refused and logged while B keeps serving; C (whose selftest was computed with ONNX Runtime) is
              accepted; A's weights under a new version; SIGHUP forces a check. Every input has
              exactly one result, byte-identical to `fraudd score --model <the file of the
              version it names>`, its JSON model_version equal to its header, only accepted
              versions, generations in dispatch order per partition; /metrics counts agree
  gaps        input with offset holes: a transactional producer aborts one transaction in three;
              every committed record scored once, no aborted one, and the group's committed
              offsets reach the end of every partition (past the last transaction marker)
  compacted   a compacted input topic (the broker's cleaner removed old versions of each key):
              every surviving record scored once, the committed offsets reach the end
  reload_url  the same from model.url (a test HTTP server with ETags): polls are conditional
              (304), new content swaps, HTTP 500/404 count as fetch_failed and keep serving
  drift       score drift through the real broker, read by a real Prometheus: with a model that
              carries fraudd.score_histogram and a 10 s window, normal generated traffic keeps
              fraudd_model_score_psi below 0.1, traffic shifted on purpose (fraudd generate
              --shift 1) raises it above 0.25, and normal traffic again brings it back below 0.1
  memory_limit  fraudd in a 128 MiB memory cgroup (as in a pod; root needed) on a 32-partition
              topic with a 160 MB backlog: it sizes its prefetch bound from the limit and the
              partition count, drains every record once, is never OOM-killed and peaks under
              the limit, and warns once 4 partitions are added to the input; the same run with a
              fixed 8 MB bound (1 GiB limit) peaks above 128 MiB

usage: test_pipeline.py FRAUDD_BINARY [SCENARIO ...]   (no SCENARIO: all of them)
FR_IT_DELIVERY=exactly_once: every fraudd runs with kafka.delivery exactly_once, and the
results are read with isolation.level=read_committed (what a downstream consumer of that
mode must do): the scenarios that hold in both modes (malformed, reload, reload_url) show it
keeps their behaviour.
Every scenario uses its own topics and group. The reload scenarios send fewer records, slower,
to a sanitizer build (detected in the binary), which runs several times slower. Prints one line per check; exits 1 on failure.
"""
import collections
import hashlib
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

BOOT = os.environ.get("FR_KAFKA_BOOTSTRAP")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_MODEL = os.path.join(REPO, "models", "default", "fraudd-default.onnx")
FRAUDD = None
WORK = tempfile.mkdtemp(prefix="fraudd-it-")  # configs, logs, generated records: removed after a clean run


def remove_work():
    """Removes WORK (hundreds of MB after a long run: generated records, expected results,
    daemon logs), unless FR_IT_KEEP=1. Called only when a run ends without a failed check, so
    a failing run keeps everything its failures point to."""
    if os.environ.get("FR_IT_KEEP") != "1":
        shutil.rmtree(WORK, ignore_errors=True)

DELIVERY = os.environ.get("FR_IT_DELIVERY", "at_least_once")
assert DELIVERY in ("at_least_once", "exactly_once"), DELIVERY
FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)
    return cond


def create_topics(names, partitions=4, replication_factor=1, config=None):
    """config: topic settings beside max.message.bytes (e.g. min.insync.replicas on a cluster)."""
    admin = AdminClient({"bootstrap.servers": BOOT})
    fs = admin.create_topics([NewTopic(n, num_partitions=partitions, replication_factor=replication_factor,
                                       config={"max.message.bytes": "4194304", **(config or {})}) for n in names])
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

    def __init__(self, topic, extra=None):
        """extra: producer settings beside the defaults (e.g. acks)."""
        self.topic = topic
        self.p = Producer({"bootstrap.servers": BOOT, "linger.ms": 5, "enable.idempotence": True,
                           "message.max.bytes": 4000000, "queue.buffering.max.messages": 200000,
                           **(extra or {})})
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
                  "fetch.max.bytes": 8388608, "max.partition.fetch.bytes": 8388608,
                  "isolation.level": "read_committed" if DELIVERY == "exactly_once" else "read_uncommitted"})
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
                 level="info", bootstrap="${FR_KAFKA_BOOTSTRAP}", session_ms=10000, extra_kafka="", http_port=0):
    """A fraudd config in WORK. extra_consumer: lines under kafka.consumer; extra_kafka: lines
    under kafka (e.g. a properties: or producer: map); bootstrap: another address (a proxy's);
    http_port: a fixed HTTP port on 127.0.0.1 (0: any free port)."""
    inp, out, dlq = topics
    path = os.path.join(WORK, name + ".yaml")
    http = "  port: %d\n  bind: 127.0.0.1\n" % http_port if http_port else "  port: 0\n"
    with open(path, "w") as f:
        f.write(f"""kafka:
  bootstrap_servers: "{bootstrap}"
  group_id: {group}
  input_topic: {inp}
  output_topic: {out}
  dead_letter_topic: {dlq}
{"  delivery: exactly_once" + chr(10) if DELIVERY == "exactly_once" else ""}  consumer:
    session.timeout.ms: "{session_ms}"
    heartbeat.interval.ms: "1000"
{extra_consumer}{extra_kafka}pipeline:
  workers: {workers}
  shutdown_timeout_ms: 20000
{extra_pipeline}model:
  passthrough: [id]
{extra_model}http:
{http}logging:
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
    def __init__(self, cfg, name, args=(), wrap=()):
        """wrap: a command that runs fraudd's (e.g. in_memory_cgroup.sh CGROUP --)."""
        self.log_path = os.path.join(WORK, name + ".log")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([*wrap, FRAUDD, "run", "--config", cfg, *args], stdout=self.log,
                                     stderr=self.log)

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

    def wait_events(self, event, count=1, timeout=20, contains=""):
        """Waits until the log holds `count` events `event` whose msg contains `contains`;
        returns them (fewer on timeout or exit)."""
        deadline = time.time() + timeout
        while True:
            got = [e for e in self.events() if e.get("event") == event and contains in e.get("msg", "")]
            if len(got) >= count or time.time() >= deadline or self.proc.poll() is not None:
                return got
            time.sleep(0.05)

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


def generate(n, seed, shift=0):
    """n generated records (1% anomalies); shift: every V feature moved by that many standard
    deviations (drift on purpose)."""
    path = os.path.join(WORK, f"gen-{seed}-{n}-{shift}.jsonl")
    subprocess.run([FRAUDD, "generate", "--count", str(n), "--seed", str(seed), "--anomaly-rate", "0.01",
                    "--shift", str(shift), "--output", path], check=True)
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


def topics_for(name, replication_factor=1, config=None):
    t = name + "-" + uuid.uuid4().hex[:8]
    topics = (t + "-in", t + "-out", t + "-dlq")
    create_topics(topics, replication_factor=replication_factor, config=config)
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
    port = free_port()
    d = Daemon(write_config("full", "g-" + topics[0], topics, http_port=port), "full")
    t0 = time.time()
    out = read_topic(topics[1], n, 300)
    secs = time.time() - t0
    # the backlog (about 16 MB per partition) is more than the 2 MB prefetch bound holds: the
    # fetchers stop at it, and fraudd nudges them (docs/ARCHITECTURE.md, "Backpressure and
    # memory bounds")
    nudges = scrape(port).get("fraudd_fetch_nudges_total", 0) if d.proc.poll() is None else 0
    check(nudges > 0, "the backlog drain nudged the fetchers (fraudd_fetch_nudges_total %d)" % nudges)
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
        if h.get("fraudd.model.version") != "ulb-ae-1.2.0" or h.get("fraudd.source.topic") != topics[0]:
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
                h.get("fraudd.model.version") == "ulb-ae-1.2.0" and h.get("fraudd.source.topic") == topics[0]:
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


class Prometheus:
    """A real Prometheus server (Debian's) scraping fraudd's /metrics on http_port every second,
    its own files in WORK/name; query() asks it for one value."""

    def __init__(self, name, http_port):
        self.port = free_port()
        pdir = os.path.join(WORK, name)
        os.makedirs(pdir, exist_ok=True)
        with open(os.path.join(pdir, "prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: fraudd\n"
                    "    static_configs:\n      - targets: ['127.0.0.1:%d']\n" % http_port)
        self.log = open(os.path.join(pdir, "prometheus.log"), "wb")
        self.proc = subprocess.Popen(["prometheus", "--config.file=" + os.path.join(pdir, "prometheus.yml"),
                                      "--storage.tsdb.path=" + os.path.join(pdir, "data"),
                                      "--web.listen-address=127.0.0.1:%d" % self.port],
                                     stdout=self.log, stderr=self.log)

    def query(self, q):
        """The value of q now (None: no series, or the server is not up yet)."""
        try:
            return prom_query(self.port, q)
        except OSError:
            return None

    def stop(self):
        self.proc.terminate()
        self.proc.wait(20)
        self.log.close()


def scenario_prometheus():
    n = 20000
    topics = topics_for("prometheus")
    _, lines = generate(n, 23)
    ld = Loader(topics[0])
    ld.produce(keyed(lines, n))
    http_port = free_port()
    d = Daemon(write_config("prometheus", "g-" + topics[0], topics), "prometheus",
               ["--http-port", str(http_port)])
    prom = Prometheus("prometheus", http_port)
    prom_port = prom.port
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
        prom.stop()
        rc = d.stop()
    check(rc == 0, "prometheus: fraudd exits 0")


# ---------------------------------------------------------------- score drift

def drift_version():
    """The embedded default's version; the drift scenario needs its fraudd.score_histogram."""
    import onnx
    meta = {p.key: p.value for p in onnx.load(DEFAULT_MODEL).metadata_props}
    check("fraudd.score_histogram" in meta, "drift: the default model carries a fraudd.score_histogram")
    return meta["fraudd.version"]


def psi_phase(prom, ld, name, lines, seconds, rate, version):
    """Produces lines at rate records/s for about `seconds`, sampling every 0.5 s the PSI that
    Prometheus scraped; returns the samples taken once fraudd's window (10 s, plus a step and a
    scrape) held only this phase's records."""
    q = 'fraudd_model_score_psi{model_version="%s"}' % version
    n = int(seconds * rate)
    t = ld.produce_in_background([(i, lines[i], card_key(lines[i])) for i in range(n)], rate)
    t0, samples = time.time(), []
    while t.is_alive():
        v = prom.query(q)
        if v is not None and time.time() - t0 > 12:
            samples.append(v)
        time.sleep(0.5)
    t.join()
    print("  %s: %d records at %d/s; PSI samples %s" % (name, n, rate, " ".join("%.3f" % v for v in samples)),
          flush=True)
    return samples


def scenario_drift():
    """Normal generated traffic scores like the model's training-time histogram (PSI < 0.1);
    traffic shifted on purpose (every V feature +1 standard deviation) rises above 0.25, seen
    by a real Prometheus; back to normal, the shifted records leave the window and it falls."""
    topics = topics_for("drift")
    version = drift_version()
    print("  model: the embedded default (%s)" % version, flush=True)
    rate, seconds = 2000, 20
    _, normal = generate(rate * seconds, 31)
    _, shifted = generate(rate * seconds, 32, shift=1.0)
    _, normal2 = generate(rate * seconds, 33)
    http_port = free_port()
    cfg = write_config("drift", "g-" + topics[0], topics)
    with open(cfg, "a") as f:
        f.write("metrics:\n  drift_window_s: 10\n  drift_min_records: 1000\n")
    d = Daemon(cfg, "drift", ["--http-port", str(http_port)])
    prom = Prometheus("prometheus-drift", http_port)
    ld = Loader(topics[0])
    try:
        check(d.wait_assigned(), "drift: fraudd joins the group")
        calm = psi_phase(prom, ld, "normal", normal, seconds, rate, version)
        check(calm and max(calm) < 0.1, "drift: normal traffic keeps the PSI below 0.1 (max %s of %d samples)"
              % ("%.4f" % max(calm) if calm else None, len(calm)))
        high = psi_phase(prom, ld, "shifted", shifted, seconds, rate, version)
        check(high and min(high) > 0.25, "drift: shifted traffic raises the PSI above 0.25 (min %s of %d samples)"
              % ("%.3f" % min(high) if high else None, len(high)))
        back = psi_phase(prom, ld, "normal again", normal2, seconds, rate, version)
        check(back and max(back) < 0.1, "drift: normal again, the shifted scores leave the window: PSI below 0.1 "
              "(max %s of %d samples)" % ("%.4f" % max(back) if back else None, len(back)))
        w = prom.query('fraudd_model_score_psi_window_records{model_version="%s"}' % version)
        check(w is not None and 1000 <= w <= 1.5 * 11 * rate,
              "drift: the window holds about 10 s of records (%s)" % w)
        out = read_topic(topics[1], 3 * rate * seconds, 60)
        check(len(out) == 3 * rate * seconds, "drift: %d results for %d records" % (len(out), 3 * rate * seconds))
    finally:
        prom.stop()
        rc = d.stop()
    check(rc == 0, "drift: fraudd exits 0")

# ---------------------------------------------------------------- model hot reload

def sanitizer_build():
    """A TSan/ASan binary (several times slower): the reload scenarios scale down for it."""
    with open(FRAUDD, "rb") as f:
        data = f.read()
    return b"__tsan_init" in data or b"__asan_init" in data  # imported from libtsan/libasan, or linked in


def write_atomic(path, data):
    """Writes elsewhere, then renames into place: the file source refuses a file being written."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


def model_variant(mdir, version, error_weights=None, features=None, selftest=None, truncate=None, name=None):
    """A variant of the default model (its ONNX metadata changed, or its bytes truncated),
    written to mdir/<name or version>.onnx. Returns the path."""
    import onnx
    m = onnx.load(DEFAULT_MODEL)
    meta = {p.key: p for p in m.metadata_props}
    for key, value in (("fraudd.version", version), ("fraudd.error_weights", error_weights),
                       ("fraudd.features", features), ("fraudd.selftest", selftest)):
        if value is None:
            continue
        text = value if isinstance(value, str) else json.dumps(value)
        if key in meta:
            meta[key].value = text
        else:
            e = m.metadata_props.add()
            e.key, e.value = key, text
    data = m.SerializeToString()
    if truncate:
        data = data[:int(len(data) * truncate)]
    path = os.path.join(mdir, (name or version) + ".onnx")
    write_atomic(path, data)
    return path


def ort_scores(model_path, records):
    """fraudd's score of each record (dict feature -> value) computed from ONNX Runtime's
    outputs, exactly as tests/parity/parity.py computes its reference."""
    import numpy as np
    sys.path.insert(0, os.path.join(REPO, "tests", "parity"))
    import parity
    model = parity.Model(model_path)
    raw = np.array([[r[f] for f in model.features] for r in records], dtype=np.float32)
    x = parity.preprocess(raw, model.features, model.log1p, "libm")
    return [float(v) for v in model.scores(x, model.run_ort(x))]


def selftest_records(lines, n=8):
    """The features of the first n generated records, as float32 values (fraudd parses float32)."""
    import numpy as np
    import onnx
    meta = {p.key: p.value for p in onnx.load(DEFAULT_MODEL).metadata_props}
    feats = json.loads(meta["fraudd.features"])
    return [{f: float(np.float32(json.loads(l)[f])) for f in feats} for l in lines[:n]], feats


def scrape(port):
    """fraudd's /metrics as {"name{labels}": value}."""
    import urllib.request
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            out[k] = float(v)
    return out


def reloads(metrics, result):
    return metrics.get('fraudd_model_reloads_total{result="%s"}' % result)


def serving_version(metrics):
    vs = [k.split('"')[1] for k in metrics if k.startswith("fraudd_model_info{")]
    return vs[0] if len(vs) == 1 else vs


def check_versioned_results(name, ld, out, gen_path, files, order):
    """Each input has exactly one result; each result names its model version in the JSON and
    the header alike, an accepted version only, and is byte-identical to `fraudd score --model`
    with that version's file; within a partition the versions follow the swap order (a
    generation is fixed at dispatch, in offset order). Returns the count per version."""
    lost, dups, src = loss_and_dups(ld, out)
    check(not lost, "%s: no record lost (%d without a result)" % (name, len(lost)))
    check(dups == 0, "%s: no duplicates (%d)" % (name, dups))
    expected = {}
    for ver, f in files.items():
        exp = os.path.join(WORK, "%s-expected-%s.jsonl" % (name, ver))
        subprocess.run([FRAUDD, "score", "--model", f, "--input", gen_path, "--output", exp, "--quiet"], check=True)
        with open(exp, "rb") as fh:
            expected[ver] = fh.read().splitlines()
    pos_to_idx = {v: k for k, v in ld.where.items()}
    per = collections.Counter()
    hdr = foreign = mismatch = backwards = 0
    last = {}  # partition -> (offset, rank of its version)
    for pos in sorted(src):
        for v, _, h in src[pos]:
            ver = json.loads(v).get("model_version")
            per[ver] += 1
            if ver != h.get("fraudd.model.version"):
                hdr += 1
            if ver not in expected:
                foreign += 1
                continue
            i = pos_to_idx.get(pos)
            if i is None or v != expected[ver][i]:
                mismatch += 1
                if mismatch <= 3:
                    print("  result   ", v[:200], "\n  expected ", expected[ver][i][:200] if i is not None else None)
            rank = order.index(ver)
            if pos[0] in last and rank < last[pos[0]]:
                backwards += 1
            last[pos[0]] = rank
    # the proof has teeth only if consecutive models score records differently
    for v1, v2 in zip(order, order[1:]):
        differ = sum(1 for x, y in zip(expected[v1], expected[v2])
                     if x.replace(b'"' + v1.encode() + b'"', b"") != y.replace(b'"' + v2.encode() + b'"', b""))
        print("  %s and %s: %d of %d offline results differ beyond the version" % (v1, v2, differ, len(expected[v1])))
    print("  results per model version: " + ", ".join("%s %d" % (v, per[v]) for v in order + sorted(set(per) - set(order))))
    check(hdr == 0, "%s: every result's JSON model_version equals its fraudd.model.version header (%d differ)" %
          (name, hdr))
    check(foreign == 0, "%s: only accepted versions scored records (%d results name another)" % (name, foreign))
    check(mismatch == 0, "%s: every result is byte-identical to `fraudd score --model <its version's file>` on the "
          "same record (%d differ)" % (name, mismatch))
    check(backwards == 0, "%s: within each partition the versions follow the swap order (%d go back)" %
          (name, backwards))
    return per


def reload_setup(name, sizes, slow_sizes, seed):
    """A reload scenario's (records, rate, event wait, topics, generated file and lines, a folder
    for its models); a sanitizer build gets slow_sizes and longer waits."""
    slow = sanitizer_build()
    n, rate = slow_sizes if slow else sizes
    topics = topics_for(name)
    gen_path, lines = generate(n, seed)
    mdir = os.path.join(WORK, name + "-models")
    os.makedirs(mdir, exist_ok=True)
    return n, rate, 60 if slow else 20, topics, gen_path, lines, mdir


def scenario_reload():
    n, rate, wait, topics, gen_path, lines, mdir = reload_setup("reload", (40000, 4000), (10000, 1000), 31)
    recs, feats = selftest_records(lines)
    twos = [2.0] * len(feats)
    a = DEFAULT_MODEL
    b = model_variant(mdir, "it-b", error_weights=twos)  # the same graph, scores of other weights
    b_scores = ort_scores(b, recs)
    bad = [  # (file, what the refusal names)
        (model_variant(mdir, "it-corrupt", error_weights=twos, truncate=0.6), "not a valid ONNX model"),
        (model_variant(mdir, "it-badfeat", error_weights=twos,
                       features=["V7_renamed" if f == "V7" else f for f in feats]), "features differ"),
        (model_variant(mdir, "it-badst", error_weights=twos,
                       selftest={"records": recs, "scores": [1.5 * x for x in b_scores]}), "self-test record"),
        (model_variant(mdir, "it-b", error_weights=[3.0] * len(feats), name="it-b-again"),
         "is the serving model's"),
    ]
    c = model_variant(mdir, "it-c", selftest={"records": recs, "scores": ort_scores(a, recs)})
    a2 = model_variant(mdir, "it-a2")  # A's weights, a version of its own
    files = {"ulb-ae-1.2.0": a, "it-b": b, "it-c": c, "it-a2": a2}
    order = list(files)
    served = os.path.join(mdir, "served.onnx")

    def serve(path):
        with open(path, "rb") as f:
            write_atomic(served, f.read())

    serve(a)
    port = free_port()
    cfg = write_config("reload", "g-" + topics[0], topics,
                       extra_model="  path: %s\n  reload_interval_ms: 200\n" % served)
    ld = Loader(topics[0])
    d = Daemon(cfg, "reload", ["--http-port", str(port)])
    try:
        reload_steps(d, ld, lines, n, rate, wait, port, serve, (b, c, a2), bad)
        out, m = reload_results("reload", d, topics[1], n, port)
    finally:
        rc = d.stop()
    check(rc == 0, "reload: fraudd exits 0 (rc %s)" % rc)
    want = {"swapped": 3, "refused": len(bad), "fetch_failed": 0}
    got = {r: reloads(m, r) for r in want}
    check(got == want and serving_version(m) == "it-a2" and m.get("fraudd_model_generation") == 4,
          "reload: /metrics at the end: reloads %s (want %s), version %s, generation %s (want it-a2, 4)" %
          (got, want, serving_version(m), m.get("fraudd_model_generation")))
    per = check_versioned_results("reload", ld, out, gen_path, files, order)
    check(len([v for v in order if per[v]]) >= 3, "reload: at least 3 model versions scored records (%d)" %
          len([v for v in order if per[v]]))


def reload_results(name, d, topic, n, port):
    """The results and the final /metrics; none if fraudd died (no 3-minute wait for them)."""
    if not check(d.proc.poll() is None, "%s: fraudd is still running after the model changes" % name):
        return [], {}
    return read_topic(topic, n, 180), scrape(port)


def reload_steps(d, ld, lines, n, rate, wait, port, serve, models, bad):
    """scenario_reload's model changes, while the feed runs."""
    b, c, a2 = models
    check(d.wait_assigned(), "reload: fraudd got partitions, serving A from model.path")
    feeder = ld.produce_in_background(keyed(lines, n), rate)
    t0 = time.time()
    span = n / rate  # seconds of feed, spread over the steps below
    try:
        time.sleep(0.15 * span)
        serve(b)
        check(len(d.wait_events("model_swapped", 1, wait, "version it-b")) == 1,
              "reload: A -> B swapped while records flow (%.1f s into the feed)" % (time.time() - t0))
        time.sleep(0.1 * span)
        refused = []
        for k, (path, why) in enumerate(bad, 1):
            serve(path)
            refused = d.wait_events("model_refused", k, wait)
            ok = len(refused) == k and why in refused[-1]["msg"] and "version it-b keeps serving" in refused[-1]["msg"]
            check(ok, "reload: %s refused and logged, B keeps serving: %s" %
                  (os.path.basename(path), refused[-1]["msg"][:160] if len(refused) == k else "(no event)"))
        m = scrape(port)
        check(reloads(m, "refused") == len(bad) and serving_version(m) == "it-b",
              "reload: /metrics: refused %s (want %d), fraudd_model_info version %s (want it-b)" %
              (reloads(m, "refused"), len(bad), serving_version(m)))
        time.sleep(0.1 * span)
        serve(c)
        swapped = d.wait_events("model_swapped", 1, wait, "version it-c")
        accepted = d.wait_events("model_reloaded", 1, wait, "version it-c")
        check(len(swapped) == 1 and len(accepted) == 1,
              "reload: C, whose fraudd.selftest holds ONNX Runtime's scores, passes the self-test and swaps")
        time.sleep(0.15 * span)
        serve(a2)
        check(len(d.wait_events("model_swapped", 1, wait, "version it-a2")) == 1,
              "reload: A's weights under version it-a2 swap in")
        # a poll of an unchanged file only stats it; SIGHUP reads it (logged only when forced)
        d.proc.send_signal(signal.SIGHUP)
        forced = d.wait_events("model_unchanged", 1, wait)
        check(len(forced) == 1 and "it-a2" in forced[0]["msg"],
              "reload: SIGHUP forces a check that reads the file: %s" % (forced[0]["msg"] if forced else "no event"))
    finally:
        feeder.join()
    print("  feed of %d records at %d/s took %.1f s" % (n, rate, time.time() - t0))


class ModelServer:
    """A model registry on 127.0.0.1: GET /model.onnx with ETag = hash of the content, 304 for a
    matching If-None-Match; `status` other than 200 answers that instead. Counts answers."""

    def __init__(self, body):
        self.body, self.status, self.answers = body, 200, collections.Counter()
        srv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body, status = srv.body, srv.status
                etag = '"%s"' % hashlib.sha256(body).hexdigest()[:32]
                if status != 200:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif self.headers.get("If-None-Match") == etag:
                    status = 304
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                else:
                    self.send_response(200)
                    self.send_header("ETag", etag)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                srv.answers[status] += 1

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/model.onnx" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def wait_answers(self, status, count, timeout):
        deadline = time.time() + timeout
        while self.answers[status] < count and time.time() < deadline:
            time.sleep(0.05)
        return self.answers[status]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def scenario_reload_url():
    n, rate, wait, topics, gen_path, lines, mdir = reload_setup("reload_url", (12000, 3000), (5000, 1000), 37)
    b = model_variant(mdir, "it-url-b", error_weights=[2.0] * len(selftest_records(lines)[1]))
    files = {"ulb-ae-1.2.0": DEFAULT_MODEL, "it-url-b": b}
    with open(DEFAULT_MODEL, "rb") as f:
        srv = ModelServer(f.read())
    port = free_port()
    cfg = write_config("reload_url", "g-" + topics[0], topics,
                       extra_model="  url: %s\n  reload_interval_ms: 200\n" % srv.url)
    ld = Loader(topics[0])
    d = Daemon(cfg, "reload_url", ["--http-port", str(port)])
    try:
        check(d.wait_assigned(), "reload_url: fraudd got partitions, serving A from model.url")
        feeder = ld.produce_in_background(keyed(lines, n), rate)
        t0 = time.time()
        try:
            got = srv.wait_answers(304, 3, wait)
            m = scrape(port)
            check(got >= 3 and srv.answers[200] == 1 and (reloads(m, "unchanged") or 0) >= 3,
                  "reload_url: polls are conditional: %d x 304, %d x 200 (the boot download), %s counted "
                  "unchanged" % (got, srv.answers[200], reloads(m, "unchanged")))
            with open(b, "rb") as f:
                srv.body = f.read()
            time.sleep(0.25 * n / rate)  # A scores a share of the feed
            check(len(d.wait_events("model_swapped", 1, wait, "version it-url-b")) == 1,
                  "reload_url: new content at the URL (a new ETag) swaps in it-url-b (%.1f s into the feed)" %
                  (time.time() - t0))
            for k, status in enumerate((500, 404), 1):
                srv.status = status
                ev = d.wait_events("model_fetch_failed", 1, wait, "HTTP %d" % status)
                check(len(ev) >= 1 and "version it-url-b keeps serving" in ev[0]["msg"],
                      "reload_url: HTTP %d is a failed fetch, logged, it-url-b keeps serving: %s" %
                      (status, ev[0]["msg"] if ev else "(no event)"))
            m = scrape(port)
            check((reloads(m, "fetch_failed") or 0) >= 2 and serving_version(m) == "it-url-b",
                  "reload_url: /metrics: fetch_failed %s (want >= 2), version %s (want it-url-b)" %
                  (reloads(m, "fetch_failed"), serving_version(m)))
            n304 = srv.answers[304]
            srv.status = 200
            got = srv.wait_answers(304, n304 + 2, wait)
            check(got >= n304 + 2, "reload_url: after the outage the ETag still matches: 304s again (%d -> %d)" %
                  (n304, got))
        finally:
            feeder.join()
        out, m = reload_results("reload_url", d, topics[1], n, port)
    finally:
        rc = d.stop()
        srv.close()
    check(rc == 0, "reload_url: fraudd exits 0 (rc %s)" % rc)
    print("  model server answers: " + ", ".join("%d x %d" % (v, k) for k, v in sorted(srv.answers.items())))
    check(reloads(m, "swapped") == 1 and reloads(m, "refused") == 0 and m.get("fraudd_model_generation") == 2,
          "reload_url: /metrics at the end: swapped %s (want 1), refused %s (want 0), generation %s (want 2)" %
          (reloads(m, "swapped"), reloads(m, "refused"), m.get("fraudd_model_generation")))
    per = check_versioned_results("reload_url", ld, out, gen_path, files, list(files))
    check(per["ulb-ae-1.2.0"] > 0 and per["it-url-b"] > 0, "reload_url: both versions scored records")



def committed_offsets(group, topic, parts):
    """The group's committed offsets of topic, read by a consumer that never subscribes."""
    c = Consumer({"bootstrap.servers": BOOT, "group.id": group, "enable.auto.commit": False})
    tps = c.committed([TopicPartition(topic, p) for p in range(parts)], timeout=10)
    c.close()
    return {tp.partition: tp.offset for tp in tps}


def end_offsets(topic, parts):
    c = Consumer({"bootstrap.servers": BOOT, "group.id": "wm-" + uuid.uuid4().hex})
    out = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(parts)}
    c.close()
    return out


def wait_committed_at_end(group, topic, parts=4, timeout=20):
    """Waits up to timeout s for the group's committed offsets of topic to reach the end of
    every partition; returns (whether they did, committed, end offsets)."""
    ends = end_offsets(topic, parts)
    deadline = time.time() + timeout
    while time.time() < deadline:
        com = committed_offsets(group, topic, parts)
        if all(com.get(q, -1) == ends[q] for q in ends):
            break
        time.sleep(0.5)
    return all(com.get(q, -1) == ends[q] for q in ends), com, ends


def scenario_gaps():
    """Input with offset gaps: a transactional producer commits two transactions in three and
    aborts the third. Offsets then have holes (aborted records, transaction markers): every
    committed record gets exactly one result, no aborted one gets any (fraudd reads
    read_committed), and the group's committed offsets reach the end of every partition, past
    the last marker, so the lag reads 0 and no stall shows."""
    topics = topics_for("gaps")
    _, lines = generate(3000, 17)
    p = Producer({"bootstrap.servers": BOOT, "transactional.id": "gaps-" + uuid.uuid4().hex, "linger.ms": 5})
    p.init_transactions(30)
    want, aborted = set(), set()
    for t in range(30):
        p.begin_transaction()
        batch = range(t * 100, (t + 1) * 100)
        for i in batch:
            p.produce(topics[0], value=lines[i], key=card_key(lines[i]))
        # delivered first, so the aborted records are in the log (holes for fraudd to skip),
        # not purged before they were sent
        p.flush(30)
        if t % 3 == 1:
            p.abort_transaction(30)
            aborted.update(json.loads(lines[i])["id"] for i in batch)
        else:
            p.commit_transaction(30)
            want.update(json.loads(lines[i])["id"] for i in batch)
    group = "g-" + topics[0]
    d = Daemon(write_config("gaps", group, topics), "gaps")
    out = read_topic(topics[1], len(want), 120)
    got = collections.Counter(json.loads(v)["id"] for v, _, _ in out)
    check(set(got) == want, "gaps: every committed record has a result (%d of %d; %d unexpected)" %
          (len(set(got) & want), len(want), len(set(got) - want)))
    check(not (set(got) & aborted), "gaps: no aborted record was scored (%d were)" % len(set(got) & aborted))
    check(all(n == 1 for n in got.values()), "gaps: one result per record (%d duplicates)" %
          sum(n - 1 for n in got.values()))
    at_end, com, ends = wait_committed_at_end(group, topics[0])
    check(at_end, "gaps: the committed offsets reach the end of every partition while running "
          "(committed %s, end %s)" % (com, ends))
    rc = d.stop()
    check(rc == 0, "gaps: fraudd exits 0 on SIGTERM (got %s)" % rc)
    com = committed_offsets(group, topics[0], 4)
    check(all(com.get(q, -1) == ends[q] for q in ends),
          "gaps: after SIGTERM the committed offsets are the end of every partition (committed %s, end %s)" %
          (com, ends))



def scenario_compacted():
    """A compacted input topic: 40 versions of each of 50 keys, compacted by the broker before
    fraudd reads it, so offsets have holes where old versions were. Every surviving record gets
    exactly one result, nothing else is scored, and the committed offsets reach the end."""
    name = "compacted"
    t = name + "-" + uuid.uuid4().hex[:8]
    topics = (t + "-in", t + "-out", t + "-dlq")
    admin = AdminClient({"bootstrap.servers": BOOT})
    cfg = {"cleanup.policy": "compact", "segment.ms": "100", "min.cleanable.dirty.ratio": "0.01",
           "min.compaction.lag.ms": "0", "delete.retention.ms": "100", "max.message.bytes": "4194304"}
    fs = admin.create_topics([NewTopic(topics[0], num_partitions=4, replication_factor=1, config=cfg)] +
                             [NewTopic(x, num_partitions=4, replication_factor=1) for x in topics[1:]])
    for f in fs.values():
        f.result(30)
    _, lines = generate(2000, 23)
    keys = ["k%02d" % (i % 50) for i in range(2000)]
    p = Producer({"bootstrap.servers": BOOT, "linger.ms": 5})
    for i, line in enumerate(lines):
        p.produce(topics[0], value=line, key=keys[i])
        if i % 200 == 199:  # a new segment now and then, so older ones can be cleaned
            p.flush(30)
            time.sleep(0.25)
    p.flush(30)
    # wait for the cleaner: the topic read from the start holds fewer records than were written
    deadline = time.time() + 60
    survivors = []
    while time.time() < deadline:
        time.sleep(2)
        c = Consumer({"bootstrap.servers": BOOT, "group.id": "cmp-" + uuid.uuid4().hex,
                      "enable.auto.commit": False, "auto.offset.reset": "earliest"})
        c.assign([TopicPartition(topics[0], q, 0) for q in range(4)])
        survivors, quiet = [], time.time() + 3
        while time.time() < quiet:
            for m in c.consume(1000, 0.3):
                if not m.error():
                    survivors.append((m.partition(), m.offset(), json.loads(m.value())["id"]))
                    quiet = time.time() + 1
        c.close()
        if len(survivors) < 2000:
            break
    check(len(survivors) < 2000, "compacted: the broker compacted the input (%d of 2000 records left)" %
          len(survivors))
    # offsets (from 0, where a compacted log still starts) that no surviving record holds
    pos = sorted((q, o) for q, o, _ in survivors)
    holes = sum(1 for i, (q, o) in enumerate(pos) if o > (pos[i - 1][1] + 1 if i and pos[i - 1][0] == q else 0))
    check(holes > 0, "compacted: the input's offsets have holes (%d)" % holes)
    group = "g-" + topics[0]
    d = Daemon(write_config("compacted", group, topics), "compacted")
    out = read_topic(topics[1], len(survivors), 90)
    want = {(q, o) for q, o, _ in survivors}
    src = by_source(out)
    check(set(src) == want, "compacted: every surviving record has a result (%d of %d; %d others)" %
          (len(set(src) & want), len(want), len(set(src) - want)))
    check(all(len(v) == 1 for v in src.values()), "compacted: one result per record")
    at_end, com, ends = wait_committed_at_end(group, topics[0])
    check(at_end, "compacted: the committed offsets reach the end of every partition (committed %s, end %s)" %
          (com, ends))
    rc = d.stop()
    check(rc == 0, "compacted: fraudd exits 0 on SIGTERM (got %s)" % rc)


class MemoryCgroup:
    """A memory cgroup of `limit` bytes under the host's cgroupfs (v2, or v1's memory
    controller), for a process started through tests/integration/in_memory_cgroup.sh."""

    def __init__(self, name, limit):
        self.v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
        base = "/sys/fs/cgroup" if self.v2 else "/sys/fs/cgroup/memory"
        self.path = os.path.join(base, "fraudd-it-%s-%s" % (name, uuid.uuid4().hex[:6]))
        os.mkdir(self.path)
        with open(os.path.join(self.path, "memory.max" if self.v2 else "memory.limit_in_bytes"), "w") as f:
            f.write(str(limit))
        if not self.v2:  # no swap to spill into: the limit is the limit
            try:
                with open(os.path.join(self.path, "memory.swappiness"), "w") as f:
                    f.write("0")
            except OSError:
                pass
        self.wrap = (os.path.join(REPO, "tests", "integration", "in_memory_cgroup.sh"), self.path, "--")

    def peak(self):
        """The most memory the cgroup held (bytes)."""
        with open(os.path.join(self.path, "memory.peak" if self.v2 else "memory.max_usage_in_bytes")) as f:
            return int(f.read().split()[0])

    def stat(self):
        """Its memory now: anonymous (rss / anon) and page cache (cache / file), MiB."""
        keys = ("anon", "file") if self.v2 else ("rss", "cache")
        got = {}
        with open(os.path.join(self.path, "memory.stat")) as f:
            for line in f:
                k, _, v = line.partition(" ")
                if k in keys:
                    got[k] = "%.1f MiB" % (int(v) / 2**20)
        return ", ".join("%s %s" % (k, got.get(k, "?")) for k in keys)

    def oom_kills(self):
        try:
            with open(os.path.join(self.path, "memory.events" if self.v2 else "memory.oom_control")) as f:
                for line in f:
                    k, _, v = line.partition(" ")
                    if k == "oom_kill":
                        return int(v)
        except OSError:
            pass
        return 0

    def remove(self):
        for _ in range(50):
            try:
                os.rmdir(self.path)
                return
            except OSError:  # its last process is still leaving
                time.sleep(0.1)


def scenario_memory_limit():
    """Under a container's memory limit fraudd sizes its prefetch from the input topic's
    partition count: 32 partitions holding a backlog of about 160 MB, fraudd in a 128 MiB
    memory cgroup (seen as its cgroup root, as in a pod). It picks 640 KB per partition
    ((64 MiB / 32 - 1 MiB) / 1.6 = 640 KB), drains every record once without being killed, and its
    cgroup's peak stays under the limit. The control, the old fixed 8 MB per partition set in its
    config and a 1 GiB limit, holds more than the 128 MiB at its peak: it would not fit the pod.
    Its output is held back (linger.ms 2000), so its 2,048 records in flight stall the scoring
    while librdkafka fetches the backlog up to the bound, as whenever the output is slower than
    the input; without that, how much a drain fetches ahead of the scoring depends on the
    machine's speed (the control peaked at 127-199 MiB in earlier runs). After the drain, 4
    partitions are added to the input: the sized run owns 36, more than its bound was sized for,
    and must say so (prefetch_bound_outgrown)."""
    limit, parts, n = 128 << 20, 32, 250000
    t = "memlimit-" + uuid.uuid4().hex[:8]
    topics = (t + "-in", t + "-out", t + "-dlq")
    create_topics([topics[0]], partitions=parts)
    create_topics(topics[1:])
    _, lines = generate(20000, 31)
    Loader(topics[0]).produce((i, lines[i % len(lines)], card_key(lines[i % len(lines)])) for i in range(n))
    want_kb = (limit // 2 // parts - 1048576) * 10 // 16 // 1024
    peaks = {}
    control_kafka = "  producer:\n    linger.ms: \"2000\"\n"
    for label, extra in (("sized", ""), ("fixed 8 MB", '    queued.max.messages.kbytes: "8192"\n')):
        slug = "memlimit-" + label.split()[0]
        out = t + "-out-" + label.split()[0]
        create_topics([out])
        port = free_port()
        # the sized run notices partitions added to its input within a second (below)
        extra = extra or '    topic.metadata.refresh.interval.ms: "1000"\n'
        cfg = write_config(slug, "g-" + out, (topics[0], out, topics[2]), workers=1, extra_consumer=extra,
                           http_port=port, extra_kafka="" if label == "sized" else control_kafka)
        cg = MemoryCgroup(slug, limit if label == "sized" else 1 << 30)
        d = None
        try:
            d = Daemon(cfg, slug, wrap=cg.wrap)
            if label == "sized":
                ev = d.wait_events("prefetch_bound", timeout=30)
                check(ev and ("prefetch bound %d KB per partition" % want_kb) in ev[0]["msg"] and
                      "has %d partitions" % parts in ev[0]["msg"],
                      "memory_limit: fraudd read the limit and the partition count and logged its bound (%s)" %
                      (ev[0]["msg"] if ev else "no prefetch_bound event"))
                m = None
                for _ in range(100):
                    try:
                        m = scrape(port)
                        break
                    except OSError:
                        time.sleep(0.2)
                check(m and m.get("fraudd_prefetch_bound_bytes") == want_kb * 1024,
                      "memory_limit: /metrics shows the bound, %d KB (%s)" %
                      (want_kb, m and m.get("fraudd_prefetch_bound_bytes")))
                got = read_topic(out, n, 180)
                src = by_source(got)
                check(len(src) == n and all(len(v) == 1 for v in src.values()),
                      "memory_limit: every record of the backlog has one result (%d of %d, %d duplicates)" %
                      (len(src), n, sum(len(v) - 1 for v in src.values())))
                # partitions added while it runs: the bound cannot be sized again without a
                # restart, so fraudd says that it owns more than it was sized for
                admin = AdminClient({"bootstrap.servers": BOOT})
                admin.create_partitions([NewPartitions(topics[0], parts + 4)])[topics[0]].result(30)
                ev = d.wait_events("prefetch_bound_outgrown", timeout=60)
                check(ev and ev[0]["level"] == "warn" and ("own %d partitions" % (parts + 4)) in ev[0]["msg"] and
                      ("the %d it had" % parts) in ev[0]["msg"],
                      "memory_limit: partitions added to the input: fraudd warns that it owns more than its "
                      "bound was sized for (%s)" % (ev[0]["msg"] if ev else "no prefetch_bound_outgrown event"))
            else:  # until the held-back output has let the prefetch pass the limit (or 60 s)
                wait_until_exit_or(d, lambda: cg.peak() > limit * 1.25, 60)
            killed = d.proc.poll() is not None and d.proc.returncode == -signal.SIGKILL
            hwm = vm_hwm_kb(d.proc.pid) if d.proc.poll() is None else 0
            print("  %s: cgroup %s" % (label, cg.stat()))
            rc = d.stop() if d.proc.poll() is None else d.proc.returncode
            peaks[label] = (cg.peak(), cg.oom_kills(), killed, rc, hwm)
        finally:
            if d and d.proc.poll() is None:  # a check raised: no process left in the cgroup
                d.proc.kill()
                d.proc.wait()
            cg.remove()
    (sp, sk, skilled, src_rc, shwm), (fp, fk, fkilled, _, fhwm) = peaks["sized"], peaks["fixed 8 MB"]
    print("  peak RSS (VmHWM): sized %.1f MiB, fixed 8 MB %.1f MiB" % (shwm / 1024, fhwm / 1024))
    print("  cgroup peak: sized %.1f MiB (OOM kills %d; limit %d MiB), fixed 8 MB %.1f MiB (limit 1024 MiB)" %
          (sp / 2**20, sk, limit >> 20, fp / 2**20))
    check(not skilled and sk == 0 and src_rc == 0,
          "memory_limit: sized, fraudd was never OOM-killed and exits 0 on SIGTERM (rc %s, OOM kills %d)" %
          (src_rc, sk))
    check(sp < limit * 0.85, "memory_limit: sized, the cgroup's peak %.1f MiB stays below 85%% of the %d MiB limit" %
          (sp / 2**20, limit >> 20))
    check(not fkilled and fp > limit,
          "memory_limit: the control (8 MB per partition, 1 GiB limit, output held back) peaks above the sized "
          "run's limit: "
          "%.1f MiB > %d MiB" % (fp / 2**20, limit >> 20))


def vm_hwm_kb(pid):
    """A process's peak resident memory (VmHWM), KB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def end_total(topic):
    """Messages in a topic (the sum of its partitions' end offsets)."""
    c = Consumer({"bootstrap.servers": BOOT, "group.id": "ends-" + uuid.uuid4().hex})
    try:
        md = c.list_topics(topic, timeout=10)
        return sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                   for p in md.topics[topic].partitions)
    finally:
        c.close()


def wait_until_exit_or(d, done, timeout):
    """Until done() holds, d's process exits, or timeout seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline and d.proc.poll() is None and not done():
        time.sleep(0.5)


SCENARIOS = {"full": scenario_full, "sigterm": scenario_sigterm, "sigkill": scenario_sigkill,
             "malformed": scenario_malformed, "rebalance": scenario_rebalance,
             "rolling": scenario_rolling, "prometheus": scenario_prometheus,
             "reload": scenario_reload, "reload_url": scenario_reload_url, "gaps": scenario_gaps,
             "compacted": scenario_compacted, "drift": scenario_drift, "memory_limit": scenario_memory_limit}

def run_scenarios(label, runs, prefix=""):
    """The main loop of every runner here and in tests/faults, tests/security: runs (name,
    function) pairs in order, each headed "=== PREFIX NAME" and timed, an exception counted as a
    failed check, then "LABEL: N failed checks" and the exit status."""
    for name, fn in runs:
        print("=== " + prefix + name, flush=True)
        t = time.time()
        try:
            fn()
        except Exception as e:  # a broken scenario is a failure, not a crash of the suite
            check(False, "%s raised %r" % (name, e))
        print("  (%.1f s)" % (time.time() - t), flush=True)
    if FAILS:
        print("%s: %d failed checks; logs in %s" % (label, len(FAILS), WORK))
        sys.exit(1)
    remove_work()
    print("%s: 0 failed checks (work files removed; FR_IT_KEEP=1 keeps them)" % label)
    sys.exit(0)


if __name__ == "__main__":
    if not BOOT or len(sys.argv) < 2:
        sys.exit(__doc__)
    FRAUDD = os.path.abspath(sys.argv[1])
    run_scenarios("integration", [(s, SCENARIOS[s]) for s in sys.argv[2:] or list(SCENARIOS)])
