/* ThreadSanitizer builds only (CMake adds this file to the executables when
 * FR_TSAN is on).
 *
 * Debian's librdkafka creates its threads and locks with C11 <threads.h>
 * (thrd_create, mtx_lock, cnd_wait, ...). glibc implements those by calling
 * its internal pthread functions directly, which ThreadSanitizer does not
 * intercept: threads started that way have no TSan state (the process
 * crashes in the first intercepted call) and their locks are invisible
 * (false reports). Defining the C11 functions here, on top of the public
 * pthread ones that TSan does intercept, makes the dynamic linker bind
 * librdkafka's references to these definitions, so the whole pipeline,
 * librdkafka included, runs under TSan. Layouts are asserted below.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

_Static_assert(sizeof(mtx_t) == sizeof(pthread_mutex_t), "mtx_t must be a pthread_mutex_t");
_Static_assert(sizeof(cnd_t) == sizeof(pthread_cond_t), "cnd_t must be a pthread_cond_t");
_Static_assert(sizeof(once_flag) == sizeof(pthread_once_t), "once_flag must be a pthread_once_t");
_Static_assert(sizeof(thrd_t) == sizeof(pthread_t), "thrd_t must be a pthread_t");

static int map(int rc) { return rc == 0 ? thrd_success : rc == ENOMEM ? thrd_nomem : rc == ETIMEDOUT ? thrd_timedout
                                                       : rc == EBUSY  ? thrd_busy : thrd_error; }

int mtx_init(mtx_t *m, int type) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    if (type & mtx_recursive) pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    int rc = pthread_mutex_init((pthread_mutex_t *)m, &a);
    pthread_mutexattr_destroy(&a);
    return map(rc);
}
int mtx_lock(mtx_t *m) { return map(pthread_mutex_lock((pthread_mutex_t *)m)); }
int mtx_trylock(mtx_t *m) { return map(pthread_mutex_trylock((pthread_mutex_t *)m)); }
int mtx_unlock(mtx_t *m) { return map(pthread_mutex_unlock((pthread_mutex_t *)m)); }
void mtx_destroy(mtx_t *m) { pthread_mutex_destroy((pthread_mutex_t *)m); }

int cnd_init(cnd_t *c) { return map(pthread_cond_init((pthread_cond_t *)c, NULL)); }
int cnd_signal(cnd_t *c) { return map(pthread_cond_signal((pthread_cond_t *)c)); }
int cnd_broadcast(cnd_t *c) { return map(pthread_cond_broadcast((pthread_cond_t *)c)); }
int cnd_wait(cnd_t *c, mtx_t *m) { return map(pthread_cond_wait((pthread_cond_t *)c, (pthread_mutex_t *)m)); }
int cnd_timedwait(cnd_t *restrict c, mtx_t *restrict m, const struct timespec *restrict ts) {
    return map(pthread_cond_timedwait((pthread_cond_t *)c, (pthread_mutex_t *)m, ts));
}
void cnd_destroy(cnd_t *c) { pthread_cond_destroy((pthread_cond_t *)c); }

typedef struct tramp {
    thrd_start_t fn;
    void *arg;
} tramp;

static void *run_tramp(void *p) {
    tramp t = *(tramp *)p;
    free(p);
    return (void *)(intptr_t)t.fn(t.arg);
}

int thrd_create(thrd_t *thr, thrd_start_t fn, void *arg) {
    tramp *t = malloc(sizeof *t);
    if (!t) return thrd_nomem;
    t->fn = fn;
    t->arg = arg;
    pthread_t pt;
    int rc = pthread_create(&pt, NULL, run_tramp, t);
    if (rc) {
        free(t);
        return map(rc);
    }
    *thr = (thrd_t)pt;
    return thrd_success;
}

int thrd_join(thrd_t thr, int *res) {
    void *rv;
    int rc = pthread_join((pthread_t)thr, &rv);
    if (!rc && res) *res = (int)(intptr_t)rv;
    return map(rc);
}

thrd_t thrd_current(void) { return (thrd_t)pthread_self(); }

void call_once(once_flag *flag, void (*fn)(void)) { pthread_once((pthread_once_t *)flag, fn); }
