/* A whole pipeline on librdkafka's in-process mock cluster, for the tests that
 * need a broker to misbehave on purpose (tests/integration has the real
 * broker). Included by one test file each: the functions are static.
 *
 *   env_new(workers, produce_retries)   mock cluster, topics in (2 partitions), out (2),
 *                                       dlq (1); the default config and model
 *   env_new_brokers / env_new_parts     the same with more brokers / input partitions
 *   produce(e, value, len, key)         one input record
 *   gen_new(seed, anomaly_rate)         a record generator (fr_gen_free it)
 *   gen_record(g, rec, cap)             its next record into rec; the length
 *   produce_records(e, n, seed, key)    n generated records (no anomalies), each with key
 *   start(e)                            fr_pipeline_new + fr_pipeline_run on a thread (e->done
 *                                       is set when fr_pipeline_run returns)
 *   finish(e, n)                        waits for n acknowledged records, stops, joins
 *   read_topic(e, topic, parts, n)      n messages of a topic, with fraudd's headers
 *   committed(e, partition)             the group's committed offset of in[partition]
 *   env_free(e)
 */
#ifndef FR_TEST_MOCK_ENV_H
#define FR_TEST_MOCK_ENV_H

/* memmem: the includer defines _GNU_SOURCE before its first include */

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "fraudd/config.h"
#include "fraudd/gen.h"
#include "fraudd/model.h"
#include "fraudd/pipeline.h"

typedef struct env {
    rd_kafka_t *host; /* producer of the inputs; hosts the mock cluster */
    rd_kafka_mock_cluster_t *mc;
    fr_config *cfg;
    fr_model *m;
    fr_model *challenger; /* model.challenger's model (the config says how it serves), or NULL */
    fr_pipeline *p;
    pthread_t thread;
    int rc;
    _Atomic int done; /* fr_pipeline_run returned */
    const char *cgroup_root; /* fr_pipeline_opts.cgroup_root (NULL: the machine's) */
} env;

static inline void set(char **dst, const char *v) {
    free(*dst);
    *dst = strdup(v);
}

static inline env *env_new_topology(int workers, int retries, int brokers, int in_parts) {
    env *e = calloc(1, sizeof *e);
    char err[512], nb[16];
    snprintf(nb, sizeof nb, "%d", brokers);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "test.mock.num.brokers", nb, err, sizeof err), RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(conf, "linger.ms", "1", err, sizeof err), RD_KAFKA_CONF_OK);
    e->host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    assert_non_null(e->host);
    e->mc = rd_kafka_handle_mock_cluster(e->host);
    assert_non_null(e->mc);
    assert_int_equal(rd_kafka_mock_topic_create(e->mc, "in", in_parts, 1), 0);
    assert_int_equal(rd_kafka_mock_topic_create(e->mc, "out", 2, 1), 0);
    assert_int_equal(rd_kafka_mock_topic_create(e->mc, "dlq", 1, 1), 0);
    e->cfg = fr_config_defaults();
    set(&e->cfg->kafka.bootstrap_servers, rd_kafka_mock_cluster_bootstraps(e->mc));
    set(&e->cfg->kafka.group_id, "test");
    set(&e->cfg->kafka.input_topic, "in");
    set(&e->cfg->kafka.output_topic, "out");
    set(&e->cfg->kafka.dead_letter_topic, "dlq");
    e->cfg->kafka.produce_retries = retries;
    e->cfg->pipeline.workers = workers;
    e->cfg->pipeline.shutdown_timeout_ms = 10000;
    assert_int_equal(fr_model_load_default(&e->m, err, sizeof err), 0);
    return e;
}

static inline env *env_new(int workers, int retries) { return env_new_topology(workers, retries, 1, 2); }
static inline env *env_new_brokers(int workers, int retries, int brokers) {
    return env_new_topology(workers, retries, brokers, 2);
}
static inline env *env_new_parts(int workers, int retries, int in_parts) {
    return env_new_topology(workers, retries, 1, in_parts);
}

static inline void produce(env *e, const char *val, size_t len, const char *key) {
    assert_int_equal(rd_kafka_producev(e->host, RD_KAFKA_V_TOPIC("in"), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                       RD_KAFKA_V_VALUE((void *)val, len), RD_KAFKA_V_KEY(key, strlen(key)),
                                       RD_KAFKA_V_END),
                     0);
    rd_kafka_poll(e->host, 0);
}

/* A generator of records: ids from 1, 1000 records/s from time 0. */
static inline fr_gen *gen_new(uint64_t seed, double anomaly_rate) {
    fr_gen_opts go = {.seed = seed, .anomaly_rate = anomaly_rate, .first_id = 1, .start_ms = 0, .rate_per_s = 1000};
    return fr_gen_new(&go);
}

/* The generator's next record into rec (cap bytes); its length. */
static inline size_t gen_record(fr_gen *g, char *rec, size_t cap) {
    int anomaly;
    return fr_gen_next(g, rec, cap, &anomaly);
}

/* n records of a generator with seed and no anomalies, each with key. */
static inline void produce_records(env *e, int n, uint64_t seed, const char *key) {
    fr_gen *g = gen_new(seed, 0);
    char rec[2048];
    for (int i = 0; i < n; i++) {
        size_t len = gen_record(g, rec, sizeof rec);
        produce(e, rec, len, key);
    }
    fr_gen_free(g);
}

static inline void *run_thread(void *arg) {
    env *e = arg;
    e->rc = fr_pipeline_run(e->p);
    atomic_store(&e->done, 1);
    return NULL;
}

static inline void start(env *e) {
    assert_int_equal(rd_kafka_flush(e->host, 10000), 0);
    char err[512];
    fr_pipeline_opts po = {0};
    fr_kv kv[] = {{"fetch.wait.max.ms", "10"}};
    fr_kv_list props = {kv, 1};
    po.consumer_override = &props;
    po.challenger = e->challenger;
    po.cgroup_root = e->cgroup_root;
    assert_int_equal(fr_pipeline_new(e->cfg, e->m, &po, &e->p, err, sizeof err), 0);
    assert_int_equal(pthread_create(&e->thread, NULL, run_thread, e), 0);
}

/* Waits until n records are acknowledged (results + dead letters), then
 * stops the pipeline and returns its final statistics. */
static inline fr_stats finish(env *e, uint64_t n) {
    fr_stats s;
    for (int i = 0; i < 3000; i++) {
        fr_pipeline_get_stats(e->p, &s);
        if (s.results + s.dead_letters >= n) break;
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    fr_pipeline_stop(e->p);
    pthread_join(e->thread, NULL);
    fr_pipeline_get_stats(e->p, &s);
    return s;
}

typedef struct msg {
    char key[32];
    int64_t src_offset;
    int32_t src_partition;
    char cls[32];
    char version[64];    /* header fraudd.model.version */
    char src_topic[64];  /* header fraudd.source.topic */
    char hdr_names[256]; /* every header's name in order, comma separated */
    char json_version[64]; /* the result's "model_version" */
    char score[48];      /* the result's "score" value, as printed */
    char text[2048];     /* the whole value (truncated past 2047 bytes) */
    int64_t ts_ms;       /* its timestamp */
    int ts_type;         /* rd_kafka_timestamp_type_t */
} msg;

/* Copies the text of JSON field name (a string's contents or a number). */
static inline void json_field(const char *v, size_t len, const char *name, char *dst, size_t cap) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", name);
    dst[0] = 0;
    const char *p = memmem(v, len, pat, strlen(pat));
    if (!p) return;
    p += strlen(pat);
    if (*p == '"') p++;
    size_t n = strcspn(p, "\",}");
    snprintf(dst, cap, "%.*s", (int)n, p);
}

/* Reads n messages of topic from the start (no group). The body is
 * read_topic_body, called from read_topic, both never inlined, so that a
 * TSan report from inside the reader's librdkafka calls names read_topic
 * (tests/tsan.supp): TSan's stack of an access made inside uninstrumented
 * librdkafka ends at the call site in the function's caller, so the frame a
 * report shows is the caller of the function that called librdkafka. */
__attribute__((noinline, unused)) static msg *read_topic_body(env *e, const char *topic, int parts, size_t n) {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(e->mc), err, sizeof err);
    rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", "reader", err, sizeof err); /* assign() needs one; nothing is committed */
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    assert_non_null(c);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts);
    for (int p = 0; p < parts; p++) rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(c, l), 0);
    rd_kafka_topic_partition_list_destroy(l);
    msg *out = calloc(n + 1, sizeof *out);
    size_t got = 0;
    /* until n messages or 60 s: a count of polls would end early when the
     * first polls come back empty while the reader connects */
    time_t deadline = time(NULL) + 60;
    while (got < n && time(NULL) < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 20);
        if (!m) continue;
        if (!m->err) {
            msg *o = &out[got++];
            snprintf(o->key, sizeof o->key, "%.*s", (int)m->key_len, m->key ? (const char *)m->key : "");
            rd_kafka_timestamp_type_t tt;
            o->ts_ms = rd_kafka_message_timestamp(m, &tt);
            o->ts_type = (int)tt;
            rd_kafka_headers_t *h = NULL;
            const void *v;
            size_t vl;
            char buf[64];
            if (!rd_kafka_message_headers(m, &h)) {
                if (!rd_kafka_header_get_last(h, "fraudd.source.offset", &v, &vl)) {
                    snprintf(buf, sizeof buf, "%.*s", (int)vl, (const char *)v);
                    o->src_offset = atoll(buf);
                }
                if (!rd_kafka_header_get_last(h, "fraudd.source.partition", &v, &vl)) {
                    snprintf(buf, sizeof buf, "%.*s", (int)vl, (const char *)v);
                    o->src_partition = atoi(buf);
                }
                if (!rd_kafka_header_get_last(h, "fraudd.error.class", &v, &vl))
                    snprintf(o->cls, sizeof o->cls, "%.*s", (int)vl, (const char *)v);
                if (!rd_kafka_header_get_last(h, "fraudd.model.version", &v, &vl))
                    snprintf(o->version, sizeof o->version, "%.*s", (int)vl, (const char *)v);
                if (!rd_kafka_header_get_last(h, "fraudd.source.topic", &v, &vl))
                    snprintf(o->src_topic, sizeof o->src_topic, "%.*s", (int)vl, (const char *)v);
                const char *name;
                size_t used = 0;
                for (size_t i = 0; !rd_kafka_header_get_all(h, i, &name, &v, &vl); i++)
                    used += (size_t)snprintf(o->hdr_names + used, used < sizeof o->hdr_names ? sizeof o->hdr_names - used : 0,
                                             "%s%s", i ? "," : "", name);
            }
            json_field(m->payload, m->len, "model_version", o->json_version, sizeof o->json_version);
            json_field(m->payload, m->len, "score", o->score, sizeof o->score);
            snprintf(o->text, sizeof o->text, "%.*s", (int)m->len, (const char *)m->payload);
        }
        rd_kafka_message_destroy(m);
    }
    assert_int_equal(got, n);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return out;
}

__attribute__((noinline, unused)) static msg *read_topic(env *e, const char *topic, int parts, size_t n) {
    msg *out = read_topic_body(e, topic, parts, n);
    return out;
}

static inline void env_free(env *e) {
    fr_pipeline_free(e->p);
    rd_kafka_destroy(e->host);
    fr_model_free(e->m);
    fr_model_free(e->challenger);
    fr_config_free(e->cfg);
    free(e);
}


/* Polls the pipeline's statistics into s until cond holds (20 s at most),
 * then asserts it. */
#define WAIT_FOR(e, s, cond)                                                                                           \
    do {                                                                                                               \
        for (int w_ = 0; w_ < 2000; w_++) {                                                                            \
            fr_pipeline_get_stats((e)->p, &(s));                                                                       \
            if (cond) break;                                                                                           \
            struct timespec ts_ = {0, 10 * 1000000};                                                                   \
            nanosleep(&ts_, NULL);                                                                                     \
        }                                                                                                              \
        assert_true(cond);                                                                                             \
    } while (0)

/* The offset group "test" committed for in[part] (negative: none). */
static inline int64_t committed(env *e, int32_t part) {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(e->mc), err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", "test", err, sizeof err);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    assert_non_null(c);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, "in", part);
    assert_int_equal(rd_kafka_committed(c, l, 5000), 0);
    int64_t off = l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(c);
    return off;
}

#endif
