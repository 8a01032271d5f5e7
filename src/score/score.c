/* Score stage: model outputs -> fraud score, verdict and top features.
 * See include/fraudd/score.h for the formula. Pure and allocation free;
 * the top-3 list lives in registers while a row is scanned. */
#include "fraudd/score.h"

#define FR__SCORE_CHUNK 64 /* features per pass (stack buffer) */

/* Element (record r, feature i) of x is x[r * xr + i * xf]; of y likewise
 * with yr, yf: one loop for row-major and feature-major data. */
static inline void score_strided(const fr_model *m, const float *x, size_t xr, size_t xf, const float *y, size_t yr,
                                 size_t yf, size_t n, double threshold, fr_score *out) {
    const size_t nin = fr_model_n_features(m);
    const int ae = fr_model_get_kind(m) == FR_MODEL_AUTOENCODER;
    const float *w = fr_model_error_weights(m);
    _Static_assert(FR_TOP_FEATURES == 3, "the scan below keeps exactly three");
    for (size_t r = 0; r < n; r++) {
        fr_score *s = &out[r];
        if (!ae) {
            s->score = y[r * yr];
            s->n_top = 0;
            s->is_fraud = s->score > threshold;
            continue;
        }
        const float *xrow = x + r * xr, *yrow = y + r * yr;
        /* Terms in double (the score's precision), in a loop the compiler
         * vectorises; then one pass for the three largest, which after the
         * first few features rarely takes the branch. */
        double sum = 0;
        float e[FR__SCORE_CHUNK];
        float e0 = -1, e1 = -1, e2 = -1; /* largest first; -1: empty */
        uint32_t i0 = 0, i1 = 0, i2 = 0;
        for (size_t base = 0; base < nin; base += FR__SCORE_CHUNK) {
            size_t cnt = nin - base < FR__SCORE_CHUNK ? nin - base : FR__SCORE_CHUNK;
            for (size_t i = 0; i < cnt; i++) {
                double d = ((double)yrow[(base + i) * yf] - (double)xrow[(base + i) * xf]) * (double)w[base + i];
                sum += d * d;
                e[i] = (float)(d * d);
            }
            for (size_t i = 0; i < cnt; i++) {
                float ef = e[i];
                if (ef <= e2) continue; /* ties keep the earlier feature */
                uint32_t idx = (uint32_t)(base + i);
                if (ef > e1) {
                    e2 = e1, i2 = i1;
                    if (ef > e0) e1 = e0, i1 = i0, e0 = ef, i0 = idx;
                    else e1 = ef, i1 = idx;
                } else {
                    e2 = ef, i2 = idx;
                }
            }
        }
        s->n_top = nin < 3 ? (int)nin : 3;
        s->top_err[0] = e0, s->top_idx[0] = i0;
        s->top_err[1] = e1, s->top_idx[1] = i1;
        s->top_err[2] = e2, s->top_idx[2] = i2;
        s->score = sum / (double)nin;
        s->is_fraud = s->score > threshold;
    }
}

void fr_score_batch(const fr_model *m, const float *x, const float *y, size_t n, double threshold, fr_score *out) {
    score_strided(m, x, fr_model_n_features(m), 1, y, fr_model_n_outputs(m), 1, n, threshold, out);
}

void fr_score_batch_fm(const fr_model *m, const float *xt, const float *yt, size_t ld, size_t n, double threshold,
                       fr_score *out) {
    score_strided(m, xt, 1, ld, yt, 1, ld, n, threshold, out);
}
