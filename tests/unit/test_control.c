/* Proves control-plane helpers of the daemon:
 *  - fr_cpu_count honours a cgroup v2 cpu.max quota (rounded up), ignores
 *    "max", honours a cgroup v1 cfs quota, never exceeds the affinity mask
 *    and never returns less than 1;
 *  - JSON log lines are one valid JSON object each (jansson) with ts, level,
 *    event and msg, quotes and control characters escaped, long messages cut
 *    but still valid; text lines carry level and event;
 *  - the level filter drops lower levels;
 *  - the rate limiter lets one line per interval through and reports how
 *    many were suppressed in the next one.
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fraudd/common.h"
#include "fraudd/log.h"
#include "fraudd/source.h"

static int affinity(void) {
    cpu_set_t s;
    sched_getaffinity(0, sizeof s, &s);
    return CPU_COUNT(&s);
}

static void write_file(const char *dir, const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void cpu_count_follows_the_cgroup_quota(void **state) {
    (void)state;
    char dir[] = "/tmp/fr-cgroup-XXXXXX";
    assert_non_null(mkdtemp(dir));
    int aff = affinity();
    /* no cgroup files: the affinity mask */
    assert_int_equal(fr_cpu_count(dir), aff);
    /* v2, unlimited */
    write_file(dir, "cpu.max", "max 100000\n");
    assert_int_equal(fr_cpu_count(dir), aff);
    /* v2, 1.5 CPUs -> 2 (rounded up), capped by affinity */
    write_file(dir, "cpu.max", "150000 100000\n");
    assert_int_equal(fr_cpu_count(dir), aff < 2 ? aff : 2);
    /* v2, half a CPU -> 1 */
    write_file(dir, "cpu.max", "50000 100000\n");
    assert_int_equal(fr_cpu_count(dir), 1);
    char path[512];
    snprintf(path, sizeof path, "%s/cpu.max", dir);
    unlink(path);
    /* v1 */
    snprintf(path, sizeof path, "%s/cpu", dir);
    mkdir(path, 0700);
    write_file(dir, "cpu/cpu.cfs_quota_us", "100000\n");
    write_file(dir, "cpu/cpu.cfs_period_us", "100000\n");
    assert_int_equal(fr_cpu_count(dir), 1);
    write_file(dir, "cpu/cpu.cfs_quota_us", "-1\n");
    assert_int_equal(fr_cpu_count(dir), aff);
    unlink(strcat(strcpy(path, dir), "/cpu/cpu.cfs_quota_us"));
    unlink(strcat(strcpy(path, dir), "/cpu/cpu.cfs_period_us"));
    rmdir(strcat(strcpy(path, dir), "/cpu"));
    rmdir(dir);
}

static char *run_logged(fr_log_format fmt, fr_log_level lvl, void (*fn)(void)) {
    char path[] = "/tmp/fr-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fr_log_setup(fmt, lvl, fd);
    fn();
    fr_log_setup(FR_LOGFMT_JSON, FR_LOG_INFO, 2);
    off_t n = lseek(fd, 0, SEEK_END);
    char *buf = calloc(1, (size_t)n + 1);
    assert_int_equal(pread(fd, buf, (size_t)n, 0), n);
    close(fd);
    unlink(path);
    return buf;
}

static void log_some(void) {
    fr_log(FR_LOG_INFO, "assigned", "topic \"tx\" partitions [%d,%d]\n\ttab", 0, 1);
    fr_log(FR_LOG_DEBUG, "noise", "dropped at info");
    char big[6000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    fr_log(FR_LOG_WARN, "long", "%s", big);
}

static void json_lines_are_valid_json_objects(void **state) {
    (void)state;
    char *out = run_logged(FR_LOGFMT_JSON, FR_LOG_INFO, log_some);
    int lines = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);
        assert_non_null(j);
        assert_true(json_is_string(json_object_get(j, "ts")));
        assert_true(json_is_string(json_object_get(j, "level")));
        assert_true(json_is_string(json_object_get(j, "msg")));
        const char *ev = json_string_value(json_object_get(j, "event"));
        if (lines == 0) {
            assert_string_equal(ev, "assigned");
            assert_string_equal(json_string_value(json_object_get(j, "msg")), "topic \"tx\" partitions [0,1]\n\ttab");
        } else {
            assert_string_equal(ev, "long");
            assert_string_equal(json_string_value(json_object_get(j, "level")), "warn");
        }
        json_decref(j);
        lines++;
    }
    assert_int_equal(lines, 2); /* debug dropped */
    free(out);
}

static void text_lines(void) { fr_log(FR_LOG_ERROR, "shutdown_complete", "in %d ms", 12); }

static void text_lines_carry_level_and_event(void **state) {
    (void)state;
    char *out = run_logged(FR_LOGFMT_TEXT, FR_LOG_INFO, text_lines);
    assert_non_null(strstr(out, " error shutdown_complete: in 12 ms\n"));
    free(out);
}

static void limited(void) {
    static fr_log_limiter lim = {.interval_ms = 200};
    for (int i = 0; i < 100; i++) fr_log_limited(&lim, FR_LOG_WARN, "record_rejected", "record %d", i);
    usleep(250 * 1000);
    fr_log_limited(&lim, FR_LOG_WARN, "record_rejected", "record %d", 100);
}

static void rate_limiter_reports_suppressed_lines(void **state) {
    (void)state;
    char *out = run_logged(FR_LOGFMT_TEXT, FR_LOG_INFO, limited);
    assert_non_null(strstr(out, "record_rejected: record 0\n"));
    assert_null(strstr(out, "record 1\n"));
    assert_non_null(strstr(out, "record_rejected: record 100 (99 similar suppressed)\n"));
    free(out);
}

static void memory_limit_follows_the_cgroup(void **state) {
    (void)state;
    char dir[] = "/tmp/fr-cgroup-XXXXXX", path[512];
    assert_non_null(mkdtemp(dir));
    assert_int_equal(fr_memory_limit(dir), -1); /* no cgroup files */
    write_file(dir, "memory.max", "max\n");     /* v2, unlimited */
    assert_int_equal(fr_memory_limit(dir), -1);
    write_file(dir, "memory.max", "536870912\n");
    assert_int_equal(fr_memory_limit(dir), 536870912);
    write_file(dir, "memory.max", "garbage\n");
    assert_int_equal(fr_memory_limit(dir), -1);
    unlink(strcat(strcpy(path, dir), "/memory.max"));
    mkdir(strcat(strcpy(path, dir), "/memory"), 0700); /* v1 */
    write_file(dir, "memory/memory.limit_in_bytes", "9223372036854771712\n"); /* unlimited */
    assert_int_equal(fr_memory_limit(dir), -1);
    write_file(dir, "memory/memory.limit_in_bytes", "268435456\n");
    assert_int_equal(fr_memory_limit(dir), 268435456);
    unlink(strcat(strcpy(path, dir), "/memory/memory.limit_in_bytes"));
    rmdir(strcat(strcpy(path, dir), "/memory"));
    rmdir(dir);
}

/* the prefetch bound keeps every partition's share of half the limit:
 * partitions x (1.6 x bound + 1 MiB) <= limit / 2, within 512 KB..2 MB */
static void prefetch_bound_fits_half_the_memory_limit(void **state) {
    (void)state;
    const int64_t mib = 1 << 20;
    assert_int_equal(fr_source_prefetch_kb(-1, 64), FR_PREFETCH_KB_MAX);       /* no limit */
    assert_int_equal(fr_source_prefetch_kb(512 * mib, 0), FR_PREFETCH_KB_MAX); /* count unknown */
    assert_int_equal(fr_source_prefetch_kb(512 * mib, 4), FR_PREFETCH_KB_MAX); /* the cap */
    assert_int_equal(fr_source_prefetch_kb(512 * mib, 64), 1920);              /* (4 MiB - 1 MiB) / 1.6 */
    assert_int_equal(fr_source_prefetch_kb(256 * mib, 64), 640);               /* (2 MiB - 1 MiB) / 1.6 */
    assert_int_equal(fr_source_prefetch_kb(512 * mib, 5000), FR_PREFETCH_KB_MIN); /* the floor */
    for (int n = 1; n <= 1024; n *= 2)
        for (int64_t lim = 64 * mib; lim <= 8192 * mib; lim *= 2) {
            int kb = fr_source_prefetch_kb(lim, n);
            assert_in_range(kb, FR_PREFETCH_KB_MIN, FR_PREFETCH_KB_MAX);
            if (kb > FR_PREFETCH_KB_MIN) assert_true(n * (1.6 * kb * 1024 + 1048576) <= lim / 2 + 1);
            if (kb < FR_PREFETCH_KB_MAX) assert_true(n * (1.6 * (kb + 1) * 1024 + 1048576) > lim / 2);
        }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cpu_count_follows_the_cgroup_quota),
        cmocka_unit_test(memory_limit_follows_the_cgroup),
        cmocka_unit_test(prefetch_bound_fits_half_the_memory_limit),
        cmocka_unit_test(json_lines_are_valid_json_objects),
        cmocka_unit_test(text_lines_carry_level_and_event),
        cmocka_unit_test(rate_limiter_reports_suppressed_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
