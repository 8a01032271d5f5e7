/* Result encoder (include/fraudd/encode.h): one scored record -> one JSON
 * object, written straight into the caller's buffer.
 *
 * Every write is bounds-checked against cap; when the text does not fit
 * the function returns 0 and the caller grows its buffer. No allocation,
 * no snprintf: keys are constant strings, numbers come from to_chars.
 * Thread safe (pure over caller memory).
 */
#include <string.h>

#include "fraudd/encode.h"

typedef struct fr__out {
    char *p;   /* next byte */
    char *end; /* one past the last usable byte */
    int full;  /* something did not fit */
} fr__out;

static void put(fr__out *o, const char *s, size_t n) {
    if (o->full || (size_t)(o->end - o->p) < n) {
        o->full = 1;
        return;
    }
    memcpy(o->p, s, n);
    o->p += n;
}

#define PUTS(o, lit) put((o), (lit), sizeof(lit) - 1)

static void put_double(fr__out *o, double v) {
    char b[32];
    put(o, b, fr_fmt_double(b, v));
}

static void put_float(fr__out *o, float v) {
    char b[32];
    put(o, b, fr_fmt_float(b, v));
}

static void put_string(fr__out *o, const char *s, size_t n) {
    if (o->full) return;
    size_t l = fr_json_quote(o->p, (size_t)(o->end - o->p), s, n);
    if (!l) o->full = 1;
    o->p += l;
}

size_t fr_json_quote(char *dst, size_t cap, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (cap < 2) return 0;
    dst[o++] = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[6];
        size_t el = 2;
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (c < 0x20) {
                memcpy(u, "\\u00", 4);
                u[4] = hex[c >> 4];
                u[5] = hex[c & 15];
                esc = u;
                el = 6;
            }
        }
        if (esc) {
            if (o + el + 1 > cap) return 0;
            memcpy(dst + o, esc, el);
            o += el;
        } else {
            if (o + 2 > cap) return 0;
            dst[o++] = (char)c;
        }
    }
    if (o + 1 > cap) return 0;
    dst[o++] = '"';
    return o;
}

size_t fr_result_encode_parts(char *dst, size_t cap, const char *version, const char *const *feature_names,
                              size_t n_outputs, const fr_encode_opts *eo, const fr_score *s, double threshold,
                              const float *raw, const float *y, const fr_slice *pt) {
    fr__out o = {dst, dst + cap, 0};
    int first = 1;
    PUTS(&o, "{");
    for (size_t i = 0; i < eo->np; i++) {
        if (!pt[i].ptr) continue;
        if (!first) PUTS(&o, ",");
        first = 0;
        put_string(&o, eo->passthrough_names[i], strlen(eo->passthrough_names[i]));
        PUTS(&o, ":");
        put(&o, pt[i].ptr, pt[i].len);
    }
    if (!first) PUTS(&o, ",");
    PUTS(&o, "\"score\":");
    put_double(&o, s->score);
    PUTS(&o, ",\"threshold\":");
    put_double(&o, threshold);
    if (s->is_fraud) PUTS(&o, ",\"is_fraud\":true,\"model_version\":");
    else PUTS(&o, ",\"is_fraud\":false,\"model_version\":");
    put_string(&o, version, strlen(version));
    PUTS(&o, ",\"top_features\":[");
    for (int k = 0; k < s->n_top; k++) {
        const char *name = feature_names[s->top_idx[k]];
        if (k) PUTS(&o, ",");
        PUTS(&o, "{\"name\":");
        put_string(&o, name, strlen(name));
        PUTS(&o, ",\"value\":");
        put_float(&o, raw[s->top_idx[k]]);
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
    return o.full ? 0 : (size_t)(o.p - dst);
}

size_t fr_result_encode(char *dst, size_t cap, const fr_model *m, const fr_encode_opts *o, const fr_score *s,
                        double threshold, const float *raw, const float *y, const fr_slice *passthrough) {
    return fr_result_encode_parts(dst, cap, fr_model_version(m), fr_model_feature_names(m), fr_model_n_outputs(m), o,
                                  s, threshold, raw, y, passthrough);
}
