/* fraudd generate: the sample transaction stream, as JSON lines (the demo,
 * src/cli/cmd_demo.c, streams the same generator through Kafka). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "fraudd/gen.h"
#include "fraudd/scorer.h"

typedef struct gen_args {
    size_t count;
    fr_gen_opts go;
    const char *out_path;
    const char *model_path;
} gen_args;

static int parse_gen(int argc, char **argv, gen_args *a, int demo) {
    static const struct option opts[] = {{"count", required_argument, 0, 'n'},
                                         {"anomaly-rate", required_argument, 0, 'a'},
                                         {"seed", required_argument, 0, 's'},
                                         {"rate", required_argument, 0, 'r'},
                                         {"shift", required_argument, 0, 'S'},
                                         {"output", required_argument, 0, 'o'},
                                         {"model", required_argument, 0, 'm'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    size_t seed;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (fr__cli_parse_size("--count", optarg, 1, (size_t)1 << 40, &a->count)) return -1;
            break;
        case 'a':
            if (fr__cli_parse_double("--anomaly-rate", optarg, 0, 1, &a->go.anomaly_rate)) return -1;
            break;
        case 's':
            if (fr__cli_parse_size("--seed", optarg, 0, SIZE_MAX, &seed)) return -1;
            a->go.seed = seed;
            break;
        case 'r':
            if (fr__cli_parse_double("--rate", optarg, 1e-3, 1e9, &a->go.rate_per_s)) return -1;
            break;
        case 'S':
            if (fr__cli_parse_double("--shift", optarg, -10, 10, &a->go.shift)) return -1;
            break;
        case 'o':
            if (demo) goto bad;
            a->out_path = optarg;
            break;
        case 'm':
            if (!demo) goto bad;
            a->model_path = optarg;
            break;
        case 'h':
            printf("usage: fraudd %s [--count N] [--anomaly-rate R] [--seed S] [--rate PER_SECOND] [--shift SD] %s\n"
                   "  --shift SD  drift on purpose: every V feature moved by SD of its standard deviations\n"
                   "              (-10..10; default 0: the real rows as they are)\n",
                   demo ? "demo" : "generate", demo ? "[--model F]" : "[--output F|-]");
            return 1;
        default:
            goto bad;
        }
    }
    if (optind == argc) return 0;
bad:
    fprintf(stderr, "fraudd %s: bad arguments (see --help)\n", demo ? "demo" : "generate");
    return -1;
}

int fr__cmd_generate(int argc, char **argv) {
    gen_args a = {.count = 10000, .go = {.seed = 1, .anomaly_rate = 0.01, .first_id = 1, .rate_per_s = 1000}};
    a.go.start_ms = (int64_t)time(NULL) * 1000;
    int p = parse_gen(argc, argv, &a, 0);
    if (p) return p < 0 ? FR_EXIT_USAGE : FR_EXIT_OK;
    FILE *out = a.out_path && strcmp(a.out_path, "-") ? fopen(a.out_path, "wb") : stdout;
    if (!out) {
        fprintf(stderr, "fraudd generate: cannot open %s\n", a.out_path);
        return FR_EXIT_RUNTIME;
    }
    fr_gen *g = fr_gen_new(&a.go);
    int rc = g ? FR_EXIT_OK : FR_EXIT_RUNTIME;
    char line[2048];
    for (size_t i = 0; g && i < a.count; i++) {
        int anomaly;
        size_t l = fr_gen_next(g, line, sizeof line - 1, &anomaly);
        line[l++] = '\n';
        fwrite(line, 1, l, out);
    }
    if (fflush(out) != 0 || ferror(out)) rc = FR_EXIT_RUNTIME;
    if (out != stdout) fclose(out);
    fr_gen_free(g);
    return rc;
}
