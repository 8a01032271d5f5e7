/* fraudd pipeline: the streaming daemon behind `fraudd run`.
 *
 *   Kafka input topic
 *      | source (src/source): librdkafka consumer group, cooperative-sticky;
 *      |   one thread (the caller of fr_pipeline_run) polls it, dispatches
 *      |   each record to a worker by key / partition / round-robin, and owns
 *      |   every partition's offset tracker
 *      v
 *   ring per worker (src/ring): bounded lock-free SPSC; when a ring or the
 *      |   in-flight pool is full the source pauses its partitions
 *      v
 *   workers (src/worker): N threads, micro-batches through fr_scorer
 *      |   (decode -> model -> score -> encode), then produce
 *      v
 *   sink (src/sink): idempotent producer; results to the output topic,
 *      |   rejects to the dead-letter topic; delivery reports run on the
 *      |   source thread, which marks the record done in its partition's
 *      |   tracker and stores the contiguous prefix's offset
 *      v
 *   Kafka output and dead-letter topics
 *
 * Delivery: at least once. An input offset is stored (and later committed)
 * only when its record and every earlier record of the partition have
 * their result or dead letter acknowledged by the broker. A clean shutdown
 * or rebalance drains in-flight records first, so it produces no
 * duplicates; a crash re-delivers at most the uncommitted tail.
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
#include "fraudd/kstats.h"
#include "fraudd/model.h"
#include "fraudd/record.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Why a record went to the dead-letter topic (header fraudd.error.class). */
typedef enum fr_err_class {
    FR_EC_DECODE = 0, /* not JSON, not an object, duplicate key, too large */
    FR_EC_FEATURE,    /* a feature missing, null, of the wrong type, not finite */
    FR_EC_MODEL,      /* the model could not score it (preprocessing domain) */
    FR_EC_PRODUCE,    /* its result could not be delivered after retries */
    FR_EC__COUNT
} fr_err_class;

const char *fr_err_class_name(fr_err_class c);
fr_err_class fr_err_class_of(fr_reject r);

/* Why a dead letter was written, as counted (metrics label "reason"): an
 * fr_reject (never FR_REJ_NONE), or one of these two. */
#define FR_DEAD_SCORER (FR_REJ_PREPROCESS + 1)   /* "scorer_failed": the batch could not be scored */
#define FR_DEAD_DELIVERY (FR_REJ_PREPROCESS + 2) /* "delivery_failed": result undeliverable */
#define FR_DEAD__COUNT (FR_REJ_PREPROCESS + 3)
const char *fr_dead_reason_name(int reason);
fr_err_class fr_dead_reason_class(int reason);

/* Outcome of one model reload check (metrics label "result"). */
typedef enum fr_reload_result {
    FR_RELOAD_SWAPPED = 0,  /* a new model passed its checks and was swapped in */
    FR_RELOAD_UNCHANGED,    /* the source still holds a model already seen */
    FR_RELOAD_REFUSED,      /* a new model failed its checks; the serving one stays */
    FR_RELOAD_FETCH_FAILED, /* the source could not be read */
    FR_RELOAD__COUNT
} fr_reload_result;
const char *fr_reload_result_name(fr_reload_result r);

#define FR_LAT_BUCKETS 128
/* score histogram: bucket i counts scores <= fr_score_bucket_upper(i);
 * log-spaced, 4 per factor of two from 2^-10 to 2^20, last one +Inf */
#define FR_SCORE_BUCKETS 122
double fr_score_bucket_upper(int i);
int fr_score_bucket(double score);

typedef struct fr_pipeline_stats {
    uint64_t consumed;                    /* records dispatched to workers */
    uint64_t results;                     /* results acknowledged by the broker */
    uint64_t flagged;                     /* ... of which over the threshold */
    uint64_t dead_letters;                /* dead letters acknowledged */
    uint64_t dead_by_class[FR_EC__COUNT];
    uint64_t rejects[FR_REJ_PREPROCESS + 1]; /* worker rejections by reason */
    uint64_t produce_retries;             /* re-sends after a failed delivery */
    uint64_t in_flight;                   /* dispatched, not yet acknowledged */
    uint64_t pauses;                      /* times backpressure paused the input */
    uint64_t assigned_partitions;         /* partitions owned now */
    uint64_t rebalances;                  /* assignment changes seen */
    /* dispatch -> broker acknowledgement, per record: bucket i counts
     * latencies <= fr_latency_bucket_upper_ns(i) */
    uint64_t latency[FR_LAT_BUCKETS];
    /* record timestamp (set by its producer) -> delivery of its result */
    uint64_t e2e_latency[FR_LAT_BUCKETS];
    uint64_t queue_wait[FR_LAT_BUCKETS];     /* dispatch -> a worker takes it */
    uint64_t inference[FR_LAT_BUCKETS];      /* per batch */
    uint64_t latency_sum_ns, e2e_sum_ns, queue_wait_sum_ns, inference_sum_ns;
    uint64_t scored;                         /* results handed to the producer */
    uint64_t batches;
    uint64_t delivery_errors;                /* failed delivery reports */
    uint64_t dead_by_reason[FR_DEAD__COUNT]; /* acknowledged dead letters by reason (FR_DEAD_*) */
    uint64_t model_reloads[FR_RELOAD__COUNT];  /* model reload checks by outcome */
    uint64_t model_generation;               /* generation new records get (1 = the first model) */
} fr_pipeline_stats;



int64_t fr_latency_bucket_upper_ns(int i);
/* q in (0,1]: upper bound of the bucket holding that quantile; 0 if empty. */
int64_t fr_latency_quantile_ns(const uint64_t *buckets, double q);

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
} fr_pipeline_opts;

/* Builds the clients, rings and workers (threads start in run). The config
 * and model must outlive the pipeline. Returns 0 or a negative fr_err with
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

void fr_pipeline_get_stats(fr_pipeline *p, fr_pipeline_stats *out);
int fr_pipeline_workers(const fr_pipeline *p);

/* Per worker, for ring depth and busy ratio. */
typedef struct fr_worker_stats {
    uint64_t ring_depth, ring_capacity;
    uint64_t busy_ns;
    int64_t heartbeat_ns;
} fr_worker_stats;
void fr_pipeline_worker_stats(fr_pipeline *p, int i, fr_worker_stats *out);
/* Liveness: the run loop iterated, and every worker with queued records
 * made progress, within max_age_ns. Thread safe. */
int fr_pipeline_alive(fr_pipeline *p, int64_t max_age_ns);
/* Readiness of the pipeline part: partitions are assigned and the brokers
 * are not all down. If not, writes why. Thread safe. */
int fr_pipeline_ready(fr_pipeline *p, char *why, size_t whylen);
/* The latest librdkafka statistics (lag, producer queue). Thread safe. */
void fr_pipeline_kafka_stats(fr_pipeline *p, fr_kstats *out);

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
/* The reloader counts its outcomes here (single caller thread). */
void fr_pipeline_count_reload(fr_pipeline *p, fr_reload_result r);

/* One model generation as scrapes see it. */
typedef struct fr_model_status {
    uint64_t generation;       /* 1, 2, ... in swap order */
    char version[128];
    double threshold;          /* in force */
    double loaded_unix;        /* when it was handed to the pipeline */
    size_t n_features;
    int serving;               /* 1: new records get it; 0: retired, records still in flight */
    uint64_t scores[FR_SCORE_BUCKETS]; /* fr_score_bucket counts of its results */
    double score_sum;
} fr_model_status;
/* Fills up to cap generations, the serving one first; returns how many. Thread safe. */
int fr_pipeline_models(fr_pipeline *p, fr_model_status *out, int cap);

/* CPUs this process may use: the affinity mask, capped by a cgroup v2
 * cpu.max or v1 cfs quota (rounded up) as in a Kubernetes pod. At least 1.
 * cgroup_root is normally "/sys/fs/cgroup" (a parameter for tests). */
int fr_cpu_count(const char *cgroup_root);

#ifdef __cplusplus
}
#endif

#endif
