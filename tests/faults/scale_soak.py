"""Fault campaign, scale and soak: several `fraudd run` processes in one group against a real
broker (docs/RELIABILITY.md, "Scale out and in", "Soak"). Run by tests/faults/run_scale_soak.sh
(or tests/faults/run_faults.sh with these names), which starts the broker (scripts/kafka.sh) and
sets FR_KAFKA_BOOTSTRAP and FR_KAFKA_DIR.

  scale  (about 2.5 minutes) scale out and in under backpressure: one process, a second, a
         third, then the third and the second stopped with SIGTERM, while records arrive faster
         than the small pipeline takes them (workers 1, ring_capacity 16, max_in_flight 64: the
         input waits for room most of the time, fraudd_input_backpressure_seconds_total rises
         in every phase). After each
         change, every one of the 8 input partitions must have new results within
         FR_SCALE_BOUND_S (15 s) of the change and never go FR_SCALE_BOUND_S without one until
         the next change (the independent checker's reads), and no process may report
         fraudd_partition_stalled_seconds above 20 (its /metrics, scraped every second). This is
         the regression of defect 1 (a partition revoked while paused for backpressure was never
         fetched again once assigned back) and of the starvation that followed (pausing for
         backpressure dropped what librdkafka had prefetched, so one partition at a time
         flowed). End: lost 0, duplicates 0 (every change is a clean
         cooperative rebalance: revoked partitions are drained and committed), committed ==
         end after the last SIGTERM. FR_SCALE_RATE (default 1000 records/s), FR_SCALE_BACKLOG (20000), FR_SCALE_PHASE_S (20).
  soak   (only when named; FR_SOAK_S, default 1800 s) a steady feed (FR_SOAK_RATE, default 2000
         records/s) into one process (default pipeline, workers 2), a second process joins and
         leaves (SIGTERM) every FR_SOAK_CYCLE_S (180 s); the first process's RSS
         (/proc/PID/status VmRSS), open fds (/proc/PID/fd) and threads (/proc/PID/task) are
         sampled every 10 s. Reports each one's first and last value and its least-squares
         slope per hour after a warm-up of FR_SOAK_WARMUP_S (120 s) and checks it (below);
         lost 0, duplicates 0, committed == end.

The checker is faults.Checker (confluent-kafka, independent of fraudd) over 8 partitions; the
soak's version keeps a count per input offset instead of every arrival (a 30-minute feed is
3.6 million records).

usage: scale_soak.py FRAUDD_BINARY [scale] [soak]   (no SCENARIO: scale)
"""
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faults  # noqa: E402  (Checker, feed_items, the closing steps; it imports test_pipeline as tp)
from faults import tp, check  # noqa: E402

PARTS = 8
faults.PARTS = PARTS  # the Checker reads and samples faults.PARTS partitions
SESSION_MS = 6000

SCALE_RATE = int(os.environ.get("FR_SCALE_RATE", "1000"))
SCALE_BACKLOG = int(os.environ.get("FR_SCALE_BACKLOG", "20000"))
SCALE_PHASE_S = float(os.environ.get("FR_SCALE_PHASE_S", "20"))
SCALE_BOUND_S = float(os.environ.get("FR_SCALE_BOUND_S", "15"))
STALL_MAX_S = 20.0
# Backpressure on purpose: one worker, a tiny ring and pool, and a slow output: the producer
# holds every result 100 ms (linger.ms) before it sends it, so the 64 records in flight wait
# for it. A process then scores at most about 64 / 0.107 s = 600 records/s whatever the CPU,
# and its input waits for room most of the time while it has a backlog.
# The default backlog (20,000) and feed (1,000/s) keep 1, 2 and 3 such processes behind in
# every phase (the backlog is lowest, about 8,000, after the 3-process phase) and leave about
# 12,000 records, 20 s of one process, after the last phase.
SMALL_PIPELINE = "  ring_capacity: 16\n  max_in_flight: 64\n"
assert faults.SHORT_TIMEOUTS.endswith('  producer:\n    request.timeout.ms: "5000"\n')
SLOW_OUTPUT = faults.SHORT_TIMEOUTS + '    linger.ms: "100"\n'

SOAK_S = float(os.environ.get("FR_SOAK_S", "1800"))
SOAK_RATE = int(os.environ.get("FR_SOAK_RATE", "2000"))
SOAK_CYCLE_S = float(os.environ.get("FR_SOAK_CYCLE_S", "180"))
SOAK_WARMUP_S = float(os.environ.get("FR_SOAK_WARMUP_S", "120"))
# slope limits per hour (docs/RELIABILITY.md, "Soak", has the reasoning)
RSS_MB_PER_H = 5.0
FDS_PER_H = 2.0
THREADS_PER_H = 2.0


def create_topics(name):
    t = "%s-%s" % (name, os.urandom(4).hex())
    topics = (t + "-in", t + "-out", t + "-dlq")
    tp.create_topics(topics, partitions=PARTS)
    return topics


class Proc:
    """One fraudd of the group with its own HTTP port."""

    def __init__(self, name, group, topics, **kw):
        self.name = name
        self.port = tp.free_port()
        # a fixed HTTP port: each process's /metrics is scraped
        cfg = tp.write_config(name, group, topics, session_ms=SESSION_MS, http_port=self.port, **kw)
        self.d = tp.Daemon(cfg, name)
        self.rc = None

    def alive(self):
        return self.d.proc.poll() is None

    def stop(self):
        self.rc = self.d.stop()
        return self.rc


class Scraper:
    """Every second, each live process's /metrics: the input's backpressure seconds, assigned
    partitions and the stall gauge per partition."""

    def __init__(self):
        self.procs = []
        self.samples = []  # (t, proc name, backpressure s, assigned, {partition: stalled s})
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stop_ev.is_set():
            t = time.time()
            for p in list(self.procs):
                if not p.alive():
                    continue
                try:
                    m = tp.scrape(p.port)
                except Exception:  # starting or stopping
                    continue
                stalls = {int(k.split('"')[1]): v for k, v in m.items()
                          if k.startswith("fraudd_partition_stalled_seconds{")}
                self.samples.append((t, p.name, m.get("fraudd_input_backpressure_seconds_total", 0),
                                     m.get("fraudd_assigned_partitions", 0), stalls))
            self.stop_ev.wait(max(0.0, 1.0 - (time.time() - t)))

    def close(self):
        self.stop_ev.set()
        self.t.join(10)


def end_offsets(topic):
    return tp.end_offsets(topic, PARTS)


# ------------------------------------------------------------------ scale

def run_scale(name="scale"):
    topics = create_topics("fault-" + name)
    group = "g-" + topics[0]
    kw = dict(workers=1, extra_pipeline=SMALL_PIPELINE, extra_kafka=SLOW_OUTPUT)
    # a backlog, then a feed faster than one process scores through the five phases: every
    # process is behind (so pausing) in every phase; the last one ends the backlog after them
    n = SCALE_BACKLOG + int(SCALE_RATE * (5 * SCALE_PHASE_S + 10))
    items = faults.feed_items(n)
    chk = faults.Checker(topics, group)
    scr = Scraper()
    procs = {}
    phases = []  # (label, start, end, live process names)

    def start(k):
        p = Proc("%s-%d" % (name, k), group, topics, **kw)
        procs[k] = p
        scr.procs.append(p)
        return p

    try:
        ld = tp.Loader(topics[0])
        ld.produce(items[:SCALE_BACKLOG])
        p1 = start(1)
        if not check(p1.d.wait_assigned(), name + ": fraudd 1 got partitions"):
            return
        feeder = ld.produce_in_background(items[SCALE_BACKLOG:], SCALE_RATE)
        t = time.time()
        time.sleep(SCALE_PHASE_S)
        phases.append(("1 process", t, time.time(), [1]))
        changes = [("scale out to 2", "start", 2, [1, 2]), ("scale out to 3", "start", 3, [1, 2, 3]),
                   ("scale in to 2 (SIGTERM 3)", "stop", 3, [1, 2]), ("scale in to 1 (SIGTERM 2)", "stop", 2, [1])]
        for label, what, k, live in changes:
            t = time.time()
            if what == "start":
                check(start(k).d.wait_assigned(), "%s: fraudd %d joined the group" % (name, k))
            else:
                rc = procs[k].stop()
                check(rc == 0, "%s: fraudd %d exits 0 on SIGTERM under backpressure (rc %s)" %
                      (name, k, rc))
            print("  %s: done %.1f s after the change began" % (label, time.time() - t), flush=True)
            time.sleep(SCALE_PHASE_S)
            phases.append((label, t, time.time(), live))
        feeder.join()
        ends = end_offsets(topics[0])
        want = {(p, o) for p in range(PARTS) for o in range(ends[p])}
        _, committed, drain_s = faults.finish(chk, p1.d, name, lambda: want <= chk.sources(), 90, who="fraudd 1",
                                              poll_s=0.5)
    finally:
        scr.close()
        faults.cleanup(chk, *[p.d for p in procs.values()])

    tl = faults.tally(chk, want)
    new_by_part = {p: [] for p in range(PARTS)}
    for (sp, so), t in tl.first.items():
        if sp in new_by_part:
            new_by_part[sp].append(t)
    for v in new_by_part.values():
        v.sort()

    rows = []
    for label, t0, t1, live in phases:
        # per partition: the longest time without a new result, from the change to the phase's end
        gaps = {}
        for p, ts in new_by_part.items():
            inside = [t0] + [t for t in ts if t0 < t < t1] + [t1]
            gaps[p] = max(b - a for a, b in zip(inside, inside[1:]))
        first_new = {p: next((t - t0 for t in ts if t > t0), None) for p, ts in new_by_part.items()}
        smp = [s for s in scr.samples if t0 <= s[0] <= t1]
        waits = {}
        for s in smp:
            lo, hi = waits.get(s[1], (s[2], s[2]))
            waits[s[1]] = (min(lo, s[2]), max(hi, s[2]))
        waited = sum(hi - lo for lo, hi in waits.values())
        # partitions owned at the phase's end: the last sample of each live process (a process
        # stopped at the phase's start can still answer a scrape while it shuts down)
        live_names = {"%s-%d" % (name, k) for k in live}
        last = {}
        for s in smp:
            if s[1] in live_names:
                last[s[1]] = s[3]
        stall = max((v for s in smp for v in s[4].values()), default=0.0)
        s_end = chk.sample_before(t1)
        behind = sum(s_end[2][p] - s_end[1].get(p, 0) for p in range(PARTS)) if s_end else 0
        per_part = [sum(1 for t in new_by_part[p] if t0 < t <= t1) for p in range(PARTS)]
        scored = sum(per_part)
        worst = max(gaps, key=gaps.get)
        rows.append({"phase": label, "s": round(t1 - t0, 1), "processes": len(live),
                     "max_gap_s": round(gaps[worst], 2), "max_gap_partition": worst,
                     "first_new_max_s": None if None in first_new.values() else round(max(first_new.values()), 2),
                     "backpressure_s": round(waited, 1), "assigned_at_end": {k: int(v) for k, v in sorted(last.items())},
                     "scored_per_s": round(scored / (t1 - t0)), "lag_at_end": behind, "new_per_partition": per_part,
                     "max_stalled_s": stall})
        print("  %-26s %5.1f s: longest without a new result %.1f s (partition %d), every partition's first "
              "new result within %s s; input waited for room %.1f s; partitions owned at the end %s; max stalled gauge %.0f s; "
              "scored %d/s; lag at the end %d" %
              (label, t1 - t0, gaps[worst], worst, rows[-1]["first_new_max_s"], waited,
               rows[-1]["assigned_at_end"], stall, rows[-1]["scored_per_s"], behind), flush=True)
        print("    new results per partition 0-%d: %s" % (PARTS - 1, per_part), flush=True)
        check(gaps[worst] <= SCALE_BOUND_S,
              "%s: %s: every partition has new results, none waits more than %.0f s (longest %.1f s, partition %d)" %
              (name, label, SCALE_BOUND_S, gaps[worst], worst))
        # under backpressure: each live process waited for room at least half the phase
        check(waited >= 0.5 * len(live) * (t1 - t0 - 2) and behind > 0,
              "%s: %s: under backpressure: the input waited for room (fraudd_input_backpressure_seconds_total "
              "+%.1f s over %d processes in %.0f s) and the group was still behind at the phase's end (lag %d)" %
              (name, label, waited, len(live), t1 - t0, behind))
        check(stall <= STALL_MAX_S, "%s: %s: no fraudd_partition_stalled_seconds above %.0f s (max %.1f s)" %
              (name, label, STALL_MAX_S, stall))
        check(sum(last.values()) == PARTS and len(last) == len(live),
              "%s: %s: the %d live processes own the %d partitions between them (%s)" %
              (name, label, len(live), PARTS, last))
    fed = sum(ends.values())
    lag = sum(ends[p] - committed.get(p, 0) for p in range(PARTS))
    print("  records in %d (fed %d), results %d, dead letters %d, lost %d, duplicates %d; all scored %.1f s after "
          "the feed's end; committed after the last SIGTERM %s of %s" %
          (fed, len(ld.where), tl.n_out, tl.n_dlq, len(tl.lost), tl.n_dups, drain_s,
           [committed.get(p) for p in range(PARTS)], [ends[p] for p in range(PARTS)]), flush=True)
    check(fed == n and len(ld.where) == n, name + ": the feeder wrote %d records (input holds %d)" % (n, fed))
    check(not tl.lost, name + ": no record lost (%d without a result)%s" %
          (len(tl.lost), (": " + str(tl.lost[:5])) if tl.lost else ""))
    check(tl.n_dlq == 0, name + ": no dead letters for valid records (%d)" % tl.n_dlq)
    check(tl.n_dups == 0, name + ": no duplicates across clean cooperative rebalances (%d; %d differ)" %
          (tl.n_dups, tl.differ))
    check(lag == 0, name + ": after the last SIGTERM the committed offsets are the input's end (lag %d)" % lag)
    faults.warnings_by_event([p.d for p in procs.values()])
    faults.report({"scenario": name, "records_in": fed, "lost": len(tl.lost), "duplicates": tl.n_dups,
                   "dead_letters": tl.n_dlq, "rate": SCALE_RATE, "phases": rows, "drain_s": round(drain_s, 1),
                   "lag_after_stop": lag})
    with open(os.path.join(tp.WORK, name + "-checker.json"), "w") as f:  # for a closer look
        json.dump({"phases": phases, "scrapes": scr.samples, "samples": chk.samples}, f)


# ------------------------------------------------------------------ soak

class CountingChecker(faults.Checker):
    """faults.Checker keeping, per input offset, how many results or dead letters named it (capped
    at 255), and the arrival count, instead of every arrival."""

    def __init__(self, topics, group):
        self.seen = {p: bytearray() for p in range(PARTS)}
        self.n_out = self.n_dlq = self.n_stray = 0
        super().__init__(topics, group)

    def arrived(self, t, topic, sp, so, value):
        if topic == self.dlq:
            self.n_dlq += 1
        else:
            self.n_out += 1
        b = self.seen.get(sp)
        if b is None or so < 0:
            self.n_stray += 1
            return
        if so >= len(b):
            b.extend(bytes(so + 65536 - len(b)))
        if b[so] < 255:
            b[so] += 1

    def tally(self, ends):
        """(offsets in [0, end) without a result, duplicates)."""
        lost = dups = 0
        for p in range(PARTS):
            b = self.seen[p]
            for o in range(ends[p]):
                c = b[o] if o < len(b) else 0
                lost += c == 0
                dups += max(0, c - 1)
        return lost, dups


class Delivered(dict):
    """Loader.where that only counts (a 30-minute feed would keep millions of positions)."""

    def __init__(self):
        super().__init__()
        self.n = 0

    def __setitem__(self, k, v):
        self.n += 1


def cycle_items(n):
    faults.feed_items(1)  # the 20,000 generated records
    lines = faults._LINES
    for i in range(n):
        yield i, lines[i % len(lines)][0], lines[i % len(lines)][1]


def proc_sample(pid):
    with open("/proc/%d/status" % pid) as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    return rss / 1024.0, len(os.listdir("/proc/%d/fd" % pid)), len(os.listdir("/proc/%d/task" % pid))


def slope_per_hour(pts):
    """Least-squares slope of [(t, y)] in units per hour."""
    if len(pts) < 2:
        return 0.0
    mt = sum(t for t, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    den = sum((t - mt) ** 2 for t, _ in pts)
    return 3600.0 * sum((t - mt) * (y - my) for t, y in pts) / den if den else 0.0


def run_soak(name="soak"):
    topics = create_topics("fault-" + name)
    group = "g-" + topics[0]
    n = int(SOAK_RATE * SOAK_S)
    chk = CountingChecker(topics, group)
    p1 = Proc(name + "-1", group, topics, extra_kafka=faults.SHORT_TIMEOUTS)
    p2 = None
    joins = leaves = 0
    samples = []  # (t since start, rss MB, fds, threads)
    try:
        if not check(p1.d.wait_assigned(), name + ": fraudd 1 got partitions"):
            return
        ld = tp.Loader(topics[0])
        ld.where = Delivered()
        t0 = time.time()
        feeder = ld.produce_in_background(cycle_items(n), SOAK_RATE)
        next_sample, k = t0, 1
        while feeder.is_alive():
            now = time.time()
            if now >= next_sample:
                if p1.alive():
                    samples.append((now - t0,) + proc_sample(p1.d.proc.pid))
                next_sample += 10
                if len(samples) % 6 == 0:
                    print("  %5.0f s: RSS %.1f MB, fds %d, threads %d, results %d" %
                          (samples[-1] + (chk.n_out,)), flush=True)
            phase = (now - t0) % SOAK_CYCLE_S
            in_window = SOAK_CYCLE_S / 3 <= phase < SOAK_CYCLE_S * 5 / 6 and now - t0 < SOAK_S - 30
            if in_window and p2 is None:
                k += 1
                p2 = Proc("%s-%d" % (name, k), group, topics, extra_kafka=faults.SHORT_TIMEOUTS)
                joins += 1
            elif not in_window and p2 is not None:
                rc = p2.stop()
                check(rc == 0, "%s: fraudd %d leaves with exit 0 on SIGTERM (rc %s)" % (name, k, rc))
                leaves += 1
                p2 = None
            time.sleep(0.5)
        if p2 is not None:
            p2.stop()
            leaves += 1
            p2 = None
        ends = end_offsets(topics[0])
        _, committed, _ = faults.finish(chk, p1.d, name, lambda: not chk.tally(ends)[0], 120, who="fraudd 1",
                                        poll_s=2)
    finally:
        faults.cleanup(chk, *[p.d for p in (p1, p2) if p is not None])
    lost, dups = chk.tally(ends)
    fed = sum(ends.values())
    lag = sum(ends[p] - committed.get(p, 0) for p in range(PARTS))
    after = [s for s in samples if s[0] >= SOAK_WARMUP_S]
    res = {"scenario": name, "s": SOAK_S, "rate": SOAK_RATE, "records_in": fed, "lost": lost, "duplicates": dups,
           "dead_letters": chk.n_dlq, "joins": joins, "leaves": leaves, "lag_after_stop": lag,
           "samples": len(samples)}
    print("  %.0f s at %d records/s, %d joins and %d leaves of a second process; records in %d, lost %d, "
          "duplicates %d, dead letters %d" % (SOAK_S, SOAK_RATE, joins, leaves, fed, lost, dups, chk.n_dlq))
    for i, (what, unit, limit) in enumerate((("RSS", "MB", RSS_MB_PER_H), ("open fds", "", FDS_PER_H),
                                             ("threads", "", THREADS_PER_H)), start=1):
        pts = [(s[0], s[i]) for s in after]
        slope = slope_per_hour(pts)
        lo = min((y for _, y in pts), default=0)
        hi = max((y for _, y in pts), default=0)
        key = what.split()[-1].lower()
        res[key] = {"first": samples[0][i] if samples else None, "after_warmup": pts[0][1] if pts else None,
                    "last": samples[-1][i] if samples else None, "min": lo, "max": hi,
                    "slope_per_hour": round(slope, 2)}
        print("  %-8s first %s, after the warm-up %s, last %s (min %s, max %s); slope %+.2f %s/hour (limit %s)" %
              (what, res[key]["first"], res[key]["after_warmup"], res[key]["last"], lo, hi, slope,
               unit or "per", limit), flush=True)
        check(len(pts) >= 3 and slope < limit, "%s: %s slope %.2f %s/hour < %s after a %.0f s warm-up" %
              (name, what, slope, unit or "per", limit, SOAK_WARMUP_S))
    check(joins >= 1 and joins == leaves, name + ": a second process joined and left %d times" % joins)
    check(lost == 0, name + ": no record lost (%d without a result)" % lost)
    check(chk.n_stray == 0, name + ": every result names an input offset (%d do not)" % chk.n_stray)
    check(chk.n_dlq == 0, name + ": no dead letters for valid records (%d)" % chk.n_dlq)
    check(dups == 0, name + ": no duplicates across clean cooperative rebalances (%d)" % dups)
    check(lag == 0, name + ": after the last SIGTERM the committed offsets are the input's end (lag %d)" % lag)
    faults.report(res)
    with open(os.path.join(tp.WORK, name + "-samples.json"), "w") as f:
        json.dump(samples, f)


SCENARIOS = {"scale": run_scale, "soak": run_soak}

if __name__ == "__main__":
    if not tp.BOOT or len(sys.argv) < 2:
        sys.exit(__doc__)
    tp.FRAUDD = os.path.abspath(sys.argv[1])
    names = sys.argv[2:] or ["scale"]
    for s in names:
        if s not in SCENARIOS:
            sys.exit("scale_soak.py: unknown scenario %r (scale, soak)" % s)
    tp.run_scenarios("scale_soak", [(s, SCENARIOS[s]) for s in names])
