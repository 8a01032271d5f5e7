/* Model generations (include/fraudd/mgen.h has the protocol). */
#include "fraudd/mgen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fraudd/common.h"
#include "fraudd/err.h"
#include "fraudd/log.h"

static void mgen_free(fr_mgen *g) {
    if (!g) return;
    if (g->scorers) {
        /* n_workers is not stored: scorers[] is NULL-terminated */
        for (size_t i = 0; g->scorers[i]; i++) fr_scorer_free(g->scorers[i]);
        free(g->scorers);
    }
    free(g->wstats);
    fr_model_free(g->owned);
    free(g);
}

static fr_mgen *mgen_new(fr_mgens *s, const fr_model *m, fr_model *owned, char *err, size_t errlen) {
    const fr_config *c = s->cfg;
    fr_mgen *g = calloc(1, sizeof *g);
    if (!g) goto oom;
    g->model = m;
    g->wstats = aligned_alloc(64, (size_t)s->n_workers * sizeof *g->wstats);
    if (!g->wstats) goto oom;
    memset(g->wstats, 0, (size_t)s->n_workers * sizeof *g->wstats);
    snprintf(g->version, sizeof g->version, "%s", fr_model_version(m));
    g->threshold = isnan(c->model.threshold) ? fr_model_threshold(m) : c->model.threshold;
    g->loaded_unix = (double)fr_wall_ms() / 1e3;
    /* score drift: only a model with a reference histogram that scores (not
     * the pass-through benchmark baseline) */
    g->drift.bins = c->pipeline.passthrough ? 0 : fr_model_score_bins(m, &g->drift.edges, &g->drift.expected);
    if (g->drift.bins > FR_DRIFT_MAX_BINS) g->drift.bins = 0; /* the loader refuses more */
    fr_drift_init(&g->drift.win, g->drift.bins, (int64_t)c->metrics.drift_window_s * 1000000000, fr_now_ns());
    if (!c->pipeline.passthrough) {
        fr_scorer_opts so = {.passthrough = (const char *const *)c->model.passthrough,
                             .np = c->model.n_passthrough,
                             .threshold = c->model.threshold,
                             .max_batch = s->batch,
                             .max_record_bytes = (size_t)c->model.max_record_bytes,
                             .emit_output = c->model.emit_output};
        g->scorers = calloc((size_t)s->n_workers + 1, sizeof *g->scorers);
        if (!g->scorers) goto oom;
        for (int i = 0; i < s->n_workers; i++)
            if (!(g->scorers[i] = fr_scorer_new(m, &so, err, errlen))) {
                mgen_free(g);
                return NULL;
            }
    }
    g->id = atomic_fetch_add(&s->next_id, 1) + 1;
    g->owned = owned; /* only now: a failed build leaves m with the caller */
    return g;
oom:
    mgen_free(g);
    fr_set_err(err, errlen, FR_ENOMEM, "out of memory (model generation)");
    return NULL;
}

int fr_mgens_init(fr_mgens *s, const fr_config *c, int n_workers, size_t batch, const fr_model *m, char *err,
                  size_t errlen) {
    memset(s, 0, sizeof *s);
    s->cfg = c;
    s->n_workers = n_workers;
    s->batch = batch;
    atomic_init(&s->pending, NULL);
    atomic_init(&s->next_id, 0);
    pthread_mutex_init(&s->mu, NULL);
    /* the first model generation: the caller's model, which it keeps */
    if (!(s->gen = mgen_new(s, m, NULL, err, errlen))) return FR_EINVAL;
    atomic_init(&s->serving_id, s->gen->id);
    return 0;
}

void fr_mgens_destroy(fr_mgens *s) {
    mgen_free(atomic_exchange(&s->pending, NULL));
    while (s->retired) {
        fr_mgen *g = s->retired;
        s->retired = g->next;
        mgen_free(g);
    }
    mgen_free(s->gen);
    s->gen = NULL;
    pthread_mutex_destroy(&s->mu);
}

int fr_mgens_publish(fr_mgens *s, fr_model *m, char *err, size_t errlen) {
    fr_mgen *g = mgen_new(s, m, m, err, errlen);
    if (!g) return FR_ENOMEM;
    /* release: the whole generation before the pointer; pairs with the
     * acquire exchange in fr_mgens_adopt */
    fr_mgen *old = atomic_exchange_explicit(&s->pending, g, memory_order_acq_rel);
    mgen_free(old); /* superseded before it served anything */
    return 0;
}

void fr_mgens_adopt(fr_mgens *s) {
    fr_mgen *g = atomic_exchange_explicit(&s->pending, NULL, memory_order_acq_rel); /* pairs with publish */
    if (!g) return;
    pthread_mutex_lock(&s->mu);
    fr_mgen *old = s->gen;
    s->gen = g;
    atomic_store_explicit(&s->serving_id, g->id, memory_order_relaxed); /* a statistic: no partner */
    if (old->jobs) {
        old->next = s->retired;
        s->retired = old;
    }
    pthread_mutex_unlock(&s->mu);
    fr_log(FR_LOG_INFO, "model_swapped",
           "generation %llu: version %s replaces %s (%zu records in flight finish with it)", (unsigned long long)g->id,
           g->version, old->version, old->jobs);
    if (!old->jobs) mgen_free(old);
}

void fr_mgens_release(fr_mgens *s, fr_mgen *g) {
    if (--g->jobs || g == s->gen) return;
    /* the last record of a retired generation: unlink and free it */
    pthread_mutex_lock(&s->mu);
    for (fr_mgen **pp = &s->retired; *pp; pp = &(*pp)->next)
        if (*pp == g) {
            *pp = g->next;
            break;
        }
    pthread_mutex_unlock(&s->mu);
    fr_log(FR_LOG_DEBUG, "model_retired", "generation %llu (version %s): its last record is done",
           (unsigned long long)g->id, g->version);
    mgen_free(g);
}

/* g's cumulative drift counts now, summed over the workers, into cum[0..k). */
static void drift_counts(const fr_mgens *s, const fr_mgen *g, uint64_t *cum) {
    memset(cum, 0, g->drift.bins * sizeof *cum);
    for (int w = 0; w < s->n_workers; w++)
        for (size_t i = 0; i < g->drift.bins; i++) cum[i] += fr_ctr_get(&g->wstats[w].drift[i]);
}

static void drift_step(fr_mgens *s, fr_mgen *g, int64_t now_ns) {
    uint64_t cum[FR_DRIFT_MAX_BINS];
    if (!g->drift.bins || now_ns < g->drift.win.next_ns) return;
    drift_counts(s, g, cum);
    fr_drift_step(&g->drift.win, cum, now_ns);
}

void fr_mgens_drift_step(fr_mgens *s, int64_t now_ns) {
    pthread_mutex_lock(&s->mu);
    if (s->gen) drift_step(s, s->gen, now_ns);
    for (fr_mgen *g = s->retired; g; g = g->next) drift_step(s, g, now_ns);
    pthread_mutex_unlock(&s->mu);
}

static void status_of(const fr_mgens *s, const fr_mgen *g, int serving, fr_model_status *o) {
    memset(o, 0, sizeof *o);
    o->generation = g->id;
    snprintf(o->version, sizeof o->version, "%s", g->version);
    o->threshold = g->threshold;
    o->loaded_unix = g->loaded_unix;
    o->n_features = fr_model_n_features(g->model);
    o->serving = serving;
    uint64_t micro = 0;
    for (int w = 0; w < s->n_workers; w++) {
        for (int i = 0; i < FR_SCORE_BUCKETS; i++) o->scores[i] += fr_ctr_get(&g->wstats[w].scores[i]);
        micro += fr_ctr_get(&g->wstats[w].score_sum_micro);
    }
    o->score_sum = (double)micro / 1e6;
    o->psi = NAN;
    if (g->drift.bins) {
        uint64_t cum[FR_DRIFT_MAX_BINS], win[FR_DRIFT_MAX_BINS];
        drift_counts(s, g, cum);
        o->has_drift = 1;
        o->psi_records = fr_drift_window(&g->drift.win, cum, win);
        if (o->psi_records >= (uint64_t)s->cfg->metrics.drift_min_records && o->psi_records > 0)
            o->psi = fr_psi(g->drift.expected, win, g->drift.bins);
    }
}

int fr_mgens_status(fr_mgens *s, fr_model_status *out, int cap) {
    int n = 0;
    pthread_mutex_lock(&s->mu);
    if (s->gen && n < cap) status_of(s, s->gen, 1, &out[n++]);
    for (const fr_mgen *g = s->retired; g && n < cap; g = g->next) status_of(s, g, 0, &out[n++]);
    pthread_mutex_unlock(&s->mu);
    return n;
}
