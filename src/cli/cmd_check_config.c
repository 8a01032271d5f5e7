/* fraudd check-config: loads a config file exactly as `fraudd run` would and
 * prints the effective values (defaults filled in, secrets redacted).
 *
 * Exit codes: 0 valid; 2 invalid (the error names file:line:column) or a bad
 * command line; 1 the file could not be read.
 *
 * Hidden helpers for maintainers, both generated from the option table:
 *   --example     the commented example, config/fraudd.yaml
 *   --reference   the option reference in docs/CONFIG.md
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "fraudd/config.h"
#include "fraudd/err.h"

/* src/config/config.c, internal (not in include/fraudd/config.h) */

static int usage(FILE *f, int rc) {
    fprintf(f, "usage: fraudd check-config FILE [--quiet]\n"
               "  validates FILE (YAML, docs/CONFIG.md) as `fraudd run` would: ${VAR} from the\n"
               "  environment, every rule checked. Prints \"FILE: ok\" on stderr and the\n"
               "  effective configuration (defaults filled in, secrets redacted) on stdout.\n"
               "  --quiet   print only the verdict\n"
               "exit codes: 0 valid, 1 FILE cannot be read, 2 invalid or bad usage\n");
    return rc;
}

int fr__cmd_check_config(int argc, char **argv) {
    const char *path = NULL;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return usage(stdout, FR_EXIT_OK);
        if (!strcmp(argv[i], "--example") || !strcmp(argv[i], "--reference")) {
            fr_config_example(stdout, argv[i][2] == 'r');
            return FR_EXIT_OK;
        }
        if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q")) quiet = 1;
        else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "fraudd check-config: unknown option '%s'\n", argv[i]);
            return usage(stderr, FR_EXIT_USAGE);
        } else if (path) {
            fprintf(stderr, "fraudd check-config: one FILE only\n");
            return usage(stderr, FR_EXIT_USAGE);
        } else {
            path = argv[i];
        }
    }
    if (!path) return usage(stderr, FR_EXIT_USAGE);

    char err[1024];
    fr_config *c = NULL;
    int rc = fr_config_load(path, NULL, &c, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "%s\n", err);
        return rc == FR_EIO || rc == FR_ENOMEM ? FR_EXIT_RUNTIME : FR_EXIT_USAGE;
    }
    fprintf(stderr, "%s: ok\n", path);
    if (!quiet) fr_config_dump(c, stdout);
    fr_config_free(c);
    return FR_EXIT_OK;
}
