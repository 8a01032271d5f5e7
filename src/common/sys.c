/* What the process may use, and what it may print (include/fraudd/common.h). */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include <math.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fraudd/common.h"

static int read_text(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = 0;
    return (int)n;
}

int fr_cpu_count(const char *root) {
    int n = 1;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
    else {
        long k = sysconf(_SC_NPROCESSORS_ONLN);
        n = k > 0 ? (int)k : 1;
    }
    char path[512], buf[128];
    double quota = -1, period = -1;
    /* cgroup v2: "<quota|max> <period>" */
    snprintf(path, sizeof path, "%s/cpu.max", root);
    if (read_text(path, buf, sizeof buf) > 0) {
        char q[32];
        if (sscanf(buf, "%31s %lf", q, &period) == 2 && strcmp(q, "max") != 0) quota = strtod(q, NULL);
    } else {
        /* cgroup v1 */
        snprintf(path, sizeof path, "%s/cpu/cpu.cfs_quota_us", root);
        if (read_text(path, buf, sizeof buf) > 0) quota = strtod(buf, NULL);
        snprintf(path, sizeof path, "%s/cpu/cpu.cfs_period_us", root);
        if (read_text(path, buf, sizeof buf) > 0) period = strtod(buf, NULL);
    }
    if (quota > 0 && period > 0) {
        int q = (int)ceil(quota / period);
        if (q < n) n = q;
    }
    return n < 1 ? 1 : n;
}

int64_t fr_memory_limit(const char *root) {
    char path[512], buf[128];
    /* cgroup v2: "max" or bytes */
    snprintf(path, sizeof path, "%s/memory.max", root);
    if (read_text(path, buf, sizeof buf) > 0) {
        if (strncmp(buf, "max", 3) == 0) return -1;
        char *end;
        long long v = strtoll(buf, &end, 10);
        return end != buf && v > 0 ? (int64_t)v : -1;
    }
    /* cgroup v1: no limit reads as a huge number (PAGE_COUNTER_MAX pages) */
    snprintf(path, sizeof path, "%s/memory/memory.limit_in_bytes", root);
    if (read_text(path, buf, sizeof buf) > 0) {
        char *end;
        long long v = strtoll(buf, &end, 10);
        return end != buf && v > 0 && v < (1LL << 60) ? (int64_t)v : -1;
    }
    return -1;
}

const char *fr_url_host(const char *url, size_t *len) {
    const char *auth = strstr(url, "://");
    auth = auth ? auth + 3 : url;
    const char *end = auth + strcspn(auth, "/?#"), *host = auth;
    for (const char *p = auth; p < end; p++) /* the last '@': a raw '@' in a password is not the host */
        if (*p == '@') host = p + 1;
    *len = (size_t)(end - host);
    return host;
}

void fr_url_redact(const char *url, int markers, char *dst, size_t cap) {
    const char *auth = strstr(url, "://");
    auth = auth ? auth + 3 : url;
    size_t hl;
    const char *rest = fr_url_host(url, &hl);
    int at = rest > auth; /* credentials before the host */
    size_t tail = strcspn(rest, "?#");
    int query = rest[tail] == '?', fragment = strchr(rest, '#') != NULL;
    snprintf(dst, cap, "%.*s%s%.*s%s%s", (int)(auth - url), url, at && markers ? "[redacted]@" : "", (int)tail, rest,
             query && markers ? "?[redacted]" : "", fragment && markers ? "#[redacted]" : "");
}
