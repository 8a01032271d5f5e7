/* fraudd record decoder: one JSON transaction -> a row of model features.
 *
 * This is the per-record hot path, so it does not build a DOM: it is a thin C
 * interface over simdjson's On-Demand API (src/decode/record.cpp). A schema,
 * compiled once, lists the features by name (dotted paths reach into nested
 * objects: "card.amount") and the passthrough fields to copy to the result.
 * Decoding walks the record's fields once and matches keys against the
 * schema.
 *
 * Rules (docs/OUTPUT.md lists them for users):
 *  - the record must be one JSON object (surrounding whitespace allowed) and
 *    valid JSON throughout, including fields the schema does not name;
 *  - a feature value is a JSON number or a string holding exactly a number
 *    as std::from_chars reads it ("12.5", "-3e2", ".5"; not " 3e2", "+1",
 *    "0x10", "" or anything with trailing characters: bad_type);
 *  - missing or null features take the schema default if there is one,
 *    otherwise the record is rejected; so does any other type (bad_type);
 *    NaN or +-Inf (as strings: "NaN", "inf", ...) and values beyond float32
 *    range ("1e39", 1e400) are non_finite; a key seen twice on a feature or
 *    passthrough path is duplicate_key (other keys may repeat);
 *  - a feature path whose intermediate value is not an object (e.g.
 *    "card": null for "card.amount") counts as missing below that point;
 *  - passthrough fields are copied as their raw JSON text (any type, without
 *    surrounding whitespace) and may be absent (then {NULL, 0}); a path may
 *    be both a feature and a passthrough field;
 *  - the first problem in document order decides the reason; the rejection
 *    sentence names the feature or field and what was expected, or says
 *    where the JSON broke ("not valid JSON: <simdjson message> near byte N").
 *
 * Thread safety: a schema is immutable once built and may be shared; a
 * decoder holds a parser and buffers and belongs to one thread.
 */
#ifndef FRAUDD_RECORD_H
#define FRAUDD_RECORD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes callers may promise to be readable after the record's end
 * (see fr_decoder_decode's `padded`). Equal to SIMDJSON_PADDING. */
#define FR_JSON_PADDING 64

/* FR_JSON_IN_PLACE: 1 when this build reads records in place (below); 0
 * in builds with AddressSanitizer or ThreadSanitizer, which report a read
 * past a heap block (into its neighbour or a freed block) even within the
 * page. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FR_JSON_IN_PLACE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define FR_JSON_IN_PLACE 0
#endif
#endif
#ifndef FR_JSON_IN_PLACE
#define FR_JSON_IN_PLACE 1
#endif

/* Nonzero when the FR_JSON_PADDING bytes after buf[len) are readable
 * because they lie in the same 4 KiB block, so the same memory page (pages
 * are 4 KiB or a multiple of it), as the record's last byte: the record can
 * be decoded in place, padded, without a copy (simdjson's "free padding";
 * their content does not matter). Fails for about 1 record in 64, at random
 * offsets, and always when FR_JSON_IN_PLACE is 0. */
static inline int fr_json_tail_readable(const char *buf, size_t len) {
    return FR_JSON_IN_PLACE && len && ((uintptr_t)(buf + len - 1) & 4095u) + FR_JSON_PADDING <= 4095u;
}

typedef struct fr_record_schema fr_record_schema;
typedef struct fr_decoder fr_decoder;

typedef struct fr_slice {
    const char *ptr; /* NULL when absent */
    size_t len;
} fr_slice;

/* Why a record was rejected. One stable short name each (fr_reject_name),
 * used in dead letters, rejects files and metrics labels. */
typedef enum fr_reject {
    FR_REJ_NONE = 0,
    FR_REJ_NOT_JSON,      /* "not_json": syntax error, empty, trailing content */
    FR_REJ_NOT_OBJECT,    /* "not_object": valid JSON but not an object */
    FR_REJ_MISSING,       /* "missing_feature" */
    FR_REJ_NULL,          /* "null_feature" */
    FR_REJ_TYPE,          /* "bad_type": not a number or numeric string */
    FR_REJ_NONFINITE,     /* "non_finite": NaN, Inf, or out of float range */
    FR_REJ_DUPLICATE,     /* "duplicate_key" */
    FR_REJ_TOO_LARGE,     /* "too_large": over the decoder's max_bytes */
    FR_REJ_PREPROCESS     /* "preprocess": model preprocessing failed (log1p <= -1) */
} fr_reject;

const char *fr_reject_name(fr_reject r);

/* features: n names (dotted paths, at most 8 segments); defaults/has_default
 * may be NULL (no defaults; defaults must be finite). passthrough: np dotted
 * paths, may be 0. Names are copied. Refused (FR_EINVAL, with a sentence in
 * err): a path listed twice, an empty path or segment, a path that is both a
 * value and a prefix of another ("a" and "a.b"). */
int fr_record_schema_new(const char *const *features, size_t n,
                         const float *defaults, const uint8_t *has_default,
                         const char *const *passthrough, size_t np,
                         fr_record_schema **out, char *err, size_t errlen);
void fr_record_schema_free(fr_record_schema *s);
size_t fr_record_schema_n_features(const fr_record_schema *s);
size_t fr_record_schema_n_passthrough(const fr_record_schema *s);

/* max_bytes: records longer than this are rejected as too_large without
 * being parsed (at most 4 GiB). Allocates the parser for max_bytes up
 * front. Returns NULL when out of memory. */
fr_decoder *fr_decoder_new(const fr_record_schema *s, size_t max_bytes);
void fr_decoder_free(fr_decoder *d);

/* Decodes one record. padded != 0 promises FR_JSON_PADDING readable bytes
 * after buf[len] (of any content; saves a copy). On success returns
 * FR_REJ_NONE, fills features[n] and passthrough[np] (slices into buf or the
 * decoder's copy, valid until the next call on this decoder or until buf
 * changes; passthrough may be NULL if the caller does not want them) and
 * sets reason to "". On rejection returns the reason and writes a sentence
 * naming the feature and what was expected to reason (if reasonlen > 0;
 * always NUL terminated); features and passthrough are then unspecified.
 * Never allocates once the decoder has seen a record of this size. */
fr_reject fr_decoder_decode(fr_decoder *d, const char *buf, size_t len, int padded,
                            float *features, fr_slice *passthrough,
                            char *reason, size_t reasonlen);

#ifdef __cplusplus
}
#endif

#endif
