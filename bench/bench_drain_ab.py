"""fraudd's own CPU per record while it drains a preloaded topic: two binaries, alternated.

usage: FR_KAFKA_BOOTSTRAP=host:port bench_drain_ab.py FRAUDD_A FRAUDD_B [--records N] [--rounds R]
           [--workers W] [--passthrough] [--one-key] [--perf DIR]
   or: scripts/kafka.sh with 3.9.1 -- .venv/bin/python bench/bench_drain_ab.py A B ...

N generated records (about 650 bytes, keyed by card, 4 partitions) are loaded once. Then, R
rounds, each running both binaries one after the other (A then B in odd rounds, B then A in even
ones, so neither always runs on the warmer broker): a fresh group drains the same input topic
into fresh output and dead-letter topics while the script only polls the output's end offsets.
Per run: CPU us/record = fraudd's user+system time (start-up included) / N, and records/s =
N / (last - first output CreateTime). Prints each run, then the medians and the median of the
per-round ratios B/A. What bench_pipeline.py measures for one binary, made for comparing two
builds on a shared, noisy machine (docs/BENCHMARKS.md, section (c)).

--one-key: every record under the same key, so the whole backlog is on one partition and the
other three are idle (a hot key, or one partition that fell behind).

--perf DIR: also `perf record -g` each run of the last round into DIR/{A,B}.data, from the
moment the group assigns partitions (Debian's linux-perf, installed if missing; the recording costs CPU, so
those runs' numbers are left out of the medians).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import test_pipeline as tp  # noqa: E402  (shares the broker helpers)
from bench_pipeline import cpu_seconds, read_timestamps, vm_hwm_kb  # noqa: E402
from confluent_kafka import Consumer, KafkaException, TopicPartition  # noqa: E402


def output_timestamps(topic, want, timeout):
    """CreateTime of every message of topic (up to want)."""
    return [t for t, _, _ in read_timestamps(topic, want, timeout)]


PERF_ARGS = ["-g"]


class Run:
    """One fraudd draining the input into fresh output topics (its own group)."""

    def __init__(self, binary, label, inp, workers, extra, extra_kafka="", env=None):
        tp.FRAUDD = binary
        name = "ab-%s-%d" % (label, int(time.time() * 1000))
        self.out = name + "-out"
        tp.create_topics([self.out, name + "-dlq"])
        cfg = tp.write_config(name, "g-" + name, (inp, self.out, name + "-dlq"), extra_pipeline=extra,
                              workers=workers, extra_kafka=extra_kafka)
        saved = dict(os.environ)
        os.environ.update(env or {})
        try:
            self.d = tp.Daemon(cfg, name)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        self.watch = Consumer({"bootstrap.servers": tp.BOOT, "group.id": "ab-watch"})
        self.parts = list(self.watch.list_topics(self.out, timeout=10).topics[self.out].partitions)
        self.perf = None
        self.res = None

    def start_perf(self, path):
        self.d.wait_assigned()  # every thread is up: perf -p follows those that exist when it attaches
        self.perf = subprocess.Popen(["perf", "record", *PERF_ARGS, "-q", "-o", path, "-p", str(self.d.proc.pid)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def done(self, n):
        """True once the output holds n messages; then the CPU and RSS are taken (once)."""
        if self.res is None:
            if self.d.proc.poll() is not None:  # exited (a config error, a crash): no output will come
                with open(self.d.log_path, errors="replace") as f:
                    last = (f.read().strip().splitlines() or [""])[-1]
                raise RuntimeError("fraudd exited with %s before its output held %d messages (log %s): %s" %
                                   (self.d.proc.returncode, n, self.d.log_path, last))
            try:
                got = sum(self.watch.get_watermark_offsets(TopicPartition(self.out, p), timeout=10)[1]
                          for p in self.parts)
            except KafkaException:  # a new topic's leaders may still be moving
                return False
            if got < n:
                return False
            self.res = {"cpu_us": cpu_seconds(self.d.proc.pid) * 1e6 / n, "rss": vm_hwm_kb(self.d.proc.pid) / 1024.0}
        return True

    def stop(self, n):
        if self.perf:
            self.perf.send_signal(2)
            self.perf.wait(60)
        self.d.stop()
        self.watch.close()
        if self.res is None:
            raise RuntimeError("%s: the output never reached %d messages" % (self.out, n))
        ts = sorted(output_timestamps(self.out, n, 600))
        span = (ts[-1] - ts[0]) / 1000.0 if len(ts) > 1 else float("nan")
        self.res.update(rps=len(ts) / span if span > 0 else float("nan"), n=len(ts))
        return self.res


def wait_all(runs, n, timeout=600):
    deadline = time.time() + timeout
    while time.time() < deadline and not all([r.done(n) for r in runs]):
        time.sleep(0.25)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--records", type=int, default=200000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--passthrough", action="store_true")
    ap.add_argument("--one-key", action="store_true",
                    help="every record under one key, so the backlog is on one of the 4 partitions (a hot key)")
    ap.add_argument("--extra-b", default="", help="extra lines under pipeline: for B only")
    ap.add_argument("--kafka-b", default="", help="extra lines under kafka: for B only (e.g. a producer: map)")
    ap.add_argument("--env-b", action="append", default=[], metavar="VAR=VALUE", help="B's environment")
    ap.add_argument("--concurrent", action="store_true",
                    help="run A and B at the same time in each round (both see the same load)")
    ap.add_argument("--perf", metavar="DIR")
    ap.add_argument("--perf-args", default="-g", help="perf record's options (e.g. '--call-graph dwarf -F 999')")
    args = ap.parse_args()
    PERF_ARGS[:] = args.perf_args.split()
    if not tp.BOOT:
        sys.exit("set FR_KAFKA_BOOTSTRAP (scripts/kafka.sh with VERSION -- ...)")
    bins = {"A": os.path.abspath(args.a), "B": os.path.abspath(args.b)}
    tp.FRAUDD = bins["A"]
    _, lines = tp.generate(20000, 5)
    inp = tp.topics_for("ab-input")[0]
    tp.Loader(inp).produce([(i, lines[i % len(lines)], "hot" if args.one_key else tp.card_key(lines[i % len(lines)]))
                            for i in range(args.records)])
    extra = "  passthrough: true\n" if args.passthrough else ""
    if args.perf:
        os.makedirs(args.perf, exist_ok=True)
        if not shutil.which("perf"):  # Debian's linux-perf, installed like every other package
            subprocess.run(["bash", "-c", '. "$0/scripts/lib.sh" && apt_install_missing linux-perf', tp.REPO],
                           check=True)
    runs = {"A": [], "B": []}
    ratios = []
    for r in range(args.rounds):
        order = ("A", "B") if r % 2 == 0 else ("B", "A")
        last = args.perf and r == args.rounds - 1
        got = {}
        batches = [order] if args.concurrent else [(w,) for w in order]
        for batch in batches:
            live = {}
            try:
                for who in batch:
                    live[who] = Run(bins[who], who, inp, args.workers,
                                    extra + (args.extra_b.replace("\\n", "\n") if who == "B" else ""),
                                    args.kafka_b.replace("\\n", "\n") if who == "B" else "",
                                    dict(e.split("=", 1) for e in args.env_b) if who == "B" else None)
                if last:
                    for who in batch:
                        live[who].start_perf(os.path.join(args.perf, who + ".data"))
                wait_all(list(live.values()), args.records)
            finally:
                for who, run in live.items():
                    got[who] = run.stop(args.records)
            for who in batch:
                g = got[who]
                print("round %d %s  CPU %.2f us/record  %8.0f records/s  %d results  peak RSS %.0f MB%s" %
                      (r + 1, who, g["cpu_us"], g["rps"], g["n"], g["rss"], "  (perf)" if last else ""), flush=True)
        if not last:
            for who in "AB":
                runs[who].append(got[who])
            ratios.append(got["B"]["cpu_us"] / got["A"]["cpu_us"])
    if not ratios:
        return
    print()
    print("| binary | CPU us/record, per round | median | records/s (median) |")
    print("|---|---|---:|---:|")
    for who in "AB":
        c = [x["cpu_us"] for x in runs[who]]
        print("| %s | %s | %.2f | %.0f |" % (who, ", ".join("%.2f" % x for x in c), statistics.median(c),
                                             statistics.median(x["rps"] for x in runs[who])))
    print("| B/A | %s | **%.3f** | |" % (", ".join("%.3f" % x for x in ratios), statistics.median(ratios)))


if __name__ == "__main__":
    main()
    tp.remove_work()  # generated records and logs; kept when main() raised
