/* fraudd scorer: the worker stage. A batch of raw JSON records goes in; for
 * each record either one encoded result line or a rejection reason comes
 * out, in input order.
 *
 *   decode (record.h) -> preprocess (model log1p) -> model (fused plan,
 *   whole batch at once) -> score (score.h) -> encode (encode.h)
 *
 * `fraudd score` drives it from a file; the streaming workers drive it from
 * the ring. One scorer per thread: it owns a decoder, a model workspace and
 * its output arena; the model and schema it reads are shared and
 * immutable. Steady state allocates nothing (the arena only grows when a
 * larger batch output than ever before shows up).
 */
#ifndef FRAUDD_SCORER_H
#define FRAUDD_SCORER_H

#include <stddef.h>

#include "fraudd/model.h"
#include "fraudd/record.h"
#include "fraudd/score.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fr_scorer fr_scorer;

typedef struct fr_scorer_opts {
    const char *const *passthrough; /* dotted paths copied to results (output key = path) */
    size_t np;
    double threshold;               /* NaN: the model's own */
    size_t max_batch;               /* records per model call, 1..FR_MODEL_MAX_BATCH */
    size_t max_record_bytes;        /* larger records are rejected as too_large */
    int emit_output;                /* results carry the raw model outputs */
} fr_scorer_opts;

typedef struct fr_scored {
    fr_reject reject;   /* FR_REJ_NONE: scored */
    int is_fraud;       /* valid when scored */
    double score;       /* valid when scored */
    const char *text;   /* scored: the result JSON; rejected: the reason sentence */
    size_t len;         /* bytes of text (no NUL counted; text is NUL terminated) */
} fr_scored;

/* Returns NULL and writes err on failure (bad options, no threshold). */
fr_scorer *fr_scorer_new(const fr_model *m, const fr_scorer_opts *o, char *err, size_t errlen);
void fr_scorer_free(fr_scorer *s);
double fr_scorer_threshold(const fr_scorer *s);

/* Scores n records (any n; batched internally). out[i].text stays valid
 * until the next call. padded: each record has FR_JSON_PADDING readable
 * bytes after its end; if 0, those with fr_json_tail_readable are still
 * read in place and only the others copied. Returns 0, FR_ENOMEM, or FR_EINVAL if a result
 * outgrew the scorer's size bound (a bug, never silent). */
int fr_scorer_run(fr_scorer *s, const fr_slice *records, size_t n, int padded, fr_scored *out);

#ifdef __cplusplus
}
#endif

#endif
