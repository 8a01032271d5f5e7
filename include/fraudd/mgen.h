/* fraudd model generations: how a new model replaces the serving one while
 * records flow, without a lock on the record path.
 *
 * A generation (fr_mgen) is one complete model plus what the workers need
 * to run it: a scorer per worker and per-worker score statistics. It is
 * built whole on the thread that asks for the swap (the reloader), never on
 * the run thread or a worker. The set of generations (fr_mgens) is owned by
 * the pipeline and used by the stages below it: the source stamps each job
 * with the serving generation, workers score with the job's, the sink
 * releases it when the job is done.
 *
 * The protocol, in three steps:
 *   1. Publish. fr_mgens_publish builds the generation, then exchanges it
 *      into s->pending (release; the run thread's exchange acquires, so
 *      every byte of the generation is visible to it). A pending generation
 *      not yet adopted is replaced and freed: it never served a record.
 *   2. Adopt. The run thread, between two records, takes the pending
 *      generation and makes it s->gen (fr_mgens_adopt). From then on every
 *      dispatched job carries s->gen in job->gen (fr_mgens_acquire); the
 *      ring push (release) and pop (acquire) carry that pointer and the
 *      generation behind it to the worker. A worker scores a job with
 *      job->gen->scorers[its id], so a micro-batch that straddles the swap
 *      is scored in two runs, each by one complete model, and a record is
 *      never scored by a half-built one.
 *   3. Retire. gen->jobs counts the jobs dispatched with a generation and
 *      not yet complete (run thread only: dispatch adds, the delivery report
 *      subtracts in fr_mgens_release). The old generation waits on
 *      s->retired until its count is zero, then is freed on the run thread.
 *      A worker touches a generation only while it holds one of its jobs
 *      (and before that job's produce call), so nothing can use a freed
 *      generation.
 * s->mu orders the run thread's changes to s->gen / s->retired, and the
 * frees, against readers on other threads (fr_mgens_status, scrapes). The
 * run thread takes it only when a generation comes or goes.
 */
#ifndef FRAUDD_MGEN_H
#define FRAUDD_MGEN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "fraudd/config.h"
#include "fraudd/metrics.h"
#include "fraudd/model.h"
#include "fraudd/scorer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Per-worker score statistics of one model (single writer: the worker; a
 * cache line apart from the next worker's). A model that stays from one
 * generation to the next (the champion when only the challenger changes, a
 * challenger promoted to champion) keeps its statistics: they belong to the
 * model, not to the generation. */
typedef struct fr_mgen_wstats {
    _Atomic uint64_t scores[FR_SCORE_BUCKETS]; /* score distribution (fr_score_bucket) */
    _Atomic uint64_t score_sum_micro;          /* sum of scores x 1e6 (histogram _sum) */
    _Atomic uint64_t drift[FR_DRIFT_MAX_BINS]; /* scores per bin of the model's reference (fr_drift_bin) */
} __attribute__((aligned(64))) fr_mgen_wstats;
_Static_assert(sizeof(fr_mgen_wstats) % 64 == 0, "one worker's statistics per cache line(s)");

/* Per-worker shadow statistics of one (champion, challenger) pair: verdict
 * pairs of the records both models scored, and records only the champion
 * could score. */
typedef struct fr_mgen_shadow {
    _Atomic uint64_t verdicts[2][2]; /* [champion is_fraud][challenger is_fraud] */
    _Atomic uint64_t rejected;       /* scored by the champion, rejected by the challenger */
} __attribute__((aligned(64))) fr_mgen_shadow;

/* The shadow statistics of one (champion, challenger) pair, kept for the
 * life of the process (fr_mgens.pairs, under mu; at most FR_MGEN_MAX_PAIRS,
 * the oldest unused one dropped first), so its counters neither restart
 * when a new generation holds the same pair nor vanish when the pair stops
 * serving. */
typedef struct fr_mgen_pair {
    char champion[128], challenger[128]; /* versions */
    size_t refs;                         /* generations holding it */
    fr_mgen_shadow *w;                   /* one per worker */
    struct fr_mgen_pair *next;           /* newest first */
} fr_mgen_pair;
#define FR_MGEN_MAX_PAIRS FR_METRICS_MAX_SHADOWS

/* The two models a generation may hold. */
enum { FR_ROLE_CHAMPION = 0, FR_ROLE_CHALLENGER = 1 };

/* Score drift of one model: the model's reference
 * histogram (fraudd.score_histogram) and the sliding window of its live
 * scores (include/fraudd/metrics.h, fr_drift). The workers count each
 * score into their fr_mgen_wstats.drift (bin by binary search over the
 * edges; relaxed single-writer counters). The run thread owns the window:
 * fr_mgens_drift_step, called by the pipeline's loop about every 100 ms,
 * takes a snapshot of the summed counters every metrics.drift_window_s / 10
 * under s->mu (per model: the window goes on across generations that keep
 * the model); scrapes read the window and compute the PSI under s->mu too
 * (fr_mgens_status). Nothing of it is on the record path but the counter. */
typedef struct fr_mgen_drift {
    size_t bins;            /* k; 0: the model has no reference histogram (no drift metric) */
    const double *edges;    /* k - 1 edges (the model's memory) */
    const double *expected; /* k shares of the reference scores (the model's memory) */
    fr_drift win;           /* run thread writes, readers under s->mu */
} fr_mgen_drift;

/* A model's statistics, shared by the generations that hold the model
 * (fr_mgens.stats, under mu). */
typedef struct fr_mgen_stats {
    const fr_model *model;  /* key: the model they describe */
    size_t refs;            /* generations holding it */
    fr_mgen_wstats *w;      /* one per worker */
    fr_mgen_drift drift;    /* its score drift (bins, edges, expected: immutable) */
    struct fr_mgen_stats *next;
} fr_mgen_stats;

/* One model of a generation and what the workers need to run it. */
typedef struct fr_mgen_model {
    fr_model *model;        /* a reference the generation holds (NULL: no such model) */
    char version[128];      /* fraudd.version: the result header and the metrics label */
    double threshold;       /* in force: the config's override or the model's own */
    fr_scorer **scorers;    /* one per worker, NULL-terminated (NULL in pass-through mode) */
    fr_mgen_stats *stats;   /* its statistics (wstats: stats->w) */
} fr_mgen_model;

/* What a generation is made of. The generation takes references of its
 * own to the models (fr_model_retain); the caller keeps its own. */
typedef struct fr_mgen_spec {
    fr_model *champion;
    double champion_threshold;   /* NaN: the model's own */
    fr_model *challenger;        /* NULL: none */
    double challenger_threshold; /* NaN: the model's own */
    fr_challenger_mode mode;
    double share;                /* canary: the fraction of keys the challenger serves */
} fr_mgen_spec;

/* One generation. Immutable once published, except the counters noted. */
typedef struct fr_mgen {
    uint64_t id; /* 1 = the models the pipeline started with */
    fr_mgen_model m[2];        /* [FR_ROLE_CHAMPION], [FR_ROLE_CHALLENGER] (m[1].model NULL: none) */
    fr_challenger_mode mode;   /* with a challenger */
    double share;              /* canary */
    uint64_t canary_below;     /* canary: a key whose hash >> 11 is below this goes to the challenger (mgen.c key_hash) */
    fr_mgen_pair *pair;        /* shadow: the pair's statistics (pair->w: one per worker) */
    double loaded_unix;        /* when it was handed to the pipeline */
    size_t jobs;               /* run thread only: dispatched with it and not yet complete */
    struct fr_mgen *next;      /* retired list (run thread; readers under mu) */
} fr_mgen;

/* Canary: the model of g that serves a record with this key (NULL: no key). */
int fr_mgen_role_for_key(const fr_mgen *g, const void *key, size_t len);

typedef struct fr_mgens {
    const fr_config *cfg;
    int n_workers;
    size_t batch;
    fr_mgen *gen;               /* the one new records get (written by the run thread only) */
    _Atomic(fr_mgen *) pending; /* built, waiting to be adopted */
    fr_mgen *retired;           /* replaced, with records still in flight */
    pthread_mutex_t mu;         /* gen, retired and frees against other threads' readers */
    _Atomic uint64_t next_id;
    _Atomic uint64_t serving_id; /* gen->id, readable without mu (run thread writes) */
    fr_mgen_stats *stats;        /* per model, shared by the generations holding it (under mu) */
    fr_mgen_pair *pairs;         /* per shadow pair, kept (under mu) */
} fr_mgens;

/* The first generation is made of spec's models. 0, or a negative fr_err
 * with a sentence in err. */
int fr_mgens_init(fr_mgens *s, const fr_config *c, int n_workers, size_t batch, const fr_mgen_spec *spec, char *err,
                  size_t errlen);
/* Frees every generation; no job may hold one any more. */
void fr_mgens_destroy(fr_mgens *s);

/* Any thread (one at a time): builds a generation of spec's models and
 * publishes it. */
int fr_mgens_publish(fr_mgens *s, const fr_mgen_spec *spec, char *err, size_t errlen);

/* Run thread: nonzero if a published generation waits. */
static inline int fr_mgens_pending(fr_mgens *s) {
    /* a hint only: fr_mgens_adopt's exchange is what synchronises */
    return atomic_load_explicit(&s->pending, memory_order_relaxed) != NULL;
}
/* Run thread: swaps in the pending generation, if there is one. */
void fr_mgens_adopt(fr_mgens *s);
/* Run thread: the serving generation, counted for one more job. */
static inline fr_mgen *fr_mgens_acquire(fr_mgens *s) {
    s->gen->jobs++;
    return s->gen;
}
/* Run thread: a job of g completed; frees g after its last one if retired. */
void fr_mgens_release(fr_mgens *s, fr_mgen *g);

/* Run thread: takes the drift snapshots that are due at now_ns (fr_now_ns)
 * for every model still scoring. Cheap when none is due; takes s->mu for
 * the loop over the models. */
void fr_mgens_drift_step(fr_mgens *s, int64_t now_ns);

/* Any thread: the models of up to cap generations' (a model held by two
 * generations once), the serving generation's champion first, then its
 * challenger; how many. */
int fr_mgens_status(fr_mgens *s, fr_model_status *out, int cap);
/* Any thread: the shadow verdicts of every (champion, challenger) pair
 * that served since start (FR_MGEN_MAX_PAIRS at most), newest first; how
 * many. */
int fr_mgens_shadow_status(fr_mgens *s, fr_shadow_status *out, int cap);

#ifdef __cplusplus
}
#endif

#endif
