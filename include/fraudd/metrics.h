/* fraudd metrics: the Prometheus text exposition of a running pipeline.
 *
 * Rendering only reads: per-worker and run-thread counters (single-writer
 * atomics, summed here), ring depths, and /proc/self for the standard
 * process metrics. The only lock it takes that the pipeline also takes is
 * the model generations' (fr_pipeline_models), which the run thread holds
 * only when a model is swapped in or a replaced one is freed, never per
 * record, so a scrape can never stall scoring. Names follow Prometheus conventions: base units
 * (seconds, bytes), _total for counters, HELP and TYPE for every family.
 * docs/METRICS.md lists them.
 *
 * Thread safety: fr_metrics_render may run on any thread, concurrently with
 * the pipeline.
 */
#ifndef FRAUDD_METRICS_H
#define FRAUDD_METRICS_H

#include <stddef.h>

#include "fraudd/model.h"
#include "fraudd/pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A growable text buffer. */
typedef struct fr_buf {
    char *data;
    size_t len, cap;
    int oom; /* an append failed; the text is incomplete */
} fr_buf;

void fr_buf_printf(fr_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fr_buf_free(fr_buf *b);

typedef struct fr_metrics_src {
    fr_pipeline *pipeline;    /* may be NULL before it exists */
    const fr_model *model;    /* may be NULL before it is loaded */
    double model_loaded_unix; /* seconds since the epoch */
    double threshold;         /* in force */
} fr_metrics_src;

/* Appends the whole exposition to b. */
void fr_metrics_render(const fr_metrics_src *src, fr_buf *b);

#ifdef __cplusplus
}
#endif

#endif
