/* fraudd logging: one line per event, JSON lines or plain text.
 *
 *   {"ts":"2026-11-24T11:50:02.123Z","level":"info","event":"assigned","msg":"transactions [0,1]"}
 *   2026-11-24T11:50:02.123Z info  assigned: transactions [0,1]
 *
 * Lifecycle events (assignment, revocation, model loaded, shutdown) log one
 * line each. Per-record problems go through a rate limiter: at most one line
 * per interval per limiter, and the next line says how many were suppressed.
 *
 * Thread safety: every function may be called from any thread. A line is
 * written with one write(2), so lines from threads never interleave.
 * Secrets: callers never pass secret values; fr_config_is_secret decides.
 * Clocks are in include/fraudd/common.h.
 */
#ifndef FRAUDD_LOG_H
#define FRAUDD_LOG_H

#include <stdatomic.h>
#include <stdint.h>


#ifdef __cplusplus
extern "C" {
#endif

typedef enum fr_log_format { FR_LOGFMT_JSON = 0, FR_LOGFMT_TEXT } fr_log_format;
typedef enum fr_log_level { FR_LOG_DEBUG = 0, FR_LOG_INFO, FR_LOG_WARN, FR_LOG_ERROR } fr_log_level;

/* Process-wide settings; default: JSON, info, to stderr (fd 2). */
void fr_log_setup(fr_log_format fmt, fr_log_level level, int fd);

/* event: a short stable name ("assigned", "model_loaded"); msg: printf. */
void fr_log(fr_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A per-kind rate limiter for warnings about records. Zero-initialise, set
 * interval_ms (0 = fr_log_setup's default of 1000). */
typedef struct fr_log_limiter {
    _Atomic int64_t next_ns;     /* earliest time the next line may go out */
    _Atomic uint64_t suppressed; /* lines dropped since the last one written */
    int64_t interval_ms;
} fr_log_limiter;

void fr_log_set_default_interval(int64_t interval_ms);

/* Logs like fr_log if the limiter allows, appending " (N similar
 * suppressed)" when lines were dropped. Returns 1 if written. */
int fr_log_limited(fr_log_limiter *lim, fr_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#ifdef __cplusplus
}
#endif

#endif
