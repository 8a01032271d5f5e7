/* Proves the offset tracker's contract (include/fraudd/offsets.h):
 *  - with records finishing in random order, the committable position is
 *    always exactly one past the longest finished prefix, never beyond an
 *    unfinished record, including with gaps between offsets;
 *  - offsets that do not increase are refused;
 *  - after a reset, handles from before it are ignored and cannot move the
 *    position of the new assignment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "fraudd/err.h"
#include "fraudd/offsets.h"

static uint64_t rnd(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void commits_only_the_finished_prefix_in_any_finish_order(void **state) {
    (void)state;
    enum { N = 20000, WINDOW = 700 };
    fr_otrack t;
    fr_otrack_init(&t);
    static int64_t offs[N];
    static uint64_t seqs[N];
    static uint8_t fin[N];
    uint64_t s = 42;
    int64_t off = 1000;
    size_t pushed = 0, first_open = 0;
    while (first_open < N) {
        /* push a few (offsets with random gaps) */
        while (pushed < N && pushed - first_open < WINDOW && rnd(&s) % 3) {
            off += 1 + (int64_t)(rnd(&s) % 4 == 0 ? rnd(&s) % 50 : 0);
            offs[pushed] = off;
            assert_int_equal(fr_otrack_push(&t, off, &seqs[pushed]), 0);
            pushed++;
        }
        if (pushed == first_open) continue;
        /* finish a random open one */
        size_t k = first_open + (size_t)(rnd(&s) % (pushed - first_open));
        if (!fin[k]) {
            fin[k] = 1;
            fr_otrack_done(&t, seqs[k]);
        }
        while (first_open < pushed && fin[first_open]) first_open++;
        int64_t expect = first_open == 0 ? -1 : offs[first_open - 1] + 1;
        assert_int_equal(t.committable, expect);
        assert_int_equal(fr_otrack_in_flight(&t), pushed - first_open);
    }
    assert_int_equal(t.committable, offs[N - 1] + 1);
    fr_otrack_free(&t);
}

static void refuses_offsets_that_do_not_increase(void **state) {
    (void)state;
    fr_otrack t;
    fr_otrack_init(&t);
    uint64_t q;
    assert_int_equal(fr_otrack_push(&t, 5, &q), 0);
    assert_int_equal(fr_otrack_push(&t, 5, &q), FR_EINVAL);
    assert_int_equal(fr_otrack_push(&t, 4, &q), FR_EINVAL);
    assert_int_equal(fr_otrack_push(&t, -1, &q), FR_EINVAL);
    fr_otrack_free(&t);
}

static void handles_from_before_a_reset_are_ignored(void **state) {
    (void)state;
    fr_otrack t;
    fr_otrack_init(&t);
    uint64_t a, b, c;
    assert_int_equal(fr_otrack_push(&t, 10, &a), 0);
    assert_int_equal(fr_otrack_push(&t, 11, &b), 0);
    fr_otrack_reset(&t);
    assert_int_equal(t.committable, -1);
    assert_int_equal(fr_otrack_in_flight(&t), 0);
    assert_int_equal(fr_otrack_push(&t, 3, &c), 0); /* re-assigned from an earlier commit */
    assert_int_equal(fr_otrack_done(&t, a), 0);
    assert_int_equal(fr_otrack_done(&t, b), 0);
    assert_int_equal(t.committable, -1);
    assert_int_equal(fr_otrack_done(&t, c), 1);
    assert_int_equal(t.committable, 4);
    fr_otrack_free(&t);
}

/* Offsets no record accounts for (transaction markers, aborted records): with
 * nothing in flight the committable position moves up to what the consumer
 * has passed, never down, and never while a record is in flight. */
static void skips_to_an_offset_only_with_nothing_in_flight(void **state) {
    (void)state;
    fr_otrack t;
    fr_otrack_init(&t);
    uint64_t a, b;
    assert_int_equal(fr_otrack_push(&t, 10, &a), 0);
    fr_otrack_skip_to(&t, 15); /* 10 in flight: no skip */
    assert_int_equal(t.committable, -1);
    fr_otrack_done(&t, a);
    assert_int_equal(t.committable, 11);
    fr_otrack_skip_to(&t, 13); /* a marker at 11, an aborted record at 12 */
    assert_int_equal(t.committable, 13);
    fr_otrack_skip_to(&t, 12); /* never down */
    assert_int_equal(t.committable, 13);
    assert_int_equal(fr_otrack_push(&t, 14, &b), 0);
    fr_otrack_done(&t, b);
    assert_int_equal(t.committable, 15);
    fr_otrack_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(commits_only_the_finished_prefix_in_any_finish_order),
        cmocka_unit_test(refuses_offsets_that_do_not_increase),
        cmocka_unit_test(handles_from_before_a_reset_are_ignored),
        cmocka_unit_test(skips_to_an_offset_only_with_nothing_in_flight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
