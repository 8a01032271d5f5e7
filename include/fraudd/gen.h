/* fraudd sample stream generator: realistic JSON card transactions.
 *
 * Normal transactions are real ones, resampled: each is one of 1,058 legit ULB
 * rows that no shipped model was trained on (src/gen/ulb_profile.c, written
 * by models/make_profile.py from data/ulb), picked uniformly at random;
 * anomalies are such rows with a few features pushed far out, injected at a
 * set rate. Each record carries an id, a timestamp,
 * a card and merchant id, and `injected_anomaly` so demos can measure
 * detection. Deterministic for a seed.
 *
 * Thread safety: one generator per thread.
 */
#ifndef FRAUDD_GEN_H
#define FRAUDD_GEN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fr_gen fr_gen;

typedef struct fr_gen_opts {
    uint64_t seed;
    double anomaly_rate;   /* 0..1, share of injected anomalies */
    uint64_t first_id;     /* id of the first record */
    int64_t start_ms;      /* timestamp of the first record, ms since epoch */
    double rate_per_s;     /* spacing of timestamps: mean records per second */
    double shift;          /* drift on purpose: every V feature moved by this many of its standard
                              deviations (0: the rows as they are, byte-identical output) */
} fr_gen_opts;

fr_gen *fr_gen_new(const fr_gen_opts *o);
void fr_gen_free(fr_gen *g);
/* Writes the next record (one JSON object, no newline) to dst. Returns its
 * length, or 0 if cap is too small (1024 is always enough). */
size_t fr_gen_next(fr_gen *g, char *dst, size_t cap, int *is_anomaly);

#ifdef __cplusplus
}
#endif

#endif
