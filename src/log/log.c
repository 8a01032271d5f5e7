/* Logging (include/fraudd/log.h).
 *
 * Settings are process-wide atomics written by fr_log_setup at start-up;
 * any thread may log. Each line is formatted into a stack buffer and written
 * with a single write(2), which keeps lines from different threads whole
 * (pipes and files opened O_APPEND write up to PIPE_BUF atomically; longer
 * messages are cut at FR_LOG_LINE_MAX).
 *
 * The rate limiter is lock-free: a compare-and-swap on next_ns lets exactly
 * one thread through per interval; the others count themselves in
 * `suppressed`, which the winner reports and resets.
 */
#include "fraudd/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fraudd/common.h"
#include "fraudd/encode.h"

#define FR_LOG_LINE_MAX 4096

static _Atomic int g_format = FR_LOGFMT_JSON;
static _Atomic int g_level = FR_LOG_INFO;
static _Atomic int g_fd = 2;
static _Atomic int64_t g_interval_ms = 1000;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void fr_log_setup(fr_log_format fmt, fr_log_level level, int fd) {
    atomic_store_explicit(&g_format, (int)fmt, memory_order_relaxed);
    atomic_store_explicit(&g_level, (int)level, memory_order_relaxed);
    atomic_store_explicit(&g_fd, fd, memory_order_relaxed);
}

void fr_log_set_default_interval(int64_t interval_ms) {
    atomic_store_explicit(&g_interval_ms, interval_ms > 0 ? interval_ms : 1000, memory_order_relaxed);
}

static int log_enabled(fr_log_level level) {
    return (int)level >= atomic_load_explicit(&g_level, memory_order_relaxed);
}

static size_t fmt_ts(char *dst, size_t cap) {
    int64_t ms = fr_wall_ms();
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(dst, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    int k = snprintf(dst + n, cap - n, ".%03dZ", (int)(ms % 1000));
    return n + (k > 0 ? (size_t)k : 0);
}

static void emit(fr_log_level level, const char *event, const char *fmt, va_list ap, uint64_t suppressed) {
    char msg[FR_LOG_LINE_MAX / 2];
    char line[FR_LOG_LINE_MAX];
    char ts[48];
    int m = vsnprintf(msg, sizeof msg, fmt, ap);
    size_t mlen = m < 0 ? 0 : ((size_t)m >= sizeof msg ? sizeof msg - 1 : (size_t)m);
    if (suppressed) {
        int k = snprintf(msg + mlen, sizeof msg - mlen, " (%llu similar suppressed)", (unsigned long long)suppressed);
        if (k > 0) mlen = mlen + (size_t)k >= sizeof msg ? sizeof msg - 1 : mlen + (size_t)k;
    }
    fmt_ts(ts, sizeof ts);
    size_t n = 0;
    if (atomic_load_explicit(&g_format, memory_order_relaxed) == FR_LOGFMT_JSON) {
        int k = snprintf(line, sizeof line, "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":", ts, level_names[level]);
        n = (size_t)k;
        size_t q = fr_json_quote(line + n, sizeof line - n, event, strlen(event));
        n += q;
        if (n + 8 < sizeof line) {
            memcpy(line + n, ",\"msg\":", 7);
            n += 7;
            /* cut the message until its quoted form fits */
            size_t room = sizeof line - n - 3;
            while ((q = fr_json_quote(line + n, room, msg, mlen)) == 0 && mlen > 0) mlen = mlen > 64 ? mlen - 64 : 0;
            if (q == 0) q = fr_json_quote(line + n, room, "", 0);
            n += q;
        }
        line[n++] = '}';
    } else {
        int k = snprintf(line, sizeof line - 1, "%s %-5s %s: %.*s", ts, level_names[level], event, (int)mlen, msg);
        n = k < 0 ? 0 : ((size_t)k >= sizeof line - 1 ? sizeof line - 2 : (size_t)k);
    }
    line[n++] = '\n';
    int fd = atomic_load_explicit(&g_fd, memory_order_relaxed);
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, line + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        off += (size_t)w;
    }
}

void fr_log(fr_log_level level, const char *event, const char *fmt, ...) {
    if (!log_enabled(level)) return;
    va_list ap;
    va_start(ap, fmt);
    emit(level, event, fmt, ap, 0);
    va_end(ap);
}

int fr_log_limited(fr_log_limiter *lim, fr_log_level level, const char *event, const char *fmt, ...) {
    if (!log_enabled(level)) return 0;
    int64_t now = fr_now_ns();
    int64_t iv = lim->interval_ms > 0 ? lim->interval_ms : atomic_load_explicit(&g_interval_ms, memory_order_relaxed);
    int64_t next = atomic_load_explicit(&lim->next_ns, memory_order_relaxed);
    /* relaxed is enough: the limiter orders nothing but itself */
    if (now < next ||
        !atomic_compare_exchange_strong_explicit(&lim->next_ns, &next, now + iv * 1000000, memory_order_relaxed,
                                                 memory_order_relaxed)) {
        atomic_fetch_add_explicit(&lim->suppressed, 1, memory_order_relaxed);
        return 0;
    }
    uint64_t sup = atomic_exchange_explicit(&lim->suppressed, 0, memory_order_relaxed);
    va_list ap;
    va_start(ap, fmt);
    emit(level, event, fmt, ap, sup);
    va_end(ap);
    return 1;
}
