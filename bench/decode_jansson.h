/* Baseline record decoder for benchmarks: jansson DOM (json_loadb + one
 * lookup per feature), with the semantics of fr_decoder_decode as far as a
 * benchmark needs them:
 *  - the record must be one JSON object with no duplicate keys and nothing
 *    after it;
 *  - each feature name may be a dotted path into nested objects;
 *  - a feature is a JSON number or a string holding exactly a number (no
 *    spaces, no hex, no nan/inf words), finite in float32;
 *  - no defaults, no passthrough, no reason sentences.
 * Not part of fraudd: it exists so the simdjson decoder is always measured
 * against the straightforward C implementation in the same run.
 *
 * Thread safety: pure; jansson itself is thread safe for separate documents.
 */
#ifndef FRAUDD_BENCH_DECODE_JANSSON_H
#define FRAUDD_BENCH_DECODE_JANSSON_H

#include <stddef.h>

/* Decodes buf[0..len) into out[0..n). Returns 0, or -1 if the record is
 * rejected (out is then partly written). */
int frb_jansson_decode(const char *buf, size_t len, const char *const *names, size_t n, float *out);

#endif
