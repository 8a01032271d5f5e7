/* Proves the SIMD kernels compute what the scalar reference computes: for
 * random fused plans of every activation, odd widths and every batch size
 * around the 16-lane block boundaries, fr_model_run() (row kernel below 8
 * records, lane kernel above), fr_model_run_fm() (feature-major, chunked)
 * and fr_model_run_reference() agree within 1e-5 of the row's scale. Every
 * check runs once per kernel set this CPU has (AVX-512, AVX2, generic), not
 * only for the one it would pick. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fraudd/model.h"
#include "onnx_builder.h"

static fr_model *load(uint8_t *buf, size_t len) {
    char err[512] = "";
    fr_model *m = NULL;
    int rc = fr_model_load_mem(buf, len, "test", &m, err, sizeof err);
    if (rc) print_error("load failed: %s\n", err);
    assert_int_equal(rc, 0);
    free(buf);
    return m;
}

/* max over rows of max|y - r| / max(1, max|r|) */
static double worst_rel(const float *y, const float *r, size_t n, size_t nout) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double scale = 1, d = 0;
        for (size_t j = 0; j < nout; j++) scale = fmax(scale, fabs(r[i * nout + j]));
        for (size_t j = 0; j < nout; j++) d = fmax(d, fabs((double)y[i * nout + j] - r[i * nout + j]));
        worst = fmax(worst, d / scale);
    }
    return worst;
}

/* worst_rel of the row-major and the feature-major fast paths against the reference */
static double compare(const fr_model *m, size_t n, uint64_t seed) {
    size_t nin = fr_model_n_features(m), nout = fr_model_n_outputs(m);
    float *x = malloc(n * nin * sizeof(float)), *y = malloc(n * nout * sizeof(float)),
          *r = malloc(n * nout * sizeof(float));
    for (size_t i = 0; i < n * nin; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(seed >> 11) / (double)(1ull << 53) * 8.0 - 4.0);
    }
    fr_workspace *ws = fr_workspace_new(m, n < 64 ? 64 : n);
    assert_non_null(ws);
    fr_model_run_reference(m, x, n, r);
    /* feature-major path (the scorer's), through a small workspace so it runs in chunks */
    size_t ld = (n + 15) / 16 * 16;
    float *xt = malloc(ld * nin * sizeof(float)), *yt = malloc(ld * nout * sizeof(float));
    for (size_t i = 0; i < n; i++)
        for (size_t f = 0; f < nin; f++) xt[f * ld + i] = x[i * nin + f];
    for (size_t i = n; i < ld; i++)
        for (size_t f = 0; f < nin; f++) xt[f * ld + i] = NAN; /* unused lanes must not matter */
    fr_workspace *small = fr_workspace_new(m, 20);
    fr_model_run_fm(m, small, xt, ld, n, yt);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < nout; j++) y[i * nout + j] = yt[j * ld + i];
    fr_workspace_free(small);
    free(xt);
    free(yt);
    double worst_fm = worst_rel(y, r, n, nout);
    /* row-major path */
    fr_model_run(m, ws, x, n, y);
    double worst = worst_rel(y, r, n, nout);
    fr_workspace_free(ws);
    free(x);
    free(y);
    free(r);
    return fmax(worst, worst_fm);
}

static void fast_path_matches_reference_for_every_activation(void **state) {
    (void)state;
    const char *acts[] = {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Identity"};
    const size_t widths[] = {1, 3, 16, 29, 33};
    const size_t batches[] = {1, 15, 16, 17, 63, 64, 65, 200, 256};
    for (size_t a = 0; a < 5; a++)
        for (size_t w = 0; w < 5; w++) {
            ob_model *b = ob_new(widths[w]);
            ob_binary(b, "Sub", NULL, 0);
            ob_binary(b, "Div", NULL, 0);
            ob_gemm(b, widths[w] + 5, 1);
            Onnx__NodeProto *n = ob_unary(b, acts[a]);
            if (a == 1) ob_attr_f(b, n, "alpha", 0.2f);
            ob_gemm(b, 7, 1);
            ob_unary(b, acts[(a + 1) % 5]);
            ob_gemm(b, widths[w], 0);
            size_t len;
            uint8_t *buf = ob_pack(b, &len);
            fr_model *m = load(buf, len);
            for (size_t k = 0; k < sizeof batches / sizeof batches[0]; k++) {
                double e = compare(m, batches[k], 1000 + k);
                if (e > 1e-5) print_error("%s width %zu batch %zu: error %g\n", acts[a], widths[w], batches[k], e);
                assert_true(e <= 1e-5);
            }
            fr_model_free(m);
        }
}

static void saturated_activations_stay_finite_and_exact(void **state) {
    (void)state;
    /* Inputs far outside exp's range: sigmoid/tanh must saturate, not NaN. */
    const char *acts[] = {"Sigmoid", "Tanh"};
    for (int a = 0; a < 2; a++) {
        ob_model *b = ob_new(4);
        float big[4] = {200, 200, 200, 200};
        ob_binary(b, "Mul", big, 0);
        ob_unary(b, acts[a]);
        size_t len;
        uint8_t *buf = ob_pack(b, &len);
        fr_model *m = load(buf, len);
        float x[4 * 16], y[4 * 16], r[4 * 16];
        for (int i = 0; i < 64; i++) x[i] = (float)(i % 9) - 4.0f;
        fr_workspace *ws = fr_workspace_new(m, 16);
        fr_model_run(m, ws, x, 16, y);
        fr_model_run_reference(m, x, 16, r);
        for (int i = 0; i < 64; i++) {
            assert_true(isfinite(y[i]));
            assert_true(fabsf(y[i] - r[i]) <= 1e-6f);
        }
        fr_workspace_free(ws);
        fr_model_free(m);
    }
}

static void batches_larger_than_the_workspace_are_split(void **state) {
    (void)state;
    ob_model *b = ob_new(5);
    ob_gemm(b, 9, 1);
    ob_unary(b, "Tanh");
    ob_gemm(b, 5, 1);
    size_t len;
    uint8_t *buf = ob_pack(b, &len);
    fr_model *m = load(buf, len);
    enum { N = 100 };
    float x[N * 5], y[N * 5], r[N * 5];
    for (int i = 0; i < N * 5; i++) x[i] = sinf((float)i);
    fr_workspace *ws = fr_workspace_new(m, 32);
    fr_model_run(m, ws, x, N, y);
    fr_model_run_reference(m, x, N, r);
    for (int i = 0; i < N * 5; i++) assert_true(fabsf(y[i] - r[i]) <= 1e-5f);
    fr_workspace_free(ws);
    fr_model_free(m);
}

static void kernel_sets_are_named_and_pinned_only_when_the_cpu_has_them(void **state) {
    (void)state;
    const char *picked = fr_model_kernel();
    assert_true(strcmp(picked, "avx512") == 0 || strcmp(picked, "avx2") == 0 || strcmp(picked, "generic") == 0);
    assert_int_equal(fr_model_use_kernel("generic"), 0); /* every CPU runs the baseline */
    assert_string_equal(fr_model_kernel(), "generic");
    assert_int_equal(fr_model_use_kernel("sse9"), -1);
    assert_string_equal(fr_model_kernel(), "generic"); /* a refused name changes nothing */
    assert_int_equal(fr_model_use_kernel(picked), 0);
}

int main(void) {
    const struct CMUnitTest api[] = {
        cmocka_unit_test(kernel_sets_are_named_and_pinned_only_when_the_cpu_has_them),
    };
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fast_path_matches_reference_for_every_activation),
        cmocka_unit_test(saturated_activations_stay_finite_and_exact),
        cmocka_unit_test(batches_larger_than_the_workspace_are_split),
    };
    int failed = cmocka_run_group_tests_name("kernel sets", api, NULL, NULL);
    const char *sets[] = {"avx512", "avx2", "generic"};
    int ran = 0;
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        if (fr_model_use_kernel(sets[i]) != 0) {
            printf("kernel %s: this CPU lacks it, not run\n", sets[i]);
            continue;
        }
        char name[64];
        snprintf(name, sizeof name, "kernel %s", sets[i]);
        printf("%s\n", name);
        failed += cmocka_run_group_tests_name(name, tests, NULL, NULL);
        ran++;
    }
    return failed || !ran;
}
