/* fraudd result encoder: one scored record -> one JSON line.
 *
 * The format is documented in docs/OUTPUT.md. Numbers are written with the
 * shortest text that reads back to the same float/double (std::to_chars,
 * src/encode/numfmt.cpp), so results are exact and the encoder allocates
 * nothing.
 *
 * Thread safety: pure over caller memory.
 */
#ifndef FRAUDD_ENCODE_H
#define FRAUDD_ENCODE_H

#include <stddef.h>

#include "fraudd/model.h"
#include "fraudd/record.h"
#include "fraudd/score.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fr_encode_opts {
    const char *const *passthrough_names; /* np output key names */
    size_t np;
    int emit_output;                      /* add "output":[...] (model outputs) */
} fr_encode_opts;

/* Writes one JSON object (no newline) to dst. raw: the record's feature
 * values as decoded (before preprocessing); y: model outputs (only read
 * with emit_output). Returns the length written, or 0 if cap is too
 * small. */
size_t fr_result_encode(char *dst, size_t cap, const fr_model *m, const fr_encode_opts *o,
                        const fr_score *s, double threshold, const float *raw, const float *y,
                        const fr_slice *passthrough);

/* The same, with the model's parts given directly (tests, tools):
 * version string, feature names (indexed by fr_score.top_idx) and the
 * output width. */
size_t fr_result_encode_parts(char *dst, size_t cap, const char *version, const char *const *feature_names,
                              size_t n_outputs, const fr_encode_opts *o, const fr_score *s, double threshold,
                              const float *raw, const float *y, const fr_slice *passthrough);

/* A prepared encoder: the same text as fr_result_encode_parts, byte for
 * byte, with everything that does not change between results written once
 * when it is made (the threshold's number, the version and every key,
 * quoted), so a result costs its numbers and a few copies. version,
 * feature_names (n_features of them) and o's passthrough names are copied;
 * the struct o points to need not outlive the call. Returns NULL if out of
 * memory. One per scorer; read-only after fr_result_prep_new (thread safe). */
typedef struct fr_result_prep fr_result_prep;
fr_result_prep *fr_result_prep_new(const char *version, const char *const *feature_names, size_t n_features,
                                   size_t n_outputs, const fr_encode_opts *o, double threshold);
void fr_result_prep_free(fr_result_prep *p);
/* Upper bound of a result's bytes, the passthrough values' bytes excluded. */
size_t fr_result_prep_need(const fr_result_prep *p);
/* fr_result_encode_parts(dst, cap, <the prepared parts>, s, raw, y,
 * passthrough): the same text, the same 0 when cap is too small. Every
 * s->top_idx must be below n_features (as the score stage guarantees). */
size_t fr_result_prep_encode(const fr_result_prep *p, char *dst, size_t cap, const fr_score *s, const float *raw,
                             const float *y, const fr_slice *passthrough);

/* A shadow result (docs/OUTPUT.md, model.challenger): the champion's result
 * object champion[0..champion_len) with one more key at its end,
 *   "challenger":<challenger[0..challenger_len)>        when reject is NULL,
 *   "challenger":{"reject":"<reject>"}                  otherwise
 * (reject: a reason name such as "missing_feature", or "scorer_failed",
 * at most 31 bytes). dst needs champion_len + FR_SHADOW_EXTRA bytes, plus
 * challenger_len when reject is NULL. Returns the length (no NUL). */
#define FR_SHADOW_EXTRA 64
size_t fr_result_with_challenger(char *dst, const char *champion, size_t champion_len, const char *challenger,
                                 size_t challenger_len, const char *reject);

/* Shortest round-trip text of a float / double (strtof/strtod read back the
 * identical value); returns the length (<= 24), no NUL. dst needs 32 bytes:
 * the bytes after the text, up to dst[31], may be overwritten (fr_fmt_float
 * writes whole words).
 * NaN and +-Inf are written as `null`; magnitudes >= 2^53 always use the
 * exponent form, so integer-looking text stays exact in any JSON reader. */
size_t fr_fmt_float(char *dst, float v);
size_t fr_fmt_double(char *dst, double v);

/* Writes s[0..len) (any bytes, NUL included) as a JSON string literal with
 * quotes: " and \ escaped, \b \f \n \r \t, other bytes < 0x20 as \u00XX,
 * bytes >= 0x80 copied as they are. Returns the length, or 0 if cap is too
 * small (never writes at or past dst[cap]). */
size_t fr_json_quote(char *dst, size_t cap, const char *s, size_t len);

#ifdef __cplusplus
}
#endif

#endif
