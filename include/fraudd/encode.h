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

/* Shortest round-trip text of a float / double (strtof/strtod read back the
 * identical value); returns the length (<= 24), no NUL. dst needs 32 bytes.
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
