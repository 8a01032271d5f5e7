/* fraudd configuration: one YAML file drives `fraudd run`.
 *
 * One table (src/config/config.c) lists every option: its YAML path, type,
 * bounds, default, where it is stored and its help text. Parsing, defaults,
 * validation, `fraudd check-config` and the commented example in
 * config/fraudd.yaml all follow from that table.
 *
 * Rules:
 *  - the file is one YAML mapping of sections (kafka, pipeline, model, http,
 *    logging); unknown keys anywhere are errors;
 *  - scalars may contain ${VAR} or ${VAR:-default}, replaced from the
 *    environment before the value is read ($$ is a literal $); an unset VAR
 *    without a default is an error;
 *  - every error names file:line:column and what was expected, e.g.
 *      fraudd.yaml:12:14: pipeline.workers: expected an integer in 0..1024, got "many"
 *  - kafka.properties / kafka.consumer / kafka.producer are maps of
 *    librdkafka properties passed through as strings (security.protocol,
 *    sasl.*, ssl.*, ...); their values may be secrets and are never printed
 *    by fr_config_dump (shown as "[redacted]").
 *
 * Thread safety: a loaded fr_config is immutable and may be shared.
 */
#ifndef FRAUDD_CONFIG_H
#define FRAUDD_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "fraudd/log.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fr_ordering {
    FR_ORDER_KEY = 0,    /* same key -> same worker, in order (default) */
    FR_ORDER_PARTITION,  /* same partition -> same worker, in order */
    FR_ORDER_UNORDERED   /* any worker; offsets still commit in order */
} fr_ordering;

/* queue.buffering.max.messages fraudd gives its producer unless
 * kafka.producer or kafka.properties set it (src/sink); the config checks
 * pipeline.max_in_flight against it. */
#define FR_PRODUCER_QUEUE_MESSAGES 200000

/* kafka.delivery: what one input record produces, and when its offset is
 * committed (docs/ARCHITECTURE.md, "Delivery guarantee"). */
typedef enum fr_guarantee {
    FR_AT_LEAST_ONCE = 0, /* offsets stored after delivery, auto-committed; a crash re-scores the tail */
    FR_EXACTLY_ONCE       /* results, dead letters and input offsets in one Kafka transaction */
} fr_guarantee;

/* model.challenger.mode (docs/DEPLOY.md, "Trying a new model"). */
typedef enum fr_challenger_mode {
    FR_CHALLENGER_SHADOW = 0, /* every record scored by both; the champion's result carries the challenger's */
    FR_CHALLENGER_CANARY      /* a share of record keys served by the challenger instead */
} fr_challenger_mode;


/* One librdkafka property, "name" = "value" (both owned by the config). */
typedef struct fr_kv {
    char *key;
    char *value;
} fr_kv;

typedef struct fr_kv_list {
    fr_kv *items;
    size_t n;
} fr_kv_list;

typedef struct fr_config {
    char *path;                  /* file it was loaded from ("<defaults>" if none) */
    struct {
        char *bootstrap_servers; /* required */
        char *group_id;          /* default "fraudd" */
        char *input_topic;       /* required */
        char *output_topic;      /* required */
        char *dead_letter_topic; /* required */
        fr_kv_list properties;   /* both clients (security.protocol, sasl.*, ssl.*) */
        fr_kv_list consumer;     /* consumer only, applied after properties */
        fr_kv_list producer;     /* producer only, applied after properties */
        int produce_retries;     /* re-sends of a failed result/dead letter, 0..100, default 3 */
        int result_headers;      /* results carry the fraudd.model.version and fraudd.source.* headers, default true */
        fr_guarantee delivery;   /* at_least_once (default) | exactly_once */
        char *transactional_id;  /* exactly_once: the producer's transactional.id; NULL = fraudd-<group_id>-<host> */
        int transaction_interval_ms; /* exactly_once: a transaction commits this often, 1..60000, default 100 */
        int transaction_max_records; /* exactly_once: ... or after this many records, 1..10000000, default 20000 */
    } kafka;
    struct {
        int workers;             /* 0 = CPUs this process may use (cgroup quota honoured) */
        int ring_capacity;       /* records per worker ring, power of two, 16..1048576, default 1024 */
        int batch_size;          /* records per model call, 1..256, default 64 */
        fr_ordering ordering;    /* key | partition | unordered, default key */
        int max_in_flight;       /* records consumed but not yet acknowledged, 0 = 2 x workers x ring_capacity */
        int shutdown_timeout_ms; /* SIGTERM: bound on the drain and the wait for a settled group, 100..600000, default 10000 */
        int passthrough;         /* benchmark baseline: copy input to output, no scoring; default false */
    } pipeline;
    struct {
        char *path;              /* NULL = the embedded default model (or url) */
        char *url;               /* http(s) URL of the model; exclusive with path */
        int reload_interval_ms;  /* poll path/url for a new model; 0 = SIGHUP only */
        int max_bytes;           /* largest model file or download, default 64 MiB */
        int fetch_timeout_ms;    /* one download's bound, default 30000 */
        char *ca_file;           /* CA bundle for an https model.url; NULL = the system's */
        double threshold;        /* NaN = the model's own */
        char **passthrough;      /* dotted fields copied into each result */
        size_t n_passthrough;
        int emit_output;         /* results carry the raw model outputs; default false */
        int max_record_bytes;    /* larger records are dead-lettered, 64..67108864, default 1048576 */
        struct {
            char *path;              /* NULL (and url NULL) = no challenger */
            char *url;               /* exclusive with path */
            fr_challenger_mode mode; /* shadow | canary, default shadow */
            double share;            /* canary: fraction of keys, 0 < share < 1; NaN when unset */
            double threshold;        /* NaN = the challenger's own */
        } challenger;
    } model;
    struct {
        int port;                /* 0 = off, 1..65535, default 8080 */
        char *bind;              /* default "0.0.0.0" */
    } http;
    struct {
        fr_log_format format;    /* json | text, default json */
        fr_log_level level;      /* debug | info | warn | error, default info */
        int warn_interval_ms;    /* per-record warnings: at most one per interval per kind, default 1000 */
    } logging;
} fr_config;

/* Loads and validates path. Returns 0 and a new config in *out, or a
 * negative fr_err code with "file:line:column: what was expected" in err.
 * env_lookup (NULL = getenv) resolves ${VAR}. */
int fr_config_load(const char *path, char *(*env_lookup)(const char *), fr_config **out, char *err,
                   size_t errlen);
/* Same, from a buffer; name is used in error messages. */
int fr_config_load_mem(const char *name, const char *buf, size_t len, char *(*env_lookup)(const char *),
                       fr_config **out, char *err, size_t errlen);
/* The defaults alone (required strings left NULL). */
fr_config *fr_config_defaults(void);
void fr_config_free(fr_config *c);

/* Writes the commented example (config/fraudd.yaml), or with markdown the
 * reference (docs/CONFIG.md), from the option table. */
void fr_config_example(FILE *f, int markdown);
/* Writes the effective configuration as YAML, secrets redacted. */
void fr_config_dump(const fr_config *c, FILE *f);
/* Nonzero if a librdkafka property name may hold a secret (sasl.password,
 * ssl.key.password, *.secret, ...): such values are never logged. */
int fr_config_is_secret(const char *key);

const char *fr_ordering_name(fr_ordering o);
const char *fr_guarantee_name(fr_guarantee g);
const char *fr_log_level_name(fr_log_level l);
const char *fr_challenger_mode_name(fr_challenger_mode m);

#ifdef __cplusplus
}
#endif

#endif
