/* Internal layout of a compiled model (see include/fraudd/model.h).
 *
 * A plan is a list of layers, each  y = act(W (x + pre) + b):
 *   DENSE  W is out x in, row-major (reference) and also packed for the
 *          SIMD kernels (wp: same values, rows padded to FR__ALIGN floats);
 *   DIAG   in == out and W is a diagonal (w[i]) - a per-feature affine that
 *          could not be folded into a neighbouring dense layer (for example
 *          an activation right after input scaling, or scaling after the last
 *          activation).
 * `pre` is an optional per-input shift applied before the product. Input
 * standardisation (x - mean) / std folds into it (the shift, exactly as the
 * source graph computes it, so no cancellation is introduced) and into W
 * (the 1/std scale).
 *
 * Everything is immutable after fr_model_load_*; workspaces hold the only
 * mutable memory.
 */
#ifndef FR_MODEL_INTERNAL_H
#define FR_MODEL_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "fraudd/model.h"

/* Lanes of one SIMD block in the kernels: records are processed 16 at a
 * time, one record per float lane (fits one AVX-512 register, two AVX2). */
#define FR__LANES 16

typedef enum fr__layer_kind { FR__DENSE = 1, FR__DIAG = 2 } fr__layer_kind;

typedef struct fr__layer {
    fr__layer_kind kind; /* DENSE or DIAG */
    uint32_t in, out;    /* widths */
    fr_act act;          /* fused activation */
    float alpha;         /* LeakyRelu slope */
    float *w;            /* DENSE: out*in row-major; DIAG: out scales */
    float *b;            /* out biases */
    float *pre;          /* in input shifts, or NULL when all zero */
    char *ops;           /* source nodes fused here, for inspect */
    /* Packed copies for the small-batch (row) kernel, made by fr__plan_pack:
     * outputs padded to a multiple of FR__LANES with zeros. */
    uint32_t opad;       /* out rounded up to FR__LANES */
    float *wt;           /* DENSE: in x opad, W transposed; DIAG: opad scales */
    float *bp;           /* opad biases */
} fr__layer;

struct fr_model {
    fr_model_kind kind;   /* autoencoder or scorer */
    size_t n_in, n_out;   /* graph input / output widths */
    size_t n_layers;      /* plan length */
    fr__layer *layers;    /* the plan */
    size_t max_width;     /* widest activation vector in the plan */

    char **features;      /* n_in feature names */
    float *defaults;      /* n_in default values (valid where has_default) */
    uint8_t *has_default; /* n_in flags */
    uint8_t *log1p;       /* n_in flags: log1p before the graph */
    float *err_w;         /* n_in error weights (1 unless metadata says) */
    double threshold;     /* fraudd.threshold */
    char *version;        /* fraudd.version */
    char *origin;         /* file path or "<embedded default>" */
    char *producer;       /* "pytorch 1.13.1" */
    char *source_ops;     /* op types of the source graph, comma separated */
    char *selftest;       /* fraudd.selftest metadata as written, or NULL */
    _Atomic int refs;     /* owners beyond the first (fr_model_retain) */
};

struct fr_workspace {
    size_t max_batch;     /* records per call */
    size_t lanes;         /* max_batch rounded up to FR__LANES */
    size_t width;         /* floats per feature row in buf[] (= lanes) */
    float *buf[2];        /* ping-pong activations, feature-major: [max_width][lanes] */
    float *row[2];        /* ping-pong activations of one record, max_width padded */
    float *xt, *yt;       /* fr_model_run's transposed input and output: [width][lanes] */
};

/* Below this many records a batch runs record by record with outputs in
 * the vector lanes (the row kernel): a lane block would be mostly empty. */
#define FR__ROW_KERNEL_BELOW 8

/* Makes the packed copies (wt, bp) of every layer. Returns 0 or FR_ENOMEM. */
int fr__plan_pack(fr_model *m);

/* Reads and compiles; fills everything but origin. */
int fr__model_compile(const void *buf, size_t len, const char *origin, fr_model *m,
                      char *err, size_t errlen);
/* Frees everything a model owns, including m. NULL is fine. */
void fr__model_destroy(fr_model *m);

#endif
