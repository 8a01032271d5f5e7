/* Score stage: model outputs -> fraud score, verdict and top features.
 * See include/fraudd/score.h for the formula. Pure and allocation free;
 * the top-3 list lives in registers while a row is scanned. */
#include <stdatomic.h>
#include <string.h>

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

/* ---- the feature-major kernel: eight records at a time --------------------
 *
 * The same arithmetic as score_strided, lane by lane (lane = record), so the
 * results are bit for bit the same: each term in double in the same order
 * (sum over features in index order; no FMA contraction: CMakeLists.txt
 * builds this file with -ffp-contract=off, and no variant below enables FMA), and
 * the top-3 scan as selects in place of its branches, which mispredict often
 * (measured: 12% of the scorer's time). With c2 = !(e <= e2) (the scan's
 * `continue` test, NaN included), c1 = c2 && e > e1, c0 = c1 && e > e0:
 *   e2' = c1 ? e1 : c2 ? e : e2,  e1' = c0 ? e0 : c1 ? e : e1,  e0' = c0 ? e : e0
 * and likewise the indices; that is the scan's case analysis, every case.
 * tests/unit/test_encode_score.c compares it with score_strided. */
#define FR__SLANES 8
typedef double fr__v8d __attribute__((vector_size(64)));
typedef float fr__v8f __attribute__((vector_size(32)));
typedef int32_t fr__v8i __attribute__((vector_size(32)));
typedef int64_t fr__v8l __attribute__((vector_size(64)));

#define FR__SINLINE static inline __attribute__((always_inline))

/* m ? a : b, lane by lane (m: all ones or all zeros per lane). Macros, not
 * functions: a 32-byte vector argument would draw the compilers' ABI note. */
#define SEL_F(m, a, b) ((fr__v8f)(((m) & (fr__v8i)(a)) | (~(m) & (fr__v8i)(b))))
#define SEL_I(m, a, b) (((m) & (a)) | (~(m) & (b)))

/* Records [r, r + 8) of feature-major xt/yt (stride ld); autoencoder only. */
FR__SINLINE void score_lanes8(size_t nin, const float *w, const float *xt, const float *yt, size_t ld, size_t r,
                              double threshold, fr_score *out) {
    fr__v8d sum = {0};
    fr__v8f e0 = {-1, -1, -1, -1, -1, -1, -1, -1}, e1 = e0, e2 = e0;
    fr__v8i i0 = {0}, i1 = i0, i2 = i0;
    for (size_t f = 0; f < nin; f++) {
        fr__v8f yf, xf;
        memcpy(&yf, yt + f * ld + r, sizeof yf);
        memcpy(&xf, xt + f * ld + r, sizeof xf);
        fr__v8d y = __builtin_convertvector(yf, fr__v8d), x = __builtin_convertvector(xf, fr__v8d);
        fr__v8d d = (y - x) * (double)w[f];
        fr__v8d dd = d * d;
        sum += dd;
        fr__v8f e = __builtin_convertvector(dd, fr__v8f);
        fr__v8i idx = {0};
        idx += (int32_t)f;
        fr__v8i c2 = ~(e <= e2), c1 = c2 & (e > e1), c0 = c1 & (e > e0);
        e2 = SEL_F(c1, e1, SEL_F(c2, e, e2)), i2 = SEL_I(c1, i1, SEL_I(c2, idx, i2));
        e1 = SEL_F(c0, e0, SEL_F(c1, e, e1)), i1 = SEL_I(c0, i0, SEL_I(c1, idx, i1));
        e0 = SEL_F(c0, e, e0), i0 = SEL_I(c0, idx, i0);
    }
    for (int k = 0; k < FR__SLANES; k++) {
        fr_score *s = &out[r + (size_t)k];
        s->n_top = nin < 3 ? (int)nin : 3;
        s->top_err[0] = e0[k], s->top_idx[0] = (uint32_t)i0[k];
        s->top_err[1] = e1[k], s->top_idx[1] = (uint32_t)i1[k];
        s->top_err[2] = e2[k], s->top_idx[2] = (uint32_t)i2[k];
        s->score = sum[k] / (double)nin;
        s->is_fraud = s->score > threshold;
    }
}

#define FR__SCORE_FM_BODY                                                                                     \
    {                                                                                                         \
        for (size_t r = 0; r + FR__SLANES <= n; r += FR__SLANES) score_lanes8(nin, w, xt, yt, ld, r, threshold, out); \
    }

typedef void (*fr__score_fn)(size_t nin, const float *w, const float *xt, const float *yt, size_t ld, size_t n,
                             double threshold, fr_score *out);

static void score_fm_generic(size_t nin, const float *w, const float *xt, const float *yt, size_t ld, size_t n,
                             double threshold, fr_score *out) FR__SCORE_FM_BODY

#if defined(__x86_64__) && !defined(FR_NO_MULTIVERSION)
/* AVX2 without FMA on purpose: see the top of this section. */
__attribute__((target("avx2"))) static void score_fm_avx2(size_t nin, const float *w, const float *xt,
                                                          const float *yt, size_t ld, size_t n, double threshold,
                                                          fr_score *out) FR__SCORE_FM_BODY
#endif

static fr__score_fn score_fm_kernel(void) {
    /* Benign race: every thread computes the same pointer (as src/model/kernels.c). */
    static _Atomic(fr__score_fn) chosen;
    fr__score_fn fn = atomic_load_explicit(&chosen, memory_order_relaxed);
    if (!fn) {
        fn = score_fm_generic;
#if defined(__x86_64__) && !defined(FR_NO_MULTIVERSION)
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2")) fn = score_fm_avx2;
#endif
        atomic_store_explicit(&chosen, fn, memory_order_relaxed);
    }
    return fn;
}

void fr_score_batch(const fr_model *m, const float *x, const float *y, size_t n, double threshold, fr_score *out) {
    score_strided(m, x, fr_model_n_features(m), 1, y, fr_model_n_outputs(m), 1, n, threshold, out);
}

void fr_score_batch_fm(const fr_model *m, const float *xt, const float *yt, size_t ld, size_t n, double threshold,
                       fr_score *out) {
    size_t done = 0;
    if (fr_model_get_kind(m) == FR_MODEL_AUTOENCODER && n >= FR__SLANES) {
        score_fm_kernel()(fr_model_n_features(m), fr_model_error_weights(m), xt, yt, ld, n, threshold, out);
        done = n / FR__SLANES * FR__SLANES;
    }
    /* the rest (fewer than eight records), and scorer models */
    score_strided(m, xt + done, 1, ld, yt + done, 1, ld, n - done, threshold, out + done);
}
