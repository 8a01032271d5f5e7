/* Proves what the ONNX compiler folds, fuses and refuses:
 *  - scaling, BatchNormalization and trailing affines fold into dense layers,
 *    and the folded plan computes what the unfolded graph means;
 *  - every refusal names the node, its op and what was expected;
 *  - metadata is read and checked (fraudd.score_histogram: each malformed
 *    case refused, naming the key). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fraudd/err.h"
#include "fraudd/model.h"
#include "onnx_builder.h"

static char err[1024];

static int try_load(ob_model *b, fr_model **m) {
    size_t len;
    uint8_t *buf = ob_pack(b, &len);
    err[0] = 0;
    int rc = fr_model_load_mem(buf, len, "t.onnx", m, err, sizeof err);
    free(buf);
    return rc;
}

static fr_model *must_load(ob_model *b) {
    fr_model *m = NULL;
    int rc = try_load(b, &m);
    if (rc) print_error("load failed: %s\n", err);
    assert_int_equal(rc, 0);
    return m;
}

static void expect_refusal(ob_model *b, int code, const char *const *needles) {
    fr_model *m = NULL;
    int rc = try_load(b, &m);
    if (rc != code) print_error("expected %s, got %s: %s\n", fr_err_name(code), fr_err_name(rc), err);
    assert_int_equal(rc, code);
    assert_null(m);
    for (; *needles; needles++) {
        if (!strstr(err, *needles)) print_error("'%s' not in: %s\n", *needles, err);
        assert_non_null(strstr(err, *needles));
    }
}

static void standardise_dense_batchnorm_leaky_fold_into_one_layer(void **state) {
    (void)state;
    ob_model *b = ob_new(6);
    ob_binary(b, "Sub", NULL, 0);
    ob_binary(b, "Div", NULL, 0);
    ob_gemm(b, 8, 1);
    ob_batchnorm(b);
    Onnx__NodeProto *lr = ob_unary(b, "LeakyRelu");
    ob_attr_f(b, lr, "alpha", 0.2f);
    ob_unary(b, "Dropout");
    ob_unary(b, "Identity");
    ob_gemm(b, 6, 1);
    ob_binary(b, "Mul", NULL, 0);
    ob_binary(b, "Add", NULL, 0);
    fr_model *m = must_load(b);
    assert_int_equal(fr_model_n_layers(m), 2);
    fr_layer_info li;
    fr_model_layer_info(m, 0, &li);
    assert_int_equal(li.in, 6);
    assert_int_equal(li.out, 8);
    assert_int_equal(li.act, FR_ACT_LEAKY_RELU);
    assert_true(fabsf(li.alpha - 0.2f) < 1e-7f);
    assert_non_null(strstr(li.ops, "Sub"));
    assert_non_null(strstr(li.ops, "BatchNormalization"));
    fr_model_layer_info(m, 1, &li);
    assert_int_equal(li.act, FR_ACT_NONE);
    assert_non_null(strstr(li.ops, "Mul"));
    assert_int_equal(fr_model_get_kind(m), FR_MODEL_AUTOENCODER);
    fr_model_free(m);
}

/* y = relu((x - 1) * 2) + 3, by hand, through a DIAG layer and a trailing affine. */
static void affine_only_graph_computes_by_hand_values(void **state) {
    (void)state;
    ob_model *b = ob_new(3);
    float one[3] = {1, 1, 1}, two[3] = {2, 2, 2}, three[3] = {3, 3, 3};
    ob_binary(b, "Sub", one, 0);
    ob_binary(b, "Mul", two, 0);
    ob_unary(b, "Relu");
    ob_binary(b, "Add", three, 1);
    fr_model *m = must_load(b);
    float x[6] = {0, 1, 2, -5, 1.5f, 10}, y[6], want[6] = {3, 3, 5, 3, 4, 21};
    fr_workspace *ws = fr_workspace_new(m, 2);
    fr_model_run(m, ws, x, 2, y);
    for (int i = 0; i < 6; i++) assert_true(fabsf(y[i] - want[i]) < 1e-6f);
    fr_model_run_reference(m, x, 2, y);
    for (int i = 0; i < 6; i++) assert_true(fabsf(y[i] - want[i]) < 1e-6f);
    fr_workspace_free(ws);
    fr_model_free(m);
}

static void constant_minus_tensor_and_matmul_add_are_supported(void **state) {
    (void)state;
    ob_model *b = ob_new(4);
    ob_binary(b, "Sub", NULL, 1); /* c - x */
    ob_matmul_add(b, 5);
    ob_unary(b, "Sigmoid");
    ob_matmul_add(b, 1);
    fr_model *m = must_load(b);
    assert_int_equal(fr_model_get_kind(m), FR_MODEL_SCORER);
    assert_int_equal(fr_model_n_layers(m), 2);
    fr_model_free(m);
}

static void unsupported_op_is_refused_naming_node_and_op(void **state) {
    (void)state;
    ob_model *b = ob_new(4);
    ob_gemm(b, 4, 1);
    ob_unary(b, "Softmax");
    const char *needles[] = {"node 'Softmax", "op Softmax", "unsupported op", NULL};
    expect_refusal(b, FR_EUNSUPPORTED, needles);
}

static void weight_shape_mismatch_is_refused_with_expected_width(void **state) {
    (void)state;
    ob_model *b = ob_new(4);
    int64_t wd[2] = {3, 7}; /* transB: [out=3, in=7], but the running tensor has 4 */
    const char *ins[2] = {b->cur, ob_init(b, 2, wd, NULL)};
    Onnx__NodeProto *n = ob_node(b, "Gemm", 2, ins);
    ob_attr_i(b, n, "transB", 1);
    ob_advance(b, n);
    b->width = 3;
    const char *needles[] = {"op Gemm", "expect 7 inputs", "has 4 features", NULL};
    expect_refusal(b, FR_EMODEL, needles);
}

static void branching_graph_is_refused(void **state) {
    (void)state;
    ob_model *b = ob_new(4);
    char first[32];
    snprintf(first, sizeof first, "%s", b->cur);
    ob_unary(b, "Relu");
    const char *ins[2] = {b->cur, first}; /* residual: reads the input again */
    ob_advance(b, ob_node(b, "Add", 2, ins));
    const char *needles[] = {"op Add", "single-chain", NULL};
    expect_refusal(b, FR_EUNSUPPORTED, needles);
}

static void division_by_the_tensor_is_refused(void **state) {
    (void)state;
    ob_model *b = ob_new(4);
    ob_binary(b, "Div", NULL, 1);
    const char *needles[] = {"op Div", "not affine", NULL};
    expect_refusal(b, FR_EUNSUPPORTED, needles);
}

static void training_mode_batchnorm_is_refused(void **state) {
    (void)state;
    ob_model *b = ob_new(4);
    ob_batchnorm(b);
    ob_attr_i(b, b->nodes[b->g.n_node - 1], "training_mode", 1);
    const char *needles[] = {"op BatchNormalization", "training_mode", NULL};
    expect_refusal(b, FR_EUNSUPPORTED, needles);
}

static void transposed_input_gemm_is_refused(void **state) {
    (void)state;
    ob_model *b = ob_new(4);
    Onnx__NodeProto *n = ob_gemm(b, 4, 1);
    ob_attr_i(b, n, "transA", 1);
    const char *needles[] = {"op Gemm", "transA", NULL};
    expect_refusal(b, FR_EUNSUPPORTED, needles);
}

static void output_width_neither_input_nor_one_is_refused(void **state) {
    (void)state;
    ob_model *b = ob_new(4);
    ob_gemm(b, 3, 1);
    const char *needles[] = {"3 values", "expected 4", NULL};
    expect_refusal(b, FR_EUNSUPPORTED, needles);
}

static void truncated_and_garbage_files_are_refused(void **state) {
    (void)state;
    ob_model *b = ob_new(8);
    ob_gemm(b, 8, 1);
    size_t len;
    uint8_t *buf = ob_pack(b, &len);
    fr_model *m = NULL;
    size_t refused = 0;
    for (size_t cut = 0; cut < len; cut++) {
        int rc = fr_model_load_mem(buf, cut, "cut.onnx", &m, err, sizeof err);
        if (rc == 0) { /* a cut that still decodes must still be a valid model */
            fr_model_free(m);
            continue;
        }
        refused++;
        assert_true(strlen(err) > 10); /* a sentence, not an empty message */
    }
    assert_true(refused >= len - 2);
    uint8_t junk[64];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)(i * 37 + 11);
    assert_int_not_equal(fr_model_load_mem(junk, sizeof junk, "junk.onnx", &m, err, sizeof err), 0);
    assert_non_null(strstr(err, "junk.onnx"));
    free(buf);
}

static void missing_feature_metadata_is_refused(void **state) {
    (void)state;
    ob_model *b = ob_new(2);
    ob_meta(b, "fraudd.features", "[\"a\"]"); /* one name for two inputs */
    ob_gemm(b, 2, 1);
    const char *needles[] = {"fraudd.features", "2 names", NULL};
    expect_refusal(b, FR_EMODEL, needles);
}

static void metadata_threshold_defaults_weights_log1p_are_read(void **state) {
    (void)state;
    ob_model *b = ob_new(3);
    ob_meta(b, "fraudd.features", "[\"a\",\"card.amount\",\"c\"]");
    ob_meta(b, "fraudd.threshold", "0.125");
    ob_meta(b, "fraudd.version", "v7");
    ob_meta(b, "fraudd.defaults", "{\"c\": 2.5}");
    ob_meta(b, "fraudd.error_weights", "[1, 0.5, 2]");
    ob_meta(b, "fraudd.log1p", "[\"card.amount\"]");
    ob_gemm(b, 3, 1);
    fr_model *m = must_load(b);
    assert_true(fr_model_threshold(m) == 0.125);
    assert_string_equal(fr_model_version(m), "v7");
    assert_string_equal(fr_model_feature_name(m, 1), "card.amount");
    float d = 0;
    assert_int_equal(fr_model_feature_default(m, 0, &d), 0);
    assert_int_equal(fr_model_feature_default(m, 2, &d), 1);
    assert_true(d == 2.5f);
    assert_true(fr_model_error_weight(m, 1) == 0.5f);
    assert_int_equal(fr_model_feature_log1p(m, 1), 1);
    assert_int_equal(fr_model_feature_log1p(m, 0), 0);
    float row[3] = {1, (float)(2.718281828459045 - 1), 3};
    assert_int_equal(fr_model_preprocess(m, row), 0);
    assert_true(fabsf(row[1] - 1.0f) < 1e-6f);
    row[1] = -1.0f;
    assert_int_equal(fr_model_preprocess(m, row), FR_ERANGE);
    fr_model_free(m);
}

static void bad_threshold_metadata_is_refused(void **state) {
    (void)state;
    ob_model *b = ob_new(2);
    ob_meta(b, "fraudd.threshold", "high");
    ob_gemm(b, 2, 1);
    const char *needles[] = {"fraudd.threshold", "finite number", NULL};
    expect_refusal(b, FR_EMODEL, needles);
}

/* fraudd.score_histogram: edges and counts become the edges and the shares
 * of the reference; a model without the key has no bins */
static void score_histogram_is_read_as_edges_and_shares(void **state) {
    (void)state;
    ob_model *b = ob_new(2);
    ob_meta(b, "fraudd.score_histogram",
            "{\"edges\": [0.5, 1, 2.25], \"counts\": [10, 20, 30, 40], \"source\": \"validation errors\"}");
    ob_gemm(b, 2, 1);
    fr_model *m = must_load(b);
    const double *edges = NULL, *p = NULL;
    assert_int_equal(fr_model_score_bins(m, &edges, &p), 4);
    assert_true(edges[0] == 0.5 && edges[1] == 1.0 && edges[2] == 2.25);
    assert_true(fabs(p[0] - 0.1) < 1e-15 && fabs(p[1] - 0.2) < 1e-15 && fabs(p[2] - 0.3) < 1e-15 &&
                fabs(p[3] - 0.4) < 1e-15);
    fr_model_free(m);
    /* the smallest (2 bins, "source" optional, zero counts allowed) */
    b = ob_new(2);
    ob_meta(b, "fraudd.score_histogram", "{\"edges\": [-3], \"counts\": [0, 7]}");
    ob_gemm(b, 2, 1);
    m = must_load(b);
    assert_int_equal(fr_model_score_bins(m, &edges, &p), 2);
    assert_true(edges[0] == -3.0 && p[0] == 0.0 && p[1] == 1.0);
    fr_model_free(m);
    /* absent: no drift metric */
    b = ob_new(2);
    ob_gemm(b, 2, 1);
    m = must_load(b);
    assert_int_equal(fr_model_score_bins(m, &edges, &p), 0);
    fr_model_free(m);
}

/* every malformed fraudd.score_histogram is refused at load, the error
 * naming the key and what is wrong */
static void malformed_score_histogram_is_refused_naming_the_key(void **state) {
    (void)state;
    char many[2048], many_edges[1024];
    size_t n = 0, ne = 0;
    n += (size_t)snprintf(many + n, sizeof many - n, "{\"counts\": [");
    for (int i = 0; i < 65; i++) n += (size_t)snprintf(many + n, sizeof many - n, "%s1", i ? "," : "");
    for (int i = 0; i < 64; i++)
        ne += (size_t)snprintf(many_edges + ne, sizeof many_edges - ne, "%s%d", i ? "," : "", i);
    snprintf(many + n, sizeof many - n, "], \"edges\": [%s]}", many_edges);
    static const struct {
        const char *value, *why;
    } bad[] = {
        {"not json", "expected a JSON object"},
        {"[1, 2]", "expected a JSON object"},
        {"{\"counts\": [1, 2]}", "expected arrays \"edges\" and \"counts\""},
        {"{\"edges\": [1], \"counts\": 3}", "expected arrays \"edges\" and \"counts\""},
        {"{\"edges\": [1], \"counts\": [1, 2], \"source\": 5}", "\"source\" must be a string"},
        {"{\"edges\": [], \"counts\": [5]}", "1 counts, expected 2 to 64 bins"},
        {"{\"edges\": [1, 2], \"counts\": [1, 2]}", "2 edges for 2 counts, expected 1"},
        {"{\"edges\": [1], \"counts\": [1, 2, 3]}", "1 edges for 3 counts, expected 2"},
        {"{\"edges\": [1, \"2\"], \"counts\": [1, 2, 3]}", "edges[1]: expected a finite number"},
        {"{\"edges\": [1, 1], \"counts\": [1, 2, 3]}", "edges[1] = 1: expected more than edges[0] = 1"},
        {"{\"edges\": [2, 1], \"counts\": [1, 2, 3]}", "strictly increasing"},
        {"{\"edges\": [1e999], \"counts\": [1, 2]}", "expected a JSON object"}, /* jansson refuses the overflow */
        {"{\"edges\": [1], \"counts\": [1, -2]}", "counts[1]: expected a non-negative integer"},
        {"{\"edges\": [1], \"counts\": [1.5, 2]}", "counts[0]: expected a non-negative integer"},
        {"{\"edges\": [1], \"counts\": [0, 0]}", "the counts sum to 0"},
        {NULL, "65 counts, expected 2 to 64 bins"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ob_model *b = ob_new(2);
        ob_meta(b, "fraudd.score_histogram", bad[i].value ? bad[i].value : many);
        ob_gemm(b, 2, 1);
        const char *needles[] = {"metadata 'fraudd.score_histogram'", bad[i].why, NULL};
        expect_refusal(b, FR_EMODEL, needles);
    }
}

static void embedded_default_model_loads(void **state) {
    (void)state;
    fr_model *m = NULL;
    assert_int_equal(fr_model_load_default(&m, err, sizeof err), 0);
    assert_int_equal(fr_model_n_features(m), 29);
    assert_int_equal(fr_model_get_kind(m), FR_MODEL_AUTOENCODER);
    assert_true(isfinite(fr_model_threshold(m)) && fr_model_threshold(m) > 0);
    assert_string_equal(fr_model_feature_name(m, 28), "Amount");
    assert_int_equal(fr_model_feature_log1p(m, 28), 1);
    fr_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(standardise_dense_batchnorm_leaky_fold_into_one_layer),
        cmocka_unit_test(affine_only_graph_computes_by_hand_values),
        cmocka_unit_test(constant_minus_tensor_and_matmul_add_are_supported),
        cmocka_unit_test(unsupported_op_is_refused_naming_node_and_op),
        cmocka_unit_test(weight_shape_mismatch_is_refused_with_expected_width),
        cmocka_unit_test(branching_graph_is_refused),
        cmocka_unit_test(division_by_the_tensor_is_refused),
        cmocka_unit_test(training_mode_batchnorm_is_refused),
        cmocka_unit_test(transposed_input_gemm_is_refused),
        cmocka_unit_test(output_width_neither_input_nor_one_is_refused),
        cmocka_unit_test(truncated_and_garbage_files_are_refused),
        cmocka_unit_test(missing_feature_metadata_is_refused),
        cmocka_unit_test(metadata_threshold_defaults_weights_log1p_are_read),
        cmocka_unit_test(bad_threshold_metadata_is_refused),
        cmocka_unit_test(score_histogram_is_read_as_edges_and_shares),
        cmocka_unit_test(malformed_score_histogram_is_refused_naming_the_key),
        cmocka_unit_test(embedded_default_model_loads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
