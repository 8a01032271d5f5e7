/* Model generations: how a new model replaces the serving one while records
 * flow, without a lock on the record path.
 *
 * A generation (fr_mgen, src/pipeline/internal.h) is one complete model plus
 * what the workers need to run it: a scorer per worker and per-worker score
 * statistics. It is built whole on the thread that asks for the swap (the
 * reloader, src/reload), never on the run thread or a worker.
 *
 * The protocol, in three steps:
 *   1. Publish. fr_pipeline_swap_model builds the generation, then
 *      exchanges it into p->gen_pending (release; the run thread's exchange
 *      acquires, so every byte of the generation is visible to it). A
 *      pending generation not yet adopted is replaced and freed: it never
 *      served a record.
 *   2. Adopt. The run thread, between two records, takes the pending
 *      generation and makes it p->gen. From then on every dispatched job
 *      carries p->gen in job->gen; the ring push (release) and pop (acquire)
 *      carry that pointer and the generation behind it to the worker. A
 *      worker scores a job with job->gen->scorers[its id], so a micro-batch
 *      that straddles the swap is scored in two runs, each by one complete
 *      model, and a record is never scored by a half-built one.
 *   3. Retire. p->gen->jobs counts the jobs dispatched with a generation and
 *      not yet complete (run thread only: dispatch adds, the delivery
 *      report subtracts). The old generation waits on p->retired until its
 *      count is zero, then is freed on the run thread. A worker touches a
 *      generation only while it holds one of its jobs (and before that job's
 *      produce call), so nothing can use a freed generation.
 * gens_mu orders the run thread's changes to p->gen / p->retired, and the
 * frees, against scrapes (fr_pipeline_models) on other threads. The run
 * thread takes it only when a generation comes or goes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fraudd/err.h"
#include "fraudd/log.h"
#include "pipeline/internal.h"

static const char *const reload_names[FR_RELOAD__COUNT] = {"swapped", "unchanged", "refused", "fetch_failed"};

const char *fr_reload_result_name(fr_reload_result r) {
    return (unsigned)r < FR_RELOAD__COUNT ? reload_names[r] : "unknown";
}

void fr_mgen_free(fr_mgen *g) {
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

fr_mgen *fr_mgen_new(fr_pipeline *p, const fr_model *m, fr_model *owned, char *err, size_t errlen) {
    const fr_config *c = p->cfg;
    fr_mgen *g = calloc(1, sizeof *g);
    if (!g) goto oom;
    g->model = m;
    g->wstats = aligned_alloc(64, (size_t)p->n_workers * sizeof *g->wstats);
    if (!g->wstats) goto oom;
    memset(g->wstats, 0, (size_t)p->n_workers * sizeof *g->wstats);
    snprintf(g->version, sizeof g->version, "%s", fr_model_version(m));
    g->threshold = isnan(c->model.threshold) ? fr_model_threshold(m) : c->model.threshold;
    g->loaded_unix = (double)fr_wall_ms() / 1e3;
    if (!c->pipeline.passthrough) {
        fr_scorer_opts so = {.passthrough = (const char *const *)c->model.passthrough,
                             .np = c->model.n_passthrough,
                             .threshold = c->model.threshold,
                             .max_batch = p->batch,
                             .max_record_bytes = (size_t)c->model.max_record_bytes,
                             .emit_output = c->model.emit_output};
        g->scorers = calloc((size_t)p->n_workers + 1, sizeof *g->scorers);
        if (!g->scorers) goto oom;
        for (int i = 0; i < p->n_workers; i++)
            if (!(g->scorers[i] = fr_scorer_new(m, &so, err, errlen))) {
                fr_mgen_free(g);
                return NULL;
            }
    }
    g->id = atomic_fetch_add(&p->next_gen_id, 1) + 1;
    g->owned = owned; /* only now: a failed build leaves m with the caller */
    return g;
oom:
    fr_mgen_free(g);
    fr_set_err(err, errlen, FR_ENOMEM, "out of memory (model generation)");
    return NULL;
}

int fr_pipeline_swap_model(fr_pipeline *p, fr_model *m, char *err, size_t errlen) {
    fr_mgen *g = fr_mgen_new(p, m, m, err, errlen);
    if (!g) return FR_ENOMEM;
    /* release: the whole generation before the pointer; pairs with the
     * acquire exchange in fr_mgen_adopt */
    fr_mgen *old = atomic_exchange_explicit(&p->gen_pending, g, memory_order_acq_rel);
    fr_mgen_free(old); /* superseded before it served anything */
    return 0;
}

void fr_mgen_adopt(fr_pipeline *p) {
    fr_mgen *g = atomic_exchange_explicit(&p->gen_pending, NULL, memory_order_acq_rel); /* pairs with swap */
    if (!g) return;
    pthread_mutex_lock(&p->gens_mu);
    fr_mgen *old = p->gen;
    p->gen = g;
    atomic_store_explicit(&p->serving_gen, g->id, memory_order_relaxed); /* a statistic: no partner */
    if (old->jobs) {
        old->next = p->retired;
        p->retired = old;
    }
    pthread_mutex_unlock(&p->gens_mu);
    fr_log(FR_LOG_INFO, "model_swapped", "generation %llu: version %s replaces %s (%zu records in flight finish with it)",
           (unsigned long long)g->id, g->version, old->version, old->jobs);
    if (!old->jobs) fr_mgen_free(old);
}

void fr_mgen_release(fr_pipeline *p, fr_mgen *g) {
    if (--g->jobs || g == p->gen) return;
    /* the last record of a retired generation: unlink and free it */
    pthread_mutex_lock(&p->gens_mu);
    for (fr_mgen **pp = &p->retired; *pp; pp = &(*pp)->next)
        if (*pp == g) {
            *pp = g->next;
            break;
        }
    pthread_mutex_unlock(&p->gens_mu);
    fr_log(FR_LOG_DEBUG, "model_retired", "generation %llu (version %s): its last record is done",
           (unsigned long long)g->id, g->version);
    fr_mgen_free(g);
}

void fr_mgens_free_all(fr_pipeline *p) {
    fr_mgen_free(atomic_exchange(&p->gen_pending, NULL));
    while (p->retired) {
        fr_mgen *g = p->retired;
        p->retired = g->next;
        fr_mgen_free(g);
    }
    fr_mgen_free(p->gen);
    p->gen = NULL;
}

void fr_pipeline_count_reload(fr_pipeline *p, fr_reload_result r) {
    if ((unsigned)r < FR_RELOAD__COUNT) fr_ctr_add(&p->st_reloads[r], 1);
}

static void status_of(const fr_pipeline *p, const fr_mgen *g, int serving, fr_model_status *o) {
    memset(o, 0, sizeof *o);
    o->generation = g->id;
    snprintf(o->version, sizeof o->version, "%s", g->version);
    o->threshold = g->threshold;
    o->loaded_unix = g->loaded_unix;
    o->n_features = fr_model_n_features(g->model);
    o->serving = serving;
    uint64_t micro = 0;
    for (int w = 0; w < p->n_workers; w++) {
        for (int i = 0; i < FR_SCORE_BUCKETS; i++) o->scores[i] += fr_ctr_get(&g->wstats[w].scores[i]);
        micro += fr_ctr_get(&g->wstats[w].score_sum_micro);
    }
    o->score_sum = (double)micro / 1e6;
}

int fr_pipeline_models(fr_pipeline *p, fr_model_status *out, int cap) {
    int n = 0;
    pthread_mutex_lock(&p->gens_mu);
    if (p->gen && n < cap) status_of(p, p->gen, 1, &out[n++]);
    for (const fr_mgen *g = p->retired; g && n < cap; g = g->next) status_of(p, g, 0, &out[n++]);
    pthread_mutex_unlock(&p->gens_mu);
    return n;
}
