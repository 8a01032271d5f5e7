"""fraudd side by side with its peers through one real Kafka broker (run by bench/peers/run.sh).

usage: FR_KAFKA_BOOTSTRAP=host:port side_by_side.py --fraudd FRAUDD --streams-cp CLASSPATH
           [--records N] [--rounds R] [--rate R] [--seconds S] [--systems a,b,...]
           [--java-opts "..."] [--quick]

Systems (--systems, default all four, in this order):
  fraudd        `fraudd run`, 1 worker (the default pipeline otherwise)
  passthrough   the same binary with pipeline.passthrough: true: consumer, rings, worker, producer
                and commits without decode/score/encode, the floor of fraudd's Kafka plumbing
  python        bench/peers/python_peer.py (confluent-kafka, orjson, numpy, ONNX Runtime)
  streams       bench/peers/streams (Kafka Streams, ONNX Runtime Java, Jackson) in one JVM
One broker, one input topic (4 partitions) preloaded once with N generated records (`fraudd
generate`, 20,000 distinct records cycled, keyed by card, as bench/bench_pipeline.py loads
them); every system reads all of it from the start under its own consumer group and writes to
its own fresh output topic. Rounds interleave the systems (ABCD ABCD ...), and each measure is
taken for every system in every round:
  CPU/record    user+system CPU of the system's process (every thread; exited children
                included) from its start until its output holds N results, / N: start-up, the
                group join and (for the JVM) class loading and JIT included
  2nd half CPU  the same from the first check (every 0.25 s) that found half the results to the
                end, / the records produced in between: the cost once running (JIT warm)
  records/s     N / (last - first output CreateTime), both stamped by the system's producer
  first result  from the process's start to the first result's CreateTime
  peak RSS      VmHWM after the drain
  latency       a fresh topic, while the system runs (after it reports its partitions
                assigned): a warm-up feed of --warmup seconds at --rate records/s, a wait until
                all of it has results, then --seconds at --rate records/s, measured: output
                CreateTime - input CreateTime; p50 / p99
After each drain at least the first --verify results are read back and checked against `fraudd score`'s
result for the same source record (bench/peers/check.py's comparison; the key; the headers), so
the table compares systems that wrote the same thing.
Prints one line per system and round, then a Markdown table of the medians over the rounds and
each system's CPU/record as a multiple of fraudd's in the same run (docs/BENCHMARKS.md (g)).
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import bench_pipeline as bp  # noqa: E402  (the measuring helpers; it imports the broker helpers)
import check  # noqa: E402  (compares one result with fraudd's)
from confluent_kafka import Consumer  # noqa: E402

tp = bp.tp
SYSTEMS = ("fraudd", "passthrough", "python", "streams")
LABELS = {"fraudd": "fraudd, 1 worker", "passthrough": "fraudd pass-through, 1 worker",
          "python": "Python peer (confluent-kafka, orjson, numpy, ORT 1 thread)",
          "streams": "Kafka Streams peer (ORT Java 1 thread, Jackson), one JVM"}


class Proc(tp.Daemon):
    """A system under test: its process, its log (stdout and stderr) in tp.WORK, wait_assigned
    (every system logs a JSON event "assigned" once it owns its partitions) and stop (SIGTERM)."""

    def __init__(self, cmd, name):
        self.log_path = os.path.join(tp.WORK, name + ".log")
        self.log = open(self.log_path, "ab")
        self.started = time.time()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log)


def stopping(d, fn):
    """fn(), and the system's process ended if fn fails (a benchmark error leaves nothing running)."""
    try:
        return fn()
    except BaseException:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()
        raise


def start(system, name, topics, args):
    """Starts `system` reading topics[0] from its start in a group of its own; results to
    topics[1], dead letters to topics[2]."""
    group = "g-" + name + "-" + uuid.uuid4().hex[:8]
    if system in ("fraudd", "passthrough"):
        extra = "  passthrough: true\n" if system == "passthrough" else ""
        cfg = tp.write_config(name, group, topics, extra_pipeline=extra, workers=1)
        return Proc([tp.FRAUDD, "run", "--config", cfg], name)
    common = ["--bootstrap", tp.BOOT, "--group", group, "--input", topics[0], "--output", topics[1],
              "--dead-letter", topics[2], "--model", tp.DEFAULT_MODEL]
    if system == "python":
        return Proc([sys.executable, os.path.join(HERE, "python_peer.py"), "run", *common], name)
    return Proc(["java", *shlex.split(args.java_opts), "-cp", args.streams_cp, "fraudd.peers.StreamsPeer", "run",
                 *common], name)


def out_topics(name):
    t = name + "-" + uuid.uuid4().hex[:8]
    topics = (t + "-out", t + "-dlq")
    tp.create_topics(topics)
    return topics


class Source:
    """The preloaded input: its topic, the records, where each landed and fraudd's result for
    each distinct record (`fraudd score`), to verify what the systems write."""

    def __init__(self, n):
        path, self.lines = tp.generate(20000, 5)
        expected = os.path.join(tp.WORK, "expected.jsonl")
        subprocess.run([tp.FRAUDD, "score", "--input", path, "--output", expected, "--quiet"], check=True)
        with open(expected, "rb") as f:
            self.expected = f.read().splitlines()
        self.topic = tp.topics_for("peers-src")[0]
        ld = tp.Loader(self.topic)
        ld.produce(self.items(n))
        self.index = {where: i for i, where in ld.where.items()}  # (partition, offset) -> record index
        # a first consumer group makes the broker create its offsets topic (about a second):
        # done here, so it is not charged to the first system's time to first result
        c = Consumer({"bootstrap.servers": tp.BOOT, "group.id": "warm-" + uuid.uuid4().hex,
                      "auto.offset.reset": "earliest", "enable.auto.commit": False})
        c.subscribe([self.topic])
        deadline = time.time() + 60
        while time.time() < deadline and not any(m.error() is None for m in c.consume(1, 1.0)):
            pass
        c.commit(asynchronous=False)
        c.close()

    def items(self, n):
        return [(i, self.lines[i % len(self.lines)], tp.card_key(self.lines[i % len(self.lines)])) for i in range(n)]

    def verify(self, topic, sample, copies=False):
        """Reads at least the first `sample` results of `topic` and checks each against fraudd's result for
        its source record (copies: against the record itself, for pass-through): value
        (check.compare), key, and the headers. Returns (checked, bad)."""
        bad = 0
        got = tp.read_topic(topic, sample, 120)
        for value, key, h in got:
            try:
                i = self.index[(int(h["fraudd.source.partition"]), int(h["fraudd.source.offset"]))]
                line = self.lines[i % len(self.lines)]
                exp = json.loads(self.expected[i % len(self.lines)])
                wrong = ([] if value == line else ["not the input"]) if copies else \
                    check.compare(exp, json.loads(value), 1e-4, 1e-6)
                if key != tp.card_key(line):
                    wrong.append("key %r" % key)
                if h.get("fraudd.source.topic") != self.topic or h.get("fraudd.model.version") != exp["model_version"]:
                    wrong.append("headers %r" % h)
            except (KeyError, ValueError) as e:
                wrong = ["unreadable: %r" % e]
            if wrong:
                bad += 1
                if bad <= 3:
                    print("  wrong result in %s: %s" % (topic, "; ".join(wrong)), flush=True)
        return len(got), bad


def drain(system, rnd, src, n, args):
    """The throughput run: `system` drains the preloaded topic `src.topic`."""
    name = "drain-%s-%d" % (system, rnd)
    topics = (src.topic,) + out_topics(name)
    d = start(system, name, topics, args)
    pid = d.proc.pid
    half = {}

    def tick(total):  # the CPU time when the output first holds half the records
        if total >= n // 2 and not half:
            half.update(cpu=bp.cpu_seconds(pid, True), count=total)

    def measure():
        # a check every 0.25 s: fraudd drains 200,000 records in about 1.3 s, so checks a
        # second apart could not find its half-way point
        got = bp.wait_for_end_offsets(topics[1], n, args.timeout, tick, alive=lambda: d.proc.poll() is None,
                                      interval=0.25)
        if d.proc.poll() is not None:
            sys.exit("%s exited early (status %s); its log: %s" % (system, d.proc.returncode, d.log_path))
        cpu = bp.cpu_seconds(pid, True)
        res = {"cpu_us": cpu * 1e6 / n, "rss_mb": bp.vm_hwm_kb(pid) / 1024.0}
        # nan when the drain took under two checks (0.25 s apart): too short to split
        res["steady_us"] = ((cpu - half["cpu"]) * 1e6 / (got - half["count"]) if half and got > half["count"]
                            else float("nan"))
        res["rc"] = d.stop()
        return res

    res = stopping(d, measure)
    out = bp.read_timestamps(topics[1], n, 600)
    ts = sorted(t for t, _, _ in out)
    res["n"], res["distinct"] = len(out), len({(p, o) for _, p, o in out})
    res["rps"] = len(out) / ((ts[-1] - ts[0]) / 1000.0) if len(ts) > 1 and ts[-1] > ts[0] else float("nan")
    res["first_s"] = ts[0] / 1000.0 - d.started if ts else float("nan")
    res["checked"], res["wrong"] = src.verify(topics[1], args.verify, system == "passthrough")
    return res


def latency(system, rnd, src, args):
    """The latency run: a fresh topic fed at args.rate while `system` runs."""
    name = "lat-%s-%d" % (system, rnd)
    topics = tp.topics_for(name)
    d = start(system, name, topics, args)
    ld = tp.Loader(topics[0])
    items = src.items(int(args.rate * (args.warmup + args.seconds)))
    warm = int(args.rate * args.warmup)

    def feed():
        if not d.wait_assigned(120):
            sys.exit("%s did not report its partitions assigned; its log: %s" % (system, d.log_path))
        # warm-up at the same rate, then wait until every warm-up record has its result, so the
        # measured feed starts with no backlog however slowly the system started (a JVM's JIT)
        ld.produce(items[:warm], args.rate)
        bp.wait_for_end_offsets(topics[1], warm, 120, alive=lambda: d.proc.poll() is None)
        ld.produce(items[warm:], args.rate)
        out = bp.read_timestamps(topics[1], len(items), 120)
        d.stop()
        return out

    out = stopping(d, feed)
    measured = {ld.where[i] for i in range(warm, len(items))}
    ins = {k: v for k, v in bp.input_timestamps(topics[0], len(items)).items() if k in measured}
    return bp.latency_stats(out, ins, 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fraudd", required=True)
    ap.add_argument("--streams-cp", help="class path of the Streams peer (bench/peers/streams/build.sh prints it)")
    ap.add_argument("--records", type=int, default=200000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--rate", type=float, default=5000, help="records/s of the latency feed")
    ap.add_argument("--warmup", type=float, default=4, help="seconds of latency feed before the measured one")
    ap.add_argument("--seconds", type=float, default=8, help="seconds of latency feed measured after the warm-up")
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--java-opts", default="-Xmx512m", help="JVM options of the Streams peer")
    ap.add_argument("--timeout", type=float, default=600, help="longest drain (s)")
    ap.add_argument("--verify", type=int, default=2000,
                    help="results of each drain checked against fraudd's (value, key, headers)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 20,000 records, 1 round, 2 + 4 s of latency feed")
    args = ap.parse_args()
    if args.quick:
        args.records, args.rounds, args.warmup, args.seconds = 20000, 1, 2, 4
    if not tp.BOOT:
        sys.exit("set FR_KAFKA_BOOTSTRAP (bench/peers/run.sh starts a broker and sets it)")
    systems = args.systems.split(",")
    bad = [s for s in systems if s not in SYSTEMS]
    if bad:
        sys.exit("unknown systems %s (known: %s)" % (bad, ", ".join(SYSTEMS)))
    if "streams" in systems and not args.streams_cp:
        sys.exit("--streams-cp is needed for the streams peer")
    tp.FRAUDD = os.path.abspath(args.fraudd)
    t0 = time.time()
    print("load average (1, 5, 15 min) at the start: %.2f %.2f %.2f" % os.getloadavg(), flush=True)
    src = Source(args.records)
    print("loaded %d records into %s (4 partitions) in %.0f s" % (args.records, src.topic, time.time() - t0),
          flush=True)
    rows = {s: [] for s in systems}
    for rnd in range(1, args.rounds + 1):
        for s in systems:
            r = drain(s, rnd, src, args.records, args)
            r.update(latency(s, rnd, src, args))
            rows[s].append(r)
            print("round %d %-11s CPU %6.2f us/record (2nd half %6.2f)  %7.0f records/s  first result %5.1f s  "
                  "peak RSS %4.0f MB  p50 %3.0f ms p99 %4.0f ms  (%d results, %d distinct, %d of %d checked agree, exit %s)" %
                  (rnd, s, r["cpu_us"], r["steady_us"], r["rps"], r["first_s"], r["rss_mb"], r["p50"], r["p99"],
                   r["n"], r["distinct"], r["checked"] - r["wrong"], r["checked"], r["rc"]), flush=True)
    med = {s: {k: statistics.median(r[k] for r in rows[s]) for k in rows[s][0]} for s in systems}
    base = med.get("fraudd")
    print("load average (1, 5, 15 min) at the end: %.2f %.2f %.2f" % os.getloadavg())
    print("\n%d records, %d round(s), latency at %.0f records/s (%.0f s measured after %.0f s); medians over the "
          "rounds; %.0f s in all\n" % (args.records, args.rounds, args.rate, args.seconds, args.warmup, time.time() - t0))
    print("| system | CPU/record | vs fraudd | CPU/record, 2nd half | vs fraudd | records/s | first result | "
          "peak RSS | p50 | p99 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    def us(v):
        return "-" if v != v else "%.2f us" % v  # nan: not measured (a drain under two checks)

    def ratio(a, b):
        return "-" if not b or a != a or b != b else "%.1fx" % (a / b)

    for s in systems:
        m = med[s]
        print("| %s | %s | %s | %s | %s | %.0f | %.1f s | %.0f MB | %.0f ms | %.0f ms |" %
              (LABELS[s], us(m["cpu_us"]), ratio(m["cpu_us"], base and base["cpu_us"]), us(m["steady_us"]),
               ratio(m["steady_us"], base and base["steady_us"]), m["rps"], m["first_s"], m["rss_mb"], m["p50"],
               m["p99"]))
    short = sorted({s for s in systems for r in rows[s] if r["distinct"] < args.records})
    wrong = sorted({s for s in systems for r in rows[s] if r["wrong"] or not r["checked"]})
    if short:
        print("\nWARNING: fewer results than records for %s (see the lines above)" % short)
    if wrong:
        print("\nWARNING: results that disagree with fraudd's, or none checked, for %s" % wrong)
    if short or wrong:
        print("logs and results in %s" % tp.WORK)
        return 1
    tp.remove_work()
    return 0


if __name__ == "__main__":
    sys.exit(main())
