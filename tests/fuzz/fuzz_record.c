/* libFuzzer target: arbitrary bytes as one JSON transaction.
 *
 * Schema: ULB-like (features V1..V28, Amount, and a nested "card.amount"
 * with a default; passthrough "id" and "meta"). Each input is decoded
 * padded (a copy with FR_JSON_PADDING bytes after it, of a content chosen
 * by the input's length), unpadded (the
 * fuzzer's own buffer, so ASan catches any read past its end), and by a
 * decoder with a 64-byte limit. Invariants, checked with abort():
 *  - never crashes, leaks or reads out of bounds (the sanitizers);
 *  - padded and unpadded decoding agree: reason code, reason sentence,
 *    features bit for bit, passthrough text;
 *  - the reason is NUL-terminated inside its buffer; empty on success,
 *    non-empty on rejection;
 *  - on success every feature is finite, and a missing card.amount is its
 *    default;
 *  - passthrough slices lie inside the input and hold a JSON value without
 *    surrounding whitespace;
 *  - records over a decoder's limit are too_large, whatever they hold;
 *  - the input as a feature's value, when it is a number, reads as
 *    (float)strtod (check_number).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fraudd/record.h"

#define NF 30
#define NP 2
#define SMALL_LIMIT 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static fr_record_schema *schema;
static fr_decoder *dec, *small;

static void init(void) {
    static char names[28][16];
    const char *f[NF];
    for (int i = 0; i < 28; i++) {
        snprintf(names[i], sizeof names[i], "V%d", i + 1);
        f[i] = names[i];
    }
    f[28] = "Amount";
    f[29] = "card.amount";
    float defs[NF] = {0};
    uint8_t has[NF] = {0};
    defs[29] = 1.5f;
    has[29] = 1;
    const char *pt[NP] = {"id", "meta"};
    char err[256];
    if (fr_record_schema_new(f, NF, defs, has, pt, NP, &schema, err, sizeof err)) abort();
    dec = fr_decoder_new(schema, 1 << 16);
    small = fr_decoder_new(schema, SMALL_LIMIT);
    if (!dec || !small) abort();
}

static int contains(const uint8_t *d, size_t n, const char *needle) {
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(d + i, needle, m) == 0) return 1;
    return 0;
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static void check_reason(fr_reject r, const char *reason, size_t len) {
    const char *nul = memchr(reason, 0, len);
    if (!nul) abort();                              /* not terminated */
    if ((r == FR_REJ_NONE) != (nul == reason)) abort(); /* empty exactly on success */
}

static void check_slices(const fr_slice *p, const char *base, size_t size) {
    for (int k = 0; k < NP; k++) {
        if (!p[k].ptr) {
            if (p[k].len != 0) abort();
            continue;
        }
        if (p[k].ptr < base || p[k].len == 0 || p[k].len > size || p[k].ptr + p[k].len > base + size) abort();
        if (is_ws(p[k].ptr[0]) || is_ws(p[k].ptr[p[k].len - 1])) abort();
        if (!strchr("\"-0123456789tfn{[", p[k].ptr[0])) abort();
    }
}

/* The input as the value of feature V1 (the others 0): when the decoder
 * accepts it and strtod reads the whole text (a JSON number; its trailing
 * whitespace aside), V1 must be (float)strtod bit for bit: the decoder's
 * own number reader (fast_number, src/decode/record.cpp) must agree with
 * exact parsing. Except "0." and 20 or more digits, which simdjson 3.0.1
 * misreads (kept as it is; see tests/unit/test_record_decode.c). */
static void check_number(const uint8_t *data, size_t size) {
    static char rec[1024], text[256];
    if (size == 0 || size >= sizeof text || memchr(data, 0, size)) return;
    memcpy(text, data, size);
    text[size] = 0;
    int n = snprintf(rec, sizeof rec, "{\"V1\":%s", text);
    for (int i = 2; i <= 28; i++) n += snprintf(rec + n, sizeof rec - (size_t)n, ",\"V%d\":0", i);
    n += snprintf(rec + n, sizeof rec - (size_t)n, ",\"Amount\":0}");
    float f[NF];
    if (fr_decoder_decode(dec, rec, (size_t)n, 0, f, NULL, NULL, 0) != FR_REJ_NONE) return;
    if (!(text[0] == '-' || (text[0] >= '0' && text[0] <= '9'))) return; /* strings, null: other paths */
    char *end;
    double d = strtod(text, &end);
    while (is_ws(*end)) end++;
    if (*end) return;
    const char *u = text + (text[0] == '-');
    if (u[0] == '0' && u[1] == '.' && strspn(u + 2, "0123456789") >= 20) return;
    float want = (float)d;
    if (memcmp(&f[0], &want, sizeof want) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!schema) init();
    float a[NF], b[NF];
    fr_slice pa[NP], pb[NP];
    char ra[160], rb[160];
    memset(ra, 'x', sizeof ra); /* garbage: an unterminated reason shows */
    memset(rb, 'y', sizeof rb);

    char *padded = malloc(size + FR_JSON_PADDING);
    if (!padded) return 0;
    if (size) memcpy(padded, data, size);
    /* Padding content must not matter: the daemon decodes records in place
     * with whatever follows them in the fetch buffer (fr_json_tail_readable),
     * so the fill varies with the input: the input itself again (the next
     * record), or one of the bytes that would extend a record's last token. */
    static const char fills[] = "}9\",\\ e";
    size_t pick = size % (sizeof fills); /* sizeof fills - 1 single bytes, then the input again */
    for (size_t i = 0; i < FR_JSON_PADDING; i++)
        padded[size + i] = pick < sizeof fills - 1 ? fills[pick] : size ? (char)data[i % size] : '{';

    fr_reject x = fr_decoder_decode(dec, padded, size, 1, a, pa, ra, sizeof ra);
    check_reason(x, ra, sizeof ra);
    if (x == FR_REJ_NONE) check_slices(pa, padded, size);

    /* unpadded: the fuzzer's buffer ends exactly at size */
    fr_reject y = fr_decoder_decode(dec, (const char *)data, size, 0, b, pb, rb, sizeof rb);
    check_reason(y, rb, sizeof rb);
    if (x != y || strcmp(ra, rb) != 0) abort();
    if (x == FR_REJ_NONE) {
        for (int i = 0; i < NF; i++)
            if (!isfinite(a[i]) || memcmp(&a[i], &b[i], sizeof a[i]) != 0) abort();
        /* slices of the unpadded decode point into the decoder's copy */
        for (int k = 0; k < NP; k++) {
            if ((pa[k].ptr == NULL) != (pb[k].ptr == NULL) || pa[k].len != pb[k].len) abort();
            if (pa[k].ptr && memcmp(pa[k].ptr, pb[k].ptr, pa[k].len) != 0) abort();
        }
        /* card.amount absent (or null) means its default */
        if (!contains(data, size, "amount") && !contains(data, size, "\\u") && a[29] != 1.5f) abort();
    }

    fr_reject z = fr_decoder_decode(small, padded, size, 1, a, pa, NULL, 0);
    if (size > SMALL_LIMIT ? z != FR_REJ_TOO_LARGE : z != x) abort();

    free(padded);
    check_number(data, size);
    return 0;
}
