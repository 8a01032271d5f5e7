/* Builds small ONNX models in memory for tests, with the same protobuf-c
 * code the loader uses. Header-only; every test binary that includes it
 * gets its own copy.
 *
 *   ob_model *b = ob_new(29);                // input "x" [N, 29]
 *   ob_gemm(b, 16, 1);                        // random weights, bias
 *   ob_unary(b, "Relu");
 *   ...
 *   size_t len; uint8_t *buf = ob_pack(b, &len);   // also frees b
 */
#ifndef FR_TEST_ONNX_BUILDER_H
#define FR_TEST_ONNX_BUILDER_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"

#define OB_MAX 64

typedef struct ob_model {
    Onnx__ModelProto m;
    Onnx__GraphProto g;
    Onnx__OperatorSetIdProto opset, opset_ml, *opsets[2];
    Onnx__NodeProto *nodes[OB_MAX];
    Onnx__TensorProto *inits[OB_MAX];
    Onnx__StringStringEntryProto *meta[8];
    Onnx__ValueInfoProto in, out, *ins[1], *outs[1];
    Onnx__TypeProto in_t, out_t;
    Onnx__TypeProto__Tensor in_tt, out_tt;
    Onnx__TensorShapeProto in_s, out_s;
    Onnx__TensorShapeProto__Dimension dims[4], *in_d[2], *out_d[2];
    char cur[32];      /* name of the running tensor */
    size_t width;      /* its width */
    int n;             /* names issued */
    uint64_t rng;
    void *owned[1024]; /* everything malloc'd, freed by ob_pack */
    size_t n_owned;
} ob_model;

static inline void *ob_own(ob_model *b, void *p) {
    b->owned[b->n_owned++] = p;
    return p;
}

static inline char *ob_name(ob_model *b, const char *prefix) {
    char *s = ob_own(b, malloc(32));
    snprintf(s, 32, "%s%d", prefix, b->n++);
    return s;
}

/* Uniform in [-1, 1), deterministic. */
static inline float ob_rand(ob_model *b) {
    b->rng = b->rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(b->rng >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
}

static inline ob_model *ob_new(size_t width) {
    ob_model *b = calloc(1, sizeof *b);
    onnx__model_proto__init(&b->m);
    onnx__graph_proto__init(&b->g);
    onnx__operator_set_id_proto__init(&b->opset);
    b->opset.has_version = 1;
    b->opset.version = 13;
    b->opset.domain = "";
    onnx__operator_set_id_proto__init(&b->opset_ml);
    b->opset_ml.has_version = 1;
    b->opset_ml.version = 1;
    b->opset_ml.domain = "ai.onnx.ml";
    b->opsets[0] = &b->opset;
    b->opsets[1] = &b->opset_ml;
    b->m.n_opset_import = 2;
    b->m.opset_import = b->opsets;
    b->m.has_ir_version = 1;
    b->m.ir_version = 8;
    b->m.producer_name = "fraudd-tests";
    b->m.graph = &b->g;
    b->g.name = "test";
    b->g.node = b->nodes;
    b->g.initializer = b->inits;
    b->m.metadata_props = b->meta;
    b->rng = 12345;
    /* input x [N, width], output filled in by ob_pack */
    for (int i = 0; i < 4; i++) onnx__tensor_shape_proto__dimension__init(&b->dims[i]);
    b->dims[0].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
    b->dims[0].dim_param = "N";
    b->dims[1].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
    b->dims[1].dim_value = (int64_t)width;
    b->dims[2] = b->dims[0];
    b->in_d[0] = &b->dims[0];
    b->in_d[1] = &b->dims[1];
    b->out_d[0] = &b->dims[2];
    b->out_d[1] = &b->dims[3];
    onnx__tensor_shape_proto__init(&b->in_s);
    b->in_s.n_dim = 2;
    b->in_s.dim = b->in_d;
    onnx__tensor_shape_proto__init(&b->out_s);
    b->out_s.n_dim = 2;
    b->out_s.dim = b->out_d;
    onnx__type_proto__tensor__init(&b->in_tt);
    b->in_tt.has_elem_type = 1;
    b->in_tt.elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    b->in_tt.shape = &b->in_s;
    b->out_tt = b->in_tt;
    b->out_tt.shape = &b->out_s;
    onnx__type_proto__init(&b->in_t);
    b->in_t.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    b->in_t.tensor_type = &b->in_tt;
    b->out_t = b->in_t;
    b->out_t.tensor_type = &b->out_tt;
    onnx__value_info_proto__init(&b->in);
    b->in.name = "x";
    b->in.type = &b->in_t;
    onnx__value_info_proto__init(&b->out);
    b->out.type = &b->out_t;
    b->ins[0] = &b->in;
    b->outs[0] = &b->out;
    b->g.n_input = 1;
    b->g.input = b->ins;
    b->g.n_output = 1;
    b->g.output = b->outs;
    strcpy(b->cur, "x");
    b->width = width;
    return b;
}

static inline void ob_meta(ob_model *b, const char *k, const char *v) {
    Onnx__StringStringEntryProto *e = ob_own(b, malloc(sizeof *e));
    onnx__string_string_entry_proto__init(e);
    e->key = (char *)k;
    e->value = (char *)v;
    b->meta[b->m.n_metadata_props++] = e;
}

/* Float initializer with the given dims and values (NULL: random). */
static inline char *ob_init(ob_model *b, size_t rank, const int64_t *dims, const float *vals) {
    Onnx__TensorProto *t = ob_own(b, malloc(sizeof *t));
    onnx__tensor_proto__init(t);
    t->name = ob_name(b, "w");
    t->n_dims = rank;
    t->dims = ob_own(b, malloc(rank * sizeof(int64_t) + 1));
    size_t n = 1;
    for (size_t i = 0; i < rank; i++) {
        t->dims[i] = dims[i];
        n *= (size_t)dims[i];
    }
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->n_float_data = n;
    t->float_data = ob_own(b, malloc(n * sizeof(float) + 1));
    for (size_t i = 0; i < n; i++) t->float_data[i] = vals ? vals[i] : ob_rand(b) * 0.5f;
    b->inits[b->g.n_initializer++] = t;
    return t->name;
}

static inline Onnx__NodeProto *ob_node(ob_model *b, const char *op, size_t n_in, const char *const *ins) {
    Onnx__NodeProto *n = ob_own(b, malloc(sizeof *n));
    onnx__node_proto__init(n);
    n->op_type = (char *)op;
    n->name = ob_name(b, op);
    n->n_input = n_in;
    n->input = ob_own(b, malloc(n_in * sizeof(char *) + 1));
    for (size_t i = 0; i < n_in; i++) /* copies: ins may alias b->cur */
        n->input[i] = strcpy(ob_own(b, malloc(strlen(ins[i]) + 1)), ins[i]);
    n->n_output = 1;
    n->output = ob_own(b, malloc(sizeof(char *)));
    n->output[0] = ob_name(b, "t");
    b->nodes[b->g.n_node++] = n;
    return n;
}

static inline void ob_advance(ob_model *b, Onnx__NodeProto *n) { snprintf(b->cur, sizeof b->cur, "%s", n->output[0]); }

static inline Onnx__AttributeProto *ob_attr(ob_model *b, Onnx__NodeProto *n, const char *name) {
    Onnx__AttributeProto *a = ob_own(b, malloc(sizeof *a));
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    Onnx__AttributeProto **p = ob_own(b, malloc((n->n_attribute + 1) * sizeof *p));
    if (n->n_attribute) memcpy(p, n->attribute, n->n_attribute * sizeof *p);
    p[n->n_attribute++] = a;
    n->attribute = p;
    return a;
}

static inline void ob_attr_f(ob_model *b, Onnx__NodeProto *n, const char *name, float v) {
    Onnx__AttributeProto *a = ob_attr(b, n, name);
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    a->has_f = 1;
    a->f = v;
}

static inline void ob_attr_i(ob_model *b, Onnx__NodeProto *n, const char *name, int64_t v) {
    Onnx__AttributeProto *a = ob_attr(b, n, name);
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1;
    a->i = v;
}

/* Gemm with transB=1 (PyTorch's nn.Linear), random weights. */
static inline Onnx__NodeProto *ob_gemm(ob_model *b, size_t out, int bias) {
    int64_t wd[2] = {(int64_t)out, (int64_t)b->width}, bd[1] = {(int64_t)out};
    const char *ins[3] = {b->cur, ob_init(b, 2, wd, NULL), bias ? ob_init(b, 1, bd, NULL) : ""};
    Onnx__NodeProto *n = ob_node(b, "Gemm", bias ? 3 : 2, ins);
    ob_attr_i(b, n, "transB", 1);
    ob_advance(b, n);
    b->width = out;
    return n;
}

/* MatMul [width, out] + Add bias, as Keras/sklearn exporters write it. */
static inline void ob_matmul_add(ob_model *b, size_t out) {
    int64_t wd[2] = {(int64_t)b->width, (int64_t)out}, bd[1] = {(int64_t)out};
    const char *ins[2] = {b->cur, ob_init(b, 2, wd, NULL)};
    ob_advance(b, ob_node(b, "MatMul", 2, ins));
    b->width = out;
    const char *ins2[2] = {b->cur, ob_init(b, 1, bd, NULL)};
    ob_advance(b, ob_node(b, "Add", 2, ins2));
}

static inline Onnx__NodeProto *ob_unary(ob_model *b, const char *op) {
    const char *ins[1] = {b->cur};
    Onnx__NodeProto *n = ob_node(b, op, 1, ins);
    ob_advance(b, n);
    return n;
}

/* Elementwise op with a per-feature constant (vals NULL: random in
 * [0.5, 1.5) for Mul/Div, [-1, 1) otherwise); const_first puts it first. */
static inline void ob_binary(ob_model *b, const char *op, const float *vals, int const_first) {
    float *v = ob_own(b, malloc(b->width * sizeof(float)));
    for (size_t i = 0; i < b->width; i++)
        v[i] = vals ? vals[i] : (op[0] == 'M' || op[0] == 'D') ? 1.0f + 0.5f * ob_rand(b) : ob_rand(b);
    int64_t d[1] = {(int64_t)b->width};
    const char *k = ob_init(b, 1, d, v);
    const char *ins[2] = {const_first ? k : b->cur, const_first ? b->cur : k};
    ob_advance(b, ob_node(b, op, 2, ins));
}

static inline void ob_batchnorm(ob_model *b) {
    int64_t d[1] = {(int64_t)b->width};
    float *var = ob_own(b, malloc(b->width * sizeof(float)));
    for (size_t i = 0; i < b->width; i++) var[i] = 0.5f + ob_rand(b) * 0.25f + 0.25f;
    const char *ins[5] = {b->cur, ob_init(b, 1, d, NULL), ob_init(b, 1, d, NULL), ob_init(b, 1, d, NULL),
                          ob_init(b, 1, d, var)};
    Onnx__NodeProto *n = ob_node(b, "BatchNormalization", 5, ins);
    ob_attr_f(b, n, "epsilon", 1e-5f);
    ob_advance(b, n);
}

/* Features meta f0..f{n-1}; packs; frees the builder. */
static uint8_t *ob_pack(ob_model *b, size_t *len) {
    static char feats[65536];
    size_t o = 0, nin = (size_t)b->dims[1].dim_value;
    o += (size_t)snprintf(feats + o, sizeof feats - o, "[");
    for (size_t i = 0; i < nin && o < sizeof feats - 16; i++)
        o += (size_t)snprintf(feats + o, sizeof feats - o, "%s\"f%zu\"", i ? "," : "", i);
    snprintf(feats + o, sizeof feats - o, "]");
    int has = 0;
    for (size_t i = 0; i < b->m.n_metadata_props; i++) has |= strcmp(b->meta[i]->key, "fraudd.features") == 0;
    if (!has) ob_meta(b, "fraudd.features", feats);
    b->out.name = b->cur;
    b->dims[3].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
    b->dims[3].dim_value = (int64_t)b->width;
    *len = onnx__model_proto__get_packed_size(&b->m);
    uint8_t *buf = malloc(*len + 1);
    onnx__model_proto__pack(&b->m, buf);
    for (size_t i = 0; i < b->n_owned; i++) free(b->owned[i]);
    free(b);
    return buf;
}

#endif
