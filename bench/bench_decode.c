/* Benchmark: the record decoder alone, single thread.
 *
 *   bench_decode [--seconds S] [--records N]
 *
 * Records: ULB-style JSON transactions (id, ts, card_id, merchant_id, Time,
 * V1..V28, Amount; about 650 bytes), made up in memory from a fixed
 * pseudo-random sequence (no data file is read). Schema: the 29 model
 * features V1..V28, Amount, passthrough "id".
 *
 * Measured in the same run, each as ns/record, best of 5 rounds:
 *   simdjson    fr_decoder_decode, padded input (what the scorer does)
 *   unpadded    fr_decoder_decode, unpadded (one copy into the decoder)
 *   jansson     json_loadb + one json_object_get per feature (the baseline,
 *               decode_jansson.c)
 * over one hot record (default) and over N distinct records cycled (cache
 * effects; default N = 4096, about 2.6 MB). Both decoders must agree on
 * every record before anything is timed. Not a test: nothing asserts a time.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decode_jansson.c" /* the baseline; bench/bench_*.c are built one file each */
#include "fraudd/record.h"

#define NFEAT 29
#define SLOT 1024 /* bytes per record in the buffer, padding included */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double uniform(void) { /* xorshift64*, in (0, 1) */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return ((double)((rng * 2685821657736338717ull) >> 11) + 0.5) / 9007199254740992.0;
}
static double normal(void) { return sqrt(-2 * log(uniform())) * cos(6.283185307179586 * uniform()); }

/* Writes record i at d (SLOT bytes, padding after it); returns its length. */
static size_t make_record(char *d, size_t i) {
    int l = snprintf(d, SLOT - FR_JSON_PADDING,
                     "{\"id\":\"tx-%020zu\",\"ts\":\"2026-11-24T09:%02d:%02d.%03dZ\",\"card_id\":\"c-%06zu\","
                     "\"merchant_id\":\"m-%05zu\",\"channel\":\"ecom\",\"Time\":%zu",
                     i + 1, (int)(i / 60 % 60), (int)(i % 60), (int)(i % 1000), i * 7919 % 1000000, i * 104729 % 50000,
                     i * 3 % 172792);
    for (int v = 1; v <= 28; v++) l += snprintf(d + l, (size_t)(SLOT - FR_JSON_PADDING - l), ",\"V%d\":%.9g", v, normal());
    l += snprintf(d + l, (size_t)(SLOT - FR_JSON_PADDING - l), ",\"Amount\":%.2f}", exp(3 + 1.5 * normal()));
    memset(d + l, ' ', FR_JSON_PADDING);
    return (size_t)l;
}

typedef struct ctx {
    const char *buf; /* records, SLOT bytes apart */
    size_t *len;
    size_t n;
    fr_decoder *dec;
    const char *const *names;
    int padded;
} ctx;

static volatile float sink;

static void run_simdjson(const ctx *c, size_t *done) {
    float x[NFEAT];
    fr_slice pt[1];
    for (size_t i = 0; i < c->n; i++)
        if (fr_decoder_decode(c->dec, c->buf + i * SLOT, c->len[i], c->padded, x, pt, NULL, 0) == FR_REJ_NONE)
            sink += x[0];
    *done += c->n;
}

static void run_jansson(const ctx *c, size_t *done) {
    float x[NFEAT];
    for (size_t i = 0; i < c->n; i++)
        if (frb_jansson_decode(c->buf + i * SLOT, c->len[i], c->names, NFEAT, x) == 0) sink += x[0];
    *done += c->n;
}

/* Best of 5 rounds of secs/5 each. */
static double best_ns(void (*fn)(const ctx *, size_t *), const ctx *c, double secs) {
    double best = 1e30;
    for (int round = 0; round < 5; round++) {
        size_t done = 0;
        double t0 = now(), t;
        do {
            fn(c, &done);
            t = now() - t0;
        } while (t < secs / 5);
        double ns = t * 1e9 / (double)done;
        if (ns < best) best = ns;
    }
    return best;
}

int main(int argc, char **argv) {
    double secs = 2.0;
    size_t nrec = 4096;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) secs = atof(argv[++i]);
        else if (strcmp(argv[i], "--records") == 0 && i + 1 < argc) nrec = (size_t)atol(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_decode [--seconds S] [--records N]\n");
            return 2;
        }
    }
    if (nrec < 1) nrec = 1;

    static char vname[28][16];
    const char *names[NFEAT];
    for (int v = 0; v < 28; v++) {
        snprintf(vname[v], sizeof vname[v], "V%d", v + 1);
        names[v] = vname[v];
    }
    names[28] = "Amount";
    const char *pt[] = {"id"};
    char err[256];
    fr_record_schema *schema;
    if (fr_record_schema_new(names, NFEAT, NULL, NULL, pt, 1, &schema, err, sizeof err)) {
        fprintf(stderr, "bench_decode: %s\n", err);
        return 1;
    }
    fr_decoder *dec = fr_decoder_new(schema, 1 << 16);
    char *buf = malloc(nrec * SLOT);
    size_t *len = malloc(nrec * sizeof *len);
    if (!dec || !buf || !len) return 1;
    double total = 0;
    for (size_t i = 0; i < nrec; i++) total += (double)(len[i] = make_record(buf + i * SLOT, i));

    /* both decoders must read the same numbers before their speed means anything */
    for (size_t i = 0; i < nrec; i++) {
        float a[NFEAT], b[NFEAT];
        fr_slice p[1];
        char reason[256];
        fr_reject r = fr_decoder_decode(dec, buf + i * SLOT, len[i], 1, a, p, reason, sizeof reason);
        if (r != FR_REJ_NONE || frb_jansson_decode(buf + i * SLOT, len[i], names, NFEAT, b) != 0 ||
            memcmp(a, b, sizeof a) != 0) {
            fprintf(stderr, "bench_decode: decoders disagree on record %zu (%s: %s)\n", i, fr_reject_name(r), reason);
            return 1;
        }
    }

    printf("decode, one thread, %d features + passthrough id; record 0: %zu bytes; %zu records mean %.0f bytes\n",
           NFEAT, len[0], nrec, total / (double)nrec);
    ctx one = {buf, len, 1, dec, names, 1}, many = {buf, len, nrec, dec, names, 1};
    ctx one_u = one, many_u = many;
    one_u.padded = many_u.padded = 0;
    double s1 = best_ns(run_simdjson, &one, secs), u1 = best_ns(run_simdjson, &one_u, secs);
    double j1 = best_ns(run_jansson, &one, secs);
    double sn = best_ns(run_simdjson, &many, secs), un = best_ns(run_simdjson, &many_u, secs);
    double jn = best_ns(run_jansson, &many, secs);
    printf("%-34s %12s %12s\n", "ns/record", "one record", "cycled");
    printf("%-34s %12.0f %12.0f\n", "simdjson On-Demand (padded)", s1, sn);
    printf("%-34s %12.0f %12.0f\n", "simdjson On-Demand (unpadded)", u1, un);
    printf("%-34s %12.0f %12.0f\n", "jansson DOM baseline", j1, jn);
    printf("%-34s %11.1fx %11.1fx\n", "jansson / simdjson (padded)", j1 / s1, jn / sn);
    printf("RESULT decode_ns_per_record simdjson=%.0f unpadded=%.0f jansson=%.0f ratio=%.1f "
           "cycled_simdjson=%.0f cycled_jansson=%.0f\n",
           s1, u1, j1, j1 / s1, sn, jn);
    fr_decoder_free(dec);
    fr_record_schema_free(schema);
    free(buf);
    free(len);
    return 0;
}
