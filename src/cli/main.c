/* fraudd entry point: reads the subcommand and hands over.
 *
 *   fraudd run        the streaming daemon: Kafka in, score, Kafka out
 *   fraudd check-config  validate a YAML config and print the effective values
 *   fraudd score      offline scoring of a file of JSON transactions
 *   fraudd inspect    what a model file holds and how it compiles
 *   fraudd generate   the sample transaction stream
 *   fraudd demo       generate + score in-process, print a summary
 *
 * Exit codes (docs/CLI.md): 0 success; 1 runtime failure (I/O, memory);
 * 2 usage error; 3 the model could not be loaded; 4 finished, but some
 * records were rejected.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} cmds[] = {
    {"run", fr__cmd_run, "run the streaming daemon (Kafka in, scores and dead letters out)"},
    {"check-config", fr__cmd_check_config, "validate a YAML config file and print the effective values"},
    {"score", fr__cmd_score, "score JSON transactions from a file or stdin"},
    {"inspect", fr__cmd_inspect, "show a model's inputs, features, compiled layers, threshold"},
    {"generate", fr__cmd_generate, "write sample JSON transactions (with injected anomalies)"},
    {"demo", fr__cmd_demo, "score a generated sample stream with the built-in model"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: fraudd <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) fprintf(f, "  %-13s %s\n", cmds[i].name, cmds[i].summary);
    fprintf(f, "\n'fraudd <command> --help' describes each command.\n"
               "  --version   print the version\n  --help      this text\n"
               "exit codes: 0 ok, 1 runtime error, 2 usage error, 3 model error, 4 some records rejected\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return FR_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("fraudd %s\n", FRAUDD_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(argv[1], cmds[i].name) == 0) return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "fraudd: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return FR_EXIT_USAGE;
}
