/* The configuration module (include/fraudd/config.h): one YAML file -> one
 * immutable fr_config.
 *
 * Design. Every option is one row of `opts[]` below: section, name, type,
 * flags, bounds, default (as the text a user would write), sample value for
 * the example file, where it is stored (offsetof into fr_config) and its help
 * text. Everything else follows from that table:
 *   - fr_config_defaults() converts each row's default text with the same
 *     converter that reads the file, so a default cannot break a rule;
 *   - loading walks the YAML document and looks every key up in the table;
 *   - fr_config_dump() writes every row back as YAML;
 *   - fr_config_example() writes the commented example (config/fraudd.yaml)
 *     and the Markdown reference (docs/CONFIG.md); tests/unit/test_config.c
 *     fails when either file differs from what the table says.
 *
 * Loading, in three passes over the text (at most 1 MiB):
 *   1. the libyaml event parser checks the syntax, the nesting depth (the
 *      schema needs 3 levels; deeper input is refused before anything is
 *      built) and that there is at most one document;
 *   2. the libyaml document loader builds the node tree (aliases become
 *      shared nodes, so the walk below stays bounded by the schema);
 *   3. the walk: root mapping -> sections -> options -> (kv map | list) ->
 *      scalars. Each scalar value goes through ${VAR} substitution, then the
 *      row's converter. Keys are matched exactly and never substituted.
 * Marks are libyaml's (0-based) plus one. Error messages quote a value only
 * when it cannot be a secret: values of librdkafka maps are never quoted,
 * and variable names, not their values, are named in substitution errors.
 *
 * Thread safety: loading touches only its own state (and the environment
 * through env_lookup); a loaded fr_config is immutable and may be shared.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "fraudd/common.h"
#include "fraudd/config.h"
#include "fraudd/err.h"

#define FR__CFG_MAX_BYTES (1u << 20) /* file size limit */
#define FR__CFG_MAX_DEPTH 8          /* collections nested deeper are refused (the schema needs 3) */
#define FR__CFG_MAX_ITEMS 256        /* entries of one librdkafka map or list */
#define FR__CFG_MAX_VALUE (1u << 20) /* bytes of one value after substitution */
#define FR__CFG_SHOW 48              /* bytes of a value or key quoted in an error */

/* Internal, reachable from the CLI (`check-config --example|--reference`)
 * and the unit tests; not part of the public interface. */

typedef enum fr__type {
    FR__T_STR,  /* non-empty string */
    FR__T_PATH, /* string or null (empty = null) */
    FR__T_INT,  /* decimal integer in [lo, hi] */
    FR__T_BOOL, /* true | false, stored as int */
    FR__T_NUM,  /* finite number > 0 or null (NaN) */
    FR__T_ENUM, /* one of names[], stored as int */
    FR__T_LIST, /* list of dotted field paths (char **, size_t after it) */
    FR__T_KV    /* map of librdkafka properties (fr_kv_list) */
} fr__type;

enum {
    FR__F_REQUIRED = 1, /* no default: must be set */
    FR__F_POW2 = 2,     /* integer must be a power of two */
    FR__F_TOPIC = 4,    /* string must be a legal Kafka topic name */
    FR__F_URL = 8,      /* string must be an http:// or https:// URL */
    FR__F_TEXT = 16     /* FR__T_PATH that is not a path: any string, or null */
};

typedef struct fr__opt {
    const char *section;      /* "pipeline" */
    const char *name;         /* "workers" */
    fr__type type;            /* how the value is read and stored */
    unsigned flags;           /* FR__F_* */
    long long lo, hi;         /* FR__T_INT bounds, inclusive */
    const char *const *names; /* FR__T_ENUM values, NULL-terminated, index = C enum value */
    const char *def;          /* default as YAML text; NULL = null / empty / required */
    const char *sample;       /* value written in the example file instead of def (NULL = def) */
    size_t off;               /* offsetof(fr_config, ...) */
    const char *help;         /* one or more lines, '\n' separated */
    const char *commented;    /* example lines shown commented out under the option, or NULL */
} fr__opt;

static const char *const ordering_names[] = {"key", "partition", "unordered", NULL};
static const char *const guarantee_names[] = {"at_least_once", "exactly_once", NULL};
static const char *const format_names[] = {"json", "text", NULL};
static const char *const level_names[] = {"debug", "info", "warn", "error", NULL};
static const char *const challenger_mode_names[] = {"shadow", "canary", NULL};

_Static_assert(sizeof(fr_ordering) == sizeof(int), "enums are stored through an int");
_Static_assert(sizeof(fr_guarantee) == sizeof(int), "enums are stored through an int");
_Static_assert(sizeof(fr_log_format) == sizeof(int), "enums are stored through an int");
_Static_assert(sizeof(fr_log_level) == sizeof(int), "enums are stored through an int");
_Static_assert(sizeof(fr_challenger_mode) == sizeof(int), "enums are stored through an int");

#define OFF(field) offsetof(fr_config, field)

/* A section is a mapping of options at the top level, or nested in another
 * section (parent; its key there is the last segment of name). */
static const struct {
    const char *name;   /* dotted path: "model.challenger" */
    const char *key;    /* key in its parent's mapping (or at the top level) */
    const char *parent; /* NULL: top level */
    const char *help;
} sections[] = {
    {"kafka", "kafka", NULL, "Kafka: where records come from and where scores and dead letters go."},
    {"pipeline", "pipeline", NULL, "Pipeline: how consumed records are spread over worker threads."},
    {"model", "model", NULL, "Model: what scores each record and what a result carries."},
    {"model.challenger", "challenger", "model",
     "A second model scored beside the serving one (the champion) to try it on\n"
     "live traffic before promoting it: shadow (every record is scored by both;\n"
     "the champion's result carries the challenger's as a \"challenger\" object) or\n"
     "canary (a share of record keys is served by the challenger instead).\n"
     "Promote by swapping model.path and model.challenger.path in this file: it is\n"
     "re-read on SIGHUP and every model.reload_interval_ms (docs/DEPLOY.md)."},
    {"http", "http", NULL, "HTTP: /healthz, /readyz and /metrics."},
    {"metrics", "metrics", NULL, "Metrics: what /metrics measures beyond counting (docs/METRICS.md)."},
    {"logging", "logging", NULL, "Logging: one line per event on stderr."},
};
#define FR__N_SECTIONS (sizeof sections / sizeof sections[0])

/* THE table. Order is the order of the dump, the example and the reference. */
static const fr__opt opts[] = {
    {"kafka", "bootstrap_servers", FR__T_STR, FR__F_REQUIRED, 0, 0, NULL, NULL, "\"${KAFKA_BOOTSTRAP:-127.0.0.1:9092}\"",
     OFF(kafka.bootstrap_servers), "Brokers to bootstrap from, host:port[,host:port...].", NULL},
    {"kafka", "group_id", FR__T_STR, 0, 0, 0, NULL, "fraudd", NULL, OFF(kafka.group_id),
     "Consumer group; instances with the same group share the input partitions.", NULL},
    {"kafka", "input_topic", FR__T_STR, FR__F_REQUIRED | FR__F_TOPIC, 0, 0, NULL, NULL, "transactions",
     OFF(kafka.input_topic), "Topic of JSON transactions to score.", NULL},
    {"kafka", "output_topic", FR__T_STR, FR__F_REQUIRED | FR__F_TOPIC, 0, 0, NULL, NULL, "scores",
     OFF(kafka.output_topic),
     "Topic the results go to, keyed like their input; must differ from input_topic.", NULL},
    {"kafka", "dead_letter_topic", FR__T_STR, FR__F_REQUIRED | FR__F_TOPIC, 0, 0, NULL, NULL, "scores-dlq",
     OFF(kafka.dead_letter_topic),
     "Topic of records that could not be scored (the input unchanged, the reason in\n"
     "headers); must differ from input_topic.",
     NULL},
    {"kafka", "properties", FR__T_KV, 0, 0, 0, NULL, NULL, NULL, OFF(kafka.properties),
     "librdkafka properties for both clients (security.protocol, sasl.*, ssl.*, ...),\n"
     "passed through as strings. Secret values (passwords, keys, tokens) are never\n"
     "printed. Reserved, because fraudd sets them itself: bootstrap.servers,\n"
     "group.id, enable.auto.offset.store, enable.idempotence, transactional.id.",
     "security.protocol: SASL_SSL\n"
     "sasl.mechanisms: SCRAM-SHA-512\n"
     "sasl.username: fraudd\n"
     "sasl.password: ${KAFKA_SASL_PASSWORD}\n"
     "ssl.ca.location: /etc/fraudd/ca.pem"},
    {"kafka", "consumer", FR__T_KV, 0, 0, 0, NULL, NULL, NULL, OFF(kafka.consumer),
     "librdkafka properties for the consumer only, applied after properties.\n"
     "fraudd's own defaults, which these override: partition.assignment.strategy\n"
     "cooperative-sticky, auto.offset.reset earliest, enable.auto.commit true,\n"
     "auto.commit.interval.ms 1000, queued.max.messages.kbytes 2048 (per partition;\n"
     "under a container memory limit less, so that owning every input partition\n"
     "stays within half the limit), max.partition.fetch.bytes 262144,\n"
     "fetch.wait.max.ms 100, client.id fraudd.",
     "fetch.max.bytes: \"52428800\"\n"
     "session.timeout.ms: \"45000\""},
    {"kafka", "producer", FR__T_KV, 0, 0, 0, NULL, NULL, NULL, OFF(kafka.producer),
     "librdkafka properties for the producer only, applied after properties.\n"
     "fraudd's own defaults, which these override: linger.ms 5 (chosen from the\n"
     "latency/throughput curve in docs/BENCHMARKS.md, (k)),\n"
     "queue.buffering.max.messages 200000 (must exceed pipeline.max_in_flight),\n"
     "message.max.bytes 8388608 (dead letters\n"
     "carry the input unchanged; the dead-letter topic's max.message.bytes must allow it).",
     "compression.type: lz4\n"
     "linger.ms: \"10\""},
    {"kafka", "produce_retries", FR__T_INT, 0, 0, 100, NULL, "3", NULL, OFF(kafka.produce_retries),
     "Times a result or dead letter is sent again after librdkafka gives up on it.", NULL},
    {"kafka", "result_headers", FR__T_BOOL, 0, 0, 0, NULL, "true", NULL, OFF(kafka.result_headers),
     "Give each result the headers fraudd.model.version, fraudd.source.topic,\n"
     "fraudd.source.partition and fraudd.source.offset (docs/OUTPUT.md). false leaves\n"
     "results without headers: librdkafka allocates each header on its own, and\n"
     "that was about 40% of fraudd's CPU per record through a real broker\n"
     "(docs/BENCHMARKS.md, (h)). The result's JSON still names its model_version.\n"
     "Dead letters always carry theirs.",
     NULL},
    {"kafka", "delivery", FR__T_ENUM, 0, 0, 0, guarantee_names, "at_least_once", NULL, OFF(kafka.delivery),
     "at_least_once: an input offset is committed after its result or dead letter\n"
     "is acknowledged; a crash re-scores the records after the last commit.\n"
     "exactly_once: results, dead letters and the input offsets they consume are\n"
     "written in one Kafka transaction, committed every transaction_interval_ms, so\n"
     "each input record has exactly one committed result or dead letter, across\n"
     "crashes, rebalances and zombies. Readers of the output must use\n"
     "isolation.level=read_committed (docs/OUTPUT.md); the consumer reads\n"
     "read_committed and never auto-commits; a destination error or a failed\n"
     "delivery aborts the transaction and scores its records again\n"
     "(docs/RELIABILITY.md).",
     NULL},
    {"kafka", "transactional_id", FR__T_PATH, FR__F_TEXT, 0, 0, NULL, NULL, NULL, OFF(kafka.transactional_id),
     "exactly_once: the producer's transactional.id; null = fraudd-<group_id>-<host\n"
     "name>. It must be unique per live instance and stable across restarts of the\n"
     "same instance (a pod name, a host name): a restarted process then fences its\n"
     "predecessor and aborts the transaction it left open at once.",
     NULL},
    {"kafka", "transaction_interval_ms", FR__T_INT, 0, 1, 60000, NULL, "100", NULL, OFF(kafka.transaction_interval_ms),
     "exactly_once: a transaction is committed this long after its first record\n"
     "(results become visible to read_committed readers then). At most half of the\n"
     "producer's transaction.timeout.ms (60000 unless set).",
     NULL},
    {"kafka", "transaction_max_records", FR__T_INT, 0, 1, 10000000, NULL, "20000", NULL,
     OFF(kafka.transaction_max_records),
     "exactly_once: a transaction is also committed once it holds this many records.", NULL},

    {"pipeline", "workers", FR__T_INT, 0, 0, 1024, NULL, "0", NULL, OFF(pipeline.workers),
     "Scoring threads; 0 = the CPUs this process may use (cgroup quota honoured).", NULL},
    {"pipeline", "ring_capacity", FR__T_INT, FR__F_POW2, 16, 1048576, NULL, "1024", NULL,
     OFF(pipeline.ring_capacity), "Records each worker's ring holds.", NULL},
    {"pipeline", "batch_size", FR__T_INT, 0, 1, 256, NULL, "64", NULL, OFF(pipeline.batch_size),
     "Records per model call.", NULL},
    {"pipeline", "ordering", FR__T_ENUM, 0, 0, 0, ordering_names, "key", NULL, OFF(pipeline.ordering),
     "key: records with the same key are scored by one worker, in order;\n"
     "partition: records of one partition by one worker, in order;\n"
     "unordered: any worker (offsets are still committed in order).",
     NULL},
    {"pipeline", "max_in_flight", FR__T_INT, 0, 0, 67108864, NULL, "0", NULL, OFF(pipeline.max_in_flight),
     "Records consumed but not yet acknowledged; 0 = 2 x workers x ring_capacity.\n"
     "Must stay below the producer's queue.buffering.max.messages (200000 unless\n"
     "kafka.producer or kafka.properties set it): each record in flight has one\n"
     "message queued (its result, a retry or its dead letter) and a re-send from a\n"
     "delivery report needs one more.",
     NULL},
    {"pipeline", "shutdown_timeout_ms", FR__T_INT, 0, 100, 600000, NULL, "10000", NULL,
     OFF(pipeline.shutdown_timeout_ms),
     "On SIGTERM, how long in-flight records may take to drain and a rebalance in\n"
     "progress to settle before the final commit. Whatever gets stuck, the process\n"
     "exits (status 1) at the latest 5 s after this bound.",
     NULL},
    {"pipeline", "passthrough", FR__T_BOOL, 0, 0, 0, NULL, "false", NULL, OFF(pipeline.passthrough),
     "Benchmark baseline: copy each input to the output topic without scoring.", NULL},

    {"model", "path", FR__T_PATH, 0, 0, 0, NULL, NULL, NULL, OFF(model.path),
     "ONNX model file; null = the model embedded in the binary (or model.url).", NULL},
    {"model", "url", FR__T_PATH, FR__F_URL, 0, 0, NULL, NULL, NULL, OFF(model.url),
     "ONNX model served over HTTP(S) (a model registry, an object store); the\n"
     "first download must succeed at start. Exclusive with model.path.",
     NULL},
    {"model", "reload_interval_ms", FR__T_INT, 0, 0, 86400000, NULL, "0", NULL, OFF(model.reload_interval_ms),
     "Check model.path or model.url for a new model this often (a URL with\n"
     "If-None-Match on its ETag); 0 = only on SIGHUP. A new model is compiled and\n"
     "self-tested off the hot path, then swapped in atomically; a bad one is\n"
     "refused and the running model keeps serving.",
     NULL},
    {"model", "max_bytes", FR__T_INT, 0, 1024, 1073741824, NULL, "67108864", NULL, OFF(model.max_bytes),
     "Largest model file or download accepted.", NULL},
    {"model", "fetch_timeout_ms", FR__T_INT, 0, 100, 600000, NULL, "30000", NULL, OFF(model.fetch_timeout_ms),
     "Bound on one model download (connect + transfer).", NULL},
    {"model", "ca_file", FR__T_PATH, 0, 0, 0, NULL, NULL, NULL, OFF(model.ca_file),
     "PEM file of the CAs a model.url over https must chain to (a private model\n"
     "registry); null = the system's CA bundle.",
     NULL},
    {"model", "threshold", FR__T_NUM, 0, 0, 0, NULL, NULL, NULL, OFF(model.threshold),
     "Score at or above which a record is flagged; null = the model's own.", NULL},
    {"model", "passthrough", FR__T_LIST, 0, 0, 0, NULL, NULL, NULL, OFF(model.passthrough),
     "Dotted fields of the input copied into each result as they are.", "- id\n- merchant.country"},
    {"model", "emit_output", FR__T_BOOL, 0, 0, 0, NULL, "false", NULL, OFF(model.emit_output),
     "Results also carry the raw model outputs.", NULL},
    {"model", "max_record_bytes", FR__T_INT, 0, 64, 67108864, NULL, "1048576", NULL, OFF(model.max_record_bytes),
     "Larger records are dead-lettered unread.", NULL},
    {"model.challenger", "path", FR__T_PATH, 0, 0, 0, NULL, NULL, NULL, OFF(model.challenger.path),
     "ONNX file of the challenger; null (and no url) = no challenger. It must read\n"
     "the champion's features and have a fraudd.version of its own.",
     NULL},
    {"model.challenger", "url", FR__T_PATH, FR__F_URL, 0, 0, NULL, NULL, NULL, OFF(model.challenger.url),
     "The challenger served over HTTP(S), fetched and polled like model.url.\n"
     "Exclusive with model.challenger.path.",
     NULL},
    {"model.challenger", "mode", FR__T_ENUM, 0, 0, 0, challenger_mode_names, "shadow", NULL,
     OFF(model.challenger.mode),
     "shadow: every record is also scored by the challenger; the output is the\n"
     "champion's result with the challenger's inside. canary: records whose key\n"
     "falls in model.challenger.share are served by the challenger alone.",
     NULL},
    {"model.challenger", "share", FR__T_NUM, 0, 0, 0, NULL, NULL, NULL, OFF(model.challenger.share),
     "canary only: the fraction (0 < share < 1) of record keys served by the\n"
     "challenger, chosen by a stable hash of the key (FNV-1a 64), so a card always\n"
     "meets the same model; records without a key go to the champion.",
     NULL},
    {"model.challenger", "threshold", FR__T_NUM, 0, 0, 0, NULL, NULL, NULL, OFF(model.challenger.threshold),
     "The challenger's threshold; null = its own.", NULL},

    {"http", "port", FR__T_INT, 0, 0, 65535, NULL, "8080", NULL, OFF(http.port),
     "Port of the health and metrics endpoints; 0 = no HTTP server.", NULL},
    {"http", "bind", FR__T_STR, 0, 0, 0, NULL, "0.0.0.0", NULL, OFF(http.bind), "Address to listen on.", NULL},

    {"metrics", "drift_window_s", FR__T_INT, 0, 10, 86400, NULL, "600", NULL, OFF(metrics.drift_window_s),
     "Score drift: the population stability index of the live scores against the\n"
     "model's fraudd.score_histogram (fraudd_model_score_psi, per model version) is\n"
     "computed over the scores of the last this many seconds (the window slides in\n"
     "steps of a tenth of it). A model without that metadata has no drift metric.",
     NULL},
    {"metrics", "drift_min_records", FR__T_INT, 0, 1, 1000000000, NULL, "1000", NULL, OFF(metrics.drift_min_records),
     "Score drift: no PSI is exported while the window holds fewer scores than this\n"
     "(a PSI over a few records is noise); fraudd_model_score_psi_window_records\n"
     "still shows how many it holds.",
     NULL},

    {"logging", "format", FR__T_ENUM, 0, 0, 0, format_names, "json", NULL, OFF(logging.format),
     "json: one JSON object per line; text: human-readable lines.", NULL},
    {"logging", "level", FR__T_ENUM, 0, 0, 0, level_names, "info", NULL, OFF(logging.level),
     "Least severe level written.", NULL},
    {"logging", "warn_interval_ms", FR__T_INT, 0, 0, 3600000, NULL, "1000", NULL, OFF(logging.warn_interval_ms),
     "Per-record warnings: at most one per interval per kind (0 = every one).", NULL},
};
#define FR__N_OPTS (sizeof opts / sizeof opts[0])

/* librdkafka properties fraudd sets itself, and why. */
static const struct {
    const char *key;
    const char *why;
} reserved[] = {
    {"bootstrap.servers", "use kafka.bootstrap_servers instead"},
    {"group.id", "use kafka.group_id instead"},
    {"enable.auto.offset.store",
     "fraudd fixes it to false and stores an offset only after its result is delivered (at-least-once)"},
    {"enable.idempotence", "fraudd fixes it to true so retries cannot duplicate or reorder results"},
    {"transactional.id", "use kafka.transactional_id (with kafka.delivery: exactly_once) instead"},
};

/* ---- small helpers ---------------------------------------------------- */

typedef struct fr__ctx {
    const char *name;                 /* file name for messages */
    const char *buf;                  /* the text */
    size_t len;
    char *(*env)(const char *);       /* ${VAR} lookup */
    yaml_document_t *doc;             /* the loaded tree */
    fr_config *c;                     /* being filled */
    char *err;
    size_t errlen;
    int set[FR__N_OPTS];              /* option seen in the file */
    yaml_mark_t mark[FR__N_OPTS];     /* where its key is */
    yaml_mark_t vmark[FR__N_OPTS];    /* where its value is */
    int sec_set[FR__N_SECTIONS];      /* section seen */
    yaml_mark_t sec_mark[FR__N_SECTIONS];
} fr__ctx;

/* Writes "name:line:col: " + message into err; returns code. */
static int fail(fr__ctx *x, int code, yaml_mark_t m, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(fr__ctx *x, int code, yaml_mark_t m, const char *fmt, ...) {
    if (x->err && x->errlen) {
        int n = snprintf(x->err, x->errlen, "%s:%zu:%zu: ", x->name, m.line + 1, m.column + 1);
        if (n >= 0 && (size_t)n < x->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(x->err + n, x->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return code;
}

/* Quotes s[0..n) for an error message: escaped, at most FR__CFG_SHOW bytes. */
static const char *show(char *dst, size_t cap, const char *s, size_t n) {
    size_t o = 0;
    dst[o++] = '"';
    for (size_t i = 0; i < n && o + 8 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (i >= FR__CFG_SHOW) {
            memcpy(dst + o, "...", 3);
            o += 3;
            break;
        }
        if (ch == '"' || ch == '\\') {
            dst[o++] = '\\';
            dst[o++] = (char)ch;
        } else if (ch < 0x20 || ch == 0x7f) {
            o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", ch);
        } else {
            dst[o++] = (char)ch;
        }
    }
    dst[o++] = '"';
    dst[o] = 0;
    return dst;
}

static const char *kind_name(const yaml_node_t *n) {
    switch (n->type) {
    case YAML_MAPPING_NODE: return "a mapping";
    case YAML_SEQUENCE_NODE: return "a list";
    default: return "a scalar";
    }
}

static int is_null_text(const char *s) {
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* A plain scalar that YAML reads as null ("", ~, null). */
static int node_is_null(const yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *v = (const char *)n->data.scalar.value;
    return n->data.scalar.length == strlen(v) && is_null_text(v);
}

static void path_of(char *dst, size_t cap, const fr__opt *o) { snprintf(dst, cap, "%s.%s", o->section, o->name); }

/* What a value of row o must look like, for messages and docs. */
static void describe(char *dst, size_t cap, const fr__opt *o) {
    switch (o->type) {
    case FR__T_STR:
        snprintf(dst, cap, "%s", o->flags & FR__F_TOPIC ? "a Kafka topic name (1..249 of a-z A-Z 0-9 . _ -)"
                                                        : "a non-empty string");
        break;
    case FR__T_PATH:
        snprintf(dst, cap, "%s",
                 o->flags & FR__F_URL    ? "an http:// or https:// URL or null"
                 : o->flags & FR__F_TEXT ? "a string or null"
                                         : "a file path or null");
        break;
    case FR__T_INT:
        snprintf(dst, cap, "%s in %lld..%lld", o->flags & FR__F_POW2 ? "a power of two" : "an integer", o->lo, o->hi);
        break;
    case FR__T_BOOL: snprintf(dst, cap, "true or false"); break;
    case FR__T_NUM: snprintf(dst, cap, "a finite number > 0 or null"); break;
    case FR__T_ENUM: {
        size_t n = (size_t)snprintf(dst, cap, "one of ");
        for (size_t i = 0; o->names[i] && n < cap; i++)
            n += (size_t)snprintf(dst + n, cap - n, "%s%s", i ? ", " : "", o->names[i]);
        break;
    }
    case FR__T_LIST: snprintf(dst, cap, "a list of dotted field names"); break;
    case FR__T_KV: snprintf(dst, cap, "a mapping of librdkafka properties"); break;
    }
}

static int topic_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 249 || !strcmp(s, ".") || !strcmp(s, "..")) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-') return 0;
    return 1;
}

/* http:// or https:// followed by a host (after any "user:password@", before
 * any ":port", "/", "?" or "#"), no spaces or control characters. A URL
 * without a host ("http://#x", "http://u@/m") would dump, with its fragment
 * or credentials redacted, as one that does not load back. */
static int url_ok(const char *s) {
    const char *h = !strncasecmp(s, "http://", 7) ? s + 7 : !strncasecmp(s, "https://", 8) ? s + 8 : NULL;
    if (!h) return 0;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f) return 0;
    size_t n;
    const char *host = fr_url_host(s, &n);
    return n > 0 && *host != ':';
}

/* A dotted field path: non-empty segments, at most 8 of them. */
static int field_path_ok(const char *s) {
    int segs = 1;
    if (!*s || *s == '.') return 0;
    for (const char *p = s; *p; p++)
        if (*p == '.') {
            if (p[1] == '.' || p[1] == 0) return 0;
            segs++;
        }
    return segs <= 8;
}

static int prop_name_ok(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-') return 0;
    return 1;
}

/* Converts text into row o's field of c (scalar types only). Returns 0,
 * FR_ETYPE / FR_ERANGE when the text is not a legal value, FR_ENOMEM. */
static int convert(fr_config *c, const fr__opt *o, const char *text) {
    void *dst = (char *)c + o->off;
    switch (o->type) {
    case FR__T_STR:
    case FR__T_PATH: {
        if (o->type == FR__T_STR && !*text) return FR_ETYPE;
        if (o->flags & FR__F_TOPIC && !topic_ok(text)) return FR_ETYPE;
        if (o->flags & FR__F_URL && *text && !url_ok(text)) return FR_ETYPE;
        char *s = NULL;
        if (*text && !(s = strdup(text))) return FR_ENOMEM;
        free(*(char **)dst);
        *(char **)dst = s;
        return 0;
    }
    case FR__T_INT: {
        const char *p = text;
        int neg = *p == '-';
        if (neg) p++;
        if (!*p) return FR_ETYPE;
        long long v = 0;
        for (; *p; p++) {
            if (*p < '0' || *p > '9') return FR_ETYPE;
            if (v > 100000000000LL) return FR_ERANGE; /* far beyond every bound */
            v = v * 10 + (*p - '0');
        }
        if (neg) v = -v;
        if (v < o->lo || v > o->hi) return FR_ERANGE;
        if (o->flags & FR__F_POW2 && (v <= 0 || (v & (v - 1)))) return FR_ERANGE;
        *(int *)dst = (int)v;
        return 0;
    }
    case FR__T_BOOL:
        if (!strcmp(text, "true")) *(int *)dst = 1;
        else if (!strcmp(text, "false")) *(int *)dst = 0;
        else return FR_ETYPE;
        return 0;
    case FR__T_NUM: {
        if (is_null_text(text)) {
            *(double *)dst = NAN;
            return 0;
        }
        /* decimal notation only: no hex, inf, nan */
        if (strspn(text, "0123456789.eE+-") != strlen(text)) return FR_ETYPE;
        char *end;
        errno = 0;
        double v = strtod(text, &end);
        if (end == text || *end) return FR_ETYPE;
        if (!isfinite(v) || !(v > 0)) return FR_ERANGE;
        *(double *)dst = v;
        return 0;
    }
    case FR__T_ENUM:
        for (int i = 0; o->names[i]; i++)
            if (!strcmp(text, o->names[i])) {
                *(int *)dst = i;
                return 0;
            }
        return FR_ETYPE;
    default: return FR_ETYPE;
    }
}

/* ---- ${VAR} substitution ------------------------------------------------ */

typedef struct fr__buf {
    char *p;
    size_t n, cap;
} fr__buf;

static int buf_put(fr__buf *b, const char *s, size_t n) {
    if (b->n + n + 1 > FR__CFG_MAX_VALUE) return FR_ETOOBIG;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) return FR_ENOMEM;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

/* The value of scalar node n with ${VAR}, ${VAR:-default} and $$ replaced;
 * *out is malloc'd. what names the value in messages. */
static int substitute(fr__ctx *x, const yaml_node_t *n, const char *what, char **out) {
    const char *s = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    fr__buf b = {0};
    int rc = 0;
    *out = NULL;
    if (memchr(s, 0, len)) {
        rc = fail(x, FR_ETYPE, n->start_mark, "%s: the value contains a NUL character", what);
        goto out;
    }
    if ((rc = buf_put(&b, "", 0))) goto mem;
    for (size_t i = 0; i < len;) {
        const char *d = memchr(s + i, '$', len - i);
        size_t lit = d ? (size_t)(d - (s + i)) : len - i;
        if ((rc = buf_put(&b, s + i, lit))) goto mem;
        i += lit;
        if (i >= len) break;
        /* s[i] == '$' */
        if (i + 1 < len && s[i + 1] == '$') {
            if ((rc = buf_put(&b, "$", 1))) goto mem;
            i += 2;
            continue;
        }
        if (i + 1 >= len || s[i + 1] != '{') { /* a lone $ is itself */
            if ((rc = buf_put(&b, "$", 1))) goto mem;
            i++;
            continue;
        }
        const char *close = memchr(s + i + 2, '}', len - i - 2);
        if (!close) {
            rc = fail(x, FR_EPARSE, n->start_mark,
                      "%s: unterminated \"${\": expected ${VAR} or ${VAR:-default} (write $$ for a literal $)",
                      what);
            goto out;
        }
        const char *name = s + i + 2;
        size_t nlen = 0;
        while (name + nlen < close && (isalnum((unsigned char)name[nlen]) || name[nlen] == '_')) nlen++;
        const char *rest = name + nlen; /* "}" or ":-default}" */
        int has_def = rest + 1 < close && rest[0] == ':' && rest[1] == '-';
        if (nlen == 0 || isdigit((unsigned char)name[0]) || (rest != close && !has_def) || nlen > 255) {
            rc = fail(x, FR_EPARSE, n->start_mark,
                      "%s: expected a variable name ([A-Za-z_][A-Za-z0-9_]*) in \"${...}\", "
                      "then \"}\" or \":-default}\"",
                      what);
            goto out;
        }
        char var[256];
        memcpy(var, name, nlen);
        var[nlen] = 0;
        const char *val = x->env ? x->env(var) : getenv(var);
        if (val && *val) {
            if ((rc = buf_put(&b, val, strlen(val)))) goto mem;
        } else if (has_def) {
            if ((rc = buf_put(&b, rest + 2, (size_t)(close - (rest + 2))))) goto mem;
        } else {
            rc = fail(x, FR_EMISSING, n->start_mark,
                      "%s: environment variable %s is %s (give a default with ${%s:-value})", what, var,
                      val ? "empty" : "not set", var);
            goto out;
        }
        i = (size_t)(close - s) + 1;
    }
    *out = b.p;
    b.p = NULL;
    goto out;
mem:
    if (rc == FR_ETOOBIG)
        fail(x, rc, n->start_mark, "%s: the value is longer than %u bytes after substitution", what,
             FR__CFG_MAX_VALUE);
    else
        fail(x, rc, n->start_mark, "%s: out of memory", what);
out:
    free(b.p);
    return rc;
}

/* ---- the walk ------------------------------------------------------------- */

static int scalar_key(fr__ctx *x, const yaml_node_t *k, const char *where, const char **name) {
    /* set on every path: at -O3 GCC inlines this into the walk, cannot see that fail() returns
       non-zero, and reports the callers' key as maybe-uninitialized (a -Werror build failure) */
    *name = NULL;
    if (k->type != YAML_SCALAR_NODE || memchr(k->data.scalar.value, 0, k->data.scalar.length))
        return fail(x, FR_ETYPE, k->start_mark, "%s: expected a key name, got %s", where,
                    k->type == YAML_SCALAR_NODE ? "a key with a NUL character" : kind_name(k));
    *name = (const char *)k->data.scalar.value;
    return 0;
}

static int load_scalar(fr__ctx *x, size_t i, const yaml_node_t *v) {
    const fr__opt *o = &opts[i];
    char path[64], want[160], shown[FR__CFG_SHOW * 4 + 16];
    char *text = NULL;
    int rc;
    path_of(path, sizeof path, o);
    describe(want, sizeof want, o);
    if (v->type != YAML_SCALAR_NODE)
        return fail(x, FR_ETYPE, v->start_mark, "%s: expected %s, got %s", path, want, kind_name(v));
    if (node_is_null(v) && o->type != FR__T_PATH && o->type != FR__T_NUM)
        return fail(x, o->flags & FR__F_REQUIRED ? FR_EMISSING : FR_ETYPE, v->start_mark,
                    "%s: expected %s, got null", path, want);
    if ((rc = substitute(x, v, path, &text))) return rc;
    if (v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && is_null_text(text) &&
        (o->type == FR__T_PATH || o->type == FR__T_NUM))
        text[0] = 0; /* null */
    rc = convert(x->c, o, text);
    if (rc == FR_ENOMEM) rc = fail(x, rc, v->start_mark, "%s: out of memory", path);
    else if (rc) {
        const char *bad = text;
        char safe[1024];
        if (o->flags & FR__F_URL) { /* credentials and a signed query stay out of the message */
            fr_url_redact(text, 1, safe, sizeof safe);
            bad = safe;
        }
        rc = fail(x, rc, v->start_mark, "%s: expected %s, got %s", path, want, show(shown, sizeof shown, bad, strlen(bad)));
    }
    free(text);
    return rc;
}

static int is_reserved(const char *key, const char **why) {
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (!strcasecmp(key, reserved[i].key)) {
            *why = reserved[i].why;
            return 1;
        }
    return 0;
}

static int load_kv(fr__ctx *x, size_t i, const yaml_node_t *v) {
    const fr__opt *o = &opts[i];
    fr_kv_list *l = (fr_kv_list *)((char *)x->c + o->off);
    char path[64], shown[FR__CFG_SHOW * 4 + 16], what[FR__CFG_SHOW * 4 + 80];
    int rc = 0;
    path_of(path, sizeof path, o);
    if (node_is_null(v)) return 0;
    if (v->type != YAML_MAPPING_NODE)
        return fail(x, FR_ETYPE, v->start_mark, "%s: expected a mapping of librdkafka properties, got %s", path,
                    kind_name(v));
    yaml_node_pair_t *p0 = v->data.mapping.pairs.start, *p1 = v->data.mapping.pairs.top;
    if (p1 - p0 > FR__CFG_MAX_ITEMS)
        return fail(x, FR_ETOOBIG, v->start_mark, "%s: more than %d properties", path, FR__CFG_MAX_ITEMS);
    l->items = calloc((size_t)(p1 - p0) + 1, sizeof *l->items);
    if (!l->items) return fail(x, FR_ENOMEM, v->start_mark, "%s: out of memory", path);
    for (yaml_node_pair_t *p = p0; p < p1; p++) {
        yaml_node_t *k = yaml_document_get_node(x->doc, p->key), *val = yaml_document_get_node(x->doc, p->value);
        const char *key, *why;
        if (!k || !val) return fail(x, FR_EPARSE, v->start_mark, "%s: malformed entry", path);
        if ((rc = scalar_key(x, k, path, &key))) return rc;
        show(shown, sizeof shown, key, strlen(key));
        if (!prop_name_ok(key))
            return fail(x, FR_EINVAL, k->start_mark,
                        "%s: expected a librdkafka property name (a-z 0-9 . _ -), got %s", path, shown);
        if (is_reserved(key, &why))
            return fail(x, FR_EINVAL, k->start_mark, "%s: %s is reserved: %s", path, shown, why);
        for (size_t j = 0; j < l->n; j++)
            if (!strcmp(l->items[j].key, key))
                return fail(x, FR_EDUPLICATE, k->start_mark, "%s: duplicate key %s", path, shown);
        /* the value is never quoted: it may be a secret */
        snprintf(what, sizeof what, "%s.%s", path, key);
        if (val->type != YAML_SCALAR_NODE)
            return fail(x, FR_ETYPE, val->start_mark, "%s: expected a scalar value, got %s", what, kind_name(val));
        if (node_is_null(val))
            return fail(x, FR_ETYPE, val->start_mark, "%s: expected a value (write \"\" for an empty one), got null",
                        what);
        fr_kv *kv = &l->items[l->n];
        if (!(kv->key = strdup(key))) return fail(x, FR_ENOMEM, k->start_mark, "%s: out of memory", path);
        l->n++; /* owned by the list from here on */
        if ((rc = substitute(x, val, what, &kv->value))) return rc;
    }
    return 0;
}

static int load_list(fr__ctx *x, size_t i, const yaml_node_t *v) {
    const fr__opt *o = &opts[i];
    char ***items = (char ***)((char *)x->c + o->off);
    size_t *n = (size_t *)((char *)x->c + o->off + sizeof(char **));
    char path[64], shown[FR__CFG_SHOW * 4 + 16];
    int rc = 0;
    path_of(path, sizeof path, o);
    if (node_is_null(v)) return 0;
    if (v->type != YAML_SEQUENCE_NODE)
        return fail(x, FR_ETYPE, v->start_mark, "%s: expected a list of dotted field names, got %s", path,
                    kind_name(v));
    yaml_node_item_t *i0 = v->data.sequence.items.start, *i1 = v->data.sequence.items.top;
    if (i1 - i0 > FR__CFG_MAX_ITEMS)
        return fail(x, FR_ETOOBIG, v->start_mark, "%s: more than %d entries", path, FR__CFG_MAX_ITEMS);
    *items = calloc((size_t)(i1 - i0) + 1, sizeof **items);
    if (!*items) return fail(x, FR_ENOMEM, v->start_mark, "%s: out of memory", path);
    for (yaml_node_item_t *it = i0; it < i1; it++) {
        yaml_node_t *e = yaml_document_get_node(x->doc, *it);
        char *text = NULL;
        if (!e) return fail(x, FR_EPARSE, v->start_mark, "%s: malformed entry", path);
        if (e->type != YAML_SCALAR_NODE || node_is_null(e))
            return fail(x, FR_ETYPE, e->start_mark, "%s: expected a dotted field name, got %s", path,
                        e->type == YAML_SCALAR_NODE ? "null" : kind_name(e));
        if ((rc = substitute(x, e, path, &text))) return rc;
        (*items)[(*n)++] = text; /* owned by the list from here on */
        show(shown, sizeof shown, text, strlen(text));
        if (!field_path_ok(text))
            return fail(x, FR_EINVAL, e->start_mark,
                        "%s: expected a dotted field name (non-empty segments, at most 8), got %s", path, shown);
        for (size_t j = 0; j + 1 < *n; j++)
            if (!strcmp((*items)[j], text))
                return fail(x, FR_EDUPLICATE, e->start_mark, "%s: %s is listed twice", path, shown);
    }
    return 0;
}

static void valid_keys(char *dst, size_t cap, const char *section) {
    size_t n = 0;
    dst[0] = 0;
    for (size_t i = 0; i < FR__N_OPTS && n < cap; i++)
        if (!strcmp(opts[i].section, section))
            n += (size_t)snprintf(dst + n, cap - n, "%s%s", n ? ", " : "", opts[i].name);
    for (size_t s = 0; s < FR__N_SECTIONS && n < cap; s++)
        if (sections[s].parent && !strcmp(sections[s].parent, section))
            n += (size_t)snprintf(dst + n, cap - n, "%s%s", n ? ", " : "", sections[s].key);
}

/* The section nested in parent under key, or FR__N_SECTIONS. parent NULL:
 * the top level. */
static size_t section_at(const char *parent, const char *key) {
    size_t s;
    for (s = 0; s < FR__N_SECTIONS; s++)
        if (!strcmp(sections[s].key, key) &&
            (parent ? sections[s].parent && !strcmp(sections[s].parent, parent) : !sections[s].parent))
            break;
    return s;
}

static int load_section(fr__ctx *x, size_t s, const yaml_node_t *v);

/* A key of section parent that names a nested section. */
static int load_subsection(fr__ctx *x, size_t sub, const yaml_node_t *k, const yaml_node_t *val) {
    if (x->sec_set[sub])
        return fail(x, FR_EDUPLICATE, k->start_mark, "%s: duplicate section (first at %zu:%zu)", sections[sub].name,
                    x->sec_mark[sub].line + 1, x->sec_mark[sub].column + 1);
    x->sec_set[sub] = 1;
    x->sec_mark[sub] = k->start_mark;
    return load_section(x, sub, val);
}

static int load_section(fr__ctx *x, size_t s, const yaml_node_t *v) {
    const char *sec = sections[s].name;
    char shown[FR__CFG_SHOW * 4 + 16], keys[512];
    int rc;
    if (node_is_null(v)) return 0; /* "http:" alone: all defaults */
    if (v->type != YAML_MAPPING_NODE) {
        valid_keys(keys, sizeof keys, sec);
        return fail(x, FR_ETYPE, v->start_mark, "%s: expected a mapping of options (%s), got %s", sec, keys,
                    kind_name(v));
    }
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(x->doc, p->key), *val = yaml_document_get_node(x->doc, p->value);
        const char *key;
        size_t i;
        if (!k || !val) return fail(x, FR_EPARSE, v->start_mark, "%s: malformed entry", sec);
        if ((rc = scalar_key(x, k, sec, &key))) return rc;
        size_t sub = section_at(sec, key);
        if (sub < FR__N_SECTIONS) {
            if ((rc = load_subsection(x, sub, k, val))) return rc;
            continue;
        }
        for (i = 0; i < FR__N_OPTS; i++)
            if (!strcmp(opts[i].section, sec) && !strcmp(opts[i].name, key)) break;
        if (i == FR__N_OPTS) {
            valid_keys(keys, sizeof keys, sec);
            return fail(x, FR_EINVAL, k->start_mark, "%s: unknown key %s; valid keys: %s", sec,
                        show(shown, sizeof shown, key, strlen(key)), keys);
        }
        if (x->set[i])
            return fail(x, FR_EDUPLICATE, k->start_mark, "%s.%s: duplicate key (first at %zu:%zu)", sec, key,
                        x->mark[i].line + 1, x->mark[i].column + 1);
        x->set[i] = 1;
        x->mark[i] = k->start_mark;
        x->vmark[i] = val->start_mark;
        switch (opts[i].type) {
        case FR__T_KV: rc = load_kv(x, i, val); break;
        case FR__T_LIST: rc = load_list(x, i, val); break;
        default: rc = load_scalar(x, i, val); break;
        }
        if (rc) return rc;
    }
    return 0;
}

static void section_names(char *dst, size_t cap) {
    size_t n = 0;
    for (size_t s = 0; s < FR__N_SECTIONS && n < cap; s++)
        if (!sections[s].parent) n += (size_t)snprintf(dst + n, cap - n, "%s%s", n ? ", " : "", sections[s].name);
}

static int load_root(fr__ctx *x, const yaml_node_t *root) {
    char shown[FR__CFG_SHOW * 4 + 16], names[128];
    int rc;
    section_names(names, sizeof names);
    if (root->type != YAML_MAPPING_NODE)
        return fail(x, FR_ETYPE, root->start_mark, "expected a mapping of sections (%s), got %s", names,
                    kind_name(root));
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(x->doc, p->key), *val = yaml_document_get_node(x->doc, p->value);
        const char *key;
        size_t s;
        if (!k || !val) return fail(x, FR_EPARSE, root->start_mark, "malformed entry");
        if ((rc = scalar_key(x, k, "top level", &key))) return rc;
        s = section_at(NULL, key);
        if (s == FR__N_SECTIONS)
            return fail(x, FR_EINVAL, k->start_mark, "unknown section %s; valid sections: %s",
                        show(shown, sizeof shown, key, strlen(key)), names);
        if (x->sec_set[s])
            return fail(x, FR_EDUPLICATE, k->start_mark, "%s: duplicate section (first at %zu:%zu)", key,
                        x->sec_mark[s].line + 1, x->sec_mark[s].column + 1);
        x->sec_set[s] = 1;
        x->sec_mark[s] = k->start_mark;
        if ((rc = load_section(x, s, val))) return rc;
    }
    return 0;
}

/* Required options not set: one error naming all of them, at the kafka
 * section (or 1:1 when there is none). empty: the file had no document. */
static int check_required(fr__ctx *x, int empty) {
    char missing[512];
    size_t n = 0;
    yaml_mark_t at = {0, 0, 0};
    missing[0] = 0;
    for (size_t i = 0; i < FR__N_OPTS; i++) {
        if (!(opts[i].flags & FR__F_REQUIRED) || x->set[i]) continue;
        for (size_t s = 0; s < FR__N_SECTIONS; s++)
            if (!n && x->sec_set[s] && !strcmp(sections[s].name, opts[i].section)) at = x->sec_mark[s];
        n += (size_t)snprintf(missing + n, sizeof missing - n, "%s%s.%s", n ? ", " : "", opts[i].section,
                              opts[i].name);
        if (n >= sizeof missing) n = sizeof missing - 1;
    }
    if (!n) return 0;
    return fail(x, FR_EMISSING, at, "%smissing required %s", empty ? "empty configuration: " : "", missing);
}

/* The value of librdkafka property key in l, or NULL. */
static const char *kv_get(const fr_kv_list *l, const char *key) {
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->items[i].key, key)) return l->items[i].value;
    return NULL;
}

static size_t opt_index(size_t off) {
    size_t i = 0;
    while (opts[i].off != off) i++;
    return i;
}

/* Every record in flight has at most one message in the producer's queue
 * (its result, a retry or its dead letter, one after the other), plus one
 * while a delivery report is served (the failed message is freed after the
 * callback): the queue must hold max_in_flight + 1 messages. */
static int check_in_flight(fr__ctx *x) {
    const fr_config *c = x->c;
    size_t at = opt_index(OFF(pipeline.max_in_flight));
    const char *q = kv_get(&c->kafka.producer, "queue.buffering.max.messages");
    const char *where = "kafka.producer";
    if (!q) {
        q = kv_get(&c->kafka.properties, "queue.buffering.max.messages");
        where = "kafka.properties";
    }
    long long qmax = FR_PRODUCER_QUEUE_MESSAGES;
    if (q) {
        char *end;
        errno = 0;
        qmax = strtoll(q, &end, 10);
        if (errno || end == q || *end) return 0; /* librdkafka refuses it with its own error */
    }
    long long n = c->pipeline.max_in_flight;
    long long floor = (long long)c->pipeline.workers * c->pipeline.ring_capacity;
    if (!n) n = 2 * floor; /* the pipeline's default; unknown here when workers is 0 (CPUs) */
    if (n < floor) n = floor;
    if (n < qmax) return 0;
    return fail(x, FR_EINVAL, x->set[at] ? x->vmark[at] : x->mark[opt_index(OFF(pipeline.workers))],
                "pipeline.max_in_flight: %lld records in flight need a producer queue of at least %lld messages "
                "(queue.buffering.max.messages, %s %lld); lower max_in_flight or raise "
                "kafka.producer.queue.buffering.max.messages",
                n, n + 1, q ? where : "fraudd's default", qmax);
}

/* librdkafka property key as the producer (or the consumer) gets it: its
 * own map first, then kafka.properties; *where names the map. */
static const char *client_prop(const fr_config *c, int producer, const char *key, const char **where) {
    const fr_kv_list *own = producer ? &c->kafka.producer : &c->kafka.consumer;
    const char *v = kv_get(own, key);
    *where = producer ? "kafka.producer" : "kafka.consumer";
    if (!v) {
        v = kv_get(&c->kafka.properties, key);
        *where = "kafka.properties";
    }
    return v;
}

/* kafka.delivery: exactly_once needs a transactional producer and a
 * consumer that neither commits on its own nor reads aborted records;
 * librdkafka properties that say otherwise are refused here, not at run
 * time. The transaction must commit well within transaction.timeout.ms, or
 * the coordinator aborts it under the run thread. */
static int check_delivery(fr__ctx *x) {
    const fr_config *c = x->c;
    size_t at = opt_index(OFF(kafka.delivery));
    yaml_mark_t where_delivery = x->set[at] ? x->vmark[at] : (yaml_mark_t){0, 0, 0};
    const char *where, *v;
    if (c->kafka.delivery != FR_EXACTLY_ONCE) {
        size_t t = opt_index(OFF(kafka.transactional_id));
        if (c->kafka.transactional_id)
            return fail(x, FR_EINVAL, x->vmark[t],
                        "kafka.transactional_id: only used with kafka.delivery: exactly_once (delivery is %s)",
                        guarantee_names[c->kafka.delivery]);
        return 0;
    }
    if ((v = client_prop(c, 1, "acks", &where)) && strcmp(v, "all") && strcmp(v, "-1"))
        return fail(x, FR_EINVAL, where_delivery,
                    "kafka.delivery: exactly_once needs acks=all (a transactional producer), but %s.acks is %s",
                    where, v);
    if ((v = client_prop(c, 0, "enable.auto.commit", &where)) && strcmp(v, "false"))
        return fail(x, FR_EINVAL, where_delivery,
                    "kafka.delivery: exactly_once commits offsets only inside its transactions, but "
                    "%s.enable.auto.commit is %s (remove it)",
                    where, v);
    if ((v = client_prop(c, 0, "isolation.level", &where)) && strcmp(v, "read_committed"))
        return fail(x, FR_EINVAL, where_delivery,
                    "kafka.delivery: exactly_once reads the input read_committed (aborted records must not be "
                    "scored), but %s.isolation.level is %s (remove it)",
                    where, v);
    long long timeout = 60000; /* librdkafka's transaction.timeout.ms */
    if ((v = client_prop(c, 1, "transaction.timeout.ms", &where))) {
        char *end;
        errno = 0;
        timeout = strtoll(v, &end, 10);
        if (errno || end == v || *end) return 0; /* librdkafka refuses it with its own error */
    }
    if ((long long)c->kafka.transaction_interval_ms * 2 > timeout) {
        size_t i = opt_index(OFF(kafka.transaction_interval_ms));
        return fail(x, FR_EINVAL, x->set[i] ? x->vmark[i] : where_delivery,
                    "kafka.transaction_interval_ms: %d is more than half of the producer's transaction.timeout.ms "
                    "(%s %lld): the coordinator would abort transactions before fraudd commits them",
                    c->kafka.transaction_interval_ms, v ? where : "librdkafka's default", timeout);
    }
    return 0;
}

/* model.challenger: a source, and the options of its mode only. */
static int check_challenger(fr__ctx *x) {
    const fr_config *c = x->c;
    size_t i_path = opt_index(OFF(model.challenger.path)), i_url = opt_index(OFF(model.challenger.url)),
           i_mode = opt_index(OFF(model.challenger.mode)), i_share = opt_index(OFF(model.challenger.share)),
           i_thr = opt_index(OFF(model.challenger.threshold));
    const char *path = c->model.challenger.path, *url = c->model.challenger.url;
    if (path && url)
        return fail(x, FR_EINVAL, x->vmark[i_url],
                    "model.challenger.url: set either model.challenger.path or model.challenger.url, not both");
    if (!path && !url) {
        /* mode may stay (its default is dumped too); a value may not */
        size_t set[] = {i_share, i_thr};
        for (size_t j = 0; j < sizeof set / sizeof set[0]; j++)
            if (x->set[set[j]] && !isnan(*(const double *)((const char *)c + opts[set[j]].off)))
                return fail(x, FR_EINVAL, x->mark[set[j]],
                            "model.challenger.%s: there is no challenger (set model.challenger.path or "
                            "model.challenger.url)",
                            opts[set[j]].name);
        return 0;
    }
    int same = path ? c->model.path && !strcmp(path, c->model.path) : c->model.url && !strcmp(url, c->model.url);
    if (same)
        return fail(x, FR_EINVAL, x->vmark[path ? i_path : i_url],
                    "model.challenger.%s: the same source as the champion's model.%s", path ? "path" : "url",
                    path ? "path" : "url");
    double share = c->model.challenger.share;
    if (c->model.challenger.mode == FR_CHALLENGER_CANARY) {
        if (isnan(share))
            return fail(x, FR_EMISSING, x->set[i_mode] ? x->vmark[i_mode] : x->mark[i_path],
                        "model.challenger.share: a canary needs the share of record keys it serves (0 < share < 1)");
        if (!(share < 1))
            return fail(x, FR_ERANGE, x->vmark[i_share],
                        "model.challenger.share: expected a fraction 0 < share < 1, got %g (1 would be a promotion: "
                        "swap model.path and model.challenger.path instead)",
                        share);
    } else if (x->set[i_share] && !isnan(share)) {
        return fail(x, FR_EINVAL, x->mark[i_share],
                    "model.challenger.share: only a canary serves a share; a shadow scores every record");
    }
    return 0;
}

/* Rules across options. */
static int check_cross(fr__ctx *x) {
    const fr_config *c = x->c;
    int rc = check_in_flight(x);
    if (rc) return rc;
    if ((rc = check_delivery(x))) return rc;
    if (c->model.path && c->model.url) {
        size_t i = 0;
        while (opts[i].off != OFF(model.url)) i++;
        return fail(x, FR_EINVAL, x->vmark[i], "model.url: set either model.path or model.url, not both");
    }
    if ((rc = check_challenger(x))) return rc;
    for (size_t i = 0; i < FR__N_OPTS; i++) {
        if (!(opts[i].flags & FR__F_TOPIC) || opts[i].off == OFF(kafka.input_topic)) continue;
        const char *t = *(char *const *)((const char *)c + opts[i].off);
        if (t && c->kafka.input_topic && !strcmp(t, c->kafka.input_topic))
            return fail(x, FR_EINVAL, x->vmark[i],
                        "%s.%s: must differ from kafka.input_topic (fraudd would read its own output)",
                        opts[i].section, opts[i].name);
    }
    return 0;
}

/* Pass 1: syntax, depth, one document. Returns 0 and *empty if there is no
 * document at all. */
static int prescan(fr__ctx *x, int *empty) {
    yaml_parser_t p;
    yaml_event_t ev;
    int rc = 0, depth = 0, docs = 0, done = 0;
    if (!yaml_parser_initialize(&p)) return fail(x, FR_ENOMEM, (yaml_mark_t){0, 0, 0}, "out of memory");
    yaml_parser_set_input_string(&p, (const unsigned char *)x->buf, x->len);
    while (!done) {
        if (!yaml_parser_parse(&p, &ev)) {
            yaml_mark_t m = p.problem_mark;
            if (p.error == YAML_MEMORY_ERROR) {
                rc = fail(x, FR_ENOMEM, m, "out of memory");
                break;
            }
            if (p.error == YAML_READER_ERROR) { /* only an offset: find its line and column */
                m.line = m.column = 0;
                for (size_t i = 0; i < p.problem_offset && i < x->len; i++) {
                    if (x->buf[i] == '\n') {
                        m.line++;
                        m.column = 0;
                    } else if (((unsigned char)x->buf[i] & 0xc0) != 0x80) {
                        m.column++;
                    }
                }
            }
            rc = fail(x, FR_EPARSE, m, "invalid YAML: %s%s%s", p.problem ? p.problem : "syntax error",
                      p.context ? " " : "", p.context ? p.context : "");
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT: done = 1; break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                rc = fail(x, FR_EPARSE, ev.start_mark, "expected one YAML document, found a second one");
                done = 1;
            }
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (++depth > FR__CFG_MAX_DEPTH) {
                rc = fail(x, FR_EUNSUPPORTED, ev.start_mark, "collections nested deeper than %d levels",
                          FR__CFG_MAX_DEPTH);
                done = 1;
            }
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: depth--; break;
        default: break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    *empty = docs == 0;
    return rc;
}

int fr_config_load_mem(const char *name, const char *buf, size_t len, char *(*env_lookup)(const char *),
                       fr_config **out, char *err, size_t errlen) {
    fr__ctx *x = NULL;
    yaml_parser_t p;
    yaml_document_t doc;
    int rc = 0, empty = 0, have_parser = 0, have_doc = 0;
    if (err && errlen) err[0] = 0;
    if (!out) return fr_set_err(err, errlen, FR_EINVAL, "fr_config_load_mem: out is NULL");
    *out = NULL;
    if (!name) name = "<config>";
    if (!buf && len) return fr_set_err(err, errlen, FR_EINVAL, "%s: no buffer", name);
    if (len > FR__CFG_MAX_BYTES)
        return fr_set_err(err, errlen, FR_ETOOBIG, "%s: %zu bytes, over the %u byte (1 MiB) limit", name, len,
                          FR__CFG_MAX_BYTES);
    x = calloc(1, sizeof *x);
    if (!x || !(x->c = fr_config_defaults())) {
        rc = fr_set_err(err, errlen, FR_ENOMEM, "%s: out of memory", name);
        goto out;
    }
    x->name = name;
    x->buf = buf ? buf : "";
    x->len = len;
    x->env = env_lookup;
    x->err = err;
    x->errlen = errlen;
    x->doc = &doc;
    free(x->c->path);
    if (!(x->c->path = strdup(name))) {
        rc = fr_set_err(err, errlen, FR_ENOMEM, "%s: out of memory", name);
        goto out;
    }
    if ((rc = prescan(x, &empty))) goto out;
    if (!empty) {
        if (!yaml_parser_initialize(&p)) {
            rc = fr_set_err(err, errlen, FR_ENOMEM, "%s: out of memory", name);
            goto out;
        }
        have_parser = 1;
        yaml_parser_set_input_string(&p, (const unsigned char *)x->buf, x->len);
        if (!yaml_parser_load(&p, &doc)) {
            rc = fail(x, p.error == YAML_MEMORY_ERROR ? FR_ENOMEM : FR_EPARSE, p.problem_mark, "invalid YAML: %s",
                      p.problem ? p.problem : "syntax error");
            goto out;
        }
        have_doc = 1;
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (!root || node_is_null(root)) empty = 1;
        else if ((rc = load_root(x, root))) goto out;
    }
    if ((rc = check_required(x, empty)) || (rc = check_cross(x))) goto out;
    *out = x->c; /* ownership moves to the caller */
    x->c = NULL;
out:
    if (have_doc) yaml_document_delete(&doc);
    if (have_parser) yaml_parser_delete(&p);
    if (x) fr_config_free(x->c);
    free(x);
    return rc;
}

int fr_config_load(const char *path, char *(*env_lookup)(const char *), fr_config **out, char *err,
                   size_t errlen) {
    FILE *f = NULL;
    char *buf = NULL;
    size_t n = 0;
    int rc = 0;
    if (out) *out = NULL;
    if (!path || !out) return fr_set_err(err, errlen, FR_EINVAL, "fr_config_load: path and out are required");
    buf = malloc(FR__CFG_MAX_BYTES + 1);
    if (!buf) {
        rc = fr_set_err(err, errlen, FR_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    if (!(f = fopen(path, "rb"))) {
        rc = fr_set_err(err, errlen, FR_EIO, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    n = fread(buf, 1, FR__CFG_MAX_BYTES + 1, f);
    if (ferror(f)) {
        rc = fr_set_err(err, errlen, FR_EIO, "%s: cannot read: %s", path, strerror(errno));
        goto out;
    }
    if (n > FR__CFG_MAX_BYTES) {
        rc = fr_set_err(err, errlen, FR_ETOOBIG, "%s: over the %u byte (1 MiB) limit", path, FR__CFG_MAX_BYTES);
        goto out;
    }
    rc = fr_config_load_mem(path, buf, n, env_lookup, out, err, errlen);
out:
    if (f) fclose(f);
    free(buf);
    return rc;
}

fr_config *fr_config_defaults(void) {
    fr_config *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    if (!(c->path = strdup("<defaults>"))) goto fail;
    for (size_t i = 0; i < FR__N_OPTS; i++) {
        const fr__opt *o = &opts[i];
        if (o->type == FR__T_NUM) *(double *)((char *)c + o->off) = NAN;
        if (!o->def || o->type == FR__T_KV || o->type == FR__T_LIST) continue;
        if (convert(c, o, o->def)) goto fail; /* only ENOMEM: tests load every default */
    }
    return c;
fail:
    fr_config_free(c);
    return NULL;
}

static void kv_free(fr_kv_list *l) {
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].key);
        free(l->items[i].value);
    }
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

void fr_config_free(fr_config *c) {
    if (!c) return;
    free(c->path);
    for (size_t i = 0; i < FR__N_OPTS; i++) {
        void *dst = (char *)c + opts[i].off;
        switch (opts[i].type) {
        case FR__T_STR:
        case FR__T_PATH: free(*(char **)dst); break;
        case FR__T_KV: kv_free(dst); break;
        case FR__T_LIST: {
            char **items = *(char ***)dst;
            size_t n = *(size_t *)((char *)dst + sizeof(char **));
            for (size_t j = 0; j < n; j++) free(items[j]);
            free(items);
            break;
        }
        default: break;
        }
    }
    free(c);
}

_Static_assert(offsetof(fr_config, model.n_passthrough) == offsetof(fr_config, model.passthrough) + sizeof(char **),
               "a list's count follows its items");

/* ---- output ---------------------------------------------------------------- */

/* Length of the UTF-8 sequence at p and its code point, or 0 if invalid. */
static size_t utf8_next(const unsigned char *p, uint32_t *cp) {
    size_t n = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc0 ? 2 : 0;
    if (!n || p[0] > 0xf4) return 0;
    uint32_t v = p[0] & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0; /* also stops at the NUL */
        v = v << 6 | (p[i] & 0x3f);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min[n] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    *cp = v;
    return n;
}

/* s as a YAML double-quoted scalar that loads back to s: every $ doubled,
 * because loading substitutes; control characters, line breaks (U+0085,
 * U+2028, U+2029) and what YAML does not allow raw are escaped. */
static void put_quoted(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        uint32_t cp;
        size_t n;
        if (*p >= 0x80) {
            if (!(n = utf8_next(p, &cp))) { /* not UTF-8 (only from the environment) */
                fprintf(f, "\\x%02x", *p++);
                continue;
            }
            if ((cp >= 0xa0 && cp <= 0xd7ff && cp != 0x2028 && cp != 0x2029) ||
                (cp >= 0xe000 && cp <= 0xfffd && cp != 0xfeff) || cp >= 0x10000)
                fwrite(p, 1, n, f);
            else
                fprintf(f, "\\u%04x", (unsigned)cp);
            p += n;
            continue;
        }
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\t': fputs("\\t", f); break;
        case '$': fputs("$$", f); break;
        default:
            if (*p < 0x20 || *p == 0x7f) fprintf(f, "\\x%02x", *p);
            else fputc(*p, f);
        }
        p++;
    }
    fputc('"', f);
}

static void put_key(FILE *f, const char *k) {
    if (prop_name_ok(k) && !strchr("-.", k[0])) fputs(k, f);
    else put_quoted(f, k);
}

/* Shortest decimal text that reads back as v. */
static void put_double(FILE *f, double v) {
    char b[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(b, sizeof b, "%.*g", prec, v);
        if (strtod(b, NULL) == v) break;
    }
    fputs(b, f);
}

/* The value of row o in c, as YAML after "key:" (flow style for empty
 * collections, else a block on the following lines). */
static void put_value(FILE *f, const fr_config *c, const fr__opt *o, const char *indent) {
    const void *src = (const char *)c + o->off;
    size_t count = o->type == FR__T_KV     ? ((const fr_kv_list *)src)->n
                   : o->type == FR__T_LIST ? *(const size_t *)((const char *)src + sizeof(char **))
                                           : 0;
    if (!count) fputc(' ', f);
    switch (o->type) {
    case FR__T_STR:
    case FR__T_PATH: {
        const char *s = *(char *const *)src;
        char safe[1024];
        if (s && o->flags & FR__F_URL) {
            fr_url_redact(s, 1, safe, sizeof safe);
            s = safe;
        }
        if (s) put_quoted(f, s);
        else fputs("null", f);
        break;
    }
    case FR__T_INT: fprintf(f, "%d", *(const int *)src); break;
    case FR__T_BOOL: fputs(*(const int *)src ? "true" : "false", f); break;
    case FR__T_NUM: {
        double v = *(const double *)src;
        if (isnan(v)) fputs("null", f);
        else put_double(f, v);
        break;
    }
    case FR__T_ENUM: {
        int v = *(const int *)src, n = 0;
        while (o->names[n]) n++;
        fputs(v >= 0 && v < n ? o->names[v] : "?", f);
        break;
    }
    case FR__T_LIST: {
        char *const *items = *(char **const *)src;
        size_t n = *(const size_t *)((const char *)src + sizeof(char **));
        if (!n) fputs("[]", f);
        for (size_t j = 0; j < n; j++) {
            fprintf(f, "\n%s- ", indent);
            put_quoted(f, items[j]);
        }
        break;
    }
    case FR__T_KV: {
        const fr_kv_list *l = src;
        if (!l->n) fputs("{}", f);
        for (size_t j = 0; j < l->n; j++) {
            fprintf(f, "\n%s", indent);
            put_key(f, l->items[j].key);
            fputs(": ", f);
            put_quoted(f, fr_config_is_secret(l->items[j].key) ? "[redacted]" : l->items[j].value);
        }
        break;
    }
    }
}

/* Section s's options, then its nested sections, at depth (0: top level). */
static void dump_section(const fr_config *c, FILE *f, size_t s, int depth) {
    char ind[16], deeper[20];
    snprintf(ind, sizeof ind, "%*s", 2 * depth + 2, "");
    snprintf(deeper, sizeof deeper, "%*s", 2 * depth + 4, "");
    for (size_t i = 0; i < FR__N_OPTS; i++) {
        if (strcmp(opts[i].section, sections[s].name)) continue;
        fprintf(f, "%s%s:", ind, opts[i].name);
        put_value(f, c, &opts[i], deeper);
        fputc('\n', f);
    }
    for (size_t t = 0; t < FR__N_SECTIONS; t++)
        if (sections[t].parent && !strcmp(sections[t].parent, sections[s].name)) {
            fprintf(f, "%s%s:\n", ind, sections[t].key);
            dump_section(c, f, t, depth + 1);
        }
}

void fr_config_dump(const fr_config *c, FILE *f) {
    if (!c || !f) return;
    fputs("# effective configuration of ", f);
    for (const char *p = c->path ? c->path : "?"; *p; p++) fputc(*p >= 0x20 && *p < 0x7f ? *p : '?', f);
    fputs(" (defaults filled in, secrets redacted)\n", f);
    for (size_t s = 0; s < FR__N_SECTIONS; s++) {
        if (sections[s].parent) continue;
        fprintf(f, "%s:\n", sections[s].name);
        dump_section(c, f, s, 0);
    }
}

/* "an integer in 0..1024; default 0" and the like: the type line of row o. */
static void type_line(char *dst, size_t cap, const fr__opt *o) {
    char want[160];
    describe(want, sizeof want, o);
    switch (o->type) {
    case FR__T_STR:
        if (o->flags & FR__F_REQUIRED) snprintf(dst, cap, "%s; required", want);
        else snprintf(dst, cap, "%s; default \"%s\"", want, o->def);
        break;
    case FR__T_PATH:
    case FR__T_NUM:
    case FR__T_INT:
    case FR__T_BOOL:
    case FR__T_ENUM: snprintf(dst, cap, "%s; default %s", want, o->def ? o->def : "null"); break;
    case FR__T_LIST: snprintf(dst, cap, "%s; default []", want); break;
    case FR__T_KV: snprintf(dst, cap, "%s; default {}", want); break;
    }
}

static void put_lines(FILE *f, const char *text, const char *prefix) {
    while (*text) {
        const char *nl = strchr(text, '\n');
        size_t n = nl ? (size_t)(nl - text) : strlen(text);
        fprintf(f, "%s%.*s\n", prefix, (int)n, text);
        text += n + (nl ? 1 : 0);
    }
}

/* Section s of the example file: its options, then its nested sections. */
static void example_section(FILE *f, const fr_config *d, size_t s, int depth) {
    char ind[16], deeper[20], com[24];
    snprintf(ind, sizeof ind, "%*s", 2 * depth + 2, "");
    snprintf(deeper, sizeof deeper, "%*s", 2 * depth + 4, "");
    snprintf(com, sizeof com, "%s# ", ind);
    int first = 1;
    for (size_t i = 0; i < FR__N_OPTS; i++) {
        const fr__opt *o = &opts[i];
        char tl[256];
        if (strcmp(o->section, sections[s].name)) continue;
        if (!first) fputc('\n', f);
        first = 0;
        put_lines(f, o->help, com);
        type_line(tl, sizeof tl, o);
        fprintf(f, "%s# type: %s\n", ind, tl);
        fprintf(f, "%s%s:", ind, o->name);
        if (o->sample) fprintf(f, " %s", o->sample);
        else if (d) put_value(f, d, o, deeper);
        fputc('\n', f);
        if (o->commented) {
            char ex[32];
            snprintf(ex, sizeof ex, "%s#   ", ind);
            fprintf(f, "%s# for example:\n", ind);
            fprintf(f, "%s# %s:\n", ind, o->name);
            put_lines(f, o->commented, ex);
        }
    }
    for (size_t t = 0; t < FR__N_SECTIONS; t++)
        if (sections[t].parent && !strcmp(sections[t].parent, sections[s].name)) {
            fputc('\n', f);
            put_lines(f, sections[t].help, com);
            fprintf(f, "%s%s:\n", ind, sections[t].key);
            example_section(f, d, t, depth + 1);
        }
}

static void example_yaml(FILE *f) {
    fr_config *d = fr_config_defaults();
    fputs("# fraudd configuration, read by `fraudd run`: every option with its type,\n"
          "# bounds and default. Generated from the option table in\n"
          "# src/config/config.c by `fraudd check-config --example`; a unit test fails if\n"
          "# the two differ. Check a file with `fraudd check-config FILE`.\n"
          "#\n"
          "# Rules: unknown keys are errors; integers are decimal; booleans are true or\n"
          "# false; ${VAR} and ${VAR:-default} in a value are replaced from the\n"
          "# environment (the default also when VAR is empty), $$ is a literal $, and an\n"
          "# unset VAR without a default is an error.\n",
          f);
    for (size_t s = 0; s < FR__N_SECTIONS; s++) {
        if (sections[s].parent) continue;
        fputc('\n', f);
        put_lines(f, sections[s].help, "# ");
        fprintf(f, "%s:\n", sections[s].name);
        example_section(f, d, s, 0);
    }
    fr_config_free(d);
}

static void put_md(FILE *f, const char *text) {
    for (; *text; text++) {
        if (*text == '\n') fputc(' ', f);
        else if (*text == '|' || *text == '*') fprintf(f, "\\%c", *text);
        else fputc(*text, f);
    }
}

static void reference_md(FILE *f) {
    fputs("<!-- generated by `fraudd check-config --reference` from src/config/config.c -->\n", f);
    for (size_t s = 0; s < FR__N_SECTIONS; s++) {
        fprintf(f, "\n### %s\n\n", sections[s].name);
        put_md(f, sections[s].help);
        fputs("\n\n| option | type and default | meaning |\n|---|---|---|\n", f);
        for (size_t i = 0; i < FR__N_OPTS; i++) {
            const fr__opt *o = &opts[i];
            char tl[256];
            if (strcmp(o->section, sections[s].name)) continue;
            type_line(tl, sizeof tl, o);
            fprintf(f, "| `%s.%s` | ", o->section, o->name);
            put_md(f, tl);
            fputs(" | ", f);
            put_md(f, o->help);
            fputs(" |\n", f);
        }
    }
    fputs("<!-- end of generated reference -->\n", f);
}

void fr_config_example(FILE *f, int markdown) {
    if (markdown) reference_md(f);
    else example_yaml(f);
}

int fr_config_is_secret(const char *key) {
    static const char *const words[] = {"password", "secret", "token", "sasl.oauthbearer.config",
                                        "sasl.jaas.config", "credential", "private"};
    char low[256];
    size_t n;
    if (!key) return 0;
    for (n = 0; key[n] && n + 1 < sizeof low; n++) low[n] = (char)tolower((unsigned char)key[n]);
    low[n] = 0;
    if (key[n]) return 1; /* too long to judge: assume the worst */
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strstr(low, words[i])) return 1;
    /* "key" as a whole segment: ssl.key.pem, ssl.key.password, x.key */
    for (const char *p = low; (p = strstr(p, "key")) != NULL; p++)
        if ((p == low || p[-1] == '.' || p[-1] == '_') && (p[3] == 0 || p[3] == '.' || p[3] == '_')) return 1;
    return 0;
}

const char *fr_ordering_name(fr_ordering o) {
    return (int)o >= 0 && (int)o < 3 ? ordering_names[o] : "?";
}

const char *fr_guarantee_name(fr_guarantee g) {
    return (int)g >= 0 && (int)g < 2 ? guarantee_names[g] : "?";
}

const char *fr_challenger_mode_name(fr_challenger_mode m) {
    return (int)m >= 0 && (int)m < 2 ? challenger_mode_names[m] : "?";
}

const char *fr_log_level_name(fr_log_level l) {
    return (int)l >= 0 && (int)l < 4 ? level_names[l] : "?";
}
