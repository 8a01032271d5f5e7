/* Proves fr_kstats_parse (include/fraudd/kstats.h) on statistics documents
 * shaped like librdkafka's (STATISTICS.md):
 *  - a consumer document gives the lag of the input topic's partitions with a
 *    known lag (partition -1 and lag -1 skipped, other topics ignored) and the
 *    group's rebalance count, and keeps the producer fields;
 *  - every partition of the input topic is listed with its backlog: the lag
 *    when known, 0 when the active fetcher reached the high watermark with
 *    no lag known (an empty partition), -1 when nobody can tell (lag -1 and
 *    behind, or the fetcher not active), and its committed offset;
 *  - each client's document counts its real brokers (nodeid >= 0) in state
 *    UP, not the bootstrap or internal entries;
 *  - a producer document gives the queue depth and keeps the consumer fields;
 *  - anything else is FR_EPARSE and leaves the value unchanged.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fraudd/err.h"
#include "fraudd/kstats.h"

static const char consumer_json[] =
    "{\"name\":\"fraudd#consumer-2\",\"type\":\"consumer\",\"msg_cnt\":0,"
    "\"topics\":{\"tx\":{\"topic\":\"tx\",\"partitions\":{"
    "\"0\":{\"partition\":0,\"fetch_state\":\"active\",\"committed_offset\":30,\"consumer_lag\":12},"
    "\"1\":{\"partition\":1,\"fetch_state\":\"active\",\"next_offset\":5,\"hi_offset\":9,"
    "\"committed_offset\":-1001,\"consumer_lag\":-1},"
    "\"2\":{\"partition\":2,\"fetch_state\":\"active\",\"consumer_lag\":0},"
    "\"3\":{\"partition\":3,\"fetch_state\":\"active\",\"next_offset\":0,\"hi_offset\":0,\"consumer_lag\":-1},"
    "\"4\":{\"partition\":4,\"fetch_state\":\"offset-query\",\"consumer_lag\":7},"
    "\"-1\":{\"partition\":-1,\"consumer_lag\":-1}}},"
    "\"other\":{\"partitions\":{\"0\":{\"consumer_lag\":99}}}},"
    "\"cgrp\":{\"state\":\"up\",\"rebalance_cnt\":3}}";

/* brokers as librdkafka lists them: bootstrap entries and the internal
 * broker have nodeid -1 */
static const char brokers_json[] =
    "{\"type\":\"consumer\",\"topics\":{},\"brokers\":{"
    "\"h:9092/bootstrap\":{\"nodeid\":-1,\"state\":\"UP\"},"
    "\":0/internal\":{\"nodeid\":-1,\"state\":\"UP\"},"
    "\"h:9092/1\":{\"nodeid\":1,\"state\":\"CONNECT\"},"
    "\"h:9093/2\":{\"nodeid\":2,\"state\":\"DOWN\"}}}";
static const char brokers_up_json[] =
    "{\"type\":\"producer\",\"msg_cnt\":0,\"msg_size\":0,\"brokers\":{"
    "\"h:9092/1\":{\"nodeid\":1,\"state\":\"UP\"},"
    "\"h:9093/2\":{\"nodeid\":2,\"state\":\"UP\"},"
    "\"h:9094/3\":{\"nodeid\":3,\"state\":\"APIVERSION_QUERY\"}}}";

static const char producer_json[] =
    "{\"name\":\"fraudd#producer-1\",\"type\":\"producer\",\"msg_cnt\":250,\"msg_size\":64000,\"topics\":{}}";

static void consumer_and_producer_documents_fill_their_fields(void **state) {
    (void)state;
    static fr_kstats k;
    memset(&k, 0, sizeof k);
    assert_int_equal(fr_kstats_parse(producer_json, sizeof producer_json - 1, "tx", &k), 0);
    assert_true(k.have_producer);
    assert_int_equal(k.producer_queue_msgs, 250);
    assert_int_equal(k.producer_queue_bytes, 64000);
    assert_int_equal(fr_kstats_parse(consumer_json, sizeof consumer_json - 1, "tx", &k), 0);
    assert_true(k.have_consumer);
    assert_int_equal(k.n_lag, 3);
    int64_t lag0 = -1, lag2 = -1;
    for (size_t i = 0; i < k.n_lag; i++) {
        if (k.lag_partition[i] == 0) lag0 = k.lag[i];
        if (k.lag_partition[i] == 2) lag2 = k.lag[i];
    }
    assert_int_equal(lag0, 12);
    assert_int_equal(lag2, 0);
    assert_int_equal(k.rebalances, 3);
    assert_int_equal(k.producer_queue_msgs, 250); /* kept */
}

static int64_t backlog_of(const fr_kstats *k, int32_t p, int64_t *committed) {
    for (size_t i = 0; i < k->n_part; i++)
        if (k->part[i].partition == p) {
            if (committed) *committed = k->part[i].committed;
            return k->part[i].backlog;
        }
    return -99; /* not listed */
}

static void every_partition_is_listed_with_its_backlog(void **state) {
    (void)state;
    static fr_kstats k;
    memset(&k, 0, sizeof k);
    assert_int_equal(fr_kstats_parse(consumer_json, sizeof consumer_json - 1, "tx", &k), 0);
    assert_int_equal(k.n_part, 5); /* -1 skipped, other topics ignored */
    int64_t c0 = 0, c1 = 0;
    assert_int_equal(backlog_of(&k, 0, &c0), 12); /* the lag */
    assert_int_equal(c0, 30);
    assert_int_equal(backlog_of(&k, 1, &c1), -1); /* lag unknown, fetcher behind: nobody can tell */
    assert_int_equal(c1, -1);
    assert_int_equal(backlog_of(&k, 2, NULL), 0);
    assert_int_equal(backlog_of(&k, 3, NULL), 0);  /* empty: fetched to the high watermark */
    assert_int_equal(backlog_of(&k, 4, NULL), -1); /* not fetching: its lag is stale */
}

/* readiness recovers on this (include/fraudd/kafka.h): only a real
 * broker in state UP counts, per client */
static void only_real_brokers_in_state_up_count(void **state) {
    (void)state;
    static fr_kstats k;
    memset(&k, 0, sizeof k);
    assert_int_equal(fr_kstats_parse(brokers_json, sizeof brokers_json - 1, "tx", &k), 0);
    assert_int_equal(k.consumer_brokers_up, 0); /* bootstrap and internal do not count; 1 connecting, 2 down */
    assert_int_equal(fr_kstats_parse(brokers_up_json, sizeof brokers_up_json - 1, "tx", &k), 0);
    assert_int_equal(k.producer_brokers_up, 2);
    assert_int_equal(k.consumer_brokers_up, 0); /* the consumer's count is kept */
    assert_int_equal(fr_kstats_parse(consumer_json, sizeof consumer_json - 1, "tx", &k), 0);
    assert_int_equal(k.consumer_brokers_up, 0); /* no "brokers": none up */
}

static void other_documents_are_refused_and_change_nothing(void **state) {
    (void)state;
    static fr_kstats k;
    memset(&k, 0, sizeof k);
    k.rebalances = 7;
    assert_int_equal(fr_kstats_parse("not json", 8, "tx", &k), FR_EPARSE);
    assert_int_equal(fr_kstats_parse("[1]", 3, "tx", &k), FR_EPARSE);
    assert_int_equal(fr_kstats_parse("{\"type\":\"admin\"}", 16, "tx", &k), FR_EPARSE);
    assert_int_equal(k.rebalances, 7);
    assert_false(k.have_consumer);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(consumer_and_producer_documents_fill_their_fields),
        cmocka_unit_test(every_partition_is_listed_with_its_backlog),
        cmocka_unit_test(only_real_brokers_in_state_up_count),
        cmocka_unit_test(other_documents_are_refused_and_change_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
