/* jansson DOM baseline decoder (decode_jansson.h). bench_decode.c includes
 * this file directly, so the CMake glob of bench/bench_*.c needs no extra
 * source list. */
#include "decode_jansson.h"

#include <errno.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Follows a dotted path ("card.amount") through nested objects. */
static json_t *frb_lookup(json_t *obj, const char *path) {
    char seg[256];
    for (;;) {
        const char *dot = strchr(path, '.');
        if (!dot) return json_object_get(obj, path);
        size_t n = (size_t)(dot - path);
        if (n >= sizeof seg) return NULL;
        memcpy(seg, path, n);
        seg[n] = 0;
        obj = json_object_get(obj, seg);
        if (!json_is_object(obj)) return NULL;
        path = dot + 1;
    }
}

/* A string holding exactly a JSON-like decimal number: strtod alone would
 * accept leading spaces, hex and nan/inf words. */
static int frb_numeric_string(const char *s, size_t len, double *out) {
    if (len == 0 || len > 64) return -1;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E')) return -1;
    }
    char tmp[65];
    memcpy(tmp, s, len);
    tmp[len] = 0;
    char *end;
    errno = 0;
    double x = strtod(tmp, &end);
    if (end != tmp + len || errno == ERANGE) return -1;
    *out = x;
    return 0;
}

int frb_jansson_decode(const char *buf, size_t len, const char *const *names, size_t n, float *out) {
    json_error_t e;
    json_t *doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &e);
    int rc = 0;
    if (!json_is_object(doc)) rc = -1;
    for (size_t f = 0; f < n && rc == 0; f++) {
        json_t *v = frb_lookup(doc, names[f]);
        double x = 0;
        if (json_is_number(v)) x = json_number_value(v);
        else if (!json_is_string(v) || frb_numeric_string(json_string_value(v), json_string_length(v), &x)) rc = -1;
        if (rc == 0 && !(fabs(x) <= FLT_MAX)) rc = -1;
        if (rc == 0) out[f] = (float)x;
    }
    json_decref(doc);
    return rc;
}
