/* Score stage: model outputs -> fraud score, verdict and top features.
 * See include/fraudd/score.h for the formula. Pure and allocation free. */
#include "fraudd/score.h"

void fr_score_batch(const fr_model *m, const float *x, const float *y, size_t n, double threshold,
                    fr_score *out) {
    const size_t nin = fr_model_n_features(m), nout = fr_model_n_outputs(m);
    const int ae = fr_model_get_kind(m) == FR_MODEL_AUTOENCODER;
    for (size_t r = 0; r < n; r++) {
        fr_score *s = &out[r];
        s->n_top = 0;
        if (!ae) {
            s->score = y[r * nout];
        } else {
            const float *xr = x + r * nin, *yr = y + r * nout;
            double sum = 0;
            for (size_t i = 0; i < nin; i++) {
                double d = ((double)yr[i] - (double)xr[i]) * (double)fr_model_error_weight(m, i);
                double e = d * d;
                sum += e;
                /* Insertion into the top-k list, largest first. */
                int k = s->n_top < FR_TOP_FEATURES ? s->n_top++ : FR_TOP_FEATURES;
                while (k > 0 && s->top_err[k - 1] < (float)e) {
                    if (k < FR_TOP_FEATURES) {
                        s->top_err[k] = s->top_err[k - 1];
                        s->top_idx[k] = s->top_idx[k - 1];
                    }
                    k--;
                }
                if (k < FR_TOP_FEATURES) {
                    s->top_err[k] = (float)e;
                    s->top_idx[k] = (uint32_t)i;
                }
            }
            s->score = sum / (double)nin;
        }
        s->is_fraud = s->score > threshold;
    }
}
