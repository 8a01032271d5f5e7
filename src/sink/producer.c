/* Sink (include/fraudd/sink.h has the flow and the guarantees).
 *
 * The waiting list. A message that must be (re)sent later is a `parked`
 * entry: its job, its topic, its value (a copy of a result; a dead letter
 * borrows the input's bytes, which live as long as the job), its headers.
 * The run thread owns the list (k->wait_*): delivery reports add to it and
 * fr_sink_poll sends what is due, so the run thread never waits for room
 * in the producer's queue (it is the only thread that frees room). Workers
 * whose produce call is refused at once hand the entry over through
 * k->handoff (a mutex, taken only on that rare path); the run thread moves
 * it to its list and decides. Every entry keeps its job in flight, so its
 * offset is not committed until it is delivered.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fraudd/common.h"
#include "fraudd/deadletter.h"
#include "fraudd/err.h"
#include "fraudd/log.h"
#include "fraudd/offsets.h"
#include "fraudd/sink.h"

#define FR_BACKOFF_MIN_MS 100  /* first wait before re-sending after a destination error or a blocked record */
#define FR_BACKOFF_MAX_MS 5000 /* the wait doubles up to this */

enum { TO_OUTPUT = 0, TO_DLQ = 1 };

/* A message waiting to be (re)sent (see the top of this file). */
typedef struct parked {
    struct parked *next;
    fr_job *job;
    int dlq;                 /* TO_OUTPUT or TO_DLQ */
    const void *val;         /* buf, or the input's bytes (a dead letter) */
    size_t len;
    rd_kafka_headers_t *h;   /* owned until a produce call accepts them */
    rd_kafka_resp_err_t err; /* handed over by a worker: what producev said */
    int64_t due_ns;          /* fr_now_ns() from which it may be sent */
    char buf[];              /* a result's copy */
} parked;

/* The clocks for one delivery-report event, read when its first delivered
 * message needs them (0: not yet): every message of an event was
 * acknowledged by one produce response. */
typedef struct report_clock {
    int64_t now_ns;  /* fr_now_ns() */
    int64_t wall_ms; /* fr_wall_ms() */
} report_clock;

struct fr_sink {
    const fr_config *cfg;
    size_t input_topic_len; /* strlen(cfg->kafka.input_topic), for its header */
    fr_kafka_ctx ctx; /* the producer's opaque: the shared state, and this */
    fr_kafka_state *ks;
    fr_jobs *jobs;
    fr_mgens *gens;
    rd_kafka_t *producer;
    rd_kafka_queue_t *reports;  /* the producer's main queue: delivery reports, as events */
    rd_kafka_topic_t *topic[2]; /* TO_OUTPUT, TO_DLQ */
    /* run thread only: messages waiting to be (re)sent, oldest first */
    parked *wait_head, *wait_tail;
    /* workers -> run thread: messages refused at once (newest first) */
    pthread_mutex_t handoff_mu;
    parked *handoff;
    _Atomic int stopping; /* fr_sink_stop_waiting: workers stop waiting for room */
    /* any thread reads; the run thread writes */
    _Atomic int blocked[2];     /* topic refused with a destination error, no delivery since */
    _Atomic int blocked_err[2]; /* that error (rd_kafka_resp_err_t) */
    pthread_mutex_t rec_mu;     /* guards rec_*: the run thread changes them, scrapes read */
    size_t n_rec;
    int32_t rec_partition[FR_STATS_MAX_BLOCKED];
    int64_t rec_offset[FR_STATS_MAX_BLOCKED];
    /* exactly_once (kafka.delivery): the producer is transactional; the
     * run thread (the source) opens and ends the transactions through
     * fr_sink_txn_*; txn_failed is set (run thread) when a message of the
     * open transaction failed, which only an abort can end */
    int eos;
    int txn_failed;
    char txn_why[256]; /* the first failure's error, for the log */
    /* the records of the open transaction whose messages the broker refused
     * for their own fault (fr_sink_txn_culprits); cleared by a begin */
    fr_txn_culprit culprits[FR_TXN_MAX_CULPRITS];
    size_t n_culprits;
    int64_t txn_begin_ns;
    /* statistics, written by the run thread only (fr_ctr_add) */
    _Atomic uint64_t st_txn[2]; /* committed, aborted */
    _Atomic uint64_t st_txn_latency[FR_LAT_BUCKETS], st_txn_latency_sum_ns, st_txn_records;
    _Atomic uint64_t st_results, st_flagged, st_dead, st_retries, st_delivery_errors;
    _Atomic uint64_t st_err_class[FR_DELIVERY__COUNT];
    _Atomic uint64_t st_dead_reason[FR_DEAD__COUNT]; /* acknowledged dead letters by reason */
    _Atomic uint64_t st_latency[FR_LAT_BUCKETS];     /* dispatch -> delivery */
    _Atomic uint64_t st_e2e[FR_LAT_BUCKETS];         /* Kafka record timestamp -> delivery */
    _Atomic uint64_t st_latency_sum_ns, st_e2e_sum_ns;
    /* run thread only: header lists detached from delivered messages, a
     * stack per worker that built them, handed back to that worker with its
     * next job (fr_sink_spare_headers). At most one per job of the pool,
     * since each dispatch takes one back */
    struct spare_stack {
        rd_kafka_headers_t **h;
        size_t n, cap;
    } *spares;
    uint32_t n_spare_workers;
};

/* Run thread: keeps h for worker w (fr_sink_spare_headers); destroys it
 * here only if there is no memory to keep it. */
static void spare_put(fr_sink *k, uint32_t w, rd_kafka_headers_t *h) {
    if (w >= k->n_spare_workers) {
        struct spare_stack *a = realloc(k->spares, (w + 1) * sizeof *a);
        if (!a) {
            rd_kafka_headers_destroy(h);
            return;
        }
        memset(a + k->n_spare_workers, 0, (w + 1 - k->n_spare_workers) * sizeof *a);
        k->spares = a;
        k->n_spare_workers = w + 1;
    }
    struct spare_stack *st = &k->spares[w];
    if (st->n == st->cap) {
        size_t cap = st->cap ? 2 * st->cap : 64;
        rd_kafka_headers_t **a = realloc(st->h, cap * sizeof *a);
        if (!a) {
            rd_kafka_headers_destroy(h);
            return;
        }
        st->h = a;
        st->cap = cap;
    }
    st->h[st->n++] = h;
}

rd_kafka_headers_t *fr_sink_spare_headers(fr_sink *k, uint32_t w) {
    if (w >= k->n_spare_workers || !k->spares[w].n) return NULL;
    return k->spares[w].h[--k->spares[w].n];
}

/* Whose fault a failed delivery is, from librdkafka's error list:
 * destination: the topic or the cluster refuses every record (missing,
 * unauthorized, not enough replicas): the deployment must be fixed, the
 * record is kept; record: the broker refused this record; transient:
 * everything else (librdkafka already retried it until message.timeout.ms). */
static fr_delivery_class delivery_class(rd_kafka_resp_err_t e) {
    switch (e) {
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION: /* invalid topic name */
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS:
        return FR_DELIVERY_DESTINATION;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP:
    case RD_KAFKA_RESP_ERR__BAD_MSG:
        return FR_DELIVERY_RECORD;
    default:
        return FR_DELIVERY_TRANSIENT;
    }
}

/* v in decimal into buf (at least 21 bytes); its length. The headers'
 * numbers, without snprintf's format parsing (per record, on the worker). */
static int fmt_i64(char *buf, int64_t v) {
    char tmp[20];
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    int n = 0, len = 0;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) buf[len++] = '-';
    while (n) buf[len++] = tmp[--n];
    return len;
}

static void add_source_headers(fr_sink *k, rd_kafka_headers_t *h, const fr_job *job) {
    char num[24];
    rd_kafka_header_add(h, "fraudd.model.version", 20, job->gen->m[job->role].version, -1);
    rd_kafka_header_add(h, "fraudd.source.topic", 19, k->cfg->kafka.input_topic, (ssize_t)k->input_topic_len);
    rd_kafka_header_add(h, "fraudd.source.partition", 23, num, fmt_i64(num, job->msg->partition));
    rd_kafka_header_add(h, "fraudd.source.offset", 20, num, fmt_i64(num, job->msg->offset));
}

/* One produce call, never waiting. On success the headers and the job
 * belong to the producer. The input's own bytes (a dead letter's value, a
 * pass-through result) are not copied: they live as long as the job, whose
 * input message is destroyed only after this message's delivery report.
 * Anything else (a result in the scorer's buffer, a parked copy) is.
 * ts_ms: the message's CreateTime; 0 = librdkafka reads the clock. */
static rd_kafka_resp_err_t produce(fr_sink *k, int dlq, const void *val, size_t len, rd_kafka_headers_t *h,
                                   fr_job *job, int64_t ts_ms) {
    int flags = val == job->msg->payload ? 0 : RD_KAFKA_MSG_F_COPY;
    return rd_kafka_producev(k->producer, RD_KAFKA_V_RKT(k->topic[dlq]), RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
                             RD_KAFKA_V_MSGFLAGS(flags), RD_KAFKA_V_VALUE((void *)val, len),
                             RD_KAFKA_V_KEY(job->msg->key, job->msg->key_len), RD_KAFKA_V_HEADERS(h),
                             RD_KAFKA_V_TIMESTAMP(ts_ms), RD_KAFKA_V_OPAQUE(job), RD_KAFKA_V_END);
}

/* A waiting entry; copies val unless the message is a dead letter (which
 * borrows the input's bytes). Takes h. NULL when out of memory (h too is
 * destroyed then). */
static parked *park_new(fr_job *job, int dlq, const void *val, size_t len, rd_kafka_headers_t *h) {
    parked *p = malloc(sizeof *p + (dlq ? 0 : len));
    if (!p) {
        if (h) rd_kafka_headers_destroy(h);
        return NULL;
    }
    *p = (parked){.job = job, .dlq = dlq, .val = val, .len = len, .h = h};
    if (!dlq) {
        if (len) memcpy(p->buf, val, len);
        p->val = p->buf;
    }
    return p;
}

static void park_free(parked *p) {
    if (p->h) rd_kafka_headers_destroy(p->h);
    free(p);
}

/* Run thread: appends p, to be sent after delay_ms. */
static void park(fr_sink *k, parked *p, int64_t delay_ms) {
    p->due_ns = fr_now_ns() + delay_ms * 1000000;
    p->next = NULL;
    if (k->wait_tail)
        k->wait_tail->next = p;
    else
        k->wait_head = p;
    k->wait_tail = p;
}

/* Run thread: parks p after the job's next backoff step. */
static void park_backoff(fr_sink *k, parked *p) {
    fr_job *job = p->job;
    job->backoff_ms = job->backoff_ms ? job->backoff_ms * 2 : FR_BACKOFF_MIN_MS;
    if (job->backoff_ms > FR_BACKOFF_MAX_MS) job->backoff_ms = FR_BACKOFF_MAX_MS;
    park(k, p, job->backoff_ms);
}

/* Destroys the header list attached to job at dispatch (fr_job's
 * spare_hdrs, built earlier by this worker): called where new headers are
 * about to be allocated, so the blocks go back to this thread's cache and
 * are reused at once. */
static void drop_spare_headers(fr_job *job) {
    if (job->spare_hdrs) {
        rd_kafka_headers_destroy(job->spare_hdrs);
        job->spare_hdrs = NULL;
    }
}

/* Builds the headers of job's dead letter and marks the job dead. */
static rd_kafka_headers_t *dead_letter_headers(fr_sink *k, fr_job *job, int reason_idx, const char *reason,
                                               const char *message) {
    drop_spare_headers(job);
    rd_kafka_headers_t *orig = NULL;
    rd_kafka_headers_t *h;
    if (rd_kafka_message_headers(job->msg, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR && orig)
        h = rd_kafka_headers_copy(orig);
    else
        h = rd_kafka_headers_new(8);
    add_source_headers(k, h, job);
    rd_kafka_header_add(h, "fraudd.error.class", -1, fr_err_class_name(fr_dead_reason_class(reason_idx)), -1);
    rd_kafka_header_add(h, "fraudd.error.reason", -1, reason, -1);
    rd_kafka_header_add(h, "fraudd.error.message", -1, message, -1);
    job->dead = 1;
    job->dead_reason = (uint8_t)reason_idx;
    job->tries = 0;
    return h;
}

/* An error nothing can recover from (out of memory on the failure path):
 * the record stays in flight, its offset is never committed. */
static void mark_fatal(fr_sink *k, fr_job *job, const char *why) {
    fr_log(FR_LOG_ERROR, "record_undeliverable", "%s [%" PRId32 "] offset %" PRId64 ": %s; offset not committed, stopping",
           k->cfg->kafka.input_topic, job->msg->partition, job->msg->offset, why);
    atomic_store(&k->ks->fatal, 1);
}

/* ---- worker side ---- */

/* Sends, waiting while the local queue is full, until the sink is told to
 * stop waiting (fr_sink_stop_waiting): then the job is left in flight, never
 * produced, so its offset is not committed and the record is redelivered.
 * A refusal other than a full queue goes to the run thread, which decides
 * (retry, dead letter, or keep it until the destination is fixed). */
static void worker_send(fr_sink *k, fr_job *job, int dlq, const void *val, size_t len, rd_kafka_headers_t *h) {
    rd_kafka_resp_err_t e;
    for (int spins = 0;; spins++) {
        e = produce(k, dlq, val, len, h, job, job->created_ms);
        /* the flag guards no data: relaxed (fr_sink_stop_waiting) */
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || atomic_load_explicit(&k->stopping, memory_order_relaxed)) break;
        /* the run thread serves delivery reports, which frees room */
        struct timespec ts = {0, 500000};
        nanosleep(&ts, NULL);
        if (spins == 20000) { /* 10 s without room: say so, keep waiting */
            static fr_log_limiter lim;
            fr_log_limited(&lim, FR_LOG_WARN, "producer_queue_full", "output queue full for 10 s; broker slow or down?");
            spins = 0;
        }
    }
    if (!e) return; /* the headers and the job belong to the producer now */
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        static fr_log_limiter lim;
        fr_log_limited(&lim, FR_LOG_WARN, "produce_abandoned",
                       "%s [%" PRId32 "] offset %" PRId64 ": stopping with the producer queue full; not sent, not "
                       "committed (redelivered)",
                       k->cfg->kafka.input_topic, job->msg->partition, job->msg->offset);
        if (h) rd_kafka_headers_destroy(h);
        return;
    }
    parked *p = park_new(job, dlq, val, len, h);
    if (!p) {
        mark_fatal(k, job, "out of memory keeping a refused message");
        return;
    }
    p->err = e;
    /* ownership of job moves to the run thread */
    pthread_mutex_lock(&k->handoff_mu);
    p->next = k->handoff;
    k->handoff = p;
    pthread_mutex_unlock(&k->handoff_mu);
}

void fr_sink_dead_letter(fr_sink *k, fr_job *job, int reason, const char *reason_text, const char *message) {
    rd_kafka_headers_t *h = dead_letter_headers(k, job, reason, reason_text, message);
    worker_send(k, job, TO_DLQ, job->msg->payload, job->msg->len, h);
}

void fr_sink_result(fr_sink *k, fr_job *job, const char *text, size_t len) {
    if (job->result_refused) { /* exactly_once: the broker refused this result before (fr_job) */
        rd_kafka_resp_err_t e = (rd_kafka_resp_err_t)job->result_refused;
        fr_sink_dead_letter(k, job, FR_DEAD_DELIVERY, rd_kafka_err2name(e), rd_kafka_err2str(e));
        return;
    }
    rd_kafka_headers_t *h = NULL;
    drop_spare_headers(job);
    if (k->cfg->kafka.result_headers) {
        h = rd_kafka_headers_new(4);
        add_source_headers(k, h, job);
    }
    job->dead = 0;
    job->tries = 0;
    worker_send(k, job, TO_OUTPUT, text, len, h);
}

void fr_sink_stop_waiting(fr_sink *k) {
    /* a flag, no data behind it: relaxed (read in worker_send) */
    atomic_store_explicit(&k->stopping, 1, memory_order_relaxed);
}

/* ---- blocked records (run thread) ---- */

/* The blocked-record list that scrapes read (fraudd_blocked_record_offset). */
static void rec_add(fr_sink *k, int32_t partition, int64_t offset) {
    pthread_mutex_lock(&k->rec_mu);
    if (k->n_rec < FR_STATS_MAX_BLOCKED) {
        k->rec_partition[k->n_rec] = partition;
        k->rec_offset[k->n_rec] = offset;
        k->n_rec++;
    }
    pthread_mutex_unlock(&k->rec_mu);
}

static void rec_remove(fr_sink *k, int32_t partition, int64_t offset) {
    pthread_mutex_lock(&k->rec_mu);
    for (size_t i = 0; i < k->n_rec; i++)
        if (k->rec_partition[i] == partition && k->rec_offset[i] == offset) {
            k->n_rec--;
            k->rec_partition[i] = k->rec_partition[k->n_rec];
            k->rec_offset[i] = k->rec_offset[k->n_rec];
            break;
        }
    pthread_mutex_unlock(&k->rec_mu);
}

static void record_block(fr_sink *k, fr_job *job, rd_kafka_resp_err_t err) {
    if (!job->rec_blocked) {
        job->rec_blocked = 1;
        job->part->blocked++; /* the source stops reading the partition */
        rec_add(k, job->msg->partition, job->msg->offset);
    }
    static fr_log_limiter lim;
    fr_log_limited(&lim, FR_LOG_ERROR, "record_blocked",
                   "%s [%" PRId32 "] offset %" PRId64 ": its dead letter to %s failed for good (%s); partition %" PRId32
                   " is not read and not committed past it; retrying every %u ms",
                   k->cfg->kafka.input_topic, job->msg->partition, job->msg->offset, k->cfg->kafka.dead_letter_topic,
                   rd_kafka_err2str(err), job->msg->partition,
                   job->backoff_ms * 2 > FR_BACKOFF_MAX_MS ? FR_BACKOFF_MAX_MS
                                                           : (job->backoff_ms ? job->backoff_ms * 2 : FR_BACKOFF_MIN_MS));
}

static void record_unblock(fr_sink *k, fr_job *job) {
    if (!job->rec_blocked) return;
    job->rec_blocked = 0;
    job->part->blocked--;
    rec_remove(k, job->msg->partition, job->msg->offset);
    fr_log(FR_LOG_INFO, "record_unblocked", "%s [%" PRId32 "] offset %" PRId64 ": delivered or handed back",
           k->cfg->kafka.input_topic, job->msg->partition, job->msg->offset);
}

void fr_sink_record_held(fr_sink *k, int32_t partition, int64_t offset, int held) {
    if (held)
        rec_add(k, partition, offset);
    else
        rec_remove(k, partition, offset);
}

/* ---- run thread: completion, failure, the waiting list ---- */

/* The job ends without its record being done: its partition was revoked
 * (the new owner re-reads it from the committed offset). */
static void job_abandon(fr_sink *k, fr_job *job) {
    record_unblock(k, job);
    job->backoff_ms = 0;
    rd_kafka_message_destroy(job->msg);
    fr_mgens_release(k->gens, job->gen);
    fr_jobs_give(k->jobs, job);
}

/* The job's result or dead letter is acknowledged: its record is done. */
static void job_complete(fr_sink *k, fr_job *job, report_clock *clk) {
    record_unblock(k, job);
    job->backoff_ms = 0;
    fr_part_done(job->part, job->seq);
    if (!clk->now_ns) {
        clk->now_ns = fr_now_ns();
        clk->wall_ms = fr_wall_ms();
    }
    int64_t lat = clk->now_ns - job->t_dispatch_ns;
    fr_ctr_add(&k->st_latency[fr_lat_bucket(lat)], 1);
    fr_ctr_add(&k->st_latency_sum_ns, (uint64_t)(lat > 0 ? lat : 0));
    rd_kafka_timestamp_type_t tt;
    int64_t ts_ms = rd_kafka_message_timestamp(job->msg, &tt);
    if (ts_ms > 0) {
        int64_t e2e = clk->wall_ms - ts_ms;
        fr_ctr_add(&k->st_e2e[fr_lat_bucket(e2e > 0 ? e2e * 1000000 : 0)], 1);
        fr_ctr_add(&k->st_e2e_sum_ns, (uint64_t)(e2e > 0 ? e2e * 1000000 : 0));
    }
    if (job->dead) {
        fr_ctr_add(&k->st_dead, 1);
        fr_ctr_add(&k->st_dead_reason[job->dead_reason], 1);
    } else {
        fr_ctr_add(&k->st_results, 1);
        if (job->flagged) fr_ctr_add(&k->st_flagged, 1);
    }
    rd_kafka_message_destroy(job->msg);
    fr_mgens_release(k->gens, job->gen);
    fr_jobs_give(k->jobs, job);
}

/* p's message failed with err (a delivery report, or a produce call that
 * refused it at once); p is parked again or replaced by a dead letter:
 *   destination error       -> kept, re-sent with backoff until it passes;
 *                              the topic is marked blocked (not ready)
 *   tries left              -> re-sent now (kafka.produce_retries)
 *   a result, failed for good -> its dead letter, class "produce"
 *   a dead letter, failed for good -> the record is blocked: re-sent with
 *                              backoff, its partition not read, no commit past it */
/* exactly_once: the open transaction cannot commit; p's job ends without
 * its record being done (the abort rewinds its partition, it is scored
 * again). The first reason is kept for the log. */
static void txn_fail(fr_sink *k, parked *p, rd_kafka_resp_err_t err, const char *what) {
    fr_job *job = p->job;
    if (delivery_class(err) == FR_DELIVERY_RECORD && k->n_culprits < FR_TXN_MAX_CULPRITS)
        k->culprits[k->n_culprits++] = (fr_txn_culprit){
            .partition = job->msg->partition, .offset = job->msg->offset, .dead = job->dead, .err = (int)err};
    if (!k->txn_failed) {
        k->txn_failed = 1;
        snprintf(k->txn_why, sizeof k->txn_why, "%s of %s [%" PRId32 "] offset %" PRId64 ": %s", what,
                 k->cfg->kafka.input_topic, job->msg->partition, job->msg->offset, rd_kafka_err2str(err));
    }
    park_free(p);
    job_abandon(k, job);
}

static void on_failure(fr_sink *k, parked *p, rd_kafka_resp_err_t err, int reported) {
    fr_job *job = p->job;
    fr_delivery_class cls = delivery_class(err);
    fr_ctr_add(&k->st_delivery_errors, 1);
    fr_ctr_add(&k->st_err_class[cls], 1);
    if (k->eos && cls == FR_DELIVERY_DESTINATION) { /* not ready until a delivery to it succeeds */
        atomic_store_explicit(&k->blocked_err[p->dlq], (int)err, memory_order_relaxed);
        atomic_store_explicit(&k->blocked[p->dlq], 1, memory_order_relaxed);
    }
    /* exactly_once: a failed delivery report puts librdkafka's transaction
     * in its abortable state, and so does anything after it; a destination
     * error or a dead letter that cannot be delivered would hold the
     * transaction open for good. All of these end the transaction (the run
     * thread aborts it and scores its records again, after a backoff for
     * the last two). A produce call refused at once (a result too large,
     * say) leaves the transaction intact: retried and dead-lettered in it,
     * as below. */
    if (k->eos && (reported || k->txn_failed || err == RD_KAFKA_RESP_ERR__STATE || err == RD_KAFKA_RESP_ERR__FATAL ||
                   cls == FR_DELIVERY_DESTINATION || (job->dead && (int)job->tries >= k->cfg->kafka.produce_retries))) {
        txn_fail(k, p, err, job->dead ? "dead letter" : "result");
        return;
    }
    if (cls == FR_DELIVERY_DESTINATION) {
        atomic_store_explicit(&k->blocked_err[p->dlq], (int)err, memory_order_relaxed);
        atomic_store_explicit(&k->blocked[p->dlq], 1, memory_order_relaxed); /* flags read by scrapes: relaxed */
        static fr_log_limiter lim;
        fr_log_limited(&lim, FR_LOG_ERROR, "output_blocked",
                       "%s topic %s refuses records: %s; %s [%" PRId32 "] offset %" PRId64
                       " and the records behind it are kept, not committed, and re-sent until it is fixed",
                       p->dlq ? "dead-letter" : "output", p->dlq ? k->cfg->kafka.dead_letter_topic : k->cfg->kafka.output_topic,
                       rd_kafka_err2str(err), k->cfg->kafka.input_topic, job->msg->partition, job->msg->offset);
        park_backoff(k, p);
        return;
    }
    static fr_log_limiter lim;
    fr_log_limited(&lim, FR_LOG_WARN, "delivery_failed", "%s for %s [%" PRId32 "] offset %" PRId64 " (%s, attempt %u)",
                   rd_kafka_err2str(err), k->cfg->kafka.input_topic, job->msg->partition, job->msg->offset,
                   job->dead ? "dead letter" : "result", job->tries + 1);
    if ((int)job->tries < k->cfg->kafka.produce_retries) {
        job->tries++;
        fr_ctr_add(&k->st_retries, 1);
        park(k, p, 0);
        return;
    }
    if (!job->dead) {
        park_free(p);
        rd_kafka_headers_t *h =
            dead_letter_headers(k, job, FR_DEAD_DELIVERY, rd_kafka_err2name(err), rd_kafka_err2str(err));
        parked *d = park_new(job, TO_DLQ, job->msg->payload, job->msg->len, h);
        if (!d) {
            mark_fatal(k, job, "out of memory building its dead letter");
            return;
        }
        park(k, d, 0);
        return;
    }
    record_block(k, job, err);
    park_backoff(k, p);
}

/* Moves what workers handed over to the waiting list, deciding each. */
static void take_handoff(fr_sink *k) {
    pthread_mutex_lock(&k->handoff_mu);
    parked *p = k->handoff;
    k->handoff = NULL;
    pthread_mutex_unlock(&k->handoff_mu);
    parked *rev = NULL; /* oldest first */
    while (p) {
        parked *n = p->next;
        p->next = rev;
        rev = p;
        p = n;
    }
    for (p = rev; p;) {
        parked *n = p->next;
        on_failure(k, p, p->err, 0);
        p = n;
    }
}

/* Sends what is due, in order; stops at a full queue (the rest waits for
 * the next poll, which serves the reports that free room). */
static void send_due(fr_sink *k) {
    parked *p = k->wait_head;
    k->wait_head = k->wait_tail = NULL;
    int64_t now = fr_now_ns();
    int full = 0;
    while (p) {
        parked *n = p->next;
        fr_job *job = p->job;
        if (!job->part->assigned) { /* revoked meanwhile: the new owner reads it */
            park_free(p);
            job_abandon(k, job);
        } else if (k->txn_failed) { /* exactly_once: the abort rewinds it */
            park_free(p);
            job_abandon(k, job);
        } else if (full || p->due_ns > now) {
            int64_t due = p->due_ns;
            park(k, p, 0);
            p->due_ns = due; /* not yet due, or due and behind a full queue: keeps its turn */
        } else {
            rd_kafka_resp_err_t e = produce(k, p->dlq, p->val, p->len, p->h, job, 0);
            if (!e) {
                p->h = NULL; /* now the producer's */
                park_free(p);
            } else if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                full = 1;
                park(k, p, 0);
            } else {
                on_failure(k, p, e, 0);
            }
        }
        p = n;
    }
}

/* One message's delivery report (exactly one per message produced). */
static void on_delivery(fr_sink *k, const rd_kafka_message_t *m, report_clock *clk) {
    fr_job *job = m->_private;
    int dlq = m->rkt == k->topic[TO_DLQ];
    if (!m->err) {
        fr_kafka_broker_seen(k->ks);
        if (atomic_load_explicit(&k->blocked[dlq], memory_order_relaxed)) {
            atomic_store_explicit(&k->blocked[dlq], 0, memory_order_relaxed);
            fr_log(FR_LOG_INFO, "output_unblocked", "%s topic %s accepts records again",
                   dlq ? "dead-letter" : "output", rd_kafka_topic_name(m->rkt));
        }
        /* its headers go back to the worker that built them, with a later
         * job (fr_job's spare_hdrs): they are freed there, not here */
        rd_kafka_headers_t *h = NULL;
        if (rd_kafka_message_detach_headers((rd_kafka_message_t *)m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR && h)
            spare_put(k, job->worker, h);
        job_complete(k, job, clk);
        return;
    }
    /* the failed message stays in librdkafka's queue until its event is destroyed:
     * keep a copy and send it from the waiting list, never from here */
    const rd_kafka_headers_t *h0 = NULL;
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(m, (rd_kafka_headers_t **)&h0) == RD_KAFKA_RESP_ERR_NO_ERROR && h0)
        h = rd_kafka_headers_copy(h0);
    parked *p = dlq ? park_new(job, TO_DLQ, job->msg->payload, job->msg->len, h) : park_new(job, TO_OUTPUT, m->payload, m->len, h);
    if (!p) {
        mark_fatal(k, job, "out of memory keeping a failed message");
        return;
    }
    on_failure(k, p, m->err, 1);
}

/* Run thread: serves the delivery reports waiting in the producer's queue,
 * waiting up to timeout_ms for the first. librdkafka hands them over as
 * events, one per acknowledged batch (a produce request's partition), so
 * the per-report cost is a loop step, and the clocks are read once per
 * batch. At most FR_REPORT_EVENTS events a call: the run thread goes back
 * to the consumer in between (reports queued meanwhile wait for the next
 * call; rd_kafka_poll, before, also served only what was queued). */
#define FR_REPORT_EVENTS 64
static void serve_reports(fr_sink *k, int timeout_ms) {
    rd_kafka_event_t *ev;
    for (int i = 0; i < FR_REPORT_EVENTS && (ev = rd_kafka_queue_poll(k->reports, i ? 0 : timeout_ms)); i++) {
        if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_DR) {
            const rd_kafka_message_t *ms[64];
            report_clock clk = {0, 0};
            size_t n;
            while ((n = rd_kafka_event_message_array(ev, ms, sizeof ms / sizeof *ms)) > 0)
                for (size_t j = 0; j < n; j++) on_delivery(k, ms[j], &clk);
        } else {
            fr_kafka_event(k->producer, ev, &k->ctx); /* errors, statistics */
        }
        rd_kafka_event_destroy(ev); /* frees a report's messages */
    }
}

/* ---- exactly_once: the transactions (run thread) ---- */

/* kafka.transactional_id, or fraudd-<group_id>-<$HOSTNAME or the host name>. */
static void transactional_id(const fr_config *c, char *dst, size_t cap) {
    if (c->kafka.transactional_id) {
        snprintf(dst, cap, "%s", c->kafka.transactional_id);
        return;
    }
    char host[256];
    const char *h = getenv("HOSTNAME");
    if (!h || !*h) {
        if (gethostname(host, sizeof host)) snprintf(host, sizeof host, "unknown");
        host[sizeof host - 1] = 0;
        h = host;
    }
    snprintf(dst, cap, "fraudd-%s-%s", c->kafka.group_id, h);
}

/* init_transactions, retried while librdkafka calls the error retriable,
 * for at most FR_TXN_INIT_MS: fences an earlier producer with the same
 * transactional.id and aborts the transaction it left open. */
#define FR_TXN_INIT_MS 30000
static int txn_init(fr_sink *k, char *err, size_t errlen) {
    char tid[512];
    transactional_id(k->cfg, tid, sizeof tid);
    int64_t t0 = fr_now_ns(), end = t0 + (int64_t)FR_TXN_INIT_MS * 1000000;
    for (;;) {
        int64_t left = (end - fr_now_ns()) / 1000000;
        rd_kafka_error_t *e = rd_kafka_init_transactions(k->producer, left > 0 ? (int)left : 1);
        if (!e) break;
        int retry = rd_kafka_error_is_retriable(e) && fr_now_ns() < end;
        if (!retry) {
            int rc = fr_set_err(err, errlen, FR_EIO,
                                "kafka.delivery exactly_once: init_transactions for transactional.id %s failed%s: %s: "
                                "%s",
                                tid, rd_kafka_error_is_fatal(e) ? " (fatal)" : "", rd_kafka_error_name(e),
                                rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            return rc;
        }
        rd_kafka_error_destroy(e);
    }
    fr_log(FR_LOG_INFO, "transactions_ready", "transactional.id %s initialised in %.0f ms", tid,
           (double)(fr_now_ns() - t0) / 1e6);
    return 0;
}

/* A librdkafka transaction error: logged; fatal ones stop the run. */
static fr_txn_result txn_error(fr_sink *k, rd_kafka_error_t *e, const char *what) {
    fr_txn_result r = rd_kafka_error_is_fatal(e) ? FR_TXN_FATAL : FR_TXN_ABORT;
    if (r == FR_TXN_FATAL) {
        fr_log(FR_LOG_ERROR, "transaction_fatal",
               "%s: %s: %s; stopping (exit 1): another instance with the same transactional.id, or the "
               "coordinator aborted this one (fenced)",
               what, rd_kafka_error_name(e), rd_kafka_error_string(e));
        atomic_store(&k->ks->fatal, 1);
    } else {
        static fr_log_limiter lim;
        fr_log_limited(&lim, FR_LOG_WARN, "transaction_failed", "%s: %s: %s", what, rd_kafka_error_name(e),
                       rd_kafka_error_string(e));
    }
    rd_kafka_error_destroy(e);
    return r;
}

int fr_sink_txn_begin(fr_sink *k) {
    rd_kafka_error_t *e = rd_kafka_begin_transaction(k->producer);
    if (e) {
        /* only after a fatal error, or a transaction left open: a bug either way */
        if (txn_error(k, e, "begin_transaction") != FR_TXN_FATAL) atomic_store(&k->ks->fatal, 1);
        return FR_EIO;
    }
    k->txn_failed = 0;
    k->txn_why[0] = 0;
    k->txn_begin_ns = fr_now_ns();
    k->n_culprits = 0;
    return 0;
}

const char *fr_sink_txn_failed(const fr_sink *k) { return k->txn_failed ? k->txn_why : NULL; }

size_t fr_sink_txn_culprits(const fr_sink *k, const fr_txn_culprit **out) {
    *out = k->culprits;
    return k->n_culprits;
}

enum { TXN_COMMIT, TXN_ABORT };

/* commit_transaction or abort_transaction, called again while librdkafka
 * calls its error retriable (and not one that needs an abort) until
 * deadline_ns. */
static fr_txn_result txn_end(fr_sink *k, int which, int64_t deadline_ns) {
    for (;;) {
        int64_t left = (deadline_ns - fr_now_ns()) / 1000000;
        int t = left > 0 ? (int)left : 1;
        rd_kafka_error_t *e =
            which == TXN_COMMIT ? rd_kafka_commit_transaction(k->producer, t) : rd_kafka_abort_transaction(k->producer, t);
        if (!e) return FR_TXN_COMMITTED;
        if (rd_kafka_error_is_retriable(e) && !rd_kafka_error_txn_requires_abort(e) && fr_now_ns() < deadline_ns) {
            rd_kafka_error_destroy(e);
            continue;
        }
        return txn_error(k, e, which == TXN_COMMIT ? "commit_transaction" : "abort_transaction");
    }
}

fr_txn_result fr_sink_txn_commit(fr_sink *k, const rd_kafka_topic_partition_list_t *offsets, rd_kafka_t *consumer,
                                 uint64_t records, int64_t deadline_ns) {
    if (k->txn_failed) return FR_TXN_ABORT;
    if (offsets && offsets->cnt) {
        rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata(consumer);
        if (!cgmd) {
            fr_log(FR_LOG_WARN, "transaction_failed", "no consumer group metadata (not in the group)");
            return FR_TXN_ABORT;
        }
        fr_txn_result r0 = FR_TXN_COMMITTED;
        for (;;) {
            int64_t left = (deadline_ns - fr_now_ns()) / 1000000;
            rd_kafka_error_t *e = rd_kafka_send_offsets_to_transaction(k->producer, offsets, cgmd,
                                                                       left > 0 ? (int)left : 1);
            if (!e) break;
            if (rd_kafka_error_is_retriable(e) && !rd_kafka_error_txn_requires_abort(e) && fr_now_ns() < deadline_ns) {
                rd_kafka_error_destroy(e);
                continue;
            }
            r0 = txn_error(k, e, "send_offsets_to_transaction");
            break;
        }
        rd_kafka_consumer_group_metadata_destroy(cgmd);
        if (r0 != FR_TXN_COMMITTED) return r0;
    }
    fr_txn_result r = txn_end(k, TXN_COMMIT, deadline_ns);
    if (r != FR_TXN_COMMITTED) return r;
    int64_t lat = fr_now_ns() - k->txn_begin_ns;
    fr_ctr_add(&k->st_txn[0], 1);
    fr_ctr_add(&k->st_txn_latency[fr_lat_bucket(lat)], 1);
    fr_ctr_add(&k->st_txn_latency_sum_ns, (uint64_t)(lat > 0 ? lat : 0));
    fr_ctr_add(&k->st_txn_records, records);
    return FR_TXN_COMMITTED;
}

void fr_sink_txn_purge(fr_sink *k) {
    /* messages not yet sent fail at once (ERR__PURGE_QUEUE); those in
     * flight to the broker end with their response */
    rd_kafka_purge(k->producer, RD_KAFKA_PURGE_F_QUEUE);
    k->txn_failed = 1;
    if (!k->txn_why[0]) snprintf(k->txn_why, sizeof k->txn_why, "aborted by fraudd");
}

fr_txn_result fr_sink_txn_abort(fr_sink *k, int64_t deadline_ns) {
    /* every message's report has been served (the caller waited for the
     * jobs): abort_transaction's own flush finds nothing left */
    k->txn_failed = 1;
    fr_txn_result r = txn_end(k, TXN_ABORT, deadline_ns);
    if (r != FR_TXN_COMMITTED) return FR_TXN_FATAL; /* an abort that cannot be done: nothing else can be either */
    fr_ctr_add(&k->st_txn[1], 1);
    k->txn_failed = 0;
    k->txn_why[0] = 0;
    return FR_TXN_COMMITTED; /* the abort went through */
}

int fr_sink_new(const fr_config *c, fr_kafka_state *ks, fr_jobs *jobs, fr_mgens *gens, fr_sink **out, char *err,
                size_t errlen) {
    char e[512];
    int rc = 0;
    *out = NULL;
    fr_sink *k = calloc(1, sizeof *k);
    if (!k) return fr_set_err(err, errlen, FR_ENOMEM, "out of memory (sink)");
    k->cfg = c;
    k->input_topic_len = strlen(c->kafka.input_topic);
    k->ks = ks;
    k->jobs = jobs;
    k->gens = gens;
    k->ctx = (fr_kafka_ctx){.state = ks, .owner = k};
    pthread_mutex_init(&k->handoff_mu, NULL);
    pthread_mutex_init(&k->rec_mu, NULL);
    char qmax[32];
    snprintf(qmax, sizeof qmax, "%d", FR_PRODUCER_QUEUE_MESSAGES);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if ((rc = fr_kafka_conf_set(conf, "client.id", "fraudd", err, errlen)) ||
        (rc = fr_kafka_conf_set(conf, "linger.ms", "5", err, errlen)) ||
        (rc = fr_kafka_conf_set(conf, "statistics.interval.ms", "5000", err, errlen)) ||
        (rc = fr_kafka_conf_set(conf, "queue.buffering.max.messages", qmax, err, errlen)) ||
        /* dead letters carry the input unchanged, which may be larger than the
         * 1 MB default (the topic's max.message.bytes must allow it too) */
        (rc = fr_kafka_conf_set(conf, "message.max.bytes", "8388608", err, errlen)) ||
        (rc = fr_kafka_conf_apply(conf, &c->kafka.properties, "kafka.properties", err, errlen)) ||
        (rc = fr_kafka_conf_apply(conf, &c->kafka.producer, "kafka.producer", err, errlen)) ||
        (rc = fr_kafka_conf_set(conf, "bootstrap.servers", c->kafka.bootstrap_servers, err, errlen)) ||
        (rc = fr_kafka_conf_set(conf, "enable.idempotence", "true", err, errlen)))
        goto out;
    k->eos = c->kafka.delivery == FR_EXACTLY_ONCE;
    if (k->eos) {
        char tid[512];
        transactional_id(c, tid, sizeof tid);
        if ((rc = fr_kafka_conf_set(conf, "transactional.id", tid, err, errlen))) goto out;
    }
    /* every job has at most one message in the queue, plus one while a
     * delivery report is served (the failed message is freed after it): the
     * queue must hold one more than the jobs (the config checks the explicit
     * setting; this also covers the default derived from the workers) */
    size_t ql = sizeof qmax;
    if (rd_kafka_conf_get(conf, "queue.buffering.max.messages", qmax, &ql) == RD_KAFKA_CONF_OK &&
        (size_t)atoll(qmax) <= jobs->n) {
        rc = fr_set_err(err, errlen, FR_EINVAL,
                        "%zu records in flight (pipeline.max_in_flight, or 2 x workers x ring_capacity) need a "
                        "producer queue.buffering.max.messages of at least %zu, not %s",
                        jobs->n, jobs->n + 1, qmax);
        goto out;
    }
    /* delivery reports as events on the main queue (serve_reports): then
     * errors and statistics arrive there as events too (fr_kafka_event).
     * SASL/OAUTHBEARER token refreshes get a queue of their own, served by
     * librdkafka's background thread (below), so its built-in handlers and
     * any refresh callback still run */
    rd_kafka_conf_set_events(conf, RD_KAFKA_EVENT_DR);
    rd_kafka_conf_enable_sasl_queue(conf, 1);
    fr_kafka_conf_callbacks(conf, &k->ctx);
    k->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    if (!k->producer) {
        rc = fr_set_err(err, errlen, FR_EINVAL, "kafka producer: %s", e);
        goto out;
    }
    conf = NULL; /* now owned by k->producer */
    k->reports = rd_kafka_queue_get_main(k->producer);
    rd_kafka_queue_t *sasl = rd_kafka_queue_get_sasl(k->producer); /* NULL unless OAUTHBEARER */
    if (sasl) {
        rd_kafka_queue_destroy(sasl);
        rd_kafka_error_t *bg = rd_kafka_sasl_background_callbacks_enable(k->producer);
        if (bg) {
            rc = fr_set_err(err, errlen, FR_EINVAL, "kafka producer: SASL callbacks: %s", rd_kafka_error_string(bg));
            rd_kafka_error_destroy(bg);
            goto out;
        }
    }
    k->topic[TO_OUTPUT] = rd_kafka_topic_new(k->producer, c->kafka.output_topic, NULL);
    k->topic[TO_DLQ] = rd_kafka_topic_new(k->producer, c->kafka.dead_letter_topic, NULL);
    if (!k->topic[TO_OUTPUT] || !k->topic[TO_DLQ]) {
        rc = fr_set_err(err, errlen, FR_ENOMEM, "kafka topic handles");
        goto out;
    }
    if (k->eos) rc = txn_init(k, err, errlen);
out:
    if (conf) rd_kafka_conf_destroy(conf);
    if (rc)
        fr_sink_free(k);
    else
        *out = k;
    return rc;
}

void fr_sink_free(fr_sink *k) {
    if (!k) return;
    /* waiting messages are dropped; their jobs stay in flight (their
     * records were never done: their offsets were never stored) */
    take_handoff(k);
    for (parked *p = k->wait_head, *n; p; p = n) {
        n = p->next;
        park_free(p);
    }
    for (int i = 0; i < 2; i++)
        if (k->topic[i]) rd_kafka_topic_destroy(k->topic[i]);
    if (k->reports) rd_kafka_queue_destroy(k->reports);
    if (k->producer) {
        /* anything still queued here is abandoned: its offset was never stored */
        rd_kafka_purge(k->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_destroy(k->producer);
    }
    for (uint32_t w = 0; w < k->n_spare_workers; w++) {
        for (size_t i = 0; i < k->spares[w].n; i++) rd_kafka_headers_destroy(k->spares[w].h[i]);
        free(k->spares[w].h);
    }
    free(k->spares);
    pthread_mutex_destroy(&k->handoff_mu);
    pthread_mutex_destroy(&k->rec_mu);
    free(k);
}

void fr_sink_poll(fr_sink *k, int timeout_ms) {
    take_handoff(k);
    send_due(k);
    serve_reports(k, timeout_ms);
    take_handoff(k);
    send_due(k);
}

void fr_sink_flush(fr_sink *k, int timeout_ms) {
    take_handoff(k);
    send_due(k);
    /* With delivery reports as events, rd_kafka_flush only waits for the
     * message count to reach zero, which needs the reports served: serve
     * them here until nothing is queued. rd_kafka_flush(0) makes the
     * broker threads send what lingers now. Re-sends parked meanwhile wait
     * for the next fr_sink_poll, as before. */
    int64_t end = fr_now_ns() + (int64_t)timeout_ms * 1000000;
    for (;;) {
        serve_reports(k, 0);
        if (rd_kafka_outq_len(k->producer) == 0) break;
        int64_t left_ms = (end - fr_now_ns()) / 1000000;
        if (left_ms <= 0) break;
        rd_kafka_flush(k->producer, 0);
        serve_reports(k, left_ms < 10 ? (int)left_ms : 10);
    }
}

int fr_sink_blocked(fr_sink *k, char *why, size_t whylen) {
    for (int i = 0; i < 2; i++)
        if (atomic_load_explicit(&k->blocked[i], memory_order_relaxed)) {
            snprintf(why, whylen, "%s topic %s refuses records (%s)", i ? "dead-letter" : "output",
                     i ? k->cfg->kafka.dead_letter_topic : k->cfg->kafka.output_topic,
                     rd_kafka_err2name((rd_kafka_resp_err_t)atomic_load_explicit(&k->blocked_err[i], memory_order_relaxed)));
            return 1;
        }
    return 0;
}

void fr_sink_stats(fr_sink *k, fr_stats *s) {
    s->results += fr_ctr_get(&k->st_results);
    s->flagged += fr_ctr_get(&k->st_flagged);
    s->dead_letters += fr_ctr_get(&k->st_dead);
    for (int i = 0; i < FR_DEAD__COUNT; i++) {
        uint64_t n = fr_ctr_get(&k->st_dead_reason[i]);
        s->dead_by_reason[i] += n;
        s->dead_by_class[fr_dead_reason_class(i)] += n;
    }
    s->produce_retries += fr_ctr_get(&k->st_retries);
    s->exactly_once = k->eos;
    s->transactions[0] += fr_ctr_get(&k->st_txn[0]);
    s->transactions[1] += fr_ctr_get(&k->st_txn[1]);
    s->txn_records += fr_ctr_get(&k->st_txn_records);
    s->txn_latency_sum_ns += fr_ctr_get(&k->st_txn_latency_sum_ns);
    fr_lat_hist_add(s->txn_latency, k->st_txn_latency);
    s->delivery_errors += fr_ctr_get(&k->st_delivery_errors);
    for (int i = 0; i < FR_DELIVERY__COUNT; i++) s->delivery_errors_by_class[i] += fr_ctr_get(&k->st_err_class[i]);
    s->latency_sum_ns += fr_ctr_get(&k->st_latency_sum_ns);
    s->e2e_sum_ns += fr_ctr_get(&k->st_e2e_sum_ns);
    fr_lat_hist_add(s->latency, k->st_latency);
    fr_lat_hist_add(s->e2e_latency, k->st_e2e);
    s->topic_name[TO_OUTPUT] = k->cfg->kafka.output_topic;
    s->topic_name[TO_DLQ] = k->cfg->kafka.dead_letter_topic;
    for (int i = 0; i < 2; i++) s->topic_blocked[i] = atomic_load_explicit(&k->blocked[i], memory_order_relaxed);
    pthread_mutex_lock(&k->rec_mu);
    s->n_blocked = k->n_rec;
    memcpy(s->blocked_partition, k->rec_partition, k->n_rec * sizeof *k->rec_partition);
    memcpy(s->blocked_offset, k->rec_offset, k->n_rec * sizeof *k->rec_offset);
    pthread_mutex_unlock(&k->rec_mu);
}
