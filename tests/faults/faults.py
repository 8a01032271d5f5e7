"""Fault campaign, part 1: `fraudd run` against a real broker while the broker crashes or
freezes, or the network between fraudd and the broker degrades (docs/RELIABILITY.md).

Run by tests/faults/run_faults.sh, which starts Toxiproxy (scripts/toxiproxy.sh) and the broker
(scripts/kafka.sh, with FR_KAFKA_PROXY_PORT: a listener advertised at the proxy's port) and sets
FR_KAFKA_BOOTSTRAP, FR_KAFKA_DIR, FR_KAFKA_PROXY_PORT and FR_TOXIPROXY_API.

  broker_kill   SIGKILL the broker mid-stream, restart it with its data (scripts/kafka.sh restart)
  broker_stop   SIGSTOP the broker for FR_FAULT_STOP_S (default 15 s: past fraudd's 6 s session
                and 5 s request timeouts), then SIGCONT
  latency       Toxiproxy: 500 ms on every response to fraudd for 10 s
  bandwidth     Toxiproxy: 50 KB/s each way for 10 s
  reset         Toxiproxy: reset_peer (TCP RST on every fraudd connection) three times
  blackhole     Toxiproxy: nothing passes either way for FR_FAULT_BLACKHOLE_S (default 60 s), the
                connections stay open (toxic `timeout` with timeout 0)
  http_flood    the metrics port flooded for 15 s with 200 idle and 100 slow connections (a header
                byte a second) while records flow: scoring keeps up, /metrics answers again
                within 15 s of the flood's end (libmicrohttpd: 32 connections, 10 s idle timeout)
  eos_sigkill, eos_rebalance, eos_zombie  (only when named) kafka.delivery exactly_once under a
                SIGKILL loop, a rebalance and a zombie: lost 0, duplicates 0 (tests/faults/eos.py)
  rollout_shadow, rollout_canary, rollout_promote  (only when named) model rollouts: a shadow
                challenger, a 10 % canary by card, a promotion under load (tests/faults/rollout.py)
  sigkill_loop  (only when named: about 5 minutes) fraudd SIGKILLed FR_FAULT_KILLS times (default
                20) at random moments (seed FR_FAULT_SEED; half of them 0.2-3 s after the process
                got partitions, half 0.5-4 s after it started) during one continuous feed,
                restarted each time; duplicates <= the sum over kills of the records the
                killed process had results for above the offsets committed at the kill

Each scenario feeds FR_FAULT_RATE records/s (default 3000) over 4 partitions with a continuous
feed: 5 s before the fault, through it, 8 s after. Only fraudd goes through the proxy; the feeder
and the checker talk to the broker directly, and the checker is another client build
(confluent-kafka's bundled librdkafka), so fraudd's own counters prove nothing here. It reads:
  - every result and dead letter as it arrives (their fraudd.source.* headers name the input's
    partition and offset), with the arrival time;
  - every 250 ms the group's committed offsets and the input's end offsets.
Per scenario it prints records in, results out, lost (input offsets without a result or a dead
letter: must be 0), duplicates and the bound checked, the recovery times, and one line
`RESULT {json}` (also appended to $FR_FAULT_RESULTS if set).

The duplicate bound (at-least-once: an offset is committed only after its result is
acknowledged, so a redelivery starts at the last commit):
  - floor: no duplicate below the offset the group had committed when the fault began (what was
    committed before the fault is never scored again);
  - count: duplicates <= U0 + rate x (1 s + 6 s), where U0 = sum over partitions of (input end
    offset - committed offset) sampled just before the fault: every record fed but not yet
    committed, which is at most what fraudd had consumed past its last commit (about rate x the
    1 s auto-commit interval when it keeps up). The rest is what a fault lets fraudd consume
    without a commit getting through: while its connection to the group coordinator is broken
    (connection resets, a frozen or dead broker) fraudd keeps fetching and scoring, its commits
    fail, and only when its session times out (session.timeout.ms, 6 s in these scenarios)
    does the group hand its partitions to a new generation, which starts again at the last
    commit that went through; plus one commit interval. Measured: reset x3 re-scored up to
    12,375 records at 3,000/s (the commits stopped about 4 s before the session expired).
Recovery: from the fault's end (broker ready again / SIGCONT / toxic removed) to the first
result for an input that had none before, and to "caught up": every input fed before the
fault's end has a result.

usage: faults.py FRAUDD_BINARY [SCENARIO ...]   (no SCENARIO: all of them, in the order above)
"""
import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import types
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))
import test_pipeline as tp  # noqa: E402  (the shared helpers: topics, feeder, daemon, checks)
from test_pipeline import check  # noqa: E402
from confluent_kafka import Consumer, TopicPartition  # noqa: E402

RATE = int(os.environ.get("FR_FAULT_RATE", "3000"))
PRE, POST = 5.0, 8.0
STOP_S = float(os.environ.get("FR_FAULT_STOP_S", "15"))
BLACKHOLE_S = float(os.environ.get("FR_FAULT_BLACKHOLE_S", "60"))
COMMIT_INTERVAL_S = 1.0  # fraudd's auto.commit.interval.ms default
SESSION_S = 6.0  # session.timeout.ms of every scenario's config (write_config session_ms below)
KAFKA_DIR = os.environ.get("FR_KAFKA_DIR", "")
PROXY_PORT = os.environ.get("FR_KAFKA_PROXY_PORT", "")
TOXI = os.environ.get("FR_TOXIPROXY_API", "")
REPO = tp.REPO
PARTS = 4

# fraudd's settings in every scenario: short session and request timeouts so that a fault of
# 15 s outlasts them and a scenario stays under a minute
SHORT_TIMEOUTS = '''  properties:
    socket.timeout.ms: "5000"
  producer:
    request.timeout.ms: "5000"
'''


class Checker:
    """The independent observer: a consumer of the output and dead-letter topics from offset 0,
    and a sampler of the group's committed offsets and the input's end offsets."""

    def __init__(self, topics, group):
        self.inp, self.out, self.dlq = topics
        self.group = group
        self.arrivals = []  # (time, topic, source partition, source offset, value digest)
        self.kept = []      # with KEEP: (topic, source partition, source offset, value, key, headers)
        self.samples = []   # (time, {p: committed}, {p: end offset})
        self.stop_ev = threading.Event()
        self.threads = [threading.Thread(target=self._watch, daemon=True),
                        threading.Thread(target=self._sample, daemon=True)]
        for t in self.threads:
            t.start()

    READER = {}  # more settings of the output reader (tests/faults/eos.py: isolation.level)
    KEEP = False  # keep every message whole, beside its digest (tests/faults/rollout.py)

    def _watch(self):
        c = Consumer({"bootstrap.servers": tp.BOOT, "group.id": "checker-" + self.out,
                      "enable.auto.commit": False, "auto.offset.reset": "earliest",
                      "fetch.wait.max.ms": 50, **self.READER})
        c.assign([TopicPartition(t, p, 0) for t in (self.out, self.dlq) for p in range(PARTS)])
        while not self.stop_ev.is_set():
            for m in c.consume(10000, 0.1):
                if m.error():
                    continue
                h = {k: v.decode() for k, v in (m.headers() or [])}
                try:
                    sp, so = int(h["fraudd.source.partition"]), int(h["fraudd.source.offset"])
                except (KeyError, ValueError):
                    sp, so = -1, -1
                self.arrived(time.time(), m.topic(), sp, so, m.value() or b"")
                if self.KEEP:
                    self.kept.append((m.topic(), sp, so, m.value() or b"", m.key(), h))
        c.close()

    def arrived(self, t, topic, sp, so, value):
        """One result or dead letter seen (sp/so: the input partition and offset it names)."""
        self.arrivals.append((t, topic, sp, so, hashlib.blake2b(value, digest_size=8).digest()))

    def _sample(self):
        cc = self.group_reader()
        wm = Consumer({"bootstrap.servers": tp.BOOT, "group.id": "checker-wm-" + self.inp})
        while not self.stop_ev.is_set():
            t = time.time()
            try:
                self.samples.append((t, self.committed(cc, 1),
                                     {p: wm.get_watermark_offsets(TopicPartition(self.inp, p), timeout=1,
                                                                  cached=False)[1] for p in range(PARTS)}))
            except Exception:  # broker down or frozen: no sample
                pass
            self.stop_ev.wait(max(0.0, 0.25 - (time.time() - t)))
        wm.close()
        cc.close()

    def group_reader(self):
        """A consumer in fraudd's group that never subscribes (so it never joins the group or
        commits): it only asks the coordinator for the group's committed offsets. (The
        AdminClient's list_consumer_group_offsets is not used: with the broker down, the
        bundled librdkafka of confluent-kafka 2.16 aborted the checker on an assertion,
        `rd_kafka_enq_once_del_source_return: eonce->refcnt > 0`.)"""
        return Consumer({"bootstrap.servers": tp.BOOT, "group.id": self.group, "enable.auto.commit": False})

    def committed(self, cc, timeout):
        got = cc.committed([TopicPartition(self.inp, p) for p in range(PARTS)], timeout=timeout)
        return {x.partition: max(x.offset, 0) for x in got}

    def sources(self):
        """The input offsets (partition, offset) that a result or a dead letter has named so far."""
        return {(a[2], a[3]) for a in list(self.arrivals)}

    def sample_before(self, t):
        s = [x for x in self.samples if x[0] <= t]
        return s[-1] if s else None

    def sample_after(self, t):
        s = [x for x in self.samples if x[0] >= t]
        return s[0] if s else None

    def close(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(10)


def toxi(method, path, body=None):
    req = urllib.request.Request(TOXI + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read()


def add_toxic(name, kind, stream, **attributes):
    toxi("POST", "/proxies/kafka/toxics", {"name": name, "type": kind, "stream": stream,
                                           "toxicity": 1.0, "attributes": attributes})


def remove_toxic(name):
    toxi("DELETE", "/proxies/kafka/toxics/" + name)


def setup_proxy():
    with open(os.path.join(KAFKA_DIR, "proxy_upstream")) as f:
        upstream = f.read().strip()
    try:
        toxi("DELETE", "/proxies/kafka")
    except Exception:
        pass
    toxi("POST", "/proxies", {"name": "kafka", "listen": "127.0.0.1:" + PROXY_PORT, "upstream": upstream,
                              "enabled": True})


# ------------------------------------------------------------------ the faults
# Each runs the whole fault and returns (start, end) times; end = the moment the fault is over.

def broker_pid():
    with open(os.path.join(KAFKA_DIR, "pid")) as f:
        return int(f.read())


def fault_broker_kill():
    t0 = time.time()
    os.kill(broker_pid(), signal.SIGKILL)
    print("  broker SIGKILLed; restarting it with its data (scripts/kafka.sh restart)", flush=True)
    r = subprocess.run([os.path.join(REPO, "scripts", "kafka.sh"), "restart", KAFKA_DIR],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t1 = time.time()
    check(r.returncode == 0, "broker_kill: the broker restarted with its data (%.1f s after the kill)%s" %
          (t1 - t0, "" if r.returncode == 0 else ": " + r.stderr[-500:]))
    return t0, t1


def fault_broker_stop():
    pid = broker_pid()
    t0 = time.time()
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(STOP_S)
    finally:
        os.kill(pid, signal.SIGCONT)
    return t0, time.time()


def toxic_for(seconds, toxics):
    t0 = time.time()
    for name, kind, stream, attrs in toxics:
        add_toxic(name, kind, stream, **attrs)
    try:
        time.sleep(seconds)
    finally:
        for name, _, _, _ in toxics:
            remove_toxic(name)
    return t0, time.time()


def fault_latency():
    return toxic_for(10, [("lat", "latency", "downstream", {"latency": 500, "jitter": 0})])


def fault_bandwidth():
    return toxic_for(10, [("bw_down", "bandwidth", "downstream", {"rate": 50}),
                          ("bw_up", "bandwidth", "upstream", {"rate": 50})])


def fault_reset():
    t0 = time.time()
    for i in range(3):
        if i:
            time.sleep(3)
        toxic_for(1, [("rst", "reset_peer", "downstream", {"timeout": 0})])
    return t0, time.time()


def fault_blackhole():
    return toxic_for(BLACKHOLE_S, [("bh_down", "timeout", "downstream", {"timeout": 0}),
                                   ("bh_up", "timeout", "upstream", {"timeout": 0})])


FAULTS = {  # name -> (fault, expected length in s for the feed, through the proxy?)
    "broker_kill": (fault_broker_kill, 14, False),
    "broker_stop": (fault_broker_stop, STOP_S, False),
    "latency": (fault_latency, 10, True),
    "bandwidth": (fault_bandwidth, 10, True),
    "reset": (fault_reset, 9, True),
    "blackhole": (fault_blackhole, BLACKHOLE_S, True),
}

_LINES = []


def feed_items(n):
    """n records (index, value, key), cycling over 20,000 generated ones: the checks go by
    input offset, not by content."""
    if not _LINES:
        _, lines = tp.generate(20000, 29)
        _LINES.extend((l, tp.card_key(l)) for l in lines)
    return [(i, _LINES[i % len(_LINES)][0], _LINES[i % len(_LINES)][1]) for i in range(n)]


# ------------------------------------------------------------------ the closing steps
# shared by every runner here, cluster.py and scale_soak.py

def input_ends(topic):
    """({partition: (low, high) watermark}, {(partition, offset) between them}) of the input,
    read when the feed is over: the offsets that must each have a result or a dead letter."""
    wm = Consumer({"bootstrap.servers": tp.BOOT, "group.id": "checker-end-" + topic})
    ends = {p: wm.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)
            for p in range(PARTS)}
    wm.close()
    return ends, {(p, o) for p in range(PARTS) for o in range(ends[p][0], ends[p][1])}


def finish(chk, d, name, done, wait_s, who="fraudd", when="", poll_s=0.25, linger_s=3.0, checks=True):
    """The end of a scenario once its feed is over: wait up to wait_s for done() (every input
    offset has its result or dead letter), linger_s more for duplicates arriving just behind,
    check that fraudd (the Daemon d) is still running, SIGTERM it and check that it exits 0,
    and read the group's final committed offsets. The checks say "NAME: WHO is still
    running WHEN (exit ...)" and "NAME: WHO exits 0 on SIGTERM WHEN (rc ...)"; checks=False
    only waits and stops (the caller checks the exit status itself). Returns (exit status,
    {partition: committed offset} or None when checks=False, seconds waited for done())."""
    t0 = time.time()
    deadline = t0 + wait_s
    while time.time() < deadline and not done():
        time.sleep(poll_s)
    waited = time.time() - t0
    time.sleep(linger_s)
    if not checks:
        return d.stop(), None, waited
    check(d.proc.poll() is None, "%s: %s is still running%s (exit %s)" % (name, who, when, d.proc.poll()))
    rc = d.stop()
    check(rc == 0, "%s: %s exits 0 on SIGTERM%s (rc %s)" % (name, who, when, rc))
    cc = chk.group_reader()
    committed = chk.committed(cc, 10)
    cc.close()
    return rc, committed, waited


def cleanup(chk, *daemons):
    """Whatever happened in the scenario: the checker stopped, every fraudd still running
    SIGKILLed."""
    chk.close()
    for d in daemons:
        if d.proc.poll() is None:
            d.stop(signal.SIGKILL)


def tally(chk, want):
    """What the checker saw, by the input offset (partition, offset) each result or dead letter
    names, against want (the offsets fed). Its fields: copies {offset: [value digest, ...]} in
    arrival order; first, second {offset: when its first / second copy arrived}; dups the
    offsets with more than one copy; lost the offsets of want without any (sorted); stray the
    offsets named that are not in want; n_dups the copies beyond the first; differ how many
    offsets have copies that are not all identical; n_out, n_dlq the results and dead letters."""
    copies, first, second = {}, {}, {}
    for t, topic, sp, so, dig in chk.arrivals:
        copies.setdefault((sp, so), []).append(dig)
        first.setdefault((sp, so), t)
        if len(copies[(sp, so)]) == 2:
            second[(sp, so)] = t
    dups = {k: v for k, v in copies.items() if len(v) > 1}
    return types.SimpleNamespace(
        copies=copies, first=first, second=second, dups=dups,
        lost=sorted(want - set(copies)), stray=[k for k in copies if k not in want],
        n_dups=sum(len(v) - 1 for v in dups.values()), differ=sum(1 for v in dups.values() if len(set(v)) > 1),
        n_out=sum(1 for a in chk.arrivals if a[1] == chk.out), n_dlq=sum(1 for a in chk.arrivals if a[1] == chk.dlq))


def warnings_by_event(daemons):
    """Prints how many warning or worse log lines the daemons wrote, by event."""
    ev = {}
    for d in daemons:
        for e in d.events():
            if e.get("level") in ("warn", "warning", "error", "fatal"):
                ev[e.get("event")] = ev.get(e.get("event"), 0) + 1
    print("  fraudd warnings/errors by event: %s" % (ev or "none"))


def report(res):
    """The scenario's RESULT line, also appended to $FR_FAULT_RESULTS if set."""
    print("RESULT " + json.dumps(res), flush=True)
    if os.environ.get("FR_FAULT_RESULTS"):
        with open(os.environ["FR_FAULT_RESULTS"], "a") as f:
            f.write(json.dumps(res) + "\n")


def run_scenario(name):
    fault, fault_s, proxied = FAULTS[name]
    topics = tp.topics_for("fault-" + name)
    group = "g-" + topics[0]
    cfg = tp.write_config("fault-" + name, group, topics, session_ms=int(SESSION_S * 1000), extra_kafka=SHORT_TIMEOUTS,
                          bootstrap=("127.0.0.1:" + PROXY_PORT) if proxied else "${FR_KAFKA_BOOTSTRAP}")
    n = int(RATE * (PRE + fault_s + POST))
    items = feed_items(n)
    chk = Checker(topics, group)
    d = tp.Daemon(cfg, "fault-" + name)
    try:
        if not check(d.wait_assigned(), name + ": fraudd got partitions"):
            return
        ld = tp.Loader(topics[0])
        feed_t0 = time.time()
        feeder = ld.produce_in_background(items, RATE)
        time.sleep(PRE)
        t_start, t_end = fault()
        print("  fault lasted %.1f s" % (t_end - t_start), flush=True)
        feeder.join()
        fed_done = time.time()
        # wait until every input offset has a result or a dead letter (or 120 s)
        ends, want = input_ends(topics[0])
        rc, final_committed, _ = finish(chk, d, name, lambda: want <= chk.sources(), 120, when=" after the fault")
    finally:
        cleanup(chk, d)

    # ---- the numbers, all from the checker's own reads
    fed = sum(e[1] - e[0] for e in ends.values())
    tl = tally(chk, want)
    before = chk.sample_before(t_start)
    c0 = before[1] if before else {p: 0 for p in range(PARTS)}
    hw0 = before[2] if before else {p: 0 for p in range(PARTS)}
    u0 = sum(max(0, hw0[p] - c0[p]) for p in range(PARTS))
    window_s = COMMIT_INTERVAL_S + SESSION_S
    bound = u0 + int(RATE * window_s)
    below = sorted(k for k in tl.dups if k[1] < c0.get(k[0], 0))
    new_after = [t for k, t in tl.first.items() if t > t_end]
    rec_first = (min(new_after) - t_end) if new_after else None
    # the records the feeder handed to its producer before the fault's end (it paces record i
    # at feed_t0 + i / RATE; those sent while the broker was down reached it later)
    handed = min(n, int((t_end - feed_t0) * RATE))
    backlog = [tl.first.get(ld.where.get(i)) for i in range(handed)]
    caught = None if any(t is None for t in backlog) else max(0.0, max(backlog, default=t_end) - t_end)
    # the longest time without a result for a new input, around the fault
    ts = sorted(tl.first.values())
    gaps = [(b - a, a) for a, b in zip(ts, ts[1:]) if b > t_start - 1]
    stall = max(gaps, default=(0, 0))[0]

    print("  records in %d (fed %d), results out %d, dead letters %d, lost %d, duplicates %d "
          "(bound %d = %d fed but uncommitted at the fault + %d = rate x %.0f s)" %
          (fed, len(ld.where), tl.n_out, tl.n_dlq, len(tl.lost), tl.n_dups, bound, u0, bound - u0, window_s))
    print("  recovery: first new result %s after the fault's end, caught up %s after it; "
          "longest stall of new results %.1f s" %
          ("%.2f s" % rec_first if rec_first is not None else "never",
           "%.2f s" % caught if caught is not None else "never", stall))
    check(len(ld.where) == n and fed == n, name + ": the feeder wrote %d records (input holds %d)" % (n, fed))
    check(not tl.lost, name + ": no record lost: every input offset has a result or a dead letter (%d without)%s" %
          (len(tl.lost), (": first " + str(tl.lost[:5])) if tl.lost else ""))
    check(not tl.stray, name + ": every result names an input offset that exists (%d do not)" % len(tl.stray))
    check(tl.n_dlq == 0, name + ": no dead letters for valid records (%d)" % tl.n_dlq)
    check(not below, name + ": no duplicate below the offsets committed before the fault %s (%d are: %s)" %
          (c0, len(below), below[:5]))
    check(tl.n_dups <= bound, name + ": duplicates %d <= bound %d" % (tl.n_dups, bound))
    check(tl.differ == 0, name + ": duplicates are identical to the first result (%d differ)" % tl.differ)
    check(rec_first is not None and caught is not None,
          name + ": fraudd recovered: new results after the fault, and every record fed before its end scored")
    lag = sum(ends[p][1] - final_committed.get(p, 0) for p in range(PARTS))
    check(lag == 0, name + ": after fraudd's SIGTERM the group's committed offsets are the input's end (lag %d)" % lag)
    warnings_by_event([d])
    res = {"scenario": name, "records_in": fed, "results_out": tl.n_out, "dead_letters": tl.n_dlq,
           "lost": len(tl.lost), "duplicates": tl.n_dups, "dup_bound": bound, "uncommitted_at_fault": u0,
           "dups_below_commit": len(below), "fault_s": round(t_end - t_start, 2),
           "recovery_first_s": None if rec_first is None else round(rec_first, 2),
           "caught_up_s": None if caught is None else round(caught, 2), "stall_s": round(stall, 2),
           "rate": RATE, "fraudd_rc": rc, "feed_to_done_s": round(time.time() - fed_done, 1)}
    report(res)
    with open(os.path.join(tp.WORK, name + "-checker.json"), "w") as f:  # for a closer look
        json.dump({"result": res, "t_start": t_start, "t_end": t_end, "feed_t0": feed_t0,
                   "samples": chk.samples, "duplicated": sorted(tl.dups)}, f)


def run_sigkill_loop(name="sigkill_loop"):
    """fraudd SIGKILLed again and again while records flow, restarted each time."""
    kills = int(os.environ.get("FR_FAULT_KILLS", "20"))
    rng = random.Random(int(os.environ.get("FR_FAULT_SEED", "1")))
    # half the kills hit a process that owns partitions and scores (it is first given time to
    # get them), the others land at any moment: while it starts, joins or waits for the group
    owned = [rng.random() < 0.5 for _ in range(kills)]
    gaps = [rng.uniform(0.2, 3.0) if o else rng.uniform(0.5, 4.0) for o in owned]
    topics = tp.topics_for("fault-" + name)
    group = "g-" + topics[0]
    cfg = tp.write_config("fault-" + name, group, topics, session_ms=int(SESSION_S * 1000), extra_kafka=SHORT_TIMEOUTS)
    # the feed outlasts the loop: each kill costs about a session timeout before the next member
    # gets the partitions
    n = int(RATE * (PRE + sum(gaps) + kills * (SESSION_S + 4) + POST))
    items = feed_items(n)
    chk = Checker(topics, group)
    d = tp.Daemon(cfg, "%s-%d" % (name, 0))
    killed_at, restarted, commits, alive_kill = [], [], [], 0
    try:
        if not check(d.wait_assigned(), name + ": fraudd got partitions"):
            return
        ld = tp.Loader(topics[0])
        feeder = ld.produce_in_background(items, RATE)
        time.sleep(PRE)
        for k in range(kills):
            if owned[k]:
                owned[k] = d.wait_assigned(60)
            time.sleep(gaps[k])
            s = chk.samples[-1] if chk.samples else None
            commits.append(dict(s[1]) if s else {p: 0 for p in range(PARTS)})
            alive_kill += d.proc.poll() is None
            d.proc.kill()
            d.proc.wait()
            d.log.close()
            killed_at.append(time.time())
            d = tp.Daemon(cfg, "%s-%d" % (name, k + 1))
            restarted.append(time.time())
        feeder.join()
        ends, want = input_ends(topics[0])
        rc, final_committed, _ = finish(chk, d, name, lambda: want <= chk.sources(), 180, who="the last fraudd")
    finally:
        cleanup(chk, d)
    tl = tally(chk, want)
    # what a kill can make the next owner score again: the records the killed process had
    # results for (the checker saw them by the kill + 1 s: the next owner needs a session
    # timeout to take over, so nothing later is its) above the offsets committed at the kill
    # (sampled up to 250 ms before it: an older, lower commit only widens the bound)
    bound = 0
    for t_k, c_k in zip(killed_at, commits):
        top = {}
        for t, topic, sp, so, _ in chk.arrivals:
            if topic == topics[1] and t <= t_k + 1.0 and so >= top.get(sp, -1):
                top[sp] = so
        bound += sum(max(0, top[p] + 1 - c_k.get(p, 0)) for p in top)
    # recovery per restart: to the first result of an input that had none before the restart
    rec = []
    for t in restarted:
        after = [x for x in tl.first.values() if x > t]
        if after:
            rec.append(min(after) - t)
    fed = sum(e[1] - e[0] for e in ends.values())
    print("  %d kills (%d of a running process, %d of one that owned partitions), records in %d, results %d, lost %d, duplicates %d (bound %d), "
          "recovery after a restart: median %.1f s, max %.1f s" %
          (kills, alive_kill, sum(owned), fed, tl.n_out, len(tl.lost), tl.n_dups, bound,
           sorted(rec)[len(rec) // 2] if rec else -1, max(rec, default=-1)))
    check(len(killed_at) == kills, name + ": fraudd was SIGKILLed %d times" % len(killed_at))
    check(not tl.lost, name + ": no record lost (%d without a result)%s" %
          (len(tl.lost), (": " + str(tl.lost[:5])) if tl.lost else ""))
    check(tl.n_dlq == 0, name + ": no dead letters for valid records (%d)" % tl.n_dlq)
    check(tl.n_dups <= bound, name + ": duplicates %d <= bound %d (results above the commit at each kill)" %
          (tl.n_dups, bound))
    check(tl.differ == 0, name + ": duplicates are identical to the first result (%d differ)" % tl.differ)
    lag = sum(ends[p][1] - final_committed.get(p, 0) for p in range(PARTS))
    check(lag == 0, name + ": after the last SIGTERM the committed offsets are the input's end (lag %d)" % lag)
    report({"scenario": name, "kills": kills, "kills_of_owners": sum(owned), "records_in": fed, "lost": len(tl.lost),
            "duplicates": tl.n_dups, "dup_bound": bound,
            "recovery_median_s": round(sorted(rec)[len(rec) // 2], 2) if rec else None,
            "recovery_max_s": round(max(rec), 2) if rec else None, "rate": RATE})



def http_get(port, path, timeout):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
            return r.status
    except Exception:
        return None


def run_http_flood(name="http_flood"):
    """The HTTP port flooded with idle and slow connections while records flow."""
    flood_s, idle_n, slow_n = 15.0, 200, 100
    topics = tp.topics_for("fault-" + name)
    group = "g-" + topics[0]
    port = tp.free_port()
    cfg = tp.write_config("fault-" + name, group, topics, http_port=port)
    n = int(RATE * (PRE + flood_s + POST))
    items = feed_items(n)
    chk = Checker(topics, group)
    d = tp.Daemon(cfg, "fault-" + name)
    socks, probes = [], []
    try:
        if not check(d.wait_assigned(), name + ": fraudd got partitions"):
            return
        check(http_get(port, "/metrics", 5) == 200, name + ": /metrics answers before the flood")
        ld = tp.Loader(topics[0])
        feed_t0 = time.time()
        feeder = ld.produce_in_background(items, RATE)
        time.sleep(PRE)
        t_start = time.time()
        refused = 0
        for i in range(idle_n + slow_n):
            try:
                sk = socket.create_connection(("127.0.0.1", port), timeout=1)
                if i >= idle_n:
                    sk.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
                socks.append(sk)
            except OSError:
                refused += 1
        while time.time() < t_start + flood_s:
            for j, sk in enumerate(socks[idle_n:]):
                try:
                    sk.sendall(b"X-a: b\r\n"[j % 8:j % 8 + 1] or b"x")
                except OSError:
                    pass
            probes.append(http_get(port, "/metrics", 1))
            time.sleep(1)
        t_end = time.time()
        for sk in socks:
            sk.close()
        recovered = None
        while time.time() < t_end + 30:
            if http_get(port, "/metrics", 2) == 200:
                recovered = time.time() - t_end
                break
            time.sleep(0.2)
        # kept up: what was fed by the flood's end has its result 3 s later
        time.sleep(3)
        handed = int((t_end - feed_t0) * RATE)
        done = chk.sources()
        behind = sum(1 for i in range(handed) if ld.where.get(i) not in done)
        feeder.join()
        _, want = input_ends(topics[0])
        # its exit status is checked below, after the flood's own checks
        rc, _, _ = finish(chk, d, name, lambda: want <= chk.sources(), 60, linger_s=2, checks=False)
    finally:
        for sk in socks:
            sk.close()
        cleanup(chk, d)
    tl = tally(chk, want)
    ok_probes = sum(1 for x in probes if x == 200)
    print("  %d connections held (%d refused), /metrics answered %d of %d probes during the flood, "
          "again %s after it; %d records fed by the flood's end, %d without a result 3 s later; "
          "records in %d, lost %d, duplicates %d" %
          (len(socks), refused, ok_probes, len(probes),
           "%.1f s" % recovered if recovered is not None else "never", handed, behind,
           len(want), len(tl.lost), tl.n_dups))
    check(len(socks) >= 32, name + ": the flood opened %d connections, more than the server takes (32)" % len(socks))
    check(behind <= RATE * 2, name + ": scoring kept up during the flood (%d of %d fed records without a result "
          "3 s after its end; at most 2 s of feed allowed)" % (behind, handed))
    check(recovered is not None and recovered <= 15,
          name + ": /metrics answers again within 15 s of the flood's end (%s)" %
          ("%.1f s" % recovered if recovered is not None else "never"))
    check(not tl.lost, name + ": no record lost (%d)" % len(tl.lost))
    check(tl.n_dups == 0, name + ": no duplicates (%d)" % tl.n_dups)
    check(rc == 0, name + ": fraudd exits 0 on SIGTERM (rc %s)" % rc)
    report({"scenario": name, "records_in": len(want), "lost": len(tl.lost), "duplicates": tl.n_dups,
            "flood_connections": len(socks), "metrics_probes_ok": ok_probes, "metrics_probes": len(probes),
            "metrics_recovery_s": None if recovered is None else round(recovered, 2), "behind_at_end": behind,
            "rate": RATE})


ONLY_WHEN_NAMED = {"sigkill_loop": run_sigkill_loop}
# kafka.delivery exactly_once (tests/faults/eos.py): only when named
EOS = ("eos_sigkill", "eos_rebalance", "eos_zombie", "eos_poison")
# model rollouts: a shadow challenger, a canary, a promotion (tests/faults/rollout.py): only when named
ROLLOUT = ("rollout_shadow", "rollout_canary", "rollout_promote")
# not about Kafka, but run with the campaign: no broker fault, the same feed and checker
OTHER = {"http_flood": run_http_flood}

if __name__ == "__main__":
    if not tp.BOOT or not KAFKA_DIR or len(sys.argv) < 2:
        sys.exit(__doc__)
    tp.FRAUDD = os.path.abspath(sys.argv[1])
    names = sys.argv[2:] or list(FAULTS) + list(OTHER)
    if any(s in FAULTS and FAULTS[s][2] for s in names):
        if not (TOXI and PROXY_PORT):
            sys.exit("faults.py: network scenarios need FR_TOXIPROXY_API and FR_KAFKA_PROXY_PORT (run_faults.sh)")
        setup_proxy()
    def runner(s):
        def go():
            if s in EOS:
                import eos  # noqa: E402  (it imports this module's helpers)
                ONLY_WHEN_NAMED.update(eos.SCENARIOS)
            if s in ROLLOUT:
                import rollout  # noqa: E402  (it imports this module's helpers)
                ONLY_WHEN_NAMED.update(rollout.SCENARIOS)
            fn = ONLY_WHEN_NAMED.get(s) or OTHER.get(s)
            fn() if fn else run_scenario(s)
        return go
    tp.run_scenarios("faults", [(s, runner(s)) for s in names])
