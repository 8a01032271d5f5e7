/* fraudd pipeline: the streaming daemon behind `fraudd run`.
 *
 *   Kafka input topic
 *      | source (include/fraudd/source.h): librdkafka consumer group,
 *      |   cooperative-sticky; one thread (the caller of fr_pipeline_run)
 *      |   polls it and dispatches each record to a worker by key /
 *      |   partition / round-robin
 *      v
 *   ring per worker (src/ring): bounded lock-free SPSC; when a ring or the
 *      |   job pool (include/fraudd/job.h) is full the source stops reading
 *      v
 *   workers (include/fraudd/worker.h): N threads, micro-batches through
 *      |   fr_scorer (decode -> model -> score -> encode), then produce
 *      v
 *   sink (include/fraudd/sink.h): idempotent producer; results to the
 *      |   output topic, rejects to the dead-letter topic; delivery reports
 *      |   run on the run thread and mark the record done in its
 *      |   partition's offsets (include/fraudd/offsets.h), whose contiguous
 *      |   prefix the source stores
 *      v
 *   Kafka output and dead-letter topics
 *
 * This module assembles the stages and owns what they share: the Kafka
 * clients' state (include/fraudd/kafka.h), the job pool, the model
 * generations (include/fraudd/mgen.h); it runs the loop and the shutdown
 * sequence, and sums the statistics. docs/ARCHITECTURE.md has the module
 * graph.
 *
 * Delivery: at least once. An input offset is stored (and later committed)
 * only when its record and every earlier record of the partition have
 * their result or dead letter acknowledged by the broker. A clean shutdown
 * or rebalance drains in-flight records first, so it produces no
 * duplicates; a crash re-delivers at most the uncommitted tail.
 * kafka.delivery exactly_once: results, dead letters and the input offsets
 * go into one Kafka transaction per transaction_interval_ms, owned by the
 * run thread (include/fraudd/source.h, src/source/txn.c
 * "transactions"), so each input record has exactly one committed result.
 *
 * Thread safety: fr_pipeline_run runs on one thread; fr_pipeline_get_stats
 * and fr_pipeline_stop may be called from any thread.
 */
#ifndef FRAUDD_PIPELINE_H
#define FRAUDD_PIPELINE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "fraudd/config.h"
#include "fraudd/metrics.h"
#include "fraudd/mgen.h"
#include "fraudd/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fr_pipeline fr_pipeline;

typedef struct fr_pipeline_opts {
    volatile sig_atomic_t *stop;          /* set (e.g. by a signal handler) to shut down */
    /* called on the run thread about once per tick_ms (0 = never) */
    void (*on_tick)(fr_pipeline *p, void *user);
    void *user;
    int tick_ms;
    /* extra librdkafka properties applied last to the consumer (the demo
     * tunes it for its in-process cluster); may be NULL */
    const fr_kv_list *consumer_override;
    /* model.challenger's model, when the config names one; may be NULL */
    const fr_model *challenger;
    /* where the CPU quota and the memory limit are read (fr_cpu_count,
     * fr_memory_limit); NULL: /sys/fs/cgroup */
    const char *cgroup_root;
} fr_pipeline_opts;

/* Builds the clients, rings and workers (threads start in run). The config
 * must outlive the pipeline; the model generations hold references of their
 * own to m and opts.challenger (fr_model_retain). Returns 0 or a negative fr_err with
 * a sentence in err (bad librdkafka property, ...). */
int fr_pipeline_new(const fr_config *c, const fr_model *m, const fr_pipeline_opts *o, fr_pipeline **out,
                    char *err, size_t errlen);
/* Runs until *opts.stop is set or a fatal error, then drains, commits and
 * leaves the group within pipeline.shutdown_timeout_ms. Returns 0 after a
 * clean drain; FR_EIO after a fatal Kafka error or if the drain timed out
 * (offsets are still committed up to what was delivered). */
int fr_pipeline_run(fr_pipeline *p);
void fr_pipeline_free(fr_pipeline *p);
/* Asks fr_pipeline_run to shut down, from any thread (opts.stop is for
 * signal handlers: signals reach only the run thread, because fraudd's and
 * librdkafka's threads start with every signal blocked). */
void fr_pipeline_stop(fr_pipeline *p);

void fr_pipeline_get_stats(fr_pipeline *p, fr_stats *out);
int fr_pipeline_workers(const fr_pipeline *p);

/* Liveness: the run loop iterated, and every worker with queued records
 * made progress, within max_age_ns. Thread safe. */
int fr_pipeline_alive(fr_pipeline *p, int64_t max_age_ns);
/* Readiness of the pipeline part: partitions are assigned, the brokers
 * are not all down, and the output and dead-letter topics accept records.
 * If not, writes why. Thread safe. */
int fr_pipeline_ready(fr_pipeline *p, char *why, size_t whylen);
/* Fills the pipeline's part of a scrape (statistics, readiness, models,
 * workers, librdkafka statistics) into v. Thread safe. */
void fr_pipeline_metrics(fr_pipeline *p, fr_metrics_view *v);

/* Model hot swap. fr_pipeline_swap_model builds everything the model
 * needs (one scorer per worker) on the caller's thread, off the hot path,
 * then hands it to the run thread, which swaps it in between two records:
 * records dispatched from then on are scored by m, records already in
 * flight finish with the model they were dispatched with, and each result
 * carries its own model's version. No record is dropped or sees a partly
 * built model. Takes ownership of m when it returns 0 (m is freed once its
 * last record is done after a later swap, or with the pipeline). m must
 * have been checked by the caller (src/reload); it needs only to compile.
 * Thread safe; one caller at a time. */
int fr_pipeline_swap_model(fr_pipeline *p, fr_model *m, char *err, size_t errlen);
/* The same for a champion and a challenger at once (include/fraudd/mgen.h,
 * fr_mgen_spec): the generation takes references of its own to the models;
 * the caller keeps its own either way. */
int fr_pipeline_swap(fr_pipeline *p, const fr_mgen_spec *spec, char *err, size_t errlen);
/* The reloader counts its outcomes here (single caller thread). */
void fr_pipeline_count_reload(fr_pipeline *p, fr_reload_result r);

#ifdef __cplusplus
}
#endif

#endif
