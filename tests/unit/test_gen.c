/* Proves the sample generator's contract (include/fraudd/gen.h, src/gen/gen.c):
 *  - the same seed gives the same stream, byte for byte; other seeds differ;
 *  - every record is one valid JSON object (jansson) with exactly the
 *    documented keys, 29 finite features, well-formed id/ts/card/merchant,
 *    Amount >= 0 in cents, and `injected_anomaly` equal to the reported flag;
 *  - timestamps are UTC ISO-8601 (checked against gmtime_r over random
 *    instants, leap years and negative epochs included), non-decreasing, with
 *    mean gap 1000/rate_per_s ms;
 *  - the anomaly rate over 20,000 records is within 5 binomial standard
 *    deviations of the requested rate (and exactly 0 / 1 at the ends);
 *  - a normal record is one of the embedded rows (src/gen/ulb_profile.c),
 *    V1..V28 and Amount exactly, and the rows are picked uniformly (every row
 *    drawn, counts within a chi-square bound);
 *  - an anomaly is an embedded row with exactly three V features moved, each
 *    by 8 to 16 of its standard deviations, and its amount the row's or 20 to
 *    200 times it;
 *  - records are 500..800 bytes and always fit 1024;
 *  - a cap too small returns 0, writes nothing past cap, and leaves the
 *    generator unchanged.
 */
#define _DEFAULT_SOURCE /* timegm */
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "fraudd/gen.h"
#include "gen/ulb_profile.h"

#define N 20000

static fr_gen_opts opts(uint64_t seed, double rate) {
    fr_gen_opts o = {.seed = seed, .anomaly_rate = rate, .first_id = 1, .start_ms = 1795510800123LL, .rate_per_s = 500};
    return o;
}

static void same_seed_same_stream_other_seed_other_stream(void **state) {
    (void)state;
    fr_gen_opts o = opts(9, 0.05);
    fr_gen *a = fr_gen_new(&o), *b = fr_gen_new(&o);
    o.seed = 10;
    fr_gen *c = fr_gen_new(&o);
    o.seed = 0; /* the zero seed works too (splitmix64 seeding) */
    fr_gen *z = fr_gen_new(&o);
    assert_non_null(a);
    assert_non_null(z);
    char x[1024], y[1024], w[1024];
    int differ = 0;
    for (int i = 0; i < 5000; i++) {
        int an = -1, bn = -2, cn;
        size_t lx = fr_gen_next(a, x, sizeof x, &an), ly = fr_gen_next(b, y, sizeof y, &bn);
        size_t lw = fr_gen_next(c, w, sizeof w, &cn);
        assert_true(lx > 0 && lx == ly);
        assert_memory_equal(x, y, lx);
        assert_int_equal(an, bn);
        differ += lw != lx || memcmp(x, w, lx) != 0;
        assert_true(fr_gen_next(z, w, sizeof w, NULL) > 0);
    }
    assert_true(differ >= 4990);
    fr_gen_free(a);
    fr_gen_free(b);
    fr_gen_free(c);
    fr_gen_free(z);
}

/* ts of ms via gmtime_r, the reference for the generator's own formatting. */
static void ref_ts(int64_t ms, char *out, size_t cap) {
    int64_t s = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    time_t t = (time_t)s;
    struct tm tm;
    assert_non_null(gmtime_r(&t, &tm));
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms - s * 1000));
}

static const char *ts_of(const char *rec, size_t len, char *out) {
    json_error_t e;
    json_t *j = json_loadb(rec, len, 0, &e);
    assert_non_null(j);
    snprintf(out, 32, "%s", json_string_value(json_object_get(j, "ts")));
    json_decref(j);
    return out;
}

static void timestamps_are_utc_iso8601(void **state) {
    (void)state;
    uint64_t r = 1;
    char rec[1024], got[32], want[80];
    for (int i = 0; i < 3000; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        /* 1900 .. 2300, plus a few fixed instants */
        int64_t ms = (int64_t)(r >> 24) % 13000000000000LL - 2208988800000LL;
        static const int64_t fixed[] = {0, -1, 951782400000LL /* 2000-02-29 */, 4107542399999LL /* 2100-02-28T23:59:59.999 */,
                                        1795510800123LL, -62135596800000LL /* 0001-01-01 */};
        if (i < (int)(sizeof fixed / sizeof fixed[0])) ms = fixed[i];
        fr_gen_opts o = opts((uint64_t)i, 0);
        o.start_ms = ms;
        fr_gen *g = fr_gen_new(&o);
        size_t n = fr_gen_next(g, rec, sizeof rec, NULL);
        ref_ts(ms, want, sizeof want);
        assert_string_equal(ts_of(rec, n, got), want);
        fr_gen_free(g);
    }
    /* out-of-range instants are clamped to 4-digit years */
    fr_gen_opts o = opts(1, 0);
    o.start_ms = INT64_MAX / 2;
    fr_gen *g = fr_gen_new(&o);
    size_t n = fr_gen_next(g, rec, sizeof rec, NULL);
    assert_string_equal(ts_of(rec, n, got), "9999-12-31T23:59:59.999Z");
    fr_gen_free(g);
    o.start_ms = INT64_MIN / 2;
    g = fr_gen_new(&o);
    n = fr_gen_next(g, rec, sizeof rec, NULL);
    assert_string_equal(ts_of(rec, n, got), "0000-01-01T00:00:00.000Z");
    fr_gen_free(g);
}

typedef struct stats {
    size_t n[2];                  /* records: [normal, anomaly] */
    size_t *drawn;                /* normal records per embedded row */
    size_t amount_scaled;         /* anomalies whose amount was multiplied */
    size_t minlen, maxlen, total; /* record sizes */
} stats;

/* The embedded row that matches v on the most V features (first on a tie);
 * *same gets that count. Exact float32 comparison: the generator prints the
 * shortest text of each float32, so a row written unchanged reads back equal. */
static size_t nearest_row(const double *v, int *same) {
    size_t best = 0;
    int most = -1;
    for (size_t r = 0; r < fr__ulb_nrows && most < FR__ULB_NV; r++) {
        int n = 0;
        for (int f = 0; f < FR__ULB_NV; f++) n += (float)v[f] == fr__ulb_rows[r].v[f];
        if (n > most) most = n, best = r;
    }
    *same = most;
    return best;
}

static void check_record(const char *rec, size_t len, int flag, uint64_t want_id, double *prev_ms, stats *st) {
    json_error_t e;
    json_t *j = json_loadb(rec, len, 0, &e);
    if (!j) fail_msg("invalid JSON (%s): %.*s", e.text, (int)len, rec);
    assert_true(json_is_object(j));
    assert_int_equal(json_object_size(j), 5 + 28 + 2);
    assert_int_equal(rec[0], '{');
    assert_int_equal(rec[len - 1], '}');
    char want[32];
    snprintf(want, sizeof want, "tx-%020llu", (unsigned long long)want_id);
    assert_string_equal(json_string_value(json_object_get(j, "id")), want);
    const char *ts = json_string_value(json_object_get(j, "ts"));
    assert_non_null(ts);
    assert_int_equal(strlen(ts), 24);
    struct tm tm = {0};
    int msec;
    assert_int_equal(sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                            &tm.tm_min, &tm.tm_sec, &msec),
                     7);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    double ms = (double)timegm(&tm) * 1000 + msec;
    assert_true(ms >= *prev_ms);
    *prev_ms = ms;
    const char *card = json_string_value(json_object_get(j, "card_id"));
    const char *merchant = json_string_value(json_object_get(j, "merchant_id"));
    assert_true(card && strlen(card) == 8 && !strncmp(card, "c-", 2));
    assert_true(merchant && strlen(merchant) == 7 && !strncmp(merchant, "m-", 2));
    json_t *t = json_object_get(j, "Time");
    assert_true(json_is_integer(t) && json_integer_value(t) >= 0 && json_integer_value(t) <= (json_int_t)fr__ulb_time_max);
    double amount = json_number_value(json_object_get(j, "Amount"));
    assert_true(json_is_number(json_object_get(j, "Amount")) && amount >= 0 && amount <= 1e9);
    assert_true(fabs(amount * 100 - round(amount * 100)) < 1e-6 * (1 + amount)); /* cents */
    json_t *an = json_object_get(j, "injected_anomaly");
    assert_true(json_is_boolean(an) && json_is_true(an) == (flag != 0));
    double v[FR__ULB_NV];
    for (int f = 0; f < FR__ULB_NV; f++) {
        json_t *x = json_object_get(j, fr__ulb_names[f]);
        if (!json_is_number(x)) fail_msg("%s missing or not a number", fr__ulb_names[f]);
        v[f] = json_number_value(x);
        assert_true(isfinite(v[f]));
    }
    int same;
    size_t r = nearest_row(v, &same);
    const fr__ulb_row *row = &fr__ulb_rows[r];
    double row_amount = row->cents / 100.0;
    if (!flag) {
        /* a normal record is an embedded row, unchanged */
        if (same != FR__ULB_NV) fail_msg("normal record matches no embedded row (best: row %zu, %d of 28 V features): %.*s", r, same, (int)len, rec);
        if (llround(amount * 100) != (long long)row->cents) fail_msg("normal record: Amount %.2f, its row's %.2f", amount, row_amount);
        st->drawn[r]++;
    } else {
        /* an anomaly: the row with three V features moved 8..16 std (float32 rounding aside) */
        if (same != FR__ULB_NV - 3) fail_msg("anomaly: %d of 28 V features as in its row (row %zu), want 25", same, r);
        for (int f = 0; f < FR__ULB_NV; f++) {
            if ((float)v[f] == row->v[f]) continue;
            double moved = fabs(v[f] - row->v[f]) / fr__ulb_std[f];
            if (moved < 8 - 1e-4 || moved > 16 + 1e-4) fail_msg("anomaly: %s moved %g std", fr__ulb_names[f], moved);
        }
        long long c = llround(amount * 100), rc = (long long)row->cents;
        if (c != rc) { /* 20 to 200 times the row's, rounded to cents */
            if (c < 20 * rc - 1 || c > 200 * rc + 1) fail_msg("anomaly: Amount %.2f, its row's %.2f", amount, row_amount);
            st->amount_scaled++;
        }
    }
    st->n[flag]++;
    st->minlen = len < st->minlen ? len : st->minlen;
    st->maxlen = len > st->maxlen ? len : st->maxlen;
    st->total += len;
    json_decref(j);
}

static void records_are_valid_rows_of_the_embedded_set_and_anomalies_are_moved(void **state) {
    (void)state;
    const double rate = 0.05;
    fr_gen_opts o = opts(2026, rate);
    fr_gen *g = fr_gen_new(&o);
    static stats st;
    memset(&st, 0, sizeof st);
    st.minlen = 99999;
    st.drawn = calloc(fr__ulb_nrows, sizeof *st.drawn);
    assert_non_null(st.drawn);
    char rec[1024];
    double prev = -1e300, first_ms = 0, last_ms = 0;
    for (int i = 0; i < N; i++) {
        int flag = -1;
        size_t len = fr_gen_next(g, rec, sizeof rec, &flag);
        assert_true(len > 0);
        assert_true(flag == 0 || flag == 1);
        check_record(rec, len, flag, (uint64_t)i + 1, &prev, &st);
        if (i == 0) first_ms = prev;
        last_ms = prev;
    }
    fr_gen_free(g);
    assert_true(first_ms == 1795510800123.0);

    /* anomaly rate: binomial, 5 standard deviations */
    double k = (double)st.n[1], sd = sqrt(N * rate * (1 - rate));
    if (fabs(k - N * rate) > 5 * sd) fail_msg("%g anomalies in %d records at rate %g", k, N, rate);
    /* a quarter of the anomalies get a larger amount (binomial, 5 sd; rows with
     * Amount 0 stay 0 and count as unscaled) */
    double a = (double)st.amount_scaled, an = (double)st.n[1];
    if (a > an / 4 + 5 * sqrt(an * 0.25 * 0.75) || a < an / 4 - 5 * sqrt(an * 0.25 * 0.75) - 0.05 * an)
        fail_msg("%g of %g anomalies with a scaled amount, want about a quarter", a, an);

    /* timestamps: mean gap 1000/rate_per_s = 2 ms (exponential: sd of the mean 2/sqrt(N)) */
    double gap = (last_ms - first_ms) / (N - 1);
    if (fabs(gap - 2.0) > 5 * 2.0 / sqrt(N) + 0.01) fail_msg("mean gap %g ms, want 2", gap);

    /* rows are picked uniformly: each one drawn, and Pearson's chi-square of the
     * counts within 5 standard deviations of its mean (nrows - 1 degrees of freedom) */
    double n = (double)st.n[0], e = n / (double)fr__ulb_nrows, chi2 = 0, dof = (double)fr__ulb_nrows - 1;
    for (size_t r = 0; r < fr__ulb_nrows; r++) {
        if (!st.drawn[r]) fail_msg("row %zu never drawn in %g normal records", r, n);
        chi2 += (st.drawn[r] - e) * (st.drawn[r] - e) / e;
    }
    if (fabs(chi2 - dof) > 5 * sqrt(2 * dof)) fail_msg("row counts: chi-square %g, %g degrees of freedom", chi2, dof);
    free(st.drawn);

    /* sizes */
    double mean_len = (double)st.total / N;
    print_message("records: %zu..%zu bytes, mean %.1f; anomalies %zu of %d; row counts chi-square %.0f (%g dof)\n",
                  st.minlen, st.maxlen, mean_len, st.n[1], N, chi2, dof);
    assert_true(st.minlen >= 500 && st.maxlen <= 800);
}

/* the embedded rows are usable: finite, and the statistics they are moved by positive */
static void embedded_rows_and_statistics_are_sane(void **state) {
    (void)state;
    assert_true(fr__ulb_nrows > 1000);
    for (int f = 0; f < FR__ULB_DIM; f++) assert_true(fr__ulb_std[f] > 0 && isfinite(fr__ulb_mean[f]));
    for (size_t r = 0; r < fr__ulb_nrows; r++) {
        for (int f = 0; f < FR__ULB_NV; f++) assert_true(isfinite(fr__ulb_rows[r].v[f]));
        assert_true(fr__ulb_rows[r].cents <= 100000000u); /* the data's amounts are below 1e6 */
    }
}

static void anomaly_rate_extremes_and_bad_options(void **state) {
    (void)state;
    char rec[1024];
    const double rates[] = {0, 1, NAN, -3, 7};
    const int want[] = {0, 1, 0, 0, 1};
    for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
        fr_gen_opts o = opts(5, rates[r]);
        o.rate_per_s = r == 2 ? 0 : r == 3 ? NAN : o.rate_per_s; /* bad rates fall back to 1000/s */
        fr_gen *g = fr_gen_new(&o);
        assert_non_null(g);
        for (int i = 0; i < 2000; i++) {
            int flag;
            assert_true(fr_gen_next(g, rec, sizeof rec, &flag) > 0);
            assert_int_equal(flag, want[r]);
        }
        fr_gen_free(g);
    }
    assert_null(fr_gen_new(NULL));
    fr_gen_free(NULL);
    /* the largest id still has 20 digits */
    fr_gen_opts o = opts(5, 0);
    o.first_id = UINT64_MAX;
    fr_gen *g = fr_gen_new(&o);
    size_t n = fr_gen_next(g, rec, sizeof rec, NULL);
    assert_true(n > 30);
    assert_memory_equal(rec, "{\"id\":\"tx-18446744073709551615\",", 32);
    fr_gen_free(g);
}

static void all_anomalies_still_fit_1024(void **state) {
    (void)state;
    fr_gen_opts o = opts(77, 1.0);
    fr_gen *g = fr_gen_new(&o);
    char rec[1024];
    size_t maxlen = 0;
    for (int i = 0; i < 50000; i++) {
        size_t n = fr_gen_next(g, rec, sizeof rec, NULL);
        assert_true(n > 0);
        maxlen = n > maxlen ? n : maxlen;
    }
    assert_true(maxlen <= 800);
    fr_gen_free(g);
}

static void short_buffers_fail_cleanly_and_change_nothing(void **state) {
    (void)state;
    fr_gen_opts o = opts(31, 0.3);
    fr_gen *g = fr_gen_new(&o), *ref = fr_gen_new(&o);
    char want[1024], g2[1100];
    for (int i = 0; i < 40; i++) {
        int wf, f = -7;
        size_t need = fr_gen_next(ref, want, sizeof want, &wf);
        assert_true(need > 0);
        size_t step = i < 3 ? 1 : 37; /* every cap for the first records */
        for (size_t cap = 0; cap < need; cap += step) {
            char *b = malloc(cap ? cap : 1); /* exact size: ASan catches any write past cap */
            assert_int_equal(fr_gen_next(g, b, cap, &f), 0);
            assert_int_equal(f, -7); /* flag untouched on failure */
            free(b);
            memset(g2, 0x5a, sizeof g2);
            assert_int_equal(fr_gen_next(g, g2, cap, &f), 0);
            for (size_t k = cap; k < sizeof g2; k++) assert_int_equal((unsigned char)g2[k], 0x5a);
        }
        /* the generator did not move: the retry gives the reference record */
        char *b = malloc(need);
        assert_int_equal(fr_gen_next(g, b, need, &f), need);
        assert_memory_equal(b, want, need);
        assert_int_equal(f, wf);
        free(b);
    }
    fr_gen_free(g);
    fr_gen_free(ref);
}

/* --shift: the same records, every V feature moved by shift x its standard
 * deviation (float32 rounding aside), the amount and everything else the
 * same; shift 0 is the unshifted stream byte for byte */
static void shift_moves_every_v_feature_by_its_standard_deviations(void **state) {
    (void)state;
    fr_gen_opts o = {.seed = 5, .anomaly_rate = 0, .first_id = 1, .start_ms = 0, .rate_per_s = 1000};
    fr_gen_opts os = o, o0 = o;
    os.shift = 1.5;
    o0.shift = 0.0;
    fr_gen *a = fr_gen_new(&o), *b = fr_gen_new(&os), *z = fr_gen_new(&o0);
    char ra[1024], rb[1024], rz[1024];
    for (int r = 0; r < 200; r++) {
        size_t la = fr_gen_next(a, ra, sizeof ra, NULL), lb = fr_gen_next(b, rb, sizeof rb, NULL);
        size_t lz = fr_gen_next(z, rz, sizeof rz, NULL);
        assert_int_equal(la, lz);
        assert_memory_equal(ra, rz, la);
        json_error_t e;
        json_t *ja = json_loadb(ra, la, 0, &e), *jb = json_loadb(rb, lb, 0, &e);
        assert_non_null(ja);
        assert_non_null(jb);
        for (int i = 0; i < FR__ULB_NV; i++) {
            double va = json_number_value(json_object_get(ja, fr__ulb_names[i]));
            double vb = json_number_value(json_object_get(jb, fr__ulb_names[i]));
            double want = va + 1.5 * fr__ulb_std[i];
            assert_true(fabs(vb - want) <= 1e-6 * (1 + fabs(want)));
        }
        assert_true(json_equal(json_object_get(ja, "Amount"), json_object_get(jb, "Amount")));
        assert_true(json_equal(json_object_get(ja, "id"), json_object_get(jb, "id")));
        assert_true(json_equal(json_object_get(ja, "ts"), json_object_get(jb, "ts")));
        json_decref(ja);
        json_decref(jb);
    }
    fr_gen_free(a);
    fr_gen_free(b);
    fr_gen_free(z);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_seed_same_stream_other_seed_other_stream),
        cmocka_unit_test(timestamps_are_utc_iso8601),
        cmocka_unit_test(records_are_valid_rows_of_the_embedded_set_and_anomalies_are_moved),
        cmocka_unit_test(embedded_rows_and_statistics_are_sane),
        cmocka_unit_test(anomaly_rate_extremes_and_bad_options),
        cmocka_unit_test(all_anomalies_still_fit_1024),
        cmocka_unit_test(short_buffers_fail_cleanly_and_change_nothing),
        cmocka_unit_test(shift_moves_every_v_feature_by_its_standard_deviations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
