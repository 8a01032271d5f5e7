/* What a model swap costs the stream: the pipeline on librdkafka's
 * in-process cluster (fraudd is the bottleneck, no broker process) scores
 * the same N pre-produced records with no swaps, and with a new model
 * generation swapped in every SWAP_MS milliseconds from another thread
 * (each swap: compile the model, build one scorer per worker, hand it
 * over), in ABBA order. Reports records/s from the first result to the
 * last, per run, and the medians' ratio.
 *
 *   build/release/bench_swap [N=24000] [SWAP_MS=5] [RUNS=5]
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fraudd/config.h"
#include "fraudd/gen.h"
#include "fraudd/log.h"
#include "fraudd/model.h"
#include "fraudd/pipeline.h"

#define PARTS 4 /* the mock keeps about 5 MB per partition: N records must fit */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_ms(double ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)((ms - (double)(long)(ms / 1000) * 1000) * 1e6)};
    nanosleep(&ts, NULL);
}

static void set(char **dst, const char *v) {
    free(*dst);
    *dst = strdup(v);
}

typedef struct run_arg {
    fr_pipeline *p;
    int rc;
} run_arg;

static void *run_thread(void *a) {
    run_arg *r = a;
    r->rc = fr_pipeline_run(r->p);
    return NULL;
}

/* One run: returns records/s between the first and the last result; *swaps set. */
static double swap_cost_s; /* time spent building and handing over generations */

static double one_run(long n, double swap_ms, int *swaps) {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", err, sizeof err);
    rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err);
    rd_kafka_t *host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    rd_kafka_mock_cluster_t *mc = rd_kafka_handle_mock_cluster(host);
    rd_kafka_mock_topic_create(mc, "in", PARTS, 1);
    rd_kafka_mock_topic_create(mc, "out", PARTS, 1);
    rd_kafka_mock_topic_create(mc, "dlq", 1, 1);
    fr_gen_opts go = {.seed = 7, .anomaly_rate = 0.01, .first_id = 1, .start_ms = 0, .rate_per_s = 1000};
    fr_gen *g = fr_gen_new(&go);
    char rec[2048], key[24];
    for (long i = 0; i < n; i++) {
        int anomaly;
        size_t len = fr_gen_next(g, rec, sizeof rec, &anomaly);
        snprintf(key, sizeof key, "k%ld", i);
        while (rd_kafka_producev(host, RD_KAFKA_V_TOPIC("in"), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_VALUE(rec, len), RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_END) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(host, 10);
    }
    fr_gen_free(g);
    rd_kafka_flush(host, 30000);
    fr_config *c = fr_config_defaults();
    set(&c->kafka.bootstrap_servers, rd_kafka_mock_cluster_bootstraps(mc));
    set(&c->kafka.group_id, "bench");
    set(&c->kafka.input_topic, "in");
    set(&c->kafka.output_topic, "out");
    set(&c->kafka.dead_letter_topic, "dlq");
    c->pipeline.workers = 2;
    fr_model *m = NULL;
    fr_model_load_default(&m, err, sizeof err);
    fr_kv kv[] = {{"fetch.wait.max.ms", "10"}};
    fr_kv_list props = {kv, 1};
    fr_pipeline_opts po = {.consumer_override = &props};
    run_arg ra = {0};
    if (fr_pipeline_new(c, m, &po, &ra.p, err, sizeof err)) {
        fprintf(stderr, "bench_swap: %s\n", err);
        exit(1);
    }
    pthread_t t;
    pthread_create(&t, NULL, run_thread, &ra);
    fr_stats s;
    double t0 = 0, next_swap = 0;
    *swaps = 0;
    for (;;) {
        fr_pipeline_get_stats(ra.p, &s);
        double now = now_s();
        if (!t0 && s.results) t0 = now, next_swap = now + swap_ms / 1e3;
        if ((long)(s.results + s.dead_letters) >= n) break;
        if (t0 && swap_ms > 0 && now >= next_swap) {
            double t1 = now_s();
            fr_model *nm = NULL;
            fr_model_load_default(&nm, err, sizeof err);
            if (fr_pipeline_swap_model(ra.p, nm, err, sizeof err)) fr_model_free(nm);
            swap_cost_s += now_s() - t1;
            (*swaps)++;
            next_swap = now + swap_ms / 1e3;
        }
        sleep_ms(0.2);
    }
    double rate = (double)(n - 1) / (now_s() - t0);
    fr_pipeline_stop(ra.p);
    pthread_join(t, NULL);
    fr_pipeline_free(ra.p);
    fr_model_free(m);
    fr_config_free(c);
    rd_kafka_destroy(host);
    return rate;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 24000;
    double swap_ms = argc > 2 ? atof(argv[2]) : 5;
    int runs = argc > 3 ? atoi(argv[3]) : 5, total_swaps = 0;
    fr_log_setup(FR_LOGFMT_TEXT, FR_LOG_ERROR, 2);
    double *a = calloc((size_t)runs, sizeof *a), *b = calloc((size_t)runs, sizeof *b);
    for (int r = 0; r < runs; r++) {
        int sa, sb;
        if (r % 2 == 0) {
            a[r] = one_run(n, 0, &sa);
            b[r] = one_run(n, swap_ms, &sb);
        } else {
            b[r] = one_run(n, swap_ms, &sb);
            a[r] = one_run(n, 0, &sa);
        }
        total_swaps += sb;
        printf("run %d: no swaps %.0f records/s, swaps every %g ms %.0f records/s (%d swaps)\n", r + 1, a[r], swap_ms,
               b[r], sb);
        fflush(stdout);
    }
    qsort(a, (size_t)runs, sizeof *a, cmp);
    qsort(b, (size_t)runs, sizeof *b, cmp);
    printf("median no swaps %.0f, with swaps %.0f, ratio %.3f; one swap (compile + %d scorers + hand-over) %.3f ms\n",
           a[runs / 2], b[runs / 2], b[runs / 2] / a[runs / 2], 2, total_swaps ? swap_cost_s * 1e3 / total_swaps : 0.0);
    free(a);
    free(b);
    return 0;
}
