/* fraudd run: the streaming daemon. A linear boot sequence:
 *   1. load and validate the config (errors: file:line:column, exit 2)
 *   2. set up logging from it
 *   3. load and compile the model (exit 3 if it cannot be)
 *   4. install signal handlers (they only set a flag)
 *   5. build the pipeline (clients, rings, workers) and run it
 *   6. on SIGTERM/SIGINT: drain, commit, leave the group, exit 0
 */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "fraudd/config.h"
#include "fraudd/http.h"
#include "fraudd/log.h"
#include "fraudd/pipeline.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static void run_usage(FILE *f) {
    fprintf(f, "usage: fraudd run --config FILE [--http-port N]\n"
               "  Consumes JSON transactions from kafka.input_topic, scores each one, and\n"
               "  publishes results to kafka.output_topic and unscorable records to\n"
               "  kafka.dead_letter_topic. SIGTERM or SIGINT drains and exits 0.\n"
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
    signal(SIGPIPE, SIG_IGN);
}

int fr_cmd_run(int argc, char **argv) {
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
            if (fr_cli_parse_size("--http-port", optarg, 0, 65535, &http_port)) return FR_EXIT_USAGE;
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
    fr_model *m = fr_cli_load_model(cfg->model.path);
    if (!m) {
        fr_log(FR_LOG_ERROR, "model_failed", "%s could not be loaded", cfg->model.path ? cfg->model.path : "embedded model");
        rc = FR_EXIT_MODEL;
        goto out;
    }
    double thr = isnan(cfg->model.threshold) ? fr_model_threshold(m) : cfg->model.threshold;
    fr_log(FR_LOG_INFO, "model_loaded", "%s version %s: %zu features, threshold %g%s",
           cfg->model.path ? cfg->model.path : "embedded default model", fr_model_version(m),
           fr_model_n_features(m), thr, isnan(cfg->model.threshold) ? "" : " (config override)");
    install_signals();
    if (port > 0) {
        /* up before the pipeline: /healthz answers and /readyz says why not yet */
        fr_metrics_src ms = {.model = m, .model_loaded_unix = (double)fr_wall_ms() / 1e3, .threshold = thr};
        if (fr_http_start(cfg->http.bind, port, &ms, &http, err, sizeof err)) {
            fr_log(FR_LOG_ERROR, "http_failed", "%s", err);
            rc = FR_EXIT_RUNTIME;
            goto out;
        }
        fr_log(FR_LOG_INFO, "http_listening", "%s:%d: /metrics /healthz /readyz", cfg->http.bind, fr_http_port(http));
    }
    fr_pipeline_opts po = {.stop = &g_stop};
    if (fr_pipeline_new(cfg, m, &po, &p, err, sizeof err)) {
        fr_log(FR_LOG_ERROR, "start_failed", "%s", err);
        rc = FR_EXIT_USAGE;
        goto out;
    }
    if (http) fr_http_set_pipeline(http, p);
    rc = fr_pipeline_run(p) ? FR_EXIT_RUNTIME : FR_EXIT_OK;
out:
    fr_http_stop(http); /* before the pipeline it reads goes away */
    fr_pipeline_free(p);
    fr_model_free(m);
    fr_config_free(cfg);
    return rc;
}
