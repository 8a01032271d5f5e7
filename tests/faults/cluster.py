"""Fault campaign, three brokers: `fraudd run` against a KRaft cluster of three nodes on
127.0.0.1 (scripts/kafka.sh cluster: each node broker and controller) while the broker that
leads the most partitions is SIGKILLed mid-stream and restarted with its data
(docs/RELIABILITY.md, "Three brokers").

Run by tests/faults/run_cluster.sh, which starts the cluster (FR_KAFKA_NODES=3 scripts/kafka.sh
with) and sets FR_KAFKA_BOOTSTRAP (every broker) and FR_KAFKA_DIR.

  leader_kill   input, output and dead-letter topics with replication factor 3 and
                min.insync.replicas 2, fraudd's producer with acks=all (checked in its effective
                librdkafka config), a feeder with acks=all; FR_CLUSTER_ROUNDS (default 2) rounds:
                SIGKILL the node that leads the most partitions of the input and output topics
                (from the metadata), keep it down FR_CLUSTER_DOWN_S (default 15 s: past the
                controller's 9 s broker session, and a new controller's election when the node
                was the active controller too, so its partitions get new leaders), restart it
                with its data (kafka.sh restart DIR NODE), wait until every replica is back in
                sync. Round 2 kills the node leading the most partitions then: one that took
                over leaders in round 1.

The checker is faults.py's (confluent-kafka, reading every result and dead letter and sampling
the group's committed offsets and the input's end offsets every 250 ms). Per run it prints
records in, results out, lost (must be 0), duplicates and the bound, and per round the node
killed, the partitions it led, whether it was the group coordinator and the active controller
(kafka.sh controller), when a live node's metadata (kcat) showed new leaders for all of them,
fraudd's rebalance events, and the recovery times; one line `RESULT {json}` (also appended to $FR_FAULT_RESULTS if set).

The duplicate bound, per round (at-least-once: a redelivery starts at the group's last commit):
U0 + rate x (1 s + 6 s), as in faults.py, whichever node is killed, and no duplicate below the
committed offsets sampled just before the kill of its round. Losing a partition leader alone
redelivers nothing: fraudd's consumer keeps its fetch positions and fetches from the new leader
(no rebalance), and its producer is idempotent with acks=all (a batch the dead leader had
replicated but not acknowledged is deduplicated by the new leader: same producer id and
sequence; an acknowledged batch is on 2+ replicas, and only an in-sync replica is elected).
But every node holds a replica of the group's offsets (__consumer_offsets, replication factor
3), and an offset commit is written there with acks=all: until the controller fences the dead
node (broker.session.timeout.ms, 9 s) and drops it from the in-sync replicas, the coordinator
answers no commit. fraudd's commit requests time out (socket.timeout.ms 5 s here), librdkafka
drops the coordinator connection with the heartbeat in it, and when that lasts its 6 s session
(measured: a round that killed a follower of the offsets, not the coordinator) the member gives
its partitions back and rejoins at the last commit that went through: what was fed but not
committed at the kill (U0, sampled just before it) plus what it consumed while its commits
failed. When the coordinator's own node dies the same holds (it moves only when the node is
fenced). Each round reports which case happened: the coordinator's node killed or not, and
fraudd's group events (commit timeouts, session timeout, partitions lost, assigned).
Recovery, per round, from the kill: "stall" is the longest time without a result for a new
input from 1 s before the kill to the next round, "results again" its end, "caught up" when
every record handed to the feeder by then has a result (the backlog scored).

usage: cluster.py FRAUDD_BINARY
"""
import datetime
import json
import os
import shutil
import subprocess
import sys
import time

import faults as F  # noqa: E402  (the Checker, the feed, the scenario settings, the closing steps)
from faults import tp, check  # noqa: E402
from confluent_kafka.admin import AdminClient, ConfigResource  # noqa: E402

RATE = int(os.environ.get("FR_CLUSTER_RATE", "2000"))
ROUNDS = int(os.environ.get("FR_CLUSTER_ROUNDS", "2"))
DOWN_S = float(os.environ.get("FR_CLUSTER_DOWN_S", "15"))
# a round's share of the feed: down, restart (~6 s on a quiet machine, up to 18 s seen under a
# load of 6-13 on 2 cores), back in sync, steady; the feed must outlast the last round
ROUND_S = DOWN_S + 25
PRE, POST = F.PRE, F.POST
PARTS = F.PARTS
KAFKA_SH = os.path.join(tp.REPO, "scripts", "kafka.sh")
KAFKA_DIR = os.environ.get("FR_KAFKA_DIR", "")
NODES = int(os.environ.get("FR_KAFKA_NODES", "0"))

# faults.py's short timeouts (session 6 s, socket and request 5 s) and acks=all said explicitly
# (fraudd's idempotent producer implies it; librdkafka refuses any other acks with idempotence)
assert F.SHORT_TIMEOUTS.endswith('  producer:\n    request.timeout.ms: "5000"\n')
EXTRA_KAFKA = F.SHORT_TIMEOUTS + '    acks: all\n'
TOPIC_CONFIG = {"min.insync.replicas": "2"}


def admin():
    return AdminClient({"bootstrap.servers": tp.BOOT})


def leaders(a, topics, timeout=10):
    """{(topic, partition): (leader, replicas, isr)} from the metadata."""
    md = a.list_topics(timeout=timeout)
    return {(t, p.id): (p.leader, list(p.replicas), list(p.isrs))
            for t in topics if t in md.topics for p in md.topics[t].partitions.values()}


def leaders_from(node, topics):
    """{(topic, partition): leader} from the metadata of one node (kcat -L, a fresh request to
    that node alone; the admin client may send it to the dead node and wait), or None."""
    with open(os.path.join(KAFKA_DIR, "n%d" % node, "bootstrap")) as f:
        boot = f.read().strip()
    try:
        out = subprocess.run(["kcat", "-L", "-b", boot, "-m", "3"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    got, topic = {}, None
    for line in out.splitlines():
        w = line.split()
        if line.startswith('  topic "'):
            topic = line.split('"')[1]
        elif topic in topics and len(w) >= 4 and w[0] == "partition" and w[2] == "leader":
            got[(topic, int(w[1].rstrip(",")))] = int(w[3].rstrip(","))
    return got


def coordinator(a):
    """The group coordinator's node: the leader of __consumer_offsets (1 partition, kafka.sh)."""
    md = a.list_topics(topic="__consumer_offsets", timeout=10)
    return md.topics["__consumer_offsets"].partitions[0].leader


def wait_in_sync(a, topics, timeout=60):
    """Until every partition of topics (and the group's offsets) has all its replicas in sync
    and a leader; returns the seconds waited, or None."""
    t0 = time.time()
    while time.time() < t0 + timeout:
        try:
            m = leaders(a, list(topics) + ["__consumer_offsets"])
            if m and all(ld >= 0 and sorted(r) == sorted(i) for ld, r, i in m.values()):
                return time.time() - t0
        except Exception:
            pass
        time.sleep(0.25)
    return None


def kafka_sh(*args):
    """(exit status, stderr, or stdout if it succeeded and printed something)"""
    r = subprocess.run([KAFKA_SH, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return r.returncode, (r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else r.stderr.strip())


def log_time(e):
    ts = e.get("ts", "")
    try:
        return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
    except ValueError:
        return None


def effective_acks(topics, group):
    """fraudd started with the scenario's config plus librdkafka's `debug: conf` logs its
    producer's effective configuration; returns request.required.acks from it (-1 is all)."""
    cfg = tp.write_config("cluster-acks", group + "-acks", topics, session_ms=int(F.SESSION_S * 1000),
                          extra_kafka=EXTRA_KAFKA + "    debug: conf\n", level="debug")
    d = tp.Daemon(cfg, "cluster-acks")
    try:
        got = d.wait_events("librdkafka", 1, timeout=20, contains="request.required.acks")
    finally:
        d.stop()
    acks = [e["msg"].rsplit("=", 1)[1].strip() for e in got if "producer" in e["msg"]]
    idem = [e for e in d.events() if "producer" in e.get("msg", "") and "enable.idempotence = true" in e["msg"]]
    return (acks[0] if acks else None), bool(idem)


def run(name="leader_kill"):
    topics = tp.topics_for("cluster-" + name, replication_factor=3, config=TOPIC_CONFIG)
    group = "g-" + topics[0]
    a = admin()
    # the topics as created: 3 replicas each, min.insync.replicas 2 (the metadata of a broker
    # may lag the controller's a moment after the creation)
    deadline = time.time() + 15
    while True:
        m = leaders(a, topics)
        if (len(m) == 3 * PARTS and all(len(r) == 3 for _, r, _ in m.values())) or time.time() > deadline:
            break
        time.sleep(0.25)
    cfgs, deadline = {}, time.time() + 15
    while len(cfgs) < len(topics):  # a broker may learn of a new topic a moment after another
        try:
            for res, f in a.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, t) for t in topics]).items():
                cfgs[res.name] = f.result(10)["min.insync.replicas"].value
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.25)
    check(len(m) == 3 * PARTS and all(len(r) == 3 for _, r, _ in m.values()) and
          all(v == "2" for v in cfgs.values()),
          name + ": input, output and dead letters have %d partitions with 3 replicas each (%d partitions, "
          "replicas %s), min.insync.replicas %s" % (PARTS, len(m), sorted(set(len(r) for _, r, _ in m.values())),
                                                    sorted(set(cfgs.values()))))
    acks, idem = effective_acks(topics, group)
    check(acks == "-1" and idem, name + ": fraudd's producer runs with acks=all (effective "
          "request.required.acks %s, enable.idempotence %s)" % (acks, idem))
    cfg = tp.write_config("cluster-" + name, group, topics, session_ms=int(F.SESSION_S * 1000),
                          extra_kafka=EXTRA_KAFKA)
    n = int(RATE * (PRE + ROUNDS * ROUND_S + POST))
    items = F.feed_items(n)
    chk = F.Checker(topics, group)
    d = tp.Daemon(cfg, "cluster-" + name)
    rounds = []
    try:
        if not check(d.wait_assigned(), name + ": fraudd got partitions"):
            return
        check(wait_in_sync(a, topics) is not None, name + ": every replica in sync before the feed")
        ld = tp.Loader(topics[0], extra={"acks": "all"})
        feed_t0 = time.time()
        feeder = ld.produce_in_background(items, RATE)
        time.sleep(PRE)
        for r in range(ROUNDS):
            round_t0 = time.time()
            m = leaders(a, topics[:2])
            count = {}
            for (t, p), (lead, _, _) in m.items():
                count[lead] = count.get(lead, 0) + 1
            victim = max(sorted(count), key=lambda b: count[b])
            coord = coordinator(a)
            rc, ctl = kafka_sh("controller", KAFKA_DIR)
            ctl = int(ctl.split()[-1]) if rc == 0 and ctl.split() and ctl.split()[-1].isdigit() else None
            led = sorted("%s-%d" % (t[-3:], p) for (t, p), (lead, _, _) in m.items() if lead == victim)
            s = chk.samples[-1] if chk.samples else None
            c0 = dict(s[1]) if s else {p: 0 for p in range(PARTS)}
            u0 = sum(max(0, s[2][p] - c0[p]) for p in range(PARTS)) if s else 0
            # the kill's time: just before kafka.sh kill, which SIGKILLs at once, then waits up to
            # 1-2 s for the JVM to be gone (recovery times count from here, an upper bound)
            t_kill = time.time()
            rc, err = kafka_sh("kill", KAFKA_DIR, str(victim))
            check(rc == 0, "%s round %d: node %d SIGKILLed%s" % (name, r + 1, victim, "" if rc == 0 else ": " + err))
            print("  round %d: node %d SIGKILLed (led %d of %d input/output partitions: %s; group coordinator: "
                  "node %d; active controller: node %s)" % (r + 1, victim, len(led), len(m), " ".join(led), coord, ctl),
                  flush=True)
            # the failover, from a live node's metadata (with kcat): until no partition of the input
            # and output is led by the dead node
            live = min(b for b in range(1, NODES + 1) if b != victim)
            moved_s, new_leaders, polls = None, None, []
            while shutil.which("kcat") and time.time() < t_kill + DOWN_S:
                now = leaders_from(live, topics[:2])
                polls.append((round(time.time() - t_kill, 1), now and sorted(set(now.values()))))
                if now and len(now) == len(m) and all(v not in (victim, -1) for v in now.values()):
                    moved_s = time.time() - t_kill
                    new_leaders = sorted(set(v for k, v in now.items() if m[k][0] == victim))
                    break
                time.sleep(0.25)
            time.sleep(max(0.0, t_kill + DOWN_S - time.time()))
            rc, err = kafka_sh("restart", KAFKA_DIR, str(victim))
            t_back = time.time()
            check(rc == 0, "%s round %d: node %d restarted with its data (%.1f s after the kill)%s" %
                  (name, r + 1, victim, t_back - t_kill, "" if rc == 0 else ": " + err[-500:]))
            synced = wait_in_sync(a, topics)
            check(synced is not None, "%s round %d: every replica back in sync after the restart (%s)" %
                  (name, r + 1, "%.1f s" % synced if synced is not None else "not in 60 s"))
            rounds.append({"round": r + 1, "victim": victim, "led": led, "coordinator": coord,
                           "coordinator_killed": coord == victim, "controller": ctl, "t_kill": t_kill, "t_back": t_back,
                           "c0": c0, "u0": u0, "new_leaders": new_leaders,
                           "leaders_moved_s": None if moved_s is None else round(moved_s, 1), "leader_polls": polls,
                           "in_sync_s": None if synced is None else round(synced, 1)})
            if r + 1 < ROUNDS:  # steady again for a while before the next kill
                time.sleep(max(0.0, round_t0 + ROUND_S - time.time()))
        feeder_running = feeder.is_alive()
        feeder.join()
        fed_done = time.time()
        ends, want = F.input_ends(topics[0])
        rc, final_committed, _ = F.finish(chk, d, name, lambda: want <= chk.sources(), 120, when=" after the kills")
    finally:
        F.cleanup(chk, d)

    # ---- the numbers, all from the checker's own reads
    fed = sum(e[1] - e[0] for e in ends.values())
    tl = F.tally(chk, want)
    events = [(log_time(e), e.get("event"), e.get("msg", "")) for e in d.events()]
    window_s = F.COMMIT_INTERVAL_S + F.SESSION_S
    below, bound = [], 0
    ts_first = sorted(tl.first.values())
    for i, rd in enumerate(rounds):
        t_next = rounds[i + 1]["t_kill"] if i + 1 < len(rounds) else float("inf")
        rd["bound"] = rd["u0"] + int(RATE * window_s)
        bound += rd["bound"]
        # a duplicate belongs to the round whose kill came last before its second copy
        mine = [k for k, t in tl.second.items() if rd["t_kill"] <= t < t_next]
        rd["duplicates"] = sum(len(tl.copies[k]) - 1 for k in mine)
        below += [k for k in mine if k[1] < rd["c0"].get(k[0], 0)]
        # recovery, from the kill: the longest time without a result for a new input in the
        # round (the stall), when results came again (its end: "resumed"), and when every record
        # handed to the feeder by then had its result ("caught up": the backlog scored)
        gaps = [(b - x, b) for x, b in zip(ts_first, ts_first[1:]) if rd["t_kill"] - 1 < b < t_next]
        stall, t_resumed = max(gaps, default=(0.0, rd["t_kill"]))
        rd["stall_s"] = round(stall, 2)
        rd["resumed_s"] = round(t_resumed - rd["t_kill"], 2)
        handed = min(n, int((t_resumed - feed_t0) * RATE))
        backlog = [tl.first.get(ld.where.get(j)) for j in range(handed)]
        rd["caught_up_s"] = (None if any(x is None for x in backlog)
                             else round(max(0.0, max(backlog, default=t_resumed) - rd["t_kill"]), 2))
        fed_after = [j for j in range(int((rd["t_kill"] - feed_t0) * RATE) + 1, n) if ld.where.get(j) in tl.first]
        rd["scored_fed_after_kill"] = len(fed_after)
        ev = {}
        for t, e, msg in events:
            key = ("commit_request_timeout" if "Timed out OffsetCommitRequest in flight" in msg else
                   "SESSTMOUT" if "SESSTMOUT" in msg else "COMMITFAIL" if "COMMITFAIL" in msg else
                   e if e in ("assigned", "revoked", "partitions_lost", "commit_failed") else None)
            if t is not None and rd["t_kill"] <= t < t_next and key:
                ev[key] = ev.get(key, 0) + 1
        rd["group_events"] = ev
    before_first = [k for k, t in tl.second.items() if rounds and t < rounds[0]["t_kill"]]
    below += before_first
    lag = sum(ends[p][1] - final_committed.get(p, 0) for p in range(PARTS))

    print("  records in %d (fed %d), results out %d, dead letters %d, lost %d, duplicates %d (bound %d: "
          "the sum over rounds of U0 + rate x %.0f s)" %
          (fed, len(ld.where), tl.n_out, tl.n_dlq, len(tl.lost), tl.n_dups, bound, window_s))
    for rd in rounds:
        print("  round %d: node %d killed (coordinator: %s, controller: %s), its partitions led by %s %s s after the kill; back %.1f s after the "
              "kill, in sync %s s later; duplicates %d (bound %d; U0 %d); longest stall %.1f s, results again %s s "
              "after the kill, caught up %s s after it; fraudd group events %s" %
              (rd["round"], rd["victim"], "yes" if rd["coordinator_killed"] else "no (node %d)" % rd["coordinator"],
               "yes" if rd["controller"] == rd["victim"] else "no (node %s)" % rd["controller"],
               rd["new_leaders"], rd["leaders_moved_s"], rd["t_back"] - rd["t_kill"], rd["in_sync_s"], rd["duplicates"], rd["bound"],
               rd["u0"], rd["stall_s"], rd["resumed_s"], rd["caught_up_s"], rd["group_events"] or "none"),
              flush=True)
    check(len(ld.where) == n and fed == n, name + ": the feeder wrote %d records with acks=all (input holds %d)" % (n, fed))
    check(feeder_running, name + ": the feed was still running when the last round ended")
    check(not tl.lost, name + ": no record lost: every input offset has a result or a dead letter (%d without)%s" %
          (len(tl.lost), (": first " + str(tl.lost[:5])) if tl.lost else ""))
    check(not tl.stray, name + ": every result names an input offset that exists (%d do not)" % len(tl.stray))
    check(tl.n_dlq == 0, name + ": no dead letters for valid records (%d)" % tl.n_dlq)
    check(not below, name + ": no duplicate below the offsets committed before its round's kill, none before "
          "the first kill (%d are: %s)" % (len(below), sorted(below)[:5]))
    for rd in rounds:
        check(rd["duplicates"] <= rd["bound"], "%s round %d: duplicates %d <= bound %d (U0 %d + rate x %.0f s)" %
              (name, rd["round"], rd["duplicates"], rd["bound"], rd["u0"], window_s))
        check(rd["scored_fed_after_kill"] > 0 and rd["caught_up_s"] is not None,
              "%s round %d: fraudd recovered (%d records fed after the kill scored, every record fed before "
              "results came again scored)" % (name, rd["round"], rd["scored_fed_after_kill"]))
    check(tl.differ == 0, name + ": duplicates are identical to the first result (%d differ)" % tl.differ)
    check(lag == 0, name + ": after fraudd's SIGTERM the group's committed offsets are the input's end (lag %d)" % lag)
    F.warnings_by_event([d])
    res = {"scenario": "cluster_" + name, "nodes": NODES, "records_in": fed, "results_out": tl.n_out,
           "dead_letters": tl.n_dlq, "lost": len(tl.lost), "duplicates": tl.n_dups, "dup_bound": bound,
           "dups_below_commit": len(below), "rate": RATE, "fraudd_rc": rc, "acks": acks,
           "feed_to_done_s": round(time.time() - fed_done, 1),
           "rounds": [{k: v for k, v in rd.items() if k not in ("c0", "t_kill", "t_back", "leader_polls")} |
                      {"back_after_s": round(rd["t_back"] - rd["t_kill"], 1)} for rd in rounds]}
    F.report(res)
    with open(os.path.join(tp.WORK, "cluster-%s-checker.json" % name), "w") as f:  # for a closer look
        json.dump({"result": res, "feed_t0": feed_t0, "rounds": rounds, "samples": chk.samples,
                   "duplicated": sorted(tl.dups)}, f)


if __name__ == "__main__":
    if not tp.BOOT or not KAFKA_DIR or NODES < 3 or len(sys.argv) != 2:
        sys.exit(__doc__ + "\n(needs FR_KAFKA_BOOTSTRAP, FR_KAFKA_DIR and FR_KAFKA_NODES >= 3: run_cluster.sh)")
    tp.FRAUDD = os.path.abspath(sys.argv[1])
    tp.run_scenarios("cluster", [("leader_kill", run)], prefix="cluster ")
