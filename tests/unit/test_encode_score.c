/* Proves the score formula, the top-3 explanation, and the result encoder:
 * exact expected text, shortest round-trip numbers, escaping, valid JSON,
 * and no write past the buffer for any capacity. */
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fraudd/encode.h"
#include "fraudd/score.h"
#include "onnx_builder.h"

static fr_model *tiny_autoencoder(const char *weights) {
    ob_model *b = ob_new(4);
    ob_meta(b, "fraudd.features", "[\"a\",\"b\",\"c\",\"d\"]");
    if (weights) ob_meta(b, "fraudd.error_weights", weights);
    float zero[4] = {0, 0, 0, 0};
    ob_binary(b, "Add", zero, 0);
    size_t len;
    uint8_t *buf = ob_pack(b, &len);
    fr_model *m;
    char err[256];
    assert_int_equal(fr_model_load_mem(buf, len, "t", &m, err, sizeof err), 0);
    free(buf);
    return m;
}

static void score_is_weighted_mean_squared_error_with_top_three(void **state) {
    (void)state;
    fr_model *m = tiny_autoencoder("[1, 2, 1, 0.5]");
    float x[8] = {0, 0, 0, 0, 1, 1, 1, 1}, y[8] = {1, 1, 3, 0, 1, 1, 1, 1};
    fr_score s[2];
    fr_score_batch(m, x, y, 2, 2.0, s);
    /* terms: (1*1)^2=1, (2*1)^2=4, (1*3)^2=9, 0 -> mean 3.5 */
    assert_true(fabs(s[0].score - 3.5) < 1e-12);
    assert_int_equal(s[0].is_fraud, 1);
    assert_int_equal(s[0].n_top, 3);
    assert_int_equal(s[0].top_idx[0], 2);
    assert_int_equal(s[0].top_idx[1], 1);
    assert_int_equal(s[0].top_idx[2], 0);
    assert_true(s[0].top_err[0] == 9.0f && s[0].top_err[1] == 4.0f);
    assert_true(s[1].score == 0.0);
    assert_int_equal(s[1].is_fraud, 0);
    fr_model_free(m);
}

/* Same double bit for bit, or both NaN. */
static int same_double(double a, double b) { return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0; }
static int same_float(float a, float b) { return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0; }

/* fr_score_batch_fm scores eight records at a time with selects instead of
 * the row loop's branches (src/score/score.c); fr_score_batch runs the row
 * loop. Both must give the same scores, verdicts and top three, bit for bit,
 * on the default model's 29 weighted features: random values, values drawn
 * from a small set (ties, which keep the earlier feature), zeros, NaN, and
 * every batch size 1..64 (the lane kernel plus the row loop for the rest). */
static void feature_major_lanes_score_as_the_row_loop(void **state) {
    (void)state;
    fr_model *m;
    char err[256];
    assert_int_equal(fr_model_load_default(&m, err, sizeof err), 0);
    enum { B = 64, LD = 80 };
    const size_t nin = fr_model_n_features(m);
    float *x = calloc(B * nin, sizeof *x), *y = calloc(B * nin, sizeof *y);
    float *xt = calloc(LD * nin, sizeof *xt), *yt = calloc(LD * nin, sizeof *yt);
    fr_score a[B], b[B];
    uint64_t r = 7;
    for (int round = 0; round < 400; round++) {
        size_t n = (size_t)round % B + 1;
        int kind = round % 4;
        for (size_t i = 0; i < n * nin; i++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            uint32_t u = (uint32_t)(r >> 32);
            if (kind == 0) x[i] = (float)(u % 20001) / 1000.0f - 10.0f, y[i] = (float)((u >> 8) % 2001) / 100.0f - 10.0f;
            else if (kind == 1) x[i] = (float)(u % 3), y[i] = (float)((u >> 4) % 3); /* many ties */
            else if (kind == 2) x[i] = 0, y[i] = (u % 5 == 0) ? 1.0f : 0.0f;
            else x[i] = (float)(u % 100) - 50.0f, y[i] = (u % 97 == 0) ? NAN : (float)((u >> 8) % 100) - 50.0f;
        }
        for (size_t k = 0; k < n; k++)
            for (size_t f = 0; f < nin; f++) xt[f * LD + k] = x[k * nin + f], yt[f * LD + k] = y[k * nin + f];
        memset(a, 0, sizeof a);
        memset(b, 0, sizeof b);
        fr_score_batch(m, x, y, n, 0.5, a);
        fr_score_batch_fm(m, xt, yt, LD, n, 0.5, b);
        for (size_t k = 0; k < n; k++) {
            assert_true(same_double(a[k].score, b[k].score));
            assert_int_equal(a[k].is_fraud, b[k].is_fraud);
            assert_int_equal(a[k].n_top, b[k].n_top);
            for (int t = 0; t < FR_TOP_FEATURES; t++) {
                assert_int_equal(a[k].top_idx[t], b[k].top_idx[t]);
                assert_true(same_float(a[k].top_err[t], b[k].top_err[t]));
            }
        }
    }
    free(x);
    free(y);
    free(xt);
    free(yt);
    fr_model_free(m);
}

static void numbers_round_trip_exactly(void **state) {
    (void)state;
    uint64_t r = 99;
    char b[40];
    for (int i = 0; i < 300000; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t bits = (uint32_t)(r >> 32);
        float f;
        memcpy(&f, &bits, 4);
        double d;
        memcpy(&d, &r, 8);
        size_t n = fr_fmt_float(b, f);
        b[n] = 0;
        if (isfinite(f)) assert_true(strtof(b, NULL) == f);
        else assert_string_equal(b, "null");
        n = fr_fmt_double(b, d);
        b[n] = 0;
        if (isfinite(d)) assert_true(strtod(b, NULL) == d);
        else assert_string_equal(b, "null");
    }
    size_t n = fr_fmt_float(b, 0.1f);
    b[n] = 0;
    assert_string_equal(b, "0.1");
}

static void strings_are_escaped(void **state) {
    (void)state;
    char b[64];
    const char in[] = "a\"b\\c\n\x01\xc3\xa9";
    size_t n = fr_json_quote(b, sizeof b, in, sizeof in - 1);
    b[n] = 0;
    assert_string_equal(b, "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\"");
    assert_int_equal(fr_json_quote(b, 3, "abc", 3), 0);
}

static const char *names[] = {"a", "b", "c", "d"};

static size_t encode_example(char *dst, size_t cap, int emit) {
    const char *ptn[] = {"id", "absent"};
    fr_encode_opts o = {ptn, 2, emit};
    fr_slice pt[2] = {{"\"tx-1\"", 6}, {NULL, 0}};
    fr_score s = {.score = 3.5, .is_fraud = 1, .n_top = 2, .top_idx = {2, 1}, .top_err = {9, 4}};
    float raw[4] = {0.5f, -1.25f, 3, 0}, y[4] = {1, 1, 3, 0.1f};
    return fr_result_encode_parts(dst, cap, "v\"1", names, 4, &o, &s, 2.0, raw, y, pt);
}

static void result_has_the_documented_shape(void **state) {
    (void)state;
    char b[1024];
    size_t n = encode_example(b, sizeof b, 1);
    b[n] = 0;
    assert_string_equal(b, "{\"id\":\"tx-1\",\"score\":3.5,\"threshold\":2,\"is_fraud\":true,\"model_version\":\"v\\\"1\","
                           "\"top_features\":[{\"name\":\"c\",\"value\":3,\"error\":9},{\"name\":\"b\",\"value\":-1.25,"
                           "\"error\":4}],\"output\":[1,1,3,0.1]}");
    json_error_t e;
    json_t *j = json_loads(b, 0, &e);
    assert_non_null(j);
    json_decref(j);
}

static void small_buffers_fail_cleanly_at_every_size(void **state) {
    (void)state;
    char full[1024];
    size_t need = encode_example(full, sizeof full, 1);
    for (size_t cap = 0; cap < need; cap++) {
        char *b = malloc(cap ? cap : 1); /* ASan catches any write past cap */
        assert_int_equal(encode_example(b, cap, 1), 0);
        free(b);
    }
    char *b = malloc(need);
    assert_int_equal(encode_example(b, need, 1), need);
    free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(score_is_weighted_mean_squared_error_with_top_three),
        cmocka_unit_test(feature_major_lanes_score_as_the_row_loop),
        cmocka_unit_test(numbers_round_trip_exactly),
        cmocka_unit_test(strings_are_escaped),
        cmocka_unit_test(result_has_the_documented_shape),
        cmocka_unit_test(small_buffers_fail_cleanly_at_every_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
