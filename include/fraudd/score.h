/* fraudd score: turns model outputs into a fraud score and an explanation.
 *
 * Autoencoder: score = (1/F) * sum_i (w_i * (y_i - x_i))^2, the mean squared
 * reconstruction error in the model's input space with per-feature weights
 * w_i (fraudd.error_weights, default 1); x is the row the graph saw (after
 * preprocessing). The top features are the three largest terms.
 * Scorer (one output): score = y_0, no top features.
 * is_fraud = score > threshold.
 *
 * Pure functions over caller memory: thread safe, allocation free.
 */
#ifndef FRAUDD_SCORE_H
#define FRAUDD_SCORE_H

#include <stddef.h>
#include <stdint.h>

#include "fraudd/model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FR_TOP_FEATURES 3

typedef struct fr_score {
    double score;
    int is_fraud;
    int n_top;                        /* 0..FR_TOP_FEATURES */
    uint32_t top_idx[FR_TOP_FEATURES]; /* feature indices, largest error first */
    float top_err[FR_TOP_FEATURES];    /* that feature's term of the sum, before 1/F */
} fr_score;

/* x: n rows of the model's inputs; y: n rows of its outputs. */
void fr_score_batch(const fr_model *m, const float *x, const float *y, size_t n,
                    double threshold, fr_score *out);
/* Same on feature-major data (fr_model_run_fm's layout, row stride ld). */
void fr_score_batch_fm(const fr_model *m, const float *xt, const float *yt, size_t ld, size_t n, double threshold,
                       fr_score *out);

#ifdef __cplusplus
}
#endif

#endif
