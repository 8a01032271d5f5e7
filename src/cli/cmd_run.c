/* fraudd run: the streaming daemon. A linear boot sequence:
 *   1. load and validate the config (errors: file:line:column, exit 2)
 *   2. set up logging from it
 *   3. load, compile and self-test the model from model.path, model.url or
 *      the binary, and model.challenger's if set (exit 3 if they cannot be)
 *   4. install signal handlers (they only set a flag)
 *   5. build the pipeline (clients, rings, workers), start the model
 *      reloader when the model has a source, and run
 *   6. SIGHUP: the run thread asks the reloader for a check now (it
 *      re-reads the config's model section: promotion, a new challenger)
 *   7. on SIGTERM/SIGINT: drain, commit, leave the group, exit 0
 */
#include <curl/curl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "fraudd/config.h"
#include "fraudd/err.h"
#include "fraudd/http.h"
#include "fraudd/log.h"
#include "fraudd/pipeline.h"
#include "fraudd/reload.h"

static volatile sig_atomic_t g_stop, g_reload;

static void on_signal(int sig) {
    if (sig == SIGHUP)
        g_reload = 1;
    else
        g_stop = 1;
}

/* Run thread, every tick: a SIGHUP becomes a reload request. */
static void on_tick(fr_pipeline *p, void *user) {
    (void)p;
    if (!g_reload) return;
    g_reload = 0;
    fr_reloader_request(*(fr_reloader **)user);
}

static void run_usage(FILE *f) {
    fprintf(f, "usage: fraudd run --config FILE [--http-port N]\n"
               "  Consumes JSON transactions from kafka.input_topic, scores each one, and\n"
               "  publishes results to kafka.output_topic and unscorable records to\n"
               "  kafka.dead_letter_topic. SIGTERM or SIGINT drains and exits 0; SIGHUP\n"
               "  re-reads the config's model section (model.path / model.url,\n"
               "  model.challenger: a promotion) and checks the models for new versions now.\n"
               "  config/fraudd.yaml documents every option; check one with\n"
               "  'fraudd check-config FILE'. --http-port overrides http.port (0: off);\n"
               "  the server answers /metrics, /healthz and /readyz.\n");
}

static void install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int fr__cmd_run(int argc, char **argv) {
    static const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                         {"http-port", required_argument, 0, 'p'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *path = NULL;
    size_t http_port = 0;
    int c, have_port = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': path = optarg; break;
        case 'p':
            if (fr__cli_parse_size("--http-port", optarg, 0, 65535, &http_port)) return FR_EXIT_USAGE;
            have_port = 1;
            break;
        case 'h': run_usage(stdout); return FR_EXIT_OK;
        default: run_usage(stderr); return FR_EXIT_USAGE;
        }
    }
    if (!path || optind < argc) {
        run_usage(stderr);
        return FR_EXIT_USAGE;
    }
    char err[1024];
    fr_config *cfg = NULL;
    if (fr_config_load(path, NULL, &cfg, err, sizeof err)) {
        fprintf(stderr, "fraudd run: %s\n", err);
        return FR_EXIT_USAGE;
    }
    fr_log_setup(cfg->logging.format, cfg->logging.level, 2);
    fr_log_set_default_interval(cfg->logging.warn_interval_ms);
    fr_log(FR_LOG_INFO, "config_loaded", "%s", cfg->path);

    int rc = FR_EXIT_OK;
    fr_pipeline *p = NULL;
    fr_http *http = NULL;
    int port = have_port ? (int)http_port : cfg->http.port;
    fr_reloader *reloader = NULL;
    fr_model *http_model = NULL;
    fr_rollout live;
    memset(&live, 0, sizeof live);
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread starts */
    if (fr_rollout_load(cfg, &live, err, sizeof err)) {
        fr_log(FR_LOG_ERROR, "model_failed", "%s", err);
        rc = FR_EXIT_MODEL;
        goto out;
    }
    fr_model *m = live.model[0], *ch = live.model[1];
    double thr = isnan(cfg->model.threshold) ? fr_model_threshold(m) : cfg->model.threshold;
    fr_log(FR_LOG_INFO, "model_loaded", "%s version %s: %zu features, threshold %g%s; %s kernels",
           live.src[0] ? fr_model_src_name(live.src[0]) : "embedded default model", fr_model_version(m),
           fr_model_n_features(m), thr, isnan(cfg->model.threshold) ? "" : " (config override)", fr_model_kernel());
    if (ch) {
        double cthr = isnan(cfg->model.challenger.threshold) ? fr_model_threshold(ch) : cfg->model.challenger.threshold;
        if (cfg->model.challenger.mode == FR_CHALLENGER_CANARY)
            fr_log(FR_LOG_INFO, "challenger_loaded", "%s version %s: canary for %g of keys, threshold %g",
                   fr_model_src_name(live.src[1]), fr_model_version(ch), cfg->model.challenger.share, cthr);
        else
            fr_log(FR_LOG_INFO, "challenger_loaded", "%s version %s: shadow of every record, threshold %g",
                   fr_model_src_name(live.src[1]), fr_model_version(ch), cthr);
    }
    install_signals();
    if (port > 0) {
        /* up before the pipeline: /healthz answers and /readyz says why not yet */
        http_model = fr_model_retain(m); /* the reloader may drop its own when m is replaced */
        fr_http_src ms = {.model = http_model, .model_loaded_unix = (double)fr_wall_ms() / 1e3, .threshold = thr};
        if (fr_http_start(cfg->http.bind, port, &ms, &http, err, sizeof err)) {
            fr_log(FR_LOG_ERROR, "http_failed", "%s", err);
            rc = FR_EXIT_RUNTIME;
            goto out;
        }
        fr_log(FR_LOG_INFO, "http_listening", "%s:%d: /metrics /healthz /readyz", cfg->http.bind, fr_http_port(http));
    }
    fr_pipeline_opts po = {.stop = &g_stop, .on_tick = on_tick, .user = &reloader, .tick_ms = 100, .challenger = ch};
    if (fr_pipeline_new(cfg, m, &po, &p, err, sizeof err)) {
        fr_log(FR_LOG_ERROR, "start_failed", "%s", err);
        rc = FR_EXIT_USAGE;
        goto out;
    }
    /* the reloader re-reads the config's model section and polls the
     * models' sources; the rollout is its own from here, even if it fails */
    if (fr_reloader_start(p, cfg, &live, &reloader, err, sizeof err)) {
        fr_log(FR_LOG_ERROR, "start_failed", "%s", err);
        rc = FR_EXIT_RUNTIME;
        goto out;
    }
    if (cfg->model.reload_interval_ms)
        fr_log(FR_LOG_INFO, "reloader_started", "%s and the models' sources: checked every %d ms and on SIGHUP",
               cfg->path, cfg->model.reload_interval_ms);
    else
        fr_log(FR_LOG_INFO, "reloader_started", "%s and the models' sources: checked on SIGHUP", cfg->path);
    if (http) fr_http_set_pipeline(http, p);
    rc = fr_pipeline_run(p) ? FR_EXIT_RUNTIME : FR_EXIT_OK;
out:
    fr_reloader_stop(reloader); /* it swaps models into the pipeline */
    fr_rollout_free(&live);
    fr_http_stop(http); /* before the pipeline it reads goes away */
    fr_model_free(http_model);
    fr_pipeline_free(p);
    fr_config_free(cfg);
    curl_global_cleanup();
    return rc;
}
