/* fraudd generate: the sample transaction stream, as JSON lines, and
 * fraudd demo: the same stream scored in-process with a summary. */
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
            if (fr_cli_parse_size("--count", optarg, 1, (size_t)1 << 40, &a->count)) return -1;
            break;
        case 'a':
            if (fr_cli_parse_double("--anomaly-rate", optarg, 0, 1, &a->go.anomaly_rate)) return -1;
            break;
        case 's':
            if (fr_cli_parse_size("--seed", optarg, 0, SIZE_MAX, &seed)) return -1;
            a->go.seed = seed;
            break;
        case 'r':
            if (fr_cli_parse_double("--rate", optarg, 1e-3, 1e9, &a->go.rate_per_s)) return -1;
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
            printf("usage: fraudd %s [--count N] [--anomaly-rate R] [--seed S] [--rate PER_SECOND] %s\n",
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

int fr_cmd_generate(int argc, char **argv) {
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

/* Generates batches into a padded buffer and scores them with one scorer:
 * the offline main job of the README. */
int fr_cmd_demo(int argc, char **argv) {
    gen_args a = {.count = 200000, .go = {.seed = 42, .anomaly_rate = 0.01, .first_id = 1, .rate_per_s = 1000}};
    a.go.start_ms = (int64_t)time(NULL) * 1000;
    int p = parse_gen(argc, argv, &a, 1);
    if (p) return p < 0 ? FR_EXIT_USAGE : FR_EXIT_OK;
    fr_model *m = fr_cli_load_model(a.model_path);
    if (!m) return FR_EXIT_MODEL;
    enum { B = 1024, REC = 1024 };
    const char *pt[] = {"id"};
    fr_scorer_opts so = {.passthrough = pt, .np = 1, .threshold = NAN, .max_batch = 64, .max_record_bytes = 1 << 16};
    char err[256];
    int rc = FR_EXIT_OK;
    fr_scorer *s = fr_scorer_new(m, &so, err, sizeof err);
    fr_gen *g = fr_gen_new(&a.go);
    char *buf = malloc((size_t)B * REC + 64);
    fr_slice *rec = malloc(B * sizeof *rec);
    int *truth = malloc(B * sizeof *truth);
    fr_scored *res = malloc(B * sizeof *res);
    if (!s || !g || !buf || !rec || !truth || !res) {
        fprintf(stderr, "fraudd demo: %s\n", s ? "out of memory" : err);
        rc = FR_EXIT_RUNTIME;
        goto out;
    }
    printf("fraudd demo: scoring %zu generated transactions (%.2f%% injected anomalies) with model %s\n", a.count,
           100 * a.go.anomaly_rate, fr_model_version(m));
    size_t done = 0, tp = 0, fp = 0, fn = 0, tn = 0, rejected = 0;
    double score_s = 0, example_score = 0;
    char example[1024] = "";
    while (done < a.count) {
        size_t n = a.count - done < B ? a.count - done : B;
        for (size_t i = 0; i < n; i++) {
            rec[i].ptr = buf + i * REC;
            rec[i].len = fr_gen_next(g, buf + i * REC, REC - 64, &truth[i]);
        }
        double t1 = fr_cli_now(); /* generation is not timed */
        if (fr_scorer_run(s, rec, n, 1, res) != 0) {
            rc = FR_EXIT_RUNTIME;
            goto out;
        }
        score_s += fr_cli_now() - t1;
        for (size_t i = 0; i < n; i++) {
            if (res[i].reject != FR_REJ_NONE) {
                rejected++;
                continue;
            }
            if (res[i].is_fraud && truth[i]) {
                tp++;
                if (res[i].score > example_score && res[i].len < sizeof example) {
                    example_score = res[i].score;
                    memcpy(example, res[i].text, res[i].len + 1);
                }
            } else if (res[i].is_fraud) fp++;
            else if (truth[i]) fn++;
            else tn++;
        }
        done += n;
    }
    printf("  records scored      %zu (%zu rejected)\n", done - rejected, rejected);
    printf("  flagged             %zu (%.3f%%)\n", tp + fp, 100.0 * (double)(tp + fp) / (double)(done ? done : 1));
    printf("  injected anomalies  %zu caught, %zu missed (recall %.1f%%)\n", tp, fn,
           tp + fn ? 100.0 * (double)tp / (double)(tp + fn) : 0.0);
    printf("  normal flagged      %zu of %zu (false positive rate %.3f%%)\n", fp, fp + tn,
           fp + tn ? 100.0 * (double)fp / (double)(fp + tn) : 0.0);
    printf("  scoring throughput  %.0f records/s on one thread (decode+features+model+encode, %.0f ns/record)\n",
           score_s > 0 ? (double)done / score_s : 0.0, score_s > 0 ? 1e9 * score_s / (double)done : 0.0);
    if (example[0]) printf("  most anomalous      %s\n", example);
out:
    fr_scorer_free(s);
    fr_gen_free(g);
    fr_model_free(m);
    free(buf);
    free(rec);
    free(truth);
    free(res);
    return rc;
}
