/* libFuzzer target: arbitrary bytes as an ONNX model file.
 * Invariants: loading never crashes, leaks or hangs; a refusal always
 * carries a message; a model that loads runs a small batch through both
 * paths with finite-or-not (but never out-of-bounds) results, and the
 * reload checks (src/reload: self-test probes, the fraudd.selftest JSON)
 * either accept it or say why. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fraudd/model.h"
#include "fraudd/reload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[512];
    err[0] = 0;
    fr_model *m = NULL;
    int rc = fr_model_load_mem(data, size, "fuzz.onnx", &m, err, sizeof err);
    if (rc != 0) {
        if (m != NULL || err[0] == 0) abort();
        return 0;
    }
    size_t nin = fr_model_n_features(m), nout = fr_model_n_outputs(m);
    if (nin <= 4096 && fr_model_n_layers(m) <= 64) {
        enum { N = 3 };
        float *x = calloc(N * nin, sizeof(float)), *y = calloc(N * nout, sizeof(float));
        fr_workspace *ws = fr_workspace_new(m, N);
        if (x && y && ws) {
            for (size_t i = 0; i < N * nin; i++) x[i] = (float)i * 0.25f - 1.0f;
            fr_model_run(m, ws, x, N, y);
            fr_model_run_reference(m, x, N, y);
        }
        fr_workspace_free(ws);
        free(x);
        free(y);
    }
    fr_model *checked = NULL;
    err[0] = 0;
    if (fr_model_check(data, size, "fuzz.onnx", m, NULL, &checked, err, sizeof err) != 0 && err[0] == 0) abort();
    fr_model_free(checked);
    checked = NULL;
    if (fr_model_check(data, size, "fuzz.onnx", NULL, NULL, &checked, err, sizeof err) != 0 && err[0] == 0) abort();
    fr_model_free(checked);
    fr_model_free(m);
    return 0;
}
