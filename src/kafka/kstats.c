/* librdkafka statistics JSON -> fr_kstats (include/fraudd/kstats.h; the kafka module).
 * Field names: librdkafka's STATISTICS.md ("type", "msg_cnt", "msg_size",
 * "brokers" -> name -> "nodeid", "state"; "topics" -> name -> "partitions"
 * -> id -> "consumer_lag", "fetch_state", "next_offset", "hi_offset",
 * "committed_offset";
 * "cgrp" -> "rebalance_cnt"). Partition -1 (the internal UA partition) is
 * skipped; unknown lags (-1) are left out of the lag list but the
 * partition is still listed with its backlog (kstats.h says how that is
 * derived). Brokers with nodeid -1 (bootstrap entries, the internal
 * broker) are not counted as up: only a real broker answering means the
 * cluster is reachable. */
#include "fraudd/kstats.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fraudd/err.h"

static int64_t int_field(json_t *o, const char *name, int64_t dflt) {
    json_t *v = json_object_get(o, name);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

/* real brokers (nodeid >= 0) in state "UP" */
static int brokers_up(json_t *root) {
    int n = 0;
    const char *key;
    json_t *b;
    json_object_foreach(json_object_get(root, "brokers"), key, b) {
        const char *state = json_string_value(json_object_get(b, "state"));
        if (int_field(b, "nodeid", -1) >= 0 && state && strcmp(state, "UP") == 0) n++;
    }
    return n;
}

/* see fr_kstats_part.backlog */
static int64_t backlog(json_t *p, int64_t lag) {
    const char *fs = json_string_value(json_object_get(p, "fetch_state"));
    if (!fs || strcmp(fs, "active") != 0) return -1;
    if (lag >= 0) return lag;
    int64_t next = int_field(p, "next_offset", -1), hi = int_field(p, "hi_offset", -1);
    return next >= 0 && hi >= 0 && next >= hi ? 0 : -1;
}

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
        out->producer_brokers_up = brokers_up(root);
    } else if (type && strcmp(type, "consumer") == 0) {
        out->have_consumer = 1;
        out->n_lag = 0;
        out->n_part = 0;
        out->consumer_brokers_up = brokers_up(root);
        json_t *parts = json_object_get(json_object_get(json_object_get(root, "topics"), topic), "partitions");
        const char *key;
        json_t *v;
        json_object_foreach(parts, key, v) {
            long id = strtol(key, NULL, 10);
            if (id < 0 || out->n_part == FR_KSTATS_MAX_PARTITIONS) continue;
            int64_t lag = int_field(v, "consumer_lag", -1);
            int64_t committed = int_field(v, "committed_offset", -1);
            out->part[out->n_part++] = (fr_kstats_part){
                .partition = (int32_t)id, .backlog = backlog(v, lag), .committed = committed >= 0 ? committed : -1};
            if (lag < 0) continue;
            out->lag_partition[out->n_lag] = (int32_t)id;
            out->lag[out->n_lag] = lag;
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
