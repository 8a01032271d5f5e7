/* fraudd model: an ONNX feed-forward graph compiled into a fused plan.
 *
 * Loading (fr_model_load_*) reads the ONNX protobuf with protobuf-c, walks the
 * graph as a single chain from its one input to its one output, and compiles
 * it: every dense op (Gemm, MatMul[+Add]) becomes one layer with its bias and
 * the following activation fused in; every per-feature affine op (Add, Sub,
 * Mul, Div by constants, BatchNormalization, ai.onnx.ml Scaler) is folded
 * into the neighbouring layer's weights; Identity, Dropout and shape-keeping
 * Flatten/Reshape vanish. Anything else is refused with an error naming the
 * node, its op and what was expected.
 *
 * Running: fr_model_run() evaluates a batch of records with the SIMD kernels
 * (weights laid out for them at load time); fr_model_run_reference() is the
 * plain scalar evaluation of the same plan that tests compare against.
 *
 * Metadata (ONNX metadata_props, documented in docs/MODEL_FORMAT.md):
 *   fraudd.features      JSON array of feature names, in input column order
 *   fraudd.threshold     score threshold (is_fraud = score > threshold)
 *   fraudd.version       model version string
 *   fraudd.defaults      JSON object feature -> default value when missing
 *   fraudd.error_weights JSON array, per-feature weights w_i in the score
 *   fraudd.log1p         JSON array of feature names transformed by log1p
 *                        before the graph (preprocessing not in the graph)
 *   fraudd.selftest      optional JSON {"records": [{feature: value, ...}, ...],
 *                        "scores": [expected score, ...]}: a model reloaded
 *                        into a running daemon must reproduce these scores
 *                        (src/reload) before it may serve
 *   fraudd.score_histogram optional JSON {"edges": [e1, ..., e_{k-1}],
 *                        "counts": [c0, ..., c_{k-1}], "source": "text"}: the
 *                        scores of the model's validation data in k bins
 *                        (2 <= k <= FR_MODEL_MAX_SCORE_BINS; bin 0 holds
 *                        score < e1, bin i e_i <= score < e_{i+1}, the last
 *                        score >= e_{k-1}), the reference the live scores'
 *                        drift is measured against (docs/METRICS.md)
 *
 * Thread safety: a loaded fr_model is immutable (but for its owner count);
 * any number of threads may run it at once, each with its own fr_workspace.
 */
#ifndef FRAUDD_MODEL_H
#define FRAUDD_MODEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fr_model fr_model;
typedef struct fr_workspace fr_workspace;

typedef enum fr_model_kind {
    FR_MODEL_AUTOENCODER = 1, /* output width == input width: score = weighted MSE */
    FR_MODEL_SCORER = 2       /* one output: that output is the score */
} fr_model_kind;

typedef enum fr_act {
    FR_ACT_NONE = 0,
    FR_ACT_RELU,
    FR_ACT_LEAKY_RELU,
    FR_ACT_SIGMOID,
    FR_ACT_TANH
} fr_act;

/* Largest batch fr_model_run accepts in one call. */
#define FR_MODEL_MAX_BATCH 256

int fr_model_load_file(const char *path, fr_model **out, char *err, size_t errlen);
/* buf need not outlive the call. origin names the source in error messages. */
int fr_model_load_mem(const void *buf, size_t len, const char *origin,
                      fr_model **out, char *err, size_t errlen);
/* The model compiled into the binary (models/default/). */
int fr_model_load_default(fr_model **out, char *err, size_t errlen);
/* A model may have several owners (a model generation keeps a model it
 * shares with the next one): fr_model_retain adds one and returns m;
 * fr_model_free drops one and frees the model with the last. */
void fr_model_free(fr_model *m);
fr_model *fr_model_retain(const fr_model *m);

fr_model_kind fr_model_get_kind(const fr_model *m);
size_t fr_model_n_features(const fr_model *m);
size_t fr_model_n_outputs(const fr_model *m);
const char *fr_model_feature_name(const fr_model *m, size_t i);
/* All n_features names, in input order. */
const char *const *fr_model_feature_names(const fr_model *m);
/* 1 and *value set if the metadata gives feature i a default, else 0. */
int fr_model_feature_default(const fr_model *m, size_t i, float *value);
/* 1 if feature i is log1p-transformed before the graph. */
int fr_model_feature_log1p(const fr_model *m, size_t i);
float fr_model_error_weight(const fr_model *m, size_t i);
/* All n_features error weights. */
const float *fr_model_error_weights(const fr_model *m);
double fr_model_threshold(const fr_model *m);
const char *fr_model_version(const fr_model *m);
const char *fr_model_origin(const fr_model *m);
/* Producer info from the ONNX file ("pytorch 1.13.1", "skl2onnx 1.20.0"). */
const char *fr_model_producer(const fr_model *m);

/* Compiled plan, for `fraudd inspect` and tests. */
size_t fr_model_n_layers(const fr_model *m);
typedef struct fr_layer_info {
    size_t in, out;   /* widths */
    fr_act act;
    float alpha;      /* LeakyRelu slope */
    const char *ops;  /* ONNX node names/ops fused into this layer, e.g. "Gemm(/enc/0)+BatchNormalization(..)+LeakyRelu(..)" */
} fr_layer_info;
void fr_model_layer_info(const fr_model *m, size_t i, fr_layer_info *info);
/* Distinct ONNX op types seen in the source graph, comma separated. */
const char *fr_model_source_ops(const fr_model *m);
/* The fraudd.selftest metadata text, or NULL if the model has none. */
const char *fr_model_selftest(const fr_model *m);

/* Most bins fraudd.score_histogram may have. */
#define FR_MODEL_MAX_SCORE_BINS 64
/* The fraudd.score_histogram reference: its bin count k (0 if the model has
 * none), *edges its k - 1 strictly increasing edges and *expected_fraction
 * the share of the reference scores in each of the k bins (sums to 1).
 * Either pointer may be NULL. */
size_t fr_model_score_bins(const fr_model *m, const double **edges, const double **expected_fraction);

/* Scratch memory for one thread, sized for batches up to max_batch
 * (<= FR_MODEL_MAX_BATCH). Allocated once; running allocates nothing. */
fr_workspace *fr_workspace_new(const fr_model *m, size_t max_batch);
void fr_workspace_free(fr_workspace *ws);

/* x: n rows of n_features floats (row-major, already log1p-preprocessed,
 * see fr_model_preprocess); y: n rows of n_outputs floats.
 * n <= the workspace's max_batch. Fast SIMD path. */
void fr_model_run(const fr_model *m, fr_workspace *ws, const float *x, size_t n, float *y);
/* Feature-major variant, the layout the scorer builds directly (no
 * transposes): feature f of record r at xt[f * ld + r], output j at
 * yt[j * ld + r]. ld is a multiple of 16 and >= n rounded up to 16; lanes
 * past n are computed but ignored (their content is arbitrary). Any n: runs
 * in chunks of the workspace's max_batch. xt is not modified. */
void fr_model_run_fm(const fr_model *m, fr_workspace *ws, const float *xt, size_t ld, size_t n, float *yt);

/* The SIMD kernel set in use: "avx512", "avx2" or "generic" (baseline
 * x86-64, or any other CPU). The CPU's features pick the widest one the
 * first time a model runs. fr_model_use_kernel pins one the CPU supports
 * (for tests and benchmarks of every set on one machine); returns 0, or -1
 * if the name is unknown or the CPU lacks it. Process-wide: call it before
 * models run, not while they run. */
const char *fr_model_kernel(void);
int fr_model_use_kernel(const char *name);

/* Same contract as fr_model_run, scalar reference path (no SIMD, no batching tricks). */
void fr_model_run_reference(const fr_model *m, const float *x, size_t n, float *y);

/* Applies the preprocessing that is not in the graph (log1p features) to
 * one row of raw feature values, in place. Returns 0, or FR_ENONFINITE /
 * FR_ERANGE if a value becomes unusable (log1p of a value <= -1). */
int fr_model_preprocess(const fr_model *m, float *row);

#ifdef __cplusplus
}
#endif

#endif
