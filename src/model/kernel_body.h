/* One copy of the SIMD kernels, included by kernels.c once per instruction
 * set, each time under that set's `#pragma GCC target` and with:
 *   FR__VL    floats in one native vector: 16 (AVX-512), 8 (AVX2), 4 (SSE2);
 *   FR__KN(x) the name x with the set's suffix (layer_avx2, vexp_avx2, ...).
 * The code is plain C on GCC vector types of the native width. A 16-lane
 * block of the workspace (FR__LANES records) is 16 / FR__VL such vectors
 * side by side, so the data layout is the same for every set; only the
 * number of vectors per block differs.
 *
 * Why the native width and not one 16-float type everywhere: under the AVX2
 * and SSE2 targets GCC splits a 64-byte vector into two or four registers,
 * the kernel's twelve accumulators and inputs no longer fit the sixteen
 * registers, and its comparisons and selects go through memory. Written
 * that way, the AVX2 copy ran the default model about 25 times slower than the
 * AVX-512 one on the same CPU, slower than the SSE2 copy
 * (docs/BENCHMARKS.md (o)). */

#define V FR__KN(vf)
#define VI FR__KN(vi)
typedef float V __attribute__((vector_size(FR__VL * 4)));
typedef int VI __attribute__((vector_size(FR__VL * 4)));
_Static_assert(FR__LANES % FR__VL == 0, "a block of lanes is a whole number of vectors");

FR__INLINE V FR__KN(vload)(const float *p) {
    V v;
    memcpy(&v, p, sizeof v);
    return v;
}

FR__INLINE void FR__KN(vstore)(float *p, V v) { memcpy(p, &v, sizeof v); }

FR__INLINE V FR__KN(vsplat)(float x) { return (V){0} + x; }

FR__INLINE V FR__KN(vselect)(VI mask, V a, V b) { return (V)((mask & (VI)a) | (~mask & (VI)b)); }

/* exp(x), Cephes expf: range reduction by ln2, degree-6 polynomial. */
FR__INLINE V FR__KN(vexp)(V x) {
    const V hi = FR__KN(vsplat)(88.3762626647949f), lo = FR__KN(vsplat)(-87.3365447504f);
    x = FR__KN(vselect)(x > hi, hi, x);
    x = FR__KN(vselect)(x < lo, lo, x);
    V n = x * 1.44269504088896341f + 12582912.0f; /* round to nearest via 1.5*2^23 */
    n = n - 12582912.0f;
    V r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    V p = FR__KN(vsplat)(1.9875691500E-4f);
    p = p * r + 1.3981999507E-3f;
    p = p * r + 8.3334519073E-3f;
    p = p * r + 4.1665795894E-2f;
    p = p * r + 1.6666665459E-1f;
    p = p * r + 5.0000001201E-1f;
    p = p * (r * r) + r + 1.0f;
    VI e = (__builtin_convertvector(n, VI) + 127) << 23;
    return p * (V)e;
}

FR__INLINE V FR__KN(vsigmoid)(V x) { return 1.0f / (1.0f + FR__KN(vexp)(-x)); }

/* tanh(x), Cephes tanhf: odd polynomial below 0.625, 1 - 2/(e^2|x|+1) above. */
FR__INLINE V FR__KN(vtanh)(V x) {
    const VI signbit = (VI){0} + (int)0x80000000u;
    VI sign = (VI)x & signbit;
    V ax = (V)((VI)x & ~signbit);
    V z = x * x;
    V p = FR__KN(vsplat)(-5.70498872745E-3f);
    p = p * z + 2.06390887954E-2f;
    p = p * z - 5.37397155531E-2f;
    p = p * z + 1.33314422036E-1f;
    p = p * z - 3.33332819422E-1f;
    V small = p * z * x + x;
    V big = 1.0f - 2.0f / (FR__KN(vexp)(ax + ax) + 1.0f);
    big = (V)((VI)big | sign);
    return FR__KN(vselect)(ax < 0.625f, small, big);
}

FR__INLINE V FR__KN(vact)(V v, fr_act act, float alpha) {
    switch (act) {
    case FR_ACT_RELU: return FR__KN(vselect)(v > 0.0f, v, FR__KN(vsplat)(0.0f));
    case FR_ACT_LEAKY_RELU: return FR__KN(vselect)(v >= 0.0f, v, v * alpha);
    case FR_ACT_SIGMOID: return FR__KN(vsigmoid)(v);
    case FR_ACT_TANH: return FR__KN(vtanh)(v);
    default: return v;
    }
}

/* One layer over nb blocks of FR__LANES records, as nv = nb * FR__LANES /
 * FR__VL vectors per feature row. Feature rows of src are `ss` floats
 * apart, of dst `ds`; src is shifted in place by l->pre (the caller never
 * passes its own input when pre is set). */
FR__INLINE void FR__KN(layer_forward)(const fr__layer *l, float *src, float *dst, size_t nb, size_t ss, size_t ds) {
    const size_t in = l->in, out = l->out, L = FR__VL, nv = nb * (FR__LANES / FR__VL);
    if (l->pre)
        for (size_t i = 0; i < in; i++)
            for (size_t b = 0; b < nv; b++)
                FR__KN(vstore)(src + i * ss + b * L, FR__KN(vload)(src + i * ss + b * L) + l->pre[i]);
    if (l->kind == FR__DIAG) {
        for (size_t j = 0; j < out; j++)
            for (size_t b = 0; b < nv; b++) {
                V v = FR__KN(vload)(src + j * ss + b * L) * l->w[j] + l->b[j];
                FR__KN(vstore)(dst + j * ds + b * L, FR__KN(vact)(v, l->act, l->alpha));
            }
        return;
    }
    size_t j = 0;
    /* Two outputs at a time over four vectors of lanes: eight accumulators
     * share each loaded input vector, halving loads per FMA; with the four
     * inputs, twelve registers of the sixteen (or 32) the set has. */
    for (; j + 2 <= out; j += 2) {
        const float *w0 = l->w + j * in, *w1 = w0 + in;
        const V bias0 = FR__KN(vsplat)(l->b[j]), bias1 = FR__KN(vsplat)(l->b[j + 1]);
        size_t b = 0;
        for (; b + 4 <= nv; b += 4) {
            V a0 = bias0, a1 = bias0, a2 = bias0, a3 = bias0;
            V c0 = bias1, c1 = bias1, c2 = bias1, c3 = bias1;
            const float *s = src + b * L;
            for (size_t i = 0; i < in; i++, s += ss) {
                const V x0 = FR__KN(vload)(s), x1 = FR__KN(vload)(s + L), x2 = FR__KN(vload)(s + 2 * L),
                        x3 = FR__KN(vload)(s + 3 * L);
                const float u = w0[i], v = w1[i];
                a0 += u * x0, a1 += u * x1, a2 += u * x2, a3 += u * x3;
                c0 += v * x0, c1 += v * x1, c2 += v * x2, c3 += v * x3;
            }
            float *d = dst + j * ds + b * L, *e = d + ds;
            FR__KN(vstore)(d, FR__KN(vact)(a0, l->act, l->alpha));
            FR__KN(vstore)(d + L, FR__KN(vact)(a1, l->act, l->alpha));
            FR__KN(vstore)(d + 2 * L, FR__KN(vact)(a2, l->act, l->alpha));
            FR__KN(vstore)(d + 3 * L, FR__KN(vact)(a3, l->act, l->alpha));
            FR__KN(vstore)(e, FR__KN(vact)(c0, l->act, l->alpha));
            FR__KN(vstore)(e + L, FR__KN(vact)(c1, l->act, l->alpha));
            FR__KN(vstore)(e + 2 * L, FR__KN(vact)(c2, l->act, l->alpha));
            FR__KN(vstore)(e + 3 * L, FR__KN(vact)(c3, l->act, l->alpha));
        }
        for (; b < nv; b++) {
            V a0 = bias0, c0 = bias1;
            const float *s = src + b * L;
            for (size_t i = 0; i < in; i++, s += ss) {
                const V x0 = FR__KN(vload)(s);
                a0 += w0[i] * x0;
                c0 += w1[i] * x0;
            }
            FR__KN(vstore)(dst + j * ds + b * L, FR__KN(vact)(a0, l->act, l->alpha));
            FR__KN(vstore)(dst + (j + 1) * ds + b * L, FR__KN(vact)(c0, l->act, l->alpha));
        }
    }
    for (; j < out; j++) {
        const float *w = l->w + j * in;
        const V bias = FR__KN(vsplat)(l->b[j]);
        size_t b = 0;
        for (; b + 4 <= nv; b += 4) {
            V a0 = bias, a1 = bias, a2 = bias, a3 = bias;
            const float *s = src + b * L;
            for (size_t i = 0; i < in; i++, s += ss) {
                const float wi = w[i];
                a0 += wi * FR__KN(vload)(s);
                a1 += wi * FR__KN(vload)(s + L);
                a2 += wi * FR__KN(vload)(s + 2 * L);
                a3 += wi * FR__KN(vload)(s + 3 * L);
            }
            float *d = dst + j * ds + b * L;
            FR__KN(vstore)(d, FR__KN(vact)(a0, l->act, l->alpha));
            FR__KN(vstore)(d + L, FR__KN(vact)(a1, l->act, l->alpha));
            FR__KN(vstore)(d + 2 * L, FR__KN(vact)(a2, l->act, l->alpha));
            FR__KN(vstore)(d + 3 * L, FR__KN(vact)(a3, l->act, l->alpha));
        }
        for (; b < nv; b++) {
            V a0 = bias;
            const float *s = src + b * L;
            for (size_t i = 0; i < in; i++, s += ss) a0 += w[i] * FR__KN(vload)(s);
            FR__KN(vstore)(dst + j * ds + b * L, FR__KN(vact)(a0, l->act, l->alpha));
        }
    }
}

/* Row kernel: one record, outputs in the vector lanes. out = act(Wt^T (in +
 * pre) + b) with four partial sums over the inputs to hide FMA latency.
 * `in` and `out` have room for opad floats (a multiple of FR__LANES, so of
 * FR__VL). */
FR__INLINE void FR__KN(layer_row)(const fr__layer *l, float *in, float *out) {
    const size_t n_in = l->in, opad = l->opad, L = FR__VL;
    if (l->pre)
        for (size_t i = 0; i < n_in; i++) in[i] += l->pre[i];
    for (size_t ob = 0; ob < opad; ob += L) {
        V acc;
        if (l->kind == FR__DIAG) {
            acc = FR__KN(vload)(in + ob) * FR__KN(vload)(l->wt + ob) + FR__KN(vload)(l->bp + ob);
        } else {
            V a0 = FR__KN(vload)(l->bp + ob), a1 = FR__KN(vsplat)(0), a2 = FR__KN(vsplat)(0),
              a3 = FR__KN(vsplat)(0);
            const float *w = l->wt + ob;
            size_t i = 0;
            for (; i + 4 <= n_in; i += 4) {
                a0 += in[i] * FR__KN(vload)(w + i * opad);
                a1 += in[i + 1] * FR__KN(vload)(w + (i + 1) * opad);
                a2 += in[i + 2] * FR__KN(vload)(w + (i + 2) * opad);
                a3 += in[i + 3] * FR__KN(vload)(w + (i + 3) * opad);
            }
            for (; i < n_in; i++) a0 += in[i] * FR__KN(vload)(w + i * opad);
            acc = (a0 + a1) + (a2 + a3);
        }
        FR__KN(vstore)(out + ob, FR__KN(vact)(acc, l->act, l->alpha));
    }
}

/* The set's entry point (layer_fn): nb == 0 selects the row kernel (src,
 * dst: one record). */
static void FR__KN(layer)(const fr__layer *l, float *src, float *dst, size_t nb, size_t ss, size_t ds) {
    if (nb) FR__KN(layer_forward)(l, src, dst, nb, ss, ds);
    else FR__KN(layer_row)(l, src, dst);
}

#undef V
#undef VI
