/* Proves the SPSC ring's contract (include/fraudd/ring.h):
 *  - capacities that are not powers of two in 2..2^30 are refused;
 *  - single-threaded: FIFO order across many wrap-arounds with every batch
 *    size, push stops exactly at capacity, pop stops exactly at empty,
 *    free_slots and count agree with what was pushed and popped;
 *  - two threads (run under TSan in scripts/test.sh): 4 million items pushed
 *    and popped in random batch sizes arrive complete, in order, unchanged,
 *    with the ring never reporting more than its capacity.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "fraudd/ring.h"

static void refuses_bad_capacities(void **state) {
    (void)state;
    assert_null(fr_ring_new(0));
    assert_null(fr_ring_new(1));
    assert_null(fr_ring_new(3));
    assert_null(fr_ring_new(1000));
    assert_null(fr_ring_new(((size_t)1 << 30) * 2));
    fr_ring *r = fr_ring_new(2);
    assert_non_null(r);
    assert_int_equal(fr_ring_capacity(r), 2);
    fr_ring_free(r);
    fr_ring_free(NULL);
}

static void fifo_across_wraparounds_with_every_batch_size(void **state) {
    (void)state;
    enum { CAP = 16 };
    fr_ring *r = fr_ring_new(CAP);
    assert_non_null(r);
    void *in[CAP + 5], *out[CAP + 5];
    uintptr_t next_in = 1, next_out = 1;
    for (int round = 0; round < 2000; round++) {
        size_t want = (size_t)(round % (CAP + 5)) + 0;
        size_t queued = (size_t)(next_in - next_out);
        assert_int_equal(fr_ring_count(r), queued);
        assert_int_equal(fr_ring_free_slots(r), CAP - queued);
        for (size_t i = 0; i < want; i++) in[i] = (void *)(next_in + i);
        size_t pushed = fr_ring_push(r, in, want);
        size_t expect_push = want < CAP - queued ? want : CAP - queued;
        assert_int_equal(pushed, expect_push);
        next_in += pushed;
        size_t take = (size_t)((round * 7) % (CAP + 5));
        size_t popped = fr_ring_pop(r, out, take);
        size_t have = (size_t)(next_in - next_out);
        assert_int_equal(popped, take < have ? take : have);
        for (size_t i = 0; i < popped; i++) assert_true((uintptr_t)out[i] == next_out + i);
        next_out += popped;
    }
    /* drain, then empty stays empty */
    while (fr_ring_pop(r, out, 3)) {
    }
    assert_int_equal(fr_ring_count(r), 0);
    assert_int_equal(fr_ring_pop(r, out, 1), 0);
    /* exactly capacity fits */
    for (size_t i = 0; i < CAP + 1; i++) in[i] = (void *)(uintptr_t)(i + 1);
    assert_int_equal(fr_ring_push(r, in, CAP + 1), CAP);
    assert_int_equal(fr_ring_push(r, in, 1), 0);
    assert_int_equal(fr_ring_free_slots(r), 0);
    assert_int_equal(fr_ring_pop(r, out, CAP + 1), CAP);
    for (size_t i = 0; i < CAP; i++) assert_true(out[i] == in[i]);
    fr_ring_free(r);
}

#define STRESS_ITEMS 4000000u

typedef struct stress {
    fr_ring *r;
    uint64_t seed;
    uintptr_t received;
    int bad;
} stress;

static uint64_t rnd(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void *producer(void *arg) {
    stress *st = arg;
    uint64_t s = st->seed;
    void *buf[64];
    uintptr_t next = 1;
    while (next <= STRESS_ITEMS) {
        size_t n = (size_t)(rnd(&s) % 64) + 1;
        if (n > STRESS_ITEMS - next + 1) n = STRESS_ITEMS - next + 1;
        for (size_t i = 0; i < n; i++) buf[i] = (void *)(next + i);
        next += fr_ring_push(st->r, buf, n);
    }
    return NULL;
}

static void *consumer(void *arg) {
    stress *st = arg;
    uint64_t s = st->seed * 31 + 7;
    void *buf[64];
    uintptr_t expect = 1;
    while (expect <= STRESS_ITEMS) {
        size_t n = fr_ring_pop(st->r, buf, (size_t)(rnd(&s) % 64) + 1);
        for (size_t i = 0; i < n; i++)
            if ((uintptr_t)buf[i] != expect + i) st->bad++;
        expect += n;
        if (fr_ring_count(st->r) > fr_ring_capacity(st->r)) st->bad++;
    }
    st->received = expect - 1;
    return NULL;
}

static void two_threads_move_millions_in_order(void **state) {
    (void)state;
    size_t caps[] = {2, 64, 1024};
    for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) {
        stress st = {.r = fr_ring_new(caps[c]), .seed = 0x9e3779b97f4a7c15ull + c};
        assert_non_null(st.r);
        pthread_t p, q;
        assert_int_equal(pthread_create(&p, NULL, producer, &st), 0);
        assert_int_equal(pthread_create(&q, NULL, consumer, &st), 0);
        pthread_join(p, NULL);
        pthread_join(q, NULL);
        assert_int_equal(st.bad, 0);
        assert_int_equal(st.received, STRESS_ITEMS);
        assert_int_equal(fr_ring_count(st.r), 0);
        fr_ring_free(st.r);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refuses_bad_capacities),
        cmocka_unit_test(fifo_across_wraparounds_with_every_batch_size),
        cmocka_unit_test(two_threads_move_millions_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
