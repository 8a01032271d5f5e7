"""Fault scenarios of `kafka.delivery: exactly_once` against a real broker (docs/RELIABILITY.md,
"Exactly once"). Run by tests/faults/run_faults.sh when named (eos_sigkill, eos_rebalance,
eos_zombie), with the checker, feeder and closing steps of faults.py.

The checker reads the output and dead-letter topics with isolation.level=read_committed (as
docs/OUTPUT.md tells downstream readers to), from another client build (confluent-kafka's
bundled librdkafka). Each scenario checks, from what the checker saw:
  - lost 0: every input offset has a committed result (no dead letters: every record is valid);
  - duplicates 0: no input offset has two committed results;
  - every result is byte-identical to `fraudd score` of the same record;
  - after the last SIGTERM the group's committed offsets are the input's end.

  eos_sigkill    fraudd SIGKILLed FR_EOS_KILLS times (default 10) at random moments (seed
                 FR_FAULT_SEED) during one continuous feed, restarted each time with the same
                 transactional.id (which fences the dead one and aborts its open transaction)
  eos_rebalance  a second fraudd joins the group mid-stream, then leaves it (SIGTERM)
  eos_zombie     fraudd is SIGSTOPped past its session timeout and its transaction timeout; a
                 second member takes over the partitions; SIGCONT: the zombie is fenced (its
                 group generation is stale, its producer epoch bumped) and never commits
  eos_poison     one record in the feed is not JSON and larger than the dead-letter topic's
                 max.message.bytes, so the broker refuses its dead letter: its partition stops
                 at it (committed up to it, no result past it) while the other three flow to
                 their end, and fraudd stays ready; then the topic's limit is raised and the
                 record's dead letter and the rest of its partition come through. Its checks
                 (one dead letter, the poison's) replace "no dead letters" above
"""
import hashlib
import os
import random
import signal
import subprocess
import time

import faults as fl
import test_pipeline as tp
from test_pipeline import check

SESSION_S = fl.SESSION_S
TXN_TIMEOUT_MS = 10000  # the zombie is stopped longer than this, so its open transaction is aborted

EOS_KAFKA = '''  delivery: exactly_once
  transactional_id: "${FR_EOS_TID}"
  properties:
    socket.timeout.ms: "5000"
  producer:
    request.timeout.ms: "5000"
    transaction.timeout.ms: "%d"
''' % TXN_TIMEOUT_MS


class ReadCommittedChecker(fl.Checker):
    """faults.Checker, reading the output as a downstream reader of exactly-once results must."""

    READER = {"isolation.level": "read_committed"}


def expected_digests():
    """fraudd score's result for each of the feed's 20,000 distinct records, as the checker's
    digests (feed item i carries record i % 20,000)."""
    path, lines = tp.generate(20000, 29)
    out = os.path.join(tp.WORK, "eos-expected.jsonl")
    subprocess.run([tp.FRAUDD, "score", "--input", path, "--output", out, "--quiet"], check=True)
    with open(out, "rb") as f:
        exp = f.read().splitlines()
    check(len(exp) == len(lines), "fraudd score scored the %d records of the feed" % len(lines))
    return [hashlib.blake2b(v, digest_size=8).digest() for v in exp]


def daemon(cfg, name, tid, args=()):
    os.environ["FR_EOS_TID"] = tid
    return tp.Daemon(cfg, name, args)


def verdict(name, chk, ld, want, ends, final_committed, extra=None):
    """The checks every exactly-once scenario shares; returns the tally."""
    tl = fl.tally(chk, want)
    exp = expected_digests()
    pos_to_idx = {v: k for k, v in ld.where.items()}
    differ = sum(1 for pos, digs in tl.copies.items()
                 if pos in pos_to_idx and any(d != exp[pos_to_idx[pos] % len(exp)] for d in digs))
    fed = sum(e[1] - e[0] for e in ends.values())
    print("  records in %d, results out %d, dead letters %d, lost %d, duplicates %d, differing from "
          "`fraudd score` %d" % (fed, tl.n_out, tl.n_dlq, len(tl.lost), tl.n_dups, differ), flush=True)
    check(len(ld.where) == fed, name + ": the input holds every record fed (%d of %d)" % (fed, len(ld.where)))
    check(not tl.lost, name + ": lost 0: every input offset has a committed result (%d without)%s" %
          (len(tl.lost), (": first " + str(tl.lost[:5])) if tl.lost else ""))
    check(tl.n_dups == 0, name + ": duplicates 0: no input offset has two committed results (%d extra)%s" %
          (tl.n_dups, (": first " + str(sorted(tl.dups)[:5])) if tl.dups else ""))
    check(tl.n_dlq == 0, name + ": no dead letters for valid records (%d)" % tl.n_dlq)
    check(not tl.stray, name + ": every result names an input offset that exists (%d do not)" % len(tl.stray))
    check(differ == 0, name + ": every result is byte-identical to `fraudd score` of its record (%d differ)" % differ)
    lag = sum(ends[p][1] - final_committed.get(p, 0) for p in range(fl.PARTS))
    check(lag == 0, name + ": after the last SIGTERM the committed offsets are the input's end (lag %d)" % lag)
    res = {"scenario": name, "records_in": fed, "results_out": tl.n_out, "lost": len(tl.lost),
           "duplicates": tl.n_dups, "differ": differ, "rate": fl.RATE, **(extra or {})}
    fl.report(res)
    return tl


def setup(name):
    topics = tp.topics_for("eos-" + name)
    group = "g-" + topics[0]
    cfg = tp.write_config("eos-" + name, group, topics, session_ms=int(SESSION_S * 1000), extra_kafka=EOS_KAFKA)
    return topics, group, cfg


def run_eos_sigkill(name="eos_sigkill"):
    kills = int(os.environ.get("FR_EOS_KILLS", "10"))
    rng = random.Random(int(os.environ.get("FR_FAULT_SEED", "1")))
    owned = [rng.random() < 0.5 for _ in range(kills)]
    gaps = [rng.uniform(0.2, 3.0) if o else rng.uniform(0.5, 4.0) for o in owned]
    topics, group, cfg = setup(name)
    tid = "fraudd-" + topics[0]  # one instance, restarted: the same transactional.id each time
    n = int(fl.RATE * (fl.PRE + sum(gaps) + kills * (SESSION_S + 2) + fl.POST))
    items = fl.feed_items(n)
    chk = ReadCommittedChecker(topics, group)
    d = daemon(cfg, "%s-0" % name, tid)
    alive_kill = 0
    try:
        if not check(d.wait_assigned(), name + ": fraudd got partitions"):
            return
        ld = tp.Loader(topics[0])
        feeder = ld.produce_in_background(items, fl.RATE)
        time.sleep(fl.PRE)
        for k in range(kills):
            if owned[k]:
                owned[k] = d.wait_assigned(60)
            time.sleep(gaps[k])
            alive_kill += d.proc.poll() is None
            d.proc.kill()
            d.proc.wait()
            d.log.close()
            d = daemon(cfg, "%s-%d" % (name, k + 1), tid)
        feeder.join()
        ends, want = fl.input_ends(topics[0])
        rc, final_committed, _ = fl.finish(chk, d, name, lambda: want <= chk.sources(), 180, who="the last fraudd")
    finally:
        fl.cleanup(chk, d)
    print("  %d kills (%d of a running process, %d of one that owned partitions)" % (kills, alive_kill, sum(owned)))
    check(alive_kill == kills, name + ": each kill hit a running fraudd (%d of %d)" % (alive_kill, kills))
    verdict(name, chk, ld, want, ends, final_committed, {"kills": kills, "kills_of_owners": sum(owned)})


def run_eos_rebalance(name="eos_rebalance"):
    topics, group, cfg = setup(name)
    both_s = 10.0
    n = int(fl.RATE * (fl.PRE + both_s + 2 * SESSION_S + fl.POST))
    items = fl.feed_items(n)
    chk = ReadCommittedChecker(topics, group)
    d1 = daemon(cfg, name + "-a", "fraudd-" + topics[0] + "-a")
    d2 = None
    try:
        if not check(d1.wait_assigned(), name + ": the first fraudd got partitions"):
            return
        ld = tp.Loader(topics[0])
        feeder = ld.produce_in_background(items, fl.RATE)
        time.sleep(fl.PRE)
        d2 = daemon(cfg, name + "-b", "fraudd-" + topics[0] + "-b")
        check(d2.wait_assigned(60), name + ": the second fraudd joined and got partitions")
        time.sleep(both_s)
        rc2 = d2.stop()
        check(rc2 == 0, name + ": the second fraudd leaves with exit 0 on SIGTERM (rc %s)" % rc2)
        feeder.join()
        ends, want = fl.input_ends(topics[0])
        rc, final_committed, _ = fl.finish(chk, d1, name, lambda: want <= chk.sources(), 120,
                                           who="the first fraudd")
    finally:
        fl.cleanup(chk, d1, *([d2] if d2 else []))
    verdict(name, chk, ld, want, ends, final_committed)


def run_eos_zombie(name="eos_zombie"):
    topics, group, cfg = setup(name)
    stop_s = SESSION_S + TXN_TIMEOUT_MS / 1000.0 + 2  # past the session and the transaction timeout
    n = int(fl.RATE * (fl.PRE + stop_s + 10 + fl.POST))
    items = fl.feed_items(n)
    chk = ReadCommittedChecker(topics, group)
    z = daemon(cfg, name + "-zombie", "fraudd-" + topics[0] + "-a")
    d = None
    zombie_rc = None
    try:
        if not check(z.wait_assigned(), name + ": the first fraudd got partitions"):
            return
        ld = tp.Loader(topics[0])
        feeder = ld.produce_in_background(items, fl.RATE)
        time.sleep(fl.PRE)
        z.proc.send_signal(signal.SIGSTOP)
        t_stop = time.time()
        d = daemon(cfg, name + "-new", "fraudd-" + topics[0] + "-b")
        check(d.wait_assigned(60), name + ": a new member took over the partitions")
        time.sleep(max(0.0, stop_s - (time.time() - t_stop)))
        z.proc.send_signal(signal.SIGCONT)
        print("  zombie stopped for %.1f s, then continued" % (time.time() - t_stop), flush=True)
        time.sleep(10)  # what it does when it wakes up: fenced (exit 1), or it rejoins as a new member
        zombie_rc = z.proc.poll()
        if zombie_rc is None:
            zombie_rc = z.stop()
            print("  the zombie rejoined the group; SIGTERM: rc %s" % zombie_rc)
        else:
            z.log.close()
            print("  the zombie exited by itself: rc %s" % zombie_rc)
        feeder.join()
        ends, want = fl.input_ends(topics[0])
        rc, final_committed, _ = fl.finish(chk, d, name, lambda: want <= chk.sources(), 180, who="the new member")
    finally:
        fl.cleanup(chk, z, *([d] if d else []))
    fenced = [e for e in z.events() if e.get("event") in ("transaction_fatal", "kafka_fatal", "transaction_failed",
                                                          "transaction_aborted", "partitions_lost")]
    print("  the zombie's log after SIGCONT: %s" % sorted({e.get("event") for e in fenced}))
    check(bool(fenced), name + ": the zombie saw that it was fenced (an abort, lost partitions or a fatal error)")
    # fenced means exit 1 within the shutdown bound, or a clean exit 0 if it rejoined and was told to stop
    check(zombie_rc in (0, 1), name + ": the zombie ended within its bound (rc %s)" % zombie_rc)
    verdict(name, chk, ld, want, ends, final_committed, {"zombie_rc": zombie_rc})


def set_dlq_limit(topic, max_bytes):
    """The dead-letter topic's max.message.bytes, changed on the broker (the checker's own admin
    client, not fraudd)."""
    from confluent_kafka.admin import AdminClient, ConfigResource, ConfigEntry, AlterConfigOpType
    admin = AdminClient({"bootstrap.servers": tp.BOOT})
    res = ConfigResource("topic", topic, incremental_configs=[
        ConfigEntry("max.message.bytes", str(max_bytes), incremental_operation=AlterConfigOpType.SET)])
    for f in admin.incremental_alter_configs([res]).values():
        f.result(30)


def run_eos_poison(name="eos_poison"):
    topics, group, cfg = setup(name)
    http_port = tp.free_port()
    small = 16384
    set_dlq_limit(topics[2], small)
    n = int(fl.RATE * 8)
    items = fl.feed_items(n)
    poison = n // 3
    items[poison] = (poison, b"x" * (4 * small), items[poison][2])  # not JSON: a dead letter, over the limit
    chk = ReadCommittedChecker(topics, group)
    d = daemon(cfg, name, "fraudd-" + topics[0], ["--http-port", str(http_port)])
    try:
        if not check(d.wait_assigned(), name + ": fraudd got partitions"):
            return
        ld = tp.Loader(topics[0])
        ld.produce(items, fl.RATE)
        ends, want = fl.input_ends(topics[0])
        pp, po = ld.where[poison]
        print("  the poison record is %s [%d] offset %d (%d bytes); the dead-letter topic takes %d" %
              (topics[0], pp, po, len(items[poison][1]), small), flush=True)
        behind = {(pp, o) for o in range(po, ends[pp][1])}
        flowing = want - behind
        t0 = time.time()
        while time.time() < t0 + 60 and not flowing <= chk.sources():
            time.sleep(0.25)
        print("  every record before it and on the other partitions: %.1f s after the feed" %
              (time.time() - t0), flush=True)
        time.sleep(3)  # the poison record keeps failing alone meanwhile
        seen = chk.sources()
        check(flowing <= seen, name + ": the other partitions and its own up to it have their results (%d of %d)"
              % (len(flowing & seen), len(flowing)))
        check(not (behind & seen), name + ": nothing at or past the poison record has a committed result or dead "
              "letter while it is blocked (%d)" % len(behind & seen))
        cc = chk.group_reader()
        com = chk.committed(cc, 10)
        cc.close()
        others = {p: (com.get(p), ends[p][1]) for p in range(fl.PARTS) if p != pp}
        check(all(c == e for c, e in others.values()),
              name + ": the other partitions are committed to their end ({partition: (committed, end)} %s)" % others)
        check(com.get(pp) == po, name + ": its partition is committed up to the poison record, not past it "
              "(%s, the record at %d)" % (com.get(pp), po))
        check(d.proc.poll() is None, name + ": fraudd is still running (exit %s)" % d.proc.poll())
        m = tp.scrape(http_port)
        check(m.get("fraudd_ready") == 1.0, name + ": fraudd stays ready (fraudd_ready %s)" % m.get("fraudd_ready"))
        key = 'fraudd_blocked_record_offset{partition="%d"}' % pp
        check(m.get(key) == float(po), name + ": fraudd names the blocked record (%s %s)" % (key, m.get(key)))
        set_dlq_limit(topics[2], 4194304)
        t_fix = time.time()
        rc, final_committed, waited = fl.finish(chk, d, name, lambda: want <= chk.sources(), 60)
        print("  after the limit was raised: every record accounted for in %.1f s" % waited, flush=True)
    finally:
        fl.cleanup(chk, d)
    tl = fl.tally(chk, want)
    exp = expected_digests()
    pos_to_idx = {v: k for k, v in ld.where.items()}
    differ = sum(1 for pos, digs in tl.copies.items()
                 if pos in pos_to_idx and pos != (pp, po) and any(d != exp[pos_to_idx[pos] % len(exp)] for d in digs))
    dlq = [a for a in chk.arrivals if a[1] == chk.dlq]
    print("  records in %d, results out %d, dead letters %d, lost %d, duplicates %d, differing from "
          "`fraudd score` %d" % (len(want), tl.n_out, tl.n_dlq, len(tl.lost), tl.n_dups, differ), flush=True)
    check(not tl.lost, name + ": lost 0 (%d without a result or dead letter)%s" %
          (len(tl.lost), (": first " + str(tl.lost[:5])) if tl.lost else ""))
    check(tl.n_dups == 0, name + ": duplicates 0 (%d extra)" % tl.n_dups)
    check(len(dlq) == 1 and (dlq[0][2], dlq[0][3]) == (pp, po),
          name + ": one dead letter, the poison record's (%s)" % [(a[2], a[3]) for a in dlq][:5])
    check(not tl.stray, name + ": every result names an input offset that exists (%d do not)" % len(tl.stray))
    check(differ == 0, name + ": every result is byte-identical to `fraudd score` of its record (%d differ)" % differ)
    lag = sum(ends[p][1] - final_committed.get(p, 0) for p in range(fl.PARTS))
    check(lag == 0, name + ": after SIGTERM the committed offsets are the input's end (lag %d)" % lag)
    fl.report({"scenario": name, "records_in": len(want), "results_out": tl.n_out, "lost": len(tl.lost),
               "duplicates": tl.n_dups, "dead_letters": tl.n_dlq, "recovered_s": round(waited, 1),
               "fixed_at": round(t_fix - t0, 1)})


SCENARIOS = {"eos_sigkill": run_eos_sigkill, "eos_rebalance": run_eos_rebalance, "eos_zombie": run_eos_zombie,
             "eos_poison": run_eos_poison}
