/* The reloader thread (include/fraudd/reload.h has the flow).
 *
 * One thread, started after the pipeline, with every signal blocked. It
 * sleeps on a condition variable until model.reload_interval_ms passes
 * (0: never) or fr_reloader_request asks (SIGHUP, forwarded by the run
 * thread), then runs one check:
 *   fetch  -> unchanged (same file identity, 304, or the bytes of the
 *             serving / last refused model): counted, nothing else
 *          -> failed: counted, logged, the serving model stays
 *   check  -> refused: counted, logged with the reason, remembered by
 *             digest so an unchanged bad model is not re-logged every poll
 *   swap   -> swapped: the pipeline takes the model (fr_pipeline_swap_model)
 * The reloader alone swaps models, so the serving model it compares with
 * stays alive until its own next swap (and not one moment longer: after
 * fr_pipeline_swap_model the run thread may free it).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fraudd/common.h"
#include "fraudd/err.h"
#include "fraudd/log.h"
#include "fraudd/reload.h"

struct fr_reloader {
    fr_pipeline *p;
    const fr_config *cfg;
    fr_model_src *src;
    const fr_model *serving;   /* owned by the pipeline; replaced only by this thread */
    uint64_t serving_digest;
    uint64_t refused_digest;   /* the last refused model's bytes, 0 = none */
    pthread_t thread;
    int started;
    pthread_mutex_t mu;        /* guards the two flags below */
    pthread_cond_t cv;
    int requested;             /* fr_reloader_request since the last check */
    int stop;
};

static void check_once(fr_reloader *r, int forced) {
    char err[1024];
    unsigned char *buf = NULL;
    size_t len = 0;
    const char *name = fr_model_src_name(r->src);
    int rc = fr_model_src_fetch(r->src, forced, &buf, &len, err, sizeof err);
    if (rc == FR_SRC_UNCHANGED) {
        fr_pipeline_count_reload(r->p, FR_RELOAD_UNCHANGED);
        return;
    }
    if (rc) {
        fr_pipeline_count_reload(r->p, FR_RELOAD_FETCH_FAILED);
        fr_log(FR_LOG_WARN, "model_fetch_failed", "%s; version %s keeps serving", err, fr_model_version(r->serving));
        return;
    }
    uint64_t d = fr_model_digest(buf, len);
    if (d == r->serving_digest || (!forced && d == r->refused_digest)) {
        free(buf);
        fr_pipeline_count_reload(r->p, FR_RELOAD_UNCHANGED);
        if (forced) fr_log(FR_LOG_INFO, "model_unchanged", "%s holds the serving model %s", name, fr_model_version(r->serving));
        return;
    }
    fr_model *m = NULL;
    int64_t t0 = fr_now_ns();
    rc = fr_model_check(buf, len, name, r->serving, r->cfg, &m, err, sizeof err);
    free(buf);
    /* once swapped, the run thread may free the old generation (and the
     * serving model with it) as soon as its last record is done: copy what
     * the log line needs first */
    char old_version[256];
    snprintf(old_version, sizeof old_version, "%s", fr_model_version(r->serving));
    if (!rc && (rc = fr_pipeline_swap_model(r->p, m, err, sizeof err)) != 0) fr_model_free(m);
    if (rc) {
        r->refused_digest = d;
        fr_pipeline_count_reload(r->p, FR_RELOAD_REFUSED);
        /* compile errors name the source already */
        int named = !strncmp(err, name, strlen(name));
        fr_log(FR_LOG_ERROR, "model_refused", "%s%s%s; version %s keeps serving", named ? "" : name, named ? "" : ": ", err,
               fr_model_version(r->serving));
        return;
    }
    fr_log(FR_LOG_INFO, "model_reloaded", "%s: version %s (%zu features) checked in %.1f ms, replacing %s", name,
           fr_model_version(m), fr_model_n_features(m), (double)(fr_now_ns() - t0) / 1e6, old_version);
    r->serving = m; /* the pipeline owns it now; only this thread swaps it out */
    r->serving_digest = d;
    fr_pipeline_count_reload(r->p, FR_RELOAD_SWAPPED);
}

static void *reloader_main(void *arg) {
    fr_reloader *r = arg;
    int interval = r->cfg->model.reload_interval_ms;
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        if (!r->requested) {
            if (interval > 0) {
                struct timespec ts = fr_mono_after_ms(interval);
                while (!r->stop && !r->requested)
                    if (pthread_cond_timedwait(&r->cv, &r->mu, &ts) == ETIMEDOUT) break;
            } else {
                while (!r->stop && !r->requested) pthread_cond_wait(&r->cv, &r->mu);
            }
        }
        if (r->stop) break;
        int forced = r->requested;
        r->requested = 0;
        pthread_mutex_unlock(&r->mu);
        check_once(r, forced);
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

int fr_reloader_start(fr_pipeline *p, const fr_config *c, fr_model_src *src, const fr_model *serving,
                      uint64_t serving_digest, fr_reloader **out, char *err, size_t errlen) {
    *out = NULL;
    fr_reloader *r = calloc(1, sizeof *r);
    if (!r) {
        fr_model_src_free(src);
        return fr_set_err(err, errlen, FR_ENOMEM, "out of memory (reloader)");
    }
    r->p = p;
    r->cfg = c;
    r->src = src;
    r->serving = serving;
    r->serving_digest = serving_digest;
    pthread_mutex_init(&r->mu, NULL);
    fr_cond_init_monotonic(&r->cv);
    int e = fr_thread_start(&r->thread, reloader_main, r, "fr:reload"); /* signals stay with the run thread */
    if (e) {
        fr_reloader_stop(r);
        return fr_set_err(err, errlen, FR_ENOMEM, "starting the reloader: %s", strerror(e));
    }
    r->started = 1;
    *out = r;
    return 0;
}

/* Sets one of the thread's flags (requested, stop) and wakes it. */
static void raise_flag(fr_reloader *r, int *flag) {
    pthread_mutex_lock(&r->mu);
    *flag = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

void fr_reloader_request(fr_reloader *r) {
    if (r) raise_flag(r, &r->requested);
}

void fr_reloader_stop(fr_reloader *r) {
    if (!r) return;
    raise_flag(r, &r->stop);
    if (r->started) pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    fr_model_src_free(r->src);
    free(r);
}
