/* HTTP endpoints on libmicrohttpd (include/fraudd/http.h has the contract).
 *
 * The daemon's own polling thread answers every request; it starts with all
 * signals blocked so SIGTERM keeps reaching the run thread. The pipeline
 * pointer is published with a release store and read with an acquire load,
 * so a request sees a fully built pipeline or none.
 */
#include "fraudd/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "fraudd/common.h"
#include "fraudd/err.h"
#include "fraudd/log.h"
#include "fraudd/metrics.h"

#define FR_HTTP_MAX_CONNECTIONS 32
#define FR_HTTP_TIMEOUT_S 10
#define FR_LIVENESS_MAX_AGE_NS (10LL * 1000000000) /* no progress for 10 s: not alive */

struct fr_http {
    struct MHD_Daemon *d;
    fr_http_src src;
    _Atomic(fr_pipeline *) pipeline; /* release store in set_pipeline, acquire in handlers */
    int port;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *ctype, const char *body,
                             size_t len) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", ctype);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **state) {
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)state;
    fr_http *h = cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "method not allowed\n", 19);
    fr_pipeline *p = atomic_load_explicit(&h->pipeline, memory_order_acquire);
    if (strcmp(url, "/metrics") == 0) {
        fr_metrics_view *v = calloc(1, sizeof *v);
        if (!v) return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", "out of memory\n", 14);
        if (h->src.model) {
            v->model_version = fr_model_version(h->src.model);
            v->model_features = fr_model_n_features(h->src.model);
            v->model_threshold = h->src.threshold;
            v->model_loaded_unix = h->src.model_loaded_unix;
        }
        if (p) fr_pipeline_metrics(p, v);
        v->ready = v->ready && h->src.model; /* as /readyz answers */
        fr_buf b = {0};
        fr_metrics_render(v, &b);
        free(v);
        enum MHD_Result ok = b.oom ? reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", "out of memory\n", 14)
                                   : reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
        fr_buf_free(&b);
        return ok;
    }
    if (strcmp(url, "/healthz") == 0) {
        if (!p || fr_pipeline_alive(p, FR_LIVENESS_MAX_AGE_NS)) return reply(c, MHD_HTTP_OK, "text/plain", "ok\n", 3);
        return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", "stalled: no progress for 10 s\n", 30);
    }
    if (strcmp(url, "/readyz") == 0) {
        char why[256];
        if (!h->src.model) return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", "model not loaded\n", 17);
        if (!p) return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", "pipeline not started\n", 21);
        if (!fr_pipeline_ready(p, why, sizeof why)) {
            size_t n = strlen(why);
            if (n + 1 < sizeof why) why[n++] = '\n';
            return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", why, n);
        }
        return reply(c, MHD_HTTP_OK, "text/plain", "ready\n", 6);
    }
    return reply(c, MHD_HTTP_NOT_FOUND, "text/plain", "not found: /metrics, /healthz, /readyz\n", 39);
}

int fr_http_start(const char *bind, int port, const fr_http_src *src, fr_http **out, char *err, size_t errlen) {
    *out = NULL;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, bind && *bind ? bind : "0.0.0.0", &sa.sin_addr) != 1)
        return fr_set_err(err, errlen, FR_EINVAL, "http.bind: \"%s\" is not an IPv4 address", bind);
    fr_http *h = calloc(1, sizeof *h);
    if (!h) return fr_set_err(err, errlen, FR_ENOMEM, "out of memory");
    h->src = *src;
    atomic_init(&h->pipeline, src->pipeline);
    sigset_t old;
    fr_signals_block(&old); /* libmicrohttpd's thread inherits it: signals stay with the run thread */
    h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)port, NULL, NULL, handle, h,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)FR_HTTP_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)FR_HTTP_TIMEOUT_S,
                            MHD_OPTION_END);
    fr_signals_restore(&old);
    if (!h->d) {
        free(h);
        return fr_set_err(err, errlen, FR_EIO, "http: cannot listen on %s:%d (in use, or not allowed)",
                          bind && *bind ? bind : "0.0.0.0", port);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? (int)info->port : port;
    *out = h;
    return 0;
}

int fr_http_port(const fr_http *h) { return h->port; }

void fr_http_set_pipeline(fr_http *h, fr_pipeline *p) { atomic_store_explicit(&h->pipeline, p, memory_order_release); }

void fr_http_stop(fr_http *h) {
    if (!h) return;
    MHD_stop_daemon(h->d);
    free(h);
}
