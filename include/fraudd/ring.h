/* fraudd ring: a bounded lock-free single-producer single-consumer queue of
 * pointers, one per worker.
 *
 * Why SPSC per worker: the consumer thread is the only producer of every
 * ring and each worker the only consumer of its own, and the ordering modes
 * (by key, by partition) need "same key -> same worker" anyway; an SPSC ring
 * needs no read-modify-write atomics at all, only one release store per
 * batch on each side.
 *
 * The algorithm in three steps (as in DPDK rte_ring and rigtorp SPSCQueue):
 *  1. head and tail are free-running 64-bit counters (never wrapped; slot =
 *     counter & mask, capacity a power of two), so full is tail - head ==
 *     capacity and empty is tail == head, with no slot wasted;
 *  2. the producer writes slots [tail, tail+k) and then publishes them with
 *     one release store of tail; the consumer's acquire load of tail pairs
 *     with it, so the slots' contents are visible before it reads them;
 *  3. the consumer reads slots [head, head+k) and then frees them with one
 *     release store of head; the producer's acquire load of head pairs with
 *     it, so the consumer's reads are done before the producer overwrites.
 * Each side keeps a private cached copy of the other side's counter and
 * reloads it only when the cache says full/empty, so a busy ring costs no
 * cache-line ping-pong per record. head, tail and the caches sit on
 * separate cache lines (asserted at compile time).
 *
 * Nothing is allocated after fr_ring_new. Thread safety: exactly one thread
 * may call the producer functions and one the consumer functions at a time.
 */
#ifndef FRAUDD_RING_H
#define FRAUDD_RING_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fr_ring fr_ring;

/* capacity: a power of two in 2..2^30. NULL if not, or out of memory. */
fr_ring *fr_ring_new(size_t capacity);
void fr_ring_free(fr_ring *r);
size_t fr_ring_capacity(const fr_ring *r);

/* Producer side: enqueues up to n items, in order; returns how many. */
size_t fr_ring_push(fr_ring *r, void *const *items, size_t n);
/* Producer side: free slots (may be stale low, never high). */
size_t fr_ring_free_slots(fr_ring *r);

/* Consumer side: dequeues up to n items, in order; returns how many. */
size_t fr_ring_pop(fr_ring *r, void **items, size_t n);

/* Either side, approximate: items queued now. */
size_t fr_ring_count(const fr_ring *r);

#ifdef __cplusplus
}
#endif

#endif
