/* Test helper: variants of the default model, made by unpacking its ONNX
 * bytes with protobuf-c, changing metadata or weights, and packing again.
 * A variant is a real ONNX file, as a data scientist's new export would be.
 */
#ifndef FR_TEST_MODEL_VARIANTS_H
#define FR_TEST_MODEL_VARIANTS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fraudd/model.h"
#include "onnx.pb-c.h"

#define MV_DEFAULT_MODEL FR_SOURCE_DIR "/models/default/fraudd-default.onnx"

static inline unsigned char *mv_read(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

typedef struct mv_opts {
    const char *version;     /* fraudd.version (NULL: keep) */
    const char *features;    /* fraudd.features JSON (NULL: keep) */
    const char *selftest;    /* fraudd.selftest JSON (NULL: none) */
    const char *err_weights; /* fraudd.error_weights JSON (NULL: keep) */
    int nan_weight;          /* poison the first weight with NaN */
} mv_opts;

static inline void mv_set_meta(Onnx__ModelProto *mp, const char *key, const char *value) {
    for (size_t i = 0; i < mp->n_metadata_props; i++)
        if (!strcmp(mp->metadata_props[i]->key, key)) {
            mp->metadata_props[i]->value = (char *)value; /* a borrowed string; see mv_make */
            return;
        }
    Onnx__StringStringEntryProto **props =
        realloc(mp->metadata_props, (mp->n_metadata_props + 1) * sizeof *props); /* protobuf-c frees with free() */
    Onnx__StringStringEntryProto *e = malloc(sizeof *e);
    onnx__string_string_entry_proto__init(e);
    e->key = strdup(key);
    e->value = (char *)value;
    props[mp->n_metadata_props++] = e;
    mp->metadata_props = props;
}

/* A variant of the default model as ONNX bytes (malloc'd, *len set). */
static inline unsigned char *mv_make(const mv_opts *o, size_t *len) {
    size_t n = 0;
    unsigned char *src = mv_read(MV_DEFAULT_MODEL, &n);
    if (!src) return NULL;
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, n, src);
    free(src);
    if (!mp) return NULL;
    /* values we set are borrowed: remember the originals and put them back
     * before protobuf-c frees the message */
    char *saved[64] = {0};
    size_t n_props0 = mp->n_metadata_props;
    for (size_t i = 0; i < n_props0 && i < 64; i++) saved[i] = mp->metadata_props[i]->value;
    if (o->version) mv_set_meta(mp, "fraudd.version", o->version);
    if (o->features) mv_set_meta(mp, "fraudd.features", o->features);
    if (o->selftest) mv_set_meta(mp, "fraudd.selftest", o->selftest);
    if (o->err_weights) mv_set_meta(mp, "fraudd.error_weights", o->err_weights);
    if (o->nan_weight) {
        Onnx__TensorProto *t = mp->graph->initializer[0];
        if (t->n_float_data)
            t->float_data[0] = NAN;
        else if (t->raw_data.len >= 4) {
            float v = NAN;
            memcpy(t->raw_data.data, &v, 4);
        }
    }
    *len = onnx__model_proto__get_packed_size(mp);
    unsigned char *out = malloc(*len);
    onnx__model_proto__pack(mp, out);
    for (size_t i = 0; i < mp->n_metadata_props; i++) {
        if (i < n_props0 && i < 64)
            mp->metadata_props[i]->value = saved[i];
        else
            mp->metadata_props[i]->value = strdup(""); /* ours were borrowed */
    }
    onnx__model_proto__free_unpacked(mp, NULL);
    return out;
}

/* fraudd.error_weights JSON with every one of m's features weighted v
 * (e.g. "2": the same network, 4x the autoencoder score). Static buffer. */
static inline const char *mv_uniform_weights(const fr_model *m, const char *v) {
    static char w[4096];
    size_t n = (size_t)snprintf(w, sizeof w, "[");
    for (size_t i = 0; i < fr_model_n_features(m) && n < sizeof w; i++)
        n += (size_t)snprintf(w + n, sizeof w - n, "%s%s", i ? "," : "", v);
    snprintf(w + n, n < sizeof w ? sizeof w - n : 0, "]");
    return w;
}

static inline int mv_write(const char *path, const unsigned char *b, size_t len) {
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return -1;
    fwrite(b, 1, len, f);
    fclose(f);
    return rename(tmp, path); /* atomic, as a deployment should do it */
}

#endif
