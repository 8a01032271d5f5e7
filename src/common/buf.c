/* Growable text buffer (include/fraudd/common.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fraudd/common.h"

void fr_buf_printf(fr_buf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->data ? b->data + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t ncap = b->cap ? b->cap * 2 : 16384;
        while (ncap - b->len <= (size_t)n) ncap *= 2;
        char *d = realloc(b->data, ncap);
        if (!d) {
            b->oom = 1;
            return;
        }
        b->data = d;
        b->cap = ncap;
    }
}

void fr_buf_free(fr_buf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}
