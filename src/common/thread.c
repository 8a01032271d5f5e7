/* Threads that leave signals to the run thread (include/fraudd/common.h).
 *
 * Signal handlers only set flags (sig_atomic_t) and the run thread's loop
 * acts on them. A signal is delivered to any thread that does not block
 * it, so every other thread fraudd starts (workers, the reloader, the
 * demo's generator, libmicrohttpd's) starts with all signals blocked: it
 * inherits the mask of the thread that creates it, which blocks them for
 * the duration of the create. librdkafka blocks them in its own threads.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "fraudd/common.h"

void fr_signals_block(sigset_t *old) {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, old);
}

void fr_signals_restore(const sigset_t *old) { pthread_sigmask(SIG_SETMASK, old, NULL); }

int fr_thread_start(pthread_t *t, void *(*fn)(void *), void *arg, const char *name) {
    sigset_t old;
    fr_signals_block(&old);
    int e = pthread_create(t, NULL, fn, arg);
    fr_signals_restore(&old);
    if (!e && name) pthread_setname_np(*t, name);
    return e;
}

void fr_cond_init_monotonic(pthread_cond_t *c) {
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(c, &ca);
    pthread_condattr_destroy(&ca);
}

struct timespec fr_mono_after_ms(int64_t ms) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (ms < 0) ms = 0;
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    return ts;
}
