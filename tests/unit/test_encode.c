/* Proves the result encoder (include/fraudd/encode.h, src/encode/):
 *  - fr_fmt_float / fr_fmt_double: the text reads back (strtof/strtod) to the
 *    identical value (bit for bit, -0 included) for 300,000 random bit patterns
 *    of each width, uses no more digits than needed, is a valid JSON number,
 *    and is `null` for NaN/Inf;
 *  - fr_json_quote: every byte value escaped as documented, jansson reads the
 *    text back to the original bytes, and no capacity short of the need
 *    succeeds or writes past cap;
 *  - fr_result_encode_parts: exact expected text for hand-built results
 *    (autoencoder with passthrough and outputs, scorer without), valid JSON
 *    whose values equal the inputs over random results, 0 and no write past
 *    cap for every cap from 0 to the length needed;
 *  - fr_result_encode: the same text as the parts function given the default
 *    model's accessors;
 *  - fr_result_prep_encode (the scorer's path): the same text as the parts
 *    function, and the same 0 for short buffers.
 */
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fraudd/encode.h"
#include "fraudd/model.h"

static uint64_t splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Significant digits in a number's text: mantissa digits without leading
 * or trailing zeros ("0.05" -> 1, "100" -> 1, "1.25e-7" -> 3). */
static int sig_digits(const char *s) {
    int n = 0, zeros = 0, started = 0;
    for (; *s && *s != 'e'; s++) {
        if (*s < '0' || *s > '9') continue;
        if (*s != '0') started = 1;
        if (!started) continue;
        n++;
        zeros = *s == '0' ? zeros + 1 : 0;
    }
    return n - zeros;
}

static int reads_back(const char *t, double v, int is_float) {
    if (is_float) {
        float f = strtof(t, NULL), w = (float)v;
        return memcmp(&f, &w, 4) == 0;
    }
    double d = strtod(t, NULL);
    return memcmp(&d, &v, 8) == 0;
}

/* txt (the formatter's text of v) is as short as possible: no scientific
 * text with fewer digits round-trips, it is no longer than the shortest one
 * that does, and a text with a fraction or an exponent has no superfluous
 * digit (integers in fixed notation print all their digits, by design of
 * to_chars: "659479424", not "6.5947942e+08"). */
static void check_shortest(const char *txt, double v, int is_float) {
    char t[320];
    int p = 1;
    for (; p <= 17; p++) {
        snprintf(t, sizeof t, "%.*e", p - 1, v);
        if (reads_back(t, v, is_float)) break;
    }
    if (strlen(txt) > strlen(t)) fail_msg("'%s' is longer than '%s', which reads back too", txt, t);
    int d = sig_digits(txt);
    if ((strchr(txt, '.') || strchr(txt, 'e')) && d != p)
        fail_msg("'%s' has %d significant digits; %d are enough ('%s')", txt, d, p, t);
}

/* Valid JSON, and an integer-looking text is below 2^53 (exact in a double,
 * fits every reader's int64). */
static void assert_valid_json_number(const char *txt) {
    if (!strpbrk(txt, ".e")) assert_true(fabs(strtod(txt, NULL)) < 9007199254740992.0);
    json_error_t e;
    json_t *j = json_loads(txt, JSON_DECODE_ANY, &e);
    if (!j) fail_msg("not a JSON number: '%s' (%s)", txt, e.text);
    assert_true(json_is_number(j));
    json_decref(j);
}

static void floats_round_trip_bit_exactly(void **state) {
    (void)state;
    uint64_t seed = 20261124;
    char b[40];
    int minimal_checked = 0;
    for (int i = 0; i < 300000; i++) {
        uint32_t bits = (uint32_t)splitmix(&seed);
        float f;
        memcpy(&f, &bits, 4);
        memset(b, 'x', sizeof b);
        size_t n = fr_fmt_float(b, f);
        assert_true(n > 0 && n <= 24);
        assert_null(memchr(b, 0, n)); /* no NUL */
        for (size_t k = 32; k < sizeof b; k++) assert_int_equal(b[k], 'x'); /* nothing past the 32 bytes */
        b[n] = 0;
        if (!isfinite(f)) {
            assert_string_equal(b, "null");
            continue;
        }
        char *end;
        float back = strtof(b, &end);
        assert_ptr_equal(end, b + n);
        if (memcmp(&back, &f, 4) != 0) fail_msg("float %a printed as '%s' reads back as %a", (double)f, b, (double)back);
        if (i % 16 == 0) {
            check_shortest(b, (double)f, 1);
            minimal_checked++;
        }
        assert_valid_json_number(b);
    }
    assert_true(minimal_checked > 15000);
}

static void doubles_round_trip_bit_exactly(void **state) {
    (void)state;
    uint64_t seed = 7;
    char b[40];
    for (int i = 0; i < 300000; i++) {
        uint64_t bits = splitmix(&seed);
        double d;
        memcpy(&d, &bits, 8);
        memset(b, 'x', sizeof b);
        size_t n = fr_fmt_double(b, d);
        assert_true(n > 0 && n <= 24);
        assert_int_equal(b[n], 'x');
        b[n] = 0;
        if (!isfinite(d)) {
            assert_string_equal(b, "null");
            continue;
        }
        char *end;
        double back = strtod(b, &end);
        assert_ptr_equal(end, b + n);
        if (memcmp(&back, &d, 8) != 0) fail_msg("double %a printed as '%s' reads back as %a", d, b, back);
        if (i % 16 == 0) check_shortest(b, d, 0);
        assert_valid_json_number(b);
    }
    /* values in the range results actually carry */
    for (int i = 0; i < 100000; i++) {
        double d = (double)(splitmix(&seed) >> 11) * 0x1.0p-53 * 20.0;
        size_t n = fr_fmt_double(b, d);
        b[n] = 0;
        assert_true(strtod(b, NULL) == d);
        float f = (float)(d - 10);
        n = fr_fmt_float(b, f);
        b[n] = 0;
        assert_true(strtof(b, NULL) == f);
    }
}

static void special_numbers(void **state) {
    (void)state;
    static const struct {
        double v;
        const char *want;
    } dv[] = {{0.0, "0"}, {-0.0, "-0"}, {0.1, "0.1"}, {1.0, "1"}, {-2.5, "-2.5"}, {100.0, "100"},
              {8.605756637167362, "8.605756637167362"}, {1e300, "1e+300"}, {5e-324, "5e-324"},
              {DBL_MAX, "1.7976931348623157e+308"}, {NAN, "null"}, {INFINITY, "null"}, {-INFINITY, "null"},
              /* integers stay below 2^53; above, the exponent form (plain to_chars would
               * print 1344807993900726484992, too big for int64 JSON readers) */
              {9007199254740991.0, "9007199254740991"}, {9007199254740992.0, "9.007199254740992e+15"},
              {1.3448079939007265e21, "1.3448079939007265e+21"}, {-1e17, "-1e+17"}};
    char b[40];
    for (size_t i = 0; i < sizeof dv / sizeof dv[0]; i++) {
        size_t n = fr_fmt_double(b, dv[i].v);
        b[n] = 0;
        assert_string_equal(b, dv[i].want);
    }
    static const struct {
        float v;
        const char *want;
    } fv[] = {{0.1f, "0.1"}, {-0.0f, "-0"}, {3.0f, "3"}, {1.25f, "1.25"}, {FLT_MAX, "3.4028235e+38"},
              {1e-45f, "1e-45"}, {16777216.0f, "16777216"}, {-NAN, "null"}, {INFINITY, "null"}};
    for (size_t i = 0; i < sizeof fv / sizeof fv[0]; i++) {
        size_t n = fr_fmt_float(b, fv[i].v);
        b[n] = 0;
        assert_string_equal(b, fv[i].want);
    }
}

/* ---- fr_json_quote ---- */

static void every_byte_is_escaped_as_documented(void **state) {
    (void)state;
    char b[16];
    for (int c = 0; c < 256; c++) {
        char in = (char)c;
        size_t n = fr_json_quote(b, sizeof b, &in, 1);
        b[n] = 0;
        char want[16];
        switch (c) {
        case '"': strcpy(want, "\"\\\"\""); break;
        case '\\': strcpy(want, "\"\\\\\""); break;
        case '\b': strcpy(want, "\"\\b\""); break;
        case '\f': strcpy(want, "\"\\f\""); break;
        case '\n': strcpy(want, "\"\\n\""); break;
        case '\r': strcpy(want, "\"\\r\""); break;
        case '\t': strcpy(want, "\"\\t\""); break;
        default:
            if (c < 0x20) snprintf(want, sizeof want, "\"\\u%04x\"", c);
            else {
                want[0] = '"';
                want[1] = (char)c; /* >= 0x80 copied as is */
                want[2] = '"';
                want[3] = 0;
            }
        }
        if (strlen(want) != n || memcmp(b, want, n) != 0) fail_msg("byte 0x%02x quoted as '%s', want '%s'", c, b, want);
    }
    assert_int_equal(fr_json_quote(b, sizeof b, "", 0), 2);
    assert_memory_equal(b, "\"\"", 2);
}

static void quoted_text_reads_back_with_jansson(void **state) {
    (void)state;
    /* every ASCII byte including NUL, then valid UTF-8 (copied raw) */
    char in[128 + 16];
    size_t len = 0;
    for (int c = 0; c < 128; c++) in[len++] = (char)c;
    const char utf8[] = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x92\xb3"; /* é € 💳 */
    memcpy(in + len, utf8, sizeof utf8 - 1);
    len += sizeof utf8 - 1;
    char out[1024];
    size_t n = fr_json_quote(out, sizeof out, in, len);
    assert_true(n > len);
    for (size_t i = 0; i < n; i++) assert_true((unsigned char)out[i] >= 0x20); /* no raw control chars */
    json_error_t e;
    json_t *j = json_loadb(out, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!j) fail_msg("jansson: %s", e.text);
    assert_int_equal(json_string_length(j), len);
    assert_memory_equal(json_string_value(j), in, len);
    json_decref(j);
}

static void quote_never_writes_past_cap(void **state) {
    (void)state;
    const char in[] = "ab\"c\\\x01\n\xc3\xa9 plain text run \x1f";
    size_t len = sizeof in - 1;
    char full[256];
    size_t need = fr_json_quote(full, sizeof full, in, len);
    assert_true(need > len);
    for (size_t cap = 0; cap <= need + 2; cap++) {
        char *b = malloc(cap ? cap : 1); /* exact size: ASan catches any write past cap */
        size_t n = fr_json_quote(b, cap, in, len);
        if (cap < need) assert_int_equal(n, 0);
        else {
            assert_int_equal(n, need);
            assert_memory_equal(b, full, need);
        }
        free(b);
        /* and with a guard region, for builds without ASan */
        char g[300];
        memset(g, 0x5a, sizeof g);
        fr_json_quote(g, cap, in, len);
        for (size_t i = cap; i < sizeof g; i++) assert_int_equal((unsigned char)g[i], 0x5a);
    }
}

/* ---- fr_result_encode_parts ---- */

static const char *const names[] = {"a", "b", "c", "d", "we\"ird\n"};

typedef struct example {
    const char *const *pt_names;
    fr_encode_opts o;
    fr_slice pt[3];
    fr_score s;
    float raw[5], y[5];
    double threshold;
    const char *version;
} example;

/* autoencoder result: passthrough (one absent, one nested), three top
 * features (one name needing escapes), outputs */
static example autoencoder_example(int emit) {
    static const char *const ptn[] = {"id", "absent", "meta.card"};
    example x = {
        .pt_names = ptn,
        .o = {ptn, 3, emit},
        .pt = {{"\"tx-1\"", 6}, {NULL, 0}, {"{\"k\":[1,2]}", 11}},
        .s = {.score = 3.5, .is_fraud = 1, .n_top = 3, .top_idx = {2, 4, 1}, .top_err = {9, 4, 0.1f}},
        .raw = {0.5f, -1.25f, 3, 0, 1e-7f},
        .y = {1, 1, 3, 0.1f, -0.0f},
        .threshold = 2.0,
        .version = "v\"1",
    };
    return x;
}

static size_t encode(const example *x, char *dst, size_t cap) {
    return fr_result_encode_parts(dst, cap, x->version, names, 5, &x->o, &x->s, x->threshold, x->raw, x->y, x->pt);
}

static void exact_text_of_an_autoencoder_result(void **state) {
    (void)state;
    example x = autoencoder_example(1);
    char b[1024];
    size_t n = encode(&x, b, sizeof b);
    assert_true(n > 0);
    b[n] = 0;
    assert_string_equal(b, "{\"id\":\"tx-1\",\"meta.card\":{\"k\":[1,2]},\"score\":3.5,\"threshold\":2,\"is_fraud\":true,"
                           "\"model_version\":\"v\\\"1\",\"top_features\":[{\"name\":\"c\",\"value\":3,\"error\":9},"
                           "{\"name\":\"we\\\"ird\\n\",\"value\":1e-07,\"error\":4},{\"name\":\"b\",\"value\":-1.25,"
                           "\"error\":0.1}],\"output\":[1,1,3,0.1,-0]}");
    x.o.emit_output = 0;
    x.s.is_fraud = 0;
    n = encode(&x, b, sizeof b);
    b[n] = 0;
    assert_non_null(strstr(b, "\"is_fraud\":false,"));
    assert_null(strstr(b, "output"));
    assert_int_equal(b[n - 1], '}');
    assert_int_equal(b[n - 2], ']');
}

static void exact_text_of_a_scorer_result(void **state) {
    (void)state;
    /* no passthrough present, no top features, NaN score becomes null */
    static const char *const ptn[] = {"id"};
    fr_encode_opts o = {ptn, 1, 1};
    fr_slice pt[1] = {{NULL, 0}};
    fr_score s = {.score = 0.25, .is_fraud = 0, .n_top = 0};
    float y[1] = {0.25f};
    char b[256];
    size_t n = fr_result_encode_parts(b, sizeof b, "scorer-2", names, 1, &o, &s, 0.5, NULL, y, pt);
    b[n] = 0;
    assert_string_equal(b, "{\"score\":0.25,\"threshold\":0.5,\"is_fraud\":false,\"model_version\":\"scorer-2\","
                           "\"top_features\":[],\"output\":[0.25]}");
    fr_encode_opts none = {NULL, 0, 0};
    s.score = NAN;
    n = fr_result_encode_parts(b, sizeof b, "", names, 1, &none, &s, 0.5, NULL, y, NULL);
    b[n] = 0;
    assert_string_equal(b, "{\"score\":null,\"threshold\":0.5,\"is_fraud\":false,\"model_version\":\"\","
                           "\"top_features\":[]}");
}

static void every_short_capacity_fails_without_overflow(void **state) {
    (void)state;
    for (int emit = 0; emit <= 1; emit++) {
        example x = autoencoder_example(emit);
        char full[1024];
        size_t need = encode(&x, full, sizeof full);
        assert_true(need > 100);
        for (size_t cap = 0; cap <= need; cap++) {
            char *b = malloc(cap ? cap : 1); /* exact size: ASan catches any write past cap */
            size_t n = encode(&x, b, cap);
            if (cap < need) assert_int_equal(n, 0);
            else {
                assert_int_equal(n, need);
                assert_memory_equal(b, full, need);
            }
            free(b);
            char g[1100];
            memset(g, 0x5a, sizeof g);
            encode(&x, g, cap);
            for (size_t i = cap; i < sizeof g; i++) assert_int_equal((unsigned char)g[i], 0x5a);
        }
        assert_int_equal(encode(&x, NULL, 0), 0);
    }
}

/* Position of "key": in text, or -1. */
static long key_pos(const char *text, const char *key) {
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(text, k);
    return p ? p - text : -1;
}

static void random_results_are_valid_json_with_the_same_values(void **state) {
    (void)state;
    static const char *const feat[] = {"V1", "V2", "V3", "Amount", "card.amount", "x\\y"};
    static const char *const ptn[] = {"id", "user"};
    uint64_t seed = 42;
    char b[2048];
    for (int it = 0; it < 5000; it++) {
        uint64_t r = splitmix(&seed);
        fr_score s = {0};
        s.score = (double)(splitmix(&seed) >> 11) * 0x1.0p-53 * pow(10, (int)(r % 9) - 4);
        s.is_fraud = (int)(r >> 8 & 1);
        s.n_top = (int)(r >> 9 & 3);
        float raw[6], y[6];
        for (int f = 0; f < 6; f++) {
            uint32_t bits = (uint32_t)splitmix(&seed);
            memcpy(&raw[f], &bits, 4);
            if (!isfinite(raw[f])) raw[f] = 1.5f; /* the encoder never receives non-finite features */
            y[f] = (float)((double)(splitmix(&seed) >> 40) / 3e3);
        }
        for (int k = 0; k < s.n_top; k++) {
            s.top_idx[k] = (uint32_t)(splitmix(&seed) % 6);
            s.top_err[k] = (float)((double)(splitmix(&seed) >> 11) * 0x1.0p-53 * 100);
        }
        char id[40];
        int il = snprintf(id, sizeof id, "\"tx-%020d\"", it);
        fr_slice pt[2] = {{id, (size_t)il}, {(r >> 12 & 1) ? "[true,null,\"\\u00e9\"]" : NULL, 20}};
        fr_encode_opts o = {ptn, 2, (int)(r >> 13 & 1)};
        double thr = (double)(r >> 20) * 0x1.0p-44;
        size_t n = fr_result_encode_parts(b, sizeof b, "ulb-ae-1.0.0", feat, 6, &o, &s, thr, raw, y, pt);
        assert_true(n > 0 && n < sizeof b);
        b[n] = 0;
        json_error_t e;
        json_t *j = json_loads(b, 0, &e);
        if (!j) fail_msg("invalid JSON (%s): %s", e.text, b);
        assert_int_equal(json_string_length(json_object_get(j, "id")), (size_t)il - 2);
        assert_memory_equal(json_string_value(json_object_get(j, "id")), id + 1, (size_t)il - 2);
        assert_int_equal(json_object_get(j, "user") != NULL, pt[1].ptr != NULL);
        assert_true(json_number_value(json_object_get(j, "score")) == s.score);
        assert_true(json_number_value(json_object_get(j, "threshold")) == thr);
        assert_true(json_is_boolean(json_object_get(j, "is_fraud")) &&
                    json_is_true(json_object_get(j, "is_fraud")) == (s.is_fraud != 0));
        assert_string_equal(json_string_value(json_object_get(j, "model_version")), "ulb-ae-1.0.0");
        json_t *top = json_object_get(j, "top_features");
        assert_int_equal(json_array_size(top), (size_t)s.n_top);
        for (int k = 0; k < s.n_top; k++) {
            json_t *t = json_array_get(top, (size_t)k);
            assert_string_equal(json_string_value(json_object_get(t, "name")), feat[s.top_idx[k]]);
            assert_true((float)json_number_value(json_object_get(t, "value")) == raw[s.top_idx[k]]);
            assert_true((float)json_number_value(json_object_get(t, "error")) == s.top_err[k]);
        }
        json_t *out = json_object_get(j, "output");
        if (o.emit_output) {
            assert_int_equal(json_array_size(out), 6);
            for (size_t f = 0; f < 6; f++) assert_true((float)json_number_value(json_array_get(out, f)) == y[f]);
        } else assert_null(out);
        /* key order */
        long p_id = key_pos(b, "id"), p_score = key_pos(b, "score"), p_thr = key_pos(b, "threshold"),
             p_fr = key_pos(b, "is_fraud"), p_ver = key_pos(b, "model_version"), p_top = key_pos(b, "top_features");
        assert_true(p_id == 1 && p_id < p_score && p_score < p_thr && p_thr < p_fr && p_fr < p_ver && p_ver < p_top);
        if (pt[1].ptr) assert_true(key_pos(b, "user") < p_score);
        json_decref(j);
    }
}

/* fr_result_prep_encode (constant text prepared once, the scorer's path)
 * writes exactly what fr_result_encode_parts writes: random results (every
 * n_top, verdict, passthrough present or not, with and without outputs,
 * NaN/Inf numbers), names and versions that need escaping, and every
 * capacity from 0 to the bound the prepared encoder asks for, with nothing
 * written at or past cap. */
static void prepared_encoder_writes_what_the_reference_writes(void **state) {
    (void)state;
    static const char *const feat[] = {"V1", "we\"ird\n", "V3", "Amount", "card.amount", "x\\y"};
    static const char *const ptn[] = {"id", "u\tser", "meta.card"};
    static const char *const versions[] = {"ulb-ae-1.2.0", "v\"1\\", "", "\x01\x1f\xc3\xa9"};
    uint64_t seed = 7;
    char a[4096], b[4096];
    for (int it = 0; it < 20000; it++) {
        uint64_t r = splitmix(&seed);
        fr_score s = {0};
        s.score = (r & 0xf) == 0 ? NAN : (r & 0xf) == 1 ? INFINITY : (double)(splitmix(&seed) >> 11) * 0x1.0p-40;
        s.is_fraud = (int)(r >> 8 & 1);
        s.n_top = (int)(r >> 9 & 3);
        float raw[6], y[6];
        for (int f = 0; f < 6; f++) {
            uint32_t bits = (uint32_t)splitmix(&seed);
            memcpy(&raw[f], &bits, 4);
            memcpy(&y[f], &bits, 4);
            y[f] = -y[f];
        }
        for (int k = 0; k < s.n_top; k++) {
            s.top_idx[k] = (uint32_t)(splitmix(&seed) % 6);
            uint32_t bits = (uint32_t)splitmix(&seed);
            memcpy(&s.top_err[k], &bits, 4);
        }
        fr_slice pt[3] = {{(r >> 12 & 1) ? "\"tx-1\"" : NULL, 6},
                          {(r >> 13 & 1) ? "[true,null,\"\\u00e9\"]" : NULL, 20},
                          {(r >> 14 & 1) ? "{\"k\":1}" : NULL, 7}};
        fr_encode_opts o = {ptn, (size_t)(r >> 15 & 3), (int)(r >> 17 & 1)};
        double thr = (r >> 18 & 7) == 0 ? NAN : (double)(r >> 20) * 0x1.0p-44;
        const char *ver = versions[r >> 21 & 3];
        fr_result_prep *p = fr_result_prep_new(ver, feat, 6, 6, &o, thr);
        assert_non_null(p);
        size_t nb = fr_result_encode_parts(b, sizeof b, ver, feat, 6, &o, &s, thr, raw, y, pt);
        size_t na = fr_result_prep_encode(p, a, sizeof a, &s, raw, y, pt);
        assert_true(nb > 0);
        if (na != nb || memcmp(a, b, na) != 0) fail_msg("prepared:  %.*s\nreference: %.*s", (int)na, a, (int)nb, b);
        /* capacities around the bound, and a few small ones */
        size_t need = fr_result_prep_need(p);
        for (size_t k = 0; k < o.np; k++) need += pt[k].ptr ? pt[k].len : 0;
        size_t caps[] = {0, 1, nb - 1, nb, nb + 1, need - 1, need, need + 1};
        for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) {
            size_t cap = caps[c];
            memset(a, 0x5a, sizeof a);
            na = fr_result_prep_encode(p, a, cap, &s, raw, y, pt);
            if (cap < nb) assert_int_equal(na, 0);
            else {
                assert_int_equal(na, nb);
                assert_memory_equal(a, b, nb);
            }
            for (size_t i = cap; i < sizeof a; i++) assert_int_equal((unsigned char)a[i], 0x5a);
        }
        fr_result_prep_free(p);
    }
}

static void model_wrapper_reads_the_model_accessors(void **state) {
    (void)state;
    fr_model *m;
    char err[256];
    if (fr_model_load_default(&m, err, sizeof err) != 0) fail_msg("default model: %s", err);
    size_t nf = fr_model_n_features(m), no = fr_model_n_outputs(m);
    assert_true(nf >= 3 && no >= 1 && nf <= 64 && no <= 64);
    float raw[64], y[64];
    for (size_t i = 0; i < 64; i++) {
        raw[i] = (float)i * 0.5f - 3;
        y[i] = (float)i * 0.25f;
    }
    fr_score s = {.score = 12.25, .is_fraud = 1, .n_top = 3, .top_idx = {(uint32_t)nf - 1, 0, 1}, .top_err = {7, 2, 1}};
    static const char *const ptn[] = {"id"};
    fr_slice pt[1] = {{"\"x\"", 3}};
    fr_encode_opts o = {ptn, 1, 1};
    char a[4096], b[4096];
    size_t na = fr_result_encode(a, sizeof a, m, &o, &s, 8.5, raw, y, pt);
    size_t nb = fr_result_encode_parts(b, sizeof b, fr_model_version(m), fr_model_feature_names(m), no, &o, &s, 8.5,
                                       raw, y, pt);
    assert_true(na > 0);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    a[na] = 0;
    char want[128];
    snprintf(want, sizeof want, "\"top_features\":[{\"name\":\"%s\",", fr_model_feature_name(m, nf - 1));
    assert_non_null(strstr(a, want));
    fr_model_free(m);
}

/* The shadow result: the champion's object with "challenger" as its last
 * key, holding the challenger's result or its reject reason; exactly the
 * bytes promised, within FR_SHADOW_EXTRA. */
static void a_shadow_result_nests_the_challenger_as_the_last_key(void **state) {
    (void)state;
    const char *a = "{\"id\":\"t1\",\"score\":0.5,\"is_fraud\":false}";
    const char *b = "{\"score\":7,\"is_fraud\":true}";
    char dst[256];
    memset(dst, 'x', sizeof dst);
    size_t l = fr_result_with_challenger(dst, a, strlen(a), b, strlen(b), NULL);
    const char *want = "{\"id\":\"t1\",\"score\":0.5,\"is_fraud\":false,\"challenger\":{\"score\":7,\"is_fraud\":true}}";
    assert_int_equal(l, strlen(want));
    assert_memory_equal(dst, want, l);
    assert_true(l <= strlen(a) + strlen(b) + FR_SHADOW_EXTRA);
    assert_int_equal(dst[l], 'x'); /* nothing past the length */
    memset(dst, 'x', sizeof dst);
    l = fr_result_with_challenger(dst, a, strlen(a), NULL, 0, "missing_feature");
    want = "{\"id\":\"t1\",\"score\":0.5,\"is_fraud\":false,\"challenger\":{\"reject\":\"missing_feature\"}}";
    assert_int_equal(l, strlen(want));
    assert_memory_equal(dst, want, l);
    assert_true(l <= strlen(a) + FR_SHADOW_EXTRA);
    json_error_t e;
    json_t *j = json_loadb(dst, l, 0, &e);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "challenger"), "reject")), "missing_feature");
    json_decref(j);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(floats_round_trip_bit_exactly),
        cmocka_unit_test(doubles_round_trip_bit_exactly),
        cmocka_unit_test(special_numbers),
        cmocka_unit_test(every_byte_is_escaped_as_documented),
        cmocka_unit_test(quoted_text_reads_back_with_jansson),
        cmocka_unit_test(quote_never_writes_past_cap),
        cmocka_unit_test(exact_text_of_an_autoencoder_result),
        cmocka_unit_test(exact_text_of_a_scorer_result),
        cmocka_unit_test(every_short_capacity_fails_without_overflow),
        cmocka_unit_test(random_results_are_valid_json_with_the_same_values),
        cmocka_unit_test(prepared_encoder_writes_what_the_reference_writes),
        cmocka_unit_test(model_wrapper_reads_the_model_accessors),
        cmocka_unit_test(a_shadow_result_nests_the_challenger_as_the_last_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
