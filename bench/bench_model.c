/* Benchmark (b) of issue 2: the model alone, single thread.
 *
 *   bench_model [MODEL.onnx] [--seconds S] [--kernel avx512|avx2|generic]
 *
 * --kernel: the SIMD kernel set to run (default: the widest the CPU has),
 * so every set can be measured on one machine.
 * Runs the compiled plan at batch 1 and batch 64 on rows drawn from a fixed
 * pseudo-random input, and the scalar reference in the same run as the
 * baseline. Prints ns/record for each and the ratios. ONNX Runtime on the
 * same model and batch is measured by bench/bench_ort.py (the numbers go side
 * by side in docs/BENCHMARKS.md). Not a test: nothing here asserts a time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fraudd/model.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static volatile float sink;

/* ns per record of fn over `secs` seconds, best of 5 rounds. */
static double measure(const fr_model *m, fr_workspace *ws, const float *x, size_t pool, size_t batch, int ref,
                      double secs) {
    size_t nin = fr_model_n_features(m), nout = fr_model_n_outputs(m);
    float *y = malloc((batch < 64 ? 64 : batch) * (nout > nin ? nout : nin) * sizeof(float));
    double best = 1e30;
    for (int round = 0; round < 5; round++) {
        size_t recs = 0, off = 0;
        double t0 = now(), t;
        do {
            for (int k = 0; k < 64; k++) {
                if (off + batch > pool) off = 0;
                if (ref == 1) fr_model_run_reference(m, x + off * nin, batch, y);
                else if (ref == 2) fr_model_run_fm(m, ws, x + off * nin, 64, batch, y); /* x as [nin][64] */
                else fr_model_run(m, ws, x + off * nin, batch, y);
                sink += y[0];
                off += batch;
                recs += batch;
            }
            t = now() - t0;
        } while (t < secs / 5);
        double ns = t * 1e9 / (double)recs;
        if (ns < best) best = ns;
    }
    free(y);
    return best;
}

int main(int argc, char **argv) {
    const char *path = NULL;
    double secs = 2.0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) secs = atof(argv[++i]);
        else if (strcmp(argv[i], "--kernel") == 0 && i + 1 < argc) {
            if (fr_model_use_kernel(argv[++i]) != 0) {
                fprintf(stderr, "bench_model: kernel %s is unknown or this CPU lacks it\n", argv[i]);
                return 2;
            }
        } else path = argv[i];
    }
    char err[512];
    fr_model *m = NULL;
    int rc = path ? fr_model_load_file(path, &m, err, sizeof err) : fr_model_load_default(&m, err, sizeof err);
    if (rc) {
        fprintf(stderr, "bench_model: %s\n", err);
        return 1;
    }
    size_t nin = fr_model_n_features(m), pool = 4096;
    float *x = malloc(pool * nin * sizeof(float));
    uint64_t s = 42;
    for (size_t i = 0; i < pool * nin; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(s >> 11) / (double)(1ull << 53) * 4.0 - 2.0);
    }
    fr_workspace *ws = fr_workspace_new(m, 64);
    printf("model %s (%s): %zu features, %zu fused layers; kernel %s\n", fr_model_origin(m), fr_model_version(m),
           nin, fr_model_n_layers(m), fr_model_kernel());
    double r1 = measure(m, ws, x, pool, 1, 1, secs), f1 = measure(m, ws, x, pool, 1, 0, secs);
    double r64 = measure(m, ws, x, pool, 64, 1, secs), f64 = measure(m, ws, x, pool, 64, 0, secs);
    double fm64 = measure(m, ws, x, pool, 64, 2, secs);
    printf("%-28s %10s %10s\n", "", "batch 1", "batch 64");
    printf("%-28s %8.1f ns %8.1f ns\n", "scalar reference (baseline)", r1, r64);
    printf("%-28s %8.1f ns %8.1f ns\n", "fraudd fused SIMD plan", f1, f64);
    printf("%-28s %10s %8.1f ns\n", "  feature-major (no transposes)", "", fm64);
    printf("%-28s %9.1fx %9.1fx\n", "speed-up vs reference", r1 / f1, r64 / fm64);
    printf("RESULT model_ns_per_record batch1=%.1f batch64=%.1f batch64_fm=%.1f ref_batch1=%.1f ref_batch64=%.1f\n", f1,
           f64, fm64, r1, r64);
    fr_workspace_free(ws);
    free(x);
    fr_model_free(m);
    return 0;
}
