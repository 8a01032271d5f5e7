/* fraudd kafka: what both librdkafka clients (the source's consumer and the
 * sink's producer) share, owned here and below both stages.
 *
 *   configuration   fr_kafka_conf_set / fr_kafka_conf_apply: every
 *                   rd_kafka_conf_set is checked, its error says which
 *                   property; a secret's value is never quoted
 *   callbacks       fr_kafka_conf_callbacks installs the log, error and
 *                   statistics callbacks and the client's opaque, an
 *                   fr_kafka_ctx: the shared fr_kafka_state plus the stage
 *                   that owns the client (its own callbacks, the rebalance
 *                   and delivery-report ones, read ctx->owner)
 *   state           fr_kafka_state: a fatal error (librdkafka's, or out of
 *                   memory), "all brokers down",
 *                   and the latest statistics (include/fraudd/kstats.h)
 *
 * "All brokers down" is set by librdkafka's error (ALL_BROKERS_DOWN) and
 * cleared by the next record or acknowledgement, or by the next statistics
 * document of either client that shows a real broker (nodeid >= 0) in
 * state UP. So readiness recovers without traffic within one
 * statistics.interval.ms (5 s, fraudd's default for both clients) of a
 * broker coming back, plus librdkafka's reconnect backoff
 * (reconnect.backoff.max.ms, 10 s by default). With statistics turned off
 * (statistics.interval.ms=0) only traffic clears it.
 *
 * Threads: librdkafka calls the error and statistics callbacks from the
 * thread that polls the client, which in fraudd is the run thread for both
 * clients; the log callback may come from librdkafka's own threads. The
 * state's flags are atomics readable from any thread; the statistics
 * callback parses into its own copy (work) and publishes it with trylock
 * (never waiting on a scrape); readers copy under the lock.
 */
#ifndef FRAUDD_KAFKA_H
#define FRAUDD_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "fraudd/config.h"
#include "fraudd/kstats.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fr_kafka_state {
    const char *input_topic;  /* statistics: lag is read for this topic */
    _Atomic int fatal;        /* an error nothing can recover from: the run stops, exit 1 */
    _Atomic int brokers_down; /* librdkafka said all brokers are down; cleared by the next record, ack, or
                                 statistics showing a broker UP */
    pthread_mutex_t stats_mu; /* guards stats */
    fr_kstats stats;          /* the latest of both clients' statistics */
    fr_kstats work;           /* the statistics callback's own copy (the run thread only); published to stats */
} fr_kafka_state;

/* The opaque of each client: callbacks reach the state through it, and the
 * owning stage its own data. */
typedef struct fr_kafka_ctx {
    fr_kafka_state *state;
    void *owner; /* the fr_source or fr_sink that owns the client */
} fr_kafka_ctx;

void fr_kafka_state_init(fr_kafka_state *s, const char *input_topic);
void fr_kafka_state_destroy(fr_kafka_state *s);
/* A copy of the latest statistics. Thread safe. */
void fr_kafka_state_stats(fr_kafka_state *s, fr_kstats *out);
/* A copy of the input partitions of the latest consumer statistics (at
 * most cap, *n of them): the small part of fr_kafka_state_stats the source
 * reads every second. Thread safe. */
void fr_kafka_state_parts(fr_kafka_state *s, fr_kstats_part *out, size_t cap, size_t *n);

/* A broker answered (a record or an acknowledgement arrived). */
static inline void fr_kafka_broker_seen(fr_kafka_state *s) {
    /* a flag, no data behind it: relaxed */
    if (atomic_load_explicit(&s->brokers_down, memory_order_relaxed))
        atomic_store_explicit(&s->brokers_down, 0, memory_order_relaxed);
}

/* rd_kafka_conf_set, its error as "librdkafka property KEY: why". */
int fr_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *err, size_t errlen);
/* Every property of kv (NULL: none); what names the config section in
 * errors. A secret's value is never shown (fr_config_is_secret). */
int fr_kafka_conf_apply(rd_kafka_conf_t *conf, const fr_kv_list *kv, const char *what, char *err, size_t errlen);
/* Log, error and statistics callbacks, and ctx as the client's opaque
 * (ctx must outlive the client). */
void fr_kafka_conf_callbacks(rd_kafka_conf_t *conf, fr_kafka_ctx *ctx);
/* A client that takes some reports as events (rd_kafka_conf_set_events)
 * gets the others as events too once it serves its queue with
 * rd_kafka_queue_poll: errors, statistics, logs. This handles those as the
 * callbacks above would; ev stays the caller's to destroy. */
void fr_kafka_event(rd_kafka_t *rk, rd_kafka_event_t *ev, fr_kafka_ctx *ctx);

#ifdef __cplusplus
}
#endif

#endif
