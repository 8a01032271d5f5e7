/* Benchmark: the result encoder alone, single thread.
 *
 *   bench_encode [--seconds S]
 *
 * Encodes a typical result line of the default model's shape (passthrough
 * "id", score and threshold as doubles, verdict, version, three top features
 * with float values and errors; about 270 bytes) with
 *   prepared   fr_result_prep_encode: what the scorer runs (constant text
 *              prepared once), the same bytes
 *   fraudd     fr_result_encode_parts (the reference: every key quoted per
 *              result, no allocation)
 *   snprintf   the same text built with snprintf("%.17g" / "%.9g"), the
 *              obvious C way (not round-trip-shortest, for scale only)
 * over a pool of 4096 pseudo-random scores/values, and prints ns/record for
 * each, best of 5 rounds, plus the formatters alone (ns per number; floats
 * also through fr__fmt_float_ref, the std::to_chars path fr_fmt_float
 * replaces with the same text).
 * Self-contained: needs no model or data. Not a test: nothing asserts a time.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "encode/encode_internal.h"
#include "fraudd/encode.h"

#define POOL 4096

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static volatile size_t sink;

static const char *const names[29] = {"V1",  "V2",  "V3",  "V4",  "V5",  "V6",  "V7",  "V8",  "V9",  "V10",
                                      "V11", "V12", "V13", "V14", "V15", "V16", "V17", "V18", "V19", "V20",
                                      "V21", "V22", "V23", "V24", "V25", "V26", "V27", "V28", "Amount"};

typedef struct item {
    fr_score s;      /* score and top features */
    float raw[29];   /* the record's feature values */
    char id[32];     /* passthrough text, "\"tx-...\"" */
    fr_slice pt;     /* -> id */
} item;

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double unif(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng >> 11) * 0x1.0p-53;
}

static const fr_encode_opts opts = {(const char *const[]){"id"}, 1, 0};

static size_t enc_fraudd(char *b, size_t cap, const item *it) {
    return fr_result_encode_parts(b, cap, "ulb-ae-1.0.0", names, 29, &opts, &it->s, 8.605756637167362, it->raw,
                                  NULL, &it->pt);
}

static fr_result_prep *prep;

static size_t enc_prepared(char *b, size_t cap, const item *it) {
    return fr_result_prep_encode(prep, b, cap, &it->s, it->raw, NULL, &it->pt);
}

static size_t enc_snprintf(char *b, size_t cap, const item *it) {
    const fr_score *s = &it->s;
    int n = snprintf(b, cap,
                     "{\"id\":%.*s,\"score\":%.17g,\"threshold\":%.17g,\"is_fraud\":%s,\"model_version\":\"%s\","
                     "\"top_features\":[{\"name\":\"%s\",\"value\":%.9g,\"error\":%.9g},{\"name\":\"%s\",\"value\":%.9g,"
                     "\"error\":%.9g},{\"name\":\"%s\",\"value\":%.9g,\"error\":%.9g}]}",
                     (int)it->pt.len, it->pt.ptr, s->score, 8.605756637167362, s->is_fraud ? "true" : "false",
                     "ulb-ae-1.0.0", names[s->top_idx[0]], (double)it->raw[s->top_idx[0]], (double)s->top_err[0],
                     names[s->top_idx[1]], (double)it->raw[s->top_idx[1]], (double)s->top_err[1],
                     names[s->top_idx[2]], (double)it->raw[s->top_idx[2]], (double)s->top_err[2]);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static double measure(size_t (*fn)(char *, size_t, const item *), const item *items, double secs) {
    char buf[1024];
    double best = 1e30;
    for (int round = 0; round < 5; round++) {
        size_t done = 0;
        double t0 = now(), t;
        do {
            for (size_t i = 0; i < POOL; i++) sink += fn(buf, sizeof buf, &items[i]);
            done += POOL;
        } while ((t = now()) - t0 < secs / 5);
        double ns = 1e9 * (t - t0) / (double)done;
        if (ns < best) best = ns;
    }
    return best;
}

int main(int argc, char **argv) {
    double secs = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc) secs = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_encode [--seconds S]\n");
            return 2;
        }
    }
    item *items = malloc(POOL * sizeof *items);
    if (!items) return 1;
    for (size_t i = 0; i < POOL; i++) {
        item *it = &items[i];
        memset(it, 0, sizeof *it);
        for (int f = 0; f < 29; f++) it->raw[f] = (float)((unif() - 0.5) * 6);
        it->raw[28] = (float)((double)(int)(unif() * 50000) / 100);
        it->s.score = unif() * unif() * 12;
        it->s.is_fraud = it->s.score > 8.605756637167362;
        it->s.n_top = 3;
        for (int k = 0; k < 3; k++) {
            it->s.top_idx[k] = (uint32_t)(unif() * 29);
            it->s.top_err[k] = (float)(unif() * (double)(10 >> k));
        }
        int l = snprintf(it->id, sizeof it->id, "\"tx-%020zu\"", i + 1);
        it->pt.ptr = it->id;
        it->pt.len = (size_t)l;
    }
    prep = fr_result_prep_new("ulb-ae-1.0.0", names, 29, 29, &opts, 8.605756637167362);
    if (!prep) return 1;
    char buf[1024], buf2[1024];
    size_t len = enc_fraudd(buf, sizeof buf, &items[0]);
    printf("bench_encode: %d results, e.g. (%zu bytes)\n  %.*s\n", POOL, len, (int)len, buf);
    for (size_t i = 0; i < POOL; i++) { /* same bytes, or the comparison means nothing */
        size_t l1 = enc_fraudd(buf, sizeof buf, &items[i]), l2 = enc_prepared(buf2, sizeof buf2, &items[i]);
        if (l1 != l2 || memcmp(buf, buf2, l1) != 0) {
            fprintf(stderr, "bench_encode: prepared and reference texts differ at result %zu\n", i);
            return 1;
        }
    }
    double p = measure(enc_prepared, items, secs), a = measure(enc_fraudd, items, secs),
           b = measure(enc_snprintf, items, secs);
    printf("  prepared fr_result_prep_encode   %7.1f ns/record  (%.1fx the reference)\n", p, a / p);
    printf("  fraudd   fr_result_encode_parts  %7.1f ns/record\n", a);
    printf("  snprintf same text, %%.17g/%%.9g   %7.1f ns/record  (%.1fx)\n", b, b / a);

    /* the number formatter alone */
    double best_d = 1e30, best_f = 1e30, best_r = 1e30;
    for (int round = 0; round < 5; round++) {
        double t0 = now();
        for (size_t i = 0; i < POOL; i++) sink += fr_fmt_double(buf, items[i].s.score);
        double t1 = now();
        for (size_t i = 0; i < POOL; i++)
            for (int f = 0; f < 29; f++) sink += fr_fmt_float(buf, items[i].raw[f]);
        double t2 = now();
        for (size_t i = 0; i < POOL; i++)
            for (int f = 0; f < 29; f++) sink += fr__fmt_float_ref(buf, items[i].raw[f]);
        double t3 = now();
        if (1e9 * (t1 - t0) / POOL < best_d) best_d = 1e9 * (t1 - t0) / POOL;
        if (1e9 * (t2 - t1) / (POOL * 29.0) < best_f) best_f = 1e9 * (t2 - t1) / (POOL * 29.0);
        if (1e9 * (t3 - t2) / (POOL * 29.0) < best_r) best_r = 1e9 * (t3 - t2) / (POOL * 29.0);
    }
    printf("  fr_fmt_double %.1f ns/number, fr_fmt_float %.1f ns/number (std::to_chars path: %.1f)\n", best_d,
           best_f, best_r);
    fr_result_prep_free(prep);
    free(items);
    return 0;
}
