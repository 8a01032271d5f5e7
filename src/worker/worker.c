/* Workers (include/fraudd/worker.h has the contract).
 *
 * Each job names the model generation it was dispatched with; the worker
 * runs that generation's scorer (its own, one per worker per generation),
 * so a model swap needs no lock here (include/fraudd/mgen.h). In
 * pass-through mode (the benchmark baseline) it forwards the input bytes
 * instead of scoring.
 *
 * Sleeping without lost wake-ups. Both sides do a read-modify-write on the
 * worker's `sleeping` word, so the two RMWs are totally ordered in its
 * modification order:
 *   worker:  lock; exchange(sleeping, 1) [W1]; if ring empty: wait; sleeping = 0; unlock
 *   source:  push (release store of tail); fetch_add(sleeping, 0) [S1]; if it was 1: lock; signal; unlock
 * If [W1] comes first, [S1] reads 1 and signals (under the mutex, so the
 * signal cannot fall between the worker's check and its wait). If [S1]
 * comes first, [W1] reads the value [S1] wrote: [S1] releases, [W1]
 * acquires, so the push (sequenced before [S1]) is visible and the worker
 * finds the record. A 100 ms wait bound backs this up anyway. (No
 * standalone fences: ThreadSanitizer does not model them.)
 * Idle workers sleep, so an idle pod uses no CPU (the HPA scales on CPU).
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fraudd/common.h"
#include "fraudd/encode.h"
#include "fraudd/err.h"
#include "fraudd/log.h"
#include "fraudd/mgen.h"
#include "fraudd/ring.h"
#include "fraudd/worker.h"

#define SPIN_POLLS 64

/* Written only by its worker (fr_ctr_add); read by scrapes. */
typedef struct wcounters {
    _Atomic uint64_t rejects[FR_REJ_PREPROCESS + 1]; /* records rejected, by reason */
    _Atomic uint64_t scored;                         /* records scored (results handed to the producer) */
    _Atomic uint64_t batches;                        /* model calls */
    _Atomic uint64_t busy_ns;                        /* time spent processing batches */
    _Atomic uint64_t queue_wait[FR_LAT_BUCKETS];     /* dispatch -> popped by the worker, per record */
    _Atomic uint64_t inference[FR_LAT_BUCKETS];      /* fr_scorer_run per batch */
    _Atomic uint64_t queue_wait_sum_ns, inference_sum_ns;
    _Atomic int64_t heartbeat_ns; /* last time the worker was alive (fr_now_ns) */
} wcounters;

struct fr_worker {
    fr_workers *ws;
    int id;
    pthread_t thread;
    int started;
    fr_ring *ring;
    /* sleeping protocol: see above */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic int sleeping;
    wcounters wc;
    /* per-batch scratch, allocated once */
    fr_job **jobs;
    fr_slice *slices;
    fr_scored *scored;
    /* challengers: the shadow's results and the composed output (offsets
     * into compose), the canary's split of a batch */
    fr_scored *scored2;
    size_t *composed, *composed_len;
    char *compose;
    size_t compose_cap;
    fr_job **split;
};

struct fr_workers {
    const fr_config *cfg;
    fr_sink *sink;
    int n;
    size_t batch;
    fr_worker *w;             /* n workers */
    _Atomic int stop;         /* workers exit once their ring is empty */
    int stopped;              /* fr_workers_stop ran (its caller's thread only) */
    uint32_t wake_words;      /* 64-bit words in to_wake */
    uint64_t *to_wake;        /* run thread: workers pushed to since the last wake-up */
};

static void worker_wake(fr_worker *w) {
    if (atomic_fetch_add_explicit(&w->sleeping, 0, memory_order_acq_rel)) { /* [S1] pairs with [W1] */
        pthread_mutex_lock(&w->mu);
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
    }
}

static void worker_sleep(fr_worker *w) {
    pthread_mutex_lock(&w->mu);
    atomic_exchange_explicit(&w->sleeping, 1, memory_order_acq_rel); /* [W1] pairs with [S1] */
    if (fr_ring_count(w->ring) == 0 && !atomic_load_explicit(&w->ws->stop, memory_order_acquire)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    }
    atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
    pthread_mutex_unlock(&w->mu);
}

/* The input bytes of jobs[0..n) into w->slices, for run_model. */
static void set_slices(fr_worker *w, fr_job **jobs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = jobs[i]->msg;
        w->slices[i].ptr = m->payload ? m->payload : "";
        w->slices[i].len = m->payload ? m->len : 0;
    }
}

/* Runs model mm of this worker over the n records set_slices put in
 * w->slices, into out; times the call from t0 (fr_now_ns() just before).
 * Returns the scorer's result. */
static void count_inference(fr_worker *w, int64_t t0) {
    wcounters *wc = &w->wc;
    int64_t t1 = fr_now_ns();
    fr_ctr_add(&wc->inference[fr_lat_bucket(t1 - t0)], 1);
    fr_ctr_add(&wc->inference_sum_ns, (uint64_t)(t1 - t0));
    fr_ctr_add(&wc->batches, 1);
}

static int run_model(fr_worker *w, size_t n, const fr_mgen_model *mm, fr_scored *out, int64_t t0) {
    int rc = fr_scorer_run(mm->scorers[w->id], w->slices, n, 0, out);
    count_inference(w, t0);
    return rc;
}

/* The shadow challenger sh over the n records the champion ch just scored
 * into w->scored, into w->scored2: from the champion's decode when both
 * read the same features (fr_scorer_run_from: the second decode, about a
 * quarter of a shadow's extra cost, docs/BENCHMARKS.md (o)), else a run of
 * its own. Timed from t0 as run_model. */
static int run_challenger(fr_worker *w, size_t n, const fr_mgen_model *ch, const fr_mgen_model *sh, int64_t t0) {
    int rc = fr_scorer_run_from(sh->scorers[w->id], ch->scorers[w->id], w->scored, n, w->scored2);
    if (rc == FR_EINVAL) return run_model(w, n, sh, w->scored2, t0);
    count_inference(w, t0);
    return rc;
}

/* One score into a model's statistics of this worker: its histogram
 * bucket and, when the model has a reference histogram, its drift bin. */
static inline void count_score(fr_mgen_wstats *gs, const fr_mgen_drift *d, double score) {
    fr_ctr_add(&gs->scores[fr_score_bucket(score)], 1);
    if (d->bins) fr_ctr_add(&gs->drift[fr_drift_bin(d->edges, d->bins, score)], 1);
}

/* Counts the scores of out[0..n) in mm's statistics and the rejects in the
 * worker's; marks flagged jobs. Returns the records scored. */
static uint64_t account(fr_worker *w, fr_job **jobs, size_t n, const fr_mgen_model *mm, const fr_scored *out) {
    uint64_t rej[FR_REJ_PREPROCESS + 1] = {0};
    uint64_t results = 0, score_micro = 0;
    fr_mgen_wstats *gs = &mm->stats->w[w->id];
    for (size_t i = 0; i < n; i++) {
        const fr_scored *s = &out[i];
        if (s->reject == FR_REJ_NONE) {
            jobs[i]->flagged = (uint8_t)(s->is_fraud != 0);
            count_score(gs, &mm->stats->drift, s->score);
            score_micro += s->score > 0 && s->score < 1e12 ? (uint64_t)(s->score * 1e6) : 0;
            results++;
        } else {
            rej[s->reject]++;
        }
    }
    fr_ctr_add(&gs->score_sum_micro, score_micro);
    for (int r = 0; r <= FR_REJ_PREPROCESS; r++)
        if (rej[r]) fr_ctr_add(&w->wc.rejects[r], rej[r]);
    fr_ctr_add(&w->wc.scored, results);
    return results;
}

/* A record the scorer could not take: never dropped, dead-lettered. */
static void dead_letter_all(fr_worker *w, fr_job **jobs, size_t n, int rc) {
    for (size_t i = 0; i < n; i++)
        fr_sink_dead_letter(w->ws->sink, jobs[i], FR_DEAD_SCORER, "scorer_failed", fr_strerror(rc));
}

/* Hands job its result (text) or, when s was rejected, its dead letter. */
static void deliver(fr_worker *w, fr_job *job, const fr_scored *s, const char *text, size_t len) {
    fr_workers *ws = w->ws;
    if (s->reject == FR_REJ_NONE) {
        fr_sink_result(ws->sink, job, text, len);
        return;
    }
    static fr_log_limiter lim;
    fr_log_limited(&lim, FR_LOG_WARN, "record_rejected", "%s [%d] offset %lld: %s: %s", ws->cfg->kafka.input_topic,
                   (int)job->msg->partition, (long long)job->msg->offset, fr_reject_name(s->reject), s->text);
    fr_sink_dead_letter(ws->sink, job, (int)s->reject, fr_reject_name(s->reject), s->text);
}

/* Scores jobs[0..n) with model `role` of g and hands each result or dead
 * letter to the sink. Everything that reads g (its scorer's output, its
 * statistics) happens before the job that keeps g alive is produced: after
 * its last job's produce call, the run thread may free g
 * (include/fraudd/mgen.h). */
static void score_run(fr_worker *w, fr_job **jobs, size_t n, const fr_mgen *g, int role, int64_t t0) {
    const fr_mgen_model *mm = &g->m[role];
    set_slices(w, jobs, n);
    int rc = run_model(w, n, mm, w->scored, t0);
    if (rc) { /* out of memory or a result over its size bound */
        dead_letter_all(w, jobs, n, rc);
        return;
    }
    account(w, jobs, n, mm, w->scored);
    for (size_t i = 0; i < n; i++) {
        jobs[i]->role = (uint8_t)role;
        deliver(w, jobs[i], &w->scored[i], w->scored[i].text, w->scored[i].len);
    }
}

/* Room for len more bytes in the worker's compose buffer. */
static int compose_reserve(fr_worker *w, size_t len) {
    if (len <= w->compose_cap) return 0;
    size_t cap = w->compose_cap ? w->compose_cap : 4096;
    while (cap < len) cap *= 2;
    char *p = realloc(w->compose, cap);
    if (!p) return FR_ENOMEM;
    w->compose = p;
    w->compose_cap = cap;
    return 0;
}

/* Shadow: both models score every record; the champion's result goes out
 * with the challenger's inside, as its last key:
 *   {...champion's result...,"challenger":{"score":..,...}}
 * (the challenger's scorer writes no pass-through fields), or
 *   ,"challenger":{"reject":"<reason>"} when only the champion could score it. */
static void score_shadow(fr_worker *w, fr_job **jobs, size_t n, const fr_mgen *g, int64_t t0) {
    const fr_mgen_model *ch = &g->m[FR_ROLE_CHAMPION], *sh = &g->m[FR_ROLE_CHALLENGER];
    set_slices(w, jobs, n); /* once: both models read the same records */
    int rc = run_model(w, n, ch, w->scored, t0);
    if (rc) {
        dead_letter_all(w, jobs, n, rc);
        return;
    }
    int rc2 = run_challenger(w, n, ch, sh, fr_now_ns());
    account(w, jobs, n, ch, w->scored);
    fr_mgen_wstats *ss = &sh->stats->w[w->id];
    fr_mgen_shadow *sv = &g->pair->w[w->id];
    size_t need = 0;
    for (size_t i = 0; i < n; i++)
        if (w->scored[i].reject == FR_REJ_NONE)
            need += w->scored[i].len + FR_SHADOW_EXTRA + (rc2 ? 0 : w->scored2[i].len);
    if (compose_reserve(w, need)) {
        dead_letter_all(w, jobs, n, FR_ENOMEM);
        return;
    }
    uint64_t verdicts[2][2] = {{0, 0}, {0, 0}}, rejected = 0, micro = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        const fr_scored *a = &w->scored[i];
        if (a->reject != FR_REJ_NONE) continue;
        const fr_scored *b = rc2 ? NULL : &w->scored2[i];
        size_t len;
        if (b && b->reject == FR_REJ_NONE) {
            len = fr_result_with_challenger(w->compose + at, a->text, a->len, b->text, b->len, NULL);
            verdicts[a->is_fraud != 0][b->is_fraud != 0]++;
            count_score(ss, &sh->stats->drift, b->score);
            micro += b->score > 0 && b->score < 1e12 ? (uint64_t)(b->score * 1e6) : 0;
        } else {
            len = fr_result_with_challenger(w->compose + at, a->text, a->len, NULL, 0,
                                            b ? fr_reject_name(b->reject) : "scorer_failed");
            rejected++;
        }
        w->composed[i] = at;
        w->composed_len[i] = len;
        at += len;
    }
    for (int x = 0; x < 2; x++)
        for (int y = 0; y < 2; y++)
            if (verdicts[x][y]) fr_ctr_add(&sv->verdicts[x][y], verdicts[x][y]);
    if (rejected) fr_ctr_add(&sv->rejected, rejected);
    fr_ctr_add(&ss->score_sum_micro, micro);
    for (size_t i = 0; i < n; i++) {
        jobs[i]->role = FR_ROLE_CHAMPION;
        deliver(w, jobs[i], &w->scored[i], w->compose + w->composed[i], w->composed_len[i]);
    }
}

/* Canary: each record goes to the model its key hashes to; each model
 * scores its records in one run (a key's records keep their order: they
 * all go to the same model). */
static void score_canary(fr_worker *w, fr_job **jobs, size_t n, const fr_mgen *g, int64_t t0) {
    size_t nc = 0, nk = 0;
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_message_t *m = jobs[i]->msg;
        if (fr_mgen_role_for_key(g, m->key, m->key_len) == FR_ROLE_CHALLENGER)
            w->split[n - 1 - nk++] = jobs[i]; /* from the end, then reversed below */
        else
            w->split[nc++] = jobs[i];
    }
    for (size_t i = 0; i < nk / 2; i++) { /* input order again */
        fr_job *t = w->split[nc + i];
        w->split[nc + i] = w->split[n - 1 - i];
        w->split[n - 1 - i] = t;
    }
    if (nc) score_run(w, w->split, nc, g, FR_ROLE_CHAMPION, t0);
    if (nk) score_run(w, w->split + nc, nk, g, FR_ROLE_CHALLENGER, nc ? fr_now_ns() : t0);
}

static void score_gen(fr_worker *w, fr_job **jobs, size_t n, const fr_mgen *g, int64_t t0) {
    if (!g->m[FR_ROLE_CHALLENGER].model)
        score_run(w, jobs, n, g, FR_ROLE_CHAMPION, t0);
    else if (g->mode == FR_CHALLENGER_SHADOW)
        score_shadow(w, jobs, n, g, t0);
    else
        score_canary(w, jobs, n, g, t0);
}

static void process(fr_worker *w, size_t n) {
    fr_workers *ws = w->ws;
    wcounters *wc = &w->wc;
    int64_t t0 = fr_now_ns();
    /* the clock read that times the batch also says the worker is alive */
    atomic_store_explicit(&wc->heartbeat_ns, t0, memory_order_relaxed);
    uint64_t wait_sum = 0;
    int64_t wall_ms = fr_wall_ms(); /* the CreateTime of this batch's messages (fr_job.created_ms) */
    for (size_t i = 0; i < n; i++) {
        w->jobs[i]->created_ms = wall_ms;
        int64_t wait = t0 - w->jobs[i]->t_dispatch_ns;
        fr_ctr_add(&wc->queue_wait[fr_lat_bucket(wait)], 1);
        wait_sum += (uint64_t)(wait > 0 ? wait : 0);
    }
    fr_ctr_add(&wc->queue_wait_sum_ns, wait_sum);
    if (ws->cfg->pipeline.passthrough) {
        for (size_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = w->jobs[i]->msg;
            fr_sink_result(ws->sink, w->jobs[i], m->payload, m->len);
        }
        fr_ctr_add(&wc->scored, n);
    } else {
        /* one run per model generation: a batch that straddles a model swap
         * is scored in two runs, each by one complete model */
        for (size_t i = 0; i < n;) {
            size_t j = i + 1;
            while (j < n && w->jobs[j]->gen == w->jobs[i]->gen) j++;
            score_gen(w, w->jobs + i, j - i, w->jobs[i]->gen, i ? fr_now_ns() : t0);
            i = j;
        }
    }
    fr_ctr_add(&wc->busy_ns, (uint64_t)(fr_now_ns() - t0));
}

static void *worker_main(void *arg) {
    fr_worker *w = arg;
    fr_workers *ws = w->ws;
    int idle = 0;
    /* alive: process() stamps the heartbeat per batch, and so does every
     * wake-up from a (at most 100 ms) sleep */
    atomic_store_explicit(&w->wc.heartbeat_ns, fr_now_ns(), memory_order_relaxed);
    for (;;) {
        size_t n = fr_ring_pop(w->ring, (void **)w->jobs, ws->batch);
        if (n) {
            process(w, n);
            idle = 0;
            continue;
        }
        if (atomic_load_explicit(&ws->stop, memory_order_acquire) && fr_ring_count(w->ring) == 0) break;
        if (++idle < SPIN_POLLS) {
            sched_yield();
            continue;
        }
        worker_sleep(w);
        atomic_store_explicit(&w->wc.heartbeat_ns, fr_now_ns(), memory_order_relaxed);
    }
    return NULL;
}

/* ---- construction and teardown ---- */

int fr_workers_new(const fr_config *c, int n, size_t batch, fr_sink *sink, fr_workers **out, char *err,
                   size_t errlen) {
    int rc = 0;
    *out = NULL;
    fr_workers *ws = calloc(1, sizeof *ws);
    if (!ws) return fr_set_err(err, errlen, FR_ENOMEM, "out of memory (workers)");
    ws->cfg = c;
    ws->sink = sink;
    ws->n = n;
    ws->batch = batch;
    atomic_init(&ws->stop, 0);
    ws->w = calloc((size_t)n, sizeof *ws->w);
    ws->wake_words = (uint32_t)((n + 63) / 64);
    ws->to_wake = calloc(ws->wake_words, sizeof *ws->to_wake);
    if (!ws->w || !ws->to_wake) {
        rc = fr_set_err(err, errlen, FR_ENOMEM, "out of memory (workers)");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        fr_worker *w = &ws->w[i];
        w->ws = ws;
        w->id = i;
        pthread_mutex_init(&w->mu, NULL);
        pthread_cond_init(&w->cv, NULL);
        atomic_init(&w->sleeping, 0);
        w->ring = fr_ring_new((size_t)c->pipeline.ring_capacity);
        w->jobs = calloc(batch, sizeof *w->jobs);
        w->slices = calloc(batch, sizeof *w->slices);
        w->scored = calloc(batch, sizeof *w->scored);
        w->scored2 = calloc(batch, sizeof *w->scored2);
        w->composed = calloc(batch, sizeof *w->composed);
        w->composed_len = calloc(batch, sizeof *w->composed_len);
        w->split = calloc(batch, sizeof *w->split);
        if (!w->ring || !w->jobs || !w->slices || !w->scored || !w->scored2 || !w->composed || !w->composed_len ||
            !w->split) {
            rc = fr_set_err(err, errlen, FR_ENOMEM, "out of memory (worker %d)", i);
            goto out;
        }
    }
out:
    if (rc)
        fr_workers_free(ws);
    else
        *out = ws;
    return rc;
}

int fr_workers_start(fr_workers *ws, char *err, size_t errlen) {
    for (int i = 0; i < ws->n; i++) {
        fr_worker *w = &ws->w[i];
        char name[16];
        snprintf(name, sizeof name, "fr:worker%d", w->id);
        int e = fr_thread_start(&w->thread, worker_main, w, name);
        if (e) return fr_set_err(err, errlen, FR_ENOMEM, "starting worker %d: %s", i, strerror(e));
        w->started = 1;
    }
    return 0;
}

void fr_workers_stop(fr_workers *ws) {
    /* once: fr_pipeline_free stops them again after the sink is gone */
    if (ws->stopped) return;
    ws->stopped = 1;
    atomic_store_explicit(&ws->stop, 1, memory_order_release);
    /* a worker waiting for room in the producer's queue gives up, so the
     * join below is bounded (its job stays in flight, uncommitted) */
    fr_sink_stop_waiting(ws->sink);
    for (int i = 0; ws->w && i < ws->n; i++) {
        fr_worker *w = &ws->w[i];
        if (!w->started) continue;
        pthread_mutex_lock(&w->mu);
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thread, NULL);
        w->started = 0;
    }
}

void fr_workers_free(fr_workers *ws) {
    if (!ws) return;
    fr_workers_stop(ws);
    for (int i = 0; ws->w && i < ws->n; i++) {
        fr_worker *w = &ws->w[i];
        fr_ring_free(w->ring);
        free(w->jobs);
        free(w->slices);
        free(w->scored);
        free(w->scored2);
        free(w->composed);
        free(w->composed_len);
        free(w->compose);
        free(w->split);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
    }
    free(ws->w);
    free(ws->to_wake);
    free(ws);
}

/* ---- the run thread's side ---- */

int fr_workers_count(const fr_workers *ws) { return ws->n; }

fr_worker *fr_workers_at(fr_workers *ws, int i) { return &ws->w[i]; }

int fr_worker_room(const fr_worker *w) { return fr_ring_free_slots(w->ring) != 0; }

void fr_worker_push(fr_workers *ws, fr_worker *w, fr_job *job) {
    void *item = job;
    /* a header list this worker built earlier, for it to free before it
     * builds the next (fr_job's spare_hdrs) */
    job->worker = (uint32_t)w->id;
    if (!job->spare_hdrs) job->spare_hdrs = fr_sink_spare_headers(ws->sink, job->worker);
    /* ownership of job moves to the worker */
    size_t pushed = fr_ring_push(w->ring, &item, 1);
    (void)pushed; /* fr_worker_room said there was room and only we push */
    ws->to_wake[w->id / 64] |= (uint64_t)1 << (w->id % 64);
}

void fr_workers_wake(fr_workers *ws) {
    for (uint32_t i = 0; i < ws->wake_words; i++) {
        uint64_t m = ws->to_wake[i];
        ws->to_wake[i] = 0;
        while (m) {
            int b = __builtin_ctzll(m);
            m &= m - 1;
            worker_wake(&ws->w[i * 64 + (uint32_t)b]);
        }
    }
}

/* ---- statistics ---- */

void fr_workers_stats(const fr_workers *ws, int i, fr_worker_stats *out) {
    const fr_worker *w = &ws->w[i];
    out->ring_depth = fr_ring_count(w->ring);
    out->ring_capacity = fr_ring_capacity(w->ring);
    out->busy_ns = fr_ctr_get(&w->wc.busy_ns);
    out->heartbeat_ns = atomic_load_explicit(&w->wc.heartbeat_ns, memory_order_relaxed);
}

void fr_workers_add_stats(const fr_workers *ws, fr_stats *s) {
    /* per-worker counters, summed here rather than shared on the hot path */
    for (int w = 0; w < ws->n; w++) {
        const wcounters *wc = &ws->w[w].wc;
        for (int i = 0; i <= FR_REJ_PREPROCESS; i++) s->rejects[i] += fr_ctr_get(&wc->rejects[i]);
        s->scored += fr_ctr_get(&wc->scored);
        s->batches += fr_ctr_get(&wc->batches);
        s->queue_wait_sum_ns += fr_ctr_get(&wc->queue_wait_sum_ns);
        s->inference_sum_ns += fr_ctr_get(&wc->inference_sum_ns);
        fr_lat_hist_add(s->queue_wait, wc->queue_wait);
        fr_lat_hist_add(s->inference, wc->inference);
    }
}
