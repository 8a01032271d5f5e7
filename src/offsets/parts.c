/* The partition table (include/fraudd/offsets.h). */
#include <stdlib.h>
#include <string.h>

#include "fraudd/offsets.h"

fr_part *fr_parts_get(fr_parts *t, int32_t id, int create) {
    if (id < 0) return NULL;
    if ((size_t)id < t->n && t->v[id]) return t->v[id];
    if (!create) return NULL;
    if ((size_t)id >= t->n) {
        size_t n = t->n ? t->n : 16;
        while (n <= (size_t)id) n *= 2;
        fr_part **nv = realloc(t->v, n * sizeof *nv);
        if (!nv) return NULL;
        memset(nv + t->n, 0, (n - t->n) * sizeof *nv);
        t->v = nv;
        t->n = n;
    }
    fr_part *part = calloc(1, sizeof *part);
    if (!part) return NULL;
    part->id = id;
    part->stored = -1;
    part->txn_base = part->txn_sent = -1;
    fr_otrack_init(&part->track);
    t->v[id] = part;
    return part;
}

size_t fr_parts_owned(const fr_parts *t) {
    size_t owned = 0;
    for (size_t i = 0; i < t->n; i++) owned += t->v[i] && t->v[i]->assigned;
    return owned;
}

void fr_parts_free(fr_parts *t) {
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i]) {
            fr_otrack_free(&t->v[i]->track);
            free(t->v[i]);
        }
    free(t->v);
    memset(t, 0, sizeof *t);
}
