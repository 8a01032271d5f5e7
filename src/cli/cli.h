/* Subcommands of the fraudd binary and what they share. */
#ifndef FR_CLI_H
#define FR_CLI_H

#include <stddef.h>

#include "fraudd/model.h"

enum {
    FR_EXIT_OK = 0,
    FR_EXIT_RUNTIME = 1,  /* I/O or memory failure */
    FR_EXIT_USAGE = 2,    /* bad command line */
    FR_EXIT_MODEL = 3,    /* model could not be loaded */
    FR_EXIT_REJECTED = 4  /* finished, but some records were rejected */
};

int fr__cmd_score(int argc, char **argv);
int fr__cmd_inspect(int argc, char **argv);
int fr__cmd_generate(int argc, char **argv);
int fr__cmd_demo(int argc, char **argv);
int fr__cmd_run(int argc, char **argv);
int fr__cmd_check_config(int argc, char **argv);

/* Loads path, or the embedded default when path is NULL; prints the error
 * on stderr. */
fr_model *fr__cli_load_model(const char *path);

/* Parses a number option; prints an error and returns -1 if it is not one. */
int fr__cli_parse_double(const char *opt, const char *s, double lo, double hi, double *out);
int fr__cli_parse_size(const char *opt, const char *s, size_t lo, size_t hi, size_t *out);

/* Splits "a,b,c" in place into at most max pointers; returns the count. */
size_t fr__cli_split_commas(char *s, const char **out, size_t max);

double fr__cli_now(void);

#endif
