/* ONNX -> fused plan.
 *
 * The ONNX protobuf is decoded by protobuf-c (code generated from ONNX's own
 * onnx.proto at build time). The graph must be one chain: exactly one real
 * input [N, F], exactly one output, and every non-constant node reads the
 * tensor the previous node produced. Walking the chain in order, the
 * compiler keeps two things:
 *
 *   open     the last layer is a dense layer with no activation yet, so an
 *            affine op that follows can be folded into its rows (W, b);
 *   pending  a per-feature affine  y = s * (x + u) + t  that has not found a
 *            dense layer yet (input scaling, BatchNormalization after an
 *            activation, ...). The next dense layer absorbs it: s into its
 *            columns, t into its bias, and u stays as the layer's input
 *            shift so (x - mean) is computed exactly as the source graph
 *            does. If an activation comes first, it becomes a DIAG layer.
 *
 * Every refusal names the node, its op and what was expected. Folding is
 * done in double and rounded once to float.
 *
 * Threads: runs once per load, on the loading thread; no shared state.
 */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fraudd/err.h"
#include "model/model_internal.h"
#include "onnx.pb-c.h"

/* Bounds that keep hostile files cheap to refuse. */
#define FR__MAX_NODES 4096
#define FR__MAX_INITIALIZERS 65536
#define FR__MAX_WIDTH 65536
#define FR__MAX_PARAMS (64u * 1024u * 1024u) /* floats in one tensor */

typedef struct fr__const {
    const char *name; /* tensor name (points into the protobuf) */
    double *v;        /* values as double */
    int64_t *iv;      /* values as int64 (only for INT64 tensors) */
    size_t n;         /* element count */
    int64_t dims[4];  /* shape */
    size_t rank;      /* number of dims */
} fr__const;

typedef struct fr__ctx {
    const Onnx__GraphProto *g;
    const char *out_name; /* the graph's output tensor */
    fr__const *consts;   /* initializers and Constant outputs */
    size_t n_consts, cap_consts;
    fr__layer *layers;   /* plan under construction */
    size_t n_layers, cap_layers;
    size_t width;        /* width of the running tensor */
    int open;            /* last layer can take row folding */
    int pending;         /* u/s/t hold an unabsorbed affine */
    double *u, *s, *t;   /* pending affine, width each */
    char *ops_buf;       /* pending op names, to credit the absorbing layer */
    char *err;
    size_t errlen;
} fr__ctx;

/* ---- small helpers -------------------------------------------------- */

static const char *nname(const Onnx__NodeProto *n) {
    return (n->name && n->name[0]) ? n->name : (n->n_output ? n->output[0] : "?");
}

static int node_err(fr__ctx *c, const Onnx__NodeProto *n, const char *what) {
    return fr_set_err(c->err, c->errlen, FR_EUNSUPPORTED, "node '%s' (op %s): %s", nname(n),
                      n->op_type ? n->op_type : "?", what);
}

static int append_str(char **dst, const char *a, const char *b) {
    size_t la = *dst ? strlen(*dst) : 0, lb = strlen(a) + (b ? strlen(b) : 0) + 4;
    char *p = realloc(*dst, la + lb + 1);
    if (!p) return FR_ENOMEM;
    p[la] = 0;
    if (la) strcat(p, "+");
    strcat(p, a);
    if (b) {
        strcat(p, "(");
        strcat(p, b);
        strcat(p, ")");
    }
    *dst = p;
    return 0;
}

/* Credits node n in an ops list once, even if it folds in several steps. */
static int credit(char **ops, const Onnx__NodeProto *n) {
    const char *name = nname(n);
    size_t ln = strlen(name), lo = *ops ? strlen(*ops) : 0;
    if (lo > ln + 1 && (*ops)[lo - 1] == ')' && strncmp(*ops + lo - 1 - ln, name, ln) == 0 &&
        (*ops)[lo - 2 - ln] == '(')
        return 0;
    return append_str(ops, n->op_type, name);
}

static const fr__const *find_const(const fr__ctx *c, const char *name) {
    for (size_t i = c->n_consts; i-- > 0;)
        if (strcmp(c->consts[i].name, name) == 0) return &c->consts[i];
    return NULL;
}

static const Onnx__AttributeProto *attr(const Onnx__NodeProto *n, const char *name) {
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && strcmp(n->attribute[i]->name, name) == 0) return n->attribute[i];
    return NULL;
}

static double attr_f(const Onnx__NodeProto *n, const char *name, double def) {
    const Onnx__AttributeProto *a = attr(n, name);
    return (a && a->has_f) ? a->f : def;
}

static int64_t attr_i(const Onnx__NodeProto *n, const char *name, int64_t def) {
    const Onnx__AttributeProto *a = attr(n, name);
    return (a && a->has_i) ? a->i : def;
}

/* Decodes a TensorProto (FLOAT, DOUBLE or INT64, inline data only). */
static int read_tensor(fr__ctx *c, const Onnx__TensorProto *tp, const char *name, fr__const *out) {
    memset(out, 0, sizeof *out);
    out->name = name;
    if (tp->n_dims > 4)
        return fr_set_err(c->err, c->errlen, FR_EUNSUPPORTED, "tensor '%s': rank %zu, expected at most 4",
                          name, tp->n_dims);
    size_t n = 1;
    for (size_t i = 0; i < tp->n_dims; i++) {
        if (tp->dims[i] < 0 || tp->dims[i] > (int64_t)FR__MAX_PARAMS)
            return fr_set_err(c->err, c->errlen, FR_EMODEL, "tensor '%s': dimension %zu is %lld",
                              name, i, (long long)tp->dims[i]);
        out->dims[i] = tp->dims[i];
        n *= (size_t)tp->dims[i];
        if (n > FR__MAX_PARAMS)
            return fr_set_err(c->err, c->errlen, FR_ETOOBIG, "tensor '%s': more than %u elements",
                              name, FR__MAX_PARAMS);
    }
    out->rank = tp->n_dims;
    out->n = n;
    if (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return fr_set_err(c->err, c->errlen, FR_EUNSUPPORTED,
                          "tensor '%s': external data is not supported, expected weights inside the file", name);
    int dt = tp->has_data_type ? tp->data_type : 0;
    size_t esz = dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT    ? 4
                 : dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE ? 8
                 : dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64  ? 8
                                                               : 0;
    if (!esz)
        return fr_set_err(c->err, c->errlen, FR_EUNSUPPORTED,
                          "tensor '%s': data type %d, expected float (1), double (11) or int64 (7)", name, dt);
    size_t have = tp->has_raw_data ? tp->raw_data.len / esz
                  : dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT  ? tp->n_float_data
                  : dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE ? tp->n_double_data
                                                                : tp->n_int64_data;
    if (have != n || (tp->has_raw_data && tp->raw_data.len != n * esz))
        return fr_set_err(c->err, c->errlen, FR_EMODEL,
                          "tensor '%s': shape holds %zu elements but the data has %zu", name, n, have);
    out->v = malloc((n ? n : 1) * sizeof(double));
    if (!out->v) return FR_ENOMEM;
    if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64) {
        out->iv = malloc((n ? n : 1) * sizeof(int64_t));
        if (!out->iv) return FR_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        double v;
        if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
            float f;
            if (tp->has_raw_data) memcpy(&f, tp->raw_data.data + 4 * i, 4);
            else f = tp->float_data[i];
            v = f;
        } else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE) {
            if (tp->has_raw_data) memcpy(&v, tp->raw_data.data + 8 * i, 8);
            else v = tp->double_data[i];
        } else {
            int64_t iv;
            if (tp->has_raw_data) memcpy(&iv, tp->raw_data.data + 8 * i, 8);
            else iv = tp->int64_data[i];
            out->iv[i] = iv;
            v = (double)iv;
        }
        out->v[i] = v;
    }
    return 0;
}

static int push_const(fr__ctx *c, fr__const *k) {
    if (c->n_consts == c->cap_consts) {
        size_t cap = c->cap_consts ? 2 * c->cap_consts : 16;
        fr__const *p = realloc(c->consts, cap * sizeof *p);
        if (!p) return FR_ENOMEM;
        c->consts = p;
        c->cap_consts = cap;
    }
    c->consts[c->n_consts++] = *k;
    return 0;
}

static void free_const(fr__const *k) {
    free(k->v);
    free(k->iv);
}

/* Constant node -> constant table. */
static int do_constant(fr__ctx *c, const Onnx__NodeProto *n) {
    if (n->n_output != 1 || n->n_attribute != 1) return node_err(c, n, "expected one output and one value attribute");
    const Onnx__AttributeProto *a = n->attribute[0];
    fr__const k;
    int rc;
    if (a->t && a->name && strcmp(a->name, "value") == 0) {
        if ((rc = read_tensor(c, a->t, n->output[0], &k)) != 0) return rc;
    } else if (a->name && (strcmp(a->name, "value_float") == 0 || strcmp(a->name, "value_int") == 0)) {
        memset(&k, 0, sizeof k);
        k.name = n->output[0];
        k.n = 1;
        k.v = malloc(sizeof(double));
        if (!k.v) return FR_ENOMEM;
        k.v[0] = a->has_f ? a->f : (double)a->i;
    } else if (a->name && (strcmp(a->name, "value_floats") == 0 || strcmp(a->name, "value_ints") == 0)) {
        memset(&k, 0, sizeof k);
        k.name = n->output[0];
        int isf = strcmp(a->name, "value_floats") == 0;
        k.n = isf ? a->n_floats : a->n_ints;
        k.rank = 1;
        k.dims[0] = (int64_t)k.n;
        k.v = malloc((k.n ? k.n : 1) * sizeof(double));
        k.iv = isf ? NULL : malloc((k.n ? k.n : 1) * sizeof(int64_t));
        if (!k.v || (!isf && !k.iv)) {
            free_const(&k);
            return FR_ENOMEM;
        }
        for (size_t i = 0; i < k.n; i++) {
            k.v[i] = isf ? a->floats[i] : (double)a->ints[i];
            if (!isf) k.iv[i] = a->ints[i];
        }
    } else {
        return node_err(c, n, "expected a 'value', 'value_float(s)' or 'value_int(s)' attribute");
    }
    if ((rc = push_const(c, &k)) != 0) free_const(&k);
    return rc;
}

/* ---- plan construction --------------------------------------------- */

static fr__layer *new_layer(fr__ctx *c, fr__layer_kind kind, size_t in, size_t out) {
    if (c->n_layers == c->cap_layers) {
        size_t cap = c->cap_layers ? 2 * c->cap_layers : 8;
        fr__layer *p = realloc(c->layers, cap * sizeof *p);
        if (!p) return NULL;
        c->layers = p;
        c->cap_layers = cap;
    }
    fr__layer *l = &c->layers[c->n_layers];
    memset(l, 0, sizeof *l);
    l->kind = kind;
    l->in = (uint32_t)in;
    l->out = (uint32_t)out;
    l->w = calloc(kind == FR__DENSE ? in * out : out, sizeof(float));
    l->b = calloc(out, sizeof(float));
    if (!l->w || !l->b) {
        free(l->w);
        free(l->b);
        return NULL;
    }
    c->n_layers++;
    return l;
}

static void pending_reset(fr__ctx *c) {
    for (size_t i = 0; i < c->width; i++) {
        c->u[i] = 0;
        c->s[i] = 1;
        c->t[i] = 0;
    }
    c->pending = 0;
}

static int resize_pending(fr__ctx *c, size_t width) {
    double *u = realloc(c->u, width * sizeof(double));
    if (u) c->u = u;
    double *s = realloc(c->s, width * sizeof(double));
    if (s) c->s = s;
    double *t = realloc(c->t, width * sizeof(double));
    if (t) c->t = t;
    if (!u || !s || !t) return FR_ENOMEM;
    c->width = width;
    pending_reset(c);
    return 0;
}

/* Moves pending u into l->pre (if any is non-zero). */
static int take_pre(fr__ctx *c, fr__layer *l) {
    int any = 0;
    for (size_t i = 0; i < c->width; i++) any |= c->u[i] != 0;
    if (!any) return 0;
    l->pre = malloc(c->width * sizeof(float));
    if (!l->pre) return FR_ENOMEM;
    for (size_t i = 0; i < c->width; i++) l->pre[i] = (float)c->u[i];
    return 0;
}

/* Pending affine -> DIAG layer (no activation yet; caller may set one). */
static int flush_pending(fr__ctx *c) {
    fr__layer *l = new_layer(c, FR__DIAG, c->width, c->width);
    if (!l) return FR_ENOMEM;
    for (size_t i = 0; i < c->width; i++) {
        l->w[i] = (float)c->s[i];
        l->b[i] = (float)c->t[i];
    }
    int rc = take_pre(c, l);
    l->ops = c->ops_buf;
    c->ops_buf = NULL;
    pending_reset(c);
    return rc;
}

/* Dense layer W (out x in, row-major doubles) + bias, absorbing pending. */
static int add_dense(fr__ctx *c, const double *w, const double *b, size_t in, size_t out,
                     const Onnx__NodeProto *n) {
    fr__layer *l = new_layer(c, FR__DENSE, in, out);
    if (!l) return FR_ENOMEM;
    for (size_t j = 0; j < out; j++) {
        double acc = b ? b[j] : 0.0;
        for (size_t i = 0; i < in; i++) {
            l->w[j * in + i] = (float)(w[j * in + i] * c->s[i]);
            acc += w[j * in + i] * c->t[i];
        }
        l->b[j] = (float)acc;
    }
    int rc = take_pre(c, l);
    if (rc) return rc;
    l->ops = c->ops_buf;
    c->ops_buf = NULL;
    if ((rc = append_str(&l->ops, n->op_type, nname(n))) != 0) return rc;
    if ((rc = resize_pending(c, out)) != 0) return rc;
    c->open = 1;
    return 0;
}

/* Per-feature affine y = k*x + m (k, m of length width). shift_only: k == 1. */
static int add_affine(fr__ctx *c, const double *k, const double *m, int shift_only,
                      const Onnx__NodeProto *n) {
    int rc;
    if (c->open) {
        fr__layer *l = &c->layers[c->n_layers - 1];
        for (size_t j = 0; j < l->out; j++) {
            if (l->kind == FR__DENSE)
                for (size_t i = 0; i < l->in; i++) l->w[j * l->in + i] = (float)(l->w[j * l->in + i] * k[j]);
            else
                l->w[j] = (float)(l->w[j] * k[j]);
            l->b[j] = (float)((double)l->b[j] * k[j] + m[j]);
        }
        return credit(&l->ops, n);
    }
    int fresh = 1;
    for (size_t i = 0; i < c->width && fresh; i++) fresh = c->s[i] == 1 && c->t[i] == 0;
    for (size_t i = 0; i < c->width; i++) {
        if (shift_only && fresh) {
            c->u[i] += m[i];
        } else {
            c->s[i] *= k[i];
            c->t[i] = c->t[i] * k[i] + m[i];
        }
    }
    c->pending = 1;
    if ((rc = credit(&c->ops_buf, n)) != 0) return rc;
    return 0;
}

static int add_activation(fr__ctx *c, fr_act act, float alpha, const Onnx__NodeProto *n) {
    int rc;
    if (c->pending || !c->open) {
        if ((rc = flush_pending(c)) != 0) return rc;
    }
    fr__layer *l = &c->layers[c->n_layers - 1];
    l->act = act;
    l->alpha = alpha;
    c->open = 0;
    return append_str(&l->ops, n->op_type, nname(n));
}

/* Broadcasts a constant to `width` values: scalar, [w], [1, w]. */
static int broadcast(fr__ctx *c, const Onnx__NodeProto *n, const fr__const *k, double *out) {
    size_t w = c->width;
    int ok = k->n == 1 || (k->n == w && (k->rank == 1 || (k->rank == 2 && k->dims[0] == 1)));
    if (!ok) {
        char msg[160];
        snprintf(msg, sizeof msg, "constant '%s' has %zu elements, expected a scalar or one value per feature (%zu)",
                 k->name, k->n, w);
        return node_err(c, n, msg);
    }
    for (size_t i = 0; i < w; i++) out[i] = k->v[k->n == 1 ? 0 : i];
    return 0;
}

/* Finds the data input (the running tensor) among a node's inputs; returns
 * its index, or -1. Other inputs must be constants or empty. */
static int data_input(const fr__ctx *c, const Onnx__NodeProto *n, const char *cur) {
    int at = -1;
    for (size_t i = 0; i < n->n_input; i++) {
        if (strcmp(n->input[i], cur) == 0) {
            if (at >= 0) return -2;
            at = (int)i;
        } else if (n->input[i][0] && !find_const(c, n->input[i])) {
            return -3;
        }
    }
    return at;
}

static const fr__const *need_const(fr__ctx *c, const Onnx__NodeProto *n, size_t i, const char *role, int *rc) {
    const fr__const *k = i < n->n_input && n->input[i][0] ? find_const(c, n->input[i]) : NULL;
    if (!k) {
        char msg[160];
        snprintf(msg, sizeof msg, "input %zu (%s) must be a constant initializer", i, role);
        *rc = node_err(c, n, msg);
    }
    return k;
}

static int do_gemm(fr__ctx *c, const Onnx__NodeProto *n, int is_matmul) {
    int rc = 0;
    if (n->n_input < 2 || strcmp(n->input[0], n->input[1]) == 0 || find_const(c, n->input[0]))
        return node_err(c, n, "expected the running tensor as input A and constant weights as input B");
    const fr__const *B = need_const(c, n, 1, "weights B", &rc);
    if (!B) return rc;
    int64_t transA = is_matmul ? 0 : attr_i(n, "transA", 0), transB = is_matmul ? 0 : attr_i(n, "transB", 0);
    double alpha = is_matmul ? 1 : attr_f(n, "alpha", 1.0), beta = is_matmul ? 1 : attr_f(n, "beta", 1.0);
    if (transA) return node_err(c, n, "transA=1 is not supported (records must be rows)");
    if (B->rank != 2) return node_err(c, n, "weights B must be a 2-D matrix");
    size_t K = (size_t)(transB ? B->dims[1] : B->dims[0]), N = (size_t)(transB ? B->dims[0] : B->dims[1]);
    if (K != c->width) {
        char msg[160];
        snprintf(msg, sizeof msg, "weights expect %zu inputs but the running tensor has %zu features", K, c->width);
        return fr_set_err(c->err, c->errlen, FR_EMODEL, "node '%s' (op %s): %s", nname(n), n->op_type, msg);
    }
    if (N == 0 || N > FR__MAX_WIDTH) return node_err(c, n, "output width out of range");
    double *w = malloc(N * K * sizeof(double)), *b = calloc(N, sizeof(double));
    if (!w || !b) {
        rc = FR_ENOMEM;
        goto out;
    }
    for (size_t j = 0; j < N; j++)
        for (size_t i = 0; i < K; i++) w[j * K + i] = alpha * B->v[transB ? j * K + i : i * N + j];
    if (!is_matmul && n->n_input >= 3 && n->input[2][0]) {
        const fr__const *C = need_const(c, n, 2, "bias C", &rc);
        if (!C) goto out;
        int ok = C->n == 1 || (C->n == N && (C->rank == 1 || (C->rank == 2 && C->dims[0] == 1)));
        if (!ok) {
            rc = node_err(c, n, "bias C must be a scalar or have one value per output");
            goto out;
        }
        for (size_t j = 0; j < N; j++) b[j] = beta * C->v[C->n == 1 ? 0 : j];
    }
    rc = add_dense(c, w, b, K, N, n);
out:
    free(w);
    free(b);
    return rc;
}

static int do_elementwise(fr__ctx *c, const Onnx__NodeProto *n, int at) {
    int rc;
    if (n->n_input != 2) return node_err(c, n, "expected two inputs");
    const fr__const *kc = find_const(c, n->input[1 - at]);
    if (!kc) return node_err(c, n, "expected a constant as the other operand");
    double *k = malloc(c->width * sizeof(double)), *m = malloc(c->width * sizeof(double)),
           *v = malloc(c->width * sizeof(double));
    if (!k || !m || !v) {
        rc = FR_ENOMEM;
        goto out;
    }
    if ((rc = broadcast(c, n, kc, v)) != 0) goto out;
    const char *op = n->op_type;
    int shift_only = 0;
    for (size_t i = 0; i < c->width; i++) {
        if (strcmp(op, "Add") == 0) {
            k[i] = 1, m[i] = v[i], shift_only = 1;
        } else if (strcmp(op, "Sub") == 0) {
            if (at == 0) k[i] = 1, m[i] = -v[i], shift_only = 1;
            else k[i] = -1, m[i] = v[i];
        } else if (strcmp(op, "Mul") == 0) {
            k[i] = v[i], m[i] = 0;
        } else { /* Div */
            if (at != 0) {
                rc = node_err(c, n, "division by the running tensor is not affine; expected tensor / constant");
                goto out;
            }
            if (v[i] == 0) {
                rc = node_err(c, n, "division by a zero constant");
                goto out;
            }
            k[i] = 1.0 / v[i], m[i] = 0;
        }
    }
    rc = add_affine(c, k, m, shift_only, n);
out:
    free(k);
    free(m);
    free(v);
    return rc;
}

static int do_batchnorm(fr__ctx *c, const Onnx__NodeProto *n) {
    int rc = 0;
    if (attr_i(n, "training_mode", 0) != 0) return node_err(c, n, "training_mode=1; expected an inference graph");
    if (n->n_input != 5) return node_err(c, n, "expected inputs X, scale, B, mean, var");
    for (size_t i = 1; i < n->n_output; i++)
        if (n->output[i][0]) return node_err(c, n, "training outputs (running mean/var) are not supported");
    const char *roles[5] = {"X", "scale", "B", "input_mean", "input_var"};
    double *vals[5] = {0};
    double eps = attr_f(n, "epsilon", 1e-5);
    double *k = malloc(c->width * sizeof(double)), *m = malloc(c->width * sizeof(double));
    if (!k || !m) {
        rc = FR_ENOMEM;
        goto out;
    }
    for (size_t i = 1; i < 5; i++) {
        const fr__const *kc = need_const(c, n, i, roles[i], &rc);
        if (!kc) goto out;
        if (kc->n != c->width) {
            char msg[160];
            snprintf(msg, sizeof msg, "%s has %zu values, expected one per feature (%zu)", roles[i], kc->n, c->width);
            rc = fr_set_err(c->err, c->errlen, FR_EMODEL, "node '%s' (op %s): %s", nname(n), n->op_type, msg);
            goto out;
        }
        vals[i] = kc->v;
    }
    /* As the graph computes it: (x - mean), then * scale/sqrt(var+eps), then + B;
     * kept as three steps so an input-side fold keeps the exact subtraction. */
    for (size_t i = 0; i < c->width; i++) {
        double var = vals[4][i] + eps;
        if (!(var > 0)) {
            rc = node_err(c, n, "variance + epsilon must be positive");
            goto out;
        }
        k[i] = 1;
        m[i] = -vals[3][i];
    }
    if ((rc = add_affine(c, k, m, 1, n)) != 0) goto out;
    for (size_t i = 0; i < c->width; i++) {
        k[i] = vals[1][i] / sqrt(vals[4][i] + eps);
        m[i] = 0;
    }
    if ((rc = add_affine(c, k, m, 0, n)) != 0) goto out;
    for (size_t i = 0; i < c->width; i++) {
        k[i] = 1;
        m[i] = vals[2][i];
    }
    rc = add_affine(c, k, m, 0, n);
out:
    free(k);
    free(m);
    return rc;
}

static int do_scaler(fr__ctx *c, const Onnx__NodeProto *n) {
    const Onnx__AttributeProto *off = attr(n, "offset"), *sc = attr(n, "scale");
    size_t w = c->width;
    if ((off && off->n_floats != 1 && off->n_floats != w) || (sc && sc->n_floats != 1 && sc->n_floats != w))
        return node_err(c, n, "offset and scale must have 1 or one value per feature");
    double *k = malloc(w * sizeof(double)), *m = malloc(w * sizeof(double));
    int rc;
    if (!k || !m) {
        rc = FR_ENOMEM;
        goto out;
    }
    /* (x - offset) then * scale, as two steps (see do_batchnorm) */
    for (size_t i = 0; i < w; i++) {
        k[i] = 1;
        m[i] = -(off && off->n_floats ? off->floats[off->n_floats == 1 ? 0 : i] : 0);
    }
    if ((rc = add_affine(c, k, m, 1, n)) != 0) goto out;
    for (size_t i = 0; i < w; i++) {
        k[i] = sc && sc->n_floats ? sc->floats[sc->n_floats == 1 ? 0 : i] : 1;
        m[i] = 0;
    }
    rc = add_affine(c, k, m, 0, n);
out:
    free(k);
    free(m);
    return rc;
}

/* Shape ops that keep [N, F] as it is. */
static int do_reshape(fr__ctx *c, const Onnx__NodeProto *n, int flatten) {
    if (flatten) {
        if (attr_i(n, "axis", 1) != 1) return node_err(c, n, "only axis=1 keeps records as rows");
        return 0;
    }
    int rc = 0;
    const fr__const *k = need_const(c, n, 1, "shape", &rc);
    if (!k) return rc;
    if (k->iv && k->n == 2 && (k->iv[0] == -1 || k->iv[0] == 0) &&
        (k->iv[1] == (int64_t)c->width || (k->iv[1] == -1 && k->iv[0] == 0)))
        return 0;
    /* skl2onnx ends multi-output MLPRegressor graphs with Reshape [-1, 1]:
     * the values stay in record order, only the declared shape changes, so
     * at the graph output it is read back as [N, F]. */
    if (k->iv && k->n == 2 && k->iv[0] == -1 && k->iv[1] > 0 && c->width % (size_t)k->iv[1] == 0 && c->out_name &&
        n->n_output == 1 && strcmp(n->output[0], c->out_name) == 0)
        return 0;
    return node_err(c, n, "expected shape [-1, F] or [0, F] that keeps each record's features");
}

/* A node that reads only constants (PyTorch emits Identity on shared
 * weights; exporters Cast or Reshape constants) is evaluated here and its
 * output becomes another constant. Returns 1 if it was folded. */
static int fold_constant_node(fr__ctx *c, const Onnx__NodeProto *n, int *rc) {
    if (n->n_input == 0 || n->n_output != 1) return 0;
    for (size_t i = 0; i < n->n_input; i++)
        if (!n->input[i][0] || !find_const(c, n->input[i])) return 0;
    const char *op = n->op_type ? n->op_type : "";
    if (strcmp(op, "Identity") != 0 && strcmp(op, "Cast") != 0 && strcmp(op, "Reshape") != 0) return 0;
    const fr__const *src = find_const(c, n->input[0]);
    fr__const k = *src;
    k.name = n->output[0];
    k.v = malloc((src->n ? src->n : 1) * sizeof(double));
    k.iv = NULL;
    int64_t to = strcmp(op, "Cast") == 0 ? attr_i(n, "to", 0) : 0;
    int want_int = to == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 || (!to && src->iv);
    if (want_int) k.iv = malloc((src->n ? src->n : 1) * sizeof(int64_t));
    if (!k.v || (want_int && !k.iv)) {
        free_const(&k);
        *rc = FR_ENOMEM;
        return 1;
    }
    for (size_t i = 0; i < src->n; i++) {
        k.v[i] = src->v[i];
        if (want_int) k.iv[i] = src->iv ? src->iv[i] : (int64_t)src->v[i];
    }
    if (strcmp(op, "Reshape") == 0) {
        const fr__const *shape = n->n_input == 2 ? find_const(c, n->input[1]) : NULL;
        size_t prod = 1, unknown = 0;
        if (!shape || !shape->iv || shape->n > 4) {
            free_const(&k);
            *rc = node_err(c, n, "constant reshape needs an int64 shape of rank <= 4");
            return 1;
        }
        k.rank = shape->n;
        for (size_t i = 0; i < shape->n; i++) {
            int64_t d = shape->iv[i] == 0 && i < src->rank ? src->dims[i] : shape->iv[i];
            if (d == -1) unknown = i + 1;
            else prod *= (size_t)(d > 0 ? d : 1);
            k.dims[i] = d;
        }
        if (unknown) k.dims[unknown - 1] = prod ? (int64_t)(src->n / prod) : 0;
        size_t total = 1;
        for (size_t i = 0; i < k.rank; i++) total *= k.dims[i] >= 0 ? (size_t)k.dims[i] : (size_t)1 << 62;
        if (total != k.n) {
            free_const(&k);
            *rc = node_err(c, n, "constant reshape does not keep the element count");
            return 1;
        }
    }
    if ((*rc = push_const(c, &k)) != 0) free_const(&k);
    return 1;
}

static int do_node(fr__ctx *c, const Onnx__NodeProto *n, const char **cur) {
    const char *op = n->op_type ? n->op_type : "";
    const char *dom = n->domain ? n->domain : "";
    int is_ml = strcmp(dom, "ai.onnx.ml") == 0;
    if (dom[0] && strcmp(dom, "ai.onnx") != 0 && !is_ml) return node_err(c, n, "unknown op domain");
    if (strcmp(op, "Constant") == 0 && !is_ml) return do_constant(c, n);
    if (n->n_output < 1 || !n->output[0][0]) return node_err(c, n, "node has no output");
    int rc;
    if (!is_ml && fold_constant_node(c, n, &rc)) return rc;
    int at = data_input(c, n, *cur);
    if (at == -1) {
        char msg[200];
        snprintf(msg, sizeof msg, "does not read the running tensor '%s'; only single-chain graphs are supported",
                 *cur);
        return node_err(c, n, msg);
    }
    if (at == -2) return node_err(c, n, "reads the running tensor twice; expected it once");
    if (at == -3) return node_err(c, n, "reads a tensor other than the running one; only single-chain graphs are supported");
    if (is_ml) {
        if (strcmp(op, "Scaler") != 0) return node_err(c, n, "unsupported ai.onnx.ml op; expected Scaler");
        rc = do_scaler(c, n);
    } else if (strcmp(op, "Gemm") == 0 || strcmp(op, "MatMul") == 0) {
        rc = do_gemm(c, n, op[0] == 'M');
    } else if (strcmp(op, "Add") == 0 || strcmp(op, "Sub") == 0 || strcmp(op, "Mul") == 0 ||
               strcmp(op, "Div") == 0) {
        rc = do_elementwise(c, n, at);
    } else if (strcmp(op, "Relu") == 0) {
        rc = add_activation(c, FR_ACT_RELU, 0, n);
    } else if (strcmp(op, "LeakyRelu") == 0) {
        rc = add_activation(c, FR_ACT_LEAKY_RELU, (float)attr_f(n, "alpha", 0.01), n);
    } else if (strcmp(op, "Sigmoid") == 0) {
        rc = add_activation(c, FR_ACT_SIGMOID, 0, n);
    } else if (strcmp(op, "Tanh") == 0) {
        rc = add_activation(c, FR_ACT_TANH, 0, n);
    } else if (strcmp(op, "BatchNormalization") == 0) {
        rc = do_batchnorm(c, n);
    } else if (strcmp(op, "Identity") == 0) {
        rc = 0;
    } else if (strcmp(op, "Cast") == 0) {
        /* the running tensor is float already: only Cast to float keeps it */
        rc = attr_i(n, "to", 0) == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT
                 ? 0
                 : node_err(c, n, "only Cast to float (to=1) is supported on the features");
    } else if (strcmp(op, "Dropout") == 0) {
        const fr__const *tm = n->n_input >= 3 && n->input[2][0] ? find_const(c, n->input[2]) : NULL;
        rc = (tm && tm->n == 1 && tm->v[0] != 0) ? node_err(c, n, "training_mode=true; expected inference") : 0;
    } else if (strcmp(op, "Flatten") == 0 || strcmp(op, "Reshape") == 0) {
        rc = do_reshape(c, n, op[0] == 'F');
    } else {
        return node_err(c, n,
                        "unsupported op; expected one of Gemm, MatMul, Add, Sub, Mul, Div, Relu, LeakyRelu, "
                        "Sigmoid, Tanh, BatchNormalization, Identity, Dropout, Flatten, Reshape, Cast, Constant, "
                        "Scaler");
    }
    if (rc == 0) *cur = n->output[0];
    return rc;
}

/* ---- graph input/output and metadata ---------------------------------- */

static int graph_io(fr__ctx *c, const Onnx__GraphProto *g, const char **in_name, size_t *width, const char **out_name) {
    const Onnx__ValueInfoProto *in = NULL;
    for (size_t i = 0; i < g->n_input; i++) {
        if (find_const(c, g->input[i]->name ? g->input[i]->name : "")) continue; /* old exporters list weights */
        if (in)
            return fr_set_err(c->err, c->errlen, FR_EUNSUPPORTED,
                              "graph has several inputs ('%s', '%s'); expected one feature matrix", in->name,
                              g->input[i]->name);
        in = g->input[i];
    }
    if (!in || !in->name) return fr_set_err(c->err, c->errlen, FR_EMODEL, "graph has no input");
    const Onnx__TypeProto *tp = in->type;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type ||
        tp->tensor_type->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return fr_set_err(c->err, c->errlen, FR_EUNSUPPORTED, "graph input '%s': expected a float tensor", in->name);
    const Onnx__TensorShapeProto *sh = tp->tensor_type->shape;
    if (!sh || sh->n_dim != 2 || sh->dim[1]->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE ||
        sh->dim[1]->dim_value <= 0 || sh->dim[1]->dim_value > FR__MAX_WIDTH)
        return fr_set_err(c->err, c->errlen, FR_EUNSUPPORTED,
                          "graph input '%s': expected shape [batch, features] with a fixed feature count", in->name);
    if (g->n_output != 1 || !g->output[0]->name)
        return fr_set_err(c->err, c->errlen, FR_EUNSUPPORTED, "graph has %zu outputs; expected exactly one",
                          g->n_output);
    *in_name = in->name;
    *width = (size_t)sh->dim[1]->dim_value;
    *out_name = g->output[0]->name;
    return 0;
}

static const char *meta(const Onnx__ModelProto *mp, const char *key) {
    for (size_t i = 0; i < mp->n_metadata_props; i++)
        if (mp->metadata_props[i]->key && strcmp(mp->metadata_props[i]->key, key) == 0)
            return mp->metadata_props[i]->value ? mp->metadata_props[i]->value : "";
    return NULL;
}

static int feature_index(const fr_model *m, const char *name) {
    for (size_t i = 0; i < m->n_in; i++)
        if (strcmp(m->features[i], name) == 0) return (int)i;
    return -1;
}

/* fraudd.score_histogram (include/fraudd/model.h): k bins, k - 1 strictly
 * increasing finite edges, k non-negative integer counts with a positive
 * sum; kept as edges and expected fractions. */
#define HIST_KEY "metadata 'fraudd.score_histogram'"
static int read_score_histogram(const char *v, fr_model *m, char *err, size_t errlen) {
    int rc = 0;
    json_error_t je;
    json_t *j = json_loads(v, 0, &je);
    json_t *edges = json_object_get(j, "edges"), *counts = json_object_get(j, "counts");
    json_t *source = json_object_get(j, "source");
    double sum = 0;
    if (!json_is_object(j)) {
        rc = fr_set_err(err, errlen, FR_EMODEL,
                        HIST_KEY ": expected a JSON object {\"edges\": [...], \"counts\": [...], \"source\": \"...\"}");
        goto out;
    }
    if (!json_is_array(counts) || !json_is_array(edges)) {
        rc = fr_set_err(err, errlen, FR_EMODEL, HIST_KEY ": expected arrays \"edges\" and \"counts\"");
        goto out;
    }
    if (source && !json_is_string(source)) {
        rc = fr_set_err(err, errlen, FR_EMODEL, HIST_KEY ": \"source\" must be a string");
        goto out;
    }
    size_t k = json_array_size(counts);
    if (k < 2 || k > FR_MODEL_MAX_SCORE_BINS) {
        rc = fr_set_err(err, errlen, FR_EMODEL, HIST_KEY ": %zu counts, expected 2 to %d bins", k,
                        FR_MODEL_MAX_SCORE_BINS);
        goto out;
    }
    if (json_array_size(edges) != k - 1) {
        rc = fr_set_err(err, errlen, FR_EMODEL, HIST_KEY ": %zu edges for %zu counts, expected %zu (one fewer)",
                        json_array_size(edges), k, k - 1);
        goto out;
    }
    m->bin_edges = malloc((k - 1) * sizeof *m->bin_edges);
    m->bin_expected = malloc(k * sizeof *m->bin_expected);
    if (!m->bin_edges || !m->bin_expected) {
        rc = FR_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i + 1 < k; i++) {
        json_t *x = json_array_get(edges, i);
        double e = json_number_value(x);
        if (!json_is_number(x) || !isfinite(e)) {
            rc = fr_set_err(err, errlen, FR_EMODEL, HIST_KEY ": edges[%zu]: expected a finite number", i);
            goto out;
        }
        if (i > 0 && !(e > m->bin_edges[i - 1])) {
            rc = fr_set_err(err, errlen, FR_EMODEL,
                            HIST_KEY ": edges[%zu] = %.17g: expected more than edges[%zu] = %.17g "
                                     "(strictly increasing)",
                            i, e, i - 1, m->bin_edges[i - 1]);
            goto out;
        }
        m->bin_edges[i] = e;
    }
    for (size_t i = 0; i < k; i++) {
        json_t *x = json_array_get(counts, i);
        if (!json_is_integer(x) || json_integer_value(x) < 0) {
            rc = fr_set_err(err, errlen, FR_EMODEL, HIST_KEY ": counts[%zu]: expected a non-negative integer", i);
            goto out;
        }
        m->bin_expected[i] = (double)json_integer_value(x);
        sum += m->bin_expected[i];
    }
    if (!(sum > 0)) {
        rc = fr_set_err(err, errlen, FR_EMODEL, HIST_KEY ": the counts sum to 0, expected at least one score");
        goto out;
    }
    for (size_t i = 0; i < k; i++) m->bin_expected[i] /= sum;
    m->n_bins = k;
out:
    json_decref(j);
    return rc;
}

static int read_metadata(const Onnx__ModelProto *mp, fr_model *m, char *err, size_t errlen) {
    int rc = 0;
    json_error_t je;
    json_t *j = NULL;
    const char *v;
    m->threshold = NAN;
    m->features = calloc(m->n_in, sizeof(char *));
    m->defaults = calloc(m->n_in, sizeof(float));
    m->has_default = calloc(m->n_in, 1);
    m->log1p = calloc(m->n_in, 1);
    m->err_w = malloc(m->n_in * sizeof(float));
    if (!m->features || !m->defaults || !m->has_default || !m->log1p || !m->err_w) return FR_ENOMEM;
    for (size_t i = 0; i < m->n_in; i++) m->err_w[i] = 1.0f;
    /* kept as text: the reloader's self-test reads it (src/reload) */
    if ((v = meta(mp, "fraudd.selftest")) && !(m->selftest = strdup(v))) return FR_ENOMEM;

    if (!(v = meta(mp, "fraudd.features")))
        return fr_set_err(err, errlen, FR_EMODEL,
                          "metadata 'fraudd.features' is missing: expected a JSON array of the %zu feature names "
                          "(docs/MODEL_FORMAT.md)", m->n_in);
    j = json_loads(v, 0, &je);
    if (!j || !json_is_array(j) || json_array_size(j) != m->n_in) {
        rc = fr_set_err(err, errlen, FR_EMODEL, "metadata 'fraudd.features': expected a JSON array of %zu names",
                        m->n_in);
        goto out;
    }
    for (size_t i = 0; i < m->n_in; i++) {
        const char *s = json_string_value(json_array_get(j, i));
        if (!s || !s[0]) {
            rc = fr_set_err(err, errlen, FR_EMODEL, "metadata 'fraudd.features'[%zu]: expected a non-empty string", i);
            goto out;
        }
        if (!(m->features[i] = strdup(s))) {
            rc = FR_ENOMEM;
            goto out;
        }
        if (feature_index(m, s) != (int)i) {
            rc = fr_set_err(err, errlen, FR_EMODEL, "metadata 'fraudd.features': '%s' appears twice", s);
            goto out;
        }
    }
    json_decref(j);
    j = NULL;

    if ((v = meta(mp, "fraudd.threshold"))) {
        char *end;
        m->threshold = strtod(v, &end);
        if (end == v || *end || !isfinite(m->threshold)) {
            rc = fr_set_err(err, errlen, FR_EMODEL, "metadata 'fraudd.threshold': expected a finite number, got '%s'", v);
            goto out;
        }
    }
    m->version = strdup((v = meta(mp, "fraudd.version")) && v[0] ? v : "unversioned");
    if (!m->version) return FR_ENOMEM;

    if ((v = meta(mp, "fraudd.defaults"))) {
        const char *k;
        json_t *val;
        j = json_loads(v, 0, &je);
        if (!json_is_object(j)) {
            rc = fr_set_err(err, errlen, FR_EMODEL, "metadata 'fraudd.defaults': expected a JSON object name -> number");
            goto out;
        }
        json_object_foreach(j, k, val) {
            int i = feature_index(m, k);
            if (i < 0 || !json_is_number(val) || !isfinite(json_number_value(val))) {
                rc = fr_set_err(err, errlen, FR_EMODEL,
                                "metadata 'fraudd.defaults': '%s' must be a model feature with a finite number", k);
                goto out;
            }
            m->defaults[i] = (float)json_number_value(val);
            m->has_default[i] = 1;
        }
        json_decref(j);
        j = NULL;
    }
    if ((v = meta(mp, "fraudd.error_weights"))) {
        j = json_loads(v, 0, &je);
        if (!json_is_array(j) || json_array_size(j) != m->n_in) {
            rc = fr_set_err(err, errlen, FR_EMODEL, "metadata 'fraudd.error_weights': expected a JSON array of %zu numbers",
                            m->n_in);
            goto out;
        }
        for (size_t i = 0; i < m->n_in; i++) {
            json_t *x = json_array_get(j, i);
            if (!json_is_number(x) || !isfinite(json_number_value(x))) {
                rc = fr_set_err(err, errlen, FR_EMODEL, "metadata 'fraudd.error_weights'[%zu]: expected a finite number", i);
                goto out;
            }
            m->err_w[i] = (float)json_number_value(x);
        }
        json_decref(j);
        j = NULL;
    }
    if ((v = meta(mp, "fraudd.log1p"))) {
        j = json_loads(v, 0, &je);
        if (!json_is_array(j)) {
            rc = fr_set_err(err, errlen, FR_EMODEL, "metadata 'fraudd.log1p': expected a JSON array of feature names");
            goto out;
        }
        for (size_t i = 0; i < json_array_size(j); i++) {
            const char *s = json_string_value(json_array_get(j, i));
            int f = s ? feature_index(m, s) : -1;
            if (f < 0) {
                rc = fr_set_err(err, errlen, FR_EMODEL, "metadata 'fraudd.log1p'[%zu]: expected a model feature name", i);
                goto out;
            }
            m->log1p[f] = 1;
        }
    }
    if ((v = meta(mp, "fraudd.score_histogram")) && (rc = read_score_histogram(v, m, err, errlen)) != 0) goto out;
out:
    json_decref(j);
    return rc;
}

static int record_ops(const Onnx__GraphProto *g, fr_model *m) {
    for (size_t i = 0; i < g->n_node; i++) {
        const char *op = g->node[i]->op_type ? g->node[i]->op_type : "?";
        const char *s = m->source_ops;
        int seen = 0;
        size_t lo = strlen(op);
        while (s && *s && !seen) {
            const char *e = strchr(s, ',');
            size_t l = e ? (size_t)(e - s) : strlen(s);
            seen = l == lo && strncmp(s, op, l) == 0;
            s = e ? e + 1 : NULL;
        }
        if (seen) continue;
        size_t la = m->source_ops ? strlen(m->source_ops) : 0;
        char *p = realloc(m->source_ops, la + lo + 2);
        if (!p) return FR_ENOMEM;
        if (la) p[la++] = ',';
        memcpy(p + la, op, lo + 1);
        m->source_ops = p;
    }
    if (!m->source_ops && !(m->source_ops = strdup(""))) return FR_ENOMEM;
    return 0;
}

int fr__model_compile(const void *buf, size_t len, const char *origin, fr_model *m, char *err, size_t errlen) {
    fr__ctx c;
    memset(&c, 0, sizeof c);
    c.err = err;
    c.errlen = errlen;
    int rc = 0;
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
    if (!mp) {
        rc = fr_set_err(err, errlen, FR_EPARSE, "%s: not a valid ONNX model (the protobuf does not decode: truncated or "
                        "not an ONNX file)", origin);
        goto out;
    }
    const Onnx__GraphProto *g = mp->graph;
    if (!g) {
        rc = fr_set_err(err, errlen, FR_EMODEL, "%s: ONNX model has no graph", origin);
        goto out;
    }
    c.g = g;
    if (g->n_node > FR__MAX_NODES) {
        rc = fr_set_err(err, errlen, FR_ETOOBIG, "%s: %zu nodes, expected at most %d", origin, g->n_node, FR__MAX_NODES);
        goto out;
    }
    if (g->n_initializer > FR__MAX_INITIALIZERS) {
        rc = fr_set_err(err, errlen, FR_ETOOBIG, "%s: %zu initializers, expected at most %d", origin,
                        g->n_initializer, FR__MAX_INITIALIZERS);
        goto out;
    }
    for (size_t i = 0; i < g->n_initializer; i++) {
        fr__const k;
        const Onnx__TensorProto *tp = g->initializer[i];
        if ((rc = read_tensor(&c, tp, tp->name ? tp->name : "", &k)) != 0 || (rc = push_const(&c, &k)) != 0) {
            free_const(&k);
            goto out;
        }
    }
    const char *in_name = NULL, *out_name = NULL;
    size_t width = 0;
    if ((rc = graph_io(&c, g, &in_name, &width, &out_name)) != 0) goto out;
    c.out_name = out_name;
    if ((rc = resize_pending(&c, width)) != 0) goto out;
    m->n_in = width;
    const char *cur = in_name;
    for (size_t i = 0; i < g->n_node; i++)
        if ((rc = do_node(&c, g->node[i], &cur)) != 0) goto out;
    if (strcmp(cur, out_name) != 0) {
        rc = fr_set_err(err, errlen, FR_EUNSUPPORTED,
                        "graph output '%s' is not the end of the chain (the last node produces '%s')", out_name, cur);
        goto out;
    }
    if (c.pending || c.n_layers == 0)
        if ((rc = flush_pending(&c)) != 0) goto out;
    m->n_out = c.width;
    m->layers = c.layers;
    m->n_layers = c.n_layers;
    c.layers = NULL;
    c.n_layers = 0;
    m->max_width = m->n_in;
    for (size_t i = 0; i < m->n_layers; i++)
        if (m->layers[i].out > m->max_width) m->max_width = m->layers[i].out;
    if (m->n_out == m->n_in) m->kind = FR_MODEL_AUTOENCODER;
    else if (m->n_out == 1) m->kind = FR_MODEL_SCORER;
    else {
        rc = fr_set_err(err, errlen, FR_EUNSUPPORTED,
                        "%s: output has %zu values; expected %zu (an autoencoder's reconstruction) or 1 (a score)",
                        origin, m->n_out, m->n_in);
        goto out;
    }
    if ((rc = read_metadata(mp, m, err, errlen)) != 0) goto out;
    if ((rc = record_ops(g, m)) != 0) goto out;
    {
        const char *pn = mp->producer_name ? mp->producer_name : "", *pv = mp->producer_version ? mp->producer_version : "";
        size_t l = strlen(pn) + strlen(pv) + 2;
        if (!(m->producer = malloc(l))) {
            rc = FR_ENOMEM;
            goto out;
        }
        snprintf(m->producer, l, "%s%s%s", pn, pv[0] ? " " : "", pv);
    }
out:
    for (size_t i = 0; i < c.n_consts; i++) free_const(&c.consts[i]);
    free(c.consts);
    for (size_t i = 0; i < c.n_layers; i++) {
        free(c.layers[i].w);
        free(c.layers[i].b);
        free(c.layers[i].pre);
        free(c.layers[i].ops);
    }
    free(c.layers);
    free(c.u);
    free(c.s);
    free(c.t);
    free(c.ops_buf);
    if (mp) onnx__model_proto__free_unpacked(mp, NULL);
    return rc;
}
