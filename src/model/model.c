/* Model lifecycle and accessors: loading (file, memory, the embedded
 * default), workspaces and preprocessing. Compilation is in compile.c, the
 * kernels in kernels.c.
 *
 * Threads: loading happens on one thread; a loaded model is read-only and
 * shared freely.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fraudd/err.h"
#include "model/model_internal.h"

/* Files larger than this are refused before reading (a fraud autoencoder is
 * kilobytes to a few megabytes). */
#define FR__MAX_MODEL_BYTES (256u * 1024u * 1024u)

extern const unsigned char fr__default_model_start[];
extern const unsigned char fr__default_model_end[];

void fr__model_destroy(fr_model *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n_layers; i++) {
        free(m->layers[i].w);
        free(m->layers[i].b);
        free(m->layers[i].pre);
        free(m->layers[i].ops);
        free(m->layers[i].wt);
        free(m->layers[i].bp);
    }
    free(m->layers);
    if (m->features)
        for (size_t i = 0; i < m->n_in; i++) free(m->features[i]);
    free(m->features);
    free(m->defaults);
    free(m->has_default);
    free(m->log1p);
    free(m->err_w);
    free(m->version);
    free(m->origin);
    free(m->producer);
    free(m->source_ops);
    free(m->selftest);
    free(m);
}

void fr_model_free(fr_model *m) {
    /* acq_rel: the last owner sees every other owner's use before freeing */
    if (m && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) > 0) return;
    fr__model_destroy(m);
}

fr_model *fr_model_retain(const fr_model *m) {
    fr_model *mm = (fr_model *)m; /* the owner count is not part of the model's value */
    atomic_fetch_add_explicit(&mm->refs, 1, memory_order_relaxed); /* the caller holds a reference already */
    return mm;
}

int fr_model_load_mem(const void *buf, size_t len, const char *origin, fr_model **out, char *err, size_t errlen) {
    int rc;
    *out = NULL;
    fr_model *m = calloc(1, sizeof *m);
    if (!m) return FR_ENOMEM;
    if (!(m->origin = strdup(origin ? origin : "<memory>"))) {
        rc = FR_ENOMEM;
        goto fail;
    }
    if ((rc = fr__model_compile(buf, len, m->origin, m, err, errlen)) != 0) goto fail;
    if ((rc = fr__plan_pack(m)) != 0) goto fail;
    *out = m;
    return 0;
fail:
    if (rc == FR_ENOMEM) fr_set_err(err, errlen, rc, "%s: out of memory while loading the model", m->origin);
    fr__model_destroy(m);
    return rc;
}

int fr_model_load_file(const char *path, fr_model **out, char *err, size_t errlen) {
    int rc = 0;
    unsigned char *buf = NULL;
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return fr_set_err(err, errlen, FR_EIO, "%s: cannot open model: %s", path, strerror(errno));
    long sz = -1;
    if (fseek(f, 0, SEEK_END) == 0) sz = ftell(f);
    if (sz < 0 || fseek(f, 0, SEEK_SET) != 0) {
        rc = fr_set_err(err, errlen, FR_EIO, "%s: cannot read model: %s", path, strerror(errno));
        goto out;
    }
    if ((unsigned long)sz > FR__MAX_MODEL_BYTES) {
        rc = fr_set_err(err, errlen, FR_ETOOBIG, "%s: %ld bytes, expected at most %u", path, sz, FR__MAX_MODEL_BYTES);
        goto out;
    }
    if (!(buf = malloc((size_t)sz + 1))) {
        rc = FR_ENOMEM;
        goto out;
    }
    if (fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
        rc = fr_set_err(err, errlen, FR_EIO, "%s: short read", path);
        goto out;
    }
    rc = fr_model_load_mem(buf, (size_t)sz, path, out, err, errlen);
out:
    free(buf);
    fclose(f);
    return rc;
}

int fr_model_load_default(fr_model **out, char *err, size_t errlen) {
    return fr_model_load_mem(fr__default_model_start, (size_t)(fr__default_model_end - fr__default_model_start),
                             "<embedded default model>", out, err, errlen);
}

fr_model_kind fr_model_get_kind(const fr_model *m) { return m->kind; }
size_t fr_model_n_features(const fr_model *m) { return m->n_in; }
size_t fr_model_n_outputs(const fr_model *m) { return m->n_out; }
const char *fr_model_feature_name(const fr_model *m, size_t i) { return m->features[i]; }
const char *const *fr_model_feature_names(const fr_model *m) { return (const char *const *)m->features; }
int fr_model_feature_default(const fr_model *m, size_t i, float *value) {
    if (!m->has_default[i]) return 0;
    if (value) *value = m->defaults[i];
    return 1;
}
int fr_model_feature_log1p(const fr_model *m, size_t i) { return m->log1p[i]; }
float fr_model_error_weight(const fr_model *m, size_t i) { return m->err_w[i]; }
const float *fr_model_error_weights(const fr_model *m) { return m->err_w; }
double fr_model_threshold(const fr_model *m) { return m->threshold; }
const char *fr_model_version(const fr_model *m) { return m->version; }
const char *fr_model_origin(const fr_model *m) { return m->origin; }
const char *fr_model_producer(const fr_model *m) { return m->producer; }
const char *fr_model_source_ops(const fr_model *m) { return m->source_ops; }
const char *fr_model_selftest(const fr_model *m) { return m->selftest; }
size_t fr_model_n_layers(const fr_model *m) { return m->n_layers; }

void fr_model_layer_info(const fr_model *m, size_t i, fr_layer_info *info) {
    const fr__layer *l = &m->layers[i];
    info->in = l->in;
    info->out = l->out;
    info->act = l->act;
    info->alpha = l->alpha;
    info->ops = l->ops ? l->ops : (l->kind == FR__DIAG ? "(scaling)" : "");
}

int fr_model_preprocess(const fr_model *m, float *row) {
    for (size_t i = 0; i < m->n_in; i++) {
        if (!m->log1p[i]) continue;
        if (!(row[i] > -1.0f)) return FR_ERANGE;
        row[i] = log1pf(row[i]);
        if (!isfinite(row[i])) return FR_ENONFINITE;
    }
    return 0;
}

fr_workspace *fr_workspace_new(const fr_model *m, size_t max_batch) {
    if (max_batch == 0 || max_batch > FR_MODEL_MAX_BATCH) return NULL;
    fr_workspace *ws = calloc(1, sizeof *ws);
    if (!ws) return NULL;
    ws->max_batch = max_batch;
    ws->lanes = (max_batch + FR__LANES - 1) / FR__LANES * FR__LANES;
    ws->width = ws->lanes;
    size_t bytes = m->max_width * ws->lanes * sizeof(float);
    size_t row_bytes = (m->max_width + FR__LANES) / FR__LANES * FR__LANES * sizeof(float);
    for (int i = 0; i < 2; i++) {
        ws->buf[i] = aligned_alloc(64, (bytes + 63) / 64 * 64);
        ws->row[i] = aligned_alloc(64, (row_bytes + 63) / 64 * 64);
        if (!ws->buf[i] || !ws->row[i]) {
            fr_workspace_free(ws);
            return NULL;
        }
        memset(ws->buf[i], 0, bytes);
        memset(ws->row[i], 0, row_bytes);
    }
    ws->xt = aligned_alloc(64, (bytes + 63) / 64 * 64);
    ws->yt = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!ws->xt || !ws->yt) {
        fr_workspace_free(ws);
        return NULL;
    }
    memset(ws->xt, 0, bytes);
    memset(ws->yt, 0, bytes);
    return ws;
}

void fr_workspace_free(fr_workspace *ws) {
    if (!ws) return;
    free(ws->buf[0]);
    free(ws->buf[1]);
    free(ws->row[0]);
    free(ws->row[1]);
    free(ws->xt);
    free(ws->yt);
    free(ws);
}
