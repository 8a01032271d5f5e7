/* The worker stage (include/fraudd/scorer.h): decode, preprocess, model,
 * score, encode, for one batch on one thread.
 *
 * Records that decode are packed densely into the model's input matrix so a
 * rejected record costs no model time; results are then written back in
 * input order. Text for results and reasons goes to one arena per call.
 */
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fraudd/encode.h"
#include "fraudd/err.h"
#include "fraudd/scorer.h"

#define FR__REASON_MAX 256

struct fr_scorer {
    const fr_model *m;        /* shared, read only */
    fr_record_schema *schema; /* features + passthrough paths */
    fr_decoder *dec;          /* this thread's parser */
    fr_workspace *ws;         /* this thread's model scratch */
    fr_encode_opts eo;        /* encoder options */
    fr_result_prep *enc;      /* the result encoder, its constant text prepared */
    double threshold;         /* effective threshold */
    size_t max_batch;         /* records per model call */
    size_t nin, nout, np;     /* widths */
    size_t max_bytes;         /* longer records are rejected unread */
    size_t ld;                /* max_batch rounded up to 16: row stride of x and y */
    float *raw;               /* [max_batch][nin] decoded values, row-major */
    float *x;                 /* [nin][ld] preprocessed model input, feature-major */
    float *y;                 /* [nout][ld] model output, feature-major */
    float *yrow;              /* [nout] one record's outputs (emit_output only) */
    float *xrow;              /* [nin] one record's preprocessed input */
    fr_score *sc;             /* [max_batch] */
    fr_slice *pt;             /* [max_batch][np] passthrough slices */
    size_t *slot;             /* [max_batch] input index of each packed row */
    char *arena;              /* result/reason text of the current run() */
    size_t arena_cap;         /* bytes allocated */
    size_t used;              /* bytes used in this run() */
    char *stage;              /* padded copies of unpadded records, one chunk */
    size_t stage_cap;         /* bytes allocated */
    size_t rows;              /* rows of raw and slot the last chunk filled */
    size_t last_n;            /* records of the last run() if it was one chunk, else 0 (fr_scorer_run_from) */
};

fr_scorer *fr_scorer_new(const fr_model *m, const fr_scorer_opts *o, char *err, size_t errlen) {
    fr_scorer *s = calloc(1, sizeof *s);
    const char **names = NULL;
    float *defs = NULL;
    uint8_t *has = NULL;
    if (!s) goto nomem;
    s->m = m;
    s->nin = fr_model_n_features(m);
    s->nout = fr_model_n_outputs(m);
    s->np = o->np;
    s->max_batch = o->max_batch ? o->max_batch : 64;
    if (s->max_batch > FR_MODEL_MAX_BATCH) {
        fr_set_err(err, errlen, FR_EINVAL, "batch size %zu: expected 1..%d", s->max_batch, FR_MODEL_MAX_BATCH);
        goto fail;
    }
    s->threshold = isnan(o->threshold) ? fr_model_threshold(m) : o->threshold;
    if (!isfinite(s->threshold)) {
        fr_set_err(err, errlen, FR_EINVAL,
                   "the model has no 'fraudd.threshold' metadata: give a threshold explicitly");
        goto fail;
    }
    names = calloc(s->nin, sizeof *names);
    defs = calloc(s->nin, sizeof *defs);
    has = calloc(s->nin, 1);
    if (!names || !defs || !has) goto nomem;
    for (size_t i = 0; i < s->nin; i++) {
        names[i] = fr_model_feature_name(m, i);
        has[i] = (uint8_t)fr_model_feature_default(m, i, &defs[i]);
    }
    if (fr_record_schema_new(names, s->nin, defs, has, o->passthrough, o->np, &s->schema, err, errlen) != 0)
        goto fail;
    size_t B = s->max_batch;
    s->max_bytes = o->max_record_bytes ? o->max_record_bytes : 1u << 20;
    s->dec = fr_decoder_new(s->schema, s->max_bytes);
    s->ws = fr_workspace_new(m, B);
    s->ld = (B + 15) / 16 * 16;
    s->raw = malloc(B * s->nin * sizeof(float));
    s->x = calloc(s->ld * s->nin, sizeof(float));
    s->y = calloc(s->ld * s->nout, sizeof(float));
    s->yrow = malloc(s->nout * sizeof(float));
    s->xrow = malloc(s->nin * sizeof(float));
    s->sc = malloc(B * sizeof(fr_score));
    s->pt = calloc(B * (s->np ? s->np : 1), sizeof(fr_slice));
    s->slot = malloc(B * sizeof(size_t));
    s->arena_cap = B * 1024;
    s->arena = malloc(s->arena_cap);
    if (!s->dec || !s->ws || !s->raw || !s->x || !s->y || !s->yrow || !s->xrow || !s->sc || !s->pt || !s->slot || !s->arena)
        goto nomem;
    s->eo.passthrough_names = o->passthrough;
    s->eo.np = o->np;
    s->eo.emit_output = o->emit_output;
    s->enc = fr_result_prep_new(fr_model_version(m), fr_model_feature_names(m), s->nin, s->nout, &s->eo, s->threshold);
    if (!s->enc) goto nomem;
    free(names);
    free(defs);
    free(has);
    return s;
nomem:
    fr_set_err(err, errlen, FR_ENOMEM, "out of memory creating a scorer");
fail:
    free(names);
    free(defs);
    free(has);
    fr_scorer_free(s);
    return NULL;
}

void fr_scorer_free(fr_scorer *s) {
    if (!s) return;
    fr_result_prep_free(s->enc);
    fr_decoder_free(s->dec);
    fr_record_schema_free(s->schema);
    fr_workspace_free(s->ws);
    free(s->raw);
    free(s->x);
    free(s->y);
    free(s->yrow);
    free(s->xrow);
    free(s->sc);
    free(s->pt);
    free(s->slot);
    free(s->arena);
    free(s->stage);
    free(s);
}

double fr_scorer_threshold(const fr_scorer *s) { return s->threshold; }

/* Makes room for `need` more bytes after s->used. */
static int arena_reserve(fr_scorer *s, size_t need) {
    if (s->used + need <= s->arena_cap) return 0;
    size_t cap = s->arena_cap * 2;
    while (cap < s->used + need) cap *= 2;
    char *p = realloc(s->arena, cap);
    if (!p) return FR_ENOMEM;
    s->arena = p;
    s->arena_cap = cap;
    return 0;
}

/* Rejects out with reason: the sentence goes to the arena (out->text holds
 * its offset until the run ends). */
static int put_reason(fr_scorer *s, fr_scored *out, fr_reject rj, const char *reason) {
    size_t l = strlen(reason);
    if (arena_reserve(s, l + 1)) return FR_ENOMEM;
    memcpy(s->arena + s->used, reason, l + 1);
    out->reject = rj;
    out->text = (const char *)(uintptr_t)s->used;
    out->len = l;
    s->used += l + 1;
    return 0;
}

/* Preprocesses the decoded row raw (this scorer's model's log1p features)
 * into column `row` of the feature-major input. FR_REJ_NONE, or
 * FR_REJ_PREPROCESS with the reason written. */
static fr_reject preprocess_row(fr_scorer *s, const float *raw, size_t row, char *reason, size_t reasonlen) {
    float *x = s->xrow;
    memcpy(x, raw, s->nin * sizeof(float));
    if (fr_model_preprocess(s->m, x) == 0) {
        for (size_t f = 0; f < s->nin; f++) s->x[f * s->ld + row] = x[f]; /* feature-major */
        return FR_REJ_NONE;
    }
    for (size_t f = 0; f < s->nin; f++)
        if (fr_model_feature_log1p(s->m, f) && !(raw[f] > -1.0f)) {
            snprintf(reason, reasonlen, "feature \"%s\" = %g: the model takes log1p of it, expected a value > -1",
                     fr_model_feature_name(s->m, f), (double)raw[f]);
            break;
        }
    return FR_REJ_PREPROCESS;
}

/* The model, the scores and the results of the `rows` packed rows (row r
 * is record slot[r] of out; its decoded values raw[r], its passthrough
 * slices pt[r]). */
static int score_rows(fr_scorer *s, size_t rows, fr_scored *out) {
    if (rows) {
        fr_model_run_fm(s->m, s->ws, s->x, s->ld, rows, s->y);
        fr_score_batch_fm(s->m, s->x, s->y, s->ld, rows, s->threshold, s->sc);
    }
    for (size_t r = 0; r < rows; r++) {
        size_t i = s->slot[r];
        const fr_slice *pt = s->pt + r * s->np;
        size_t need = fr_result_prep_need(s->enc);
        for (size_t k = 0; k < s->np; k++) need += pt[k].len;
        if (s->eo.emit_output)
            for (size_t j = 0; j < s->nout; j++) s->yrow[j] = s->y[j * s->ld + r];
        if (arena_reserve(s, need + 1)) return FR_ENOMEM;
        size_t l = fr_result_prep_encode(s->enc, s->arena + s->used, need, &s->sc[r], s->raw + r * s->nin, s->yrow, pt);
        if (l == 0) return FR_EINVAL; /* need is an upper bound: cannot happen */
        s->arena[s->used + l] = 0;
        out[i].reject = FR_REJ_NONE;
        out[i].text = (const char *)(uintptr_t)s->used;
        out[i].len = l;
        out[i].score = s->sc[r].score;
        out[i].is_fraud = s->sc[r].is_fraud;
        s->used += l + 1;
    }
    return 0;
}

/* One chunk of at most max_batch records. The arena may move while a run
 * goes on, so out[i].text holds the arena offset until run() ends. */
static int run_chunk(fr_scorer *s, const fr_slice *rec, size_t n, int padded, fr_scored *out) {
    size_t rows = 0, staged = 0;
    char reason[FR__REASON_MAX];
    if (!padded) {
        /* A record whose tail is readable is decoded where it lies (about 63
         * in 64). Passthrough slices must stay valid until the chunk is
         * encoded, so the others are copied side by side with padding once
         * here (instead of into the decoder's single scratch copy). */
        size_t need = 0;
        for (size_t i = 0; i < n; i++)
            if (rec[i].len <= s->max_bytes) need += rec[i].len + FR_JSON_PADDING; /* room for all: a bound */
        if (need > s->stage_cap) {
            char *p = realloc(s->stage, need);
            if (!p) return FR_ENOMEM;
            s->stage = p;
            s->stage_cap = need;
        }
    }
    for (size_t i = 0; i < n; i++) {
        float *raw = s->raw + rows * s->nin;
        const char *buf = rec[i].ptr;
        /* too large ones are rejected unread; most others are read in place */
        if (!padded && rec[i].len <= s->max_bytes && !fr_json_tail_readable(rec[i].ptr, rec[i].len)) {
            memcpy(s->stage + staged, rec[i].ptr, rec[i].len);
            memset(s->stage + staged + rec[i].len, ' ', FR_JSON_PADDING);
            buf = s->stage + staged;
            staged += rec[i].len + FR_JSON_PADDING;
        }
        fr_reject rj = fr_decoder_decode(s->dec, buf, rec[i].len, 1, raw, s->pt + rows * s->np, reason,
                                         sizeof reason);
        if (rj == FR_REJ_NONE) rj = preprocess_row(s, raw, rows, reason, sizeof reason);
        if (rj != FR_REJ_NONE) {
            if (put_reason(s, &out[i], rj, reason)) return FR_ENOMEM;
            continue;
        }
        s->slot[rows++] = i;
    }
    s->rows = rows;
    return score_rows(s, rows, out);
}

int fr_scorer_run(fr_scorer *s, const fr_slice *records, size_t n, int padded, fr_scored *out) {
    s->used = 0;
    s->last_n = 0;
    for (size_t i = 0; i < n; i += s->max_batch) {
        size_t c = n - i < s->max_batch ? n - i : s->max_batch;
        int rc = run_chunk(s, records + i, c, padded, out + i);
        if (rc) return rc;
    }
    for (size_t i = 0; i < n; i++) out[i].text = s->arena + (uintptr_t)out[i].text;
    s->last_n = n <= s->max_batch ? n : 0;
    return 0;
}

int fr_scorer_same_features(const fr_scorer *a, const fr_scorer *b) {
    if (a->nin != b->nin || a->max_bytes != b->max_bytes) return 0;
    for (size_t f = 0; f < a->nin; f++) {
        float da = 0, db = 0;
        int ha = fr_model_feature_default(a->m, f, &da), hb = fr_model_feature_default(b->m, f, &db);
        if (strcmp(fr_model_feature_name(a->m, f), fr_model_feature_name(b->m, f)) != 0 || ha != hb ||
            (ha && memcmp(&da, &db, sizeof da) != 0))
            return 0;
    }
    return 1;
}

int fr_scorer_run_from(fr_scorer *s, const fr_scorer *from, const fr_scored *from_out, size_t n, fr_scored *out) {
    if (s->np || from->last_n != n || n > s->max_batch || !fr_scorer_same_features(from, s)) return FR_EINVAL;
    /* a record from's own preprocessing refused (its model's log1p) decoded
     * fine, but its values were not kept: this model may take it */
    for (size_t i = 0; i < n; i++)
        if (from_out[i].reject == FR_REJ_PREPROCESS) return FR_EINVAL;
    char reason[FR__REASON_MAX];
    size_t rows = 0;
    s->used = 0;
    s->last_n = 0;
    for (size_t i = 0; i < n; i++) /* from's rejections are this scorer's: same features, same decode */
        if (from_out[i].reject != FR_REJ_NONE && put_reason(s, &out[i], from_out[i].reject, from_out[i].text))
            return FR_ENOMEM;
    for (size_t r = 0; r < from->rows; r++) {
        float *raw = s->raw + rows * s->nin;
        memcpy(raw, from->raw + r * from->nin, s->nin * sizeof(float));
        size_t i = from->slot[r];
        fr_reject rj = preprocess_row(s, raw, rows, reason, sizeof reason);
        if (rj != FR_REJ_NONE) {
            if (put_reason(s, &out[i], rj, reason)) return FR_ENOMEM;
            continue;
        }
        s->slot[rows++] = i;
    }
    s->rows = rows;
    int rc = score_rows(s, rows, out);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) out[i].text = s->arena + (uintptr_t)out[i].text;
    return 0;
}
