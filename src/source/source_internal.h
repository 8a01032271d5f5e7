/* What the files of src/source share (include/fraudd/source.h is the
 * module's promise): the source's state, and the transaction side of the
 * run thread (txn.c) that the consumer side (consumer.c) calls. Run
 * thread only, except where a field says otherwise. */
#ifndef FRAUDD_SOURCE_INTERNAL_H
#define FRAUDD_SOURCE_INTERNAL_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "fraudd/offsets.h"
#include "fraudd/source.h"

/* A partition's own queue, split from the consumer's (see "partition
 * queues" in include/fraudd/source.h), and the records taken from it but
 * not dispatched yet, oldest first: held[head .. head + n). */
#define FR_BATCH 64 /* records taken from one partition's queue at a time */
typedef struct fr_part_queue {
    rd_kafka_queue_t *q;
    rd_kafka_message_t *held[FR_BATCH];
    size_t head, n;
} fr__pq; /* fr_part.queue */

struct fr_source {
    const fr_config *cfg;
    const fr_kv_list *override; /* extra consumer properties, applied last (may be NULL) */
    fr_kafka_ctx ctx;           /* the consumer's opaque: the shared state, and this */
    fr_kafka_state *ks;
    fr_jobs *jobs;
    fr_mgens *gens;
    fr_workers *ws;
    fr_sink *sink;
    rd_kafka_t *consumer;
    uint64_t prefetch_bytes; /* queued.max.messages.kbytes in bytes, set before the consumer starts */
    int64_t mem_limit;       /* the process's memory limit in bytes (-1: none) */
    int prefetch_sized_for;  /* the partition count the bound was sized for under mem_limit; 0: not sized */
    size_t prefetch_warned_at; /* partitions owned when check_prefetch_budget last warned */
    fr_parts parts;     /* input partitions by number */
    rd_kafka_queue_t *cq; /* the consumer's queue: group events, errors, statistics */
    int wake[2];          /* a pipe librdkafka writes to when one of those queues gets an entry */
    uint64_t rr;          /* round-robin cursor over the workers */
    uint64_t rr_part;     /* a round starts at the first partition we read at or after this */
    int draining;         /* fr_source_drain began: no partition queue is read again */
    int64_t bp_mark;      /* fr_now_ns of the last backpressure account; 0 = not waiting for room */
    /* group settling (consumer.c, "group settling"): joins_sent counts the
     * JoinGroup requests written to the coordinator (librdkafka's broker
     * threads, an interceptor), joins_served is its value at the last
     * rebalance callback; settle_assigns counts the assign callbacks still
     * due before a rebalance our own revoke started is over */
    _Atomic uint32_t joins_sent;
    uint32_t joins_served;
    int settle_assigns;
    int closing;                  /* shutdown: 1 the final commit was tried, 2 it went through */
    int64_t shutdown_deadline_ns; /* 0 until fr_source_drain; then every wait here ends by it */
    int64_t next_position_check;  /* fr__skip_unaccounted's next turn (fr_now_ns) */
    /* kafka.delivery exactly_once (txn.c) */
    int eos;
    int txn_open;            /* a transaction was begun and not yet ended */
    uint64_t txn_records;    /* records dispatched into it */
    int64_t txn_start_ns;    /* fr_now_ns when it began */
    int64_t txn_resume_ns;   /* no transaction begins before this (backoff after a failed one) */
    uint32_t txn_backoff_ms; /* the next backoff; 0 = none yet */
    int txn_solo;            /* the open transaction is a marked record's own (txn.c, "poison records") */
    struct fr__mark *marks;  /* records that go alone (txn.c, "poison records") */
    size_t n_marks, cap_marks;
    /* why the last transaction failed (a constant string), NULL once one
     * commits: not ready meanwhile (fr_source_ready, read by scrapes) */
    _Atomic(const char *) txn_failing;
    /* statistics, written by the run thread only (fr_ctr_add) */
    _Atomic uint64_t st_consumed, st_backpressure_ns, st_assigned, st_rebalances;
    /* reads that found a partition's queue holding at least what was asked
     * for (a backlog: its fetcher may be stopped at the bound), written by
     * the run thread; and the nudges sent, written by the nudger thread
     * (consumer.c, "fetch nudges") */
    _Atomic uint64_t st_backlog_reads, st_nudges;
    /* progress (consumer.c, "progress"): the run thread checks every
     * FR_PROGRESS_CHECK_MS and publishes under stall_mu with trylock */
    int64_t next_progress_check;
    fr_kstats_part kparts[FR_KSTATS_MAX_PARTITIONS]; /* scratch: the statistics' view of the partitions */
    pthread_mutex_t stall_mu;                         /* guards stall_* and probe_* */
    size_t stall_n;
    int32_t stall_id[FR_KSTATS_MAX_PARTITIONS];          /* assigned partitions ... */
    int64_t stall_progress_ns[FR_KSTATS_MAX_PARTITIONS]; /* ... and their fr_part.progress_ns */
    /* the watermark prober's answers, by partition number (< FR_KSTATS_MAX_PARTITIONS) */
    int64_t probe_lo[FR_KSTATS_MAX_PARTITIONS], probe_hi[FR_KSTATS_MAX_PARTITIONS];
    int64_t probe_ns[FR_KSTATS_MAX_PARTITIONS]; /* fr_now_ns when its query was sent; 0 never */
    /* the prober and nudger threads: sleep on probe_cv (under probe_mu)
     * until their next round or probe_stop */
    pthread_t prober, nudger;
    int prober_started, nudger_started;
    pthread_mutex_t probe_mu;
    pthread_cond_t probe_cv;
    int probe_stop;
};

/* What dispatching one record came to: DISPATCHED (taken), BLOCKED (no
 * room: the pool, the worker's ring, a full or backed-off transaction),
 * HELD (its partition waits: a marked record's turn, see txn.c). */
enum { DISPATCHED = 0, BLOCKED = 1, HELD = 2 };

/* ---- consumer.c ---- */

/* Offsets no record accounts for (transaction markers) become committable. */
void fr__skip_unaccounted(fr_source *s);

/* ---- txn.c (kafka.delivery: exactly_once) ---- */

/* May m go into a transaction now, beginning one if needed: DISPATCHED,
 * BLOCKED or HELD (above). *result_refused: the broker's error if m's
 * result is to be replaced by its dead letter (fr_job.result_refused), else 0. */
int fr__txn_admit(fr_source *s, const rd_kafka_message_t *m, int64_t now_ns, int32_t *result_refused);
/* Commits the open transaction (aborting it if it cannot): 0, or FR_EIO. */
int fr__txn_close(fr_source *s);
/* Aborts the open transaction and rewinds every owned partition; backoff:
 * it failed (the next one waits). 0, or FR_EIO when the run stops. */
int fr__txn_abort(fr_source *s, const char *why, int backoff);
/* Every poll: ends the open transaction when it is due or has failed. */
void fr__txn_tick(fr_source *s);
/* When the run thread must wake up for the transactions (fr_now_ns), or 0. */
int64_t fr__txn_wake_at(fr_source *s, int64_t now_ns);
/* Drops the marks a commit passed, and those of partitions no longer ours. */
void fr__marks_prune(fr_source *s);
/* "partition@offset,..." of l into buf, for the log. */
void fr__offsets_text(const rd_kafka_topic_partition_list_t *l, char *buf, size_t cap);

#endif
