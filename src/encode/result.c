/* Result encoder (include/fraudd/encode.h): one scored record -> one JSON
 * object, written straight into the caller's buffer.
 *
 * What: fr_json_quote (JSON string literal of arbitrary bytes),
 * fr_result_encode_parts (the encoder proper, over plain values) and
 * fr_result_encode (a thin wrapper reading those values from the model).
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
