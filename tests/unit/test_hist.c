/* Histogram bucket maths (src/metrics/hist.c): every value lands in the
 * bucket whose bounds hold it, bounds grow, quantiles read back the bucket
 * that holds the q-th value. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fraudd/metrics.h"

/* upper bounds increase; bucket 1+4e+s is 2^e * (1+(s+1)/4) us */
static void latency_bounds_increase_as_defined(void **state) {
    (void)state;
    assert_int_equal(fr_latency_bucket_upper_ns(0), 1000);
    for (int i = 1; i < FR_LAT_BUCKETS; i++) {
        assert_true(fr_latency_bucket_upper_ns(i) > fr_latency_bucket_upper_ns(i - 1));
        int e = (i - 1) / 4, s = (i - 1) % 4;
        if (e < 40) assert_int_equal(fr_latency_bucket_upper_ns(i), (int64_t)((1LL << e) * (4 + s + 1)) * 250);
    }
    assert_int_equal(fr_latency_bucket_upper_ns(1), 1250); /* 1.25 us */
    assert_int_equal(fr_latency_bucket_upper_ns(4), 2000); /* 2 us */
    assert_int_equal(fr_latency_bucket_upper_ns(8), 4000); /* 4 us */
}

/* a latency lands in the first bucket whose upper bound holds it (at us resolution) */
static void latency_lands_in_its_bucket(void **state) {
    (void)state;
    assert_int_equal(fr_lat_bucket(-5), 0);
    assert_int_equal(fr_lat_bucket(0), 0);
    assert_int_equal(fr_lat_bucket(999), 0);
    uint64_t x = 88172645463325252ull;
    for (int k = 0; k < 200000; k++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift */
        int64_t us = (int64_t)(x % (1ull << (k % 34 + 1))) + 1;
        int64_t ns = us * 1000 + (int64_t)(x >> 50) % 1000;
        int b = fr_lat_bucket(ns);
        assert_true(b >= 1 && b < FR_LAT_BUCKETS);
        if (b < FR_LAT_BUCKETS - 1) assert_true(us * 1000 < fr_latency_bucket_upper_ns(b));
        assert_true(us * 1000 >= fr_latency_bucket_upper_ns(b - 1));
    }
    /* beyond the last bound: the last bucket */
    assert_int_equal(fr_lat_bucket(INT64_MAX), FR_LAT_BUCKETS - 1);
}

static void latency_quantiles_read_the_right_bucket(void **state) {
    (void)state;
    uint64_t b[FR_LAT_BUCKETS];
    memset(b, 0, sizeof b);
    assert_int_equal(fr_latency_quantile_ns(b, 0.5), 0); /* empty */
    b[fr_lat_bucket(3000)] = 90;                         /* 90 records at 3 us */
    b[fr_lat_bucket(5000000)] = 10;                      /* 10 at 5 ms */
    assert_int_equal(fr_latency_quantile_ns(b, 0.5), fr_latency_bucket_upper_ns(fr_lat_bucket(3000)));
    assert_int_equal(fr_latency_quantile_ns(b, 0.90), fr_latency_bucket_upper_ns(fr_lat_bucket(3000)));
    assert_int_equal(fr_latency_quantile_ns(b, 0.99), fr_latency_bucket_upper_ns(fr_lat_bucket(5000000)));
    assert_true(fr_latency_quantile_ns(b, 0.99) >= 5000000);
    assert_true(fr_latency_quantile_ns(b, 0.99) < 5000000 * 5 / 4 + 1000);
}

static void score_buckets_hold_their_scores(void **state) {
    (void)state;
    assert_true(fr_score_bucket_upper(0) == 0x1p-10);
    assert_true(fr_score_bucket_upper(4) == 0x1p-9);
    assert_true(isinf(fr_score_bucket_upper(FR_SCORE_BUCKETS - 1)));
    for (int i = 1; i < FR_SCORE_BUCKETS; i++) assert_true(fr_score_bucket_upper(i) > fr_score_bucket_upper(i - 1));
    assert_int_equal(fr_score_bucket(0.0), 0);
    assert_int_equal(fr_score_bucket(-1.0), 0);
    assert_int_equal(fr_score_bucket(NAN), 0);
    assert_int_equal(fr_score_bucket(INFINITY), FR_SCORE_BUCKETS - 1);
    assert_int_equal(fr_score_bucket(1e300), FR_SCORE_BUCKETS - 1);
    /* le semantics: a bound itself belongs to its bucket */
    for (int i = 0; i < FR_SCORE_BUCKETS - 1; i++) assert_int_equal(fr_score_bucket(fr_score_bucket_upper(i)), i);
    for (double v = 0x1p-11; v < 0x1p21; v *= 1.0137) {
        int b = fr_score_bucket(v);
        assert_true(v <= fr_score_bucket_upper(b));
        if (b > 0) assert_true(v > fr_score_bucket_upper(b - 1));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(latency_bounds_increase_as_defined),
        cmocka_unit_test(latency_lands_in_its_bucket),
        cmocka_unit_test(latency_quantiles_read_the_right_bucket),
        cmocka_unit_test(score_buckets_hold_their_scores),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
