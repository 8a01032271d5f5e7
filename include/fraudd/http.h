/* fraudd HTTP endpoints: /metrics, /healthz, /readyz (libmicrohttpd).
 *
 *   GET /metrics  Prometheus text format (include/fraudd/metrics.h)
 *   GET /healthz  200 "ok" while the run loop and the workers make progress
 *                 (liveness: Kubernetes restarts the pod otherwise), else 503
 *   GET /readyz   200 "ready" once the model is loaded, the broker answered
 *                 and partitions are assigned, else 503 with the reason
 *   anything else 404; methods other than GET/HEAD 405
 *
 * libmicrohttpd runs its own thread (internal polling), at most 32
 * connections, a 10 s idle timeout. Handlers only read atomics and
 * /proc, and take no lock the pipeline holds per record (metrics.h), so
 * HTTP can never stall it.
 *
 * Thread safety: fr_http_set_pipeline may be called from any thread.
 */
#ifndef FRAUDD_HTTP_H
#define FRAUDD_HTTP_H

#include <stddef.h>

#include "fraudd/model.h"
#include "fraudd/pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fr_http fr_http;

/* What the endpoints serve before (and besides) the pipeline. */
typedef struct fr_http_src {
    fr_pipeline *pipeline;    /* may be NULL before it exists (fr_http_set_pipeline) */
    const fr_model *model;    /* may be NULL before it is loaded */
    double model_loaded_unix; /* seconds since the epoch */
    double threshold;         /* in force */
} fr_http_src;

/* Starts serving on bind:port (port 0: an ephemeral port, see
 * fr_http_port). src is copied; its pipeline may be set later. */
int fr_http_start(const char *bind, int port, const fr_http_src *src, fr_http **out, char *err, size_t errlen);
int fr_http_port(const fr_http *h);
void fr_http_set_pipeline(fr_http *h, fr_pipeline *p);
void fr_http_stop(fr_http *h);

#ifdef __cplusplus
}
#endif

#endif
