/* Offset tracker of one partition (include/fraudd/offsets.h has the design). */
#include "fraudd/offsets.h"

#include <stdlib.h>
#include <string.h>

#include "fraudd/err.h"

void fr_otrack_init(fr_otrack *t) {
    memset(t, 0, sizeof *t);
    t->committable = -1;
    t->last_pushed = -1;
}

void fr_otrack_reset(fr_otrack *t) {
    /* sequence numbers keep increasing, so handles from before the reset
     * fall below head and fr_otrack_done ignores them */
    t->head = t->tail;
    t->committable = -1;
    t->last_pushed = -1;
}

void fr_otrack_free(fr_otrack *t) {
    free(t->offs);
    free(t->done);
    fr_otrack_init(t);
}

static int grow(fr_otrack *t) {
    uint64_t ncap = t->cap ? t->cap * 2 : 64;
    int64_t *offs = malloc(ncap * sizeof *offs);
    uint8_t *done = malloc(ncap);
    if (!offs || !done) {
        free(offs);
        free(done);
        return FR_ENOMEM;
    }
    /* re-base the live entries at their sequence numbers modulo the new cap */
    for (uint64_t s = t->head; s < t->tail; s++) {
        offs[s & (ncap - 1)] = t->offs[s & (t->cap - 1)];
        done[s & (ncap - 1)] = t->done[s & (t->cap - 1)];
    }
    free(t->offs);
    free(t->done);
    t->offs = offs;
    t->done = done;
    t->cap = ncap;
    return 0;
}

int fr_otrack_push(fr_otrack *t, int64_t offset, uint64_t *seq) {
    if (offset < 0 || offset <= t->last_pushed) return FR_EINVAL;
    if (t->tail - t->head == t->cap) {
        int rc = grow(t);
        if (rc) return rc;
    }
    uint64_t s = t->tail++;
    t->offs[s & (t->cap - 1)] = offset;
    t->done[s & (t->cap - 1)] = 0;
    t->last_pushed = offset;
    *seq = s;
    return 0;
}

int fr_otrack_done(fr_otrack *t, uint64_t seq) {
    if (seq < t->head || seq >= t->tail) return 0; /* stale handle (partition was reset) */
    t->done[seq & (t->cap - 1)] = 1;
    if (seq != t->head) return 0;
    while (t->head < t->tail && t->done[t->head & (t->cap - 1)]) {
        t->committable = t->offs[t->head & (t->cap - 1)] + 1;
        t->head++;
    }
    return 1;
}

void fr_otrack_skip_to(fr_otrack *t, int64_t offset) {
    if (t->head != t->tail || offset <= t->committable) return;
    t->committable = offset;
}
