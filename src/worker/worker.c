/* Workers: N threads, each the only consumer of its own ring.
 *
 * A worker pops up to pipeline.batch_size jobs at once, scores them in one
 * fr_scorer_run call (the hot path of `fraudd score`, unchanged: decode,
 * model over the whole micro-batch, score, encode) and hands each result or
 * dead letter to the sink. Each job names the model generation it was
 * dispatched with; the worker runs that generation's scorer (its own, one
 * per worker per generation), so a model swap needs no lock here. In pass-through mode (the benchmark baseline) it
 * forwards the input bytes instead of scoring.
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
#define _GNU_SOURCE /* pthread_setname_np */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fraudd/err.h"
#include "fraudd/log.h"
#include "pipeline/internal.h"

#define SPIN_POLLS 64

void fr_worker_wake(fr_worker *w) {
    if (atomic_fetch_add_explicit(&w->sleeping, 0, memory_order_acq_rel)) { /* [S1] pairs with [W1] */
        pthread_mutex_lock(&w->mu);
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
    }
}

static void worker_sleep(fr_worker *w) {
    pthread_mutex_lock(&w->mu);
    atomic_exchange_explicit(&w->sleeping, 1, memory_order_acq_rel); /* [W1] pairs with [S1] */
    if (fr_ring_count(w->ring) == 0 && !atomic_load_explicit(&w->p->workers_stop, memory_order_acquire)) {
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

/* Scores jobs[0..n), which all carry generation g, with g's scorer for this
 * worker, then hands each result or dead letter to the sink. Everything
 * that reads g (its scorer's output, its statistics) happens before the
 * job that keeps g alive is produced: after its last job's produce call,
 * the run thread may free g (src/pipeline/models.c). */
static void score_run(fr_worker *w, fr_job **jobs, size_t n, fr_mgen *g) {
    fr_pipeline *p = w->p;
    fr_wcounters *wc = &w->wc;
    int64_t t0 = fr_now_ns();
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = jobs[i]->msg;
        w->slices[i].ptr = m->payload ? m->payload : "";
        w->slices[i].len = m->payload ? m->len : 0;
    }
    int rc = fr_scorer_run(g->scorers[w->id], w->slices, n, 0, w->scored);
    int64_t t1 = fr_now_ns();
    fr_ctr_add(&wc->inference[fr_lat_bucket(t1 - t0)], 1);
    fr_ctr_add(&wc->inference_sum_ns, (uint64_t)(t1 - t0));
    fr_ctr_add(&wc->batches, 1);
    if (rc) {
        /* out of memory or a result over its size bound: never drop the
         * records, dead-letter them with the reason */
        for (size_t i = 0; i < n; i++)
            fr_sink_dead_letter(p, jobs[i], FR_DEAD_SCORER, "scorer_failed", fr_strerror(rc));
        return;
    }
    uint64_t rej[FR_REJ_PREPROCESS + 1] = {0};
    uint64_t results = 0, score_micro = 0;
    fr_mgen_wstats *gs = &g->wstats[w->id];
    for (size_t i = 0; i < n; i++) {
        const fr_scored *s = &w->scored[i];
        if (s->reject == FR_REJ_NONE) {
            jobs[i]->flagged = (uint8_t)(s->is_fraud != 0);
            fr_ctr_add(&gs->scores[fr_score_bucket(s->score)], 1);
            score_micro += s->score > 0 && s->score < 1e12 ? (uint64_t)(s->score * 1e6) : 0;
            results++;
        } else {
            rej[s->reject]++;
        }
    }
    fr_ctr_add(&gs->score_sum_micro, score_micro);
    for (int r = 0; r <= FR_REJ_PREPROCESS; r++)
        if (rej[r]) fr_ctr_add(&wc->rejects[r], rej[r]);
    fr_ctr_add(&wc->scored, results);
    for (size_t i = 0; i < n; i++) {
        fr_job *job = jobs[i];
        const fr_scored *s = &w->scored[i];
        if (s->reject == FR_REJ_NONE) {
            fr_sink_result(p, job, s->text, s->len);
        } else {
            static fr_log_limiter lim;
            fr_log_limited(&lim, FR_LOG_WARN, "record_rejected", "%s [%d] offset %lld: %s: %s",
                           p->cfg->kafka.input_topic, (int)job->msg->partition, (long long)job->msg->offset,
                           fr_reject_name(s->reject), s->text);
            fr_sink_dead_letter(p, job, (int)s->reject, fr_reject_name(s->reject), s->text);
        }
    }
}

static void process(fr_worker *w, size_t n) {
    fr_pipeline *p = w->p;
    fr_wcounters *wc = &w->wc;
    int64_t t0 = fr_now_ns();
    uint64_t wait_sum = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t wait = t0 - w->jobs[i]->t_dispatch_ns;
        fr_ctr_add(&wc->queue_wait[fr_lat_bucket(wait)], 1);
        wait_sum += (uint64_t)(wait > 0 ? wait : 0);
    }
    fr_ctr_add(&wc->queue_wait_sum_ns, wait_sum);
    if (p->cfg->pipeline.passthrough) {
        for (size_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = w->jobs[i]->msg;
            fr_sink_result(p, w->jobs[i], m->payload, m->len);
        }
        fr_ctr_add(&wc->scored, n);
    } else {
        /* one run per model generation: a batch that straddles a model swap
         * is scored in two runs, each by one complete model */
        for (size_t i = 0; i < n;) {
            size_t j = i + 1;
            while (j < n && w->jobs[j]->gen == w->jobs[i]->gen) j++;
            score_run(w, w->jobs + i, j - i, w->jobs[i]->gen);
            i = j;
        }
    }
    fr_ctr_add(&wc->busy_ns, (uint64_t)(fr_now_ns() - t0));
}

static void *worker_main(void *arg) {
    fr_worker *w = arg;
    fr_pipeline *p = w->p;
    char name[16];
    snprintf(name, sizeof name, "fr:worker%d", w->id);
    pthread_setname_np(pthread_self(), name); /* shows in top -H, perf, /proc/PID/task */
    int idle = 0;
    for (;;) {
        atomic_store_explicit(&w->wc.heartbeat_ns, fr_now_ns(), memory_order_relaxed);
        size_t n = fr_ring_pop(w->ring, (void **)w->jobs, p->batch);
        if (n) {
            process(w, n);
            idle = 0;
            continue;
        }
        if (atomic_load_explicit(&p->workers_stop, memory_order_acquire) && fr_ring_count(w->ring) == 0) break;
        if (++idle < SPIN_POLLS) {
            sched_yield();
            continue;
        }
        worker_sleep(w);
    }
    return NULL;
}

int fr_workers_start(fr_pipeline *p, char *err, size_t errlen) {
    /* workers start with every signal blocked, so SIGTERM/SIGINT reach the
     * run thread, whose loop reads the flag the handler sets */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = 0;
    for (int i = 0; i < p->n_workers && !rc; i++) {
        fr_worker *w = &p->workers[i];
        int e = pthread_create(&w->thread, NULL, worker_main, w);
        if (e)
            rc = fr_set_err(err, errlen, FR_ENOMEM, "starting worker %d: %s", i, strerror(e));
        else
            w->started = 1;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

void fr_workers_stop(fr_pipeline *p) {
    atomic_store_explicit(&p->workers_stop, 1, memory_order_release);
    for (int i = 0; i < p->n_workers; i++) {
        fr_worker *w = &p->workers[i];
        if (!w->started) continue;
        pthread_mutex_lock(&w->mu);
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thread, NULL);
        w->started = 0;
    }
}
