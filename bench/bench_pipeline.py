"""End-to-end benchmark of `fraudd run` through a real Kafka broker.

usage: FR_KAFKA_BOOTSTRAP=host:port bench_pipeline.py FRAUDD [--records N] [--rate R] [--metrics-only]
       FR_KAFKA_BOOTSTRAP=host:port bench_pipeline.py FRAUDD --eos-curve [--records N] [--rate R]
           [--rounds K] [--feed-seconds S]
       FR_KAFKA_BOOTSTRAP=host:port bench_pipeline.py FRAUDD --rollout [--records N] [--rounds K]
       FR_KAFKA_BOOTSTRAP=host:port bench_pipeline.py FRAUDD --linger-curve [--records N] [--rounds K]
           [--feed-seconds S] [--rate R] [--lingers 0,1,2,5,10,20]

For each configuration, in the same run, on the same broker:
  passthrough   the same consumer, rings, workers and producer, but workers copy the input
                to the output without scoring (pipeline.passthrough: true): the baseline
  scoring       the real pipeline (decode, model, encode)
with 1 and 2 workers:
  throughput    N records are loaded into a fresh 4-partition topic first; fraudd starts
                and drains them while the script only polls the output's end offsets.
                records/s = N / (last - first output CreateTime), both stamped by fraudd's
                producer, so start-up and group join are excluded.
  latency       a fresh topic is fed at --rate records/s (below capacity) while fraudd runs;
                per record: output CreateTime - input CreateTime (both ms clocks of this
                machine), p50 / p99 / max.
  peak RSS      VmHWM of the fraudd process after the throughput run.
  CPU/record    fraudd's user+system CPU time over the throughput run / N (start-up included):
                what scoring costs fraudd itself, whatever the broker's share of the cores.
Prints a Markdown table for docs/BENCHMARKS.md; throughput is also given as the ratio of
scoring to pass-through in the same run.

--eos-curve (docs/BENCHMARKS.md, section (i)): the cost of kafka.delivery: exactly_once. Four
configurations, 1 worker, the default pipeline otherwise: at_least_once, and exactly_once with
kafka.transaction_interval_ms 10, 100 and 1000; --rounds rounds (default 3), each running the
four one after the other, the order rotated by one each round. Per run:
  drain         one preloaded input topic (--records, loaded once) drained by a fresh group into
                fresh output topics; done when the output's end offsets reach N (at_least_once)
                or the group's committed input offsets do (exactly_once: they are committed in
                the transaction that makes the results visible). CPU us/record as above;
                records/s from the output CreateTimes, read back with isolation.level=
                read_committed, which also confirms the count (and that no source offset has two
                results); for exactly_once, transactions committed/aborted from /metrics.
  latency       a fresh topic fed at --rate for --feed-seconds while a live read_committed
                consumer of the output stamps each result with its own receive wall time:
                latency = receive time - input CreateTime, what a downstream reader sees (an
                exactly_once result becomes visible only when its transaction commits). The
                same live measurement for at_least_once, so the four compare. The first eighth
                of the inputs (in input time) is dropped as warm-up. Transactions per second:
                fraudd_transactions_total{result="committed"} from /metrics, before the feed and
                after its last result, over that time.
Prints each run, then a Markdown table: medians over the rounds, and the median of the per-round
ratios to at_least_once (CPU/record, records/s). The load average is printed at start and end.

--rollout (docs/BENCHMARKS.md, section (j)): the cost of model.challenger. Three drains of the
same preloaded topic per round (1 worker, at least once), the order rotated each round: the
champion alone, a shadow challenger, a canary for 10% of keys; CPU us/record and records/s as in
the drain above, and their per-round ratios to the champion alone.
"""
import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import test_pipeline as tp  # noqa: E402  (shares the broker helpers)
from confluent_kafka import (Consumer, KafkaException, Producer, TIMESTAMP_CREATE_TIME,  # noqa: E402
                             TIMESTAMP_LOG_APPEND_TIME, TopicPartition)


def read_timestamps(topic, want, timeout, ts_type=TIMESTAMP_CREATE_TIME):
    """(output timestamp, source partition, source offset) of up to `want` results, read with
    isolation.level=read_committed (librdkafka's default, spelled out: only committed results).
    The timestamps must be of type ts_type: CreateTime (fraudd's producer stamps them), or
    LogAppendTime for a topic created with message.timestamp.type=LogAppendTime."""
    c = Consumer({"bootstrap.servers": tp.BOOT, "group.id": "bench-" + uuid.uuid4().hex,
                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "isolation.level": "read_committed"})
    md = c.list_topics(topic, timeout=10)
    c.assign([TopicPartition(topic, p, 0) for p in md.topics[topic].partitions])
    out = []
    deadline = time.time() + timeout
    while len(out) < want and time.time() < deadline:
        for m in c.consume(10000, 0.5):
            if m.error():
                continue
            if m.timestamp()[0] != ts_type:
                raise RuntimeError("%s: timestamp type %d, want %d" % (topic, m.timestamp()[0], ts_type))
            h = dict(m.headers() or [])  # none with kafka.result_headers false: source -1, -1
            out.append((m.timestamp()[1], int(h.get("fraudd.source.partition", -1)),
                        int(h.get("fraudd.source.offset", -1))))
    c.close()
    return out


def items(lines, m):
    """(index, record, card key) for m records, cycling through the generated lines."""
    return [(i, lines[i % len(lines)], tp.card_key(lines[i % len(lines)])) for i in range(m)]


def preload(name, lines, n):
    """A fresh 4-partition input topic holding n generated records (the drains' shared input)."""
    inp = tp.topics_for(name)[0]
    tp.Loader(inp).produce(items(lines, n))
    return inp


def wait_for_end_offsets(topic, want, timeout, tick=None, alive=None, interval=1.0):
    """Waits (cheaply: one watermark query per partition every `interval` seconds) until the
    topic holds `want` messages, so no reader competes with fraudd and the broker for the 2 cores.
    tick(total), if given, is called after each query; alive(), if given, is asked each time
    and the wait ends when it is false (the process under test exited). Returns the total."""
    c = Consumer({"bootstrap.servers": tp.BOOT, "group.id": "bench-" + uuid.uuid4().hex})
    parts = list(c.list_topics(topic, timeout=10).topics[topic].partitions)
    deadline = time.time() + timeout
    total = 0
    while time.time() < deadline:
        try:
            total = sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts)
        except KafkaException:  # a topic created a moment ago: its leaders may not answer yet
            time.sleep(0.2)
            continue
        if tick:
            tick(total)
        if total >= want or (alive and not alive()):
            break
        time.sleep(interval)
    c.close()
    return total


def input_timestamps(topic, n):
    c = Consumer({"bootstrap.servers": tp.BOOT, "group.id": "bench-" + uuid.uuid4().hex,
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    md = c.list_topics(topic, timeout=10)
    c.assign([TopicPartition(topic, p, 0) for p in md.topics[topic].partitions])
    ts = {}
    while len(ts) < n:
        for m in c.consume(10000, 1.0):
            if not m.error():
                ts[(m.partition(), m.offset())] = m.timestamp()[1]
    c.close()
    return ts


def cpu_seconds(pid, children=False):
    """user + system CPU time of a process so far (all its threads); children=True adds that
    of its children that have exited and been waited for."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


vm_hwm_kb = tp.vm_hwm_kb  # a process's peak RSS, KB (bench_drain_ab and peers/ import it from here)


class Scraper(threading.Thread):
    """Scrapes /metrics every `every` seconds, like a Prometheus server (a 1 s interval is
    more aggressive than the usual 15-30 s)."""

    def __init__(self, port, every=1.0):
        super().__init__(daemon=True)
        self.port, self.every, self.stop, self.count = port, every, threading.Event(), 0

    def run(self):
        import urllib.request
        while not self.stop.wait(self.every):
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.port, timeout=5) as r:
                    r.read()
                self.count += 1
            except OSError:
                pass


def run_one(lines, mode, workers, n, rate):
    res = {}
    metrics = mode == "scoring+metrics"
    extra = "  passthrough: true\n" if mode == "passthrough" else ""
    # throughput: preloaded topic
    topics = tp.topics_for("bench-%s-%d" % (mode.replace("+", "-"), workers))
    ld = tp.Loader(topics[0])
    ld.produce(items(lines, n))
    cfg = tp.write_config("bench-%s-%d" % (mode, workers), "g-" + topics[0], topics, extra_pipeline=extra,
                          workers=workers)
    port = tp.free_port()
    d = tp.Daemon(cfg, "bench-%s-%d" % (mode, workers), ["--http-port", str(port)] if metrics else [])
    scraper = Scraper(port) if metrics else None
    if scraper:
        scraper.start()
    wait_for_end_offsets(topics[1], n, 600)
    if scraper:
        scraper.stop.set()
        res["scrapes"] = scraper.count
    res["rss_mb"] = vm_hwm_kb(d.proc.pid) / 1024.0
    res["cpu_us"] = cpu_seconds(d.proc.pid) * 1e6 / n
    d.stop()
    out = read_timestamps(topics[1], n, 600)
    ts = sorted(t for t, _, _ in out)
    span = (ts[-1] - ts[0]) / 1000.0 if len(ts) > 1 else float("nan")
    res["n"] = len(out)
    res["rps"] = len(out) / span if span > 0 else float("nan")
    # latency: paced feed
    topics = tp.topics_for("lat-%s-%d" % (mode.replace("+", "-"), workers))
    m = int(rate * 8)
    cfg = tp.write_config("lat-%s-%d" % (mode, workers), "g-" + topics[0], topics, extra_pipeline=extra,
                          workers=workers)
    d = tp.Daemon(cfg, "lat-%s-%d" % (mode, workers))
    d.wait_assigned()
    ld = tp.Loader(topics[0])
    feeder = threading.Thread(target=ld.produce, args=(items(lines, m), rate))
    feeder.start()
    feeder.join()
    out = read_timestamps(topics[1], m, 120)
    d.stop()
    res.update(latency_stats(out, input_timestamps(topics[0], m)))
    return res


def latency_stats(out, ins, warm=0.125):
    """p50 / p99 / max of output CreateTime - input CreateTime (ms) over the results `out`
    (read_timestamps) of the inputs `ins` (input_timestamps), without the first `warm` of the
    inputs in input-time order (an eighth: the first second of an 8 s feed, connections warming
    up). (Until 2026-12-07 the eighth dropped was the lowest latencies, not the first second.)"""
    pairs = sorted((ins[(p, o)], t - ins[(p, o)]) for t, p, o in out if (p, o) in ins)
    lat = sorted(d for _, d in pairs[int(len(pairs) * warm):])
    nan = float("nan")
    return {"p50": statistics.median(lat) if lat else nan, "p99": lat[int(0.99 * (len(lat) - 1))] if lat else nan,
            "max": lat[-1] if lat else nan}


# ---------------------------------------------------------------- --eos-curve

EOS_CONFIGS = [
    ("at_least_once", ""),
    ("exactly_once, 10 ms", "  delivery: exactly_once\n  transaction_interval_ms: 10\n"),
    ("exactly_once, 100 ms", "  delivery: exactly_once\n  transaction_interval_ms: 100\n"),
    ("exactly_once, 1000 ms", "  delivery: exactly_once\n  transaction_interval_ms: 1000\n"),
]


def scrape_metrics(port):
    """{name or name{labels}: value} from fraudd's /metrics ({} if it does not answer)."""
    import urllib.request
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            try:
                out[k] = float(v)
            except ValueError:
                pass
    return out


def txn_counts(port):
    m = scrape_metrics(port)
    return (m.get('fraudd_transactions_total{result="committed"}', 0.0),
            m.get('fraudd_transactions_total{result="aborted"}', 0.0),
            m.get("fraudd_transaction_records_total", 0.0))


class LiveReader(threading.Thread):
    """A downstream consumer of the output (isolation.level=read_committed, assigned from offset 0
    of a fresh topic) that stamps every result with its own receive wall time (ms), taken when
    poll() hands it over (poll returns as soon as a message is there; consume(N, timeout) would
    wait for N or the timeout and add that wait). out: (receive ms, source partition, offset)."""

    def __init__(self, topic):
        super().__init__(daemon=True)
        self.c = Consumer({"bootstrap.servers": tp.BOOT, "group.id": "live-" + uuid.uuid4().hex,
                           "enable.auto.commit": False, "isolation.level": "read_committed"})
        md = self.c.list_topics(topic, timeout=10)
        self.c.assign([TopicPartition(topic, p, 0) for p in md.topics[topic].partitions])
        self.out, self.stop, self.ready = [], threading.Event(), threading.Event()

    def run(self):
        while not self.stop.is_set():
            m = self.c.poll(0.05)
            now = time.time() * 1000.0
            self.ready.set()
            if m is not None and not m.error():
                h = dict(m.headers() or [])
                self.out.append((now, int(h["fraudd.source.partition"]), int(h["fraudd.source.offset"])))
        self.c.close()


def wait_until(pred, timeout, alive=None, every=0.5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        if alive and not alive():
            return False
        time.sleep(every)
    return pred()


def drain(slug, inp, n, extra_kafka="", extra_model=""):
    """fraudd (1 worker) drains the n records of the preloaded topic inp with a fresh group into
    fresh output topics: CPU us/record, records/s (output CreateTimes), results read back
    (read_committed) and distinct source offsets among them, transactions from /metrics."""
    eos = "exactly_once" in extra_kafka
    res = {}
    name = "%s-%d" % (slug, int(time.time() * 1000))
    out, dlq = name + "-out", name + "-dlq"
    tp.create_topics([out, dlq])
    group = "g-" + name
    cfg = tp.write_config(name, group, (inp, out, dlq), workers=1, extra_kafka=extra_kafka, extra_model=extra_model)
    port = tp.free_port()
    d = tp.Daemon(cfg, name, ["--http-port", str(port)])
    alive = lambda: d.proc.poll() is None  # noqa: E731
    watch = Consumer({"bootstrap.servers": tp.BOOT, "group.id": group, "enable.auto.commit": False})
    parts = list(watch.list_topics(inp, timeout=10).topics[inp].partitions)

    def done():
        try:
            if eos:  # results are visible exactly when the offsets that consume them are committed
                got = sum(max(x.offset, 0) for x in watch.committed([TopicPartition(inp, p) for p in parts],
                                                                      timeout=10))
            else:
                got = sum(watch.get_watermark_offsets(TopicPartition(out, p), timeout=10)[1] for p in parts)
        except KafkaException:
            return False
        return got >= n

    finished = wait_until(done, 600, alive)
    res["cpu_us"] = cpu_seconds(d.proc.pid) * 1e6 / n if alive() else float("nan")
    res["tx"], res["aborted"], txrec = txn_counts(port) if eos else (0, 0, 0)
    res["rec_per_tx"] = txrec / res["tx"] if res["tx"] else float("nan")
    watch.close()
    d.stop()
    if not finished:
        raise RuntimeError("%s: the drain did not finish (see %s)" % (slug, d.log_path))
    got = read_timestamps(out, n, 120)
    ts = sorted(t for t, _, _ in got)
    span = (ts[-1] - ts[0]) / 1000.0 if len(ts) > 1 else float("nan")
    res["n"], res["distinct"] = len(got), len({(p, o) for _, p, o in got})
    res["rps"] = len(got) / span if span > 0 else float("nan")
    return res


class Feed:
    """A paced feed: fraudd (1 worker, a fresh group, HTTP on a free port, extra_kafka under
    kafka:) on fresh input, output and dead-letter topics; the output topic gets out_config
    (e.g. message.timestamp.type). feed() produces to the input at `rate` records/s; the
    caller measures around it (a live reader, /metrics), then calls stop()."""

    def __init__(self, slug, extra_kafka="", out_config=None):
        name = "%s-%s" % (slug, uuid.uuid4().hex[:8])
        self.inp, self.out, dlq = name + "-in", name + "-out", name + "-dlq"
        tp.create_topics([self.inp, dlq])
        tp.create_topics([self.out], config=out_config)
        cfg = tp.write_config(name, "g-" + name, (self.inp, self.out, dlq), workers=1, extra_kafka=extra_kafka)
        self.port = tp.free_port()
        self.d = tp.Daemon(cfg, name, ["--http-port", str(self.port)])
        if not self.d.wait_assigned():
            raise RuntimeError("%s: fraudd was not assigned its partitions (see %s)" % (slug, self.d.log_path))

    def feed(self, lines, rate, seconds, producer=None, on_start=None):
        """Produces rate * seconds records at `rate` (producer: settings beside tp.Loader's, e.g.
        linger.ms); returns (records, seconds the feed took, flush included). on_start(), if
        given, is called just before the first record is produced (the records are generated
        first, which takes seconds for a long feed). Leaner than
        tp.Loader.produce (no delivery callback per record, the producer served every 100
        records), so one Python thread keeps up with tens of thousands of records/s on the
        shared cores; where each record landed is read back from the input (input_timestamps)."""
        m = int(rate * seconds)
        p = Producer({"bootstrap.servers": tp.BOOT, "linger.ms": 5, "enable.idempotence": True,
                      "queue.buffering.max.messages": 200000, **(producer or {})})
        batch = items(lines, m)
        if on_start:
            on_start()
        t0 = time.time()
        for i, (_, value, key) in enumerate(batch):
            while True:
                try:
                    p.produce(self.inp, value=value, key=key)
                    break
                except BufferError:
                    p.poll(0.01)
            if i % 100 == 99:
                p.poll(0)
                ahead = (i + 1) / rate - (time.time() - t0)
                if ahead > 0:
                    time.sleep(ahead)
        if p.flush(60):
            raise RuntimeError("%s: the feed was not delivered" % self.inp)
        return m, time.time() - t0

    def stop(self):
        self.d.stop()


def eos_run(label, extra_kafka, inp, lines, n, rate, feed_s):
    eos = "exactly_once" in extra_kafka
    slug = "eos-" + "".join(ch for ch in label if ch.isalnum())
    # drain: the shared preloaded input, a fresh group and fresh output topics
    res = drain(slug, inp, n, extra_kafka)
    # latency: a fresh topic fed at `rate` while a live read_committed reader watches the output
    f = Feed("lat-" + slug, extra_kafka)
    reader = LiveReader(f.out)
    reader.start()
    reader.ready.wait(30)
    tx0, ab0, _ = txn_counts(f.port) if eos else (0, 0, 0)
    t0 = time.time()
    m, res["feed_s"] = f.feed(lines, rate, feed_s)
    wait_until(lambda: len(reader.out) >= m, 60, every=0.05)
    t1 = time.time()
    tx1, ab1, _ = txn_counts(f.port) if eos else (0, 0, 0)
    reader.stop.set()
    reader.join(30)
    f.stop()
    res["tx_per_s"] = (tx1 - tx0) / (t1 - t0) if eos else float("nan")
    res["aborted"] += ab1 - ab0
    res["live_n"] = len(reader.out)
    res["lat_n"] = m
    res.update(latency_stats(reader.out, input_timestamps(f.inp, m)))
    return res


def rotated_rounds(configs, rounds, run, show, base, keys=("cpu_us", "rps")):
    """Runs every configuration (label, extra) once per round, one after the other, the order
    rotated by one each round (none always runs first, or right after the same other);
    run(label, extra) -> a result dict, show(round, label, result) prints it. Returns (runs,
    ratios): runs[label] its results in round order, ratios[label][key] each round's
    result[key] / that of the configuration labelled `base` in the same round."""
    runs = {label: [] for label, _ in configs}
    ratios = {label: {key: [] for key in keys} for label, _ in configs}
    for r in range(rounds):
        k = r % len(configs)
        got = {}
        for label, extra in configs[k:] + configs[:k]:
            got[label] = g = run(label, extra)
            runs[label].append(g)
            show(r + 1, label, g)
        for label, _ in configs:
            for key in keys:
                ratios[label][key].append(got[label][key] / got[base][key])
    return runs, ratios


def ratio_cell(xs):
    """A table cell: the median of the per-round ratios, each round's in brackets."""
    return "%.3f (%s)" % (statistics.median(xs), ", ".join("%.2f" % x for x in xs))


def eos_curve(args, lines):
    rounds, n, rate = args.rounds, args.records, args.rate
    print("eos-curve: %s, %d rounds, drain %d records, feed %.0f records/s for %.0f s, 1 worker" %
          (time.strftime("%Y-%m-%d %H:%M:%S %Z"), rounds, n, rate, args.feed_seconds))
    print("load average at start: %.2f %.2f %.2f" % os.getloadavg(), flush=True)
    inp = preload("eos-input", lines, n)
    t_start = time.time()

    def show(r, label, g):
        print("round %d %-22s CPU %5.2f us/record  %7.0f records/s  %d results read_committed (%d distinct)"
              "  | feed: %d/%d live, p50 %4.0f p99 %5.0f max %5.0f ms  tx/s %5.1f  records/tx (drain) %.0f"
              "  aborted %d  load %.2f" %
              (r, label, g["cpu_us"], g["rps"], g["n"], g["distinct"], g["live_n"], g["lat_n"], g["p50"],
               g["p99"], g["max"], g["tx_per_s"], g["rec_per_tx"], g["aborted"], os.getloadavg()[0]), flush=True)

    runs, ratios = rotated_rounds(EOS_CONFIGS, rounds,
                                  lambda label, extra: eos_run(label, extra, inp, lines, n, rate, args.feed_seconds),
                                  show, base=EOS_CONFIGS[0][0])
    print("load average at end: %.2f %.2f %.2f (%.0f s)" % (*os.getloadavg(), time.time() - t_start))
    med = statistics.median
    problems = []
    for label, _ in EOS_CONFIGS:
        for g in runs[label]:
            if g["n"] != n or g["distinct"] != n:
                problems.append("%s: %d results read_committed, %d distinct, want %d" % (label, g["n"], g["distinct"], n))
            if g["live_n"] < g["lat_n"]:
                problems.append("%s: the live reader saw %d of %d results" % (label, g["live_n"], g["lat_n"]))
            if g["rps"] < 2 * rate:
                problems.append("%s: capacity %.0f records/s is under twice the feed rate %.0f" % (label, g["rps"], rate))
    print("checks: " + ("; ".join(problems) if problems else
                        "every drain %d results read_committed, one per input; every feed fully seen live; "
                        "every drain's records/s at least twice the feed rate" % n))
    print()
    print("| configuration | CPU us/record | vs at-least-once | records/s | vs at-least-once | p50 | p99 "
          "| transactions/s (feed) | records/transaction (drain) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, _ in EOS_CONFIGS:
        rs = runs[label]
        eos = label != EOS_CONFIGS[0][0]
        print("| %s | %.2f | %s | %.0f | %s | %.0f ms | %.0f ms | %s | %s |" % (
            label, med(g["cpu_us"] for g in rs),
            ratio_cell(ratios[label]["cpu_us"]) if eos else "1",
            med(g["rps"] for g in rs),
            ratio_cell(ratios[label]["rps"]) if eos else "1",
            med(g["p50"] for g in rs), med(g["p99"] for g in rs),
            "%.1f" % med(g["tx_per_s"] for g in rs) if eos else "-",
            "%.0f" % med(g["rec_per_tx"] for g in rs) if eos else "-"))


def rollout_curve(args, lines):
    """The cost of a challenger (docs/BENCHMARKS.md, section (j)): champion alone, a shadow of
    every record, a canary for 10% of keys. The challenger is the default model under another
    version (the same graph, so the same work per model run). Each round drains the same
    preloaded topic once per configuration (1 worker), the order rotated by one each round."""
    mdir = tempfile.mkdtemp(prefix="fraudd-bench-rollout-")
    champ = tp.model_variant(mdir, "bench-champion")
    chall = tp.model_variant(mdir, "bench-challenger")
    model = "  path: %s\n" % champ
    configs = [("champion alone", model),
               ("shadow", model + "  challenger:\n    path: %s\n    mode: shadow\n" % chall),
               ("canary 10%", model + "  challenger:\n    path: %s\n    mode: canary\n    share: 0.1\n" % chall)]
    rounds, n = args.rounds, args.records
    print("rollout: %s, %d rounds, drain %d records, 1 worker" % (time.strftime("%Y-%m-%d %H:%M:%S %Z"), rounds, n))
    print("load average at start: %.2f %.2f %.2f" % os.getloadavg(), flush=True)
    inp = preload("rollout-input", lines, n)
    runs, ratios = rotated_rounds(
        configs, rounds,
        lambda label, extra: drain("rollout-" + "".join(ch for ch in label if ch.isalnum()), inp, n, extra_model=extra),
        lambda r, label, g: print("round %d %-16s CPU %5.2f us/record  %7.0f records/s  %d results (%d distinct)"
                                  "  load %.2f" % (r, label, g["cpu_us"], g["rps"], g["n"], g["distinct"],
                                                   os.getloadavg()[0]), flush=True),
        base=configs[0][0])
    print("load average at end: %.2f %.2f %.2f" % os.getloadavg())
    bad = ["%s: %d results, %d distinct, want %d" % (label, g["n"], g["distinct"], n)
           for label, _ in configs for g in runs[label] if g["n"] != n or g["distinct"] != n]
    print("checks: " + ("; ".join(bad) if bad else "every drain %d results, one per input" % n))
    med = statistics.median
    print()
    print("| configuration | CPU us/record | vs champion alone | records/s | vs champion alone |")
    print("|---|---:|---:|---:|---:|")
    for label, _ in configs:
        rs, base = runs[label], label == configs[0][0]
        print("| %s | %.2f | %s | %.0f | %s |" % (
            label, med(g["cpu_us"] for g in rs),
            "1" if base else ratio_cell(ratios[label]["cpu_us"]),
            med(g["rps"] for g in rs),
            "1" if base else ratio_cell(ratios[label]["rps"])))


# ---------------------------------------------------------------- --linger-curve

LINGERS = (0, 1, 2, 5, 10, 20)
DEFAULT_LINGER = 5  # fraudd's own producer default (src/sink/producer.c, fr_sink_new)
E2E = "fraudd_end_to_end_latency_seconds"


def linger_kafka(ms):
    return '  producer:\n    linger.ms: "%d"\n' % ms


def hist_quantile(before, after, name, q):
    """The q-quantile in ms of a /metrics histogram over the observations between two scrapes
    (scrape_metrics), interpolated linearly inside its bucket as Prometheus' histogram_quantile
    does (fraudd's end-to-end buckets are a quarter of a power of two apart between 1 and 131 ms,
    a power of two elsewhere)."""
    pre = name + '_bucket{le="'
    edges = sorted((float(k[len(pre):-2]) if "+Inf" not in k else float("inf"), after[k] - before.get(k, 0.0))
                   for k in after if k.startswith(pre))
    total = edges[-1][1] if edges else 0
    lo, below = 0.0, 0.0
    for le, cum in edges:
        if total and cum >= q * total:
            if le == float("inf"):
                return lo * 1000
            return (lo + (le - lo) * (q * total - below) / max(cum - below, 1)) * 1000
        lo, below = le, cum
    return float("nan")


def linger_run(ms, inp, lines, n, rate, feed_s):
    """One linger.ms: the drain of the shared preloaded input, then a paced feed at `rate`:
    latency = the output's LogAppendTime (the broker's append of the result, when a one-node
    broker can acknowledge it) - the input's CreateTime; fraudd's own end-to-end histogram
    (input timestamp to the delivery report) over the feed after its first eighth."""
    extra = linger_kafka(ms)
    res = drain("linger-%d" % ms, inp, n, extra)
    f = Feed("lat-linger-%d" % ms, extra, out_config={"message.timestamp.type": "LogAppendTime"})
    warm = {}
    # the warm-up scrape an eighth of the feed after its first record (until 2026-12-07 an
    # eighth after the call, while the records were still being generated: then fraudd's own
    # figures included the feed's first moments, which the broker's side leaves out)
    timer = threading.Timer(feed_s / 8, lambda: warm.update(scrape_metrics(f.port)))
    # the feeder sends at once (linger.ms 0): its CreateTime is when it hands over the record
    m, res["feed_s"] = f.feed(lines, rate, feed_s, producer={"linger.ms": 0}, on_start=timer.start)
    timer.join()
    wait_for_end_offsets(f.out, m, 60)
    time.sleep(0.5)  # the last delivery reports reach fraudd's histogram
    end = scrape_metrics(f.port)
    f.stop()
    got = read_timestamps(f.out, m, 120, ts_type=TIMESTAMP_LOG_APPEND_TIME)
    res["lat_n"], res["feed_n"] = len(got), m
    res.update(latency_stats(got, input_timestamps(f.inp, m)))
    res["own_p50"], res["own_p99"] = hist_quantile(warm, end, E2E, 0.5), hist_quantile(warm, end, E2E, 0.99)
    d_n = end.get(E2E + "_count", 0) - warm.get(E2E + "_count", 0)
    res["own_mean"] = (end.get(E2E + "_sum", 0) - warm.get(E2E + "_sum", 0)) * 1000 / d_n if d_n else float("nan")
    return res


def linger_curve(args, lines):
    """The linger/batch trade-off (docs/BENCHMARKS.md, section (k)): for each linger.ms of
    --lingers, 1 worker, at least once, the drain and the latency at half the sustainable rate."""
    rounds, n, feed_s = args.rounds, args.records, args.feed_seconds
    lingers = [int(x) for x in args.lingers.split(",")]
    if DEFAULT_LINGER not in lingers:
        sys.exit("--lingers must include the default, %d: the ratios are to it" % DEFAULT_LINGER)
    print("linger-curve: %s, %d rounds, drain %d records, feed for %.0f s, 1 worker, at least once, linger.ms %s" %
          (time.strftime("%Y-%m-%d %H:%M:%S %Z"), rounds, n, feed_s, ", ".join(map(str, lingers))))
    print("load average at start: %.2f %.2f %.2f" % os.getloadavg(), flush=True)
    t_start = time.time()
    inp = preload("linger-input", lines, n)
    rate = args.rate
    if not rate:  # half the sustainable rate: a calibration drain with the default linger.ms
        cal = drain("linger-calibration", inp, n, linger_kafka(DEFAULT_LINGER))
        rate = cal["rps"] / 2
        print("calibration: linger.ms %d drains %.0f records/s (CPU %.2f us/record): feeds at %.0f records/s" %
              (DEFAULT_LINGER, cal["rps"], cal["cpu_us"], rate), flush=True)
    configs = [(str(ms), linger_kafka(ms)) for ms in lingers]

    def show(r, label, g):
        print("round %d linger.ms %-3s CPU %5.2f us/record  %7.0f records/s  %d results (%d distinct)"
              "  | feed %d in %.1f s: %d results, p50 %5.1f p99 %5.1f max %5.0f ms (LogAppendTime);"
              " fraudd's own p50 %5.1f p99 %5.1f mean %5.1f ms  load %.2f" %
              (r, label, g["cpu_us"], g["rps"], g["n"], g["distinct"], g["feed_n"], g["feed_s"], g["lat_n"],
               g["p50"], g["p99"], g["max"], g["own_p50"], g["own_p99"], g["own_mean"], os.getloadavg()[0]),
              flush=True)

    runs, ratios = rotated_rounds(configs, rounds,
                                  lambda label, extra: linger_run(int(label), inp, lines, n, rate, feed_s),
                                  show, base=str(DEFAULT_LINGER), keys=("cpu_us", "rps", "p99"))
    print("load average at end: %.2f %.2f %.2f (%.0f s)" % (*os.getloadavg(), time.time() - t_start))
    med = statistics.median
    problems = []
    for label, _ in configs:
        for g in runs[label]:
            if g["n"] != n or g["distinct"] != n:
                problems.append("linger.ms %s: %d results, %d distinct, want %d" % (label, g["n"], g["distinct"], n))
            if g["lat_n"] < g["feed_n"]:
                problems.append("linger.ms %s: %d of %d fed records have results" % (label, g["lat_n"], g["feed_n"]))
            if g["feed_s"] > 1.1 * feed_s:
                problems.append("linger.ms %s: the feed took %.1f s, not %.0f (the feeder fell behind)" %
                                (label, g["feed_s"], feed_s))
    base_rps = med(g["rps"] for g in runs[str(DEFAULT_LINGER)])
    print("feed rate %.0f records/s = %.2f of linger.ms %d's median drain rate (%.0f records/s)" %
          (rate, rate / base_rps, DEFAULT_LINGER, base_rps))
    print("checks: " + ("; ".join(problems) if problems else
                        "every drain %d results, one per input; every fed record has its result; "
                        "every feed kept its rate" % n))
    print()
    print("| linger.ms | CPU us/record | vs %d | records/s | vs %d | p50 | p99 | max | p99 vs %d "
          "| fraudd's own p99 (histogram) |" % ((DEFAULT_LINGER,) * 3))
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, _ in configs:
        rs, base = runs[label], label == str(DEFAULT_LINGER)
        print("| %s | %.2f | %s | %.0f | %s | %.1f ms | %.1f ms | %.0f ms | %s | %.1f ms |" % (
            "**%s**" % label if base else label, med(g["cpu_us"] for g in rs),
            "1" if base else ratio_cell(ratios[label]["cpu_us"]),
            med(g["rps"] for g in rs),
            "1" if base else ratio_cell(ratios[label]["rps"]),
            med(g["p50"] for g in rs), med(g["p99"] for g in rs), med(g["max"] for g in rs),
            "1" if base else ratio_cell(ratios[label]["p99"]),
            med(g["own_p99"] for g in rs)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fraudd")
    ap.add_argument("--records", type=int, default=300000)
    ap.add_argument("--rate", type=float, help="records/s of the paced feeds (default 5000; --linger-curve: half "
                    "the records/s of a calibration drain)")
    ap.add_argument("--metrics-only", action="store_true",
                    help="only compare scoring with metrics scraped every second against scoring without")
    ap.add_argument("--eos-curve", action="store_true",
                    help="at_least_once against exactly_once at transaction intervals 10, 100, 1000 ms")
    ap.add_argument("--rollout", action="store_true",
                    help="the cost of a shadow and a canary challenger (docs/BENCHMARKS.md, (j))")
    ap.add_argument("--linger-curve", action="store_true",
                    help="throughput and latency at half the sustainable rate for linger.ms %s (docs/BENCHMARKS.md, (k))"
                    % ", ".join(map(str, LINGERS)))
    ap.add_argument("--lingers", default=",".join(map(str, LINGERS)),
                    help="--linger-curve: the linger.ms values, comma-separated (must include %d)" % DEFAULT_LINGER)
    ap.add_argument("--rounds", type=int, default=3,
                    help="--eos-curve, --rollout, --linger-curve: rounds (each runs every configuration)")
    ap.add_argument("--feed-seconds", type=float, default=8, help="--eos-curve, --linger-curve: length of the paced feed")
    args = ap.parse_args()
    if not tp.BOOT:
        sys.exit("set FR_KAFKA_BOOTSTRAP (tests/integration/run_all.sh or scripts/kafka.sh start)")
    tp.FRAUDD = os.path.abspath(args.fraudd)
    _, lines = tp.generate(20000, 5)
    rows = {}
    if args.linger_curve:
        linger_curve(args, lines)
        return
    if args.rate is None:
        args.rate = 5000
    if args.eos_curve:
        eos_curve(args, lines)
        return
    if args.rollout:
        rollout_curve(args, lines)
        return
    if args.metrics_only:
        for rep in range(3):
            for mode in ("scoring", "scoring+metrics"):
                r = run_one(lines, mode, 2, args.records, args.rate)
                rows.setdefault(mode, []).append(r)
                print("%-16s run %d  %9.0f records/s  CPU %.2f us/record  p99 %4.0f ms  scrapes %s" %
                      (mode, rep + 1, r["rps"], r["cpu_us"], r["p99"], r.get("scrapes", "-")), flush=True)
        print()
        print("| pipeline (2 workers) | records/s, 3 runs | median | vs metrics off | fraudd CPU/record (median) |")
        print("|---|---|---|---|---|")
        base = statistics.median(r["rps"] for r in rows["scoring"])
        for mode in ("scoring", "scoring+metrics"):
            rps = [r["rps"] for r in rows[mode]]
            print("| %s | %s | %.0f | %.3f | %.2f us |" % (
                "metrics off (no HTTP)" if mode == "scoring" else "metrics on, scraped every 1 s",
                ", ".join("%.0f" % x for x in rps), statistics.median(rps), statistics.median(rps) / base,
                statistics.median(r["cpu_us"] for r in rows[mode])))
        return
    for workers in (1, 2):
        for mode in ("passthrough", "scoring"):
            r = run_one(lines, mode, workers, args.records, args.rate)
            rows[(mode, workers)] = r
            print("%-11s workers=%d  %9.0f records/s  latency p50 %4.0f ms p99 %4.0f ms max %4.0f ms  peak RSS %.0f MB"
                  "  CPU %.2f us/record (%d results)" % (mode, workers, r["rps"], r["p50"], r["p99"], r["max"],
                                                         r["rss_mb"], r["cpu_us"], r["n"]), flush=True)
    print()
    print("| workers | pipeline | records/s | vs pass-through | fraudd CPU/record | latency p50 | p99 | max | peak RSS |")
    print("|---|---|---|---|---|---|---|---|---|")
    for workers in (1, 2):
        base = rows[("passthrough", workers)]["rps"]
        for mode in ("passthrough", "scoring"):
            r = rows[(mode, workers)]
            print("| %d | %s | %.0f | %.2f | %.2f us | %.0f ms | %.0f ms | %.0f ms | %.0f MB |" %
                  (workers, mode, r["rps"], r["rps"] / base, r["cpu_us"], r["p50"], r["p99"], r["max"], r["rss_mb"]))


if __name__ == "__main__":
    main()
    tp.remove_work()  # generated records and logs; kept when main() raised
