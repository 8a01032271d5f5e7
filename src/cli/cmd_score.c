/* fraudd score: offline (batch) scoring of newline-delimited JSON.
 *
 * With --challenger, a second model scores every record too and each
 * result is the champion's with the challenger's inside, as the daemon's
 * shadow mode writes it (docs/OUTPUT.md); the summary counts how the two
 * verdicts compare, so a model can be judged on a file before a rollout.
 *
 * Reads the input in large blocks, cuts it into lines, and hands batches of
 * lines to one fr_scorer (the same worker stage the daemon uses). Lines
 * live inside the block, which keeps FR_JSON_PADDING spare bytes at its
 * end, so the decoder parses them in place. Results go to --output in input
 * order; rejected records go to --rejects as JSON lines with the line
 * number, the reason and the original text, so nothing is lost silently.
 */
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "fraudd/encode.h"
#include "fraudd/err.h"
#include "fraudd/scorer.h"

#define FR__BATCH_LINES 1024
#define FR__MAX_PASSTHROUGH 32

static void score_usage(FILE *f) {
    fprintf(f,
            "usage: fraudd score [options]\n"
            "  --model F             ONNX model (default: the embedded model)\n"
            "  --input F|-           newline-delimited JSON records (default: stdin)\n"
            "  --output F|-          one JSON result per scored record (default: stdout)\n"
            "  --rejects F           rejected records as JSON lines (default: counted, first few on stderr)\n"
            "  --threshold X         override the model's threshold\n"
            "  --passthrough a,b.c   fields copied to each result (default: id)\n"
            "  --batch N             records per model call, 1..%d (default 64)\n"
            "  --max-record-bytes N  longer records are rejected as too_large (default 1048576)\n"
            "  --emit-output         add the model's raw outputs to each result\n"
            "  --challenger F        also score with this ONNX model: each result gets\n"
            "                        \"challenger\":{...} as its last key (shadow mode's format)\n"
            "  --challenger-threshold X  override the challenger's threshold\n"
            "  --quiet               no summary on stderr\n"
            "exit: 0 all scored, 1 runtime error, 2 usage, 3 model error, 4 some records rejected\n",
            FR_MODEL_MAX_BATCH);
}

typedef struct fr__reader {
    FILE *f;
    char *buf;       /* block; FR_JSON_PADDING spare bytes after cap */
    size_t cap;      /* usable bytes */
    size_t len;      /* bytes filled */
    size_t pos;      /* start of the first unconsumed line */
    int eof;
    size_t max_rec;  /* longest line kept whole */
    int skipping;    /* inside an over-long line: drop until newline */
} fr__reader;

/* Collects up to max lines into `lines` (slices into the block). A line
 * longer than the whole block comes back once, as its head with
 * len = max_rec + 1 (so the scorer rejects it as too_large) and
 * *too_long = 1; the rest of it is skipped. Returns the count; 0 at the
 * end of the input. */
static size_t read_lines(fr__reader *r, fr_slice *lines, size_t max, uint8_t *too_long) {
    size_t n = 0;
    memmove(r->buf, r->buf + r->pos, r->len - r->pos); /* unconsumed tail to the front */
    r->len -= r->pos;
    r->pos = 0;
    for (;;) {
        if (!r->eof && r->len < r->cap) {
            size_t got = fread(r->buf + r->len, 1, r->cap - r->len, r->f);
            r->len += got;
            if (got == 0) r->eof = 1;
        }
        if (r->skipping) { /* drop the rest of an over-long line */
            char *nl = memchr(r->buf, '\n', r->len);
            if (!nl) {
                r->len = 0;
                if (r->eof) return 0;
                continue;
            }
            r->skipping = 0;
            r->pos = (size_t)(nl - r->buf) + 1;
        }
        while (n < max && r->pos < r->len) {
            char *start = r->buf + r->pos;
            char *nl = memchr(start, '\n', r->len - r->pos);
            if (!nl && !r->eof) break;
            size_t l = nl ? (size_t)(nl - start) : r->len - r->pos; /* last line may lack a newline */
            r->pos += l + (nl ? 1 : 0);
            if (l && start[l - 1] == '\r') l--;
            lines[n].ptr = start;
            lines[n].len = l;
            too_long[n] = 0;
            n++;
        }
        if (n > 0 || (r->eof && r->pos >= r->len)) return n;
        if (r->pos > 0) { /* after a skipped line: make room and read on */
            memmove(r->buf, r->buf + r->pos, r->len - r->pos);
            r->len -= r->pos;
            r->pos = 0;
            continue;
        }
        if (r->len == r->cap) { /* one line fills the whole block */
            lines[0].ptr = r->buf;
            lines[0].len = r->max_rec + 1;
            too_long[0] = 1;
            r->pos = r->len;
            r->skipping = 1;
            return 1;
        }
    }
}

static void write_reject(FILE *f, size_t lineno, fr_reject rj, const char *detail, const fr_slice *rec, size_t real_len) {
    char head[512];
    size_t hl = (size_t)snprintf(head, sizeof head, "{\"line\":%zu,\"reason\":\"%s\",\"detail\":", lineno, fr_reject_name(rj));
    fwrite(head, 1, hl, f);
    size_t dl = strlen(detail);
    char *q = malloc(6 * (dl > rec->len ? dl : rec->len) + 3);
    if (!q) return;
    size_t ql = fr_json_quote(q, 6 * dl + 3, detail, dl);
    fwrite(q, 1, ql, f);
    if (real_len) fprintf(f, ",\"bytes\":%zu", real_len);
    fputs(",\"record\":", f);
    size_t keep = rec->len > 65536 ? 65536 : rec->len; /* huge records: keep the head */
    ql = fr_json_quote(q, 6 * keep + 3, rec->ptr, keep);
    fwrite(q, 1, ql, f);
    fputs(keep < rec->len ? ",\"truncated\":true}\n" : "}\n", f);
    free(q);
}

int fr__cmd_score(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},  {"input", required_argument, 0, 'i'},
        {"output", required_argument, 0, 'o'}, {"rejects", required_argument, 0, 'r'},
        {"threshold", required_argument, 0, 't'}, {"passthrough", required_argument, 0, 'p'},
        {"batch", required_argument, 0, 'b'},  {"max-record-bytes", required_argument, 0, 'x'},
        {"emit-output", no_argument, 0, 'e'},  {"quiet", no_argument, 0, 'q'},
        {"challenger", required_argument, 0, 'c'}, {"challenger-threshold", required_argument, 0, 'T'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    const char *model_path = NULL, *in_path = "-", *out_path = "-", *rej_path = NULL, *ch_path = NULL;
    double ch_threshold = NAN;
    char pt_default[] = "id";
    char *pt_arg = pt_default;
    const char *pt[FR__MAX_PASSTHROUGH];
    fr_scorer_opts so = {.threshold = NAN, .max_batch = 64, .max_record_bytes = 1u << 20};
    int quiet = 0, c, rc = FR_EXIT_OK;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'i': in_path = optarg; break;
        case 'o': out_path = optarg; break;
        case 'r': rej_path = optarg; break;
        case 't':
            if (fr__cli_parse_double("--threshold", optarg, -INFINITY, INFINITY, &so.threshold)) return FR_EXIT_USAGE;
            break;
        case 'p': pt_arg = optarg; break;
        case 'b':
            if (fr__cli_parse_size("--batch", optarg, 1, FR_MODEL_MAX_BATCH, &so.max_batch)) return FR_EXIT_USAGE;
            break;
        case 'x':
            if (fr__cli_parse_size("--max-record-bytes", optarg, 16, 64u << 20, &so.max_record_bytes))
                return FR_EXIT_USAGE;
            break;
        case 'e': so.emit_output = 1; break;
        case 'c': ch_path = optarg; break;
        case 'T':
            if (fr__cli_parse_double("--challenger-threshold", optarg, -INFINITY, INFINITY, &ch_threshold))
                return FR_EXIT_USAGE;
            break;
        case 'q': quiet = 1; break;
        case 'h': score_usage(stdout); return FR_EXIT_OK;
        default: score_usage(stderr); return FR_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "fraudd score: unexpected argument '%s'\n", argv[optind]);
        return FR_EXIT_USAGE;
    }
    so.np = fr__cli_split_commas(pt_arg, pt, FR__MAX_PASSTHROUGH);
    so.passthrough = pt;

    if (!ch_path && !isnan(ch_threshold)) {
        fprintf(stderr, "fraudd score: --challenger-threshold needs --challenger\n");
        return FR_EXIT_USAGE;
    }
    fr_model *m = fr__cli_load_model(model_path), *m2 = NULL;
    if (!m) return FR_EXIT_MODEL;
    if (ch_path && !(m2 = fr__cli_load_model(ch_path))) {
        fr_model_free(m);
        return FR_EXIT_MODEL;
    }
    char err[512];
    FILE *in = NULL, *out = NULL, *rej = NULL;
    fr_scorer *s = fr_scorer_new(m, &so, err, sizeof err), *s2 = NULL;
    fr_scored *res2 = m2 ? malloc(FR__BATCH_LINES * sizeof *res2) : NULL;
    char *compose = NULL;
    size_t compose_cap = 0;
    /* verdicts[champion flagged][challenger flagged], challenger rejections */
    size_t verdicts[2][2] = {{0, 0}, {0, 0}}, ch_rejected = 0;
    fr__reader rd = {0};
    fr_slice *lines = malloc(FR__BATCH_LINES * sizeof *lines);
    uint8_t *longlen = malloc(FR__BATCH_LINES);
    fr_scored *res = malloc(FR__BATCH_LINES * sizeof *res);
    if (!s) {
        fprintf(stderr, "fraudd score: %s\n", err);
        rc = FR_EXIT_USAGE;
        goto out;
    }
    /* the challenger as shadow mode runs it: no pass-through fields, no outputs */
    fr_scorer_opts so2 = {.threshold = ch_threshold, .max_batch = so.max_batch, .max_record_bytes = so.max_record_bytes};
    if (m2 && !(s2 = fr_scorer_new(m2, &so2, err, sizeof err))) {
        fprintf(stderr, "fraudd score: challenger: %s\n", err);
        rc = FR_EXIT_USAGE;
        goto out;
    }
    in = strcmp(in_path, "-") == 0 ? stdin : fopen(in_path, "rb");
    out = strcmp(out_path, "-") == 0 ? stdout : fopen(out_path, "wb");
    rej = rej_path ? fopen(rej_path, "wb") : NULL;
    if (!in || !out || (rej_path && !rej)) {
        fprintf(stderr, "fraudd score: cannot open %s\n", !in ? in_path : !out ? out_path : rej_path);
        rc = FR_EXIT_RUNTIME;
        goto out;
    }
    static char obuf[1 << 20];
    setvbuf(out, obuf, _IOFBF, sizeof obuf);
    rd.f = in;
    rd.max_rec = so.max_record_bytes;
    rd.cap = (so.max_record_bytes + 1) * 2 > (8u << 20) ? (so.max_record_bytes + 1) * 2 : (8u << 20);
    rd.buf = malloc(rd.cap + FR_JSON_PADDING);
    if (!rd.buf || !lines || !longlen || !res || (m2 && !res2)) {
        rc = FR_EXIT_RUNTIME;
        goto out;
    }
    memset(rd.buf + rd.cap, ' ', FR_JSON_PADDING);
    size_t lineno = 0, scored = 0, flagged = 0, rejected = 0, n;
    double t0 = fr__cli_now();
    while ((n = read_lines(&rd, lines, FR__BATCH_LINES, longlen)) > 0) {
        int src = fr_scorer_run(s, lines, n, 1, res);
        int src2 = s2 && !src ? fr_scorer_run(s2, lines, n, 1, res2) : 0;
        if (src != 0 || src2 != 0) {
            fprintf(stderr, "fraudd score: %s%s\n", src ? "" : "challenger: ", fr_strerror(src ? src : src2));
            rc = FR_EXIT_RUNTIME;
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            lineno++;
            if (res[i].reject == FR_REJ_NONE) {
                if (s2) {
                    const fr_scored *b = &res2[i];
                    int ok = b->reject == FR_REJ_NONE;
                    size_t need = res[i].len + FR_SHADOW_EXTRA + (ok ? b->len : 0);
                    if (need > compose_cap) {
                        char *p = realloc(compose, need);
                        if (!p) {
                            rc = FR_EXIT_RUNTIME;
                            goto out;
                        }
                        compose = p;
                        compose_cap = need;
                    }
                    size_t l = fr_result_with_challenger(compose, res[i].text, res[i].len, b->text, b->len,
                                                         ok ? NULL : fr_reject_name(b->reject));
                    fwrite(compose, 1, l, out);
                    if (ok) verdicts[res[i].is_fraud != 0][b->is_fraud != 0]++;
                    else ch_rejected++;
                } else {
                    fwrite(res[i].text, 1, res[i].len, out);
                }
                fputc('\n', out);
                scored++;
                flagged += res[i].is_fraud != 0;
                continue;
            }
            rejected++;
            fr_slice shown = lines[i];
            if (longlen[i]) shown.len = rd.max_rec < 1024 ? rd.max_rec : 1024;
            if (rej) write_reject(rej, lineno, res[i].reject, res[i].text, &shown, longlen[i] ? 0 : lines[i].len);
            else if (rejected <= 10)
                fprintf(stderr, "fraudd score: line %zu rejected (%s): %s\n", lineno, fr_reject_name(res[i].reject),
                        res[i].text);
        }
    }
    if (ferror(in) || fflush(out) != 0 || ferror(out) || (rej && (fflush(rej) != 0 || ferror(rej)))) {
        fprintf(stderr, "fraudd score: I/O error\n");
        rc = FR_EXIT_RUNTIME;
        goto out;
    }
    double dt = fr__cli_now() - t0;
    if (!quiet)
        fprintf(stderr,
                "fraudd score: %zu records: %zu scored, %zu flagged (%.3f%%), %zu rejected; %.3f s, %.0f records/s; "
                "model %s, threshold %g\n",
                lineno, scored, flagged, scored ? 100.0 * (double)flagged / (double)scored : 0.0, rejected, dt,
                dt > 0 ? (double)lineno / dt : 0.0, fr_model_version(m), fr_scorer_threshold(s));
    if (s2 && !quiet)
        fprintf(stderr,
                "fraudd score: challenger %s, threshold %g: of %zu scored records, both flagged %zu, neither %zu, "
                "only the champion %zu, only the challenger %zu; the challenger rejected %zu\n",
                fr_model_version(m2), fr_scorer_threshold(s2), scored, verdicts[1][1], verdicts[0][0], verdicts[1][0],
                verdicts[0][1], ch_rejected);
    if (rejected && !rej && rejected > 10)
        fprintf(stderr, "fraudd score: %zu more rejected records not shown (use --rejects FILE)\n", rejected - 10);
    if (rejected) rc = FR_EXIT_REJECTED;
out:
    if (in && in != stdin) fclose(in);
    if (out && out != stdout) fclose(out);
    if (rej) fclose(rej);
    free(rd.buf);
    free(lines);
    free(longlen);
    free(res);
    free(res2);
    free(compose);
    fr_scorer_free(s);
    fr_scorer_free(s2);
    fr_model_free(m);
    fr_model_free(m2);
    return rc;
}
