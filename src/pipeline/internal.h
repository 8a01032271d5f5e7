/* Shared state of the pipeline stages (source, ring, worker, sink).
 *
 * Ownership and threads:
 *  - the run thread (source) owns parts[], the job pool, the held queue and
 *    the consumer handle; delivery reports run on it too (it polls the
 *    producer), so completing a job needs no lock;
 *  - a job belongs to the run thread until it is pushed on a ring, then to
 *    that ring's worker until the worker's produce call succeeds, then to the
 *    producer until its delivery report hands it back to the run thread;
 *  - counters that workers bump are single-writer atomics, added once per batch;
 *  - a job's model generation is fixed when it is dispatched and stays alive
 *    until the job completes (src/pipeline/models.c).
 */
#ifndef FR_PIPELINE_INTERNAL_H
#define FR_PIPELINE_INTERNAL_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "fraudd/kstats.h"
#include "fraudd/offsets.h"
#include "fraudd/pipeline.h"
#include "fraudd/ring.h"
#include "fraudd/scorer.h"

typedef struct fr_part {
    int32_t id;          /* partition number */
    int assigned;        /* ours now: records of it may be dispatched */
    int dirty;           /* committable moved since the last store */
    int64_t stored;      /* last offset handed to rd_kafka_offsets_store, -1 none */
    fr_otrack track;     /* dispatched offsets and their completion */
} fr_part;

/* Per-worker score statistics of one model generation (single writer: the
 * worker; a cache line apart from the next worker's). */
typedef struct fr_mgen_wstats {
    _Atomic uint64_t scores[FR_SCORE_BUCKETS]; /* score distribution (fr_score_bucket) */
    _Atomic uint64_t score_sum_micro;          /* sum of scores x 1e6 (histogram _sum) */
} __attribute__((aligned(64))) fr_mgen_wstats;

/* A model generation: one complete model and everything built from it,
 * swapped in as a whole (src/pipeline/models.c has the protocol). Immutable
 * once published, except the counters noted. */
typedef struct fr_mgen {
    uint64_t id;              /* 1 = the model the pipeline started with */
    const fr_model *model;
    fr_model *owned;          /* freed with the generation (NULL: the caller's model) */
    char version[128];        /* fraudd.version: the result header and the metrics label */
    double threshold;         /* in force: the config's override or the model's own */
    double loaded_unix;       /* when it was handed to the pipeline */
    fr_scorer **scorers;      /* one per worker (NULL in pass-through mode) */
    fr_mgen_wstats *wstats;    /* one per worker */
    size_t jobs;              /* run thread only: dispatched with it and not yet complete */
    struct fr_mgen *next;      /* retired list (run thread; readers under gens_mu) */
} fr_mgen;

typedef struct fr_job {
    rd_kafka_message_t *msg;   /* the input record; destroyed when the job ends */
    fr_mgen *gen;               /* the model it is scored with, fixed at dispatch */
    fr_part *part;
    uint64_t seq;              /* handle in part->track */
    int64_t t_dispatch_ns;     /* fr_now_ns() at dispatch */
    uint32_t tries;            /* produce attempts of the current message */
    uint8_t dead;              /* the message in flight is a dead letter */
    uint8_t flagged;           /* result over the threshold */
    uint8_t dead_reason;       /* FR_DEAD_* reason, when dead (its class follows from it) */
    struct fr_job *next_free;
} fr_job;

/* A counter with one writer: the owning thread adds with a relaxed load and
 * store (no read-modify-write, no lock), any thread may read it. Scrapes sum
 * the per-thread copies. */
static inline void fr_ctr_add(_Atomic uint64_t *c, uint64_t n) {
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}
static inline uint64_t fr_ctr_get(const _Atomic uint64_t *c) {
    return atomic_load_explicit((_Atomic uint64_t *)c, memory_order_relaxed);
}
int fr_lat_bucket(int64_t ns);

/* Written only by its worker (fr_ctr_add); read by scrapes. */
typedef struct fr_wcounters {
    _Atomic uint64_t rejects[FR_REJ_PREPROCESS + 1]; /* records rejected, by reason */
    _Atomic uint64_t scored;        /* records scored (results handed to the producer) */
    _Atomic uint64_t batches;       /* model calls */
    _Atomic uint64_t busy_ns;       /* time spent processing batches */
    _Atomic uint64_t queue_wait[FR_LAT_BUCKETS]; /* dispatch -> popped by the worker, per record */
    _Atomic uint64_t inference[FR_LAT_BUCKETS];  /* fr_scorer_run per batch */
    _Atomic uint64_t queue_wait_sum_ns, inference_sum_ns;
    _Atomic int64_t heartbeat_ns;   /* last time the worker was alive (fr_now_ns) */
} fr_wcounters;

typedef struct fr_worker {
    struct fr_pipeline *p;
    int id;
    pthread_t thread;
    int started;
    fr_ring *ring;
    /* sleeping protocol: see src/worker/worker.c */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic int sleeping;
    fr_wcounters wc;
    /* per-batch scratch, allocated once */
    fr_job **jobs;
    fr_slice *slices;
    fr_scored *scored;
} fr_worker;

struct fr_pipeline {
    const fr_config *cfg;
    fr_pipeline_opts opts;
    /* model generations (src/pipeline/models.c): gen is the one new records
     * get (written by the run thread only), gen_pending a built one waiting
     * to be swapped in, retired the ones that still have records in flight.
     * gens_mu guards gen, retired and the freeing of generations against
     * readers on other threads (scrapes); the run thread takes it only when
     * a generation changes, never per record. */
    fr_mgen *gen;
    _Atomic(fr_mgen *) gen_pending;
    fr_mgen *retired;
    pthread_mutex_t gens_mu;
    _Atomic uint64_t next_gen_id;
    _Atomic uint64_t serving_gen; /* gen->id, for fr_pipeline_get_stats without gens_mu (run thread writes) */
    _Atomic uint64_t st_reloads[FR_RELOAD__COUNT]; /* written by the reloader thread only */
    rd_kafka_t *consumer;
    rd_kafka_t *producer;
    rd_kafka_topic_t *out_topic;
    rd_kafka_topic_t *dlq_topic;
    int n_workers;
    fr_worker *workers;
    size_t batch;
    /* partitions of the input topic, indexed by number (run thread only) */
    fr_part **parts;
    size_t n_parts;
    /* job pool (run thread only) */
    fr_job *jobs;
    fr_job *free_jobs;
    size_t n_jobs;
    size_t in_flight;
    /* records polled but not yet dispatched, oldest first (run thread only) */
    rd_kafka_message_t **held;
    size_t held_cap, held_head, held_n;
    int paused;                 /* input partitions paused for backpressure */
    int64_t blocked_since;      /* fr_now_ns() when dispatch first found no room; 0 = not blocked */
    uint64_t rr;                /* round-robin cursor */
    uint32_t wake_mask_words;
    uint64_t *to_wake;          /* workers pushed to since the last wake-up */
    _Atomic int workers_stop;   /* workers exit once their ring is empty */
    _Atomic int fatal;          /* a record could not be delivered at all */
    _Atomic int stop_requested; /* fr_pipeline_stop */
    /* consumer group rebalance in progress (src/source/consumer.c, "group
     * settling"): joins_sent counts the JoinGroup requests written to the
     * coordinator (librdkafka's broker threads, an interceptor), joins_served
     * is its value at the last rebalance callback (run thread); settle_assigns
     * counts the assign callbacks still due before a rebalance our own revoke
     * started is over (run thread) */
    _Atomic uint32_t joins_sent;
    uint32_t joins_served;
    int settle_assigns;
    int closing;                /* shutdown: 1 the final commit was tried, 2 it went through (run thread only) */
    /* librdkafka statistics: written by the stats callback on the run thread
     * with trylock (skipped if a scrape holds the lock: never waits), read
     * by scrapes under the lock */
    pthread_mutex_t kstats_mu;
    fr_kstats kstats;
    _Atomic int brokers_down;   /* librdkafka said all brokers are down; cleared by the next record or ack */
    /* statistics written by the run thread only (fr_ctr_add) */
    _Atomic uint64_t st_delivery_errors;
    _Atomic uint64_t st_dead_reason[FR_DEAD__COUNT]; /* acknowledged dead letters by reason */
    _Atomic uint64_t st_e2e[FR_LAT_BUCKETS];      /* Kafka record timestamp -> delivery */
    _Atomic uint64_t st_e2e_sum_ns, st_latency_sum_ns;
    _Atomic int64_t heartbeat_ns;                 /* last run-loop iteration */
    _Atomic uint64_t st_consumed, st_results, st_flagged, st_dead, st_retries, st_in_flight, st_pauses,
        st_assigned, st_rebalances;
    _Atomic uint64_t st_latency[FR_LAT_BUCKETS];
};

/* source (src/source/consumer.c) */
int fr_source_new(struct fr_pipeline *p, char *err, size_t errlen);
void fr_source_poll(struct fr_pipeline *p, int timeout_ms);
void fr_source_store_offsets(struct fr_pipeline *p);
void fr_source_pause(struct fr_pipeline *p, int pause);
void fr_source_drop_held(struct fr_pipeline *p);
int fr_source_flush_held(struct fr_pipeline *p);
/* waits (polling the producer) until the parts in list have nothing in flight */
int fr_source_wait_parts(struct fr_pipeline *p, const rd_kafka_topic_partition_list_t *list, int64_t deadline_ns);
void fr_source_wake_workers(struct fr_pipeline *p);
/* shutdown step 4: waits (serving rebalance callbacks) until no rebalance of
 * the group is in progress, or deadline_ns, then commits the final offsets
 * synchronously; 0, or FR_EIO if the commit failed */
int fr_source_commit_final(struct fr_pipeline *p, int64_t deadline_ns);

/* sink (src/sink/producer.c) */
int fr_sink_new(struct fr_pipeline *p, char *err, size_t errlen);
/* worker side: send a result / dead letter for job; never fails silently:
 * on an immediate error the job goes to the dead-letter path, and if even
 * that fails the pipeline is marked fatal */
void fr_sink_result(struct fr_pipeline *p, fr_job *job, const char *text, size_t len);
/* reason_idx: an fr_reject, FR_DEAD_SCORER or FR_DEAD_DELIVERY; it decides
 * the error class. reason: the header's short reason text. */
void fr_sink_dead_letter(struct fr_pipeline *p, fr_job *job, int reason_idx, const char *reason, const char *message);
/* run thread: finishes a job (delivery acknowledged) */
void fr_job_complete(struct fr_pipeline *p, fr_job *job);

/* model generations (src/pipeline/models.c) */
fr_mgen *fr_mgen_new(struct fr_pipeline *p, const fr_model *m, fr_model *owned, char *err, size_t errlen);
void fr_mgen_free(fr_mgen *g);
/* run thread: swaps in a pending generation, if there is one */
void fr_mgen_adopt(struct fr_pipeline *p);
/* run thread: a job of g completed */
void fr_mgen_release(struct fr_pipeline *p, fr_mgen *g);
void fr_mgens_free_all(struct fr_pipeline *p);

/* workers (src/worker/worker.c) */
int fr_workers_start(struct fr_pipeline *p, char *err, size_t errlen);
void fr_workers_stop(struct fr_pipeline *p);
void fr_worker_wake(fr_worker *w);

/* librdkafka configuration shared by both clients */
int fr_kafka_conf_apply(rd_kafka_conf_t *conf, const fr_kv_list *kv, const char *what, char *err, size_t errlen);
int fr_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *err, size_t errlen);
void fr_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf);
void fr_kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque);
int fr_kafka_stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque);

#endif
