/* Sink (include/fraudd/sink.h has the flow and the guarantees). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fraudd/common.h"
#include "fraudd/deadletter.h"
#include "fraudd/err.h"
#include "fraudd/log.h"
#include "fraudd/offsets.h"
#include "fraudd/sink.h"

struct fr_sink {
    const fr_config *cfg;
    fr_kafka_ctx ctx; /* the producer's opaque: the shared state, and this */
    fr_kafka_state *ks;
    fr_jobs *jobs;
    fr_mgens *gens;
    rd_kafka_t *producer;
    rd_kafka_topic_t *out_topic;
    rd_kafka_topic_t *dlq_topic;
    /* statistics, written by the run thread only (fr_ctr_add) */
    _Atomic uint64_t st_results, st_flagged, st_dead, st_retries, st_delivery_errors;
    _Atomic uint64_t st_dead_reason[FR_DEAD__COUNT]; /* acknowledged dead letters by reason */
    _Atomic uint64_t st_latency[FR_LAT_BUCKETS];     /* dispatch -> delivery */
    _Atomic uint64_t st_e2e[FR_LAT_BUCKETS];         /* Kafka record timestamp -> delivery */
    _Atomic uint64_t st_latency_sum_ns, st_e2e_sum_ns;
};

static void add_source_headers(fr_sink *k, rd_kafka_headers_t *h, const fr_job *job) {
    char num[32];
    rd_kafka_header_add(h, "fraudd.model.version", -1, job->gen->version, -1);
    rd_kafka_header_add(h, "fraudd.source.topic", -1, k->cfg->kafka.input_topic, -1);
    int n = snprintf(num, sizeof num, "%" PRId32, job->msg->partition);
    rd_kafka_header_add(h, "fraudd.source.partition", -1, num, n);
    n = snprintf(num, sizeof num, "%" PRId64, job->msg->offset);
    rd_kafka_header_add(h, "fraudd.source.offset", -1, num, n);
}

/* Sends; waits while the local queue is full. Returns 0 or the error. On
 * success the headers and the job belong to the producer. */
static rd_kafka_resp_err_t send_msg(fr_sink *k, rd_kafka_topic_t *rkt, const void *val, size_t len,
                                const void *key, size_t klen, rd_kafka_headers_t *h, fr_job *job) {
    for (int spins = 0;; spins++) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            k->producer, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
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

static void mark_fatal(fr_sink *k, fr_job *job, const char *why) {
    fr_log(FR_LOG_ERROR, "record_undeliverable",
           "%s [%" PRId32 "] offset %" PRId64 ": result and dead letter both failed (%s); offset not committed, stopping",
           k->cfg->kafka.input_topic, job->msg->partition, job->msg->offset, why);
    atomic_store(&k->ks->fatal, 1);
}

static rd_kafka_resp_err_t send_dead_letter(fr_sink *k, fr_job *job, int reason_idx, const char *reason,
                                            const char *message) {
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
    rd_kafka_resp_err_t e =
        send_msg(k, k->dlq_topic, job->msg->payload, job->msg->len, job->msg->key, job->msg->key_len, h, job);
    if (e) rd_kafka_headers_destroy(h);
    return e;
}

void fr_sink_dead_letter(fr_sink *k, fr_job *job, int reason, const char *reason_text, const char *message) {
    job->tries = 0;
    rd_kafka_resp_err_t e = send_dead_letter(k, job, reason, reason_text, message);
    if (e) mark_fatal(k, job, rd_kafka_err2str(e));
}

void fr_sink_result(fr_sink *k, fr_job *job, const char *text, size_t len) {
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    add_source_headers(k, h, job);
    job->dead = 0;
    job->tries = 0;
    rd_kafka_resp_err_t e = send_msg(k, k->out_topic, text, len, job->msg->key, job->msg->key_len, h, job);
    if (!e) return;
    rd_kafka_headers_destroy(h);
    /* refused locally (too large for message.max.bytes, ...): dead letter it */
    fr_sink_dead_letter(k, job, FR_DEAD_DELIVERY, rd_kafka_err2name(e), rd_kafka_err2str(e));
}

/* ---- delivery reports (run thread) ---- */

/* The job's result or dead letter is acknowledged: its record is done. */
static void job_complete(fr_sink *k, fr_job *job) {
    fr_part_done(job->part, job->seq);
    int64_t lat = fr_now_ns() - job->t_dispatch_ns;
    fr_ctr_add(&k->st_latency[fr_lat_bucket(lat)], 1);
    fr_ctr_add(&k->st_latency_sum_ns, (uint64_t)(lat > 0 ? lat : 0));
    rd_kafka_timestamp_type_t tt;
    int64_t ts_ms = rd_kafka_message_timestamp(job->msg, &tt);
    if (ts_ms > 0) {
        int64_t e2e = fr_wall_ms() - ts_ms;
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

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    fr_sink *k = ((fr_kafka_ctx *)opaque)->owner;
    fr_job *job = m->_private;
    if (!m->err) {
        fr_kafka_broker_seen(k->ks);
        job_complete(k, job);
        return;
    }
    fr_ctr_add(&k->st_delivery_errors, 1);
    static fr_log_limiter lim;
    fr_log_limited(&lim, FR_LOG_WARN, "delivery_failed", "%s for %s [%" PRId32 "] offset %" PRId64 " (%s, attempt %u)",
                   rd_kafka_err2str(m->err), k->cfg->kafka.input_topic, job->msg->partition, job->msg->offset,
                   job->dead ? "dead letter" : "result", job->tries + 1);
    if ((int)job->tries < k->cfg->kafka.produce_retries) {
        job->tries++;
        fr_ctr_add(&k->st_retries, 1);
        const rd_kafka_headers_t *h0 = NULL;
        rd_kafka_headers_t *h = NULL;
        if (rd_kafka_message_headers(m, (rd_kafka_headers_t **)&h0) == RD_KAFKA_RESP_ERR_NO_ERROR && h0)
            h = rd_kafka_headers_copy(h0);
        rd_kafka_resp_err_t e = rd_kafka_producev(
            k->producer, RD_KAFKA_V_RKT(m->rkt), RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE(m->payload, m->len),
            RD_KAFKA_V_KEY(m->key, m->key_len), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(job), RD_KAFKA_V_END);
        if (!e) return;
        if (h) rd_kafka_headers_destroy(h);
    }
    if (!job->dead) {
        job->tries = 0;
        if (!send_dead_letter(k, job, FR_DEAD_DELIVERY, rd_kafka_err2name(m->err),
                              rd_kafka_err2str(m->err)))
            return;
    }
    mark_fatal(k, job, rd_kafka_err2str(m->err));
}

int fr_sink_new(const fr_config *c, fr_kafka_state *ks, fr_jobs *jobs, fr_mgens *gens, fr_sink **out, char *err,
                size_t errlen) {
    char e[512];
    int rc = 0;
    *out = NULL;
    fr_sink *k = calloc(1, sizeof *k);
    if (!k) return fr_set_err(err, errlen, FR_ENOMEM, "out of memory (sink)");
    k->cfg = c;
    k->ks = ks;
    k->jobs = jobs;
    k->gens = gens;
    k->ctx = (fr_kafka_ctx){.state = ks, .owner = k};
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
    fr_kafka_conf_callbacks(conf, &k->ctx);
    k->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    if (!k->producer) {
        rc = fr_set_err(err, errlen, FR_EINVAL, "kafka producer: %s", e);
        goto out;
    }
    conf = NULL; /* now owned by k->producer */
    k->out_topic = rd_kafka_topic_new(k->producer, c->kafka.output_topic, NULL);
    k->dlq_topic = rd_kafka_topic_new(k->producer, c->kafka.dead_letter_topic, NULL);
    if (!k->out_topic || !k->dlq_topic) rc = fr_set_err(err, errlen, FR_ENOMEM, "kafka topic handles");
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
    if (k->out_topic) rd_kafka_topic_destroy(k->out_topic);
    if (k->dlq_topic) rd_kafka_topic_destroy(k->dlq_topic);
    if (k->producer) {
        /* anything still queued here is abandoned: its offset was never stored */
        rd_kafka_purge(k->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_destroy(k->producer);
    }
    free(k);
}

void fr_sink_poll(fr_sink *k, int timeout_ms) { rd_kafka_poll(k->producer, timeout_ms); }

void fr_sink_flush(fr_sink *k, int timeout_ms) {
    rd_kafka_flush(k->producer, timeout_ms);
    rd_kafka_poll(k->producer, 0);
}

void fr_sink_stats(const fr_sink *k, fr_stats *s) {
    s->results += fr_ctr_get(&k->st_results);
    s->flagged += fr_ctr_get(&k->st_flagged);
    s->dead_letters += fr_ctr_get(&k->st_dead);
    for (int i = 0; i < FR_DEAD__COUNT; i++) {
        uint64_t n = fr_ctr_get(&k->st_dead_reason[i]);
        s->dead_by_reason[i] += n;
        s->dead_by_class[fr_dead_reason_class(i)] += n;
    }
    s->produce_retries += fr_ctr_get(&k->st_retries);
    s->delivery_errors += fr_ctr_get(&k->st_delivery_errors);
    s->latency_sum_ns += fr_ctr_get(&k->st_latency_sum_ns);
    s->e2e_sum_ns += fr_ctr_get(&k->st_e2e_sum_ns);
    fr_lat_hist_add(s->latency, k->st_latency);
    fr_lat_hist_add(s->e2e_latency, k->st_e2e);
}
