"""End-to-end benchmark of `fraudd run` through a real Kafka broker.

usage: FR_KAFKA_BOOTSTRAP=host:port bench_pipeline.py FRAUDD [--records N] [--rate R] [--repeat K]

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
    c = Consumer({"bootstrap.servers": tp.BOOT, "group.id": "bench-" + uuid.uuid4().hex,
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    md = c.list_topics(topic, timeout=10)
    c.assign([TopicPartition(topic, p, 0) for p in md.topics[topic].partitions])
    out = []
    deadline = time.time() + timeout
    while len(out) < want and time.time() < deadline:
        for m in c.consume(10000, 0.5):
            if m.error():
                continue
            h = dict(m.headers() or [])
            out.append((m.timestamp()[1], int(h["fraudd.source.partition"]), int(h["fraudd.source.offset"])))
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fraudd")
    ap.add_argument("--records", type=int, default=300000)
    ap.add_argument("--rate", type=float, default=5000)
    ap.add_argument("--metrics-only", action="store_true",
                    help="only compare scoring with metrics scraped every second against scoring without")
    args = ap.parse_args()
    if not tp.BOOT:
        sys.exit("set FR_KAFKA_BOOTSTRAP (tests/integration/run_all.sh or scripts/kafka.sh start)")
    tp.FRAUDD = os.path.abspath(args.fraudd)
    _, lines = tp.generate(20000, 5)
    rows = {}
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
