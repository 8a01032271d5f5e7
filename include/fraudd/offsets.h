/* fraudd offset tracker: which offset of one partition may be committed.
 *
 * Records of a partition are dispatched in offset order but finish out of
 * order (several workers, produce acknowledgements in any order). The
 * tracker remembers each dispatched offset in a FIFO with a done flag; when
 * a record finishes, the FIFO's done prefix is popped and the committable
 * position becomes (last popped offset + 1): everything below it has its
 * result or dead letter acknowledged by the broker. Offsets need not be
 * contiguous (compacted topics, transaction markers); only their order
 * matters.
 *
 * Memory: the FIFO doubles when full, so it ends up sized for the most
 * records ever in flight on this partition (bounded by the pipeline's
 * max_in_flight); it never shrinks and steady state allocates nothing.
 *
 * Thread safety: none; the pipeline's consumer thread owns every tracker.
 */
#ifndef FRAUDD_OFFSETS_H
#define FRAUDD_OFFSETS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fr_otrack {
    int64_t *offs;       /* ring of dispatched offsets, cap entries */
    uint8_t *done;       /* done flag per slot */
    uint64_t cap;        /* power of two */
    uint64_t head;       /* oldest unfinished sequence number */
    uint64_t tail;       /* next sequence number */
    int64_t committable; /* next offset to commit; -1 = nothing finished yet */
    int64_t last_pushed; /* highest offset dispatched; -1 = none */
} fr_otrack;

void fr_otrack_init(fr_otrack *t);
void fr_otrack_reset(fr_otrack *t); /* forget everything (new assignment) */
void fr_otrack_free(fr_otrack *t);

/* Records offset as dispatched (offsets must increase); *seq receives the
 * handle to pass to fr_otrack_done. 0, FR_EINVAL (offset not increasing),
 * or FR_ENOMEM. */
int fr_otrack_push(fr_otrack *t, int64_t offset, uint64_t *seq);

/* Marks seq finished. Returns 1 if the committable position moved. */
int fr_otrack_done(fr_otrack *t, uint64_t seq);

/* Records dispatched but not finished. */
static inline uint64_t fr_otrack_in_flight(const fr_otrack *t) { return t->tail - t->head; }

#ifdef __cplusplus
}
#endif

#endif
