/* libFuzzer target: arbitrary bytes as a config file (fr_config_load_mem).
 *
 * The environment is fixed (fuzz_env below), so runs are reproducible.
 * Invariants, checked with abort():
 *  - never crashes, leaks, reads out of bounds or hits undefined behaviour
 *    (the sanitizers), whatever the nesting, aliases, escapes or ${...};
 *  - exactly one of: a config and an empty error, or no config and an error
 *    that is one line starting with the file name;
 *  - a loaded config dumps to YAML that loads back, and dumping that gives
 *    the same text (fr_config_dump round trip);
 *  - every secret librdkafka property is dumped as "[redacted]".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fraudd/config.h"

#define SECRET "s3cr3t-VALUE"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *fuzz_env(const char *name) {
    if (!strcmp(name, "HOST")) return (char *)"broker:9092";
    if (!strcmp(name, "N")) return (char *)"4";
    if (!strcmp(name, "EMPTY")) return (char *)"";
    if (!strcmp(name, "DOLLAR")) return (char *)"a$b${X}";
    if (!strcmp(name, "KAFKA_SASL_PASSWORD")) return (char *)SECRET;
    return NULL;
}

static char *dump(const fr_config *c, size_t *n) {
    char *buf = NULL;
    FILE *f = open_memstream(&buf, n);
    if (!f) abort();
    fr_config_dump(c, f);
    if (fclose(f)) abort();
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[512];
    fr_config *c = NULL;
    memset(err, 'x', sizeof err); /* garbage: an unterminated message shows */
    int rc = fr_config_load_mem("fuzz.yaml", (const char *)data, size, fuzz_env, &c, err, sizeof err);
    if (!memchr(err, 0, sizeof err)) abort();
    if ((rc == 0) != (c != NULL)) abort();
    if (rc) {
        if (strncmp(err, "fuzz.yaml:", 10) != 0 || strchr(err, '\n')) abort();
        return 0;
    }
    if (err[0]) abort();
    size_t n1, n2;
    char *d1 = dump(c, &n1);
    size_t secrets = 0;
    const fr_kv_list *maps[] = {&c->kafka.properties, &c->kafka.consumer, &c->kafka.producer};
    for (size_t m = 0; m < 3; m++)
        for (size_t i = 0; i < maps[m]->n; i++) secrets += fr_config_is_secret(maps[m]->items[i].key) != 0;
    size_t shown = 0;
    for (const char *p = d1; (p = strstr(p, ": \"[redacted]\"\n")) != NULL; p++) shown++;
    if (shown < secrets) abort(); /* ("[redacted]" may also be a value someone wrote) */
    fr_config *back = NULL;
    if (fr_config_load_mem("fuzz.yaml", d1, n1, fuzz_env, &back, err, sizeof err) != 0) {
        fprintf(stderr, "dump does not load back: %s\n%s", err, d1);
        abort();
    }
    char *d2 = dump(back, &n2);
    if (n1 != n2 || memcmp(d1, d2, n1) != 0) {
        fprintf(stderr, "dump changed on reload:\n%s---\n%s", d1, d2);
        abort();
    }
    free(d1);
    free(d2);
    fr_config_free(back);
    fr_config_free(c);
    return 0;
}
