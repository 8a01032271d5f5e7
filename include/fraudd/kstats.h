/* fraudd Kafka statistics: what the metrics need from librdkafka's
 * statistics JSON (emitted every statistics.interval.ms, parsed with
 * jansson): consumer lag per assigned partition of the input topic, the
 * group's rebalance count, and the producer's queue depth.
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

typedef struct fr_kstats {
    int have_consumer, have_producer;
    size_t n_lag;                              /* partitions with a known lag */
    int32_t lag_partition[FR_KSTATS_MAX_PARTITIONS];
    int64_t lag[FR_KSTATS_MAX_PARTITIONS];     /* records behind the high watermark */
    int64_t rebalances;                        /* cgrp.rebalance_cnt */
    int64_t producer_queue_msgs;               /* msg_cnt of the producer */
    int64_t producer_queue_bytes;              /* msg_size of the producer */
} fr_kstats;

/* Updates out from one statistics JSON document of a consumer (type
 * "consumer": lag of topic's partitions, rebalances) or a producer (queue
 * depth); other fields of out are kept. Returns 0, or FR_EPARSE if the
 * document is not the JSON librdkafka writes. */
int fr_kstats_parse(const char *json, size_t len, const char *topic, fr_kstats *out);

#ifdef __cplusplus
}
#endif

#endif
