/* Proves the configuration module's contract (include/fraudd/config.h):
 *  - config/fraudd.yaml loads, and every option it leaves alone has its
 *    default; the file is exactly what the option table generates, and it
 *    documents every option (docs/CONFIG.md too);
 *  - every rule breaks with "file:line:column: what was expected": unknown
 *    keys (listing the valid ones), duplicates, wrong node kinds, integers
 *    out of bounds or not decimal, powers of two, booleans, enums, the
 *    threshold, topic names, missing required keys, empty files, syntax,
 *    depth, size, several documents, reserved librdkafka properties;
 *  - ${VAR}, ${VAR:-default} and $$ are replaced in values (not keys); an
 *    unset VAR or an unterminated ${ is an error naming the variable;
 *  - secrets are never printed: not by fr_config_dump, not in errors;
 *  - a dump loads back to an equal configuration.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fraudd/config.h"
#include "fraudd/err.h"

/* src/config/config.c, internal: the commented example (0) or the Markdown reference (1). */
void fr_config_example(FILE *f, int markdown);

#define EXAMPLE FR_SOURCE_DIR "/config/fraudd.yaml"
#define REFERENCE FR_SOURCE_DIR "/docs/CONFIG.md"

/* The four required keys, lines 1..5. */
#define BASE                                                                                                  \
    "kafka:\n"                                                                                                \
    "  bootstrap_servers: b:9092\n"                                                                           \
    "  input_topic: in\n"                                                                                     \
    "  output_topic: out\n"                                                                                   \
    "  dead_letter_topic: dlq\n"

static char *fake_env(const char *name) {
    if (!strcmp(name, "KAFKA_BOOTSTRAP")) return (char *)"env-broker:9092";
    if (!strcmp(name, "KAFKA_SASL_PASSWORD")) return (char *)"hunter2";
    if (!strcmp(name, "WORKERS")) return (char *)"8";
    if (!strcmp(name, "EMPTY")) return (char *)"";
    return NULL;
}

static char *no_env(const char *name) {
    (void)name;
    return NULL;
}

static char err[1024];

static int load(const char *yaml, fr_config **c) {
    err[0] = 0;
    return fr_config_load_mem("t.yaml", yaml, strlen(yaml), fake_env, c, err, sizeof err);
}

/* Loads yaml, which must fail with code and exactly the message want. */
static void fails_with(const char *yaml, int code, const char *want) {
    fr_config *c = (fr_config *)(uintptr_t)1;
    int rc = load(yaml, &c);
    if (rc != code || strcmp(err, want) != 0)
        fail_msg("rc %d (want %d)\n got: %s\nwant: %s", rc, code, err, want);
    assert_null(c);
}

/* Loads yaml, which must fail with code and a message starting with prefix. */
static void fails_starting(const char *yaml, int code, const char *prefix) {
    fr_config *c = NULL;
    int rc = load(yaml, &c);
    if (rc != code || strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("rc %d (want %d)\n got: %s\nwant: %s...", rc, code, err, prefix);
    assert_null(c);
}

static fr_config *loads(const char *yaml) {
    fr_config *c = NULL;
    int rc = load(yaml, &c);
    if (rc) fail_msg("unexpected error %d: %s", rc, err);
    assert_non_null(c);
    return c;
}

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = 0;
    fclose(f);
    return b;
}

/* What fn writes to a FILE, as a string. */
static char *capture_dump(const fr_config *c) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    assert_non_null(f);
    fr_config_dump(c, f);
    fclose(f);
    return buf;
}

static char *capture_example(int markdown) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    assert_non_null(f);
    fr_config_example(f, markdown);
    fclose(f);
    return buf;
}

static void assert_defaults_beyond_kafka(const fr_config *c) {
    assert_string_equal(c->kafka.group_id, "fraudd");
    assert_int_equal(c->kafka.properties.n, 0);
    assert_int_equal(c->kafka.consumer.n, 0);
    assert_int_equal(c->kafka.producer.n, 0);
    assert_int_equal(c->kafka.produce_retries, 3);
    assert_int_equal(c->kafka.result_headers, 1);
    assert_int_equal(c->pipeline.workers, 0);
    assert_int_equal(c->pipeline.ring_capacity, 1024);
    assert_int_equal(c->pipeline.batch_size, 64);
    assert_int_equal(c->pipeline.ordering, FR_ORDER_KEY);
    assert_int_equal(c->pipeline.max_in_flight, 0);
    assert_int_equal(c->pipeline.shutdown_timeout_ms, 10000);
    assert_int_equal(c->pipeline.passthrough, 0);
    assert_null(c->model.path);
    assert_true(isnan(c->model.threshold));
    assert_int_equal(c->model.n_passthrough, 0);
    assert_int_equal(c->model.emit_output, 0);
    assert_int_equal(c->model.max_record_bytes, 1048576);
    assert_int_equal(c->http.port, 8080);
    assert_string_equal(c->http.bind, "0.0.0.0");
    assert_int_equal(c->metrics.drift_window_s, 600);
    assert_int_equal(c->metrics.drift_min_records, 1000);
    assert_int_equal(c->logging.format, FR_LOGFMT_JSON);
    assert_int_equal(c->logging.level, FR_LOG_INFO);
    assert_int_equal(c->logging.warn_interval_ms, 1000);
}

/* ---- the example file and the defaults ---------------------------------- */

static void example_file_loads_with_defaults(void **state) {
    (void)state;
    fr_config *c = NULL;
    int rc = fr_config_load(EXAMPLE, no_env, &c, err, sizeof err);
    if (rc) fail_msg("%s", err);
    assert_string_equal(c->path, EXAMPLE);
    assert_string_equal(c->kafka.bootstrap_servers, "127.0.0.1:9092"); /* ${KAFKA_BOOTSTRAP:-...} */
    assert_string_equal(c->kafka.input_topic, "transactions");
    assert_string_equal(c->kafka.output_topic, "scores");
    assert_string_equal(c->kafka.dead_letter_topic, "scores-dlq");
    assert_defaults_beyond_kafka(c);
    fr_config_free(c);
    /* and with the variable set */
    assert_int_equal(fr_config_load(EXAMPLE, fake_env, &c, err, sizeof err), 0);
    assert_string_equal(c->kafka.bootstrap_servers, "env-broker:9092");
    fr_config_free(c);
}

static void minimal_file_gets_every_default(void **state) {
    (void)state;
    fr_config *c = loads(BASE);
    assert_string_equal(c->path, "t.yaml");
    assert_string_equal(c->kafka.bootstrap_servers, "b:9092");
    assert_defaults_beyond_kafka(c);
    fr_config_free(c);
}

static void defaults_leave_required_keys_null(void **state) {
    (void)state;
    fr_config *c = fr_config_defaults();
    assert_non_null(c);
    assert_string_equal(c->path, "<defaults>");
    assert_null(c->kafka.bootstrap_servers);
    assert_null(c->kafka.input_topic);
    assert_null(c->kafka.output_topic);
    assert_null(c->kafka.dead_letter_topic);
    assert_defaults_beyond_kafka(c);
    fr_config_free(c);
    fr_config_free(NULL);
}

static void null_sections_mean_defaults(void **state) {
    (void)state;
    fr_config *c = loads(BASE "pipeline:\nmodel: ~\nhttp:\nlogging:\n");
    assert_defaults_beyond_kafka(c);
    fr_config_free(c);
}

static void every_option_can_be_set(void **state) {
    (void)state;
    fr_config *c = loads(BASE "  group_id: g\n"
                              "  produce_retries: 100\n"
                              "  properties: {security.protocol: SSL}\n"
                              "  consumer:\n    fetch.max.bytes: 1048576\n"
                              "  producer:\n    compression.type: lz4\n    linger.ms: 10\n"
                              "pipeline:\n  workers: 1024\n  ring_capacity: 16\n  batch_size: 256\n"
                              "  ordering: unordered\n  max_in_flight: 5000\n  shutdown_timeout_ms: 100\n"
                              "  passthrough: true\n"
                              "model:\n  path: /m.onnx\n  threshold: 0.25\n  passthrough: [id, a.b.c]\n"
                              "  emit_output: true\n  max_record_bytes: 64\n"
                              "http:\n  port: 0\n  bind: 127.0.0.1\n"
                              "metrics:\n  drift_window_s: 86400\n  drift_min_records: 1\n"
                              "logging:\n  format: text\n  level: error\n  warn_interval_ms: 0\n");
    assert_string_equal(c->kafka.group_id, "g");
    assert_int_equal(c->kafka.produce_retries, 100);
    assert_int_equal(c->kafka.properties.n, 1);
    assert_string_equal(c->kafka.properties.items[0].key, "security.protocol");
    assert_string_equal(c->kafka.properties.items[0].value, "SSL");
    assert_string_equal(c->kafka.consumer.items[0].value, "1048576");
    assert_int_equal(c->kafka.producer.n, 2);
    assert_string_equal(c->kafka.producer.items[1].key, "linger.ms");
    assert_int_equal(c->pipeline.workers, 1024);
    assert_int_equal(c->pipeline.ring_capacity, 16);
    assert_int_equal(c->pipeline.batch_size, 256);
    assert_int_equal(c->pipeline.ordering, FR_ORDER_UNORDERED);
    assert_int_equal(c->pipeline.max_in_flight, 5000);
    assert_int_equal(c->pipeline.shutdown_timeout_ms, 100);
    assert_int_equal(c->pipeline.passthrough, 1);
    assert_string_equal(c->model.path, "/m.onnx");
    assert_true(c->model.threshold == 0.25);
    assert_int_equal(c->model.n_passthrough, 2);
    assert_string_equal(c->model.passthrough[1], "a.b.c");
    assert_int_equal(c->model.emit_output, 1);
    assert_int_equal(c->model.max_record_bytes, 64);
    assert_int_equal(c->http.port, 0);
    assert_string_equal(c->http.bind, "127.0.0.1");
    assert_int_equal(c->metrics.drift_window_s, 86400);
    assert_int_equal(c->metrics.drift_min_records, 1);
    assert_int_equal(c->logging.format, FR_LOGFMT_TEXT);
    assert_int_equal(c->logging.level, FR_LOG_ERROR);
    assert_int_equal(c->logging.warn_interval_ms, 0);
    fr_config_free(c);
}

/* The option paths, as fr_config_dump of the defaults lists them. */
/* Every option's dotted path ("model.challenger.share"), read from the
 * defaults' dump: a line "name:" with nothing after it opens a (nested)
 * section (empty lists and maps dump as [] and {}). */
static size_t option_paths(char paths[][64], size_t max) {
    fr_config *d = fr_config_defaults();
    char *dump = capture_dump(d);
    char scope[4][24] = {""}; /* the section at each depth */
    size_t n = 0;
    for (char *line = strtok(dump, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') continue;
        size_t ind = strspn(line, " ");
        if (line[ind] == '-' || ind % 2 || ind / 2 >= 4) continue;
        size_t depth = ind / 2;
        char name[24];
        assert_int_equal(sscanf(line + ind, "%23[^:]", name), 1);
        if (line[strlen(line) - 1] == ':') {
            snprintf(scope[depth], sizeof scope[depth], "%s", name);
            continue;
        }
        char path[64] = "";
        for (size_t i = 0; i < depth; i++) {
            strcat(path, scope[i]);
            strcat(path, ".");
        }
        char full[96];
        snprintf(full, sizeof full, "%s%s", path, name);
        assert_true(n < max && strlen(full) < 64);
        memcpy(paths[n++], full, strlen(full) + 1);
    }
    free(dump);
    fr_config_free(d);
    return n;
}

static void example_file_documents_every_option(void **state) {
    (void)state;
    char paths[64][64];
    size_t n = option_paths(paths, 64);
    assert_true(n >= 31);
    char *ex = read_all(EXAMPLE);
    for (size_t i = 0; i < n; i++) {
        /* each enclosing "section:\n" in turn, then, later, a comment line
         * directly above "name:", all at their depth's indentation */
        const char *s = ex, *seg = paths[i], *dot;
        int depth = 0;
        char want[96];
        for (; (dot = strchr(seg, '.')); seg = dot + 1, depth++) {
            snprintf(want, sizeof want, "\n%*s%.*s:\n", 2 * depth, "", (int)(dot - seg), seg);
            if (!(s = strstr(s, want))) fail_msg("%s: section missing from config/fraudd.yaml", paths[i]);
        }
        snprintf(want, sizeof want, "\n%*s%s:", 2 * depth, "", seg);
        const char *k = strstr(s, want);
        if (!k) fail_msg("%s: missing from config/fraudd.yaml", paths[i]);
        const char *prev = k - 1;
        while (prev > ex && prev[-1] != '\n') prev--;
        snprintf(want, sizeof want, "%*s# ", 2 * depth, "");
        if (strncmp(prev, want, strlen(want)) != 0) fail_msg("%s: no comment above it in config/fraudd.yaml", paths[i]);
    }
    free(ex);
}

static void challenger_needs_a_source_and_options_of_its_mode(void **state) {
    (void)state;
    fr_config *c = NULL;
    assert_int_equal(load(BASE "model:\n  path: /m/a.onnx\n  challenger:\n    path: /m/b.onnx\n    mode: canary\n"
                              "    share: 0.1\n",
                          &c),
                     0);
    assert_string_equal(c->model.challenger.path, "/m/b.onnx");
    assert_int_equal(c->model.challenger.mode, FR_CHALLENGER_CANARY);
    assert_true(c->model.challenger.share == 0.1);
    assert_true(isnan(c->model.challenger.threshold));
    fr_config_free(c);
    assert_int_equal(load(BASE "model:\n  challenger:\n    url: https://reg/b.onnx\n", &c), 0);
    assert_int_equal(c->model.challenger.mode, FR_CHALLENGER_SHADOW);
    assert_true(isnan(c->model.challenger.share));
    fr_config_free(c);
    /* no challenger at all: every option of the section at its default */
    assert_int_equal(load(BASE "model:\n  challenger:\n", &c), 0);
    assert_null(c->model.challenger.path);
    assert_null(c->model.challenger.url);
    fr_config_free(c);
    fails_with(BASE "model:\n  challenger:\n    share: 0.5\n", FR_EINVAL,
               "t.yaml:8:5: model.challenger.share: there is no challenger (set model.challenger.path or "
               "model.challenger.url)");
    fails_with(BASE "model:\n  challenger:\n    path: /m/b.onnx\n    url: https://reg/b.onnx\n", FR_EINVAL,
               "t.yaml:9:10: model.challenger.url: set either model.challenger.path or model.challenger.url, not both");
    fails_with(BASE "model:\n  path: /m/a.onnx\n  challenger:\n    path: /m/a.onnx\n", FR_EINVAL,
               "t.yaml:9:11: model.challenger.path: the same source as the champion's model.path");
    fails_with(BASE "model:\n  challenger:\n    path: /m/b.onnx\n    mode: canary\n", FR_EMISSING,
               "t.yaml:9:11: model.challenger.share: a canary needs the share of record keys it serves (0 < share < 1)");
    fails_with(BASE "model:\n  challenger:\n    path: /m/b.onnx\n    mode: canary\n    share: 1\n", FR_ERANGE,
               "t.yaml:10:12: model.challenger.share: expected a fraction 0 < share < 1, got 1 (1 would be a "
               "promotion: swap model.path and model.challenger.path instead)");
    fails_with(BASE "model:\n  challenger:\n    path: /m/b.onnx\n    share: 0.2\n", FR_EINVAL,
               "t.yaml:9:5: model.challenger.share: only a canary serves a share; a shadow scores every record");
    fails_with(BASE "model:\n  challenger:\n    path: /m/b.onnx\n    mode: live\n", FR_ETYPE,
               "t.yaml:9:11: model.challenger.mode: expected one of shadow, canary, got \"live\"");
    fails_with(BASE "model:\n  challenger:\n    path: /m/b.onnx\n  challenger: {}\n", FR_EDUPLICATE,
               "t.yaml:9:3: model.challenger: duplicate section (first at 7:3)");
}

static void model_url_must_be_http_and_exclusive_with_path(void **state) {
    (void)state;
    fr_config *c = NULL;
    assert_int_equal(load(BASE "model:\n  url: https://models.internal/fraud/latest.onnx\n  reload_interval_ms: 60000\n", &c), 0);
    assert_string_equal(c->model.url, "https://models.internal/fraud/latest.onnx");
    assert_null(c->model.path);
    assert_int_equal(c->model.reload_interval_ms, 60000);
    assert_int_equal(c->model.max_bytes, 67108864);
    assert_int_equal(c->model.fetch_timeout_ms, 30000);
    fr_config_free(c);
    /* credentials and a signed query never reach the dump */
    assert_int_equal(load(BASE "model:\n  url: https://u:pw@models.internal/m.onnx?sig=abc\n", &c), 0);
    char *dump = NULL;
    size_t dlen = 0;
    FILE *f = open_memstream(&dump, &dlen);
    fr_config_dump(c, f);
    fclose(f);
    assert_non_null(strstr(dump, "\"https://[redacted]@models.internal/m.onnx?[redacted]\""));
    assert_null(strstr(dump, "pw"));
    assert_null(strstr(dump, "sig=abc"));
    free(dump);
    fr_config_free(c);
    fails_with(BASE "model:\n  url: ftp://host/m.onnx\n", FR_ETYPE,
               "t.yaml:7:8: model.url: expected an http:// or https:// URL or null, got \"ftp://host/m.onnx\"");
    fails_with(BASE "model:\n  url: \"http:// x\"\n", FR_ETYPE,
               "t.yaml:7:8: model.url: expected an http:// or https:// URL or null, got \"http:// x\"");
    /* a URL needs a host: "http://#x" would dump as "http://", which does not load back */
    fails_with(BASE "model:\n  url: http://#rels/b.onnx\n", FR_ETYPE,
               "t.yaml:7:8: model.url: expected an http:// or https:// URL or null, got \"http://#[redacted]\"");
    fails_with(BASE "model:\n  url: https://u:pw@/m.onnx\n", FR_ETYPE,
               "t.yaml:7:8: model.url: expected an http:// or https:// URL or null, got \"https://[redacted]@/m.onnx\"");
    fails_with(BASE "model:\n  url: http://?sig=1\n", FR_ETYPE,
               "t.yaml:7:8: model.url: expected an http:// or https:// URL or null, got \"http://?[redacted]\"");
    /* a raw '@' in a password: everything before the last '@' is redacted */
    assert_int_equal(load(BASE "model:\n  url: https://u:p@ss@models.internal/m.onnx\n", &c), 0);
    dump = NULL;
    f = open_memstream(&dump, &dlen);
    fr_config_dump(c, f);
    fclose(f);
    assert_non_null(strstr(dump, "\"https://[redacted]@models.internal/m.onnx\""));
    assert_null(strstr(dump, "ss@"));
    free(dump);
    fr_config_free(c);
    fails_with(BASE "model:\n  path: /m.onnx\n  url: http://host/m.onnx\n", FR_EINVAL,
               "t.yaml:8:8: model.url: set either model.path or model.url, not both");
    fails_with(BASE "model:\n  max_bytes: 10\n", FR_ERANGE,
               "t.yaml:7:14: model.max_bytes: expected an integer in 1024..1073741824, got \"10\"");
}

static void example_file_is_what_the_table_generates(void **state) {
    (void)state;
    char *ex = read_all(EXAMPLE), *gen = capture_example(0);
    if (strcmp(ex, gen) != 0)
        fail_msg("config/fraudd.yaml is out of date: fraudd check-config --example > config/fraudd.yaml");
    free(ex);
    free(gen);
}

static void reference_documents_every_option(void **state) {
    (void)state;
    char *doc = read_all(REFERENCE), *gen = capture_example(1);
    if (!strstr(doc, gen))
        fail_msg("docs/CONFIG.md is out of date: replace its reference with fraudd check-config --reference");
    char paths[64][64], tick[80];
    size_t n = option_paths(paths, 64);
    for (size_t i = 0; i < n; i++) {
        snprintf(tick, sizeof tick, "`%s`", paths[i]);
        if (!strstr(doc, tick)) fail_msg("%s: missing from docs/CONFIG.md", paths[i]);
    }
    free(doc);
    free(gen);
}

/* ---- errors: where and what ----------------------------------------------- */

static void error_messages_name_file_line_column_and_expectation(void **state) {
    (void)state;
    fails_with(BASE "pipeline:\n  workers: many\n", FR_ETYPE,
               "t.yaml:7:12: pipeline.workers: expected an integer in 0..1024, got \"many\"");
    fails_with(BASE "pipeline:\n  workers: 2000\n", FR_ERANGE,
               "t.yaml:7:12: pipeline.workers: expected an integer in 0..1024, got \"2000\"");
    fails_with(BASE "logging:\n  level: loud\n", FR_ETYPE,
               "t.yaml:7:10: logging.level: expected one of debug, info, warn, error, got \"loud\"");
    fails_with("http:\n  port: 80\n  port: 81\n", FR_EDUPLICATE, "t.yaml:3:3: http.port: duplicate key (first at 2:3)");
    fails_with(BASE "  bootstrap: x\n", FR_EINVAL,
               "t.yaml:6:3: kafka: unknown key \"bootstrap\"; valid keys: bootstrap_servers, group_id, input_topic, "
               "output_topic, dead_letter_topic, properties, consumer, producer, produce_retries, result_headers, delivery, "
               "transactional_id, transaction_interval_ms, transaction_max_records");
}

static void unknown_keys_list_the_valid_keys_of_their_section(void **state) {
    (void)state;
    fails_with(BASE "pipeline:\n  wrokers: 4\n", FR_EINVAL,
               "t.yaml:7:3: pipeline: unknown key \"wrokers\"; valid keys: workers, ring_capacity, batch_size, "
               "ordering, max_in_flight, shutdown_timeout_ms, passthrough");
    fails_with(BASE "metric:\n  port: 1\n", FR_EINVAL,
               "t.yaml:6:1: unknown section \"metric\"; valid sections: kafka, pipeline, model, http, metrics, logging");
    fails_with(BASE "metrics:\n  port: 1\n", FR_EINVAL,
               "t.yaml:7:3: metrics: unknown key \"port\"; valid keys: drift_window_s, drift_min_records");
    fails_with(BASE "model:\n  Path: x\n", FR_EINVAL, /* keys are case-sensitive */
               "t.yaml:7:3: model: unknown key \"Path\"; valid keys: path, url, reload_interval_ms, max_bytes, "
               "fetch_timeout_ms, ca_file, threshold, passthrough, emit_output, max_record_bytes, challenger");
    fails_with(BASE "model:\n  challenger:\n    share_: 1\n", FR_EINVAL,
               "t.yaml:8:5: model.challenger: unknown key \"share_\"; valid keys: path, url, mode, share, threshold");
    /* a key that could hold control characters is shown escaped */
    fails_with(BASE "\"a\\tb\": 1\n", FR_EINVAL,
               "t.yaml:6:1: unknown section \"a\\x09b\"; valid sections: kafka, pipeline, model, http, metrics, logging");
}

static void duplicate_keys_are_errors_at_every_level(void **state) {
    (void)state;
    fails_with(BASE "http: {}\nhttp: {}\n", FR_EDUPLICATE, "t.yaml:7:1: http: duplicate section (first at 6:1)");
    fails_with(BASE "  input_topic: again\n", FR_EDUPLICATE,
               "t.yaml:6:3: kafka.input_topic: duplicate key (first at 3:3)");
    fails_with(BASE "  properties:\n    linger.ms: 1\n    linger.ms: 2\n", FR_EDUPLICATE,
               "t.yaml:8:5: kafka.properties: duplicate key \"linger.ms\"");
    fails_with(BASE "model:\n  passthrough: [id, id]\n", FR_EDUPLICATE,
               "t.yaml:7:21: model.passthrough: \"id\" is listed twice");
}

static void wrong_node_kinds_are_errors(void **state) {
    (void)state;
    fails_with(BASE "pipeline:\n  workers: [1, 2]\n", FR_ETYPE,
               "t.yaml:7:12: pipeline.workers: expected an integer in 0..1024, got a list");
    fails_with(BASE "http: 8080\n", FR_ETYPE, "t.yaml:6:7: http: expected a mapping of options (port, bind), got a scalar");
    fails_with("- kafka\n", FR_ETYPE,
               "t.yaml:1:1: expected a mapping of sections (kafka, pipeline, model, http, metrics, logging), got a list");
    fails_with(BASE "  properties: [a]\n", FR_ETYPE,
               "t.yaml:6:15: kafka.properties: expected a mapping of librdkafka properties, got a list");
    fails_with(BASE "  producer:\n    linger.ms: {a: 1}\n", FR_ETYPE,
               "t.yaml:7:16: kafka.producer.linger.ms: expected a scalar value, got a mapping");
    fails_with(BASE "  producer:\n    linger.ms:\n", FR_ETYPE,
               "t.yaml:7:15: kafka.producer.linger.ms: expected a value (write \"\" for an empty one), got null");
    fails_with(BASE "model:\n  passthrough: id\n", FR_ETYPE,
               "t.yaml:7:16: model.passthrough: expected a list of dotted field names, got a scalar");
    fails_with(BASE "model:\n  passthrough: [[id]]\n", FR_ETYPE,
               "t.yaml:7:17: model.passthrough: expected a dotted field name, got a list");
    fails_with(BASE "? [a]\n: 1\n", FR_ETYPE, "t.yaml:6:3: top level: expected a key name, got a list");
    fails_with(BASE "  group_id:\n", FR_ETYPE, "t.yaml:6:12: kafka.group_id: expected a non-empty string, got null");
}

static void integers_are_decimal_and_within_bounds(void **state) {
    (void)state;
    static const char *bad[] = {"0x10", "1e2", "1.0", "+5", "-1", "1025", "99999999999999999999999", "1_000", "\"\""};
    char yaml[256], want[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(yaml, sizeof yaml, BASE "pipeline:\n  workers: %s\n", bad[i]);
        const char *shown = bad[i][0] == '"' ? "" : bad[i];
        snprintf(want, sizeof want, "t.yaml:7:12: pipeline.workers: expected an integer in 0..1024, got \"%s\"", shown);
        fr_config *c = NULL;
        assert_true(load(yaml, &c) < 0);
        assert_string_equal(err, want);
    }
    fails_with(BASE "model:\n  max_record_bytes: 63\n", FR_ERANGE,
               "t.yaml:7:21: model.max_record_bytes: expected an integer in 64..67108864, got \"63\"");
    /* the drift window: 10 s to a day */
    fails_with(BASE "metrics:\n  drift_window_s: 9\n", FR_ERANGE,
               "t.yaml:7:19: metrics.drift_window_s: expected an integer in 10..86400, got \"9\"");
    fails_with(BASE "metrics:\n  drift_window_s: 86401\n", FR_ERANGE,
               "t.yaml:7:19: metrics.drift_window_s: expected an integer in 10..86400, got \"86401\"");
    fails_with(BASE "metrics:\n  drift_min_records: 0\n", FR_ERANGE,
               "t.yaml:7:22: metrics.drift_min_records: expected an integer in 1..1000000000, got \"0\"");
    fails_with(BASE "kafka_x: 1\n", FR_EINVAL,
               "t.yaml:6:1: unknown section \"kafka_x\"; valid sections: kafka, pipeline, model, http, metrics, logging");
    /* bounds are inclusive, leading zeros are decimal */
    fr_config *c = loads(BASE "pipeline:\n  workers: 0\n  batch_size: 001\nhttp:\n  port: 65535\n");
    assert_int_equal(c->pipeline.batch_size, 1);
    assert_int_equal(c->http.port, 65535);
    fr_config_free(c);
    /* quoted digits are still an integer (the same text) */
    c = loads(BASE "pipeline:\n  workers: \"7\"\n");
    assert_int_equal(c->pipeline.workers, 7);
    fr_config_free(c);
}

static void ring_capacity_must_be_a_power_of_two(void **state) {
    (void)state;
    fails_with(BASE "pipeline:\n  ring_capacity: 1000\n", FR_ERANGE,
               "t.yaml:7:18: pipeline.ring_capacity: expected a power of two in 16..1048576, got \"1000\"");
    fails_with(BASE "pipeline:\n  ring_capacity: 8\n", FR_ERANGE,
               "t.yaml:7:18: pipeline.ring_capacity: expected a power of two in 16..1048576, got \"8\"");
    fails_with(BASE "pipeline:\n  ring_capacity: 2097152\n", FR_ERANGE,
               "t.yaml:7:18: pipeline.ring_capacity: expected a power of two in 16..1048576, got \"2097152\"");
    fr_config *c = loads(BASE "pipeline:\n  ring_capacity: 1048576\n");
    assert_int_equal(c->pipeline.ring_capacity, 1048576);
    fr_config_free(c);
}

static void booleans_are_only_true_or_false(void **state) {
    (void)state;
    fails_with(BASE "model:\n  emit_output: yes\n", FR_ETYPE,
               "t.yaml:7:16: model.emit_output: expected true or false, got \"yes\"");
    fails_with(BASE "model:\n  emit_output: True\n", FR_ETYPE,
               "t.yaml:7:16: model.emit_output: expected true or false, got \"True\"");
    fails_with(BASE "pipeline:\n  passthrough: 1\n", FR_ETYPE,
               "t.yaml:7:16: pipeline.passthrough: expected true or false, got \"1\"");
}

static void threshold_is_a_positive_finite_number_or_null(void **state) {
    (void)state;
    static const char *bad[] = {"0", "-0.5", "inf", ".inf", "nan", "1e999", "0x1p3", "high"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char yaml[256], want[256];
        snprintf(yaml, sizeof yaml, BASE "model:\n  threshold: %s\n", bad[i]);
        snprintf(want, sizeof want, "t.yaml:7:14: model.threshold: expected a finite number > 0 or null, got \"%s\"",
                 bad[i]);
        fr_config *c = NULL;
        assert_true(load(yaml, &c) < 0);
        assert_string_equal(err, want);
        assert_null(c);
    }
    static const char *nulls[] = {"null", "~", "", "Null", "${EMPTY:-}"};
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++) {
        char yaml[256];
        snprintf(yaml, sizeof yaml, BASE "model:\n  threshold: %s\n", nulls[i]);
        fr_config *c = loads(yaml);
        assert_true(isnan(c->model.threshold));
        fr_config_free(c);
    }
    fr_config *c = loads(BASE "model:\n  threshold: 1.5e-3\n  path: null\n");
    assert_true(c->model.threshold == 1.5e-3);
    assert_null(c->model.path);
    fr_config_free(c);
}

static void enums_accept_only_their_names(void **state) {
    (void)state;
    fails_with(BASE "pipeline:\n  ordering: Key\n", FR_ETYPE,
               "t.yaml:7:13: pipeline.ordering: expected one of key, partition, unordered, got \"Key\"");
    fails_with(BASE "logging:\n  format: yaml\n", FR_ETYPE,
               "t.yaml:7:11: logging.format: expected one of json, text, got \"yaml\"");
    fr_config *c = loads(BASE "pipeline:\n  ordering: partition\nlogging:\n  level: debug\n");
    assert_int_equal(c->pipeline.ordering, FR_ORDER_PARTITION);
    assert_int_equal(c->logging.level, FR_LOG_DEBUG);
    fr_config_free(c);
    assert_string_equal(fr_ordering_name(FR_ORDER_KEY), "key");
    assert_string_equal(fr_ordering_name(FR_ORDER_UNORDERED), "unordered");
    assert_string_equal(fr_log_level_name(FR_LOG_WARN), "warn");
    assert_string_equal(fr_log_level_name((fr_log_level)9), "?");
}

/* Regression (fault issue #3): max_in_flight above what the producer's
 * queue holds let the run thread wait for room only it can free. */
static void max_in_flight_must_stay_below_the_producer_queue(void **state) {
    (void)state;
    fails_with(BASE "pipeline:\n  max_in_flight: 200000\n", FR_EINVAL,
               "t.yaml:7:18: pipeline.max_in_flight: 200000 records in flight need a producer queue of at least "
               "200001 messages (queue.buffering.max.messages, fraudd's default 200000); lower max_in_flight or "
               "raise kafka.producer.queue.buffering.max.messages");
    fails_with(BASE "  producer:\n    queue.buffering.max.messages: \"5000\"\npipeline:\n  max_in_flight: 5000\n",
               FR_EINVAL,
               "t.yaml:9:18: pipeline.max_in_flight: 5000 records in flight need a producer queue of at least 5001 "
               "messages (queue.buffering.max.messages, kafka.producer 5000); lower max_in_flight or raise "
               "kafka.producer.queue.buffering.max.messages");
    /* the derived default, when workers is known */
    fails_with(BASE "pipeline:\n  workers: 128\n  ring_capacity: 1024\n", FR_EINVAL,
               "t.yaml:7:3: pipeline.max_in_flight: 262144 records in flight need a producer queue of at least "
               "262145 messages (queue.buffering.max.messages, fraudd's default 200000); lower max_in_flight or "
               "raise kafka.producer.queue.buffering.max.messages");
    fr_config *c = loads(BASE "  producer:\n    queue.buffering.max.messages: \"300000\"\npipeline:\n  max_in_flight: "
                              "250000\n");
    fr_config_free(c);
    c = loads(BASE "pipeline:\n  max_in_flight: 199999\n");
    fr_config_free(c);
}

static void topics_are_legal_names_and_differ_from_the_input(void **state) {
    (void)state;
    fails_with("kafka:\n  bootstrap_servers: b\n  input_topic: \"my topic\"\n", FR_ETYPE,
               "t.yaml:3:16: kafka.input_topic: expected a Kafka topic name (1..249 of a-z A-Z 0-9 . _ -), got "
               "\"my topic\"");
    fails_with("kafka:\n  bootstrap_servers: b\n  input_topic: in\n  output_topic: in\n  dead_letter_topic: d\n",
               FR_EINVAL,
               "t.yaml:4:17: kafka.output_topic: must differ from kafka.input_topic (fraudd would read its own output)");
    fails_with("kafka:\n  bootstrap_servers: b\n  input_topic: in\n  output_topic: o\n  dead_letter_topic: in\n",
               FR_EINVAL,
               "t.yaml:5:22: kafka.dead_letter_topic: must differ from kafka.input_topic (fraudd would read its own "
               "output)");
}

static void passthrough_fields_are_dotted_names(void **state) {
    (void)state;
    fails_with(BASE "model:\n  passthrough: [a..b]\n", FR_EINVAL,
               "t.yaml:7:17: model.passthrough: expected a dotted field name (non-empty segments, at most 8), got "
               "\"a..b\"");
    fails_with(BASE "model:\n  passthrough: [a.b.c.d.e.f.g.h.i]\n", FR_EINVAL,
               "t.yaml:7:17: model.passthrough: expected a dotted field name (non-empty segments, at most 8), got "
               "\"a.b.c.d.e.f.g.h.i\"");
}

static void missing_required_keys_are_named_at_the_kafka_section(void **state) {
    (void)state;
    fails_with("pipeline:\n  workers: 2\nkafka:\n  bootstrap_servers: b\n  output_topic: o\n", FR_EMISSING,
               "t.yaml:3:1: missing required kafka.input_topic, kafka.dead_letter_topic");
    fails_with("http:\n  port: 1\n", FR_EMISSING,
               "t.yaml:1:1: missing required kafka.bootstrap_servers, kafka.input_topic, kafka.output_topic, "
               "kafka.dead_letter_topic");
    fails_with("kafka:\n  bootstrap_servers: b\n  input_topic: ~\n", FR_EMISSING,
               "t.yaml:3:16: kafka.input_topic: expected a Kafka topic name (1..249 of a-z A-Z 0-9 . _ -), got null");
}

static void empty_file_names_every_required_key(void **state) {
    (void)state;
    static const char *empties[] = {"", "# only a comment\n", "---\n", "~\n", "\n\n"};
    for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++)
        fails_with(empties[i], FR_EMISSING,
                   "t.yaml:1:1: empty configuration: missing required kafka.bootstrap_servers, kafka.input_topic, "
                   "kafka.output_topic, kafka.dead_letter_topic");
}

static void syntax_errors_have_a_location(void **state) {
    (void)state;
    fails_with(BASE "pipeline:\n  workers: [1\n", FR_EPARSE,
               "t.yaml:8:1: invalid YAML: did not find expected ',' or ']' while parsing a flow sequence");
    fails_starting(BASE "pipeline: workers: 1\n", FR_EPARSE, "t.yaml:6:18: invalid YAML: ");
    fails_with(BASE "pipeline: *nowhere\n", FR_EPARSE, "t.yaml:6:11: invalid YAML: found undefined alias");
    fails_starting("kafka:\n  bootstrap_servers: \"\xff\"\n", FR_EPARSE, "t.yaml:2:23: invalid YAML: ");
    fails_with(BASE "---\nhttp: {}\n", FR_EPARSE, "t.yaml:6:1: expected one YAML document, found a second one");
}

static void deep_nesting_and_big_files_are_refused(void **state) {
    (void)state;
    fails_with("a: [[[[[[[[[1]]]]]]]]]\n", FR_EUNSUPPORTED, "t.yaml:1:11: collections nested deeper than 8 levels");
    /* 100000 levels: refused quickly, without building the tree */
    size_t n = 100000;
    char *deep = malloc(n + 1);
    memset(deep, '[', n);
    deep[n] = 0;
    fails_with(deep, FR_EUNSUPPORTED, "t.yaml:1:9: collections nested deeper than 8 levels");
    free(deep);
    size_t big = (1u << 20) + 1;
    char *huge = malloc(big);
    memset(huge, '#', big);
    fr_config *c = NULL;
    assert_int_equal(fr_config_load_mem("big.yaml", huge, big, fake_env, &c, err, sizeof err), FR_ETOOBIG);
    assert_string_equal(err, "big.yaml: 1048577 bytes, over the 1048576 byte (1 MiB) limit");
    assert_null(c);
    free(huge);
    /* a NUL byte in a value (YAML "\0") */
    fails_with(BASE "http:\n  bind: \"a\\0b\"\n", FR_ETYPE, "t.yaml:7:9: http.bind: the value contains a NUL character");
}

static void unreadable_file_is_an_io_error_naming_it(void **state) {
    (void)state;
    fr_config *c = NULL;
    assert_int_equal(fr_config_load("/nonexistent/fraudd.yaml", NULL, &c, err, sizeof err), FR_EIO);
    assert_string_equal(err, "/nonexistent/fraudd.yaml: cannot open: No such file or directory");
    assert_null(c);
}

/* ---- environment substitution ---------------------------------------------- */

static void env_substitution_replaces_vars_defaults_and_dollars(void **state) {
    (void)state;
    fr_config *c = loads("kafka:\n"
                         "  bootstrap_servers: ${KAFKA_BOOTSTRAP}\n"
                         "  input_topic: ${NOPE:-in}\n"
                         "  output_topic: \"${EMPTY:-out}\"\n" /* empty counts as unset */
                         "  dead_letter_topic: x${NOPE:-}y\n"
                         "  group_id: a$$b$c$\n"
                         "  properties:\n"
                         "    sasl.username: u-${WORKERS}-$${NOPE}\n"
                         "pipeline:\n"
                         "  workers: ${WORKERS}\n"
                         "model:\n"
                         "  passthrough: [\"${NOPE:-id}\"]\n");
    assert_string_equal(c->kafka.bootstrap_servers, "env-broker:9092");
    assert_string_equal(c->kafka.input_topic, "in");
    assert_string_equal(c->kafka.output_topic, "out");
    assert_string_equal(c->kafka.dead_letter_topic, "xy");
    assert_string_equal(c->kafka.group_id, "a$b$c$");
    assert_string_equal(c->kafka.properties.items[0].value, "u-8-${NOPE}");
    assert_int_equal(c->pipeline.workers, 8);
    assert_string_equal(c->model.passthrough[0], "id");
    fr_config_free(c);
}

static void env_substitution_applies_to_values_not_keys(void **state) {
    (void)state;
    fails_with(BASE "  properties:\n    ${KAFKA_BOOTSTRAP}: x\n", FR_EINVAL,
               "t.yaml:7:5: kafka.properties: expected a librdkafka property name (a-z 0-9 . _ -), got "
               "\"${KAFKA_BOOTSTRAP}\"");
}

static void unset_env_var_is_an_error_naming_it(void **state) {
    (void)state;
    fails_with("kafka:\n  bootstrap_servers: ${KAFKA_BROKERS}\n", FR_EMISSING,
               "t.yaml:2:22: kafka.bootstrap_servers: environment variable KAFKA_BROKERS is not set (give a default "
               "with ${KAFKA_BROKERS:-value})");
    fails_with(BASE "http:\n  bind: ${EMPTY}\n", FR_EMISSING,
               "t.yaml:7:9: http.bind: environment variable EMPTY is empty (give a default with ${EMPTY:-value})");
    /* a secret: the error names the variable, never a value */
    fails_with(BASE "  properties:\n    sasl.password: \"${KAFKA_SASL_PASSWORD}${NOPE}\"\n", FR_EMISSING,
               "t.yaml:7:20: kafka.properties.sasl.password: environment variable NOPE is not set (give a default "
               "with ${NOPE:-value})");
    assert_null(strstr(err, "hunter2"));
}

static void unterminated_or_malformed_reference_is_an_error(void **state) {
    (void)state;
    fails_with(BASE "http:\n  bind: ${HOST\n", FR_EPARSE,
               "t.yaml:7:9: http.bind: unterminated \"${\": expected ${VAR} or ${VAR:-default} (write $$ for a "
               "literal $)");
    fails_with(BASE "http:\n  bind: ${1X}\n", FR_EPARSE,
               "t.yaml:7:9: http.bind: expected a variable name ([A-Za-z_][A-Za-z0-9_]*) in \"${...}\", then \"}\" "
               "or \":-default}\"");
    fails_with(BASE "http:\n  bind: ${A-b}\n", FR_EPARSE,
               "t.yaml:7:9: http.bind: expected a variable name ([A-Za-z_][A-Za-z0-9_]*) in \"${...}\", then \"}\" "
               "or \":-default}\"");
    fails_with(BASE "http:\n  bind: \"${}\"\n", FR_EPARSE,
               "t.yaml:7:9: http.bind: expected a variable name ([A-Za-z_][A-Za-z0-9_]*) in \"${...}\", then \"}\" "
               "or \":-default}\"");
}

/* ---- librdkafka maps and secrets ---------------------------------------------- */

static void kv_values_are_kept_as_written(void **state) {
    (void)state;
    fr_config *c = loads(BASE "  properties:\n"
                              "    enable.ssl.certificate.verification: true\n"
                              "    socket.timeout.ms: 060000\n"
                              "    client.rack: \"\"\n"
                              "    sasl.kerberos.kinit.cmd: 'kinit -k'\n");
    assert_int_equal(c->kafka.properties.n, 4);
    assert_string_equal(c->kafka.properties.items[0].value, "true");
    assert_string_equal(c->kafka.properties.items[1].value, "060000");
    assert_string_equal(c->kafka.properties.items[2].value, "");
    assert_string_equal(c->kafka.properties.items[3].value, "kinit -k");
    fr_config_free(c);
}

static void reserved_librdkafka_properties_are_refused(void **state) {
    (void)state;
    fails_with(BASE "  consumer:\n    enable.auto.offset.store: true\n", FR_EINVAL,
               "t.yaml:7:5: kafka.consumer: \"enable.auto.offset.store\" is reserved: fraudd fixes it to false and "
               "stores an offset only after its result is delivered (at-least-once)");
    fails_with(BASE "  consumer:\n    group.id: other\n", FR_EINVAL,
               "t.yaml:7:5: kafka.consumer: \"group.id\" is reserved: use kafka.group_id instead");
    fails_with(BASE "  properties:\n    Bootstrap.Servers: x:1\n", FR_EINVAL,
               "t.yaml:7:5: kafka.properties: \"Bootstrap.Servers\" is reserved: use kafka.bootstrap_servers instead");
    fails_with(BASE "  producer:\n    enable.idempotence: false\n", FR_EINVAL,
               "t.yaml:7:5: kafka.producer: \"enable.idempotence\" is reserved: fraudd fixes it to true so retries "
               "cannot duplicate or reorder results");
}

static void exactly_once_refuses_properties_that_contradict_it(void **state) {
    (void)state;
    /* the defaults, and every option of the mode */
    fr_config *c = loads(BASE "  delivery: exactly_once\n");
    assert_int_equal(c->kafka.delivery, FR_EXACTLY_ONCE);
    assert_null(c->kafka.transactional_id);
    assert_int_equal(c->kafka.transaction_interval_ms, 100);
    assert_int_equal(c->kafka.transaction_max_records, 20000);
    fr_config_free(c);
    c = loads(BASE "  delivery: exactly_once\n  transactional_id: fraudd-${KAFKA_BOOTSTRAP}\n"
                   "  transaction_interval_ms: 1000\n  transaction_max_records: 5\n"
                   "  producer:\n    acks: all\n    transaction.timeout.ms: \"2000\"\n"
                   "  consumer:\n    enable.auto.commit: \"false\"\n    isolation.level: read_committed\n");
    assert_string_equal(c->kafka.transactional_id, "fraudd-env-broker:9092");
    assert_int_equal(c->kafka.transaction_interval_ms, 1000);
    assert_int_equal(c->kafka.transaction_max_records, 5);
    fr_config_free(c);
    fails_with(BASE "  delivery: exactly_once\n  producer:\n    acks: \"1\"\n", FR_EINVAL,
               "t.yaml:6:13: kafka.delivery: exactly_once needs acks=all (a transactional producer), but "
               "kafka.producer.acks is 1");
    fails_with(BASE "  delivery: exactly_once\n  properties:\n    acks: \"0\"\n", FR_EINVAL,
               "t.yaml:6:13: kafka.delivery: exactly_once needs acks=all (a transactional producer), but "
               "kafka.properties.acks is 0");
    fails_with(BASE "  delivery: exactly_once\n  consumer:\n    enable.auto.commit: \"true\"\n", FR_EINVAL,
               "t.yaml:6:13: kafka.delivery: exactly_once commits offsets only inside its transactions, but "
               "kafka.consumer.enable.auto.commit is true (remove it)");
    fails_with(BASE "  delivery: exactly_once\n  properties:\n    isolation.level: read_uncommitted\n", FR_EINVAL,
               "t.yaml:6:13: kafka.delivery: exactly_once reads the input read_committed (aborted records must not "
               "be scored), but kafka.properties.isolation.level is read_uncommitted (remove it)");
    fails_with(BASE "  delivery: exactly_once\n  transaction_interval_ms: 40000\n", FR_EINVAL,
               "t.yaml:7:28: kafka.transaction_interval_ms: 40000 is more than half of the producer's "
               "transaction.timeout.ms (librdkafka's default 60000): the coordinator would abort transactions "
               "before fraudd commits them");
    fails_with(BASE "  delivery: exactly_once\n  producer:\n    transaction.timeout.ms: \"150\"\n", FR_EINVAL,
               "t.yaml:6:13: kafka.transaction_interval_ms: 100 is more than half of the producer's "
               "transaction.timeout.ms (kafka.producer 150): the coordinator would abort transactions before "
               "fraudd commits them");
    fails_with(BASE "  transactional_id: x\n", FR_EINVAL,
               "t.yaml:6:21: kafka.transactional_id: only used with kafka.delivery: exactly_once (delivery is "
               "at_least_once)");
    fails_with(BASE "  producer:\n    transactional.id: x\n", FR_EINVAL,
               "t.yaml:7:5: kafka.producer: \"transactional.id\" is reserved: use kafka.transactional_id (with "
               "kafka.delivery: exactly_once) instead");
    fails_starting(BASE "  delivery: exactly-once\n", FR_ETYPE,
                   "t.yaml:6:13: kafka.delivery: expected one of at_least_once, exactly_once, got");
    /* the at-least-once mode leaves those properties to the user */
    c = loads(BASE "  producer:\n    acks: \"1\"\n  consumer:\n    isolation.level: read_uncommitted\n");
    fr_config_free(c);
}

static void secret_property_names_are_recognised(void **state) {
    (void)state;
    static const char *secret[] = {"sasl.password", "ssl.key.password", "ssl.keystore.password", "ssl.key.pem",
                                   "sasl.oauthbearer.config", "sasl.jaas.config", "sasl.oauthbearer.client.secret",
                                   "SASL.PASSWORD", "my.token", "ssl.key"};
    static const char *plain[] = {"security.protocol", "sasl.username", "ssl.ca.location", "ssl.keystore.location",
                                  "linger.ms", "sasl.mechanisms", "ssl.certificate.pem", "sasl.kerberos.keytab"};
    for (size_t i = 0; i < sizeof secret / sizeof secret[0]; i++)
        if (!fr_config_is_secret(secret[i])) fail_msg("%s should be secret", secret[i]);
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        if (fr_config_is_secret(plain[i])) fail_msg("%s should not be secret", plain[i]);
    assert_false(fr_config_is_secret(NULL));
}

static void dump_redacts_secrets(void **state) {
    (void)state;
    fr_config *c = loads(BASE "  properties:\n"
                              "    sasl.username: fraudd\n"
                              "    sasl.password: ${KAFKA_SASL_PASSWORD}\n"
                              "  producer:\n"
                              "    ssl.key.pem: \"-----BEGIN hunter2\"\n");
    assert_string_equal(c->kafka.properties.items[1].value, "hunter2");
    char *d = capture_dump(c);
    assert_null(strstr(d, "hunter2"));
    assert_non_null(strstr(d, "    sasl.password: \"[redacted]\"\n"));
    assert_non_null(strstr(d, "    ssl.key.pem: \"[redacted]\"\n"));
    assert_non_null(strstr(d, "    sasl.username: \"fraudd\"\n"));
    assert_non_null(strstr(d, "  threshold: null\n"));
    assert_non_null(strstr(d, "  path: null\n"));
    free(d);
    fr_config_free(c);
}

static void assert_same_kv(const fr_kv_list *a, const fr_kv_list *b) {
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_string_equal(a->items[i].key, b->items[i].key);
        assert_string_equal(a->items[i].value, b->items[i].value);
    }
}

static void assert_same_config(const fr_config *a, const fr_config *b) {
    assert_string_equal(a->kafka.bootstrap_servers, b->kafka.bootstrap_servers);
    assert_string_equal(a->kafka.group_id, b->kafka.group_id);
    assert_string_equal(a->kafka.input_topic, b->kafka.input_topic);
    assert_string_equal(a->kafka.output_topic, b->kafka.output_topic);
    assert_string_equal(a->kafka.dead_letter_topic, b->kafka.dead_letter_topic);
    assert_same_kv(&a->kafka.properties, &b->kafka.properties);
    assert_same_kv(&a->kafka.consumer, &b->kafka.consumer);
    assert_same_kv(&a->kafka.producer, &b->kafka.producer);
    assert_int_equal(a->kafka.produce_retries, b->kafka.produce_retries);
    assert_int_equal(a->kafka.result_headers, b->kafka.result_headers);
    assert_memory_equal(&a->pipeline, &b->pipeline, sizeof a->pipeline);
    if (a->model.path || b->model.path) assert_string_equal(a->model.path, b->model.path);
    assert_memory_equal(&a->model.threshold, &b->model.threshold, sizeof(double));
    assert_int_equal(a->model.n_passthrough, b->model.n_passthrough);
    for (size_t i = 0; i < a->model.n_passthrough; i++)
        assert_string_equal(a->model.passthrough[i], b->model.passthrough[i]);
    assert_int_equal(a->model.emit_output, b->model.emit_output);
    assert_int_equal(a->model.max_record_bytes, b->model.max_record_bytes);
    assert_int_equal(a->http.port, b->http.port);
    assert_string_equal(a->http.bind, b->http.bind);
    assert_memory_equal(&a->metrics, &b->metrics, sizeof a->metrics);
    assert_memory_equal(&a->logging, &b->logging, sizeof a->logging);
}

static void round_trip(const char *yaml) {
    fr_config *a = loads(yaml);
    char *d = capture_dump(a);
    fr_config *b = NULL;
    if (fr_config_load_mem("dump", d, strlen(d), no_env, &b, err, sizeof err))
        fail_msg("the dump does not load: %s\n%s", err, d);
    assert_same_config(a, b);
    char *d2 = capture_dump(b);
    assert_string_equal(d + strcspn(d, "\n"), d2 + strcspn(d2, "\n")); /* all but the comment naming the file */
    free(d);
    free(d2);
    fr_config_free(a);
    fr_config_free(b);
}

static void dump_loads_back_to_an_equal_config(void **state) {
    (void)state;
    round_trip(BASE);
    round_trip(BASE "  group_id: \"g \\\"q\\\" \\\\ $$x ${NOPE:-}\"\n"
                    "  properties:\n    security.protocol: SASL_SSL\n    client.rack: \"\"\n"
                    "  consumer:\n    fetch.wait.max.ms: 5\n"
                    "  producer:\n    compression.type: zstd\n"
                    "pipeline:\n  workers: 3\n  ordering: partition\n  passthrough: true\n"
                    "model:\n  path: \"/models/a b.onnx\"\n  threshold: 0.1\n  passthrough: [id, \"m.x$$y\"]\n"
                    "http:\n  port: 9\n  bind: \"::1\"\n"
                    "logging:\n  format: text\n  level: warn\n");
    round_trip(BASE "model:\n  threshold: 1e-300\nhttp:\n  bind: \"tab\\there\\nnewline\\x01\"\n");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(example_file_loads_with_defaults),
        cmocka_unit_test(model_url_must_be_http_and_exclusive_with_path),
        cmocka_unit_test(challenger_needs_a_source_and_options_of_its_mode),
        cmocka_unit_test(minimal_file_gets_every_default),
        cmocka_unit_test(defaults_leave_required_keys_null),
        cmocka_unit_test(null_sections_mean_defaults),
        cmocka_unit_test(every_option_can_be_set),
        cmocka_unit_test(example_file_documents_every_option),
        cmocka_unit_test(example_file_is_what_the_table_generates),
        cmocka_unit_test(reference_documents_every_option),
        cmocka_unit_test(error_messages_name_file_line_column_and_expectation),
        cmocka_unit_test(unknown_keys_list_the_valid_keys_of_their_section),
        cmocka_unit_test(duplicate_keys_are_errors_at_every_level),
        cmocka_unit_test(wrong_node_kinds_are_errors),
        cmocka_unit_test(integers_are_decimal_and_within_bounds),
        cmocka_unit_test(ring_capacity_must_be_a_power_of_two),
        cmocka_unit_test(booleans_are_only_true_or_false),
        cmocka_unit_test(threshold_is_a_positive_finite_number_or_null),
        cmocka_unit_test(enums_accept_only_their_names),
        cmocka_unit_test(topics_are_legal_names_and_differ_from_the_input),
        cmocka_unit_test(max_in_flight_must_stay_below_the_producer_queue),
        cmocka_unit_test(passthrough_fields_are_dotted_names),
        cmocka_unit_test(missing_required_keys_are_named_at_the_kafka_section),
        cmocka_unit_test(empty_file_names_every_required_key),
        cmocka_unit_test(syntax_errors_have_a_location),
        cmocka_unit_test(deep_nesting_and_big_files_are_refused),
        cmocka_unit_test(unreadable_file_is_an_io_error_naming_it),
        cmocka_unit_test(env_substitution_replaces_vars_defaults_and_dollars),
        cmocka_unit_test(env_substitution_applies_to_values_not_keys),
        cmocka_unit_test(unset_env_var_is_an_error_naming_it),
        cmocka_unit_test(unterminated_or_malformed_reference_is_an_error),
        cmocka_unit_test(kv_values_are_kept_as_written),
        cmocka_unit_test(reserved_librdkafka_properties_are_refused),
        cmocka_unit_test(exactly_once_refuses_properties_that_contradict_it),
        cmocka_unit_test(secret_property_names_are_recognised),
        cmocka_unit_test(dump_redacts_secrets),
        cmocka_unit_test(dump_loads_back_to_an_equal_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
