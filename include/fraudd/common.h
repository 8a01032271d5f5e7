/* fraudd common: the leaf helpers every module may use, and that use no
 * other module (src/common; err.h is its error model).
 *
 *   clock      fr_now_ns (monotonic), fr_wall_ms (wall clock)
 *   buffer     fr_buf, a growable text buffer (the metrics exposition)
 *   threads    fr_thread_start: a thread with every signal blocked, so
 *              SIGTERM / SIGINT / SIGHUP reach only the run thread, whose
 *              loop reads the flags the handlers set; fr_signals_block /
 *              fr_signals_restore around a library that starts its own
 *              threads (libmicrohttpd)
 *   CPUs       fr_cpu_count: what this process may use in its cgroup
 *   URLs       fr_url_redact: a URL safe to log; fr_url_host: its host
 *
 * Thread safety: everything here is thread safe; an fr_buf belongs to one
 * thread at a time.
 */
#ifndef FRAUDD_COMMON_H
#define FRAUDD_COMMON_H

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Monotonic and wall clocks. */
int64_t fr_now_ns(void);
int64_t fr_wall_ms(void);

/* A growable text buffer; zero-initialise, fr_buf_free when done. */
typedef struct fr_buf {
    char *data;
    size_t len, cap;
    int oom; /* an append failed; the text is incomplete */
} fr_buf;

void fr_buf_printf(fr_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fr_buf_free(fr_buf *b);

/* Blocks every signal in the calling thread; *old receives the mask to give
 * back to fr_signals_restore. Threads created in between inherit the full
 * mask. */
void fr_signals_block(sigset_t *old);
void fr_signals_restore(const sigset_t *old);

/* pthread_create with every signal blocked in the new thread, named name
 * (at most 15 characters: top -H, perf, /proc/PID/task). Returns 0 or the
 * pthread_create error number. */
int fr_thread_start(pthread_t *t, void *(*fn)(void *), void *arg, const char *name);

/* Timed waits on the monotonic clock (immune to wall-clock steps): a
 * condition variable for them, and the absolute time ms from now to give
 * pthread_cond_timedwait. */
void fr_cond_init_monotonic(pthread_cond_t *c);
struct timespec fr_mono_after_ms(int64_t ms);

/* CPUs this process may use: the affinity mask, capped by a cgroup v2
 * cpu.max or v1 cfs quota (rounded up) as in a Kubernetes pod. At least 1.
 * cgroup_root is normally "/sys/fs/cgroup" (a parameter for tests). */
int fr_cpu_count(const char *cgroup_root);

/* The memory limit of this process's cgroup in bytes (v2 memory.max, v1
 * memory.limit_in_bytes, as in a Kubernetes pod), -1 when there is none or
 * it cannot be read. */
int64_t fr_memory_limit(const char *cgroup_root);

/* url with its "user:password@" (up to the last '@' before the path), its
 * query (often a signed token) and its fragment removed, or with markers
 * replaced by "[redacted]@" / "?[redacted]" / "#[redacted]". For logs, dumps
 * and config errors; dst is NUL terminated. */
void fr_url_redact(const char *url, int markers, char *dst, size_t cap);
/* The host (with its ":port") of url: after "scheme://" (if any) and any
 * "user:password@" (up to the last '@'), before any '/', '?' or '#';
 * *len its length, 0 when there is none. */
const char *fr_url_host(const char *url, size_t *len);

#ifdef __cplusplus
}
#endif

#endif
