/* fraudd demo: the streaming pipeline end to end with no setup.
 *
 * An in-process Kafka (librdkafka's mock cluster) hosts the input, output
 * and dead-letter topics; a generator thread produces sample transactions
 * into the input topic; the same pipeline as `fraudd run` consumes, scores
 * and produces results; a summary line per second shows records/s, flagged
 * records and p99 latency (dispatch -> broker acknowledgement).
 *
 * The mock cluster keeps only about 5 MB (and 100,000 messages) per
 * partition and deletes the oldest data beyond that (rdkafka_mock.c:
 * max_size / max_cnt): a consumer further behind than that loses its
 * position. So the generator is paced by the pipeline: it stays at most
 * FR_DEMO_MAX_LAG records ahead of what was consumed (about 2.6 MB over 4
 * partitions), which keeps the demo reliable however long it runs.
 *
 * The first result comes about 3 s after the start: the mock cluster holds
 * a new group's first JoinGroup for a fixed 3000 ms, like a broker's
 * group.initial.rebalance.delay.ms (rdkafka_mock_cgrp.c; librdkafka 2.0.2
 * has no setting for it, and no consumer property shortens it). Until the
 * partitions are assigned the summary line says so instead of "0 rec/s".
 *
 * Score drift: with a model that carries fraudd.score_histogram, the summary
 * line also shows the PSI of the serving model's live scores (the same
 * number /metrics exports); --shift moves the generated records on purpose
 * (include/fraudd/gen.h) and --drift-window sets metrics.drift_window_s.
 */
#include <getopt.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "fraudd/config.h"
#include "fraudd/gen.h"
#include "fraudd/http.h"
#include "fraudd/log.h"
#include "fraudd/pipeline.h"

#define FR_DEMO_MAX_LAG 4000
#define FR_DEMO_PARTITIONS 4
#define FR_DEMO_TICK_MS 100 /* on_tick checks this often; it prints once a second */

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

typedef struct demo {
    rd_kafka_t *host;          /* generator's producer; hosts the mock cluster */
    fr_pipeline *p;
    fr_gen_opts go;
    size_t count;              /* 0 = until duration / Ctrl-C */
    double duration;           /* seconds, 0 = until count / Ctrl-C */
    _Atomic uint64_t produced; /* generator -> input topic, acknowledged or not */
    _Atomic int gen_done;
    _Atomic int gen_stop;      /* set by the main thread when the pipeline is done */
    int64_t t0;
    uint64_t last_done;
    int64_t last_t;
    int64_t next_line;   /* when on_tick prints the next summary line */
    int64_t assigned_at; /* first partition assignment (0 = still waiting) */
    int drift;           /* the model has a reference score histogram: show its PSI */
    fr_metrics_view *view; /* for the PSI (run thread only; large, so allocated) */
} demo;

static void *generator(void *arg) {
    demo *d = arg;
    fr_gen *g = fr_gen_new(&d->go);
    char rec[2048], key[32];
    fr_stats st;
    for (uint64_t i = 0; g && !atomic_load(&d->gen_stop); i++) {
        if (d->count && i >= d->count) break;
        if (d->duration > 0 && (double)(fr_now_ns() - d->t0) / 1e9 >= d->duration) break;
        /* pace by the pipeline: never more than FR_DEMO_MAX_LAG ahead */
        for (;;) {
            fr_pipeline_get_stats(d->p, &st);
            if (atomic_load(&d->produced) - st.consumed < FR_DEMO_MAX_LAG || atomic_load(&d->gen_stop)) break;
            rd_kafka_poll(d->host, 1);
        }
        int anomaly;
        size_t len = fr_gen_next(g, rec, sizeof rec, &anomaly);
        /* key: the card, so one card's transactions stay in order */
        const char *card = strstr(rec, "\"card_id\":\"");
        size_t klen = 0;
        if (card) {
            card += 11;
            while (card[klen] && card[klen] != '"' && klen < sizeof key - 1) klen++;
            memcpy(key, card, klen);
        }
        for (;;) {
            if (atomic_load(&d->gen_stop)) break;
            rd_kafka_resp_err_t e = rd_kafka_producev(
                d->host, RD_KAFKA_V_TOPIC("transactions"), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_VALUE(rec, len), RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_END);
            if (!e) break;
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                fprintf(stderr, "fraudd demo: produce: %s\n", rd_kafka_err2str(e));
                fr_pipeline_stop(d->p);
                atomic_store(&d->gen_stop, 1);
                break;
            }
            rd_kafka_poll(d->host, 5);
        }
        atomic_fetch_add(&d->produced, 1);
        rd_kafka_poll(d->host, 0);
    }
    rd_kafka_flush(d->host, 10000);
    fr_gen_free(g);
    atomic_store(&d->gen_done, 1);
    return NULL;
}

static void on_tick(fr_pipeline *p, void *user) {
    demo *d = user;
    fr_stats s;
    fr_pipeline_get_stats(p, &s);
    int64_t now = fr_now_ns();
    uint64_t done = s.results + s.dead_letters;
    if (!d->assigned_at && s.assigned_partitions > 0) {
        d->assigned_at = now;
        printf("  %5.1fs  consumer group joined: %" PRIu64 " partitions assigned, scoring starts\n",
               (double)(now - d->t0) / 1e9, s.assigned_partitions);
        fflush(stdout);
        d->last_done = done; /* the first rate counts from here, over a whole second */
        d->last_t = now;
        d->next_line = now + (int64_t)1000000000;
    }
    /* finished: everything generated has its result or dead letter (then one last line) */
    if (atomic_load(&d->gen_done) && done >= atomic_load(&d->produced)) g_stop = 1;
    if (now < d->next_line && !g_stop) return;
    d->next_line += (int64_t)1000000000;
    if (d->next_line <= now) d->next_line = now + (int64_t)1000000000; /* a late tick: no burst of lines */
    if (!d->assigned_at) {
        printf("  %5.1fs  waiting for the consumer group to assign partitions "
               "(the in-process broker holds a new group's first join for 3 s)\n",
               (double)(now - d->t0) / 1e9);
        fflush(stdout);
        return;
    }
    double secs = (double)(now - d->last_t) / 1e9;
    printf("  %5.1fs  %9.0f rec/s  results %10" PRIu64 "  flagged %7" PRIu64 " (%.2f%%)  dead letters %" PRIu64
           "  p50 %.2f ms  p99 %.2f ms  in flight %" PRIu64 "\n",
           (double)(now - d->t0) / 1e9, secs > 0 ? (double)(done - d->last_done) / secs : 0.0, s.results, s.flagged,
           s.results ? 100.0 * (double)s.flagged / (double)s.results : 0.0, s.dead_letters,
           (double)fr_latency_quantile_ns(s.latency, 0.50) / 1e6, (double)fr_latency_quantile_ns(s.latency, 0.99) / 1e6,
           s.in_flight);
    if (d->drift && d->view) {
        memset(d->view, 0, sizeof *d->view);
        fr_pipeline_metrics(p, d->view);
        const fr_model_status *ms = &d->view->models[0];
        if (d->view->n_models > 0 && !isnan(ms->psi))
            printf("           score drift: PSI %.4f over the last %" PRIu64 " scores\n", ms->psi, ms->psi_records);
        else if (d->view->n_models > 0)
            printf("           score drift: %" PRIu64 " scores in the window, too few for a PSI\n", ms->psi_records);
    }
    fflush(stdout);
    d->last_done = done;
    d->last_t = now;
}

static void demo_usage(FILE *f) {
    fprintf(f, "usage: fraudd demo [--duration SECONDS] [--count N] [--workers N] [--anomaly-rate R] [--seed S]\n"
               "                   [--model F] [--log-level L] [--ordering key|partition|unordered]\n"
               "                   [--http-port N] [--shift SD] [--drift-window SECONDS]\n"
               "  Runs the streaming pipeline against an in-process Kafka: generated transactions\n"
               "  in, scores out. Default: 10 seconds. Ctrl-C stops early. /metrics, /healthz and\n"
               "  /readyz are served on --http-port (default 8080; 0: off; in use: a warning).\n"
               "  --shift SD moves every generated V feature by SD standard deviations (drift on\n"
               "  purpose); with a model that has fraudd.score_histogram each line shows the PSI\n"
               "  of the live scores over --drift-window seconds (metrics.drift_window_s, default 600).\n");
}

static int set_str(char **dst, const char *v) {
    free(*dst);
    *dst = strdup(v);
    return *dst ? 0 : -1;
}

int fr__cmd_demo(int argc, char **argv) {
    static const struct option opts[] = {{"duration", required_argument, 0, 'd'},
                                         {"count", required_argument, 0, 'n'},
                                         {"workers", required_argument, 0, 'w'},
                                         {"anomaly-rate", required_argument, 0, 'a'},
                                         {"seed", required_argument, 0, 's'},
                                         {"model", required_argument, 0, 'm'},
                                         {"log-level", required_argument, 0, 'l'},
                                         {"ordering", required_argument, 0, 'o'},
                                         {"http-port", required_argument, 0, 'p'},
                                         {"shift", required_argument, 0, 'S'},
                                         {"drift-window", required_argument, 0, 'D'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    demo d = {.go = {.seed = 42, .anomaly_rate = 0.01, .first_id = 1, .rate_per_s = 1000}, .duration = 0};
    d.go.start_ms = (int64_t)time(NULL) * 1000;
    size_t workers = 0, seed, http_port = 8080, drift_window = 0;
    fr_http *http = NULL;
    const char *model_path = NULL;
    fr_log_level level = FR_LOG_WARN;
    fr_ordering ordering = FR_ORDER_KEY;
    int c, have_count = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            if (fr__cli_parse_double("--duration", optarg, 0.1, 1e7, &d.duration)) return FR_EXIT_USAGE;
            break;
        case 'n':
            if (fr__cli_parse_size("--count", optarg, 1, (size_t)1 << 40, &d.count)) return FR_EXIT_USAGE;
            have_count = 1;
            break;
        case 'w':
            if (fr__cli_parse_size("--workers", optarg, 1, 1024, &workers)) return FR_EXIT_USAGE;
            break;
        case 'a':
            if (fr__cli_parse_double("--anomaly-rate", optarg, 0, 1, &d.go.anomaly_rate)) return FR_EXIT_USAGE;
            break;
        case 's':
            if (fr__cli_parse_size("--seed", optarg, 0, SIZE_MAX, &seed)) return FR_EXIT_USAGE;
            d.go.seed = seed;
            break;
        case 'm': model_path = optarg; break;
        case 'l':
            if (!strcmp(optarg, "debug")) level = FR_LOG_DEBUG;
            else if (!strcmp(optarg, "info")) level = FR_LOG_INFO;
            else if (!strcmp(optarg, "warn")) level = FR_LOG_WARN;
            else if (!strcmp(optarg, "error")) level = FR_LOG_ERROR;
            else {
                fprintf(stderr, "fraudd demo: --log-level: expected debug, info, warn or error\n");
                return FR_EXIT_USAGE;
            }
            break;
        case 'o':
            if (!strcmp(optarg, "key")) ordering = FR_ORDER_KEY;
            else if (!strcmp(optarg, "partition")) ordering = FR_ORDER_PARTITION;
            else if (!strcmp(optarg, "unordered")) ordering = FR_ORDER_UNORDERED;
            else {
                fprintf(stderr, "fraudd demo: --ordering: expected key, partition or unordered\n");
                return FR_EXIT_USAGE;
            }
            break;
        case 'p':
            if (fr__cli_parse_size("--http-port", optarg, 0, 65535, &http_port)) return FR_EXIT_USAGE;
            break;
        case 'S':
            if (fr__cli_parse_double("--shift", optarg, -10, 10, &d.go.shift)) return FR_EXIT_USAGE;
            break;
        case 'D':
            if (fr__cli_parse_size("--drift-window", optarg, 10, 86400, &drift_window)) return FR_EXIT_USAGE;
            break;
        case 'h': demo_usage(stdout); return FR_EXIT_OK;
        default: demo_usage(stderr); return FR_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        demo_usage(stderr);
        return FR_EXIT_USAGE;
    }
    if (!have_count && d.duration == 0) d.duration = 10;
    fr_log_setup(FR_LOGFMT_TEXT, level, 2);

    int rc = FR_EXIT_RUNTIME;
    char err[1024];
    fr_model *m = NULL;
    fr_config *cfg = fr_config_defaults();
    pthread_t gen_thread;
    int gen_started = 0;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!cfg || rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", err, sizeof err) ||
        rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err) ||
        rd_kafka_conf_set(conf, "client.id", "fraudd-demo-generator", err, sizeof err)) {
        fprintf(stderr, "fraudd demo: %s\n", cfg ? err : "out of memory");
        rd_kafka_conf_destroy(conf);
        goto out;
    }
    rd_kafka_conf_set_log_cb(conf, NULL);
    d.host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!d.host) {
        fprintf(stderr, "fraudd demo: in-process Kafka: %s\n", err);
        rd_kafka_conf_destroy(conf);
        goto out;
    }
    /* conf is now owned by d.host */
    rd_kafka_mock_cluster_t *mc = rd_kafka_handle_mock_cluster(d.host);
    if (!mc || rd_kafka_mock_topic_create(mc, "transactions", FR_DEMO_PARTITIONS, 1) ||
        rd_kafka_mock_topic_create(mc, "scores", FR_DEMO_PARTITIONS, 1) ||
        rd_kafka_mock_topic_create(mc, "scores-dlq", 1, 1)) {
        fprintf(stderr, "fraudd demo: could not create the in-process topics\n");
        goto out;
    }
    if (set_str(&cfg->kafka.bootstrap_servers, rd_kafka_mock_cluster_bootstraps(mc)) ||
        set_str(&cfg->kafka.group_id, "fraudd-demo") || set_str(&cfg->kafka.input_topic, "transactions") ||
        set_str(&cfg->kafka.output_topic, "scores") || set_str(&cfg->kafka.dead_letter_topic, "scores-dlq") ||
        (model_path && set_str(&cfg->model.path, model_path))) {
        fprintf(stderr, "fraudd demo: out of memory\n");
        goto out;
    }
    cfg->pipeline.workers = (int)workers;
    cfg->pipeline.ordering = ordering;
    cfg->pipeline.shutdown_timeout_ms = 10000;
    if (drift_window) cfg->metrics.drift_window_s = (int)drift_window;
    m = fr__cli_load_model(cfg->model.path);
    if (!m) {
        rc = FR_EXIT_MODEL;
        goto out;
    }
    d.drift = fr_model_score_bins(m, NULL, NULL) > 0;
    if (d.drift && !(d.view = malloc(sizeof *d.view))) {
        fprintf(stderr, "fraudd demo: out of memory\n");
        goto out;
    }
    /* the mock broker answers a fetch only after fetch.wait.max.ms unless
     * fetch.min.bytes are there; keep it short so the stream flows */
    fr_kv demo_kv[] = {{"fetch.wait.max.ms", "10"}};
    fr_kv_list demo_props = {demo_kv, 1};
    fr_pipeline_opts po = {
        .stop = &g_stop, .on_tick = on_tick, .user = &d, .tick_ms = FR_DEMO_TICK_MS, .consumer_override = &demo_props};
    if (fr_pipeline_new(cfg, m, &po, &d.p, err, sizeof err)) {
        fprintf(stderr, "fraudd demo: %s\n", err);
        goto out;
    }
    if (http_port > 0) {
        fr_http_src ms = {.pipeline = d.p, .model = m, .model_loaded_unix = (double)fr_wall_ms() / 1e3,
                             .threshold = isnan(cfg->model.threshold) ? fr_model_threshold(m) : cfg->model.threshold};
        if (fr_http_start("127.0.0.1", (int)http_port, &ms, &http, err, sizeof err))
            fprintf(stderr, "fraudd demo: %s; going on without the HTTP endpoints\n", err);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    printf("fraudd demo: in-process Kafka at %s; topics transactions -> scores (dead letters: scores-dlq)\n"
           "  model %s, threshold %g, %d workers, ordering %s, %.2f%% injected anomalies; ",
           cfg->kafka.bootstrap_servers, fr_model_version(m),
           isnan(cfg->model.threshold) ? fr_model_threshold(m) : cfg->model.threshold, fr_pipeline_workers(d.p),
           fr_ordering_name(ordering), 100 * d.go.anomaly_rate);
    if (d.count)
        printf("%zu records\n", d.count);
    else
        printf("%.0f seconds (Ctrl-C stops)\n", d.duration);
    printf("  the same binary runs against a real cluster with: fraudd run --config config/fraudd.yaml\n");
    if (http) printf("  metrics: http://127.0.0.1:%d/metrics (also /healthz, /readyz)\n", fr_http_port(http));
    fflush(stdout);
    d.t0 = d.last_t = fr_now_ns();
    d.next_line = d.t0 + (int64_t)1000000000;
    /* the generator starts with signals blocked: Ctrl-C reaches this (the run) thread */
    int perr = fr_thread_start(&gen_thread, generator, &d, "fr:generator");
    if (perr) goto out;
    gen_started = 1;
    int prc = fr_pipeline_run(d.p);
    atomic_store(&d.gen_stop, 1);
    pthread_join(gen_thread, NULL);
    gen_started = 0;
    fr_stats s;
    fr_pipeline_get_stats(d.p, &s);
    double secs = (double)(fr_now_ns() - d.t0) / 1e9;
    uint64_t produced = atomic_load(&d.produced);
    printf("fraudd demo: %" PRIu64 " transactions in, %" PRIu64 " results out (%" PRIu64 " flagged, %.2f%%), %" PRIu64
           " dead letters, in %.1f s (%.0f records/s); latency p50 %.2f ms, p99 %.2f ms\n",
           produced, s.results, s.flagged, s.results ? 100.0 * (double)s.flagged / (double)s.results : 0.0,
           s.dead_letters, secs, secs > 0 ? (double)(s.results + s.dead_letters) / secs : 0.0,
           (double)fr_latency_quantile_ns(s.latency, 0.5) / 1e6, (double)fr_latency_quantile_ns(s.latency, 0.99) / 1e6);
    if (prc == 0 && s.results + s.dead_letters == produced)
        rc = FR_EXIT_OK;
    else
        fprintf(stderr, "fraudd demo: %" PRIu64 " of %" PRIu64 " records without a result\n",
                produced - (s.results + s.dead_letters), produced);
out:
    fr_http_stop(http);
    if (gen_started) {
        atomic_store(&d.gen_stop, 1);
        pthread_join(gen_thread, NULL);
    }
    fr_pipeline_free(d.p);
    if (d.host) rd_kafka_destroy(d.host);
    fr_model_free(m);
    fr_config_free(cfg);
    free(d.view);
    return rc;
}
