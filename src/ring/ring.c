/* SPSC ring (include/fraudd/ring.h has the design and the algorithm).
 *
 * Orderings, each with its partner:
 *   [P1] producer: store-release tail      pairs with [C1] consumer: load-acquire tail
 *   [C2] consumer: store-release head      pairs with [P2] producer: load-acquire head
 * A side's own counter is loaded relaxed: only that side ever writes it.
 */
#include "fraudd/ring.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>

#define FR_CACHELINE 64

struct fr_ring {
    /* consumer's line: its counter and its cache of the producer's */
    alignas(FR_CACHELINE) _Atomic uint64_t head; /* next slot to read; written by the consumer only */
    uint64_t tail_cache;                         /* consumer's last view of tail */
    /* producer's line */
    alignas(FR_CACHELINE) _Atomic uint64_t tail; /* next slot to write; written by the producer only */
    uint64_t head_cache;                         /* producer's last view of head */
    /* read-only after creation */
    alignas(FR_CACHELINE) uint64_t mask;         /* capacity - 1 */
    void **slots;                                /* capacity entries */
};

_Static_assert(offsetof(struct fr_ring, tail) - offsetof(struct fr_ring, head) >= FR_CACHELINE,
               "head and tail must not share a cache line");
_Static_assert(offsetof(struct fr_ring, mask) - offsetof(struct fr_ring, tail) >= FR_CACHELINE,
               "tail and the read-only fields must not share a cache line");

fr_ring *fr_ring_new(size_t capacity) {
    if (capacity < 2 || capacity > ((size_t)1 << 30) || (capacity & (capacity - 1))) return NULL;
    fr_ring *r = aligned_alloc(FR_CACHELINE, sizeof *r);
    if (!r) return NULL;
    r->slots = calloc(capacity, sizeof *r->slots);
    if (!r->slots) {
        free(r);
        return NULL;
    }
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    r->tail_cache = 0;
    r->head_cache = 0;
    r->mask = capacity - 1;
    return r;
}

void fr_ring_free(fr_ring *r) {
    if (!r) return;
    free(r->slots);
    free(r);
}

size_t fr_ring_capacity(const fr_ring *r) { return (size_t)r->mask + 1; }

size_t fr_ring_free_slots(fr_ring *r) {
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire); /* [P2] pairs with [C2] */
    return (size_t)(r->mask + 1 - (tail - r->head_cache));
}

size_t fr_ring_push(fr_ring *r, void *const *items, size_t n) {
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint64_t cap = r->mask + 1;
    uint64_t room = cap - (tail - r->head_cache);
    if (room < n) {
        r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire); /* [P2] pairs with [C2] */
        room = cap - (tail - r->head_cache);
    }
    if (n > room) n = (size_t)room;
    for (size_t i = 0; i < n; i++) r->slots[(tail + i) & r->mask] = items[i];
    if (n) atomic_store_explicit(&r->tail, tail + n, memory_order_release); /* [P1] pairs with [C1] */
    return n;
}

size_t fr_ring_pop(fr_ring *r, void **items, size_t n) {
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t avail = r->tail_cache - head;
    if (avail < n) {
        r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire); /* [C1] pairs with [P1] */
        avail = r->tail_cache - head;
    }
    if (n > avail) n = (size_t)avail;
    for (size_t i = 0; i < n; i++) items[i] = r->slots[(head + i) & r->mask];
    if (n) atomic_store_explicit(&r->head, head + n, memory_order_release); /* [C2] pairs with [P2] */
    return n;
}

size_t fr_ring_count(const fr_ring *r) {
    uint64_t head = atomic_load_explicit(&((fr_ring *)r)->head, memory_order_acquire);
    uint64_t tail = atomic_load_explicit(&((fr_ring *)r)->tail, memory_order_acquire);
    return tail >= head ? (size_t)(tail - head) : 0;
}
