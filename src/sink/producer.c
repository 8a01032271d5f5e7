/* Sink: the idempotent producer, results, dead letters, delivery reports.
 *
 * Workers call fr_sink_result / fr_sink_dead_letter (rd_kafka_producev is
 * thread safe). The message carries the job as its opaque; once producev
 * succeeds the worker no longer touches the job. The run thread polls the
 * producer, so the delivery report (called exactly once per message) runs
 * there and either completes the job or re-sends:
 *
 *   delivered            -> fr_job_complete (offset may now be stored)
 *   failed, tries left   -> the same message again (kafka.produce_retries)
 *   result failed for good -> a dead letter, class "produce", reason = the error
 *   dead letter failed for good -> the pipeline is marked fatal: the record
 *                            stays in flight, its offset is never committed,
 *                            and the process exits non-zero for a restart
 *
 * Headers on results: fraudd.model.version, fraudd.source.topic,
 * fraudd.source.partition, fraudd.source.offset. Dead letters carry the
 * input's own headers, bytes and key unchanged, plus those and
 * fraudd.error.class, fraudd.error.reason, fraudd.error.message.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fraudd/err.h"
#include "fraudd/log.h"
#include "pipeline/internal.h"

static const char *const class_names[FR_EC__COUNT] = {"decode", "feature", "model", "produce"};

const char *fr_err_class_name(fr_err_class c) {
    return (unsigned)c < FR_EC__COUNT ? class_names[c] : "unknown";
}

const char *fr_dead_reason_name(int reason) {
    if (reason == FR_DEAD_SCORER) return "scorer_failed";
    if (reason == FR_DEAD_DELIVERY) return "delivery_failed";
    return fr_reject_name((fr_reject)reason);
}

fr_err_class fr_dead_reason_class(int reason) {
    if (reason == FR_DEAD_SCORER) return FR_EC_MODEL;
    if (reason == FR_DEAD_DELIVERY) return FR_EC_PRODUCE;
    return fr_err_class_of((fr_reject)reason);
}

fr_err_class fr_err_class_of(fr_reject r) {
    switch (r) {
    case FR_REJ_MISSING:
    case FR_REJ_NULL:
    case FR_REJ_TYPE:
    case FR_REJ_NONFINITE:
        return FR_EC_FEATURE;
    case FR_REJ_PREPROCESS:
        return FR_EC_MODEL;
    default:
        return FR_EC_DECODE;
    }
}

static void add_source_headers(fr_pipeline *p, rd_kafka_headers_t *h, const fr_job *job) {
    char num[32];
    rd_kafka_header_add(h, "fraudd.model.version", -1, job->gen->version, -1);
    rd_kafka_header_add(h, "fraudd.source.topic", -1, p->cfg->kafka.input_topic, -1);
    int n = snprintf(num, sizeof num, "%" PRId32, job->msg->partition);
    rd_kafka_header_add(h, "fraudd.source.partition", -1, num, n);
    n = snprintf(num, sizeof num, "%" PRId64, job->msg->offset);
    rd_kafka_header_add(h, "fraudd.source.offset", -1, num, n);
}

/* Sends; waits while the local queue is full. Returns 0 or the error. On
 * success the headers and the job belong to the producer. */
static rd_kafka_resp_err_t send_msg(fr_pipeline *p, rd_kafka_topic_t *rkt, const void *val, size_t len,
                                const void *key, size_t klen, rd_kafka_headers_t *h, fr_job *job) {
    for (int spins = 0;; spins++) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            p->producer, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE((void *)val, len),
            RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(job), RD_KAFKA_V_END);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) return e;
        /* the run thread drains delivery reports; wait for room */
        struct timespec ts = {0, 500000};
        nanosleep(&ts, NULL);
        if (spins == 20000) { /* 10 s without room: say so, keep waiting */
            static fr_log_limiter lim;
            fr_log_limited(&lim, FR_LOG_WARN, "producer_queue_full", "output queue full for 10 s; broker slow or down?");
            spins = 0;
        }
    }
}

static void mark_fatal(fr_pipeline *p, fr_job *job, const char *why) {
    fr_log(FR_LOG_ERROR, "record_undeliverable",
           "%s [%" PRId32 "] offset %" PRId64 ": result and dead letter both failed (%s); offset not committed, stopping",
           p->cfg->kafka.input_topic, job->msg->partition, job->msg->offset, why);
    atomic_store(&p->fatal, 1);
}

static rd_kafka_resp_err_t send_dead_letter(fr_pipeline *p, fr_job *job, int reason_idx, const char *reason,
                                            const char *message) {
    rd_kafka_headers_t *orig = NULL;
    rd_kafka_headers_t *h;
    if (rd_kafka_message_headers(job->msg, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR && orig)
        h = rd_kafka_headers_copy(orig);
    else
        h = rd_kafka_headers_new(8);
    add_source_headers(p, h, job);
    rd_kafka_header_add(h, "fraudd.error.class", -1, fr_err_class_name(fr_dead_reason_class(reason_idx)), -1);
    rd_kafka_header_add(h, "fraudd.error.reason", -1, reason, -1);
    rd_kafka_header_add(h, "fraudd.error.message", -1, message, -1);
    job->dead = 1;
    job->dead_reason = (uint8_t)reason_idx;
    rd_kafka_resp_err_t e =
        send_msg(p, p->dlq_topic, job->msg->payload, job->msg->len, job->msg->key, job->msg->key_len, h, job);
    if (e) rd_kafka_headers_destroy(h);
    return e;
}

void fr_sink_dead_letter(fr_pipeline *p, fr_job *job, int reason_idx, const char *reason, const char *message) {
    job->tries = 0;
    rd_kafka_resp_err_t e = send_dead_letter(p, job, reason_idx, reason, message);
    if (e) mark_fatal(p, job, rd_kafka_err2str(e));
}

void fr_sink_result(fr_pipeline *p, fr_job *job, const char *text, size_t len) {
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    add_source_headers(p, h, job);
    job->dead = 0;
    job->tries = 0;
    rd_kafka_resp_err_t e = send_msg(p, p->out_topic, text, len, job->msg->key, job->msg->key_len, h, job);
    if (!e) return;
    rd_kafka_headers_destroy(h);
    /* refused locally (too large for message.max.bytes, ...): dead letter it */
    fr_sink_dead_letter(p, job, FR_DEAD_DELIVERY, rd_kafka_err2name(e), rd_kafka_err2str(e));
}

/* ---- delivery reports (run thread) ---- */

void fr_job_complete(fr_pipeline *p, fr_job *job) {
    fr_part *part = job->part;
    if (fr_otrack_done(&part->track, job->seq)) part->dirty = 1;
    int64_t lat = fr_now_ns() - job->t_dispatch_ns;
    fr_ctr_add(&p->st_latency[fr_lat_bucket(lat)], 1);
    fr_ctr_add(&p->st_latency_sum_ns, (uint64_t)(lat > 0 ? lat : 0));
    rd_kafka_timestamp_type_t tt;
    int64_t ts_ms = rd_kafka_message_timestamp(job->msg, &tt);
    if (ts_ms > 0) {
        int64_t e2e = fr_wall_ms() - ts_ms;
        fr_ctr_add(&p->st_e2e[fr_lat_bucket(e2e > 0 ? e2e * 1000000 : 0)], 1);
        fr_ctr_add(&p->st_e2e_sum_ns, (uint64_t)(e2e > 0 ? e2e * 1000000 : 0));
    }
    if (job->dead) {
        fr_ctr_add(&p->st_dead, 1);
        fr_ctr_add(&p->st_dead_reason[job->dead_reason], 1);
    } else {
        fr_ctr_add(&p->st_results, 1);
        if (job->flagged) fr_ctr_add(&p->st_flagged, 1);
    }
    rd_kafka_message_destroy(job->msg);
    job->msg = NULL;
    fr_mgen_release(p, job->gen);
    job->gen = NULL;
    job->next_free = p->free_jobs;
    p->free_jobs = job;
    p->in_flight--;
    atomic_store_explicit(&p->st_in_flight, p->in_flight, memory_order_relaxed);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    fr_pipeline *p = opaque;
    fr_job *job = m->_private;
    if (!m->err) {
        if (atomic_load_explicit(&p->brokers_down, memory_order_relaxed)) atomic_store(&p->brokers_down, 0);
        fr_job_complete(p, job);
        return;
    }
    fr_ctr_add(&p->st_delivery_errors, 1);
    static fr_log_limiter lim;
    fr_log_limited(&lim, FR_LOG_WARN, "delivery_failed", "%s for %s [%" PRId32 "] offset %" PRId64 " (%s, attempt %u)",
                   rd_kafka_err2str(m->err), p->cfg->kafka.input_topic, job->msg->partition, job->msg->offset,
                   job->dead ? "dead letter" : "result", job->tries + 1);
    if ((int)job->tries < p->cfg->kafka.produce_retries) {
        job->tries++;
        fr_ctr_add(&p->st_retries, 1);
        const rd_kafka_headers_t *h0 = NULL;
        rd_kafka_headers_t *h = NULL;
        if (rd_kafka_message_headers(m, (rd_kafka_headers_t **)&h0) == RD_KAFKA_RESP_ERR_NO_ERROR && h0)
            h = rd_kafka_headers_copy(h0);
        rd_kafka_resp_err_t e = rd_kafka_producev(
            p->producer, RD_KAFKA_V_RKT(m->rkt), RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE(m->payload, m->len),
            RD_KAFKA_V_KEY(m->key, m->key_len), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(job), RD_KAFKA_V_END);
        if (!e) return;
        if (h) rd_kafka_headers_destroy(h);
    }
    if (!job->dead) {
        job->tries = 0;
        if (!send_dead_letter(p, job, FR_DEAD_DELIVERY, rd_kafka_err2name(m->err),
                              rd_kafka_err2str(m->err)))
            return;
    }
    mark_fatal(p, job, rd_kafka_err2str(m->err));
}

int fr_sink_new(fr_pipeline *p, char *err, size_t errlen) {
    const fr_config *c = p->cfg;
    char e[512];
    int rc = 0;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if ((rc = fr_kafka_conf_set(conf, "client.id", "fraudd", err, errlen)) ||
        (rc = fr_kafka_conf_set(conf, "linger.ms", "5", err, errlen)) ||
        (rc = fr_kafka_conf_set(conf, "statistics.interval.ms", "5000", err, errlen)) ||
        (rc = fr_kafka_conf_set(conf, "queue.buffering.max.messages", "200000", err, errlen)) ||
        /* dead letters carry the input unchanged, which may be larger than the
         * 1 MB default (the topic's max.message.bytes must allow it too) */
        (rc = fr_kafka_conf_set(conf, "message.max.bytes", "8388608", err, errlen)) ||
        (rc = fr_kafka_conf_apply(conf, &c->kafka.properties, "kafka.properties", err, errlen)) ||
        (rc = fr_kafka_conf_apply(conf, &c->kafka.producer, "kafka.producer", err, errlen)) ||
        (rc = fr_kafka_conf_set(conf, "bootstrap.servers", c->kafka.bootstrap_servers, err, errlen)) ||
        (rc = fr_kafka_conf_set(conf, "enable.idempotence", "true", err, errlen)))
        goto out;
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_log_cb(conf, fr_kafka_log_cb);
    rd_kafka_conf_set_error_cb(conf, fr_kafka_error_cb);
    rd_kafka_conf_set_stats_cb(conf, fr_kafka_stats_cb);
    rd_kafka_conf_set_opaque(conf, p);
    p->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    if (!p->producer) {
        rc = fr_set_err(err, errlen, FR_EINVAL, "kafka producer: %s", e);
        goto out;
    }
    conf = NULL; /* now owned by p->producer */
    p->out_topic = rd_kafka_topic_new(p->producer, c->kafka.output_topic, NULL);
    p->dlq_topic = rd_kafka_topic_new(p->producer, c->kafka.dead_letter_topic, NULL);
    if (!p->out_topic || !p->dlq_topic) rc = fr_set_err(err, errlen, FR_ENOMEM, "kafka topic handles");
out:
    if (conf) rd_kafka_conf_destroy(conf);
    return rc;
}
