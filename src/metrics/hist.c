/* Histogram bucket maths (include/fraudd/metrics.h); tests/unit/test_hist.c
 * checks every boundary against its definition. */
#include <math.h>

#include "fraudd/metrics.h"

int fr_lat_bucket(int64_t ns) {
    /* 4 buckets per power of two from 1 us: bucket upper = 2^(e) * (1 + (s+1)/4) us */
    int64_t us = ns / 1000;
    if (us < 1) return 0;
    int e = 63 - __builtin_clzll((uint64_t)us);
    int s = e >= 2 ? (int)((us >> (e - 2)) & 3) : (int)((us << (2 - e)) & 3);
    int b = 1 + e * 4 + s;
    return b < FR_LAT_BUCKETS ? b : FR_LAT_BUCKETS - 1;
}

int64_t fr_latency_bucket_upper_ns(int i) {
    if (i <= 0) return 1000;
    int e = (i - 1) / 4, s = (i - 1) % 4;
    double us = (double)((int64_t)1 << e) * (1.0 + (s + 1) / 4.0);
    return (int64_t)(us * 1000.0);
}

/* quarter steps shown from bucket 1 + 4 * 10 (above 2^10 us) to bucket
 * 4 * 17 (2^17 us = 131 ms) */
enum { FINE_LO = 1 + 4 * 10, FINE_HI = 4 * 17 };

int fr_lat_bucket_shown(int i, int fine) {
    if (i < 0 || i >= FR_LAT_BUCKETS - 1) return 0; /* the last bucket is +Inf's */
    if (i == 0 || i % 4 == 0) return 1;
    return fine && i >= FINE_LO && i <= FINE_HI;
}

int64_t fr_latency_quantile_ns(const uint64_t *b, double q) {
    uint64_t total = 0;
    for (int i = 0; i < FR_LAT_BUCKETS; i++) total += b[i];
    if (!total) return 0;
    uint64_t want = (uint64_t)(q * (double)total + 0.5);
    if (want < 1) want = 1;
    uint64_t acc = 0;
    for (int i = 0; i < FR_LAT_BUCKETS; i++) {
        acc += b[i];
        if (acc >= want) return fr_latency_bucket_upper_ns(i);
    }
    return fr_latency_bucket_upper_ns(FR_LAT_BUCKETS - 1);
}

double fr_score_bucket_upper(int i) {
    if (i >= FR_SCORE_BUCKETS - 1) return INFINITY;
    return exp2(-10.0 + i / 4.0);
}

int fr_score_bucket(double score) {
    if (!(score > 0x1p-10)) return 0;
    double k = ceil(4.0 * (log2(score) + 10.0) - 1e-9);
    if (!(k < FR_SCORE_BUCKETS - 1)) return FR_SCORE_BUCKETS - 1;
    return (int)k;
}
