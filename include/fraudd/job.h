/* fraudd jobs: one input record on its way through the stages, and the
 * bounded pool they come from.
 *
 * A job belongs to the run thread (source) until it is pushed on a ring,
 * then to that ring's worker until the worker's produce call succeeds, then
 * to the producer until its delivery report hands it back to the run
 * thread (sink), which completes it and returns it to the pool. The pool
 * is sized once (pipeline.max_in_flight): nothing is allocated per record,
 * and an empty pool is backpressure.
 *
 * Thread safety: the pool is the run thread's; a job's fields are written
 * by whoever owns it at the time (the ring push/pop orders the hand-overs).
 */
#ifndef FRAUDD_JOB_H
#define FRAUDD_JOB_H

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct fr_mgen; /* include/fraudd/mgen.h */
struct fr_part; /* include/fraudd/offsets.h */

typedef struct fr_job {
    rd_kafka_message_t *msg; /* the input record; destroyed when the job ends */
    struct fr_mgen *gen;     /* the model it is scored with, fixed at dispatch */
    struct fr_part *part;    /* its partition's offsets */
    uint64_t seq;            /* handle in part->track */
    int64_t t_dispatch_ns;   /* fr_now_ns() at dispatch */
    /* fr_wall_ms() of the worker's batch, set by the worker: the CreateTime
     * of the job's result or dead letter when the worker produces it (one
     * clock read per batch instead of librdkafka's one per message); a
     * message re-sent later by the run thread gets the time of its re-send */
    int64_t created_ms;
    uint32_t tries;          /* produce attempts of the current message */
    uint8_t dead;            /* the message in flight is a dead letter */
    uint8_t flagged;         /* result over the threshold */
    uint8_t dead_reason;     /* FR_DEAD_* reason, when dead (its class follows from it) */
    uint8_t rec_blocked;     /* sink: its dead letter failed for good; retried with backoff, partition not read */
    uint8_t role;            /* which model of gen served it (FR_ROLE_*, include/fraudd/mgen.h), set by the worker */
    uint32_t backoff_ms;     /* sink: wait before its next re-send (0 = none yet); reset when it ends */
    uint32_t worker;         /* the worker it was pushed to (fr_worker_push) */
    /* exactly_once: the broker refused this record's result when it was
     * sent alone (rd_kafka_resp_err_t, set at dispatch by the source): its
     * dead letter (class produce) is sent instead. 0 otherwise. */
    int32_t result_refused;
    /* a header list a delivered message of the same worker left (the sink's
     * spares, fr_sink_spare_headers), attached at dispatch; the worker
     * destroys it just before it allocates this job's headers, so those
     * blocks are freed and allocated again on one thread (glibc's per-thread
     * cache) instead of freed on the run thread under the worker's arena
     * lock. NULL when none. */
    rd_kafka_headers_t *spare_hdrs;
    struct fr_job *next_free;
} fr_job;

typedef struct fr_jobs {
    fr_job *all;  /* n jobs */
    fr_job *free; /* free list */
    size_t n;
    size_t in_flight;             /* taken and not given back */
    _Atomic uint64_t in_flight_a; /* the same, for other threads (fr_ctr_add style, one writer) */
} fr_jobs;

/* 0 or FR_ENOMEM. */
int fr_jobs_init(fr_jobs *j, size_t n);
/* Destroys the input record of every job still holding one. */
void fr_jobs_destroy(fr_jobs *j);

/* Nonzero if a job is free. */
static inline int fr_jobs_available(const fr_jobs *j) { return j->free != NULL; }

/* A free job, or NULL when all are in flight. */
static inline fr_job *fr_jobs_take(fr_jobs *j) {
    fr_job *job = j->free;
    if (!job) return NULL;
    j->free = job->next_free;
    job->next_free = NULL;
    j->in_flight++;
    /* a statistic, one writer: relaxed */
    atomic_store_explicit(&j->in_flight_a, j->in_flight, memory_order_relaxed);
    return job;
}

/* Back to the pool; the caller has destroyed or handed on job->msg. */
static inline void fr_jobs_give(fr_jobs *j, fr_job *job) {
    job->msg = NULL;
    job->gen = NULL;
    job->role = 0;
    job->next_free = j->free;
    j->free = job;
    j->in_flight--;
    atomic_store_explicit(&j->in_flight_a, j->in_flight, memory_order_relaxed);
}

#ifdef __cplusplus
}
#endif

#endif
