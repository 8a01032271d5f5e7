/* Model generations (include/fraudd/mgen.h has the protocol).
 *
 * A generation holds one or two models (champion, challenger), each with a
 * scorer per worker. Score statistics belong to a model, not to a
 * generation: s->stats keeps one entry per model, shared by every live
 * generation that holds it, so a model that carries over into the next
 * generation (the champion while only the challenger changes; a challenger
 * promoted to champion) keeps counting in the same series.
 */
#include "fraudd/mgen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fraudd/common.h"
#include "fraudd/err.h"
#include "fraudd/log.h"

/* The canary's key hash (docs/DEPLOY.md gives it, so a user can tell
 * which cards a canary serves): FNV-1a 64 of the key's bytes, then
 * MurmurHash3's 64-bit finalizer. FNV-1a alone leaves its top bits almost
 * untouched by the last bytes of a key, and keys such as "card-17" and
 * "card-18" differ only there. */
static uint64_t key_hash(const void *p, size_t n) {
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

int fr_mgen_role_for_key(const fr_mgen *g, const void *key, size_t len) {
    if (!key || !g->m[FR_ROLE_CHALLENGER].model || g->mode != FR_CHALLENGER_CANARY) return FR_ROLE_CHAMPION;
    return (key_hash(key, len) >> 11) < g->canary_below ? FR_ROLE_CHALLENGER : FR_ROLE_CHAMPION;
}

/* n_workers zeroed entries of size each, a cache line apart; NULL when out
 * of memory. */
static void *per_worker(const fr_mgens *s, size_t each) {
    void *p = aligned_alloc(64, (size_t)s->n_workers * each);
    if (p) memset(p, 0, (size_t)s->n_workers * each);
    return p;
}

/* ---- per-model statistics (under s->mu) ---- */

static fr_mgen_stats *stats_get(fr_mgens *s, const fr_model *m) {
    fr_mgen_stats *st;
    pthread_mutex_lock(&s->mu);
    for (st = s->stats; st; st = st->next)
        if (st->model == m) {
            st->refs++;
            break;
        }
    if (!st && (st = calloc(1, sizeof *st)) != NULL) {
        if (!(st->w = per_worker(s, sizeof *st->w))) {
            free(st);
            st = NULL;
        } else {
            st->model = m;
            /* score drift: only a model with a reference histogram that scores
             * (not the pass-through benchmark baseline) */
            const fr_config *c = s->cfg;
            fr_mgen_drift *d = &st->drift;
            d->bins = c->pipeline.passthrough ? 0 : fr_model_score_bins(m, &d->edges, &d->expected);
            if (d->bins > FR_DRIFT_MAX_BINS) d->bins = 0; /* the loader refuses more */
            fr_drift_init(&d->win, d->bins, (int64_t)c->metrics.drift_window_s * 1000000000, fr_now_ns());
            st->refs = 1;
            st->next = s->stats;
            s->stats = st;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return st;
}

static void stats_put(fr_mgens *s, fr_mgen_stats *st) {
    if (!st) return;
    pthread_mutex_lock(&s->mu);
    if (--st->refs == 0) {
        for (fr_mgen_stats **pp = &s->stats; *pp; pp = &(*pp)->next)
            if (*pp == st) {
                *pp = st->next;
                break;
            }
        free(st->w);
        free(st);
    }
    pthread_mutex_unlock(&s->mu);
}

/* ---- shadow pairs (under s->mu) ---- */

static fr_mgen_pair *pair_get(fr_mgens *s, const char *champion, const char *challenger) {
    fr_mgen_pair *pr;
    size_t n = 0;
    pthread_mutex_lock(&s->mu);
    for (pr = s->pairs; pr; pr = pr->next, n++)
        if (!strcmp(pr->champion, champion) && !strcmp(pr->challenger, challenger)) {
            pr->refs++;
            break;
        }
    if (!pr && n >= FR_MGEN_MAX_PAIRS) { /* drop the oldest no generation holds */
        fr_mgen_pair **victim = NULL;
        for (fr_mgen_pair **pp = &s->pairs; *pp; pp = &(*pp)->next)
            if (!(*pp)->refs) victim = pp;
        if (victim) {
            fr_mgen_pair *v = *victim;
            *victim = v->next;
            free(v->w);
            free(v);
        }
    }
    if (!pr && (pr = calloc(1, sizeof *pr)) != NULL) {
        if (!(pr->w = per_worker(s, sizeof *pr->w))) {
            free(pr);
            pr = NULL;
        } else {
            snprintf(pr->champion, sizeof pr->champion, "%s", champion);
            snprintf(pr->challenger, sizeof pr->challenger, "%s", challenger);
            pr->refs = 1;
            pr->next = s->pairs;
            s->pairs = pr;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return pr;
}

static void pair_put(fr_mgens *s, fr_mgen_pair *pr) {
    if (!pr) return;
    pthread_mutex_lock(&s->mu);
    pr->refs--; /* kept: its counters outlive the generations that count into them */
    pthread_mutex_unlock(&s->mu);
}

/* ---- generations ---- */

static void model_free(fr_mgens *s, fr_mgen_model *mm) {
    if (mm->scorers) {
        /* n_workers is not stored: scorers[] is NULL-terminated */
        for (size_t i = 0; mm->scorers[i]; i++) fr_scorer_free(mm->scorers[i]);
        free(mm->scorers);
    }
    stats_put(s, mm->stats);
    fr_model_free(mm->model);
    memset(mm, 0, sizeof *mm);
}

static void mgen_free(fr_mgens *s, fr_mgen *g) {
    if (!g) return;
    model_free(s, &g->m[FR_ROLE_CHAMPION]);
    model_free(s, &g->m[FR_ROLE_CHALLENGER]);
    pair_put(s, g->pair);
    free(g);
}

/* Fills mm for model m: a reference, its scorers, its statistics. The
 * shadow's scorer writes only the score part of a result (no pass-through
 * fields, no outputs): it goes inside the champion's. */
static int model_init(fr_mgens *s, fr_mgen_model *mm, fr_model *m, double threshold, int shadow, char *err,
                      size_t errlen) {
    const fr_config *c = s->cfg;
    mm->model = fr_model_retain(m);
    snprintf(mm->version, sizeof mm->version, "%s", fr_model_version(m));
    mm->threshold = isnan(threshold) ? fr_model_threshold(m) : threshold;
    if (!(mm->stats = stats_get(s, m))) return fr_set_err(err, errlen, FR_ENOMEM, "out of memory (model generation)");
    if (c->pipeline.passthrough) return 0;
    fr_scorer_opts so = {.passthrough = shadow ? NULL : (const char *const *)c->model.passthrough,
                         .np = shadow ? 0 : c->model.n_passthrough,
                         .threshold = threshold,
                         .max_batch = s->batch,
                         .max_record_bytes = (size_t)c->model.max_record_bytes,
                         .emit_output = shadow ? 0 : c->model.emit_output};
    if (!(mm->scorers = calloc((size_t)s->n_workers + 1, sizeof *mm->scorers)))
        return fr_set_err(err, errlen, FR_ENOMEM, "out of memory (model generation)");
    for (int i = 0; i < s->n_workers; i++)
        if (!(mm->scorers[i] = fr_scorer_new(m, &so, err, errlen))) return FR_EINVAL;
    return 0;
}

static fr_mgen *mgen_new(fr_mgens *s, const fr_mgen_spec *sp, char *err, size_t errlen) {
    fr_mgen *g = calloc(1, sizeof *g);
    if (!g) {
        fr_set_err(err, errlen, FR_ENOMEM, "out of memory (model generation)");
        return NULL;
    }
    int shadow = sp->challenger && sp->mode == FR_CHALLENGER_SHADOW;
    if (model_init(s, &g->m[FR_ROLE_CHAMPION], sp->champion, sp->champion_threshold, 0, err, errlen)) goto fail;
    if (sp->challenger) {
        if (model_init(s, &g->m[FR_ROLE_CHALLENGER], sp->challenger, sp->challenger_threshold, shadow, err, errlen))
            goto fail;
        g->mode = sp->mode;
        g->share = sp->mode == FR_CHALLENGER_CANARY ? sp->share : 1.0;
        /* keys hash to 53 bits: below share x 2^53 is the challenger's */
        g->canary_below = (uint64_t)ldexp(g->share, 53);
        if (shadow && !(g->pair = pair_get(s, g->m[FR_ROLE_CHAMPION].version, g->m[FR_ROLE_CHALLENGER].version))) {
            fr_set_err(err, errlen, FR_ENOMEM, "out of memory (model generation)");
            goto fail;
        }
    }
    g->loaded_unix = (double)fr_wall_ms() / 1e3;
    g->id = atomic_fetch_add(&s->next_id, 1) + 1;
    return g;
fail:
    mgen_free(s, g);
    return NULL;
}

int fr_mgens_init(fr_mgens *s, const fr_config *c, int n_workers, size_t batch, const fr_mgen_spec *spec, char *err,
                  size_t errlen) {
    memset(s, 0, sizeof *s);
    s->cfg = c;
    s->n_workers = n_workers;
    s->batch = batch;
    atomic_init(&s->pending, NULL);
    atomic_init(&s->next_id, 0);
    pthread_mutex_init(&s->mu, NULL);
    if (!(s->gen = mgen_new(s, spec, err, errlen))) {
        pthread_mutex_destroy(&s->mu);
        return FR_EINVAL;
    }
    atomic_init(&s->serving_id, s->gen->id);
    return 0;
}

void fr_mgens_destroy(fr_mgens *s) {
    mgen_free(s, atomic_exchange(&s->pending, NULL));
    while (s->retired) {
        fr_mgen *g = s->retired;
        s->retired = g->next;
        mgen_free(s, g);
    }
    mgen_free(s, s->gen);
    s->gen = NULL;
    while (s->pairs) {
        fr_mgen_pair *pr = s->pairs;
        s->pairs = pr->next;
        free(pr->w);
        free(pr);
    }
    pthread_mutex_destroy(&s->mu);
}

int fr_mgens_publish(fr_mgens *s, const fr_mgen_spec *spec, char *err, size_t errlen) {
    fr_mgen *g = mgen_new(s, spec, err, errlen);
    if (!g) return FR_ENOMEM;
    /* release: the whole generation before the pointer; pairs with the
     * acquire exchange in fr_mgens_adopt */
    fr_mgen *old = atomic_exchange_explicit(&s->pending, g, memory_order_acq_rel);
    mgen_free(s, old); /* superseded before it served anything */
    return 0;
}

/* "version A" or "version A with shadow|canary B" into dst. */
static void describe(const fr_mgen *g, char *dst, size_t cap) {
    const fr_mgen_model *ch = &g->m[FR_ROLE_CHALLENGER];
    if (!ch->model)
        snprintf(dst, cap, "version %s", g->m[FR_ROLE_CHAMPION].version);
    else if (g->mode == FR_CHALLENGER_CANARY)
        snprintf(dst, cap, "version %s with canary %s (%g of keys)", g->m[FR_ROLE_CHAMPION].version, ch->version,
                 g->share);
    else
        snprintf(dst, cap, "version %s with shadow %s", g->m[FR_ROLE_CHAMPION].version, ch->version);
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
    char now[320], before[320];
    describe(g, now, sizeof now);
    describe(old, before, sizeof before);
    fr_log(FR_LOG_INFO, "model_swapped", "generation %llu: %s replaces %s (%zu records in flight finish with it)",
           (unsigned long long)g->id, now, before, old->jobs);
    if (!old->jobs) mgen_free(s, old);
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
           (unsigned long long)g->id, g->m[FR_ROLE_CHAMPION].version);
    mgen_free(s, g);
}

/* ---- score drift (under mu) ---- */

/* st's cumulative drift counts now, summed over the workers, into cum[0..k). */
static void drift_counts(const fr_mgens *s, const fr_mgen_stats *st, uint64_t *cum) {
    memset(cum, 0, st->drift.bins * sizeof *cum);
    for (int w = 0; w < s->n_workers; w++)
        for (size_t i = 0; i < st->drift.bins; i++) cum[i] += fr_ctr_get(&st->w[w].drift[i]);
}

void fr_mgens_drift_step(fr_mgens *s, int64_t now_ns) {
    uint64_t cum[FR_DRIFT_MAX_BINS];
    pthread_mutex_lock(&s->mu);
    for (fr_mgen_stats *st = s->stats; st; st = st->next) {
        if (!st->drift.bins || now_ns < st->drift.win.next_ns) continue;
        drift_counts(s, st, cum);
        fr_drift_step(&st->drift.win, cum, now_ns);
    }
    pthread_mutex_unlock(&s->mu);
}

/* ---- status (under mu) ---- */

static void status_of(const fr_mgens *s, const fr_mgen *g, int role, int serving, fr_model_status *o) {
    const fr_mgen_model *mm = &g->m[role];
    memset(o, 0, sizeof *o);
    o->generation = g->id;
    snprintf(o->version, sizeof o->version, "%s", mm->version);
    o->threshold = mm->threshold;
    o->loaded_unix = g->loaded_unix;
    o->n_features = fr_model_n_features(mm->model);
    o->serving = serving;
    o->role = role;
    snprintf(o->mode, sizeof o->mode, "%s", fr_challenger_mode_name(g->mode));
    o->share = g->share;
    uint64_t micro = 0;
    for (int w = 0; w < s->n_workers; w++) {
        for (int i = 0; i < FR_SCORE_BUCKETS; i++) o->scores[i] += fr_ctr_get(&mm->stats->w[w].scores[i]);
        micro += fr_ctr_get(&mm->stats->w[w].score_sum_micro);
    }
    o->score_sum = (double)micro / 1e6;
    o->psi = NAN;
    const fr_mgen_stats *st = mm->stats;
    if (st->drift.bins) {
        uint64_t cum[FR_DRIFT_MAX_BINS], win[FR_DRIFT_MAX_BINS];
        drift_counts(s, st, cum);
        o->has_drift = 1;
        o->psi_records = fr_drift_window(&st->drift.win, cum, win);
        if (o->psi_records >= (uint64_t)s->cfg->metrics.drift_min_records && o->psi_records > 0)
            o->psi = fr_psi(st->drift.expected, win, st->drift.bins);
    }
}

/* Adds g's models not listed yet. */
static void status_add(const fr_mgens *s, const fr_mgen *g, int serving, fr_model_status *out, int cap, int *n) {
    for (int role = 0; role < 2; role++) {
        if (!g->m[role].model) continue;
        int seen = 0;
        for (int i = 0; i < *n && !seen; i++) seen = !strcmp(out[i].version, g->m[role].version);
        if (!seen && *n < cap) status_of(s, g, role, serving, &out[(*n)++]);
    }
}

int fr_mgens_status(fr_mgens *s, fr_model_status *out, int cap) {
    int n = 0;
    pthread_mutex_lock(&s->mu);
    if (s->gen) status_add(s, s->gen, 1, out, cap, &n);
    for (const fr_mgen *g = s->retired; g; g = g->next) status_add(s, g, 0, out, cap, &n);
    pthread_mutex_unlock(&s->mu);
    return n;
}

int fr_mgens_shadow_status(fr_mgens *s, fr_shadow_status *out, int cap) {
    int n = 0;
    pthread_mutex_lock(&s->mu);
    for (const fr_mgen_pair *pr = s->pairs; pr && n < cap; pr = pr->next, n++) {
        fr_shadow_status *o = &out[n];
        memset(o, 0, sizeof *o);
        snprintf(o->champion, sizeof o->champion, "%s", pr->champion);
        snprintf(o->challenger, sizeof o->challenger, "%s", pr->challenger);
        for (int w = 0; w < s->n_workers; w++) {
            for (int x = 0; x < 2; x++)
                for (int y = 0; y < 2; y++) o->verdicts[x][y] += fr_ctr_get(&pr->w[w].verdicts[x][y]);
            o->rejected += fr_ctr_get(&pr->w[w].rejected);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}
