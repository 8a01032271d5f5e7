/* fraudd offsets: which offset of each input partition may be committed.
 *
 * Owned below both stages that use it: the source dispatches records into a
 * partition's tracker and stores what became committable; the sink, whose
 * delivery reports run on the same (run) thread, marks records done.
 *
 * The tracker, per partition:
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
 * The partition table (fr_parts): one fr_part per input partition this
 * process has owned, indexed by partition number, with its tracker and
 * what was last handed to librdkafka's offset store.
 *
 * Thread safety: none; the run thread owns every tracker and the table.
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

/* Nothing in flight, and every offset below offset is done although no
 * record accounts for it (transaction markers, aborted records that
 * read_committed skips): committable moves up to offset (never down). */
void fr_otrack_skip_to(fr_otrack *t, int64_t offset);

/* Records dispatched but not finished. */
static inline uint64_t fr_otrack_in_flight(const fr_otrack *t) { return t->tail - t->head; }

/* One input partition. */
typedef struct fr_part {
    int32_t id;      /* partition number */
    int assigned;    /* ours now: records of it may be dispatched */
    int dirty;       /* committable moved since the last store */
    int64_t stored;  /* last offset handed to rd_kafka_offsets_store, -1 none */
    int gave_back;   /* a record of it was polled and not dispatched this assignment (source) */
    int64_t progress_ns; /* fr_now_ns when it last made progress (the source's stall gauge) */
    int64_t assigned_ns; /* fr_now_ns when it was last assigned */
    /* the source's own per-partition state (its librdkafka queue and the
     * records taken from it, not yet dispatched): created and freed by the
     * source, NULL until the partition is first assigned */
    struct fr_part_queue *queue;
    fr_otrack track; /* dispatched offsets and their completion */
    /* hook between the sink and the source (run thread): blocked counts
     * records of this partition whose dead letter cannot be delivered (the
     * sink retries them with backoff; nothing past them can be committed);
     * while it is nonzero the source does not read the partition, so its
     * tracker stops growing behind them */
    int blocked;
    /* kafka.delivery exactly_once (the source): where the partition rewinds
     * to when a transaction aborts, i.e. its position at the last commit
     * (the offset committed then, or the first record taken since the
     * assignment); -1 when nothing was taken since. txn_sent: the offset the
     * last committed transaction sent for it (-1 none) */
    int64_t txn_base, txn_sent;
} fr_part;

/* A record of the partition is done (its result or dead letter is
 * acknowledged); seq is the handle fr_otrack_push gave. */
static inline void fr_part_done(fr_part *p, uint64_t seq) {
    if (fr_otrack_done(&p->track, seq)) p->dirty = 1;
}

/* Partitions by number; zero-initialise. */
typedef struct fr_parts {
    fr_part **v; /* v[id], NULL where never seen */
    size_t n;    /* entries in v */
} fr_parts;

/* The partition id, or NULL; with create, a new unassigned entry if there is
 * none (NULL only when out of memory). */
fr_part *fr_parts_get(fr_parts *t, int32_t id, int create);
/* Partitions assigned now. */
size_t fr_parts_owned(const fr_parts *t);
void fr_parts_free(fr_parts *t);

#ifdef __cplusplus
}
#endif

#endif
