/* Proves the worker stage keeps every record and its order (mixed good and
 * bad records, batches larger than the model batch, arena growth), that its
 * results equal the stages run by hand, that a second model scoring from the
 * first one's decode (a shadow challenger) gets what its own run gets, and
 * the sample generator's contract
 * (deterministic, valid JSON, anomaly rate, normal records distributed as the
 * embedded rows). */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
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
#include <sys/mman.h>

#include "fraudd/err.h"
#include "fraudd/gen.h"
#include "fraudd/model.h"
#include "fraudd/scorer.h"
#include "gen/ulb_profile.h"
#include "model_variants.h"

static void scorer_keeps_order_and_every_record(void **state) {
    (void)state;
    char err[256];
    fr_model *m;
    assert_int_equal(fr_model_load_default(&m, err, sizeof err), 0);
    const char *pt[] = {"id"};
    fr_scorer_opts so = {.passthrough = pt, .np = 1, .threshold = NAN, .max_batch = 16, .max_record_bytes = 4096};
    fr_scorer *s = fr_scorer_new(m, &so, err, sizeof err);
    assert_non_null(s);
    fr_gen_opts go = {.seed = 3, .anomaly_rate = 0.2, .first_id = 1, .rate_per_s = 100};
    fr_gen *g = fr_gen_new(&go);
    enum { N = 150 };
    static char buf[N][1024];
    fr_slice rec[N];
    fr_scored out[N];
    for (int i = 0; i < N; i++) {
        rec[i].ptr = buf[i];
        rec[i].len = fr_gen_next(g, buf[i], sizeof buf[i], NULL);
        if (i % 7 == 3) rec[i].len = 10;                      /* truncated: not JSON */
        if (i % 11 == 5) rec[i].len = (size_t)snprintf(buf[i], 1024, "{\"id\":%d,\"V1\":1}", i); /* missing */
    }
    assert_int_equal(fr_scorer_run(s, rec, N, 0, out), 0);
    for (int i = 0; i < N; i++) {
        if (i % 11 == 5) {
            assert_int_equal(out[i].reject, FR_REJ_MISSING);
            continue;
        }
        if (i % 7 == 3) {
            assert_int_equal(out[i].reject, FR_REJ_NOT_JSON);
            assert_true(strlen(out[i].text) == out[i].len && out[i].len > 0);
            continue;
        }
        assert_int_equal(out[i].reject, FR_REJ_NONE);
        json_error_t e;
        json_t *j = json_loadb(out[i].text, out[i].len, 0, &e);
        assert_non_null(j);
        char want[32];
        snprintf(want, sizeof want, "tx-%020d", i + 1);
        assert_string_equal(json_string_value(json_object_get(j, "id")), want);
        assert_true(json_real_value(json_object_get(j, "score")) == out[i].score);
        json_decref(j);
    }
    fr_gen_free(g);
    fr_scorer_free(s);
    fr_model_free(m);
}

enum { IN_PLACE = FR_JSON_IN_PLACE }; /* 0 under ASan and TSan: everything is copied */

/* A record is read where it lies only when the 64 bytes after it are in the
 * same page as its last byte; the result never depends on what those bytes
 * hold, and a record that ends at a page whose next page is unmapped is
 * copied, not read past its end. */
static void scorer_reads_records_in_place_only_when_their_tail_is_readable(void **state) {
    (void)state;
    enum { PAGE = 4096 };
    /* the 4 KiB arithmetic */
    enum { PAGES = 16 };
    char *base = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(base != MAP_FAILED);
    char *end = base + (PAGES - 1) * PAGE; /* first unreadable byte: a guard page follows */
    assert_int_equal(mprotect(end, PAGE, PROT_NONE), 0);
    assert_int_equal(fr_json_tail_readable(end - 10, 10), 0);
    assert_int_equal(fr_json_tail_readable(end - 64, 64), 0);
    assert_int_equal(fr_json_tail_readable(end - 65, 1), IN_PLACE);  /* 64 bytes left: exactly enough */
    assert_int_equal(fr_json_tail_readable(end - 64 - 20, 20), IN_PLACE);
    assert_int_equal(fr_json_tail_readable(base + PAGE - 63, 10), 0); /* crosses into the next page */
    assert_int_equal(fr_json_tail_readable(base, 0), 0);

    char err[256];
    fr_model *m;
    assert_int_equal(fr_model_load_default(&m, err, sizeof err), 0);
    const char *pt[] = {"id"};
    fr_scorer_opts so = {.passthrough = pt, .np = 1, .threshold = NAN, .max_batch = 8, .max_record_bytes = 4096};
    fr_scorer *s = fr_scorer_new(m, &so, err, sizeof err);
    fr_scorer *ref = fr_scorer_new(m, &so, err, sizeof err);
    assert_non_null(s);
    assert_non_null(ref);
    fr_gen_opts go = {.seed = 5, .anomaly_rate = 0.2, .first_id = 1, .rate_per_s = 100};
    fr_gen *g = fr_gen_new(&go);
    /* records ending at every distance 0..99 from the guard page, and others
     * mid-page followed by bytes that would extend them if they were read:
     * digits, a quote, a key, a closing brace */
    enum { N = 140 };
    static char clean[N][1024];
    fr_slice rec[N], want_rec[N];
    fr_scored out[N], want[N];
    const char *tails[] = {"9999999999", "\"", ",\"V1\":5}", "}}}}", "e+99"};
    char *mid = base + 100;
    for (int i = 0; i < N; i++) {
        size_t len = fr_gen_next(g, clean[i], sizeof clean[i], NULL);
        if (i % 9 == 4) len -= 1;                                 /* no closing brace: not JSON */
        if (i % 13 == 6) len = (size_t)snprintf(clean[i], sizeof clean[i], "{\"id\":%d,\"V1\":12", i); /* number at the end */
        assert_true(len + FR_JSON_PADDING <= sizeof clean[i]); /* zeros after it: the padded reference */
        want_rec[i] = (fr_slice){clean[i], len};
        char *at;
        if (i < 100) {
            at = end - (size_t)i - len; /* its last byte i bytes before the guard page */
        } else {
            at = mid;
            const char *t = tails[i % 5];
            memcpy(at + len, t, strlen(t) + 1);
            mid += len + 64;
            assert_true(mid + 1024 < end - 2 * PAGE);
        }
        if (i >= 100) memcpy(at, clean[i], len);
        rec[i] = (fr_slice){at, len};
    }
    for (int k = 0; k < 100; k++) { /* the records at the guard page overlap: each is rewritten, then scored */
        memcpy((char *)rec[k].ptr, clean[k], rec[k].len);
        assert_int_equal(fr_scorer_run(s, &rec[k], 1, 0, &out[k]), 0);
        assert_int_equal(fr_scorer_run(ref, &want_rec[k], 1, 1, &want[k]), 0);
        assert_int_equal(out[k].reject, want[k].reject);
        assert_int_equal(out[k].len, want[k].len);
        assert_memory_equal(out[k].text, want[k].text, want[k].len);
    }
    assert_int_equal(fr_scorer_run(s, rec + 100, N - 100, 0, out + 100), 0);
    assert_int_equal(fr_scorer_run(ref, want_rec + 100, N - 100, 1, want + 100), 0);
    size_t scored = 0;
    for (int i = 100; i < N; i++) {
        assert_int_equal(out[i].reject, want[i].reject);
        assert_int_equal(out[i].len, want[i].len);
        assert_memory_equal(out[i].text, want[i].text, want[i].len);
        scored += out[i].reject == FR_REJ_NONE;
    }
    assert_true(scored > 20);
    fr_gen_free(g);
    fr_scorer_free(s);
    fr_scorer_free(ref);
    fr_model_free(m);
    munmap(base, PAGES * PAGE);
}

/* Loads a variant of the default model (model_variants.h). */
static fr_model *variant(const mv_opts *o) {
    size_t len = 0;
    unsigned char *b = mv_make(o, &len);
    assert_non_null(b);
    fr_model *m = NULL;
    char err[256];
    if (fr_model_load_mem(b, len, "variant", &m, err, sizeof err)) fail_msg("%s", err);
    free(b);
    return m;
}

/* fr_scorer_run_from: a challenger with the same features, scoring from the
 * champion's decode, gets exactly the results and rejections its own
 * fr_scorer_run gets; where it cannot (other features, passthrough paths, a
 * different batch than the champion's last run, a record the champion's
 * preprocessing refused) it refuses with FR_EINVAL and does nothing. */
static void a_challenger_scores_from_the_champions_decode_as_from_its_own(void **state) {
    (void)state;
    char err[256];
    fr_model *champ;
    assert_int_equal(fr_model_load_default(&champ, err, sizeof err), 0);
    mv_opts same = {.version = "same-features-2", .err_weights = mv_uniform_weights(champ, "2")}; /* other scores */
    fr_model *twin = variant(&same);
    const char *pt[] = {"id"};
    fr_scorer_opts co = {.passthrough = pt, .np = 1, .threshold = NAN, .max_batch = 64, .max_record_bytes = 4096};
    fr_scorer_opts so = {.threshold = NAN, .max_batch = 64, .max_record_bytes = 4096};
    fr_scorer *a = fr_scorer_new(champ, &co, err, sizeof err), *b = fr_scorer_new(twin, &so, err, sizeof err),
              *b_own = fr_scorer_new(twin, &so, err, sizeof err);
    assert_true(a && b && b_own);
    assert_true(fr_scorer_same_features(a, b));
    fr_gen_opts go = {.seed = 5, .anomaly_rate = 0.2, .first_id = 1, .rate_per_s = 100};
    fr_gen *g = fr_gen_new(&go);
    enum { N = 64 };
    static char buf[N][1024];
    fr_slice rec[N];
    fr_scored oa[N], ob[N], own[N];
    for (int i = 0; i < N; i++) {
        rec[i].ptr = buf[i];
        rec[i].len = fr_gen_next(g, buf[i], sizeof buf[i], NULL);
        if (i % 9 == 4) rec[i].len = 10;                                                          /* not JSON */
        if (i % 13 == 6) rec[i].len = (size_t)snprintf(buf[i], 1024, "{\"id\":%d,\"V1\":1}", i); /* missing */
    }
    assert_int_equal(fr_scorer_run(a, rec, N, 0, oa), 0);
    assert_int_equal(fr_scorer_run_from(b, a, oa, N, ob), 0);
    assert_int_equal(fr_scorer_run(b_own, rec, N, 0, own), 0);
    int scored = 0;
    for (int i = 0; i < N; i++) {
        assert_int_equal(ob[i].reject, own[i].reject);
        assert_int_equal(ob[i].len, own[i].len);
        assert_memory_equal(ob[i].text, own[i].text, own[i].len);
        assert_int_equal(ob[i].text[ob[i].len], 0);
        if (own[i].reject != FR_REJ_NONE) continue;
        scored++;
        assert_true(ob[i].score == own[i].score && ob[i].is_fraud == own[i].is_fraud);
        assert_true(ob[i].score != oa[i].score); /* another model: its own scores, not the champion's */
    }
    assert_true(scored > N / 2);
    /* where it cannot, it says so */
    assert_int_equal(fr_scorer_run_from(b, a, oa, N - 1, ob), FR_EINVAL); /* not a's last batch */
    fr_scorer *with_pt = fr_scorer_new(twin, &co, err, sizeof err);
    assert_int_equal(fr_scorer_run_from(with_pt, a, oa, N, ob), FR_EINVAL);
    mv_opts other = {.version = "other-features",
                     .features = "[\"V2\",\"V1\",\"V3\",\"V4\",\"V5\",\"V6\",\"V7\",\"V8\",\"V9\",\"V10\",\"V11\",\"V12\","
                                 "\"V13\",\"V14\",\"V15\",\"V16\",\"V17\",\"V18\",\"V19\",\"V20\",\"V21\",\"V22\",\"V23\","
                                 "\"V24\",\"V25\",\"V26\",\"V27\",\"V28\",\"Amount\"]"};
    fr_model *swapped = variant(&other);
    fr_scorer *c = fr_scorer_new(swapped, &so, err, sizeof err);
    assert_non_null(c);
    assert_false(fr_scorer_same_features(a, c));
    assert_int_equal(fr_scorer_run_from(c, a, oa, N, ob), FR_EINVAL);
    oa[1].reject = FR_REJ_PREPROCESS; /* as if a's log1p had refused record 1: its values were not kept */
    assert_int_equal(fr_scorer_run_from(b, a, oa, N, ob), FR_EINVAL);
    fr_scorer_free(c);
    fr_scorer_free(with_pt);
    fr_model_free(swapped);
    fr_gen_free(g);
    fr_scorer_free(a);
    fr_scorer_free(b);
    fr_scorer_free(b_own);
    fr_model_free(twin);
    fr_model_free(champ);
}

static void scorer_requires_a_threshold(void **state) {
    (void)state;
    char err[256];
    fr_model *m;
    assert_int_equal(fr_model_load_default(&m, err, sizeof err), 0);
    fr_scorer_opts so = {.threshold = NAN, .max_batch = 1000};
    assert_null(fr_scorer_new(m, &so, err, sizeof err));
    assert_non_null(strstr(err, "batch size"));
    fr_model_free(m);
}

static void generator_is_deterministic_and_valid(void **state) {
    (void)state;
    fr_gen_opts go = {.seed = 9, .anomaly_rate = 0.05, .first_id = 1, .start_ms = 1700000000000, .rate_per_s = 500};
    fr_gen *a = fr_gen_new(&go), *b = fr_gen_new(&go);
    go.seed = 10;
    fr_gen *c = fr_gen_new(&go);
    char x[1024], y[1024], z[1024];
    enum { N = 20000 };
    int anomalies = 0, differ = 0;
    double sum[28] = {0}, sum2[28] = {0};
    size_t normals = 0, minlen = 99999, maxlen = 0;
    for (int i = 0; i < N; i++) {
        int an, bn, cn;
        size_t lx = fr_gen_next(a, x, sizeof x, &an), ly = fr_gen_next(b, y, sizeof y, &bn);
        size_t lz = fr_gen_next(c, z, sizeof z, &cn);
        assert_true(lx > 0 && lx == ly && memcmp(x, y, lx) == 0 && an == bn);
        differ += lz != lx || memcmp(x, z, lx) != 0;
        minlen = lx < minlen ? lx : minlen;
        maxlen = lx > maxlen ? lx : maxlen;
        anomalies += an;
        json_error_t e;
        json_t *j = json_loadb(x, lx, 0, &e);
        assert_non_null(j);
        assert_true(json_is_true(json_object_get(j, "injected_anomaly")) == (an != 0));
        assert_true(json_number_value(json_object_get(j, "Amount")) >= 0);
        for (int f = 0; f < 28; f++) {
            char k[8];
            snprintf(k, sizeof k, "V%d", f + 1);
            json_t *v = json_object_get(j, k);
            assert_true(json_is_number(v) && isfinite(json_number_value(v)));
            if (!an) {
                sum[f] += json_number_value(v);
                sum2[f] += json_number_value(v) * json_number_value(v);
            }
        }
        normals += !an;
        json_decref(j);
    }
    assert_true(differ > N / 2);
    /* binomial: mean 1000, sd ~31; 5 sd */
    assert_true(abs(anomalies - 1000) < 155);
    /* normal records are the embedded rows drawn uniformly: each V feature's mean and
     * standard deviation are the rows' own, within 5 standard errors (of the mean:
     * sd / sqrt(n); of the sd: sqrt(m4 / sd^4 - 1) / (2 sqrt(n)), m4 the rows' 4th
     * central moment) */
    double nn = (double)normals, rows = (double)fr__ulb_nrows;
    for (int f = 0; f < 28; f++) {
        double rm = 0, rv = 0, m4 = 0;
        for (size_t r = 0; r < fr__ulb_nrows; r++) rm += fr__ulb_rows[r].v[f] / rows;
        for (size_t r = 0; r < fr__ulb_nrows; r++) {
            double d = fr__ulb_rows[r].v[f] - rm;
            rv += d * d / rows;
            m4 += d * d * d * d / rows;
        }
        double rsd = sqrt(rv);
        double mean = sum[f] / nn, sd = sqrt(sum2[f] / nn - mean * mean);
        assert_true(fabs(mean - rm) < 5 * rsd / sqrt(nn) + 1e-6);
        assert_true(fabs(sd / rsd - 1) < 5 * sqrt(m4 / (rv * rv) - 1) / (2 * sqrt(nn)) + 1e-6);
    }
    assert_true(minlen >= 500 && maxlen <= 800);
    assert_int_equal(fr_gen_next(a, x, 100, NULL), 0);
    fr_gen_free(a);
    fr_gen_free(b);
    fr_gen_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scorer_keeps_order_and_every_record),
        cmocka_unit_test(scorer_reads_records_in_place_only_when_their_tail_is_readable),
        cmocka_unit_test(a_challenger_scores_from_the_champions_decode_as_from_its_own),
        cmocka_unit_test(scorer_requires_a_threshold),
        cmocka_unit_test(generator_is_deterministic_and_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
