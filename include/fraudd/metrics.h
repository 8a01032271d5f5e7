/* fraudd metrics: what fraudd measures, and its Prometheus text exposition.
 *
 * Below every stage that counts something, and above none of them:
 *   counters    fr_ctr_add / fr_ctr_get: one writer per counter (a relaxed
 *               load and store, no read-modify-write, no lock), any reader;
 *               scrapes sum the per-thread copies
 *   histograms  the bucket maths of latencies (128 log buckets, 4 per
 *               factor of two from 1 us) and scores (4 per factor of two
 *               from 2^-10 to 2^20)
 *   drift       the population stability index of live scores against a
 *               model's reference histogram, over a sliding window of
 *               cumulative snapshots (fr_drift, src/metrics/drift.c)
 *   snapshot    fr_stats and fr_metrics_view: the values one scrape shows,
 *               filled by the pipeline (fr_pipeline_metrics), so rendering
 *               reads plain memory and calls no stage
 *   rendering   fr_metrics_render: names in base units (seconds, bytes),
 *               _total for counters, HELP and TYPE for every family;
 *               docs/METRICS.md lists them
 *
 * Thread safety: the counters as above; everything else is pure over the
 * caller's memory.
 */
#ifndef FRAUDD_METRICS_H
#define FRAUDD_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "fraudd/common.h"
#include "fraudd/deadletter.h"
#include "fraudd/kstats.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- counters ---- */

/* A counter with one writer: the owning thread adds with a relaxed load and
 * store (no read-modify-write, no lock), any thread may read it. */
static inline void fr_ctr_add(_Atomic uint64_t *c, uint64_t n) {
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}
static inline uint64_t fr_ctr_get(const _Atomic uint64_t *c) {
    return atomic_load_explicit((_Atomic uint64_t *)c, memory_order_relaxed);
}

/* ---- histograms ---- */

/* Latencies: bucket 0 holds < 1 us, bucket 1 + 4e + s holds up to
 * 2^e * (1 + (s + 1) / 4) us; the last one everything above. */
#define FR_LAT_BUCKETS 128
int fr_lat_bucket(int64_t ns);
int64_t fr_latency_bucket_upper_ns(int i);
/* Whether /metrics shows bucket i's upper bound as an `le`: bucket 0 and
 * every power of two (1 us, 2 us, 4 us, ...); with fine, also the three
 * quarter steps of each power of two from 1.024 ms to 131 ms (1.28, 1.54,
 * 1.79, 2.05, ..., 8.19, 10.24, 12.29, 14.34, 16.38, ... ms), where latency
 * objectives sit: a p99 against 10 ms is then read between 8.19 and 10.24 ms,
 * not interpolated across 8-16 ms. */
int fr_lat_bucket_shown(int i, int fine);
/* Adds a latency histogram of single-writer counters into a snapshot's. */
static inline void fr_lat_hist_add(uint64_t *dst, const _Atomic uint64_t *src) {
    for (int i = 0; i < FR_LAT_BUCKETS; i++) dst[i] += fr_ctr_get(&src[i]);
}
/* q in (0,1]: upper bound of the bucket holding that quantile; 0 if empty. */
int64_t fr_latency_quantile_ns(const uint64_t *buckets, double q);

/* Scores: bucket i counts scores <= fr_score_bucket_upper(i); log-spaced,
 * 4 per factor of two from 2^-10 to 2^20, the last one +Inf. */
#define FR_SCORE_BUCKETS 122
double fr_score_bucket_upper(int i);
int fr_score_bucket(double score);

/* ---- score drift: population stability index over a sliding window ---- */

/* Most bins a reference histogram may have (FR_MODEL_MAX_SCORE_BINS). */
#define FR_DRIFT_MAX_BINS 64
/* Snapshots per window: the window slides in steps of window / 10. */
#define FR_DRIFT_STEPS 10
/* Both shares are floored at this before the logarithm: an empty bin on
 * either side would otherwise make the PSI infinite. */
#define FR_PSI_FLOOR 1e-4

/* The bin of score among k bins split by the k - 1 increasing edges: 0 if
 * score < edges[0], i if edges[i-1] <= score < edges[i], k - 1 if score >=
 * edges[k-2]. Binary search; NaN lands in bin 0. */
static inline int fr_drift_bin(const double *edges, size_t k, double score) {
    size_t lo = 0, hi = k - 1; /* the bin is in [lo, hi] */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2; /* bin mid ends at edges[mid] */
        if (score >= edges[mid]) lo = mid + 1;
        else hi = mid;
    }
    return (int)lo;
}

/* Population stability index of the observed counts q[0..k) against the
 * expected shares p[0..k): sum_i (q_i - p_i) ln(q_i / p_i), q_i the share of
 * bin i in the observed counts, both shares floored at FR_PSI_FLOOR. NaN if
 * nothing was observed. */
double fr_psi(const double *expected, const uint64_t *observed, size_t k);

/* The sliding window of one model's live score counts. The counts
 * themselves are cumulative single-writer counters (one set per worker,
 * fr_mgen_wstats); this keeps snapshots of their sum, and the window's
 * counts are the sum now minus the oldest snapshot. The oldest is
 * FR_DRIFT_STEPS steps (one window) old once the ring is full, so the
 * window covers the last window_s to window_s + one step; before that it
 * is everything since the model started serving (its first snapshot is all
 * zeros).
 * Threads: one owner takes the snapshots (fr_drift_step); readers of the
 * ring must be ordered against it by the caller (mgen: its mutex). */
typedef struct fr_drift {
    size_t k;          /* bins; 0: no reference, nothing measured */
    int64_t step_ns;   /* between snapshots: the window / FR_DRIFT_STEPS */
    int64_t next_ns;   /* when the next snapshot is due (fr_now_ns) */
    unsigned n, first; /* snapshots held (1..FR_DRIFT_STEPS + 1), index of the oldest */
    uint64_t snap[FR_DRIFT_STEPS + 1][FR_DRIFT_MAX_BINS]; /* cumulative counts at each step */
} fr_drift;

/* k bins (0: none), a window of window_ns starting at now_ns (one all-zero
 * snapshot). */
void fr_drift_init(fr_drift *d, size_t k, int64_t window_ns, int64_t now_ns);
/* The owner: if a step is due at now_ns, records cum[0..k) (the cumulative
 * counts now) as the newest snapshot, dropping the oldest beyond one
 * window. Returns 1 if it took one. */
int fr_drift_step(fr_drift *d, const uint64_t *cum, int64_t now_ns);
/* The window's counts, cum (cumulative now) minus the oldest snapshot, into
 * out[0..k); returns their sum. */
uint64_t fr_drift_window(const fr_drift *d, const uint64_t *cum, uint64_t *out);

/* ---- the snapshot ---- */

/* Outcome of one model reload check (label "result"). */
typedef enum fr_reload_result {
    FR_RELOAD_SWAPPED = 0,  /* a new model passed its checks and was swapped in */
    FR_RELOAD_UNCHANGED,    /* the source still holds a model already seen */
    FR_RELOAD_REFUSED,      /* a new model failed its checks; the serving one stays */
    FR_RELOAD_FETCH_FAILED, /* the source could not be read */
    FR_RELOAD__COUNT
} fr_reload_result;

/* Why a delivery failed (label "class" of fraudd_delivery_errors_total;
 * src/sink decides from librdkafka's error code). */
typedef enum fr_delivery_class {
    FR_DELIVERY_DESTINATION = 0, /* the topic is missing or refused (authorization, replicas): kept, retried */
    FR_DELIVERY_RECORD,          /* the broker refused the record itself (too large, invalid): retries, then a dead letter */
    FR_DELIVERY_TRANSIENT,       /* anything else (timeouts, transport): retries, then a dead letter */
    FR_DELIVERY__COUNT
} fr_delivery_class;

/* Records whose dead letter cannot be delivered, shown at once. */
#define FR_STATS_MAX_BLOCKED 64

/* The pipeline's counters, summed over its threads. */
typedef struct fr_stats {
    uint64_t consumed;                       /* records dispatched to workers */
    uint64_t results;                        /* results acknowledged by the broker */
    uint64_t flagged;                        /* ... of which over the threshold */
    uint64_t dead_letters;                   /* dead letters acknowledged */
    uint64_t dead_by_class[FR_EC__COUNT];
    uint64_t rejects[FR_REJ_PREPROCESS + 1]; /* worker rejections by reason */
    uint64_t produce_retries;                /* re-sends after a failed delivery */
    uint64_t in_flight;                      /* dispatched, not yet acknowledged */
    uint64_t backpressure_ns;                /* time the input waited for room */
    uint64_t assigned_partitions;            /* partitions owned now */
    uint64_t prefetch_bytes;                 /* per partition: the consumer's queued.max.messages.kbytes */
    uint64_t fetch_nudges;                   /* wake-ups of the fetchers while a backlog drains */
    uint64_t rebalances;                     /* assignment changes seen */
    /* dispatch -> broker acknowledgement, per record (fr_lat_bucket) */
    uint64_t latency[FR_LAT_BUCKETS];
    /* record timestamp (set by its producer) -> delivery of its result */
    uint64_t e2e_latency[FR_LAT_BUCKETS];
    uint64_t queue_wait[FR_LAT_BUCKETS]; /* dispatch -> a worker takes it */
    uint64_t inference[FR_LAT_BUCKETS];  /* per batch */
    uint64_t latency_sum_ns, e2e_sum_ns, queue_wait_sum_ns, inference_sum_ns;
    uint64_t scored;                           /* results handed to the producer */
    uint64_t batches;
    uint64_t delivery_errors;                  /* failed deliveries (reports, and produce calls refused at once) */
    uint64_t delivery_errors_by_class[FR_DELIVERY__COUNT];
    /* output (0) and dead-letter (1) topic: 1 while records wait for it
     * after a destination error (no successful delivery since) */
    const char *topic_name[2];
    int topic_blocked[2];
    /* records whose dead letter failed for good, retried with backoff */
    size_t n_blocked;
    int32_t blocked_partition[FR_STATS_MAX_BLOCKED];
    int64_t blocked_offset[FR_STATS_MAX_BLOCKED];
    uint64_t dead_by_reason[FR_DEAD__COUNT];   /* acknowledged dead letters by reason (FR_DEAD_*) */
    uint64_t model_reloads[FR_RELOAD__COUNT];  /* model reload checks by outcome */
    uint64_t model_generation;                 /* generation new records get (1 = the first model) */
    /* kafka.delivery: exactly_once (shown only then) */
    int exactly_once;
    uint64_t transactions[2];                  /* committed, aborted */
    uint64_t txn_records;                      /* records in committed transactions */
    uint64_t txn_latency[FR_LAT_BUCKETS];      /* begin -> commit acknowledged, per committed transaction */
    uint64_t txn_latency_sum_ns;
} fr_stats;

/* One worker, for ring depth, busy ratio and liveness. */
typedef struct fr_worker_stats {
    uint64_t ring_depth, ring_capacity;
    uint64_t busy_ns;
    int64_t heartbeat_ns; /* fr_now_ns of its last loop; 0 before it started */
} fr_worker_stats;

/* One model of the live generations (include/fraudd/mgen.h). */
typedef struct fr_model_status {
    uint64_t generation; /* the newest generation holding it: 1, 2, ... in swap order */
    char version[128];
    double threshold;    /* in force */
    double loaded_unix;  /* when that generation was handed to the pipeline */
    size_t n_features;
    int serving;                       /* 1: the serving generation holds it; 0: retired, records still in flight */
    int role;                          /* in that generation: 0 champion, 1 challenger */
    char mode[8];                      /* challenger: "shadow" or "canary" (model.challenger.mode) */
    double share;                      /* canary challenger: its share of keys */
    uint64_t scores[FR_SCORE_BUCKETS]; /* fr_score_bucket counts of its results */
    double score_sum;
    int has_drift;                     /* the model has a reference score histogram */
    uint64_t psi_records;              /* scores in the drift window */
    double psi;                        /* their PSI against the reference; NaN: too few (metrics.drift_min_records) */
} fr_model_status;

/* Verdicts of a champion and its shadow challenger on the same records. */
typedef struct fr_shadow_status {
    char champion[128], challenger[128]; /* versions */
    uint64_t verdicts[2][2];             /* [champion is_fraud][challenger is_fraud] */
    uint64_t rejected;                   /* scored by the champion, rejected by the challenger */
} fr_shadow_status;

/* One assigned input partition's progress (include/fraudd/source.h,
 * fr_source_stalls). */
typedef struct fr_part_stall {
    int32_t partition;
    double seconds; /* since it last dispatched a record or was seen caught up */
} fr_part_stall;

/* Model generations shown at once: the serving one and retired ones still
 * finishing their records (normally one, briefly two). */
#define FR_METRICS_MAX_MODELS 8
/* Shadow pairs kept (include/fraudd/mgen.h, FR_MGEN_MAX_PAIRS). */
#define FR_METRICS_MAX_SHADOWS 16
#define FR_METRICS_MAX_WORKERS 1024 /* pipeline.workers' bound */

/* Everything one scrape shows. Large: allocate it, don't put it on a stack. */
typedef struct fr_metrics_view {
    /* the model, before a pipeline exists (models[] replaces it after) */
    const char *model_version; /* NULL: none loaded */
    size_t model_features;
    double model_threshold, model_loaded_unix;
    /* the pipeline's part, when have_pipeline */
    int have_pipeline;
    int ready; /* what /readyz answers */
    fr_stats stats;
    int n_models;
    fr_model_status models[FR_METRICS_MAX_MODELS]; /* the serving champion first */
    int n_shadows;
    fr_shadow_status shadows[FR_METRICS_MAX_SHADOWS];
    int n_workers;
    fr_worker_stats workers[FR_METRICS_MAX_WORKERS];
    fr_kstats kafka;
    size_t n_stalls;
    fr_part_stall stalls[FR_KSTATS_MAX_PARTITIONS]; /* every assigned input partition */
} fr_metrics_view;

/* Appends the whole exposition to b (b->oom if memory ran out). */
void fr_metrics_render(const fr_metrics_view *v, fr_buf *b);

#ifdef __cplusplus
}
#endif

#endif
