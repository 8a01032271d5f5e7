/* fraudd source: the librdkafka consumer, dispatch to the workers,
 * offsets, backpressure and rebalances.
 *
 * Everything here runs on the run thread (the caller of fr_pipeline_run):
 * polling the consumer, dispatching, the rebalance callback and, because
 * the run thread also polls the producer (fr_sink_poll), delivery reports.
 * So the partition table, the job pool and the held records need no locks.
 *
 * Partition queues: each assigned partition's records arrive on its own
 * librdkafka queue, split from the consumer's before its fetch starts (the
 * consumer's queue keeps the group events, errors and statistics, and is
 * served on every poll, so the group session never waits for room).
 * librdkafka stops fetching a partition while its queue holds
 * queued.max.messages.kbytes (2 MB here by default, less under a memory
 * limit: fr_source_prefetch_kb), so memory is bounded per partition, and
 * backpressure is simply not reading: nothing is
 * paused, nothing fetched is dropped and fetched again.
 * librdkafka 2.0.2 looks at a partition at its bound again only when its
 * broker thread wakes up, so while a backlog drains a nudger thread sends
 * the partitions' leaders a small request every 50 ms (consumer.c, "fetch
 * nudges"; fraudd_fetch_nudges_total).
 *
 * Dispatch: the run thread reads the partitions in rounds, up to 64
 * records of each per turn, starting one partition further each round, so
 * every partition flows while the pipeline is saturated. A record gets a
 * job from the pool, a sequence number in its partition's tracker, the
 * serving model generation, and a place on one worker's ring:
 *   key        hash(key) % workers (records without a key: round-robin)
 *   partition  partition % workers
 *   unordered  round-robin, skipping full rings
 * If the pool or the chosen ring is full, the record stays first in its
 * partition's held list (records taken from the queue, not yet
 * dispatched) and that partition's next turn starts with it, so order is
 * kept. A partition one of whose records the sink cannot deliver is not
 * read until that record is done (include/fraudd/offsets.h, blocked). The
 * time spent without room is fraudd_input_backpressure_seconds_total.
 * Memory is bounded by the pool (max_in_flight), the rings, 64 held
 * records per partition and the partition queues' bound.
 *
 * Offsets: a job's delivery report (sink) marks it done in its partition's
 * tracker; the contiguous done prefix is stored with rd_kafka_offsets_store
 * here (auto commit sends stored offsets every auto.commit.interval.ms).
 *
 * Revocation (cooperative): stop dispatching the revoked partitions, drop
 * their held records (never dispatched, they will be fetched again by the
 * new owner), wait for their in-flight jobs (bounded by the shutdown
 * timeout), store and synchronously commit their offsets, then unassign.
 *
 * Shutdown: fr_source_drain, then (after the workers stop and the producer
 * flushes) fr_source_commit_final, which first waits until the group is not
 * rebalancing: docs/ARCHITECTURE.md, "Why the final commit waits for the
 * group", has the race it avoids. Then fr_source_close leaves the group.
 *
 * Exactly once (kafka.delivery): the run thread also owns the producer's
 * transaction: it begins one before dispatching into it, and commits it
 * with the committable offsets (send_offsets_to_transaction) every
 * transaction_interval_ms, before a revoke and at shutdown, or aborts it and
 * rewinds every owned partition to its last commit
 * (src/source/txn.c, "transactions", has the steps). No offset is
 * stored or auto-committed in this mode.
 *
 * Progress: per assigned partition, the time since it last dispatched a
 * record or was seen caught up in librdkafka's statistics
 * (fr_source_stalls; fraudd_partition_stalled_seconds), so a partition
 * that is ours but not fetched shows up by name.
 *
 * Thread safety: run thread only, except fr_source_stats and
 * fr_source_stalls (any thread).
 */
#ifndef FRAUDD_SOURCE_H
#define FRAUDD_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "fraudd/config.h"
#include "fraudd/job.h"
#include "fraudd/kafka.h"
#include "fraudd/metrics.h"
#include "fraudd/mgen.h"
#include "fraudd/sink.h"
#include "fraudd/worker.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fr_source fr_source;

/* The consumer, subscribed to the input topic. override: extra librdkafka
 * properties applied last (the demo tunes its in-process cluster); may be
 * NULL. mem_limit: the process's memory limit in bytes (fr_memory_limit),
 * or -1: under a limit, and unless the config sets queued.max.messages.kbytes,
 * the per-partition prefetch bound is sized so that owning every partition
 * of the input topic stays within half of it (fr_source_prefetch_kb).
 * Everything given must outlive the source. */
int fr_source_new(const fr_config *c, const fr_kv_list *override, int64_t mem_limit, fr_kafka_state *ks,
                  fr_jobs *jobs, fr_mgens *gens, fr_workers *ws, fr_sink *sink, fr_source **out, char *err,
                  size_t errlen);

/* The prefetch bound in KB per partition (queued.max.messages.kbytes) for
 * a process with mem_limit bytes (-1: none) that may own `partitions` input
 * partitions (<= 0: unknown): FR_PREFETCH_KB_MAX without a limit or a
 * count, else what keeps partitions x (1.6 x the bound + 1 MiB) within
 * half the limit, in FR_PREFETCH_KB_MIN..FR_PREFETCH_KB_MAX. 1.6: a queued
 * record costs its librdkafka op and its share of the fetch buffer beside
 * the bytes the bound counts; 1 MiB: the fetch responses a partition pins
 * besides (a response lives until its last record's job ends, and holds
 * up to 256 KB of each partition). Measured: docs/ARCHITECTURE.md,
 * "Backpressure and memory bounds". */
#define FR_PREFETCH_KB_MAX 2048
#define FR_PREFETCH_KB_MIN 512
int fr_source_prefetch_kb(int64_t mem_limit, int partitions);
/* Destroys the consumer and the records it still holds; every job's record
 * (fr_jobs_destroy) must be destroyed before, or rd_kafka_destroy waits for
 * it forever. */
void fr_source_free(fr_source *s);

/* One round: serve delivery reports, retry held records, then take up to a
 * few hundred new records (waiting up to timeout_ms for the first). */
void fr_source_poll(fr_source *s, int timeout_ms);
/* 1, or 0 with the reason in why: exactly_once and the last transaction
 * was aborted for a failure (a delivery that failed, records not
 * acknowledged in time: a broken destination) with none committed since.
 * Any thread. */
int fr_source_ready(fr_source *s, char *why, size_t whylen);
/* Hands the committable offsets that moved to librdkafka's offset store. */
void fr_source_store_offsets(fr_source *s);

/* Shutdown, steps 1-2: stop reading the input, give back records not yet
 * dispatched, and wait (serving the group session and delivery reports)
 * until nothing is in flight or deadline_ns. Every later wait of the
 * source (the revoke of the close) ends by the same deadline. */
void fr_source_drain(fr_source *s, int64_t deadline_ns);
/* Shutdown, step 4: waits (serving rebalance callbacks) until no rebalance
 * of the group is in progress, or deadline_ns, then commits the final
 * offsets synchronously; 0, or FR_EIO if the commit failed. */
int fr_source_commit_final(fr_source *s, int64_t deadline_ns);
/* Shutdown, step 5: leaves the group. */
void fr_source_close(fr_source *s);

/* Adds the source's counters to out. Any thread. */
void fr_source_stats(const fr_source *s, fr_stats *out);
/* Every assigned input partition (at most cap) with the seconds at now_ns
 * since it last made progress (consumer.c, "progress", has the rule), as of
 * the run thread's last check (every second); returns how many. Any
 * thread. */
size_t fr_source_stalls(fr_source *s, int64_t now_ns, fr_part_stall *out, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
