/* The checks a new model passes before it may replace the serving one.
 *
 *   1. it compiles (fr_model_load_mem: the ONNX graph, its metadata);
 *   2. it reads the same features as the serving model (any order): a
 *      feature change is a change of the input contract, not a model update;
 *   3. it has a version of its own: another model under the serving
 *      version would make results of two models indistinguishable;
 *   4. a self-test through the scorer the workers will run (decode, model,
 *      score, encode, with this daemon's config):
 *      - probe records (every feature at its default or 0, then 64 seeded
 *        pseudo-random records) must all be scored with finite scores:
 *        this refuses NaN/Inf weights and broken preprocessing;
 *      - if the model carries fraudd.selftest ({"records": [...],
 *        "scores": [...]}, optional "rtol", "atol"), each record must score
 *        within atol + rtol * |expected| (default 1e-6 + 1e-4 |e|) of what
 *        its exporter computed (e.g. with ONNX Runtime).
 * Runs on the caller's thread (the reloader, or the boot sequence).
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fraudd/err.h"
#include "fraudd/reload.h"
#include "reload/reload_internal.h"
#include "fraudd/scorer.h"

#define PROBES 64

static int has_feature(const fr_model *m, const char *name) {
    for (size_t i = 0; i < fr_model_n_features(m); i++)
        if (!strcmp(fr_model_feature_name(m, i), name)) return 1;
    return 0;
}

/* Names in a but not in b, comma separated, into dst. Returns how many. */
static size_t missing_from(const fr_model *a, const fr_model *b, char *dst, size_t cap) {
    size_t n = 0, used = 0;
    dst[0] = 0;
    for (size_t i = 0; i < fr_model_n_features(a); i++) {
        const char *f = fr_model_feature_name(a, i);
        if (has_feature(b, f)) continue;
        if (used < cap) used += (size_t)snprintf(dst + used, cap - used, "%s%s", n ? ", " : "", f);
        n++;
    }
    return n;
}

static int check_features(const fr_model *m, const fr_model *serving, char *err, size_t errlen) {
    char gone[256], added[256];
    size_t n_gone = missing_from(serving, m, gone, sizeof gone);
    size_t n_added = missing_from(m, serving, added, sizeof added);
    if (!n_gone && !n_added) return 0;
    return fr_set_err(err, errlen, FR_EMODEL,
                      "its features differ from the serving model's (%zu missing%s%s, %zu new%s%s): "
                      "a feature change needs a new deployment",
                      n_gone, n_gone ? ": " : "", gone, n_added, n_added ? ": " : "", added);
}

/* Sets the dotted path name in obj to value, making nested objects. */
static int set_path(json_t *obj, const char *name, double value) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", name);
    json_t *cur = obj;
    char *seg = buf;
    for (char *dot; (dot = strchr(seg, '.')); seg = dot + 1) {
        *dot = 0;
        json_t *next = json_object_get(cur, seg);
        if (!next) {
            next = json_object();
            if (!next || json_object_set_new(cur, seg, next)) return -1;
        } else if (!json_is_object(next)) {
            return -1;
        }
        cur = next;
    }
    return json_object_set_new(cur, seg, json_real(value));
}

/* A record of m's features; value(i) for feature i. */
static char *probe_record(const fr_model *m, unsigned seed) {
    json_t *o = json_object();
    if (!o) return NULL;
    uint64_t x = 0x9e3779b97f4a7c15ULL * (seed + 1);
    for (size_t i = 0; i < fr_model_n_features(m); i++) {
        float d = 0;
        double v = fr_model_feature_default(m, i, &d) ? d : 0.0;
        if (seed) { /* a deterministic spread around the default: xorshift, then [-2, 2) */
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v += ((double)(x >> 11) / 9007199254740992.0) * 4.0 - 2.0;
            if (fr_model_feature_log1p(m, i) && v <= -1) v = -v; /* inside log1p's domain */
        }
        if (set_path(o, fr_model_feature_name(m, i), v)) {
            json_decref(o);
            return NULL;
        }
    }
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(o);
    return s;
}

static int run_one(fr_scorer *sc, const char *text, fr_scored *out) {
    fr_slice sl = {.ptr = text, .len = strlen(text)};
    return fr_scorer_run(sc, &sl, 1, 0, out);
}

static int self_test(const fr_model *m, const fr_config *c, char *err, size_t errlen) {
    int rc = 0;
    char serr[256];
    json_t *st = NULL;
    fr_scorer_opts so = {.passthrough = NULL,
                         .np = 0,
                         .threshold = c ? c->model.threshold : NAN,
                         .max_batch = 1,
                         .max_record_bytes = c ? (size_t)c->model.max_record_bytes : (1u << 20),
                         .emit_output = 0};
    fr_scorer *sc = fr_scorer_new(m, &so, serr, sizeof serr);
    if (!sc) return fr_set_err(err, errlen, FR_EMODEL, "self-test: %s", serr);
    for (unsigned k = 0; k <= PROBES && !rc; k++) {
        char *rec = probe_record(m, k);
        fr_scored out;
        if (!rec) {
            rc = fr_set_err(err, errlen, FR_EMODEL, "self-test: its feature names do not form a JSON record");
        } else if ((rc = run_one(sc, rec, &out)) != 0) {
            rc = fr_set_err(err, errlen, FR_EMODEL, "self-test: the scorer failed: %s", fr_strerror(rc));
        } else if (out.reject != FR_REJ_NONE) {
            rc = fr_set_err(err, errlen, FR_EMODEL, "self-test: probe record %u was rejected: %s", k, out.text);
        } else if (!isfinite(out.score)) {
            rc = fr_set_err(err, errlen, FR_EMODEL, "self-test: probe record %u scored %g (weights or outputs not finite)",
                            k, out.score);
        }
        free(rec);
    }
    const char *text = fr_model_selftest(m);
    if (rc || !text) goto out;
    json_error_t je;
    st = json_loads(text, 0, &je);
    json_t *recs = json_object_get(st, "records"), *want = json_object_get(st, "scores");
    if (!json_is_array(recs) || !json_is_array(want) || json_array_size(recs) != json_array_size(want) ||
        !json_array_size(recs)) {
        rc = fr_set_err(err, errlen, FR_EMODEL,
                        "metadata 'fraudd.selftest': expected {\"records\": [objects], \"scores\": [numbers]} of equal, "
                        "non-zero length");
        goto out;
    }
    json_t *jr = json_object_get(st, "rtol"), *ja = json_object_get(st, "atol");
    double rtol = json_is_number(jr) ? json_number_value(jr) : 1e-4, atol = json_is_number(ja) ? json_number_value(ja) : 1e-6;
    for (size_t i = 0; i < json_array_size(recs) && !rc; i++) {
        json_t *r = json_array_get(recs, i), *e = json_array_get(want, i);
        char *rec = json_is_object(r) ? json_dumps(r, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
        fr_scored out;
        if (!rec || !json_is_number(e)) {
            rc = fr_set_err(err, errlen, FR_EMODEL, "metadata 'fraudd.selftest': record %zu is not an object with a number", i);
        } else if ((rc = run_one(sc, rec, &out)) != 0) {
            rc = fr_set_err(err, errlen, FR_EMODEL, "self-test: the scorer failed: %s", fr_strerror(rc));
        } else if (out.reject != FR_REJ_NONE) {
            rc = fr_set_err(err, errlen, FR_EMODEL, "self-test record %zu was rejected: %s", i, out.text);
        } else {
            double x = json_number_value(e);
            if (!(fabs(out.score - x) <= atol + rtol * fabs(x)))
                rc = fr_set_err(err, errlen, FR_EMODEL,
                                "self-test record %zu scored %.9g, its exporter expected %.9g (tolerance %g + %g x |expected|)",
                                i, out.score, x, atol, rtol);
        }
        free(rec);
    }
out:
    json_decref(st);
    fr_scorer_free(sc);
    return rc;
}

int fr__model_check_pair(const fr_model *champion, const fr_model *challenger, char *err, size_t errlen) {
    char gone[256], added[256];
    size_t n_gone = missing_from(champion, challenger, gone, sizeof gone);
    size_t n_added = missing_from(challenger, champion, added, sizeof added);
    if (n_gone || n_added)
        return fr_set_err(err, errlen, FR_EMODEL,
                          "its features differ from the champion's (%zu missing%s%s, %zu new%s%s): both score the "
                          "same records",
                          n_gone, n_gone ? ": " : "", gone, n_added, n_added ? ": " : "", added);
    if (!strcmp(fr_model_version(champion), fr_model_version(challenger)))
        return fr_set_err(err, errlen, FR_EMODEL,
                          "its version '%s' is the champion's: give it its own fraudd.version, so each result names "
                          "the model that scored it",
                          fr_model_version(challenger));
    return 0;
}

int fr_model_check(const void *buf, size_t len, const char *origin, const fr_model *serving, const fr_config *c,
                   fr_model **out, char *err, size_t errlen) {
    fr_model *m = NULL;
    *out = NULL;
    int rc = fr_model_load_mem(buf, len, origin, &m, err, errlen);
    if (rc) return rc;
    if (serving && (rc = check_features(m, serving, err, errlen))) goto fail;
    if (serving && !strcmp(fr_model_version(m), fr_model_version(serving))) {
        rc = fr_set_err(err, errlen, FR_EMODEL,
                        "its version '%s' is the serving model's, with other content: give the new model its own "
                        "fraudd.version, so each result names the model that scored it",
                        fr_model_version(m));
        goto fail;
    }
    if ((rc = self_test(m, c, err, errlen))) goto fail;
    *out = m;
    return 0;
fail:
    fr_model_free(m);
    return rc;
}
