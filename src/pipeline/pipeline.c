/* Pipeline assembly and lifecycle (include/fraudd/pipeline.h has the map).
 *
 * fr_pipeline_run is the run thread: it starts the workers, then loops
 * fr_source_poll (consume, dispatch, delivery reports), storing offsets,
 * adopting a new model generation when one is published, taking the score
 * drift snapshots (every 100 ms it asks the generations whether one is
 * due), and calling the tick hook, until the stop flag or a fatal error. Shutdown:
 *   1. stop reading the input and give back records not yet dispatched;
 *   2. wait for every in-flight record's delivery report (workers keep
 *      scoring, the producer keeps sending), bounded by shutdown_timeout_ms;
 *   3. stop the workers, flush the producer;
 *   4. wait (bounded by the same deadline) until the group is not in a
 *      rebalance, then store the final offsets and commit them
 *      synchronously (docs/ARCHITECTURE.md, "Why the final commit waits
 *      for the group");
 *   5. close the consumer (leaves the group; the revoke finds nothing left).
 * A watchdog bounds all of it, fr_pipeline_free included: librdkafka's
 * close and destroy calls take no timeout, and a client stuck in one (a
 * fenced producer, a coordinator that never answers) would otherwise keep
 * the process from exiting. If the shutdown is not over FR_SHUTDOWN_GRACE_MS
 * after its deadline, the watchdog logs the step it was in and exits with
 * status 1 (nothing past an undelivered record was committed, so nothing is
 * lost: the next owner reads it again).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fraudd/common.h"
#include "fraudd/err.h"
#include "fraudd/job.h"
#include "fraudd/kafka.h"
#include "fraudd/log.h"
#include "fraudd/mgen.h"
#include "fraudd/pipeline.h"
#include "fraudd/sink.h"
#include "fraudd/source.h"
#include "fraudd/worker.h"

struct fr_pipeline {
    const fr_config *cfg;
    fr_pipeline_opts opts;
    int n_workers;
    size_t batch;
    /* shared by the stages, owned here (constructed in this order, freed in
     * the reverse one) */
    fr_kafka_state kafka; /* both clients' fatal / brokers-down flags and statistics */
    fr_jobs jobs;         /* the in-flight bound */
    fr_mgens gens;        /* model generations */
    int kafka_ok, jobs_ok, gens_ok;
    /* the stages */
    fr_workers *workers;
    fr_sink *sink;
    fr_source *source;
    _Atomic int stop_requested;                    /* fr_pipeline_stop */
    _Atomic int64_t heartbeat_ns;                  /* last run-loop iteration */
    _Atomic uint64_t st_reloads[FR_RELOAD__COUNT]; /* written by the reloader thread only */
    /* the shutdown watchdog (see the top of this file): armed by the run
     * thread when the shutdown starts, disarmed at the end of
     * fr_pipeline_free; step names what the shutdown is doing now */
    pthread_t wd_thread;
    int wd_started;
    pthread_mutex_t wd_mu;
    pthread_cond_t wd_cv;
    int wd_done;                    /* under wd_mu */
    struct timespec wd_until;       /* CLOCK_MONOTONIC */
    _Atomic(const char *) wd_step;
};

/* ---- shutdown watchdog ---- */

#define FR_SHUTDOWN_GRACE_MS 5000 /* after the shutdown deadline: leaving the group, destroying the clients */

static void *watchdog_main(void *arg) {
    fr_pipeline *p = arg;
    pthread_mutex_lock(&p->wd_mu);
    while (!p->wd_done) {
        if (pthread_cond_timedwait(&p->wd_cv, &p->wd_mu, &p->wd_until) == ETIMEDOUT && !p->wd_done) {
            /* fr_log is one write(2), safe while other threads are stuck */
            fr_log(FR_LOG_ERROR, "shutdown_stuck",
                   "the shutdown did not end within pipeline.shutdown_timeout_ms %d ms + %d ms (stuck %s); "
                   "exiting with status 1 (nothing undelivered was committed)",
                   p->cfg->pipeline.shutdown_timeout_ms, FR_SHUTDOWN_GRACE_MS, atomic_load(&p->wd_step));
            _exit(1);
        }
    }
    pthread_mutex_unlock(&p->wd_mu);
    return NULL;
}

/* Arms the watchdog for deadline_ns (fr_now_ns) + the grace. */
static void watchdog_arm(fr_pipeline *p, int64_t deadline_ns) {
    p->wd_until = fr_mono_after_ms((deadline_ns - fr_now_ns()) / 1000000 + FR_SHUTDOWN_GRACE_MS);
    int e = fr_thread_start(&p->wd_thread, watchdog_main, p, "fr:watchdog");
    if (e)
        fr_log(FR_LOG_WARN, "watchdog_failed", "shutdown watchdog thread: %s; the shutdown is not bounded",
               strerror(e));
    else
        p->wd_started = 1;
}

static void watchdog_step(fr_pipeline *p, const char *step) { atomic_store(&p->wd_step, step); }

static void watchdog_disarm(fr_pipeline *p) {
    if (!p->wd_started) return;
    pthread_mutex_lock(&p->wd_mu);
    p->wd_done = 1;
    pthread_cond_signal(&p->wd_cv);
    pthread_mutex_unlock(&p->wd_mu);
    pthread_join(p->wd_thread, NULL);
    p->wd_started = 0;
}

/* ---- lifecycle ---- */

int fr_pipeline_workers(const fr_pipeline *p) { return p->n_workers; }

int fr_pipeline_new(const fr_config *c, const fr_model *m, const fr_pipeline_opts *o, fr_pipeline **out, char *err,
                    size_t errlen) {
    int rc = 0;
    fr_pipeline *p = calloc(1, sizeof *p);
    if (!p) return fr_set_err(err, errlen, FR_ENOMEM, "out of memory");
    p->cfg = c;
    if (o) p->opts = *o;
    pthread_mutex_init(&p->wd_mu, NULL);
    fr_cond_init_monotonic(&p->wd_cv);
    atomic_store(&p->wd_step, "running");
    const char *cgroup = p->opts.cgroup_root ? p->opts.cgroup_root : "/sys/fs/cgroup";
    p->n_workers = c->pipeline.workers > 0 ? c->pipeline.workers : fr_cpu_count(cgroup);
    p->batch = (size_t)c->pipeline.batch_size;
    size_t ring = (size_t)c->pipeline.ring_capacity;
    size_t n_jobs = c->pipeline.max_in_flight > 0 ? (size_t)c->pipeline.max_in_flight : 2 * (size_t)p->n_workers * ring;
    if (n_jobs < (size_t)p->n_workers * ring) n_jobs = (size_t)p->n_workers * ring;
    fr_kafka_state_init(&p->kafka, c->kafka.input_topic);
    p->kafka_ok = 1;
    if (fr_jobs_init(&p->jobs, n_jobs)) {
        rc = fr_set_err(err, errlen, FR_ENOMEM, "out of memory (%zu in-flight records)", n_jobs);
        goto out;
    }
    p->jobs_ok = 1;
    fr_mgen_spec spec = {.champion = (fr_model *)m,
                         .champion_threshold = c->model.threshold,
                         .challenger = (fr_model *)p->opts.challenger,
                         .challenger_threshold = c->model.challenger.threshold,
                         .mode = c->model.challenger.mode,
                         .share = c->model.challenger.share};
    if ((rc = fr_mgens_init(&p->gens, c, p->n_workers, p->batch, &spec, err, errlen))) goto out;
    p->gens_ok = 1;
    if ((rc = fr_sink_new(c, &p->kafka, &p->jobs, &p->gens, &p->sink, err, errlen))) goto out;
    if ((rc = fr_workers_new(c, p->n_workers, p->batch, p->sink, &p->workers, err, errlen))) goto out;
    if ((rc = fr_source_new(c, p->opts.consumer_override, fr_memory_limit(cgroup), &p->kafka, &p->jobs, &p->gens,
                            p->workers, p->sink, &p->source, err, errlen)))
        goto out;
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
    watchdog_step(p, "destroying the clients");
    if (p->workers) fr_workers_stop(p->workers);
    fr_sink_free(p->sink); /* abandons what is still queued: no delivery report touches a job after this */
    /* the input records of jobs still in flight (a drain that timed out, a
     * fatal error, a blocked record) before the consumer: rd_kafka_destroy waits for all of
     * its messages to be destroyed */
    if (p->jobs_ok) fr_jobs_destroy(&p->jobs);
    fr_source_free(p->source); /* records held but not dispatched, then the consumer */
    fr_workers_free(p->workers);
    if (p->gens_ok) fr_mgens_destroy(&p->gens); /* after the workers and every job are gone */
    if (p->kafka_ok) fr_kafka_state_destroy(&p->kafka);
    watchdog_disarm(p);
    pthread_mutex_destroy(&p->wd_mu);
    pthread_cond_destroy(&p->wd_cv);
    free(p);
}

/* ---- statistics, health ---- */

void fr_pipeline_get_stats(fr_pipeline *p, fr_stats *s) {
    memset(s, 0, sizeof *s);
    fr_source_stats(p->source, s);
    fr_sink_stats(p->sink, s);
    fr_workers_add_stats(p->workers, s);
    s->in_flight = fr_ctr_get(&p->jobs.in_flight_a);
    for (int i = 0; i < FR_RELOAD__COUNT; i++) s->model_reloads[i] = fr_ctr_get(&p->st_reloads[i]);
    s->model_generation = atomic_load_explicit(&p->gens.serving_id, memory_order_relaxed);
}

int fr_pipeline_alive(fr_pipeline *p, int64_t max_age_ns) {
    int64_t now = fr_now_ns();
    if (now - atomic_load_explicit(&p->heartbeat_ns, memory_order_relaxed) > max_age_ns) return 0;
    for (int i = 0; i < p->n_workers; i++) {
        fr_worker_stats ws;
        fr_workers_stats(p->workers, i, &ws);
        if (ws.heartbeat_ns && now - ws.heartbeat_ns > max_age_ns) return 0;
    }
    return 1;
}

int fr_pipeline_ready(fr_pipeline *p, char *why, size_t whylen) {
    if (atomic_load(&p->kafka.brokers_down)) {
        snprintf(why, whylen, "all brokers are down");
        return 0;
    }
    if (fr_sink_blocked(p->sink, why, whylen)) return 0; /* a destination refuses records: they wait */
    if (!fr_source_ready(p->source, why, whylen)) return 0; /* exactly_once: transactions keep failing */
    fr_stats s;
    memset(&s, 0, sizeof s);
    fr_source_stats(p->source, &s);
    if (s.assigned_partitions == 0) {
        snprintf(why, whylen, "no partitions assigned (yet)");
        return 0;
    }
    snprintf(why, whylen, "ready");
    return 1;
}

void fr_pipeline_metrics(fr_pipeline *p, fr_metrics_view *v) {
    char why[128];
    v->have_pipeline = 1;
    v->ready = fr_pipeline_ready(p, why, sizeof why);
    fr_pipeline_get_stats(p, &v->stats);
    v->n_models = fr_mgens_status(&p->gens, v->models, FR_METRICS_MAX_MODELS);
    v->n_shadows = fr_mgens_shadow_status(&p->gens, v->shadows, (int)(sizeof v->shadows / sizeof v->shadows[0]));
    v->n_workers = p->n_workers < FR_METRICS_MAX_WORKERS ? p->n_workers : FR_METRICS_MAX_WORKERS;
    for (int i = 0; i < v->n_workers; i++) fr_workers_stats(p->workers, i, &v->workers[i]);
    fr_kafka_state_stats(&p->kafka, &v->kafka);
    v->n_stalls = fr_source_stalls(p->source, fr_now_ns(), v->stalls, FR_KSTATS_MAX_PARTITIONS);
}

/* ---- model generations ---- */

int fr_pipeline_swap_model(fr_pipeline *p, fr_model *m, char *err, size_t errlen) {
    fr_mgen_spec spec = {.champion = m, .champion_threshold = p->cfg->model.threshold, .challenger_threshold = NAN};
    int rc = fr_mgens_publish(&p->gens, &spec, err, errlen);
    if (!rc) fr_model_free(m); /* the generation holds its own reference */
    return rc;
}

int fr_pipeline_swap(fr_pipeline *p, const fr_mgen_spec *spec, char *err, size_t errlen) {
    return fr_mgens_publish(&p->gens, spec, err, errlen);
}

void fr_pipeline_count_reload(fr_pipeline *p, fr_reload_result r) {
    if ((unsigned)r < FR_RELOAD__COUNT) fr_ctr_add(&p->st_reloads[r], 1);
}

/* ---- the run thread ---- */

void fr_pipeline_stop(fr_pipeline *p) { atomic_store(&p->stop_requested, 1); }

int fr_pipeline_run(fr_pipeline *p) {
    char err[256];
    int rc = fr_workers_start(p->workers, err, sizeof err);
    if (rc) {
        fr_log(FR_LOG_ERROR, "start_failed", "%s", err);
        return rc;
    }
    fr_log(FR_LOG_INFO, "started",
           "consuming %s as group %s; results to %s, dead letters to %s; %d workers, ring %d, batch %zu, ordering %s, "
           "delivery %s%s",
           p->cfg->kafka.input_topic, p->cfg->kafka.group_id, p->cfg->kafka.output_topic,
           p->cfg->kafka.dead_letter_topic, p->n_workers, p->cfg->pipeline.ring_capacity, p->batch,
           fr_ordering_name(p->cfg->pipeline.ordering), fr_guarantee_name(p->cfg->kafka.delivery),
           p->cfg->pipeline.passthrough ? " (pass-through, no scoring)" : "");
    atomic_store_explicit(&p->heartbeat_ns, fr_now_ns(), memory_order_relaxed);
    int64_t next_store = 0, next_drift = 0, next_tick = fr_now_ns() + (int64_t)p->opts.tick_ms * 1000000;
    while (!(p->opts.stop && *p->opts.stop) && !atomic_load(&p->stop_requested) && !atomic_load(&p->kafka.fatal)) {
        if (fr_mgens_pending(&p->gens)) fr_mgens_adopt(&p->gens);
        fr_source_poll(p->source, p->jobs.in_flight ? 2 : 50);
        int64_t now = fr_now_ns();
        atomic_store_explicit(&p->heartbeat_ns, now, memory_order_relaxed);
        if (now >= next_store) {
            fr_source_store_offsets(p->source);
            next_store = now + 20 * 1000000;
        }
        if (now >= next_drift) {
            /* the score drift windows' snapshots (include/fraudd/mgen.h) */
            fr_mgens_drift_step(&p->gens, now);
            next_drift = now + 100 * 1000000;
        }
        if (p->opts.on_tick && p->opts.tick_ms > 0 && now >= next_tick) {
            p->opts.on_tick(p, p->opts.user);
            next_tick = now + (int64_t)p->opts.tick_ms * 1000000;
        }
    }
    int fatal = atomic_load(&p->kafka.fatal);
    int64_t t0 = fr_now_ns();
    int64_t deadline = t0 + (int64_t)p->cfg->pipeline.shutdown_timeout_ms * 1000000;
    fr_log(FR_LOG_INFO, "shutdown_started", "%s; draining %zu in-flight records (bound %d ms)",
           fatal ? "fatal error" : "stop requested", p->jobs.in_flight, p->cfg->pipeline.shutdown_timeout_ms);
    watchdog_arm(p, deadline);
    /* 1-2. stop reading, give back held records, wait for the in-flight ones */
    watchdog_step(p, "draining");
    fr_source_drain(p->source, deadline);
    /* 3. workers are idle now (or the deadline passed); stop them, flush */
    watchdog_step(p, "stopping the workers and flushing the producer");
    fr_workers_stop(p->workers);
    int64_t left_ms = (deadline - fr_now_ns()) / 1000000;
    fr_sink_flush(p->sink, (int)(left_ms > 0 ? left_ms : 0));
    int timed_out = p->jobs.in_flight != 0;
    /* 4. store and commit what was delivered, once the group is not rebalancing
     * (exactly_once: commit the last transaction; exit 1 if it cannot) */
    watchdog_step(p, "in the final commit");
    int commit_rc = fr_source_commit_final(p->source, deadline);
    int eos_failed = p->cfg->kafka.delivery == FR_EXACTLY_ONCE && commit_rc;
    /* 5. leave the group */
    watchdog_step(p, "leaving the group (closing the consumer)");
    fr_source_close(p->source);
    watchdog_step(p, "after the pipeline run (HTTP server, model reloader, freeing)");
    fr_stats s;
    fr_pipeline_get_stats(p, &s);
    fr_log(timed_out || fatal || eos_failed ? FR_LOG_ERROR : FR_LOG_INFO, "shutdown_complete",
           "in %.0f ms; %" PRIu64 " records consumed, %" PRIu64 " results (%" PRIu64 " flagged), %" PRIu64
           " dead letters, %zu left in flight%s",
           (double)(fr_now_ns() - t0) / 1e6, s.consumed, s.results, s.flagged, s.dead_letters, p->jobs.in_flight,
           timed_out ? " (drain timed out: they will be redelivered)" : "");
    return timed_out || fatal || eos_failed ? FR_EIO : 0;
}
