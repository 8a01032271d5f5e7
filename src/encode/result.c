/* Result encoder (include/fraudd/encode.h): one scored record -> one JSON
 * object, written straight into the caller's buffer.
 *
 * What: fr_json_quote (JSON string literal of arbitrary bytes),
 * fr_result_encode_parts (the encoder proper, over plain values: the
 * reference), fr_result_encode (a thin wrapper reading those values from the
 * model) and fr_result_prep_* (the hot path: the same text from pieces made
 * once per scorer, compared with the reference in tests/unit/test_encode.c).
 *
 * Output, one object, no whitespace, keys in this order (docs/OUTPUT.md):
 *   passthrough fields  "<name>":<raw JSON text, verbatim>  (absent slices skipped)
 *   "score":<double>,"threshold":<double>,"is_fraud":true|false,
 *   "model_version":"<version>",
 *   "top_features":[{"name":"<feature>","value":<raw[idx], float>,"error":<term, float>},...]
 *   "output":[<y_0>,...]  only with emit_output, n_outputs floats
 * Numbers are the shortest text that reads back to the same float/double
 * (fr_fmt_*, src/encode/numfmt.cpp; NaN/Inf as null). Strings (names,
 * version) are escaped: " and \ with a backslash, \b \f \n \r \t by their
 * short escapes, other bytes < 0x20 as \u00XX; bytes >= 0x80 are copied as
 * they are (the caller's UTF-8 stays UTF-8).
 *
 * Guarantees: never writes at or past dst[cap]; when the text does not fit
 * the function returns 0 (what was written is garbage) and the caller grows
 * its buffer. No allocation, no snprintf, no locale: keys are constant
 * strings copied with memcpy, numbers come from std::to_chars.
 * Threads: pure over caller memory; thread safe.
 */
#include <stdlib.h>
#include <string.h>

#include "fraudd/encode.h"

/* Per byte: 0 = copied as is, 'u' = \u00XX, else the char after the backslash. */
static const unsigned char fr__esc[256] = {
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'b', 't', 'n', 'u', 'f', 'r', 'u', 'u',
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    0,   0,   '"', 0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
    ['\\'] = '\\',
};

size_t fr_json_quote(char *dst, size_t cap, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, i = 0;
    if (cap < 2) return 0;
    dst[o++] = '"';
    while (i < len) {
        /* run of bytes that need no escape: one bounds check, one memcpy */
        size_t j = i;
        while (j < len && !fr__esc[(unsigned char)s[j]]) j++;
        if (j > i) {
            if (j - i > cap - 1 - o) return 0; /* keep room for the closing quote */
            memcpy(dst + o, s + i, j - i);
            o += j - i;
            i = j;
            if (i == len) break;
        }
        unsigned char c = (unsigned char)s[i++], e = fr__esc[c];
        if (e == 'u') {
            if (6 > cap - 1 - o) return 0;
            memcpy(dst + o, "\\u00", 4);
            dst[o + 4] = hex[c >> 4];
            dst[o + 5] = hex[c & 15];
            o += 6;
        } else {
            if (2 > cap - 1 - o) return 0;
            dst[o] = '\\';
            dst[o + 1] = (char)e;
            o += 2;
        }
    }
    if (o + 1 > cap) return 0;
    dst[o++] = '"';
    return o;
}

/* Bounds-checked writer: once something does not fit, `full` sticks and
 * nothing more is written. */
typedef struct fr__out {
    char *dst;  /* start of the output */
    size_t len; /* bytes written */
    size_t cap; /* capacity of dst */
    int full;   /* something did not fit */
} fr__out;

static inline void put(fr__out *o, const char *s, size_t n) {
    if (n > o->cap - o->len) {
        o->full = 1;
        o->len = o->cap; /* later puts of any size fail too */
        return;
    }
    memcpy(o->dst + o->len, s, n);
    o->len += n;
}

#define PUTS(o, lit) put((o), (lit), sizeof(lit) - 1)

static inline void put_double(fr__out *o, double v) {
    char b[32];
    put(o, b, fr_fmt_double(b, v));
}

static inline void put_float(fr__out *o, float v) {
    char b[32];
    put(o, b, fr_fmt_float(b, v));
}

static void put_string(fr__out *o, const char *s) {
    if (o->full) return;
    if (!s) s = "";
    size_t l = fr_json_quote(o->dst + o->len, o->cap - o->len, s, strlen(s));
    if (!l) {
        o->full = 1;
        o->len = o->cap;
        return;
    }
    o->len += l;
}

size_t fr_result_encode_parts(char *dst, size_t cap, const char *version, const char *const *feature_names,
                              size_t n_outputs, const fr_encode_opts *eo, const fr_score *s, double threshold,
                              const float *raw, const float *y, const fr_slice *pt) {
    if (!dst || !cap) return 0;
    fr__out o = {dst, 0, cap, 0};
    int first = 1;
    PUTS(&o, "{");
    for (size_t i = 0; i < eo->np; i++) {
        if (!pt[i].ptr) continue;
        if (!first) PUTS(&o, ",");
        first = 0;
        put_string(&o, eo->passthrough_names[i]);
        PUTS(&o, ":");
        put(&o, pt[i].ptr, pt[i].len);
    }
    if (first) PUTS(&o, "\"score\":");
    else PUTS(&o, ",\"score\":");
    put_double(&o, s->score);
    PUTS(&o, ",\"threshold\":");
    put_double(&o, threshold);
    if (s->is_fraud) PUTS(&o, ",\"is_fraud\":true,\"model_version\":");
    else PUTS(&o, ",\"is_fraud\":false,\"model_version\":");
    put_string(&o, version);
    PUTS(&o, ",\"top_features\":[");
    int n_top = s->n_top < 0 ? 0 : s->n_top > FR_TOP_FEATURES ? FR_TOP_FEATURES : s->n_top;
    for (int k = 0; k < n_top; k++) {
        uint32_t f = s->top_idx[k];
        if (k) PUTS(&o, ",{\"name\":");
        else PUTS(&o, "{\"name\":");
        put_string(&o, feature_names[f]);
        PUTS(&o, ",\"value\":");
        put_float(&o, raw[f]);
        PUTS(&o, ",\"error\":");
        put_float(&o, s->top_err[k]);
        PUTS(&o, "}");
    }
    PUTS(&o, "]");
    if (eo->emit_output) {
        PUTS(&o, ",\"output\":[");
        for (size_t j = 0; j < n_outputs; j++) {
            if (j) PUTS(&o, ",");
            put_float(&o, y[j]);
        }
        PUTS(&o, "]");
    }
    PUTS(&o, "}");
    return o.full ? 0 : o.len;
}

size_t fr_result_encode(char *dst, size_t cap, const fr_model *m, const fr_encode_opts *o, const fr_score *s,
                        double threshold, const float *raw, const float *y, const fr_slice *passthrough) {
    return fr_result_encode_parts(dst, cap, fr_model_version(m), fr_model_feature_names(m), fr_model_n_outputs(m), o,
                                  s, threshold, raw, y, passthrough);
}

/* ---- prepared encoder --------------------------------------------------------
 *
 * The reference's text split at its variable parts; every constant run is
 * prepared once:
 *   "{"  [pass_key[i] raw_i joined by ","]  score_key <score>
 *   mid[is_fraud]          ,"threshold":<t>,"is_fraud":true|false,"model_version":"<v>","top_features":[
 *   per top feature k:     [","] name_key[f] <raw[f]> ,"error": <err_k> "}"
 *   "]"  [,"output":[<y>,...]]  "}"
 * When cap is below the bound of what a result can take, the reference
 * writes it instead (it checks every write), so short buffers behave alike. */

typedef struct fr__piece {
    size_t off, len; /* bytes in fr_result_prep.text */
} fr__piece;

struct fr_result_prep {
    char *text;                  /* every prepared piece, one allocation */
    fr__piece mid[2];            /* [is_fraud]: from ",\"threshold\":" to "[" */
    fr__piece *pass_key;         /* [np]: "\"name\":" */
    fr__piece *name_key;         /* [n_features]: "{\"name\":\"feature\",\"value\":" */
    size_t n_features, n_outputs, np;
    int emit_output;
    double threshold;            /* for the reference */
    size_t need;                 /* bound of a result's bytes, passthrough values excluded */
    /* for the reference (short buffers): copies owned here */
    char *version;
    char **feature_names;        /* [n_features] */
    char **pass_names;           /* [np] */
    fr_encode_opts eo;           /* points at pass_names */
};

void fr_result_prep_free(fr_result_prep *p) {
    if (!p) return;
    if (p->feature_names)
        for (size_t i = 0; i < p->n_features; i++) free(p->feature_names[i]);
    if (p->pass_names)
        for (size_t i = 0; i < p->np; i++) free(p->pass_names[i]);
    free(p->feature_names);
    free(p->pass_names);
    free(p->version);
    free(p->pass_key);
    free(p->name_key);
    free(p->text);
    free(p);
}

static char *dup_str(const char *s) {
    if (!s) s = "";
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* Appends a piece to p->text (capacity cap, used *len): literal a, then s
 * quoted if s, then literal b. */
static fr__piece add_piece(fr_result_prep *p, size_t cap, size_t *len, const char *a, const char *s, const char *b) {
    fr__piece pc = {*len, 0};
    size_t la = strlen(a), lb = strlen(b);
    memcpy(p->text + *len, a, la);
    *len += la;
    if (s) *len += fr_json_quote(p->text + *len, cap - *len, s, strlen(s)); /* cap is the bound: cannot fail */
    memcpy(p->text + *len, b, lb);
    *len += lb;
    pc.len = *len - pc.off;
    return pc;
}

fr_result_prep *fr_result_prep_new(const char *version, const char *const *feature_names, size_t n_features,
                                   size_t n_outputs, const fr_encode_opts *o, double threshold) {
    fr_result_prep *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n_features = n_features;
    p->n_outputs = n_outputs;
    p->np = o->np;
    p->emit_output = o->emit_output;
    p->threshold = threshold;
    if (!version) version = "";
    /* bound of the prepared text: each string quoted at most 6x, plus the literals */
    size_t cap = 2 * (64 + 32 + 6 * strlen(version)), longest = 0;
    for (size_t i = 0; i < n_features; i++) {
        size_t l = strlen(feature_names[i] ? feature_names[i] : "");
        cap += 32 + 6 * l;
        if (l > longest) longest = l;
    }
    for (size_t i = 0; i < o->np; i++) cap += 8 + 6 * strlen(o->passthrough_names[i] ? o->passthrough_names[i] : "");
    p->text = malloc(cap + 16); /* 16: PIECE reads whole 16-byte blocks */
    p->version = dup_str(version);
    p->feature_names = calloc(n_features ? n_features : 1, sizeof *p->feature_names);
    p->pass_names = calloc(o->np ? o->np : 1, sizeof *p->pass_names);
    p->name_key = calloc(n_features ? n_features : 1, sizeof *p->name_key);
    p->pass_key = calloc(o->np ? o->np : 1, sizeof *p->pass_key);
    if (!p->text || !p->version || !p->feature_names || !p->pass_names || !p->name_key || !p->pass_key) goto fail;
    size_t len = 0;
    char thr[32];
    size_t tl = fr_fmt_double(thr, threshold);
    thr[tl] = 0;
    char a[128]; /* 13 + 24 + 35 bytes at most */
    for (int f = 0; f < 2; f++) {
        memcpy(a, ",\"threshold\":", 13);
        memcpy(a + 13, thr, tl + 1);
        strcat(a, f ? ",\"is_fraud\":true,\"model_version\":" : ",\"is_fraud\":false,\"model_version\":");
        p->mid[f] = add_piece(p, cap, &len, a, version, ",\"top_features\":[");
    }
    for (size_t i = 0; i < n_features; i++) {
        if (!(p->feature_names[i] = dup_str(feature_names[i]))) goto fail;
        p->name_key[i] = add_piece(p, cap, &len, "{\"name\":", feature_names[i] ? feature_names[i] : "", ",\"value\":");
    }
    size_t keys = 0;
    for (size_t i = 0; i < o->np; i++) {
        if (!(p->pass_names[i] = dup_str(o->passthrough_names[i]))) goto fail;
        p->pass_key[i] = add_piece(p, cap, &len, "", o->passthrough_names[i] ? o->passthrough_names[i] : "", ":");
        keys += 1 + p->pass_key[i].len;
    }
    p->eo.passthrough_names = (const char *const *)p->pass_names;
    p->eo.np = o->np;
    p->eo.emit_output = o->emit_output;
    /* 16 (piece's slack) + "{" keys ",\"score\":" <n> mid 3 x ("," name_key <n> ",\"error\":" <n> "}") "]"
     * output "}", where a number <n> takes at most 24 bytes but fr_fmt_* wants 32 at hand */
    size_t mid = p->mid[0].len > p->mid[1].len ? p->mid[0].len : p->mid[1].len;
    p->need = 16 + 1 + keys + 9 + 32 + mid + FR_TOP_FEATURES * (1 + 32 + 6 * longest + 32 + 9 + 32 + 1) + 1 +
              (o->emit_output ? 12 + n_outputs * 33 : 0) + 1;
    return p;
fail:
    fr_result_prep_free(p);
    return NULL;
}

size_t fr_result_prep_need(const fr_result_prep *p) { return p->need; }

/* Unchecked writes: the caller made sure the bound fits. */
#define CPY(d, s, n) (memcpy((d), (s), (n)), (d) += (n))
#define LIT(d, lit) CPY(d, lit, sizeof(lit) - 1)

/* A prepared piece, copied in whole 16-byte blocks (fixed-size copies the
 * compiler inlines, where a memcpy of a variable length is a library call):
 * up to 15 bytes past the piece are written, inside the 16 bytes of slack
 * that need counts and that later writes overwrite, and read, inside the
 * slack allocated after text. */
static inline char *piece(char *d, const char *text, fr__piece pc) {
    const char *s = text + pc.off;
    for (size_t i = 0; i < pc.len; i += 16) memcpy(d + i, s + i, 16);
    return d + pc.len;
}

size_t fr_result_prep_encode(const fr_result_prep *p, char *dst, size_t cap, const fr_score *s, const float *raw,
                             const float *y, const fr_slice *pt) {
    size_t need = p->need;
    for (size_t i = 0; i < p->np; i++) need += pt[i].ptr ? pt[i].len : 0;
    int n_top = s->n_top < 0 ? 0 : s->n_top > FR_TOP_FEATURES ? FR_TOP_FEATURES : s->n_top;
    int bad_idx = 0;
    for (int k = 0; k < n_top; k++) bad_idx |= s->top_idx[k] >= p->n_features;
    if (!dst || cap < need || bad_idx)
        return fr_result_encode_parts(dst, cap, p->version, (const char *const *)p->feature_names, p->n_outputs,
                                      &p->eo, s, p->threshold, raw, y, pt);
    char *d = dst;
    *d++ = '{';
    int first = 1;
    for (size_t i = 0; i < p->np; i++) {
        if (!pt[i].ptr) continue;
        if (!first) *d++ = ',';
        first = 0;
        d = piece(d, p->text, p->pass_key[i]);
        CPY(d, pt[i].ptr, pt[i].len);
    }
    if (first) LIT(d, "\"score\":");
    else LIT(d, ",\"score\":");
    d += fr_fmt_double(d, s->score);
    const fr__piece *mid = &p->mid[s->is_fraud ? 1 : 0];
    d = piece(d, p->text, *mid);
    for (int k = 0; k < n_top; k++) {
        uint32_t f = s->top_idx[k];
        if (k) *d++ = ',';
        d = piece(d, p->text, p->name_key[f]);
        d += fr_fmt_float(d, raw[f]);
        LIT(d, ",\"error\":");
        d += fr_fmt_float(d, s->top_err[k]);
        *d++ = '}';
    }
    *d++ = ']';
    if (p->emit_output) {
        LIT(d, ",\"output\":[");
        for (size_t j = 0; j < p->n_outputs; j++) {
            if (j) *d++ = ',';
            d += fr_fmt_float(d, y[j]);
        }
        *d++ = ']';
    }
    *d++ = '}';
    return (size_t)(d - dst);
}

size_t fr_result_with_challenger(char *dst, const char *champion, size_t champion_len, const char *challenger,
                                 size_t challenger_len, const char *reject) {
    static const char key[] = ",\"challenger\":";
    char *d = dst;
    memcpy(d, champion, champion_len - 1); /* without its closing brace */
    d += champion_len - 1;
    memcpy(d, key, sizeof key - 1);
    d += sizeof key - 1;
    if (!reject) {
        memcpy(d, challenger, challenger_len);
        d += challenger_len;
    } else {
        static const char head[] = "{\"reject\":\"";
        size_t rl = strlen(reject);
        memcpy(d, head, sizeof head - 1);
        d += sizeof head - 1;
        memcpy(d, reject, rl);
        d += rl;
        *d++ = '"';
        *d++ = '}';
    }
    *d++ = '}';
    return (size_t)(d - dst);
}
