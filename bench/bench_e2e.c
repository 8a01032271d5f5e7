/* Benchmark (a) of issue 2: the full per-record path, single thread.
 *
 *   bench_e2e [--data data/ulb/creditcard_legit_train.csv] [--seconds S] [--model M.onnx] [--only fraudd|model]
 *             (from the repository root; without --model: the embedded default model)
 *   bench_e2e --only fraudd [--seconds S | --passes N] [--unpadded]   the fraudd path alone: timed,
 *             or N passes over the records untimed, for `perf stat -e cycles:u` (cycles count only
 *             while the process runs, so they stay comparable on a busy machine where wall time does
 *             not); --unpadded: the records are handed over as the daemon's worker hands Kafka's
 *             (fr_scorer_run's padded = 0), not as padded input
 *   any of these with --kernel avx512|avx2|generic: the model's SIMD kernel set (default: the
 *             widest the CPU has), so the path can be measured as on a CPU without AVX-512
 *
 * Records: real ULB rows (legit card transactions) formatted as the JSON
 * transactions fraudd receives (id, timestamp, card, merchant, Time,
 * V1..V28, Amount; about 650 bytes each), built in memory from the CSV.
 *
 * Measured in the same run, each as ns/record, best of 5 rounds:
 *   fraudd       fr_scorer: simdjson decode + features + fused model (batch 64) + encode
 *   baseline     jansson DOM decode (json_loadb + lookups) + the same model + jansson encode
 *                (json_pack + json_dumps): what a straightforward C implementation does
 *   stages       decode only, model only, encode only (to see what bounds the total)
 * Not a test: nothing asserts a time.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fraudd/encode.h"
#include "fraudd/model.h"
#include "fraudd/record.h"
#include "fraudd/score.h"
#include "fraudd/scorer.h"

#define BATCH 64

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct recs {
    char *buf;    /* all records, each followed by padding */
    fr_slice *r;  /* slices */
    size_t n;
    double mean_len;
} recs;

static int load_records(const char *path, recs *out) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "bench_e2e: cannot open %s (run from the repository root, or pass --data)\n", path);
        return -1;
    }
    char line[8192];
    if (!fgets(line, sizeof line, f)) return -1;
    size_t cap = 6000;
    out->buf = malloc(cap * 1024);
    out->r = malloc(cap * sizeof(fr_slice));
    out->n = 0;
    size_t off = 0, total = 0;
    while (out->n < cap && fgets(line, sizeof line, f)) {
        double v[31];
        char *p = line;
        for (int i = 0; i < 31; i++) {
            v[i] = strtod(p, &p);
            if (*p == ',') p++;
        }
        char *d = out->buf + off;
        int l = snprintf(d, 1024 - 64,
                         "{\"id\":\"tx-%020zu\",\"ts\":\"2026-11-24T09:%02d:%02d.%03dZ\",\"card_id\":\"c-%06zu\","
                         "\"merchant_id\":\"m-%05zu\",\"Time\":%.0f",
                         out->n + 1, (int)(out->n / 60 % 60), (int)(out->n % 60), (int)(out->n % 1000),
                         out->n * 7919 % 1000000, out->n * 104729 % 50000, v[0]);
        for (int i = 1; i <= 28; i++) l += snprintf(d + l, (size_t)(1024 - 64 - l), ",\"V%d\":%.9g", i, v[i]);
        l += snprintf(d + l, (size_t)(1024 - 64 - l), ",\"Amount\":%.2f}", v[29]);
        memset(d + l, ' ', 64);
        out->r[out->n].ptr = d;
        out->r[out->n].len = (size_t)l;
        out->n++;
        off += 1024;
        total += (size_t)l;
    }
    fclose(f);
    out->mean_len = (double)total / (double)out->n;
    return 0;
}

static volatile double sink;

typedef double (*round_fn)(void *ctx, const recs *rs, size_t *done);

static double best_ns(round_fn fn, void *ctx, const recs *rs, double secs) {
    double best = 1e30;
    for (int round = 0; round < 5; round++) {
        size_t done = 0;
        double t0 = now(), t;
        do {
            fn(ctx, rs, &done);
            t = now() - t0;
        } while (t < secs / 5);
        double ns = t * 1e9 / (double)done;
        if (ns < best) best = ns;
    }
    return best;
}

/* ---- fraudd path ---- */
typedef struct fctx {
    fr_scorer *s;
    fr_scored res[BATCH];
} fctx;

static int padded = 1; /* 0 with --unpadded */

static double run_fraudd(void *c, const recs *rs, size_t *done) {
    fctx *f = c;
    for (size_t i = 0; i + BATCH <= rs->n; i += BATCH) {
        fr_scorer_run(f->s, rs->r + i, BATCH, padded, f->res);
        sink += f->res[0].score;
    }
    *done += rs->n / BATCH * BATCH;
    return 0;
}

/* ---- stages ---- */
typedef struct sctx {
    const fr_model *m;
    fr_decoder *dec;
    fr_workspace *ws;
    float x[BATCH * 64], y[BATCH * 64];
    fr_score sc[BATCH];
    fr_slice pt[1];
    char out[4096];
    const char *const *names;
} sctx;

static double run_decode(void *c, const recs *rs, size_t *done) {
    sctx *s = c;
    for (size_t i = 0; i < rs->n; i++) fr_decoder_decode(s->dec, rs->r[i].ptr, rs->r[i].len, 1, s->x, s->pt, NULL, 0);
    sink += s->x[0];
    *done += rs->n;
    return 0;
}

static double run_model(void *c, const recs *rs, size_t *done) {
    sctx *s = c;
    for (size_t i = 0; i + BATCH <= rs->n; i += BATCH) { /* feature-major, as the scorer runs it */
        fr_model_run_fm(s->m, s->ws, s->x, BATCH, BATCH, s->y);
        fr_score_batch_fm(s->m, s->x, s->y, BATCH, BATCH, 1.0, s->sc);
    }
    sink += s->sc[0].score;
    *done += rs->n / BATCH * BATCH;
    return 0;
}

static double run_encode(void *c, const recs *rs, size_t *done) {
    sctx *s = c;
    const char *ptn[1] = {"id"};
    fr_encode_opts eo = {ptn, 1, 0};
    fr_slice pt = {"\"tx-00000000000000000001\"", 24};
    for (size_t i = 0; i < rs->n; i++) sink += (double)fr_result_encode(s->out, sizeof s->out, s->m, &eo, &s->sc[i % BATCH], 1.0, s->x, s->y, &pt);
    *done += rs->n;
    return 0;
}

/* ---- jansson baseline ---- */
static double run_jansson(void *c, const recs *rs, size_t *done) {
    sctx *s = c;
    size_t nin = fr_model_n_features(s->m);
    for (size_t i = 0; i + BATCH <= rs->n; i += BATCH) {
        json_t *ids[BATCH];
        for (size_t k = 0; k < BATCH; k++) {
            json_error_t e;
            json_t *doc = json_loadb(rs->r[i + k].ptr, rs->r[i + k].len, 0, &e);
            for (size_t f = 0; f < nin; f++) {
                json_t *v = json_object_get(doc, s->names[f]);
                s->x[k * nin + f] = (float)json_number_value(v);
            }
            s->x[k * nin + nin - 1] = log1pf(s->x[k * nin + nin - 1]);
            ids[k] = json_incref(json_object_get(doc, "id"));
            json_decref(doc);
        }
        fr_model_run(s->m, s->ws, s->x, BATCH, s->y);
        fr_score_batch(s->m, s->x, s->y, BATCH, fr_model_threshold(s->m), s->sc);
        for (size_t k = 0; k < BATCH; k++) {
            json_t *top = json_array();
            for (int t = 0; t < s->sc[k].n_top; t++)
                json_array_append_new(top, json_pack("{s:s,s:f,s:f}", "name", s->names[s->sc[k].top_idx[t]], "value",
                                                     (double)s->x[k * nin + s->sc[k].top_idx[t]], "error",
                                                     (double)s->sc[k].top_err[t]));
            json_t *o = json_pack("{s:o,s:f,s:f,s:b,s:s,s:o}", "id", ids[k], "score", s->sc[k].score, "threshold",
                                  fr_model_threshold(s->m), "is_fraud", s->sc[k].is_fraud, "model_version",
                                  fr_model_version(s->m), "top_features", top);
            char *txt = json_dumps(o, JSON_COMPACT);
            sink += (double)strlen(txt);
            free(txt);
            json_decref(o);
        }
    }
    *done += rs->n / BATCH * BATCH;
    return 0;
}

int main(int argc, char **argv) {
    const char *data = "data/ulb/creditcard_legit_train.csv";
    double secs = 2.0;
    const char *only = NULL; /* --only fraudd: just that path (for profiling); --only model: that stage */
    const char *model = NULL;
    long passes = 0; /* --passes N: with --only fraudd, exactly N passes over the records, untimed (perf stat) */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) secs = atof(argv[++i]);
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
        else if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) data = argv[++i];
        else if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) model = argv[++i];
        else if (strcmp(argv[i], "--passes") == 0 && i + 1 < argc) passes = atol(argv[++i]);
        else if (strcmp(argv[i], "--unpadded") == 0) padded = 0;
        else if (strcmp(argv[i], "--kernel") == 0 && i + 1 < argc) {
            if (fr_model_use_kernel(argv[++i]) != 0) {
                fprintf(stderr, "bench_e2e: kernel %s is unknown or this CPU lacks it\n", argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "bench_e2e: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    recs rs;
    if (load_records(data, &rs)) return 1;
    char err[512];
    fr_model *m;
    if (model ? fr_model_load_file(model, &m, err, sizeof err) : fr_model_load_default(&m, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const char *pt[] = {"id"};
    fr_scorer_opts so = {.passthrough = pt, .np = 1, .threshold = NAN, .max_batch = BATCH, .max_record_bytes = 1 << 16};
    static fctx fc;
    fc.s = fr_scorer_new(m, &so, err, sizeof err);
    static sctx sc;
    sc.m = m;
    sc.names = fr_model_feature_names(m);
    fr_record_schema *schema;
    fr_record_schema_new(sc.names, fr_model_n_features(m), NULL, NULL, pt, 1, &schema, err, sizeof err);
    sc.dec = fr_decoder_new(schema, 1 << 16);
    sc.ws = fr_workspace_new(m, BATCH);

    printf("%zu real ULB records, mean %.0f bytes, model %s, batch %d, one thread\n", rs.n, rs.mean_len,
           fr_model_version(m), BATCH);
    if (only && strcmp(only, "model") == 0) { /* --only model: the model + score stage alone */
        double t = best_ns(run_model, &sc, &rs, secs);
        printf("RESULT model_stage_ns_per_record %.1f\n", t);
        return 0;
    }
    if (only && passes > 0) { /* fixed work: cycles/record = perf stat's cycles / the printed count */
        size_t done = 0;
        for (long p = 0; p < passes; p++) run_fraudd(&fc, &rs, &done);
        printf("fraudd path only: %zu records\n", done);
        return 0;
    }
    if (only) {
        double t = best_ns(run_fraudd, &fc, &rs, secs);
        printf("fraudd path only: %.0f ns/record\n", t);
        return 0;
    }
    double tj = best_ns(run_jansson, &sc, &rs, secs);
    double tf = best_ns(run_fraudd, &fc, &rs, secs);
    double td = best_ns(run_decode, &sc, &rs, secs);
    double tm = best_ns(run_model, &sc, &rs, secs);
    double te = best_ns(run_encode, &sc, &rs, secs);
    printf("%-52s %9.0f ns/record %10.0f records/s\n", "baseline: jansson decode + same model + jansson encode", tj,
           1e9 / tj);
    printf("%-52s %9.0f ns/record %10.0f records/s  (%.1fx baseline)\n", "fraudd: simdjson decode + model + encode",
           tf, 1e9 / tf, tj / tf);
    printf("  stage: decode (simdjson On-Demand)     %7.0f ns\n", td);
    printf("  stage: model + score (fused, batch 64) %7.0f ns\n", tm);
    printf("  stage: encode (to_chars)               %7.0f ns\n", te);
    printf("RESULT e2e_ns_per_record fraudd=%.0f jansson=%.0f decode=%.0f model=%.0f encode=%.0f\n", tf, tj, td, tm, te);
    fr_scorer_free(fc.s);
    fr_decoder_free(sc.dec);
    fr_record_schema_free(schema);
    fr_workspace_free(sc.ws);
    fr_model_free(m);
    free(rs.buf);
    free(rs.r);
    return 0;
}
