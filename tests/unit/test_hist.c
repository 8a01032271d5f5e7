/* Histogram bucket maths (src/metrics/hist.c): every value lands in the
 * bucket whose bounds hold it, bounds grow, quantiles read back the bucket
 * that holds the q-th value. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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

/* /metrics shows every power of two; the fine histograms also the quarter
 * steps from 1.28 ms to 131 ms, and nothing else */
static void shown_buckets_are_powers_of_two_and_fine_ms_steps(void **state) {
    (void)state;
    int coarse = 0, fine = 0;
    for (int i = 0; i < FR_LAT_BUCKETS; i++) {
        int64_t up = fr_latency_bucket_upper_ns(i);
        int pow2 = i == 0 || (i < FR_LAT_BUCKETS - 1 && (up / 1000 & (up / 1000 - 1)) == 0 && up % 1000 == 0);
        assert_int_equal(fr_lat_bucket_shown(i, 0), pow2);
        int in_ms_range = up > 1024000 && up <= 131072000 && i < FR_LAT_BUCKETS - 1;
        assert_int_equal(fr_lat_bucket_shown(i, 1), pow2 || in_ms_range);
        coarse += fr_lat_bucket_shown(i, 0);
        fine += fr_lat_bucket_shown(i, 1);
    }
    assert_int_equal(coarse, 32); /* 1 us, 2 us, ..., 2^31 us */
    assert_int_equal(fine, 32 + 3 * 7); /* and 3 quarter steps in each of 7 octaves */
    /* the boundary next to a 10 ms objective */
    assert_true(fr_lat_bucket_shown(fr_lat_bucket(10000000), 1));
    assert_int_equal(fr_latency_bucket_upper_ns(fr_lat_bucket(10000000)), 10240000);
}

/* the rendered exposition: cumulative counts at the shown bounds, the fine
 * steps in the end-to-end histogram only where they are defined */
static void fine_buckets_are_rendered_cumulative(void **state) {
    (void)state;
    fr_metrics_view *v = calloc(1, sizeof *v);
    assert_non_null(v);
    v->have_pipeline = 1;
    v->stats.e2e_latency[fr_lat_bucket(3000000)] = 900;  /* 3 ms: in (2.56, 3.07] ms */
    v->stats.e2e_latency[fr_lat_bucket(9000000)] = 89;   /* 9 ms: in (8.19, 10.24] ms */
    v->stats.e2e_latency[fr_lat_bucket(11000000)] = 11;  /* 11 ms: in (10.24, 12.29] ms */
    v->stats.queue_wait[fr_lat_bucket(9000000)] = 5;
    fr_buf b = {0};
    fr_metrics_render(v, &b);
    assert_false(b.oom);
    fr_buf_printf(&b, "%c", 0);
    const char *t = b.data;
    const char *want[] = {
        "\nfraudd_end_to_end_latency_seconds_bucket{le=\"0.002048\"} 0\n",
        "\nfraudd_end_to_end_latency_seconds_bucket{le=\"0.00256\"} 0\n",
        "\nfraudd_end_to_end_latency_seconds_bucket{le=\"0.003072\"} 900\n",
        "\nfraudd_end_to_end_latency_seconds_bucket{le=\"0.008192\"} 900\n",
        "\nfraudd_end_to_end_latency_seconds_bucket{le=\"0.01024\"} 989\n",
        "\nfraudd_end_to_end_latency_seconds_bucket{le=\"0.012288\"} 1000\n",
        "\nfraudd_end_to_end_latency_seconds_bucket{le=\"0.131072\"} 1000\n",
        "\nfraudd_end_to_end_latency_seconds_bucket{le=\"+Inf\"} 1000\n",
        "\nfraudd_processing_latency_seconds_bucket{le=\"0.01024\"} 0\n",
        "\nfraudd_queue_wait_seconds_bucket{le=\"0.008192\"} 0\n",
        "\nfraudd_queue_wait_seconds_bucket{le=\"0.016384\"} 5\n",
    };
    for (size_t k = 0; k < sizeof want / sizeof *want; k++)
        if (!strstr(t, want[k])) fail_msg("missing: %s", want[k] + 1);
    /* coarse histograms and the fine ones outside 1-131 ms: powers of two only */
    assert_null(strstr(t, "fraudd_queue_wait_seconds_bucket{le=\"0.01024\"}"));
    assert_null(strstr(t, "fraudd_end_to_end_latency_seconds_bucket{le=\"0.16384\"}"));
    assert_non_null(strstr(t, "\nfraudd_end_to_end_latency_seconds_bucket{le=\"0.00128\"} 0\n"));
    assert_null(strstr(t, "fraudd_end_to_end_latency_seconds_bucket{le=\"0.00064\"}"));
    free(b.data);
    free(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(latency_bounds_increase_as_defined),
        cmocka_unit_test(latency_lands_in_its_bucket),
        cmocka_unit_test(latency_quantiles_read_the_right_bucket),
        cmocka_unit_test(score_buckets_hold_their_scores),
        cmocka_unit_test(shown_buckets_are_powers_of_two_and_fine_ms_steps),
        cmocka_unit_test(fine_buckets_are_rendered_cumulative),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
