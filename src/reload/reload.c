/* The reloader thread and the boot-time load of the models
 * (include/fraudd/reload.h has the flow).
 *
 * One thread, started after the pipeline, with every signal blocked. It
 * sleeps on a condition variable until model.reload_interval_ms passes
 * (0: never) or fr_reloader_request asks (SIGHUP, forwarded by the run
 * thread), then runs one check of the whole rollout:
 *   config -> the file is re-read when forced or when it changed (stat
 *             identity); its model section says which champion and which
 *             challenger should serve, and how. Other sections need a
 *             restart: a change there is logged, not applied. A file that
 *             does not load is logged with its file:line:column error and
 *             the serving rollout stays.
 *   fetch  -> for each role (champion, challenger), its source: unchanged
 *             (same file identity, 304, or bytes already held: the serving
 *             champion's or challenger's, so a promotion reuses the
 *             compiled model) or new bytes
 *   check  -> new bytes pass fr_model_check; the pair passes
 *             fr__model_check_pair (same features, two versions)
 *   swap   -> if anything changed (a model, a threshold, the mode, the
 *             share), one new generation holds the new pair
 *             (fr_pipeline_swap): both roles change at the same record
 * Every check is counted once: swapped, unchanged, refused (a model or the
 * config failed a check) or fetch_failed. A failed check changes nothing,
 * and a source whose new bytes were read in a check that failed for
 * another reason is read again next time (it is marked stale).
 * The reloader holds its own references to the serving models.
 */
#define _GNU_SOURCE /* open_memstream, st_mtim */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fraudd/common.h"
#include "fraudd/err.h"
#include "fraudd/log.h"
#include "fraudd/reload.h"
#include "reload/reload_internal.h"

static const char *const role_name[2] = {"champion", "challenger"};

/* The live part of the model section: which models, and how they serve. */
typedef struct plan {
    char *path[2], *url[2]; /* champion: both NULL = the embedded model; challenger: both NULL = none */
    double threshold[2];    /* NaN: the model's own */
    fr_challenger_mode mode;
    double share;
} plan;

struct fr_reloader {
    fr_pipeline *p;
    const fr_config *boot;   /* fetch options, the scorer's options, the config path */
    char *boot_dump;         /* the boot config outside its model section (change detection) */
    struct stat cfg_id;      /* the config file as last read */
    int cfg_id_ok;
    plan cur;                /* what serves */
    fr_rollout live;         /* its sources, models (our references) and digests */
    uint64_t refused[2];     /* the last refused bytes per role, 0 = none */
    int stale[2];            /* read the role's source even if it looks unchanged */
    pthread_t thread;
    int started;
    pthread_mutex_t mu;      /* guards the two flags below */
    pthread_cond_t cv;
    int requested;           /* fr_reloader_request since the last check */
    int stop;
};

/* ---- plans ---- */

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static void plan_free(plan *pl) {
    for (int k = 0; k < 2; k++) {
        free(pl->path[k]);
        free(pl->url[k]);
    }
    memset(pl, 0, sizeof *pl);
}

static int plan_from(plan *pl, const fr_config *c) {
    memset(pl, 0, sizeof *pl);
    const char *src[2][2] = {{c->model.path, c->model.url}, {c->model.challenger.path, c->model.challenger.url}};
    for (int k = 0; k < 2; k++) {
        pl->path[k] = dup_or_null(src[k][0]);
        pl->url[k] = dup_or_null(src[k][1]);
        if ((src[k][0] && !pl->path[k]) || (src[k][1] && !pl->url[k])) {
            plan_free(pl);
            return FR_ENOMEM;
        }
    }
    pl->threshold[0] = c->model.threshold;
    pl->threshold[1] = c->model.challenger.threshold;
    pl->mode = c->model.challenger.mode;
    pl->share = c->model.challenger.share;
    return 0;
}

static int plan_from_plan(plan *pl, const plan *src) {
    *pl = *src;
    for (int k = 0; k < 2; k++) {
        pl->path[k] = dup_or_null(src->path[k]);
        pl->url[k] = dup_or_null(src->url[k]);
        if ((src->path[k] && !pl->path[k]) || (src->url[k] && !pl->url[k])) {
            plan_free(pl);
            return FR_ENOMEM;
        }
    }
    return 0;
}

static int same_str(const char *a, const char *b) { return a == b || (a && b && !strcmp(a, b)); }
static int same_num(double a, double b) { return (isnan(a) && isnan(b)) || a == b; }

static int same_source(const plan *a, const plan *b, int k) {
    return same_str(a->path[k], b->path[k]) && same_str(a->url[k], b->url[k]);
}

static int has_source(const plan *pl, int k) { return pl->path[k] || pl->url[k]; }

/* ---- sources and boot ---- */

static fr_model_src *src_new(const fr_config *c, const char *path, const char *url) {
    fr_model_src_opts so = {.path = path, .url = url, .max_bytes = (size_t)c->model.max_bytes,
                            .timeout_ms = c->model.fetch_timeout_ms, .ca_file = c->model.ca_file};
    return fr_model_src_new(&so);
}

void fr_rollout_free(fr_rollout *r) {
    for (int k = 0; k < 2; k++) {
        fr_model_src_free(r->src[k]);
        fr_model_free(r->model[k]);
    }
    memset(r, 0, sizeof *r);
}

/* Reads and checks role k's model from src (NULL: the embedded one);
 * against: the model it must agree with, or NULL. */
static int load_role(const fr_config *c, fr_model_src *src, const fr_model *against, fr_model **out, uint64_t *digest,
                     char *err, size_t errlen) {
    *digest = 0;
    if (!src) return fr_model_load_default(out, err, errlen);
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = fr_model_src_fetch(src, 1, &buf, &len, err, errlen);
    if (rc) return rc;
    *digest = fr__model_digest(buf, len);
    rc = fr_model_check(buf, len, fr_model_src_name(src), against, c, out, err, errlen);
    free(buf);
    return rc;
}

int fr_rollout_load(const fr_config *c, fr_rollout *r, char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    int rc = 0;
    const char *path[2] = {c->model.path, c->model.challenger.path}, *url[2] = {c->model.url, c->model.challenger.url};
    for (int k = 0; k < 2 && !rc; k++) {
        if (k && !path[k] && !url[k]) break; /* no challenger */
        if ((path[k] || url[k]) && !(r->src[k] = src_new(c, path[k], url[k])))
            rc = fr_set_err(err, errlen, FR_ENOMEM, "out of memory");
        char e[1024];
        if (!rc && (rc = load_role(c, r->src[k], NULL, &r->model[k], &r->digest[k], e, sizeof e)) != 0)
            fr_set_err(err, errlen, rc, "%s: %s", role_name[k], e);
    }
    if (!rc && r->model[1]) {
        char e[1024];
        if ((rc = fr__model_check_pair(r->model[0], r->model[1], e, sizeof e)) != 0)
            fr_set_err(err, errlen, rc, "challenger: %s", e);
    }
    if (rc) fr_rollout_free(r);
    return rc;
}

/* ---- config ---- */

/* c's dump without its model section: what a reload cannot change. */
static char *dump_outside_model(const fr_config *c) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return NULL;
    fr_config_dump(c, f);
    fclose(f);
    if (!text) return NULL;
    char *a = strstr(text, "\nmodel:\n");
    if (a) {
        char *b = a + 8;
        while (*b && (*b == ' ' || *b == '\n')) {
            char *nl = strchr(b, '\n');
            b = nl ? nl + 1 : b + strlen(b);
        }
        memmove(a + 1, b, strlen(b) + 1);
    }
    return text;
}

static int same_file(const struct stat *a, const struct stat *b) {
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* The plan the config file asks for now, into want (a copy of the serving
 * plan when the file is unchanged). Returns 0, or FR_EINVAL after logging
 * a file that does not load. */
static int read_plan(fr_reloader *r, int forced, plan *want, int *from_file) {
    const char *path = r->boot->path;
    *from_file = 0;
    struct stat st;
    int have = path && stat(path, &st) == 0;
    if (path && !have && forced)
        fr_log(FR_LOG_WARN, "config_unreadable", "%s: %s; its model section stays as it was", path, strerror(errno));
    if (!have || (!forced && r->cfg_id_ok && same_file(&st, &r->cfg_id))) return plan_from_plan(want, &r->cur);
    char err[1024];
    fr_config *c = NULL;
    if (fr_config_load(path, NULL, &c, err, sizeof err)) {
        fr_log(FR_LOG_ERROR, "config_refused", "%s; the serving models stay", err);
        r->cfg_id = st; /* logged once per version of the file */
        r->cfg_id_ok = 1;
        return FR_EINVAL;
    }
    char *d = dump_outside_model(c);
    if (d && r->boot_dump && strcmp(d, r->boot_dump))
        fr_log(FR_LOG_WARN, "config_needs_restart",
               "%s changed outside its model section; those changes take effect at the next restart", path);
    free(d);
    int rc = plan_from(want, c);
    fr_config_free(c);
    if (!rc) {
        r->cfg_id = st;
        r->cfg_id_ok = 1;
    }
    *from_file = 1;
    return rc;
}

/* ---- one check ---- */

typedef struct candidate {
    fr_model_src *src;    /* the role's source for this check (new, or the serving one) */
    int src_new;          /* src is new (the config changed the source) */
    fr_model *model;      /* a reference, or NULL (no challenger) */
    uint64_t digest;
    int read_new;         /* the source gave bytes the reloader did not hold */
} candidate;

static void candidate_drop(fr_reloader *r, candidate *cd, int k) {
    if (cd->read_new) r->stale[k] = 1; /* new bytes not taken: read them again next time */
    if (cd->src_new) fr_model_src_free(cd->src);
    fr_model_free(cd->model);
    memset(cd, 0, sizeof *cd);
}

/* Works out role k's model under want. Returns 0 (cd filled), or the
 * outcome of a failure (FR_RELOAD_FETCH_FAILED / FR_RELOAD_REFUSED) after
 * logging it. against: the champion candidate (k = 1), else NULL. */
static int resolve(fr_reloader *r, int k, const plan *want, int forced, const fr_model *against, candidate *cd) {
    char err[1024];
    memset(cd, 0, sizeof *cd);
    const char *keeps = r->live.model[0] ? fr_model_version(r->live.model[0]) : "?";
    if (!has_source(want, k)) {
        if (k == 1) return 0; /* no challenger */
        if (!r->live.src[0] && r->live.model[0]) { /* the embedded model serves already */
            cd->model = fr_model_retain(r->live.model[0]);
            return 0;
        }
        if (fr_model_load_default(&cd->model, err, sizeof err)) {
            fr_log(FR_LOG_ERROR, "model_refused", "embedded model: %s; version %s keeps serving", err, keeps);
            return FR_RELOAD_REFUSED;
        }
        return 0;
    }
    if (same_source(want, &r->cur, k) && r->live.src[k]) {
        cd->src = r->live.src[k];
    } else {
        if (!(cd->src = src_new(r->boot, want->path[k], want->url[k]))) {
            fr_log(FR_LOG_ERROR, "model_refused", "out of memory; version %s keeps serving", keeps);
            return FR_RELOAD_REFUSED;
        }
        cd->src_new = 1;
    }
    const char *name = fr_model_src_name(cd->src);
    int force = forced || cd->src_new || r->stale[k];
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = fr_model_src_fetch(cd->src, force, &buf, &len, err, sizeof err);
    if (rc == FR_SRC_UNCHANGED) {
        cd->model = fr_model_retain(r->live.model[k]);
        cd->digest = r->live.digest[k];
        return 0;
    }
    if (rc) {
        fr_log(FR_LOG_WARN, "model_fetch_failed", "%s%s; version %s keeps serving", k ? "challenger: " : "", err, keeps);
        candidate_drop(r, cd, k);
        return FR_RELOAD_FETCH_FAILED;
    }
    uint64_t d = fr__model_digest(buf, len);
    cd->digest = d;
    for (int j = 0; j < 2; j++) /* bytes held already: this role's, or the other's (a promotion) */
        if (r->live.model[j] && r->live.digest[j] == d) {
            free(buf);
            cd->model = fr_model_retain(r->live.model[j]);
            r->stale[k] = 0;
            return 0;
        }
    cd->read_new = 1;
    if (!force && d == r->refused[k]) { /* refused already, not logged again: what serves stays */
        free(buf);
        cd->read_new = 0;
        cd->model = r->live.model[k] ? fr_model_retain(r->live.model[k]) : NULL;
        cd->digest = r->live.digest[k];
        return 0;
    }
    const fr_model *vs = r->live.model[k] ? r->live.model[k] : against;
    rc = fr_model_check(buf, len, name, vs, r->boot, &cd->model, err, sizeof err);
    free(buf);
    if (rc) {
        r->refused[k] = d;
        int named = !strncmp(err, name, strlen(name)); /* compile errors name the source already */
        fr_log(FR_LOG_ERROR, "model_refused", "%s%s%s%s; version %s keeps serving", k ? "challenger: " : "",
               named ? "" : name, named ? "" : ": ", err, keeps);
        cd->read_new = 0; /* judged: not read again until it changes */
        candidate_drop(r, cd, k);
        return FR_RELOAD_REFUSED;
    }
    return 0;
}

/* "version A" or "version A with shadow|canary B" into dst. */
static void describe(const fr_model *const m[2], const plan *pl, char *dst, size_t cap) {
    if (!m[1])
        snprintf(dst, cap, "version %s", fr_model_version(m[0]));
    else if (pl->mode == FR_CHALLENGER_CANARY)
        snprintf(dst, cap, "version %s with canary %s (%g of keys)", fr_model_version(m[0]), fr_model_version(m[1]),
                 pl->share);
    else
        snprintf(dst, cap, "version %s with shadow %s", fr_model_version(m[0]), fr_model_version(m[1]));
}

static int check_round(fr_reloader *r, int forced) {
    plan want;
    int from_file = 0;
    if (read_plan(r, forced, &want, &from_file)) return FR_RELOAD_REFUSED;
    candidate cd[2];
    memset(cd, 0, sizeof cd);
    int out = resolve(r, 0, &want, forced, NULL, &cd[0]);
    if (!out) out = resolve(r, 1, &want, forced, cd[0].model, &cd[1]);
    char err[1024];
    if (!out && cd[1].model && fr__model_check_pair(cd[0].model, cd[1].model, err, sizeof err)) {
        fr_log(FR_LOG_ERROR, "model_refused", "challenger %s: %s; version %s keeps serving",
               fr_model_version(cd[1].model), err, fr_model_version(r->live.model[0]));
        r->refused[1] = cd[1].digest;
        cd[1].read_new = 0;
        out = FR_RELOAD_REFUSED;
    }
    int same = !out && cd[0].model == r->live.model[0] && cd[1].model == r->live.model[1] &&
               same_num(want.threshold[0], r->cur.threshold[0]) && same_num(want.threshold[1], r->cur.threshold[1]) &&
               (!cd[1].model || (want.mode == r->cur.mode && same_num(want.share, r->cur.share)));
    if (same) {
        if (forced)
            fr_log(FR_LOG_INFO, "model_unchanged", "%s holds the serving model %s",
                   r->live.src[0] ? fr_model_src_name(r->live.src[0]) : "the binary", fr_model_version(cd[0].model));
        out = FR_RELOAD_UNCHANGED;
    }
    const fr_model *now[2] = {cd[0].model, cd[1].model};
    char what[512], was[512];
    if (!out) {
        fr_mgen_spec spec = {.champion = cd[0].model,
                             .champion_threshold = want.threshold[0],
                             .challenger = cd[1].model,
                             .challenger_threshold = want.threshold[1],
                             .mode = want.mode,
                             .share = want.share};
        if (fr_pipeline_swap(r->p, &spec, err, sizeof err)) {
            fr_log(FR_LOG_ERROR, "model_refused", "%s; version %s keeps serving", err, fr_model_version(r->live.model[0]));
            out = FR_RELOAD_REFUSED;
        }
    }
    if (out) {
        for (int k = 0; k < 2; k++) candidate_drop(r, &cd[k], k);
        plan_free(&want);
        return out;
    }
    const fr_model *old[2] = {r->live.model[0], r->live.model[1]};
    describe(now, &want, what, sizeof what);
    describe(old, &r->cur, was, sizeof was);
    const char *name = cd[0].src ? fr_model_src_name(cd[0].src) : "the binary";
    if (old[1] && now[0] == old[1])
        fr_log(FR_LOG_INFO, "model_promoted", "%s: challenger %s promoted: now %s (was %s)", name,
               fr_model_version(now[0]), what, was);
    else
        fr_log(FR_LOG_INFO, "model_reloaded", "%s: %s (%zu features), replacing %s", name, what,
               fr_model_n_features(now[0]), was);
    /* the new rollout is the live one: our references move with it */
    for (int k = 0; k < 2; k++) {
        if (cd[k].src_new || cd[k].src == NULL) {
            if (r->live.src[k] != cd[k].src) fr_model_src_free(r->live.src[k]);
            r->live.src[k] = cd[k].src;
        }
        fr_model_free(r->live.model[k]);
        r->live.model[k] = cd[k].model;
        r->live.digest[k] = cd[k].digest;
        r->stale[k] = 0;
    }
    plan_free(&r->cur);
    r->cur = want;
    return FR_RELOAD_SWAPPED;
}

static void check_once(fr_reloader *r, int forced) {
    fr_pipeline_count_reload(r->p, (fr_reload_result)check_round(r, forced));
}

static void *reloader_main(void *arg) {
    fr_reloader *r = arg;
    int interval = r->boot->model.reload_interval_ms;
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

int fr_reloader_start(fr_pipeline *p, const fr_config *c, fr_rollout *live, fr_reloader **out, char *err,
                      size_t errlen) {
    *out = NULL;
    fr_reloader *r = calloc(1, sizeof *r);
    if (!r) {
        fr_rollout_free(live);
        return fr_set_err(err, errlen, FR_ENOMEM, "out of memory (reloader)");
    }
    r->p = p;
    r->boot = c;
    r->live = *live; /* ours now */
    memset(live, 0, sizeof *live);
    pthread_mutex_init(&r->mu, NULL);
    fr_cond_init_monotonic(&r->cv);
    struct stat st;
    if (c->path && stat(c->path, &st) == 0) {
        r->cfg_id = st;
        r->cfg_id_ok = 1;
    }
    if (plan_from(&r->cur, c) || !(r->boot_dump = dump_outside_model(c))) {
        fr_reloader_stop(r);
        return fr_set_err(err, errlen, FR_ENOMEM, "out of memory (reloader)");
    }
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
    fr_rollout_free(&r->live);
    plan_free(&r->cur);
    free(r->boot_dump);
    free(r);
}
