/* fraudd reload: new models for a running daemon, with no downtime, and
 * the champion/challenger rollout (model.challenger: shadow or canary;
 * promotion by editing the config file).
 *
 *   config (the file the daemon started with, its model section)
 *      |
 *   source (model.path or model.url, and model.challenger's)
 *      | fr_model_src_fetch: a file (stat, then a bounded read that must not
 *      |   race a writer) or an HTTP(S) URL (libcurl, If-None-Match on the
 *      |   last ETag, If-Modified-Since, model.max_bytes, a time bound)
 *      v
 *   check (fr_model_check): compile; the same features as the serving model;
 *      |   its own version; a self-test through the real scorer (probe
 *      |   records must score finite, and the model's fraudd.selftest records
 *      |   must reproduce the scores its exporter wrote)
 *      v
 *   swap (fr_pipeline_swap_model): built off the hot path, swapped in
 *      between two records; in-flight records finish with their own model
 *
 * The reloader is one thread of its own (signals blocked). It checks the
 * config file and the sources every model.reload_interval_ms and whenever
 * fr_reloader_request is called (SIGHUP, via the run thread). A model that fails any check is
 * refused and logged; the serving model keeps serving. A source that
 * still holds the serving model, or the one last refused, is "unchanged".
 * Every outcome is counted (fraudd_model_reloads_total{result}).
 *
 * Thread safety: an fr_model_src is used by one thread at a time (the boot
 * sequence, then the reloader thread). fr_reloader_request may be called
 * from any thread, but not from a signal handler.
 */
#ifndef FRAUDD_RELOAD_H
#define FRAUDD_RELOAD_H

#include <stddef.h>
#include <stdint.h>

#include "fraudd/config.h"
#include "fraudd/model.h"
#include "fraudd/pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fr_model_src fr_model_src;

typedef struct fr_model_src_opts {
    const char *path;   /* a file, or NULL */
    const char *url;    /* an http(s) URL, or NULL (exactly one of path, url) */
    size_t max_bytes;   /* larger models are refused unread */
    int timeout_ms;     /* one download's bound */
    const char *ca_file; /* PEM CA bundle for https, or NULL: the system's */
} fr_model_src_opts;

/* Returns NULL on out of memory. */
fr_model_src *fr_model_src_new(const fr_model_src_opts *o);
void fr_model_src_free(fr_model_src *s);
/* The path, or the URL without credentials and query: safe to log. */
const char *fr_model_src_name(const fr_model_src *s);

#define FR_SRC_UNCHANGED 1
/* Reads the model if the source changed since the last successful fetch
 * (force: read it anyway). Returns 0 with a malloc'd *buf of *len bytes
 * (the caller frees it), FR_SRC_UNCHANGED, or a negative fr_err with a
 * sentence in err (FR_EIO: unreachable, HTTP error, changed while read;
 * FR_ETOOBIG: over max_bytes). */
int fr_model_src_fetch(fr_model_src *s, int force, unsigned char **buf, size_t *len, char *err, size_t errlen);

/* Compiles buf and checks that it may replace serving (NULL: nothing
 * serves yet, only the self-test runs) under config c: the same feature
 * names, a version of its own, the self-test. Returns 0 and the model in
 * *out, or a negative fr_err and why in err. */
int fr_model_check(const void *buf, size_t len, const char *origin, const fr_model *serving, const fr_config *c,
                   fr_model **out, char *err, size_t errlen);

/* The models a daemon serves, with where they come from: [0] the champion
 * (src NULL: the embedded model), [1] the challenger (model NULL: none). */
typedef struct fr_rollout {
    fr_model_src *src[2];
    fr_model *model[2]; /* references held by the rollout */
    uint64_t digest[2]; /* fr_model_digest of each model's bytes (0: embedded) */
} fr_rollout;

/* At start: reads, compiles and checks the models config c names (the
 * same checks as a reload, and fr_model_check_pair). 0, or a negative
 * fr_err with a sentence naming the role in err. */
int fr_rollout_load(const fr_config *c, fr_rollout *r, char *err, size_t errlen);
void fr_rollout_free(fr_rollout *r);

typedef struct fr_reloader fr_reloader;

/* Starts the reloader thread for pipeline p, serving *live (which moves to
 * the reloader, even on failure; *live is left empty). c is the config the
 * daemon started with: its file (c->path) is re-read on every check that
 * is forced or finds it changed, and its model section applied
 * (model.path / url / threshold and model.challenger.*; other sections
 * need a restart). Returns 0 or a negative fr_err. */
int fr_reloader_start(fr_pipeline *p, const fr_config *c, fr_rollout *live, fr_reloader **out, char *err,
                      size_t errlen);
/* Asks for a check now, bypassing the "source unchanged" shortcut. */
void fr_reloader_request(fr_reloader *r);
/* Stops and joins the thread (a check in progress finishes first: a
 * download is bounded by model.fetch_timeout_ms). NULL is fine. */
void fr_reloader_stop(fr_reloader *r);

#ifdef __cplusplus
}
#endif

#endif
