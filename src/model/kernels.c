/* Plan execution: the SIMD kernels and the scalar reference.
 *
 * Fast path. A batch is transposed into feature-major order (buf[f][lane],
 * one record per float lane) so each layer is, for every output j,
 *     acc[lanes] = b[j] + sum_i W[j][i] * in[i][lanes]
 * a broadcast-weight FMA over 16 records at a time (one AVX-512 register,
 * two AVX2 ones), four such blocks in flight to hide FMA latency. Bias,
 * activation and the DIAG per-feature affine are applied while the
 * accumulators are still in registers, so every layer reads its input once
 * and writes its output once. Kernels are plain C on GCC vector types
 * (portable, no intrinsics), compiled three times (AVX-512, AVX2+FMA,
 * baseline); the CPU's feature flags pick one at the first run.
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

/* The helpers below are always inlined, so the vector-ABI note does not apply. */
#pragma GCC diagnostic ignored "-Wpsabi"

typedef float v16 __attribute__((vector_size(64)));
typedef int v16i __attribute__((vector_size(64)));

_Static_assert(sizeof(v16) == FR__LANES * sizeof(float), "one vector holds one block of lanes");


#define FR__INLINE static inline __attribute__((always_inline))

FR__INLINE v16 vload(const float *p) {
    v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

FR__INLINE void vstore(float *p, v16 v) { memcpy(p, &v, sizeof v); }

FR__INLINE v16 vsplat(float x) { return (v16){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }

FR__INLINE v16 vselect(v16i mask, v16 a, v16 b) { return (v16)((mask & (v16i)a) | (~mask & (v16i)b)); }

/* exp(x), Cephes expf: range reduction by ln2, degree-6 polynomial. */
FR__INLINE v16 vexp(v16 x) {
    const v16 hi = vsplat(88.3762626647949f), lo = vsplat(-87.3365447504f);
    x = vselect(x > hi, hi, x);
    x = vselect(x < lo, lo, x);
    v16 n = x * 1.44269504088896341f + 12582912.0f; /* round to nearest via 1.5*2^23 */
    n = n - 12582912.0f;
    v16 r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    v16 p = vsplat(1.9875691500E-4f);
    p = p * r + 1.3981999507E-3f;
    p = p * r + 8.3334519073E-3f;
    p = p * r + 4.1665795894E-2f;
    p = p * r + 1.6666665459E-1f;
    p = p * r + 5.0000001201E-1f;
    p = p * (r * r) + r + 1.0f;
    v16i e = (__builtin_convertvector(n, v16i) + 127) << 23;
    return p * (v16)e;
}

FR__INLINE v16 vsigmoid(v16 x) { return 1.0f / (1.0f + vexp(-x)); }

/* tanh(x), Cephes tanhf: odd polynomial below 0.625, 1 - 2/(e^2|x|+1) above. */
FR__INLINE v16 vtanh(v16 x) {
    const v16i signbit = (v16i){0} + (int)0x80000000u;
    v16i sign = (v16i)x & signbit;
    v16 ax = (v16)((v16i)x & ~signbit);
    v16 z = x * x;
    v16 p = vsplat(-5.70498872745E-3f);
    p = p * z + 2.06390887954E-2f;
    p = p * z - 5.37397155531E-2f;
    p = p * z + 1.33314422036E-1f;
    p = p * z - 3.33332819422E-1f;
    v16 small = p * z * x + x;
    v16 big = 1.0f - 2.0f / (vexp(ax + ax) + 1.0f);
    big = (v16)((v16i)big | sign);
    return vselect(ax < 0.625f, small, big);
}

FR__INLINE v16 vact(v16 v, fr_act act, float alpha) {
    switch (act) {
    case FR_ACT_RELU: return vselect(v > 0.0f, v, vsplat(0.0f));
    case FR_ACT_LEAKY_RELU: return vselect(v >= 0.0f, v, v * alpha);
    case FR_ACT_SIGMOID: return vsigmoid(v);
    case FR_ACT_TANH: return vtanh(v);
    default: return v;
    }
}

/* One layer over nb blocks of FR__LANES records. Feature rows of src are
 * `ss` floats apart, of dst `ds`; src is shifted in place by l->pre (the
 * caller never passes its own input when pre is set). Inlined into one copy
 * per instruction set below. */
FR__INLINE void layer_forward(const fr__layer *l, float *src, float *dst, size_t nb, size_t ss, size_t ds) {
    const size_t in = l->in, out = l->out, L = FR__LANES;
    if (l->pre)
        for (size_t i = 0; i < in; i++)
            for (size_t b = 0; b < nb; b++) vstore(src + i * ss + b * L, vload(src + i * ss + b * L) + l->pre[i]);
    if (l->kind == FR__DIAG) {
        for (size_t j = 0; j < out; j++)
            for (size_t b = 0; b < nb; b++) {
                v16 v = vload(src + j * ss + b * L) * l->w[j] + l->b[j];
                vstore(dst + j * ds + b * L, vact(v, l->act, l->alpha));
            }
        return;
    }
    size_t j = 0;
    /* Two outputs at a time over four lane blocks: eight accumulators share
     * each loaded input vector, halving loads per FMA. */
    for (; j + 2 <= out; j += 2) {
        const float *w0 = l->w + j * in, *w1 = w0 + in;
        const v16 bias0 = vsplat(l->b[j]), bias1 = vsplat(l->b[j + 1]);
        size_t b = 0;
        for (; b + 4 <= nb; b += 4) {
            v16 a0 = bias0, a1 = bias0, a2 = bias0, a3 = bias0;
            v16 c0 = bias1, c1 = bias1, c2 = bias1, c3 = bias1;
            const float *s = src + b * L;
            for (size_t i = 0; i < in; i++, s += ss) {
                const v16 x0 = vload(s), x1 = vload(s + L), x2 = vload(s + 2 * L), x3 = vload(s + 3 * L);
                const float u = w0[i], v = w1[i];
                a0 += u * x0, a1 += u * x1, a2 += u * x2, a3 += u * x3;
                c0 += v * x0, c1 += v * x1, c2 += v * x2, c3 += v * x3;
            }
            float *d = dst + j * ds + b * L, *e = d + ds;
            vstore(d, vact(a0, l->act, l->alpha));
            vstore(d + L, vact(a1, l->act, l->alpha));
            vstore(d + 2 * L, vact(a2, l->act, l->alpha));
            vstore(d + 3 * L, vact(a3, l->act, l->alpha));
            vstore(e, vact(c0, l->act, l->alpha));
            vstore(e + L, vact(c1, l->act, l->alpha));
            vstore(e + 2 * L, vact(c2, l->act, l->alpha));
            vstore(e + 3 * L, vact(c3, l->act, l->alpha));
        }
        for (; b < nb; b++) {
            v16 a0 = bias0, c0 = bias1;
            const float *s = src + b * L;
            for (size_t i = 0; i < in; i++, s += ss) {
                const v16 x0 = vload(s);
                a0 += w0[i] * x0;
                c0 += w1[i] * x0;
            }
            vstore(dst + j * ds + b * L, vact(a0, l->act, l->alpha));
            vstore(dst + (j + 1) * ds + b * L, vact(c0, l->act, l->alpha));
        }
    }
    for (; j < out; j++) {
        const float *w = l->w + j * in;
        const v16 bias = vsplat(l->b[j]);
        size_t b = 0;
        for (; b + 4 <= nb; b += 4) {
            v16 a0 = bias, a1 = bias, a2 = bias, a3 = bias;
            const float *s = src + b * L;
            for (size_t i = 0; i < in; i++, s += ss) {
                const float wi = w[i];
                a0 += wi * vload(s);
                a1 += wi * vload(s + L);
                a2 += wi * vload(s + 2 * L);
                a3 += wi * vload(s + 3 * L);
            }
            float *d = dst + j * ds + b * L;
            vstore(d, vact(a0, l->act, l->alpha));
            vstore(d + L, vact(a1, l->act, l->alpha));
            vstore(d + 2 * L, vact(a2, l->act, l->alpha));
            vstore(d + 3 * L, vact(a3, l->act, l->alpha));
        }
        for (; b < nb; b++) {
            v16 a0 = bias;
            const float *s = src + b * L;
            for (size_t i = 0; i < in; i++, s += ss) a0 += w[i] * vload(s);
            vstore(dst + j * ds + b * L, vact(a0, l->act, l->alpha));
        }
    }
}

/* Row kernel: one record, outputs in the vector lanes. out = act(Wt^T (in +
 * pre) + b) with four partial sums over the inputs to hide FMA latency.
 * `in` and `out` have room for opad floats. */
FR__INLINE void layer_row(const fr__layer *l, float *in, float *out) {
    const size_t n_in = l->in, opad = l->opad, L = FR__LANES;
    if (l->pre)
        for (size_t i = 0; i < n_in; i++) in[i] += l->pre[i];
    for (size_t ob = 0; ob < opad; ob += L) {
        v16 acc;
        if (l->kind == FR__DIAG) {
            acc = vload(in + ob) * vload(l->wt + ob) + vload(l->bp + ob);
        } else {
            v16 a0 = vload(l->bp + ob), a1 = vsplat(0), a2 = vsplat(0), a3 = vsplat(0);
            const float *w = l->wt + ob;
            size_t i = 0;
            for (; i + 4 <= n_in; i += 4) {
                a0 += in[i] * vload(w + i * opad);
                a1 += in[i + 1] * vload(w + (i + 1) * opad);
                a2 += in[i + 2] * vload(w + (i + 2) * opad);
                a3 += in[i + 3] * vload(w + (i + 3) * opad);
            }
            for (; i < n_in; i++) a0 += in[i] * vload(w + i * opad);
            acc = (a0 + a1) + (a2 + a3);
        }
        vstore(out + ob, vact(acc, l->act, l->alpha));
    }
}

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

/* One copy of the kernel per instruction set; the CPU's features (not its
 * model name) pick one the first time a model runs. */
typedef void (*layer_fn)(const fr__layer *, float *, float *, size_t, size_t, size_t);

/* nb == 0 selects the row kernel (src, dst: one record). */
#define FR__KERNEL_BODY                                                                                   \
    {                                                                                                     \
        if (nb) layer_forward(l, src, dst, nb, ss, ds);                                                   \
        else layer_row(l, src, dst);                                                                      \
    }

static void layer_generic(const fr__layer *l, float *src, float *dst, size_t nb, size_t ss,
                          size_t ds) FR__KERNEL_BODY

#if defined(__x86_64__) && !defined(FR_NO_MULTIVERSION)
__attribute__((target("avx2,fma"))) static void layer_avx2(const fr__layer *l, float *src, float *dst, size_t nb,
                                                             size_t ss, size_t ds) FR__KERNEL_BODY

__attribute__((target("avx512f,fma"))) static void layer_avx512(const fr__layer *l, float *src, float *dst,
                                                                  size_t nb, size_t ss, size_t ds) FR__KERNEL_BODY
#endif

static layer_fn pick_layer_fn(void) {
#if defined(__x86_64__) && !defined(FR_NO_MULTIVERSION)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return layer_avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return layer_avx2;
#endif
    return layer_generic;
}

static layer_fn kernel(void) {
    /* Benign race: every thread computes the same pointer; a relaxed atomic
     * keeps TSan and the compiler honest. */
    static _Atomic(layer_fn) chosen;
    layer_fn fn = atomic_load_explicit(&chosen, memory_order_relaxed);
    if (!fn) {
        fn = pick_layer_fn();
        atomic_store_explicit(&chosen, fn, memory_order_relaxed);
    }
    return fn;
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
