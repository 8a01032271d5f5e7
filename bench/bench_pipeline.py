"""End-to-end benchmark of `fraudd run` through a real Kafka broker.

usage: FR_KAFKA_BOOTSTRAP=host:port bench_pipeline.py FRAUDD [--records N] [--rate R] [--metrics-only]
       FR_KAFKA_BOOTSTRAP=host:port bench_pipeline.py FRAUDD --eos-curve [--records N] [--rate R]
           [--rounds K] [--feed-seconds S]
       FR_KAFKA_BOOTSTRAP=host:port bench_pipeline.py FRAUDD --rollout [--records N] [--rounds K]

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
from confluent_kafka import Consumer, KafkaException, TopicPartition  # noqa: E402


def read_timestamps(topic, want, timeout):
    """(output CreateTime, source partition, source offset) of up to `want` results, read with
    isolation.level=read_committed (librdkafka's default, spelled out: only committed results)."""
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
            h = dict(m.headers() or [])  # none with kafka.result_headers false: source -1, -1
            out.append((m.timestamp()[1], int(h.get("fraudd.source.partition", -1)),
                        int(h.get("fraudd.source.offset", -1))))
    c.close()
    return out


def wait_for_end_offsets(topic, want, timeout, tick=None, alive=None):
    """Waits (cheaply: one watermark query per partition a second) until the topic holds
    `want` messages, so no reader competes with fraudd and the broker for the 2 cores.
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
        time.sleep(1.0)
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


def vm_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


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
    ld.produce([(i, lines[i % len(lines)], tp.card_key(lines[i % len(lines)])) for i in range(n)])
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
    feeder = threading.Thread(target=ld.produce,
                              args=([(i, lines[i % len(lines)], tp.card_key(lines[i % len(lines)])) for i in range(m)],
                                    rate))
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


def eos_run(label, extra_kafka, inp, lines, n, rate, feed_s):
    eos = "exactly_once" in extra_kafka
    slug = "eos-" + "".join(ch for ch in label if ch.isalnum())
    # drain: the shared preloaded input, a fresh group and fresh output topics
    res = drain(slug, inp, n, extra_kafka)
    # latency: a fresh topic fed at `rate` while a live read_committed reader watches the output
    topics = tp.topics_for("lat-" + slug)
    m = int(rate * feed_s)
    cfg = tp.write_config("lat-" + name, "g-" + topics[0], topics, workers=1, extra_kafka=extra_kafka)
    port = tp.free_port()
    d = tp.Daemon(cfg, "lat-" + name, ["--http-port", str(port)])
    d.wait_assigned()
    reader = LiveReader(topics[1])
    reader.start()
    reader.ready.wait(30)
    ld = tp.Loader(topics[0])
    tx0, ab0, _ = txn_counts(port) if eos else (0, 0, 0)
    t0 = time.time()
    ld.produce([(i, lines[i % len(lines)], tp.card_key(lines[i % len(lines)])) for i in range(m)], rate)
    res["feed_s"] = time.time() - t0
    wait_until(lambda: len(reader.out) >= m, 60, every=0.05)
    t1 = time.time()
    tx1, ab1, _ = txn_counts(port) if eos else (0, 0, 0)
    reader.stop.set()
    reader.join(30)
    d.stop()
    res["tx_per_s"] = (tx1 - tx0) / (t1 - t0) if eos else float("nan")
    res["aborted"] += ab1 - ab0
    res["live_n"] = len(reader.out)
    res["lat_n"] = m
    res.update(latency_stats(reader.out, input_timestamps(topics[0], m)))
    return res


def eos_curve(args, lines):
    rounds, n, rate = args.rounds, args.records, args.rate
    print("eos-curve: %s, %d rounds, drain %d records, feed %.0f records/s for %.0f s, 1 worker" %
          (time.strftime("%Y-%m-%d %H:%M:%S %Z"), rounds, n, rate, args.feed_seconds))
    print("load average at start: %.2f %.2f %.2f" % os.getloadavg(), flush=True)
    inp = tp.topics_for("eos-input")[0]
    tp.Loader(inp).produce([(i, lines[i % len(lines)], tp.card_key(lines[i % len(lines)])) for i in range(n)])
    runs = {label: [] for label, _ in EOS_CONFIGS}
    ratios = {label: {"cpu": [], "rps": []} for label, _ in EOS_CONFIGS}
    t_start = time.time()
    for r in range(rounds):
        k = r % len(EOS_CONFIGS)
        got = {}
        for label, extra in EOS_CONFIGS[k:] + EOS_CONFIGS[:k]:
            g = eos_run(label, extra, inp, lines, n, rate, args.feed_seconds)
            got[label] = g
            runs[label].append(g)
            print("round %d %-22s CPU %5.2f us/record  %7.0f records/s  %d results read_committed (%d distinct)"
                  "  | feed: %d/%d live, p50 %4.0f p99 %5.0f max %5.0f ms  tx/s %5.1f  records/tx (drain) %.0f"
                  "  aborted %d  load %.2f" %
                  (r + 1, label, g["cpu_us"], g["rps"], g["n"], g["distinct"], g["live_n"], g["lat_n"], g["p50"],
                   g["p99"], g["max"], g["tx_per_s"], g["rec_per_tx"], g["aborted"], os.getloadavg()[0]),
                  flush=True)
        base = got[EOS_CONFIGS[0][0]]
        for label, _ in EOS_CONFIGS:
            ratios[label]["cpu"].append(got[label]["cpu_us"] / base["cpu_us"])
            ratios[label]["rps"].append(got[label]["rps"] / base["rps"])
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
            "%.3f (%s)" % (med(ratios[label]["cpu"]), ", ".join("%.2f" % x for x in ratios[label]["cpu"])) if eos else "1",
            med(g["rps"] for g in rs),
            "%.3f (%s)" % (med(ratios[label]["rps"]), ", ".join("%.2f" % x for x in ratios[label]["rps"])) if eos else "1",
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
    inp = tp.topics_for("rollout-input")[0]
    tp.Loader(inp).produce([(i, lines[i % len(lines)], tp.card_key(lines[i % len(lines)])) for i in range(n)])
    runs = {label: [] for label, _ in configs}
    ratios = {label: {"cpu": [], "rps": []} for label, _ in configs}
    for r in range(rounds):
        k = r % len(configs)
        got = {}
        for label, extra in configs[k:] + configs[:k]:
            g = drain("rollout-" + "".join(ch for ch in label if ch.isalnum()), inp, n, extra_model=extra)
            got[label] = g
            runs[label].append(g)
            print("round %d %-16s CPU %5.2f us/record  %7.0f records/s  %d results (%d distinct)  load %.2f" %
                  (r + 1, label, g["cpu_us"], g["rps"], g["n"], g["distinct"], os.getloadavg()[0]), flush=True)
        for label, _ in configs:
            ratios[label]["cpu"].append(got[label]["cpu_us"] / got[configs[0][0]]["cpu_us"])
            ratios[label]["rps"].append(got[label]["rps"] / got[configs[0][0]]["rps"])
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
            "1" if base else "%.3f (%s)" % (med(ratios[label]["cpu"]), ", ".join("%.2f" % x for x in ratios[label]["cpu"])),
            med(g["rps"] for g in rs),
            "1" if base else "%.3f (%s)" % (med(ratios[label]["rps"]), ", ".join("%.2f" % x for x in ratios[label]["rps"]))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fraudd")
    ap.add_argument("--records", type=int, default=300000)
    ap.add_argument("--rate", type=float, default=5000)
    ap.add_argument("--metrics-only", action="store_true",
                    help="only compare scoring with metrics scraped every second against scoring without")
    ap.add_argument("--eos-curve", action="store_true",
                    help="at_least_once against exactly_once at transaction intervals 10, 100, 1000 ms")
    ap.add_argument("--rollout", action="store_true",
                    help="the cost of a shadow and a canary challenger (docs/BENCHMARKS.md, (j))")
    ap.add_argument("--rounds", type=int, default=3, help="--eos-curve, --rollout: rounds (each runs every configuration)")
    ap.add_argument("--feed-seconds", type=float, default=8, help="--eos-curve: length of the paced feed")
    args = ap.parse_args()
    if not tp.BOOT:
        sys.exit("set FR_KAFKA_BOOTSTRAP (tests/integration/run_all.sh or scripts/kafka.sh start)")
    tp.FRAUDD = os.path.abspath(args.fraudd)
    _, lines = tp.generate(20000, 5)
    rows = {}
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
