/* Prometheus exposition (include/fraudd/metrics.h has the contract).
 *
 * Histograms: latencies are kept in 128 log buckets (4 per factor of two,
 * from 1 us); the exposition keeps every fourth boundary, i.e. powers of two
 * from 1 us to ~36 min, which is fine enough for p50/p99 and keeps a scrape
 * small. Scores keep their 4-per-octave buckets from 2^-10 to 2^20.
 *
 * Everything rendered comes from the caller's fr_metrics_view (the pipeline
 * fills it) and /proc/self, so rendering calls no stage.
 */
#include "fraudd/metrics.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#ifndef FRAUDD_VERSION
#define FRAUDD_VERSION "0"
#endif

static const char *const reload_names[FR_RELOAD__COUNT] = {"swapped", "unchanged", "refused", "fetch_failed"};

static const char *const class_names[FR_DELIVERY__COUNT] = {"destination", "record", "transient"};

static const char *fr_delivery_class_name(int cls) {
    return cls >= 0 && cls < FR_DELIVERY__COUNT ? class_names[cls] : "unknown";
}

static const char *reload_result_name(fr_reload_result r) {
    return (unsigned)r < FR_RELOAD__COUNT ? reload_names[r] : "unknown";
}

static void head(fr_buf *b, const char *name, const char *type, const char *help) {
    fr_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counter(fr_buf *b, const char *name, const char *help, double v) {
    head(b, name, "counter", help);
    fr_buf_printf(b, "%s %.15g\n", name, v);
}

static void gauge(fr_buf *b, const char *name, const char *help, double v) {
    head(b, name, "gauge", help);
    fr_buf_printf(b, "%s %.15g\n", name, v);
}

/* Latency histogram from the pipeline's 128 log buckets, in seconds; fine:
 * also the quarter steps between 1 and 131 ms (fr_lat_bucket_shown), for the
 * latencies that objectives are set on. */
static void lat_hist(fr_buf *b, const char *name, const char *help, const uint64_t *bk, uint64_t sum_ns, int fine) {
    head(b, name, "histogram", help);
    uint64_t acc = 0, total = 0;
    for (int i = 0; i < FR_LAT_BUCKETS; i++) total += bk[i];
    for (int i = 0; i < FR_LAT_BUCKETS; i++) {
        acc += bk[i];
        if (fr_lat_bucket_shown(i, fine))
            fr_buf_printf(b, "%s_bucket{le=\"%.9g\"} %llu\n", name, (double)fr_latency_bucket_upper_ns(i) / 1e9,
                          (unsigned long long)acc);
    }
    fr_buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9f\n%s_count %llu\n", name, (unsigned long long)total, name,
                  (double)sum_ns / 1e9, name, (unsigned long long)total);
}

static int read_proc_stat(unsigned long long *ticks, unsigned long long *start_ticks, unsigned long long *vsize,
                          long long *rss_pages) {
    char buf[2048];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    /* fields after ")": 3 state ... 14 utime 15 stime ... 22 starttime 23 vsize 24 rss */
    unsigned long long ut = 0, st = 0;
    int k = sscanf(p + 2,
                   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu %llu %lld",
                   &ut, &st, start_ticks, vsize, rss_pages);
    *ticks = ut + st;
    return k == 5 ? 0 : -1;
}

static double boot_time(void) {
    char line[256];
    double bt = 0;
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "btime %lf", &bt) == 1) break;
    fclose(f);
    return bt;
}

static void process_metrics(fr_buf *b) {
    unsigned long long ticks = 0, start = 0, vsize = 0;
    long long rss = 0;
    double hz = (double)sysconf(_SC_CLK_TCK);
    if (read_proc_stat(&ticks, &start, &vsize, &rss) == 0) {
        counter(b, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", (double)ticks / hz);
        gauge(b, "process_resident_memory_bytes", "Resident memory size in bytes.",
              (double)rss * (double)sysconf(_SC_PAGESIZE));
        gauge(b, "process_virtual_memory_bytes", "Virtual memory size in bytes.", (double)vsize);
        gauge(b, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
              boot_time() + (double)start / hz);
    }
    int fds = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.') fds++;
        closedir(d);
        gauge(b, "process_open_fds", "Number of open file descriptors.", fds - 1); /* minus the dir itself */
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        gauge(b, "process_max_fds", "Maximum number of open file descriptors.", (double)rl.rlim_cur);
}

static void label_escape(fr_buf *b, const char *s) {
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            fr_buf_printf(b, "\\%c", *s);
        else if (*s == '\n')
            fr_buf_printf(b, "\\n");
        else
            fr_buf_printf(b, "%c", *s);
    }
}

/* A model version as the model_version label value: quotes, backslashes and
 * newlines become '_' (the same text in every per-version family). */
static void version_label(char *dst, size_t cap, const char *version) {
    snprintf(dst, cap, "%s", version);
    for (char *c = dst; *c; c++)
        if (*c == '"' || *c == '\\' || *c == '\n') *c = '_';
}

void fr_metrics_render(const fr_metrics_view *v, fr_buf *b) {
    head(b, "fraudd_build_info", "gauge", "Build information; always 1.");
    fr_buf_printf(b, "fraudd_build_info{version=\"%s\"} 1\n", FRAUDD_VERSION);
    /* the models: from the pipeline once it exists (it swaps them), else
     * the one loaded at start */
    const fr_model_status *ms = v->models;
    int nm = v->have_pipeline ? v->n_models : 0;
    if (nm > 0 || v->model_version) {
        const char *version = nm ? ms[0].version : v->model_version;
        head(b, "fraudd_model_info", "gauge", "The model new records are scored with; always 1.");
        fr_buf_printf(b, "fraudd_model_info{version=\"");
        label_escape(b, version);
        fr_buf_printf(b, "\"} 1\n");
        gauge(b, "fraudd_model_features", "Input features of the serving model.",
              (double)(nm ? ms[0].n_features : v->model_features));
        gauge(b, "fraudd_model_threshold", "Score above which a record is flagged.", nm ? ms[0].threshold : v->model_threshold);
        gauge(b, "fraudd_model_loaded_timestamp_seconds", "When the serving model was loaded, seconds since the epoch.",
              nm ? ms[0].loaded_unix : v->model_loaded_unix);
        gauge(b, "fraudd_model_generation", "Models served since start: 1 for the first, +1 per swap.",
              nm ? (double)ms[0].generation : 1.0);
    }
    if (nm > 1 && ms[1].serving && ms[1].role == 1) { /* the serving generation's challenger */
        head(b, "fraudd_challenger_info", "gauge",
             "The challenger scored beside the serving model, and how (mode shadow or canary); always 1.");
        fr_buf_printf(b, "fraudd_challenger_info{version=\"");
        label_escape(b, ms[1].version);
        fr_buf_printf(b, "\",mode=\"%s\"} 1\n", ms[1].mode);
        gauge(b, "fraudd_challenger_share", "Fraction of record keys the challenger serves (canary), 1 for a shadow.",
              ms[1].share);
        gauge(b, "fraudd_challenger_threshold", "Score above which the challenger flags a record.", ms[1].threshold);
    }
    if (v->have_pipeline) {
        const fr_stats *st = &v->stats;
        gauge(b, "fraudd_ready", "1 when /readyz answers 200: model loaded, partitions assigned, brokers up.",
              v->ready ? 1 : 0);
        counter(b, "fraudd_records_consumed_total", "Records taken from the input topic and dispatched to workers.",
                (double)st->consumed);
        counter(b, "fraudd_records_scored_total", "Records scored by the model (results handed to the producer).",
                (double)st->scored);
        counter(b, "fraudd_records_flagged_total", "Delivered results whose score is above the threshold.",
                (double)st->flagged);
        counter(b, "fraudd_results_produced_total", "Results acknowledged by the broker on the output topic.",
                (double)st->results);
        head(b, "fraudd_dead_letters_total", "counter",
             "Records acknowledged on the dead-letter topic, by error class and reason.");
        for (int i = FR_REJ_NONE + 1; i < FR_DEAD__COUNT; i++)
            fr_buf_printf(b, "fraudd_dead_letters_total{class=\"%s\",reason=\"%s\"} %llu\n",
                          fr_err_class_name(fr_dead_reason_class(i)), fr_dead_reason_name(i),
                          (unsigned long long)st->dead_by_reason[i]);
        head(b, "fraudd_delivery_errors_total", "counter",
             "Failed deliveries (reports, and produce calls refused at once), before retries, by class: "
             "destination (topic missing or refused: kept), record (the broker refused it), transient.");
        for (int i = 0; i < FR_DELIVERY__COUNT; i++)
            fr_buf_printf(b, "fraudd_delivery_errors_total{class=\"%s\"} %llu\n", fr_delivery_class_name(i),
                          (unsigned long long)st->delivery_errors_by_class[i]);
        head(b, "fraudd_output_blocked", "gauge",
             "1 while records wait for a topic that refused them (missing, unauthorized): not ready, nothing "
             "committed past them.");
        for (int i = 0; i < 2; i++)
            if (st->topic_name[i]) {
                fr_buf_printf(b, "fraudd_output_blocked{topic=\"");
                label_escape(b, st->topic_name[i]);
                fr_buf_printf(b, "\"} %d\n", st->topic_blocked[i]);
            }
        head(b, "fraudd_blocked_record_offset", "gauge",
             "Offset of the lowest input record of a partition whose dead letter cannot be delivered; the "
             "partition is not read until it is (one series per blocked partition).");
        for (size_t i = 0; i < st->n_blocked; i++) {
            int dup = 0;
            int64_t low = st->blocked_offset[i];
            for (size_t j = 0; j < st->n_blocked; j++)
                if (st->blocked_partition[j] == st->blocked_partition[i]) {
                    if (j < i) dup = 1;
                    if (st->blocked_offset[j] < low) low = st->blocked_offset[j];
                }
            if (!dup)
                fr_buf_printf(b, "fraudd_blocked_record_offset{partition=\"%d\"} %lld\n", (int)st->blocked_partition[i],
                              (long long)low);
        }
        counter(b, "fraudd_produce_retries_total", "Results or dead letters sent again after a failed delivery.",
                (double)st->produce_retries);
        gauge(b, "fraudd_records_in_flight", "Records dispatched but not yet acknowledged.", (double)st->in_flight);
        counter(b, "fraudd_input_backpressure_seconds_total",
                "Time the input waited for room: the job pool (max_in_flight) or a worker's ring was full.",
                (double)st->backpressure_ns / 1e9);
        gauge(b, "fraudd_assigned_partitions", "Input partitions this process owns.", (double)st->assigned_partitions);
        gauge(b, "fraudd_prefetch_bound_bytes",
              "Records librdkafka prefetches per owned partition at most (queued.max.messages.kbytes).",
              (double)st->prefetch_bytes);
        counter(b, "fraudd_fetch_nudges_total",
                "Requests sent to the input's leaders to wake their fetchers while a backlog drains "
                "(librdkafka 2.0.2 otherwise looks at a partition at its prefetch bound again within a second).",
                (double)st->fetch_nudges);
        counter(b, "fraudd_rebalances_total", "Partition assignment changes (assign and revoke).", (double)st->rebalances);
        counter(b, "fraudd_batches_total", "Model calls (micro-batches).", (double)st->batches);
        if (st->exactly_once) {
            head(b, "fraudd_transactions_total", "counter",
                 "kafka.delivery exactly_once: transactions ended, by result (aborted: scored again).");
            fr_buf_printf(b, "fraudd_transactions_total{result=\"committed\"} %llu\n",
                          (unsigned long long)st->transactions[0]);
            fr_buf_printf(b, "fraudd_transactions_total{result=\"aborted\"} %llu\n",
                          (unsigned long long)st->transactions[1]);
            counter(b, "fraudd_transaction_records_total",
                    "Records in committed transactions (divided by the committed transactions: records per "
                    "transaction).",
                    (double)st->txn_records);
            lat_hist(b, "fraudd_transaction_latency_seconds",
                     "From a transaction's first record to its commit being acknowledged.", st->txn_latency,
                     st->txn_latency_sum_ns, 1);
        }
        lat_hist(b, "fraudd_end_to_end_latency_seconds",
                 "From the input record's Kafka timestamp to the broker acknowledging its result or dead letter.",
                 st->e2e_latency, st->e2e_sum_ns, 1);
        lat_hist(b, "fraudd_processing_latency_seconds",
                 "From dispatch to a worker to the broker acknowledging the result or dead letter.", st->latency,
                 st->latency_sum_ns, 1);
        lat_hist(b, "fraudd_queue_wait_seconds", "Time a record waits in its worker's ring.", st->queue_wait,
                 st->queue_wait_sum_ns, 0);
        lat_hist(b, "fraudd_inference_seconds", "Time of one micro-batch through decode, model, score and encode.",
                 st->inference, st->inference_sum_ns, 0);
        head(b, "fraudd_score", "histogram",
             "Scores of scored records, by model version (drift); a replaced model's series "
             "ends when its last record is done.");
        for (int m = 0; m < nm; m++) {
            uint64_t acc = 0;
            char ver[160];
            version_label(ver, sizeof ver, ms[m].version);
            for (int i = 0; i < FR_SCORE_BUCKETS - 1; i++) {
                acc += ms[m].scores[i];
                fr_buf_printf(b, "fraudd_score_bucket{model_version=\"%s\",le=\"%.9g\"} %llu\n", ver,
                              fr_score_bucket_upper(i), (unsigned long long)acc);
            }
            acc += ms[m].scores[FR_SCORE_BUCKETS - 1];
            fr_buf_printf(b,
                          "fraudd_score_bucket{model_version=\"%s\",le=\"+Inf\"} %llu\n"
                          "fraudd_score_sum{model_version=\"%s\"} %.9g\n"
                          "fraudd_score_count{model_version=\"%s\"} %llu\n",
                          ver, (unsigned long long)acc, ver, ms[m].score_sum, ver, (unsigned long long)acc);
        }
        /* score drift: only models with a reference histogram have series,
         * and the PSI only once its window holds metrics.drift_min_records */
        head(b, "fraudd_model_score_psi", "gauge",
             "Population stability index of the scores of the last metrics.drift_window_s against the model's "
             "reference histogram (fraudd.score_histogram), by model version: below 0.1 stable, 0.1 to 0.25 "
             "moderate, above 0.25 significant drift. No sample while the window holds fewer than "
             "metrics.drift_min_records scores.");
        for (int m = 0; m < nm; m++)
            if (ms[m].has_drift && !isnan(ms[m].psi)) {
                char ver[160];
                version_label(ver, sizeof ver, ms[m].version);
                fr_buf_printf(b, "fraudd_model_score_psi{model_version=\"%s\"} %.6g\n", ver, ms[m].psi);
            }
        head(b, "fraudd_model_score_psi_window_records", "gauge",
             "Scores in the drift window the PSI is computed over, by model version (models with a reference "
             "histogram only).");
        for (int m = 0; m < nm; m++)
            if (ms[m].has_drift) {
                char ver[160];
                version_label(ver, sizeof ver, ms[m].version);
                fr_buf_printf(b, "fraudd_model_score_psi_window_records{model_version=\"%s\"} %llu\n", ver,
                              (unsigned long long)ms[m].psi_records);
            }
        { /* the heads always (a family with no samples without a shadow) */
            static const char *const verdict[2] = {"legit", "fraud"};
            head(b, "fraudd_shadow_verdicts_total", "counter",
                 "Records scored by a champion and its shadow challenger, by the verdict of each.");
            for (int i = 0; i < v->n_shadows; i++)
                for (int x = 0; x < 2; x++)
                    for (int y = 0; y < 2; y++) {
                        fr_buf_printf(b, "fraudd_shadow_verdicts_total{champion_version=\"");
                        label_escape(b, v->shadows[i].champion);
                        fr_buf_printf(b, "\",challenger_version=\"");
                        label_escape(b, v->shadows[i].challenger);
                        fr_buf_printf(b, "\",champion=\"%s\",challenger=\"%s\"} %llu\n", verdict[x], verdict[y],
                                      (unsigned long long)v->shadows[i].verdicts[x][y]);
                    }
            head(b, "fraudd_shadow_rejects_total", "counter",
                 "Records the champion scored and its shadow challenger rejected.");
            for (int i = 0; i < v->n_shadows; i++) {
                fr_buf_printf(b, "fraudd_shadow_rejects_total{champion_version=\"");
                label_escape(b, v->shadows[i].champion);
                fr_buf_printf(b, "\",challenger_version=\"");
                label_escape(b, v->shadows[i].challenger);
                fr_buf_printf(b, "\"} %llu\n", (unsigned long long)v->shadows[i].rejected);
            }
        }
        head(b, "fraudd_model_reloads_total", "counter",
             "Model reload checks (SIGHUP or model.reload_interval_ms), by outcome.");
        for (int r = 0; r < FR_RELOAD__COUNT; r++)
            fr_buf_printf(b, "fraudd_model_reloads_total{result=\"%s\"} %llu\n", reload_result_name((fr_reload_result)r),
                          (unsigned long long)st->model_reloads[r]);
        int nw = v->n_workers;
        const fr_worker_stats *ws = v->workers;
        head(b, "fraudd_ring_depth", "gauge", "Records queued in a worker's ring.");
        for (int i = 0; i < nw; i++)
            fr_buf_printf(b, "fraudd_ring_depth{worker=\"%d\"} %llu\n", i, (unsigned long long)ws[i].ring_depth);
        head(b, "fraudd_ring_capacity", "gauge", "Capacity of a worker's ring.");
        for (int i = 0; i < nw; i++)
            fr_buf_printf(b, "fraudd_ring_capacity{worker=\"%d\"} %llu\n", i, (unsigned long long)ws[i].ring_capacity);
        head(b, "fraudd_worker_busy_seconds_total", "counter",
             "Time a worker spent processing batches; its rate is the worker's busy ratio.");
        for (int i = 0; i < nw; i++)
            fr_buf_printf(b, "fraudd_worker_busy_seconds_total{worker=\"%d\"} %.9f\n", i, (double)ws[i].busy_ns / 1e9);
        gauge(b, "fraudd_workers", "Worker threads.", nw);
        head(b, "fraudd_partition_stalled_seconds", "gauge",
             "Seconds since an assigned input partition last dispatched a record or was seen caught up; "
             "grows while its records wait (or its backlog is unknown) and none is taken.");
        for (size_t i = 0; i < v->n_stalls; i++)
            fr_buf_printf(b, "fraudd_partition_stalled_seconds{partition=\"%d\"} %.3f\n", (int)v->stalls[i].partition,
                          v->stalls[i].seconds);
        const fr_kstats *ks = &v->kafka;
        {
            if (ks->have_consumer) {
                head(b, "fraudd_consumer_lag_records", "gauge",
                     "Records of an assigned input partition not yet consumed (librdkafka statistics).");
                for (size_t i = 0; i < ks->n_lag; i++)
                    fr_buf_printf(b, "fraudd_consumer_lag_records{partition=\"%d\"} %lld\n", (int)ks->lag_partition[i],
                                  (long long)ks->lag[i]);
                counter(b, "fraudd_consumer_group_rebalances_total",
                        "Consumer group rebalances seen by librdkafka.", (double)ks->rebalances);
            }
            if (ks->have_producer) {
                gauge(b, "fraudd_producer_queue_messages", "Messages waiting in the producer's queues.",
                      (double)ks->producer_queue_msgs);
                gauge(b, "fraudd_producer_queue_bytes", "Bytes waiting in the producer's queues.",
                      (double)ks->producer_queue_bytes);
            }
        }
    }
    process_metrics(b);
}
