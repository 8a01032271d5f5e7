/* fraudd Kafka statistics: what the metrics need from librdkafka's
 * statistics JSON (emitted every statistics.interval.ms, parsed with
 * jansson): consumer lag per assigned partition of the input topic, what
 * librdkafka knows of each partition's backlog (for the stall gauge, see
 * include/fraudd/source.h), the group's rebalance count, the producer's
 * queue depth, and how many real brokers each client has UP (readiness
 * recovers on it: include/fraudd/kafka.h).
 *
 * Part of the kafka module (include/fraudd/kafka.h), which owns the copy
 * both clients write. Thread safety: a plain value; fr_kafka_state guards
 * its copy.
 */
#ifndef FRAUDD_KSTATS_H
#define FRAUDD_KSTATS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FR_KSTATS_MAX_PARTITIONS 1024

/* One partition of the input topic, as the consumer's statistics see it. */
typedef struct fr_kstats_part {
    int32_t partition;
    /* records librdkafka knows are waiting: consumer_lag when known; else 0
     * when the fetcher is active and has reached the high watermark (an
     * empty partition, or nothing ever committed); -1 unknown (lag -1 and
     * not fetched to the end, or fetch_state not "active") */
    int64_t backlog;
    int64_t committed; /* committed_offset: the group's position when it was assigned; -1 none */
} fr_kstats_part;

typedef struct fr_kstats {
    int have_consumer, have_producer;
    /* brokers with a node id (not bootstrap, not internal) in state "UP" in
     * the latest document of each client */
    int consumer_brokers_up, producer_brokers_up;
    size_t n_lag;                              /* partitions with a known lag */
    int32_t lag_partition[FR_KSTATS_MAX_PARTITIONS];
    int64_t lag[FR_KSTATS_MAX_PARTITIONS];     /* records behind the high watermark */
    size_t n_part;                             /* every partition of the input topic in the document */
    fr_kstats_part part[FR_KSTATS_MAX_PARTITIONS];
    int64_t rebalances;                        /* cgrp.rebalance_cnt */
    int64_t producer_queue_msgs;               /* msg_cnt of the producer */
    int64_t producer_queue_bytes;              /* msg_size of the producer */
} fr_kstats;

/* Updates out from one statistics JSON document of a consumer (type
 * "consumer": lag and backlog of topic's partitions, rebalances, brokers
 * up) or a producer (queue depth, brokers up); other fields of out are
 * kept. Returns 0, or FR_EPARSE if the
 * document is not the JSON librdkafka writes. */
int fr_kstats_parse(const char *json, size_t len, const char *topic, fr_kstats *out);

#ifdef __cplusplus
}
#endif

#endif
