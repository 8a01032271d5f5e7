/* Failures on the delivery path end the run cleanly and lose nothing
 * (the fault issue's cases 2 and 7), on librdkafka's mock cluster:
 *  - an offset tracker that cannot grow (out of memory) stops the run with
 *    exit status FR_EIO and nothing committed at or past the record it could
 *    not track; before, the record was dropped as "out of order" and later
 *    offsets committed past it;
 *  - a SIGTERM drain that times out with records in flight returns FR_EIO
 *    within one shutdown bound (the revoke of the close used to wait a
 *    second full bound), and fr_pipeline_free returns (it used to wait
 *    forever, destroying the consumer while jobs still held its messages);
 *  - a shutdown step that never returns (a librdkafka close or destroy
 *    stuck: they take no timeout) ends the process with status 1 within
 *    shutdown_timeout_ms + the watchdog's grace, instead of hanging.
 * The failures are injected by linking this test with
 * -Wl,--wrap=fr_otrack_push -Wl,--wrap=fr_source_close: every call goes
 * through the __wrap_ functions below.
 */
#define _GNU_SOURCE /* memmem, pthread_timedjoin_np */
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fraudd/err.h"
#include "fraudd/log.h"
#include "fraudd/offsets.h"
#include "fraudd/source.h"
#include "mock_env.h"

/* ---- the injected failure ---- */

static _Atomic int64_t g_fail_at_call = -1; /* the call that fails (0-based), -1: none */
static _Atomic int64_t g_calls;
static _Atomic int64_t g_failed_offset = -1;

int __real_fr_otrack_push(fr_otrack *t, int64_t offset, uint64_t *seq);
int __wrap_fr_otrack_push(fr_otrack *t, int64_t offset, uint64_t *seq) {
    if (atomic_fetch_add(&g_calls, 1) == atomic_load(&g_fail_at_call)) {
        atomic_store(&g_failed_offset, offset);
        return FR_ENOMEM;
    }
    return __real_fr_otrack_push(t, offset, seq);
}

static _Atomic int g_close_hangs; /* fr_source_close never returns */

void __real_fr_source_close(fr_source *s);
void __wrap_fr_source_close(fr_source *s) {
    while (atomic_load(&g_close_hangs)) pause();
    __real_fr_source_close(s);
}

/* Waits up to secs for the run thread to end on its own; 1 if it did. */
static int run_ended_within(env *e, int secs) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += secs;
    return pthread_timedjoin_np(e->thread, NULL, &ts) == 0;
}

static void *free_thread(void *arg) {
    fr_pipeline_free(arg);
    return NULL;
}

/* fr_pipeline_free in a thread: a hang fails the test instead of the run. */
static void free_within(env *e, int secs) {
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, free_thread, e->p), 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += secs;
    if (pthread_timedjoin_np(t, NULL, &ts) != 0) {
        fprintf(stderr, "fr_pipeline_free did not return within %d s\n", secs);
        _exit(1); /* the stuck thread would hang the process at exit */
    }
    e->p = NULL;
}

static void an_offset_tracker_out_of_memory_stops_the_run_and_commits_nothing_past_it(void **state) {
    (void)state;
    enum { N = 400 };
    env *e = env_new_parts(1, 3, 1);
    produce_records(e, N, 11, "card");
    atomic_store(&g_calls, 0);
    atomic_store(&g_failed_offset, -1);
    atomic_store(&g_fail_at_call, 150); /* the 151st record the source tries to track */
    start(e);
    int ended = run_ended_within(e, 20);
    atomic_store(&g_fail_at_call, -1);
    if (!ended) { /* the old behaviour: it skipped the record and went on */
        fr_pipeline_stop(e->p);
        pthread_join(e->thread, NULL);
    }
    int64_t failed = atomic_load(&g_failed_offset);
    int64_t c = committed(e, 0);
    fprintf(stderr, "tracker failed at offset %lld; run ended by itself: %d, rc %d; committed offset %lld\n",
            (long long)failed, ended, e->rc, (long long)c);
    assert_true(failed >= 0);
    assert_true(ended);             /* a failure on the delivery path stops the run */
    assert_int_equal(e->rc, FR_EIO); /* exit 1 */
    assert_true(c <= failed);       /* nothing at or past the untracked record is committed */
    free_within(e, 15);
    env_free(e);
}

static void a_drain_that_times_out_exits_1_within_one_bound_and_frees(void **state) {
    (void)state;
    enum { N = 200, BOUND_MS = 2000 };
    env *e = env_new(1, 3);
    e->cfg->pipeline.shutdown_timeout_ms = BOUND_MS;
    produce_records(e, N, 12, "card");
    assert_int_equal(rd_kafka_flush(e->host, 10000), 0);
    /* every Produce of fraudd's is refused with a retriable error: librdkafka
     * retries until message.timeout.ms, so the records stay in flight */
    rd_kafka_resp_err_t errs[64];
    for (int i = 0; i < 64; i++) errs[i] = RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS;
    for (int k = 0; k < 50; k++) rd_kafka_mock_push_request_errors_array(e->mc, 0 /* Produce */, 64, errs);
    start(e);
    fr_stats s;
    for (int i = 0; i < 1000; i++) {
        fr_pipeline_get_stats(e->p, &s);
        if (s.consumed >= N) break;
        usleep(10000);
    }
    assert_true(s.consumed >= N);
    assert_true(s.in_flight > 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fr_pipeline_stop(e->p);
    pthread_join(e->thread, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    fprintf(stderr, "shutdown with %llu in flight: rc %d in %.0f ms (bound %d ms)\n",
            (unsigned long long)s.in_flight, e->rc, ms, BOUND_MS);
    free_within(e, 15); /* first: the old code hung here, with jobs holding the consumer's messages */
    assert_int_equal(e->rc, FR_EIO); /* the drain timed out: exit 1 */
    /* one bound, plus the final commit and leaving the group; a second
     * bound (the revoke of the close waiting again) would be 2 x BOUND_MS */
    assert_true(ms < BOUND_MS * 1.6);
    env_free(e);
}

/* In a child process (the watchdog ends the process it runs in): a run
 * whose consumer close never returns. The child must exit with status 1
 * within the shutdown bound + the grace (5 s), logging shutdown_stuck. */
static void a_stuck_shutdown_step_exits_1_within_its_bound(void **state) {
    (void)state;
    enum { BOUND_MS = 1000, GRACE_MS = 5000 };
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        env *e = env_new(1, 3);
        e->cfg->pipeline.shutdown_timeout_ms = BOUND_MS;
        produce_records(e, 50, 13, "card");
        start(e);
        fr_stats s;
        for (int i = 0; i < 1000; i++) {
            fr_pipeline_get_stats(e->p, &s);
            if (s.results >= 50) break;
            usleep(10000);
        }
        atomic_store(&g_close_hangs, 1);
        clock_gettime(CLOCK_MONOTONIC, &t0); /* the stop, in the child's own clock */
        fr_pipeline_stop(e->p);
        pthread_join(e->thread, NULL); /* never returns: close hangs, the watchdog exits */
        _exit(0);                      /* the old behaviour would hang above, not get here */
    }
    int status = 0;
    pid_t w = 0;
    for (int i = 0; i < 600 && (w = waitpid(pid, &status, WNOHANG)) == 0; i++) usleep(50000); /* up to 30 s */
    if (w == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fail_msg("the process with a stuck shutdown step did not exit within 30 s");
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    fprintf(stderr, "stuck shutdown step: the process ended %.0f ms after the fork, %s %d\n", ms,
            WIFEXITED(status) ? "exit status" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    /* from the fork: start-up, the 50 records, then the bound and the grace */
    assert_true(ms >= BOUND_MS + GRACE_MS - 100);
    assert_true(ms < BOUND_MS + GRACE_MS + 15000);
}

int main(void) {
    fr_log_setup(FR_LOGFMT_TEXT, FR_LOG_ERROR, 2);
    const struct CMUnitTest tests[] = {
        /* first: it forks, best before any test leaves threads behind */
        cmocka_unit_test(a_stuck_shutdown_step_exits_1_within_its_bound),
        cmocka_unit_test(an_offset_tracker_out_of_memory_stops_the_run_and_commits_nothing_past_it),
        cmocka_unit_test(a_drain_that_times_out_exits_1_within_one_bound_and_frees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
