/* librdkafka configuration and callbacks shared by both clients
 * (include/fraudd/kafka.h has the contract). */
#include "fraudd/kafka.h"

#include <string.h>
#include <syslog.h>

#include "fraudd/err.h"
#include "fraudd/log.h"

void fr_kafka_state_init(fr_kafka_state *s, const char *input_topic) {
    memset(s, 0, sizeof *s);
    s->input_topic = input_topic;
    atomic_init(&s->fatal, 0);
    atomic_init(&s->brokers_down, 0);
    pthread_mutex_init(&s->stats_mu, NULL);
}

void fr_kafka_state_destroy(fr_kafka_state *s) { pthread_mutex_destroy(&s->stats_mu); }

void fr_kafka_state_parts(fr_kafka_state *s, fr_kstats_part *out, size_t cap, size_t *n) {
    pthread_mutex_lock(&s->stats_mu);
    *n = s->stats.n_part < cap ? s->stats.n_part : cap;
    memcpy(out, s->stats.part, *n * sizeof *out);
    pthread_mutex_unlock(&s->stats_mu);
}

void fr_kafka_state_stats(fr_kafka_state *s, fr_kstats *out) {
    pthread_mutex_lock(&s->stats_mu);
    *out = s->stats;
    pthread_mutex_unlock(&s->stats_mu);
}

int fr_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *err, size_t errlen) {
    char e[512];
    if (rd_kafka_conf_set(conf, key, value, e, sizeof e) != RD_KAFKA_CONF_OK)
        return fr_set_err(err, errlen, FR_EINVAL, "librdkafka property %s: %s", key, e);
    return 0;
}

int fr_kafka_conf_apply(rd_kafka_conf_t *conf, const fr_kv_list *kv, const char *what, char *err, size_t errlen) {
    if (!kv) return 0;
    for (size_t i = 0; i < kv->n; i++) {
        char e[512];
        if (rd_kafka_conf_set(conf, kv->items[i].key, kv->items[i].value, e, sizeof e) != RD_KAFKA_CONF_OK)
            /* librdkafka's message may quote the value: not for secrets */
            return fr_set_err(err, errlen, FR_EINVAL, "%s.%s: %s", what, kv->items[i].key,
                              fr_config_is_secret(kv->items[i].key) ? "rejected by librdkafka (value not shown: secret)"
                                                                    : e);
    }
    return 0;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    fr_log_level l = level <= LOG_ERR       ? FR_LOG_ERROR
                     : level <= LOG_WARNING ? FR_LOG_WARN
                     : level <= LOG_INFO    ? FR_LOG_INFO
                                            : FR_LOG_DEBUG;
    fr_log(l, "librdkafka", "%s %s: %s", rd_kafka_name(rk), fac, buf);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    fr_kafka_state *s = ((fr_kafka_ctx *)opaque)->state;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, why, sizeof why);
        fr_log(FR_LOG_ERROR, "kafka_fatal", "%s: %s: %s", rd_kafka_name(rk), rd_kafka_err2name(orig), why);
        atomic_store(&s->fatal, 1);
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) atomic_store(&s->brokers_down, 1);
    static fr_log_limiter lim;
    fr_log_limited(&lim, FR_LOG_WARN, "kafka_error", "%s: %s: %s", rd_kafka_name(rk),
                   rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* The run thread (it polls both clients). Parses into the callbacks' own
 * copy, so no document is lost to a scrape holding the lock; publishes it
 * with trylock (a skipped publication is made by the next document). */
static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque) {
    fr_kafka_state *s = ((fr_kafka_ctx *)opaque)->state;
    if (fr_kstats_parse(json, len, s->input_topic, &s->work) == 0) {
        /* a real broker is UP again: "all brokers down" is over, records
         * or not (a quiet topic brings none). Only cleared here, never set:
         * an idle client may rightly have no connection at all */
        int up = rd_kafka_type(rk) == RD_KAFKA_PRODUCER ? s->work.producer_brokers_up : s->work.consumer_brokers_up;
        if (up > 0) fr_kafka_broker_seen(s);
    }
    if (pthread_mutex_trylock(&s->stats_mu) == 0) {
        s->stats = s->work;
        pthread_mutex_unlock(&s->stats_mu);
    }
    return 0; /* librdkafka frees json */
}

void fr_kafka_event(rd_kafka_t *rk, rd_kafka_event_t *ev, fr_kafka_ctx *ctx) {
    switch (rd_kafka_event_type(ev)) {
    case RD_KAFKA_EVENT_ERROR:
        /* the event carries a fatal error's underlying code: error_cb asks
         * librdkafka for it again, as for the callback */
        error_cb(rk, rd_kafka_event_error_is_fatal(ev) ? RD_KAFKA_RESP_ERR__FATAL : (int)rd_kafka_event_error(ev),
                 rd_kafka_event_error_string(ev), ctx);
        break;
    case RD_KAFKA_EVENT_STATS: {
        const char *json = rd_kafka_event_stats(ev);
        if (json) stats_cb(rk, (char *)json, strlen(json), ctx); /* reads it only; the event owns it */
        break;
    }
    case RD_KAFKA_EVENT_LOG: {
        const char *fac = "", *str = "";
        int level = LOG_INFO;
        if (rd_kafka_event_log(ev, &fac, &str, &level) == 0) log_cb(rk, level, fac, str);
        break;
    }
    default: /* nothing else is enabled or queued for the clients fraudd makes */
        break;
    }
}

void fr_kafka_conf_callbacks(rd_kafka_conf_t *conf, fr_kafka_ctx *ctx) {
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_stats_cb(conf, stats_cb);
    rd_kafka_conf_set_opaque(conf, ctx);
}
