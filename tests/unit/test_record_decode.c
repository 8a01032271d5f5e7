/* Proves the record decoder's rules (include/fraudd/record.h): what is read,
 * what is rejected and why, and that padded and unpadded input agree. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fraudd/record.h"

static fr_record_schema *schema;
static fr_decoder *dec;
static float f[4];
static fr_slice pt[2];
static char reason[256];

/* features: a, b, card.amount (default 7), card.geo.lat; passthrough: id, meta */
static int setup(void **state) {
    (void)state;
    const char *names[] = {"a", "b", "card.amount", "card.geo.lat"};
    float defs[] = {0, 0, 7, 0};
    uint8_t has[] = {0, 0, 1, 0};
    const char *pass[] = {"id", "meta"};
    char err[256];
    assert_int_equal(fr_record_schema_new(names, 4, defs, has, pass, 2, &schema, err, sizeof err), 0);
    dec = fr_decoder_new(schema, 4096);
    assert_non_null(dec);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    fr_decoder_free(dec);
    fr_record_schema_free(schema);
    return 0;
}

static fr_reject dec_str(const char *s) {
    memset(f, 0xff, sizeof f);
    return fr_decoder_decode(dec, s, strlen(s), 0, f, pt, reason, sizeof reason);
}

static void expect_reject(const char *json, fr_reject want, const char *needle) {
    fr_reject r = dec_str(json);
    if (r != want) print_error("%s: got %s (%s)\n", json, fr_reject_name(r), reason);
    assert_int_equal(r, want);
    if (needle && !strstr(reason, needle)) print_error("'%s' not in '%s'\n", needle, reason);
    if (needle) assert_non_null(strstr(reason, needle));
}

static void numbers_and_numeric_strings_are_read(void **state) {
    (void)state;
    assert_int_equal(dec_str("{\"a\": 1.5, \"b\": \"-2e3\", \"card\": {\"amount\": 3, \"geo\": {\"lat\": \"0.25\"}}}"),
                     FR_REJ_NONE);
    assert_true(f[0] == 1.5f && f[1] == -2000.0f && f[2] == 3.0f && f[3] == 0.25f);
}

static void fields_in_any_order_and_unknown_fields_are_skipped(void **state) {
    (void)state;
    assert_int_equal(dec_str("{\"x\":[1,{\"a\":9}],\"card\":{\"geo\":{\"lat\":1},\"zz\":\"q\"},\"b\":2,\"y\":null,\"a\":3}"),
                     FR_REJ_NONE);
    assert_true(f[0] == 3 && f[1] == 2 && f[2] == 7 && f[3] == 1);
}

static void missing_feature_with_default_takes_the_default(void **state) {
    (void)state;
    assert_int_equal(dec_str("{\"a\":1,\"b\":2,\"card\":{\"geo\":{\"lat\":1}}}"), FR_REJ_NONE);
    assert_true(f[2] == 7.0f);
    assert_int_equal(dec_str("{\"a\":1,\"b\":2,\"card\":{\"amount\":null,\"geo\":{\"lat\":1}}}"), FR_REJ_NONE);
    assert_true(f[2] == 7.0f);
}

static void missing_feature_without_default_is_rejected(void **state) {
    (void)state;
    expect_reject("{\"a\":1,\"card\":{\"geo\":{\"lat\":1}}}", FR_REJ_MISSING, "\"b\" is missing");
    /* a nested object that is not an object counts as missing below it */
    expect_reject("{\"a\":1,\"b\":2,\"card\":5}", FR_REJ_MISSING, "card.geo.lat");
}

static void null_feature_without_default_is_rejected(void **state) {
    (void)state;
    expect_reject("{\"a\":null,\"b\":2,\"card\":{\"geo\":{\"lat\":1}}}", FR_REJ_NULL, "\"a\" is null");
}

static void wrong_types_are_rejected_naming_the_feature(void **state) {
    (void)state;
    const char *base = ",\"b\":2,\"card\":{\"geo\":{\"lat\":1}}}";
    const char *vals[] = {"true", "[1]", "{\"v\":1}", "\"abc\"", "\"\"", "\" 1\"", "\"1 \"", "\"0x10\"", "\"1e\""};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        char j[256];
        snprintf(j, sizeof j, "{\"a\":%s%s", vals[i], base);
        expect_reject(j, FR_REJ_TYPE, "feature \"a\"");
    }
}

static void nan_infinite_and_out_of_range_are_rejected(void **state) {
    (void)state;
    const char *base = ",\"b\":2,\"card\":{\"geo\":{\"lat\":1}}}";
    const char *vals[] = {"\"NaN\"", "\"inf\"", "\"-Infinity\"", "1e400", "\"1e39\"", "-3.5e38"};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        char j[256];
        snprintf(j, sizeof j, "{\"a\":%s%s", vals[i], base);
        fr_reject r = dec_str(j);
        if (r != FR_REJ_NONFINITE && r != FR_REJ_TYPE) print_error("%s -> %s\n", j, fr_reject_name(r));
        assert_true(r == FR_REJ_NONFINITE || r == FR_REJ_TYPE); /* NaN/Inf words are not numbers */
        assert_true(r == FR_REJ_NONFINITE || strstr(vals[i], "n") || strstr(vals[i], "N"));
    }
}

static void malformed_json_is_rejected(void **state) {
    (void)state;
    expect_reject("", FR_REJ_NOT_JSON, "not valid JSON");
    expect_reject("{\"a\":1,\"b\":", FR_REJ_NOT_JSON, "not valid JSON");
    expect_reject("{\"a\":1,\"b\":2,\"card\":{\"geo\":{\"lat\":1}}} trailing", FR_REJ_NOT_JSON, "not valid JSON");
    expect_reject("{\"a\":1,\"b\":2,\"card\":{\"geo\":{\"lat\":1}}} {}", FR_REJ_NOT_JSON, "not valid JSON");
    expect_reject("{\"a\":1 \"b\":2}", FR_REJ_NOT_JSON, NULL);
    expect_reject("not json at all", FR_REJ_NOT_JSON, NULL);
}

static void non_object_json_is_rejected(void **state) {
    (void)state;
    expect_reject("[1,2,3]", FR_REJ_NOT_OBJECT, "expected a JSON object, got an array");
    expect_reject("42", FR_REJ_NOT_OBJECT, "got a number");
}

static void duplicate_feature_key_is_rejected(void **state) {
    (void)state;
    expect_reject("{\"a\":1,\"a\":2,\"b\":2,\"card\":{\"geo\":{\"lat\":1}}}", FR_REJ_DUPLICATE, "\"a\" appears twice");
}

static void oversized_record_is_rejected_without_parsing(void **state) {
    (void)state;
    char *big = malloc(5000);
    memset(big, ' ', 5000);
    big[0] = '{';
    big[4999] = '}';
    fr_reject r = fr_decoder_decode(dec, big, 5000, 0, f, pt, reason, sizeof reason);
    assert_int_equal(r, FR_REJ_TOO_LARGE);
    assert_non_null(strstr(reason, "5000 bytes"));
    free(big);
}

static void large_unknown_value_within_limit_is_skipped(void **state) {
    (void)state;
    char *j = malloc(4096);
    int n = snprintf(j, 4096, "{\"a\":1,\"b\":2,\"card\":{\"geo\":{\"lat\":1}},\"blob\":\"");
    memset(j + n, 'z', 3900);
    strcpy(j + n + 3900, "\"}");
    assert_int_equal(dec_str(j), FR_REJ_NONE);
    free(j);
}

static void passthrough_copies_raw_json_of_any_type(void **state) {
    (void)state;
    assert_int_equal(dec_str("{\"id\": \"tx-\\\"1\" ,\"meta\":{\"k\":[1, 2]} ,\"a\":1,\"b\":2,\"card\":{\"geo\":{\"lat\":1}}}"),
                     FR_REJ_NONE);
    assert_int_equal(pt[0].len, strlen("\"tx-\\\"1\""));
    assert_memory_equal(pt[0].ptr, "\"tx-\\\"1\"", pt[0].len);
    assert_memory_equal(pt[1].ptr, "{\"k\":[1, 2]}", pt[1].len);
    assert_int_equal(dec_str("{\"id\":12.5,\"a\":1,\"b\":2,\"card\":{\"geo\":{\"lat\":1}}}"), FR_REJ_NONE);
    assert_memory_equal(pt[0].ptr, "12.5", 4);
    assert_null(pt[1].ptr); /* absent */
}

static void invalid_passthrough_value_is_rejected_not_copied(void **state) {
    (void)state;
    /* a bad escape would make the result line invalid JSON */
    expect_reject("{\"id\":\"a\\qb\",\"a\":1,\"b\":2,\"card\":{\"geo\":{\"lat\":1}}}", FR_REJ_NOT_JSON, NULL);
}

static void escaped_keys_match_feature_names(void **state) {
    (void)state;
    assert_int_equal(dec_str("{\"\\u0061\":4,\"b\":2,\"card\":{\"geo\":{\"lat\":1}}}"), FR_REJ_NONE);
    assert_true(f[0] == 4);
}

static void padded_and_unpadded_input_agree(void **state) {
    (void)state;
    const char *j = "{\"id\":\"x\",\"a\":1.25,\"b\":\"2\",\"card\":{\"geo\":{\"lat\":-1}}}";
    size_t n = strlen(j);
    char *p = malloc(n + FR_JSON_PADDING);
    memcpy(p, j, n);
    memset(p + n, '}', FR_JSON_PADDING); /* padding content must not matter */
    float g[4];
    assert_int_equal(fr_decoder_decode(dec, p, n, 1, g, pt, reason, sizeof reason), FR_REJ_NONE);
    assert_int_equal(dec_str(j), FR_REJ_NONE);
    assert_memory_equal(f, g, sizeof g);
    free(p);
}

static void one_decoder_reuses_across_growing_records(void **state) {
    (void)state;
    char j[4096];
    for (int pad = 0; pad < 3500; pad += 97) {
        int n = snprintf(j, sizeof j, "{\"a\":%d,\"b\":2,\"card\":{\"geo\":{\"lat\":1}},\"pad\":\"", pad);
        memset(j + n, 'p', (size_t)pad);
        strcpy(j + n + pad, "\"}");
        assert_int_equal(dec_str(j), FR_REJ_NONE);
        assert_true(f[0] == (float)pad);
    }
}

static void bad_schemas_are_refused(void **state) {
    (void)state;
    fr_record_schema *s;
    char err[256];
    const char *dup[] = {"a", "a"};
    assert_int_not_equal(fr_record_schema_new(dup, 2, NULL, NULL, NULL, 0, &s, err, sizeof err), 0);
    assert_non_null(strstr(err, "twice"));
    const char *empty[] = {"a..b"};
    assert_int_not_equal(fr_record_schema_new(empty, 1, NULL, NULL, NULL, 0, &s, err, sizeof err), 0);
    assert_non_null(strstr(err, "empty segment"));
    const char *prefix[] = {"a", "a.b"};
    assert_int_not_equal(fr_record_schema_new(prefix, 2, NULL, NULL, NULL, 0, &s, err, sizeof err), 0);
}

static void realistic_ulb_record_decodes(void **state) {
    (void)state;
    const char *names[29];
    char buf[29][8];
    for (int i = 0; i < 28; i++) {
        snprintf(buf[i], 8, "V%d", i + 1);
        names[i] = buf[i];
    }
    names[28] = "Amount";
    fr_record_schema *s;
    char err[128], j[2048];
    assert_int_equal(fr_record_schema_new(names, 29, NULL, NULL, NULL, 0, &s, err, sizeof err), 0);
    fr_decoder *d = fr_decoder_new(s, 1 << 16);
    int n = snprintf(j, sizeof j, "{\"id\":\"tx-1\",\"ts\":\"2026-11-24T09:00:00.123Z\",\"card_id\":\"c-1\","
                                  "\"merchant_id\":\"m-1\",\"Time\":1");
    for (int i = 0; i < 28; i++) n += snprintf(j + n, sizeof j - (size_t)n, ",\"V%d\":%.9g", i + 1, -1.35 + 0.1 * i);
    snprintf(j + n, sizeof j - (size_t)n, ",\"Amount\":149.62}");
    float v[29];
    assert_int_equal(fr_decoder_decode(d, j, strlen(j), 0, v, NULL, NULL, 0), FR_REJ_NONE);
    assert_true(fabsf(v[0] + 1.35f) < 1e-6f && fabsf(v[27] - 1.35f) < 1e-6f && v[28] == 149.62f);
    fr_decoder_free(d);
    fr_record_schema_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(numbers_and_numeric_strings_are_read),
        cmocka_unit_test(fields_in_any_order_and_unknown_fields_are_skipped),
        cmocka_unit_test(missing_feature_with_default_takes_the_default),
        cmocka_unit_test(missing_feature_without_default_is_rejected),
        cmocka_unit_test(null_feature_without_default_is_rejected),
        cmocka_unit_test(wrong_types_are_rejected_naming_the_feature),
        cmocka_unit_test(nan_infinite_and_out_of_range_are_rejected),
        cmocka_unit_test(malformed_json_is_rejected),
        cmocka_unit_test(non_object_json_is_rejected),
        cmocka_unit_test(duplicate_feature_key_is_rejected),
        cmocka_unit_test(oversized_record_is_rejected_without_parsing),
        cmocka_unit_test(large_unknown_value_within_limit_is_skipped),
        cmocka_unit_test(passthrough_copies_raw_json_of_any_type),
        cmocka_unit_test(invalid_passthrough_value_is_rejected_not_copied),
        cmocka_unit_test(escaped_keys_match_feature_names),
        cmocka_unit_test(padded_and_unpadded_input_agree),
        cmocka_unit_test(one_decoder_reuses_across_growing_records),
        cmocka_unit_test(bad_schemas_are_refused),
        cmocka_unit_test(realistic_ulb_record_decodes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
