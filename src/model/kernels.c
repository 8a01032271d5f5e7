/* Plan execution: the SIMD kernels and the scalar reference.
 *
 * Fast path. A batch is transposed into feature-major order (buf[f][lane],
 * one record per float lane) so each layer is, for every output j,
 *     acc[lanes] = b[j] + sum_i W[j][i] * in[i][lanes]
 * a broadcast-weight FMA over 16 records at a time (one AVX-512 register,
 * two AVX2 ones, four SSE2 ones), four native vectors in flight to hide FMA
 * latency. Bias, activation and the DIAG per-feature affine are applied
 * while the accumulators are still in registers, so every layer reads its
 * input once and writes its output once. Kernels are plain C on GCC vector
 * types (portable, no intrinsics) of each set's native width, one body
 * (kernel_body.h) compiled three times (AVX-512, AVX2+FMA, baseline); the
 * CPU's feature flags pick one at the first run (fr_model_use_kernel pins
 * one, for tests and benchmarks).
 * Sigmoid and tanh use vectorised exp (Cephes polynomials, ~1 ulp) instead
 * of libm calls.
 *
 * Reference path. fr_model_run_reference() evaluates the same plan one record
 * at a time with double accumulation and libm's exp/tanh: slow, obvious, and
 * what the tests compare the fast path against.
 *
 * Threads: both paths only read the model; the fast path writes only the
 * caller's workspace and y. Nothing is allocated.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"

int fr__plan_pack(fr_model *m) {
    for (size_t k = 0; k < m->n_layers; k++) {
        fr__layer *l = &m->layers[k];
        l->opad = (l->out + FR__LANES - 1) / FR__LANES * FR__LANES;
        size_t nw = l->kind == FR__DENSE ? (size_t)l->in * l->opad : l->opad;
        l->wt = aligned_alloc(64, (nw * sizeof(float) + 63) / 64 * 64);
        l->bp = aligned_alloc(64, (l->opad * sizeof(float) + 63) / 64 * 64);
        if (!l->wt || !l->bp) return -1; /* FR_ENOMEM */
        memset(l->wt, 0, nw * sizeof(float));
        memset(l->bp, 0, l->opad * sizeof(float));
        for (size_t j = 0; j < l->out; j++) {
            l->bp[j] = l->b[j];
            if (l->kind == FR__DIAG) l->wt[j] = l->w[j];
            else
                for (size_t i = 0; i < l->in; i++) l->wt[i * l->opad + j] = l->w[j * l->in + i];
        }
    }
    return 0;
}

/* One copy of the kernels per instruction set (src/model/kernel_body.h);
 * the CPU's features (not its model name) pick one the first time a model
 * runs. */
typedef void (*layer_fn)(const fr__layer *, float *, float *, size_t, size_t, size_t);

/* The helpers in the body are always inlined, so the vector-ABI note does not apply. */
#pragma GCC diagnostic ignored "-Wpsabi"
#define FR__INLINE static inline __attribute__((always_inline))
#define FR__KN_(x, isa) x##_##isa
#define FR__KN_2(x, isa) FR__KN_(x, isa)
#define FR__KN(x) FR__KN_2(x, FR__ISA)

/* Baseline: SSE2 on x86-64 (and 128-bit vectors elsewhere). The other sets
 * are compiled under a target pragma (GCC's or clang's; the fuzz build uses
 * clang) that applies to every function of the body. */
#define FR__ISA generic
#define FR__VL 4
#include "model/kernel_body.h"
#undef FR__ISA
#undef FR__VL

#if defined(__x86_64__) && !defined(FR_NO_MULTIVERSION)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
#define FR__ISA avx2
#define FR__VL 8
#include "model/kernel_body.h"
#undef FR__ISA
#undef FR__VL
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,fma")
#endif
#define FR__ISA avx512
#define FR__VL 16
#include "model/kernel_body.h"
#undef FR__ISA
#undef FR__VL
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

/* The kernel sets by name, widest first; the CPU's features decide which
 * it may run. */
static const struct kernel_set {
    const char *name;
    layer_fn fn;
} kSets[] = {
#if defined(__x86_64__) && !defined(FR_NO_MULTIVERSION)
    {"avx512", layer_avx512},
    {"avx2", layer_avx2},
#endif
    {"generic", layer_generic},
};

static int cpu_runs(const struct kernel_set *k) {
#if defined(__x86_64__) && !defined(FR_NO_MULTIVERSION)
    __builtin_cpu_init();
    if (k->fn == layer_avx512) return __builtin_cpu_supports("avx512f");
    if (k->fn == layer_avx2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return k->fn == layer_generic;
}

/* Benign race when two threads pick at once: both store the same pointer;
 * a relaxed atomic keeps TSan and the compiler honest. */
static _Atomic(const struct kernel_set *) chosen;

static const struct kernel_set *kernel_set(void) {
    const struct kernel_set *k = atomic_load_explicit(&chosen, memory_order_relaxed);
    if (!k) {
        for (k = kSets; !cpu_runs(k); k++) {
        }
        atomic_store_explicit(&chosen, k, memory_order_relaxed);
    }
    return k;
}

static layer_fn kernel(void) { return kernel_set()->fn; }

const char *fr_model_kernel(void) { return kernel_set()->name; }

int fr_model_use_kernel(const char *name) {
    for (size_t i = 0; i < sizeof kSets / sizeof kSets[0]; i++)
        if (strcmp(kSets[i].name, name) == 0) {
            if (!cpu_runs(&kSets[i])) return -1;
            atomic_store_explicit(&chosen, &kSets[i], memory_order_relaxed);
            return 0;
        }
    return -1;
}

/* The lane path on feature-major data: layer 0 reads xt (stride ld), the
 * last layer writes yt (stride ld), the layers between ping-pong in the
 * workspace. xt is copied first only if layer 0 shifts its input in place. */
static void run_lanes(const fr_model *m, fr_workspace *ws, layer_fn fn, const float *xt, size_t ld, size_t nb,
                      float *yt) {
    const size_t ws_ld = ws->width, L = FR__LANES;
    float *src = (float *)xt, *bufs[2] = {ws->buf[0], ws->buf[1]};
    size_t ss = ld;
    int next = 0;
    if (m->layers[0].pre) {
        for (size_t i = 0; i < m->n_in; i++) memcpy(bufs[0] + i * ws_ld, xt + i * ld, nb * L * sizeof(float));
        src = bufs[0];
        ss = ws_ld;
        next = 1;
    }
    for (size_t k = 0; k < m->n_layers; k++) {
        int last = k + 1 == m->n_layers;
        float *dst = last ? yt : bufs[next];
        fn(&m->layers[k], src, dst, nb, ss, last ? ld : ws_ld);
        src = dst;
        ss = ws_ld;
        next ^= 1;
    }
}

void fr_model_run_fm(const fr_model *m, fr_workspace *ws, const float *xt, size_t ld, size_t n, float *yt) {
    layer_fn fn = kernel();
    /* chunks of ws->lanes (a multiple of 16): every chunk starts on a block */
    for (size_t r0 = 0; r0 < n; r0 += ws->lanes) {
        size_t cnt = n - r0 < ws->lanes ? n - r0 : ws->lanes;
        run_lanes(m, ws, fn, xt + r0, ld, (cnt + FR__LANES - 1) / FR__LANES, yt + r0);
    }
}

void fr_model_run(const fr_model *m, fr_workspace *ws, const float *x, size_t n, float *y) {
    layer_fn fn = kernel();
    const size_t ld = ws->width, nin = m->n_in, nout = m->n_out;
    if (n < FR__ROW_KERNEL_BELOW) {
        for (size_t r = 0; r < n; r++) {
            float *src = ws->row[0], *dst = ws->row[1];
            memcpy(src, x + r * nin, nin * sizeof(float));
            for (size_t k = 0; k < m->n_layers; k++) {
                fn(&m->layers[k], src, dst, 0, 0, 0);
                float *t = src;
                src = dst;
                dst = t;
            }
            memcpy(y + r * nout, src, nout * sizeof(float));
        }
        return;
    }
    for (size_t r0 = 0; r0 < n; r0 += ws->max_batch) {
        size_t cnt = n - r0 < ws->max_batch ? n - r0 : ws->max_batch;
        size_t nb = (cnt + FR__LANES - 1) / FR__LANES;
        float *xt = ws->xt, *yt = ws->yt;
        /* Transpose rows into lanes; unused lanes of the last block are 0. */
        for (size_t i = 0; i < nin; i++) {
            float *row = xt + i * ld;
            for (size_t r = 0; r < cnt; r++) row[r] = x[(r0 + r) * nin + i];
            for (size_t r = cnt; r < nb * FR__LANES; r++) row[r] = 0.0f;
        }
        run_lanes(m, ws, fn, xt, ld, nb, yt);
        for (size_t r = 0; r < cnt; r++)
            for (size_t j = 0; j < nout; j++) y[(r0 + r) * nout + j] = yt[j * ld + r];
    }
}

static double ref_act(double v, fr_act act, float alpha) {
    switch (act) {
    case FR_ACT_RELU: return v > 0 ? v : 0;
    case FR_ACT_LEAKY_RELU: return v >= 0 ? v : v * alpha;
    case FR_ACT_SIGMOID: return 1.0 / (1.0 + exp(-v));
    case FR_ACT_TANH: return tanh(v);
    default: return v;
    }
}

void fr_model_run_reference(const fr_model *m, const float *x, size_t n, float *y) {
    /* The reference may allocate: it is for tests and tools, not the hot path. */
    double *a = malloc(2 * m->max_width * sizeof(double));
    if (!a) abort();
    double *b = a + m->max_width;
    for (size_t r = 0; r < n; r++) {
        for (size_t i = 0; i < m->n_in; i++) a[i] = x[r * m->n_in + i];
        double *cur = a, *nxt = b;
        for (size_t k = 0; k < m->n_layers; k++) {
            const fr__layer *l = &m->layers[k];
            if (l->pre)
                for (size_t i = 0; i < l->in; i++) cur[i] = (float)cur[i] + l->pre[i];
            for (size_t j = 0; j < l->out; j++) {
                double acc = l->b[j];
                if (l->kind == FR__DIAG)
                    acc += (double)l->w[j] * cur[j];
                else
                    for (size_t i = 0; i < l->in; i++) acc += (double)l->w[j * l->in + i] * cur[i];
                nxt[j] = ref_act(acc, l->act, l->alpha);
            }
            double *t = cur;
            cur = nxt;
            nxt = t;
        }
        for (size_t j = 0; j < m->n_out; j++) y[r * m->n_out + j] = (float)cur[j];
    }
    free(a);
}
