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

/* Whether scorer b decodes every record as a does: the same feature paths
 * in the same order, the same defaults and the same size bound (passthrough
 * paths aside: they change which slices are kept, not which records are
 * accepted or the values read). */
int fr_scorer_same_features(const fr_scorer *a, const fr_scorer *b);

/* Scores with s the n records `from` scored in its last fr_scorer_run
 * (from_out: that call's out, still valid), from from's decode instead of
 * decoding them again: the values each record decoded to, and from's
 * decode rejections (with their reasons) as s's own. s then preprocesses,
 * runs its model and encodes as fr_scorer_run would; its results are the
 * same (a shadow challenger's second decode saved). Requires s without
 * passthrough paths, fr_scorer_same_features(from, s), from's last run to
 * have been these n records in one chunk (n <= its max_batch), and none of
 * them refused by from's preprocessing (its values are not kept); FR_EINVAL
 * (nothing done: run fr_scorer_run instead) otherwise. Returns 0,
 * FR_ENOMEM or FR_EINVAL. */
int fr_scorer_run_from(fr_scorer *s, const fr_scorer *from, const fr_scored *from_out, size_t n, fr_scored *out);

#ifdef __cplusplus
}
#endif

#endif
