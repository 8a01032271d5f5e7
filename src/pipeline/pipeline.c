/* Pipeline assembly and lifecycle (include/fraudd/pipeline.h has the map).
 *
 * fr_pipeline_run is the run thread: it starts the workers, then loops
 * fr_source_poll (consume, dispatch, delivery reports), storing offsets and
 * calling the tick hook, until the stop flag or a fatal error. Shutdown:
 *   1. pause the input and give back records not yet dispatched;
 *   2. wait for every in-flight record's delivery report (workers keep
 *      scoring, the producer keeps sending), bounded by shutdown_timeout_ms;
 *   3. stop the workers, flush the producer;
 *   4. wait (bounded by the same deadline) until the group is not in a
 *      rebalance, then store the final offsets and commit them
 *      synchronously (fr_source_commit_final has why);
 *   5. close the consumer (leaves the group; the revoke finds nothing left).
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "fraudd/err.h"
#include "fraudd/log.h"
#include "pipeline/internal.h"

/* ---- librdkafka glue ---- */

int fr_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *err, size_t errlen) {
    char e[512];
    if (rd_kafka_conf_set(conf, key, value, e, sizeof e) != RD_KAFKA_CONF_OK)
        return fr_set_err(err, errlen, FR_EINVAL, "librdkafka property %s: %s", key, e);
    return 0;
}

int fr_kafka_conf_apply(rd_kafka_conf_t *conf, const fr_kv_list *kv, const char *what, char *err, size_t errlen) {
    if (!kv) return 0;
    for (size_t i = 0; i < kv->n; i++) {
        char e[512];
        if (rd_kafka_conf_set(conf, kv->items[i].key, kv->items[i].value, e, sizeof e) != RD_KAFKA_CONF_OK)
            /* librdkafka's message may quote the value: not for secrets */
            return fr_set_err(err, errlen, FR_EINVAL, "%s.%s: %s", what, kv->items[i].key,
                              fr_config_is_secret(kv->items[i].key) ? "rejected by librdkafka (value not shown: secret)" : e);
    }
    return 0;
}

void fr_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    fr_log_level l = level <= LOG_ERR ? FR_LOG_ERROR : level <= LOG_WARNING ? FR_LOG_WARN
                                                      : level <= LOG_INFO    ? FR_LOG_INFO
                                                                             : FR_LOG_DEBUG;
    fr_log(l, "librdkafka", "%s %s: %s", rd_kafka_name(rk), fac, buf);
}

void fr_kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    fr_pipeline *p = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, why, sizeof why);
        fr_log(FR_LOG_ERROR, "kafka_fatal", "%s: %s: %s", rd_kafka_name(rk), rd_kafka_err2name(orig), why);
        atomic_store(&p->fatal, 1);
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) atomic_store(&p->brokers_down, 1);
    static fr_log_limiter lim;
    fr_log_limited(&lim, FR_LOG_WARN, "kafka_error", "%s: %s: %s", rd_kafka_name(rk),
                   rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

int fr_kafka_stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque) {
    (void)rk;
    fr_pipeline *p = opaque;
    if (pthread_mutex_trylock(&p->kstats_mu) == 0) {
        fr_kstats_parse(json, len, p->cfg->kafka.input_topic, &p->kstats);
        pthread_mutex_unlock(&p->kstats_mu);
    }
    return 0; /* librdkafka frees json */
}

void fr_pipeline_kafka_stats(fr_pipeline *p, fr_kstats *out) {
    pthread_mutex_lock(&p->kstats_mu);
    *out = p->kstats;
    pthread_mutex_unlock(&p->kstats_mu);
}

/* ---- CPUs ---- */

static int read_text(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = 0;
    return (int)n;
}

int fr_cpu_count(const char *root) {
    int n = 1;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        n = CPU_COUNT(&set);
    else {
        long k = sysconf(_SC_NPROCESSORS_ONLN);
        n = k > 0 ? (int)k : 1;
    }
    char path[512], buf[128];
    double quota = -1, period = -1;
    /* cgroup v2: "<quota|max> <period>" */
    snprintf(path, sizeof path, "%s/cpu.max", root);
    if (read_text(path, buf, sizeof buf) > 0) {
        char q[32];
        if (sscanf(buf, "%31s %lf", q, &period) == 2 && strcmp(q, "max") != 0) quota = strtod(q, NULL);
    } else {
        /* cgroup v1 */
        snprintf(path, sizeof path, "%s/cpu/cpu.cfs_quota_us", root);
        if (read_text(path, buf, sizeof buf) > 0) quota = strtod(buf, NULL);
        snprintf(path, sizeof path, "%s/cpu/cpu.cfs_period_us", root);
        if (read_text(path, buf, sizeof buf) > 0) period = strtod(buf, NULL);
    }
    if (quota > 0 && period > 0) {
        int q = (int)ceil(quota / period);
        if (q < n) n = q;
    }
    return n < 1 ? 1 : n;
}

/* ---- lifecycle ---- */

int fr_pipeline_workers(const fr_pipeline *p) { return p->n_workers; }

static int build_workers(fr_pipeline *p, const fr_model *m, char *err, size_t errlen) {
    const fr_config *c = p->cfg;
    p->workers = calloc((size_t)p->n_workers, sizeof *p->workers);
    p->wake_mask_words = (uint32_t)((p->n_workers + 63) / 64);
    p->to_wake = calloc(p->wake_mask_words, sizeof *p->to_wake);
    if (!p->workers || !p->to_wake) return fr_set_err(err, errlen, FR_ENOMEM, "out of memory (workers)");
    for (int i = 0; i < p->n_workers; i++) {
        fr_worker *w = &p->workers[i];
        w->p = p;
        w->id = i;
        pthread_mutex_init(&w->mu, NULL);
        pthread_cond_init(&w->cv, NULL);
        atomic_init(&w->sleeping, 0);
        w->ring = fr_ring_new((size_t)c->pipeline.ring_capacity);
        w->jobs = calloc(p->batch, sizeof *w->jobs);
        w->slices = calloc(p->batch, sizeof *w->slices);
        w->scored = calloc(p->batch, sizeof *w->scored);
        if (!w->ring || !w->jobs || !w->slices || !w->scored)
            return fr_set_err(err, errlen, FR_ENOMEM, "out of memory (worker %d)", i);
    }
    /* the first model generation: the caller's model, which it keeps */
    if (!(p->gen = fr_mgen_new(p, m, NULL, err, errlen))) return FR_EINVAL;
    atomic_store_explicit(&p->serving_gen, p->gen->id, memory_order_relaxed);
    return 0;
}

int fr_pipeline_new(const fr_config *c, const fr_model *m, const fr_pipeline_opts *o, fr_pipeline **out, char *err,
                    size_t errlen) {
    int rc = 0;
    fr_pipeline *p = calloc(1, sizeof *p);
    if (!p) return fr_set_err(err, errlen, FR_ENOMEM, "out of memory");
    p->cfg = c;
    pthread_mutex_init(&p->kstats_mu, NULL);
    pthread_mutex_init(&p->gens_mu, NULL);
    if (o) p->opts = *o;
    p->n_workers = c->pipeline.workers > 0 ? c->pipeline.workers : fr_cpu_count("/sys/fs/cgroup");
    p->batch = (size_t)c->pipeline.batch_size;
    size_t ring = (size_t)c->pipeline.ring_capacity;
    p->n_jobs = c->pipeline.max_in_flight > 0 ? (size_t)c->pipeline.max_in_flight : 2 * (size_t)p->n_workers * ring;
    if (p->n_jobs < (size_t)p->n_workers * ring) p->n_jobs = (size_t)p->n_workers * ring;
    p->jobs = calloc(p->n_jobs, sizeof *p->jobs);
    p->held_cap = 4096;
    p->held = calloc(p->held_cap, sizeof *p->held);
    if (!p->jobs || !p->held) {
        rc = fr_set_err(err, errlen, FR_ENOMEM, "out of memory (%zu in-flight records)", p->n_jobs);
        goto out;
    }
    for (size_t i = p->n_jobs; i-- > 0;) {
        p->jobs[i].next_free = p->free_jobs;
        p->free_jobs = &p->jobs[i];
    }
    if ((rc = build_workers(p, m, err, errlen))) goto out;
    if ((rc = fr_sink_new(p, err, errlen))) goto out;
    if ((rc = fr_source_new(p, err, errlen))) goto out;
out:
    if (rc) {
        fr_pipeline_free(p);
        p = NULL;
    }
    *out = p;
    return rc;
}

void fr_pipeline_free(fr_pipeline *p) {
    if (!p) return;
    fr_workers_stop(p);
    if (p->consumer) rd_kafka_destroy(p->consumer);
    if (p->out_topic) rd_kafka_topic_destroy(p->out_topic);
    if (p->dlq_topic) rd_kafka_topic_destroy(p->dlq_topic);
    if (p->producer) {
        /* anything still queued here is abandoned: its offset was never stored */
        rd_kafka_purge(p->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_destroy(p->producer);
    }
    for (size_t i = 0; p->held && i < p->held_n; i++) rd_kafka_message_destroy(p->held[(p->held_head + i) % p->held_cap]);
    for (size_t i = 0; p->jobs && i < p->n_jobs; i++)
        if (p->jobs[i].msg) rd_kafka_message_destroy(p->jobs[i].msg);
    for (int i = 0; p->workers && i < p->n_workers; i++) {
        fr_worker *w = &p->workers[i];
        fr_ring_free(w->ring);
        free(w->jobs);
        free(w->slices);
        free(w->scored);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
    }
    for (size_t i = 0; i < p->n_parts; i++)
        if (p->parts[i]) {
            fr_otrack_free(&p->parts[i]->track);
            free(p->parts[i]);
        }
    free(p->parts);
    free(p->workers);
    free(p->to_wake);
    free(p->jobs);
    free(p->held);
    fr_mgens_free_all(p); /* after the workers and every job are gone */
    pthread_mutex_destroy(&p->kstats_mu);
    pthread_mutex_destroy(&p->gens_mu);
    free(p);
}

void fr_pipeline_get_stats(fr_pipeline *p, fr_pipeline_stats *s) {
    memset(s, 0, sizeof *s);
    s->consumed = fr_ctr_get(&p->st_consumed);
    s->results = fr_ctr_get(&p->st_results);
    s->flagged = fr_ctr_get(&p->st_flagged);
    s->dead_letters = fr_ctr_get(&p->st_dead);
    for (int i = 0; i < FR_DEAD__COUNT; i++) {
        s->dead_by_reason[i] = fr_ctr_get(&p->st_dead_reason[i]);
        s->dead_by_class[fr_dead_reason_class(i)] += s->dead_by_reason[i];
    }
    s->produce_retries = fr_ctr_get(&p->st_retries);
    s->delivery_errors = fr_ctr_get(&p->st_delivery_errors);
    s->in_flight = fr_ctr_get(&p->st_in_flight);
    s->pauses = fr_ctr_get(&p->st_pauses);
    s->assigned_partitions = fr_ctr_get(&p->st_assigned);
    s->rebalances = fr_ctr_get(&p->st_rebalances);
    for (int i = 0; i < FR_RELOAD__COUNT; i++) s->model_reloads[i] = fr_ctr_get(&p->st_reloads[i]);
    s->model_generation = atomic_load_explicit(&p->serving_gen, memory_order_relaxed);
    s->latency_sum_ns = fr_ctr_get(&p->st_latency_sum_ns);
    s->e2e_sum_ns = fr_ctr_get(&p->st_e2e_sum_ns);
    for (int i = 0; i < FR_LAT_BUCKETS; i++) {
        s->latency[i] = fr_ctr_get(&p->st_latency[i]);
        s->e2e_latency[i] = fr_ctr_get(&p->st_e2e[i]);
    }
    /* per-worker counters, summed here rather than shared on the hot path */
    for (int w = 0; p->workers && w < p->n_workers; w++) {
        const fr_wcounters *wc = &p->workers[w].wc;
        for (int i = 0; i <= FR_REJ_PREPROCESS; i++) s->rejects[i] += fr_ctr_get(&wc->rejects[i]);
        s->scored += fr_ctr_get(&wc->scored);
        s->batches += fr_ctr_get(&wc->batches);
        s->queue_wait_sum_ns += fr_ctr_get(&wc->queue_wait_sum_ns);
        s->inference_sum_ns += fr_ctr_get(&wc->inference_sum_ns);
        for (int i = 0; i < FR_LAT_BUCKETS; i++) {
            s->queue_wait[i] += fr_ctr_get(&wc->queue_wait[i]);
            s->inference[i] += fr_ctr_get(&wc->inference[i]);
        }
    }
}

void fr_pipeline_worker_stats(fr_pipeline *p, int i, fr_worker_stats *out) {
    fr_worker *w = &p->workers[i];
    out->ring_depth = fr_ring_count(w->ring);
    out->ring_capacity = fr_ring_capacity(w->ring);
    out->busy_ns = fr_ctr_get(&w->wc.busy_ns);
    out->heartbeat_ns = atomic_load_explicit(&w->wc.heartbeat_ns, memory_order_relaxed);
}

int fr_pipeline_alive(fr_pipeline *p, int64_t max_age_ns) {
    int64_t now = fr_now_ns();
    if (now - atomic_load_explicit(&p->heartbeat_ns, memory_order_relaxed) > max_age_ns) return 0;
    for (int i = 0; i < p->n_workers; i++) {
        fr_worker_stats ws;
        fr_pipeline_worker_stats(p, i, &ws);
        if (ws.heartbeat_ns && now - ws.heartbeat_ns > max_age_ns) return 0;
    }
    return 1;
}

int fr_pipeline_ready(fr_pipeline *p, char *why, size_t whylen) {
    if (atomic_load(&p->brokers_down)) {
        snprintf(why, whylen, "all brokers are down");
        return 0;
    }
    if (fr_ctr_get(&p->st_assigned) == 0) {
        snprintf(why, whylen, "no partitions assigned (yet)");
        return 0;
    }
    snprintf(why, whylen, "ready");
    return 1;
}

/* ---- histograms ---- */
int fr_lat_bucket(int64_t ns) {
    /* 4 buckets per power of two from 1 us: bucket upper = 2^(e) * (1 + (s+1)/4) us */
    int64_t us = ns / 1000;
    if (us < 1) return 0;
    int e = 63 - __builtin_clzll((uint64_t)us);
    int s = e >= 2 ? (int)((us >> (e - 2)) & 3) : (int)((us << (2 - e)) & 3);
    int b = 1 + e * 4 + s;
    return b < FR_LAT_BUCKETS ? b : FR_LAT_BUCKETS - 1;
}

int64_t fr_latency_bucket_upper_ns(int i) {
    if (i <= 0) return 1000;
    int e = (i - 1) / 4, s = (i - 1) % 4;
    double us = (double)((int64_t)1 << e) * (1.0 + (s + 1) / 4.0);
    return (int64_t)(us * 1000.0);
}

int64_t fr_latency_quantile_ns(const uint64_t *b, double q) {
    uint64_t total = 0;
    for (int i = 0; i < FR_LAT_BUCKETS; i++) total += b[i];
    if (!total) return 0;
    uint64_t want = (uint64_t)(q * (double)total + 0.5);
    if (want < 1) want = 1;
    uint64_t acc = 0;
    for (int i = 0; i < FR_LAT_BUCKETS; i++) {
        acc += b[i];
        if (acc >= want) return fr_latency_bucket_upper_ns(i);
    }
    return fr_latency_bucket_upper_ns(FR_LAT_BUCKETS - 1);
}

double fr_score_bucket_upper(int i) {
    if (i >= FR_SCORE_BUCKETS - 1) return INFINITY;
    return exp2(-10.0 + i / 4.0);
}

int fr_score_bucket(double score) {
    if (!(score > 0x1p-10)) return 0;
    double k = ceil(4.0 * (log2(score) + 10.0) - 1e-9);
    if (!(k < FR_SCORE_BUCKETS - 1)) return FR_SCORE_BUCKETS - 1;
    return (int)k;
}

static void shutdown_drain(fr_pipeline *p, int64_t deadline, int *timed_out) {
    /* 1. no new records: pause, give back what was not dispatched */
    fr_source_pause(p, 1);
    fr_source_drop_held(p);
    /* 2. wait for the in-flight ones */
    while (p->in_flight && fr_now_ns() < deadline) {
        fr_source_wake_workers(p);
        rd_kafka_poll(p->producer, 5);
        /* keep the group session served; records fetched before the pause are
         * given back (their offsets are not stored, so they are re-read) */
        rd_kafka_message_t *m = rd_kafka_consumer_poll(p->consumer, 0);
        if (m) rd_kafka_message_destroy(m);
    }
    /* 3. workers are idle now (or the deadline passed); stop them, flush */
    fr_workers_stop(p);
    int64_t left_ms = (deadline - fr_now_ns()) / 1000000;
    rd_kafka_flush(p->producer, (int)(left_ms > 0 ? left_ms : 0));
    rd_kafka_poll(p->producer, 0);
    if (p->in_flight) *timed_out = 1;
}

void fr_pipeline_stop(fr_pipeline *p) { atomic_store(&p->stop_requested, 1); }

int fr_pipeline_run(fr_pipeline *p) {
    char err[256];
    int rc = fr_workers_start(p, err, sizeof err);
    if (rc) {
        fr_log(FR_LOG_ERROR, "start_failed", "%s", err);
        return rc;
    }
    fr_log(FR_LOG_INFO, "started",
           "consuming %s as group %s; results to %s, dead letters to %s; %d workers, ring %d, batch %zu, ordering %s%s",
           p->cfg->kafka.input_topic, p->cfg->kafka.group_id, p->cfg->kafka.output_topic,
           p->cfg->kafka.dead_letter_topic, p->n_workers, p->cfg->pipeline.ring_capacity, p->batch,
           fr_ordering_name(p->cfg->pipeline.ordering), p->cfg->pipeline.passthrough ? " (pass-through, no scoring)" : "");
    atomic_store_explicit(&p->heartbeat_ns, fr_now_ns(), memory_order_relaxed);
    int64_t next_store = 0, next_tick = fr_now_ns() + (int64_t)p->opts.tick_ms * 1000000;
    while (!(p->opts.stop && *p->opts.stop) && !atomic_load(&p->stop_requested) && !atomic_load(&p->fatal)) {
        if (atomic_load_explicit(&p->gen_pending, memory_order_relaxed)) fr_mgen_adopt(p);
        fr_source_poll(p, p->in_flight ? 2 : 50);
        int64_t now = fr_now_ns();
        atomic_store_explicit(&p->heartbeat_ns, now, memory_order_relaxed);
        if (now >= next_store) {
            fr_source_store_offsets(p);
            next_store = now + 20 * 1000000;
        }
        if (p->opts.on_tick && p->opts.tick_ms > 0 && now >= next_tick) {
            p->opts.on_tick(p, p->opts.user);
            next_tick = now + (int64_t)p->opts.tick_ms * 1000000;
        }
    }
    int fatal = atomic_load(&p->fatal);
    int64_t t0 = fr_now_ns();
    int64_t deadline = t0 + (int64_t)p->cfg->pipeline.shutdown_timeout_ms * 1000000;
    fr_log(FR_LOG_INFO, "shutdown_started", "%s; draining %zu in-flight records (bound %d ms)",
           fatal ? "fatal error" : "stop requested", p->in_flight, p->cfg->pipeline.shutdown_timeout_ms);
    int timed_out = 0;
    shutdown_drain(p, deadline, &timed_out);
    /* 4. store and commit what was delivered, once the group is not rebalancing */
    fr_source_commit_final(p, deadline);
    /* 5. leave the group */
    rd_kafka_resp_err_t e = rd_kafka_consumer_close(p->consumer);
    if (e) fr_log(FR_LOG_WARN, "close_failed", "%s", rd_kafka_err2str(e));
    fr_pipeline_stats s;
    fr_pipeline_get_stats(p, &s);
    fr_log(timed_out || fatal ? FR_LOG_ERROR : FR_LOG_INFO, "shutdown_complete",
           "in %.0f ms; %" PRIu64 " records consumed, %" PRIu64 " results (%" PRIu64 " flagged), %" PRIu64
           " dead letters, %zu left in flight%s",
           (double)(fr_now_ns() - t0) / 1e6, s.consumed, s.results, s.flagged, s.dead_letters, p->in_flight,
           timed_out ? " (drain timed out: they will be redelivered)" : "");
    return timed_out || fatal ? FR_EIO : 0;
}
