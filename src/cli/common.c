/* Helpers shared by the subcommands. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

fr_model *fr__cli_load_model(const char *path) {
    char err[512];
    fr_model *m = NULL;
    int rc = path ? fr_model_load_file(path, &m, err, sizeof err) : fr_model_load_default(&m, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "fraudd: cannot load model: %s\n", err);
        return NULL;
    }
    return m;
}

int fr__cli_parse_double(const char *opt, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "fraudd: %s: expected a number in [%g, %g], got '%s'\n", opt, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

int fr__cli_parse_size(const char *opt, const char *s, size_t lo, size_t hi, size_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end || errno || s[0] == '-' || v < lo || v > hi) {
        fprintf(stderr, "fraudd: %s: expected a whole number in [%zu, %zu], got '%s'\n", opt, lo, hi, s);
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

size_t fr__cli_split_commas(char *s, const char **out, size_t max) {
    size_t n = 0;
    for (char *tok = strtok(s, ","); tok && n < max; tok = strtok(NULL, ","))
        if (*tok) out[n++] = tok;
    return n;
}

double fr__cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
