/* librdkafka statistics JSON -> fr_kstats (include/fraudd/kstats.h; the kafka module).
 * Field names: librdkafka's STATISTICS.md ("type", "msg_cnt", "msg_size",
 * "topics" -> name -> "partitions" -> id -> "consumer_lag", "cgrp" ->
 * "rebalance_cnt"). Partition -1 (the internal UA partition) and unknown
 * lags (-1) are skipped. */
#include "fraudd/kstats.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fraudd/err.h"

int fr_kstats_parse(const char *json, size_t len, const char *topic, fr_kstats *out) {
    json_error_t e;
    json_t *root = json_loadb(json, len, 0, &e);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return FR_EPARSE;
    }
    const char *type = json_string_value(json_object_get(root, "type"));
    if (type && strcmp(type, "producer") == 0) {
        out->have_producer = 1;
        out->producer_queue_msgs = json_integer_value(json_object_get(root, "msg_cnt"));
        out->producer_queue_bytes = json_integer_value(json_object_get(root, "msg_size"));
    } else if (type && strcmp(type, "consumer") == 0) {
        out->have_consumer = 1;
        out->n_lag = 0;
        json_t *parts = json_object_get(json_object_get(json_object_get(root, "topics"), topic), "partitions");
        const char *key;
        json_t *v;
        json_object_foreach(parts, key, v) {
            long id = strtol(key, NULL, 10);
            json_t *lag = json_object_get(v, "consumer_lag");
            if (id < 0 || !json_is_integer(lag) || json_integer_value(lag) < 0) continue;
            if (out->n_lag == FR_KSTATS_MAX_PARTITIONS) break;
            out->lag_partition[out->n_lag] = (int32_t)id;
            out->lag[out->n_lag] = json_integer_value(lag);
            out->n_lag++;
        }
        json_t *cgrp = json_object_get(root, "cgrp");
        if (cgrp) out->rebalances = json_integer_value(json_object_get(cgrp, "rebalance_cnt"));
    } else {
        json_decref(root);
        return FR_EPARSE;
    }
    json_decref(root);
    return 0;
}
