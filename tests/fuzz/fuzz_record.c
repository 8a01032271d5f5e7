/* libFuzzer target: arbitrary bytes as a JSON transaction.
 * Decodes each input with a ULB-like schema (V1..V28, Amount, a nested
 * "card.amount" feature with a default, passthrough "id" and "meta"), both
 * padded and unpadded. Invariants: never crashes, leaks or reads out of
 * bounds; both modes agree; a scored record's features are finite; a
 * rejection carries a reason; passthrough slices lie inside the input. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fraudd/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static fr_record_schema *schema;
static fr_decoder *dec;

static void init(void) {
    static char names[30][8];
    const char *f[31];
    for (int i = 0; i < 28; i++) {
        snprintf(names[i], sizeof names[i], "V%d", i + 1);
        f[i] = names[i];
    }
    f[28] = "Amount";
    f[29] = "card.amount";
    float defs[30] = {0};
    uint8_t has[30] = {0};
    defs[29] = 1.5f;
    has[29] = 1;
    const char *pt[] = {"id", "meta"};
    char err[256];
    if (fr_record_schema_new(f, 30, defs, has, pt, 2, &schema, err, sizeof err)) abort();
    dec = fr_decoder_new(schema, 1 << 16);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!schema) init();
    float a[30], b[30];
    fr_slice pa[2], pb[2];
    char ra[256], rb[256];
    /* padded: a copy with FR_JSON_PADDING readable bytes after it */
    char *padded = malloc(size + FR_JSON_PADDING);
    memcpy(padded, data, size);
    memset(padded + size, 'x', FR_JSON_PADDING);
    fr_reject x = fr_decoder_decode(dec, padded, size, 1, a, pa, ra, sizeof ra);
    fr_reject y = fr_decoder_decode(dec, (const char *)data, size, 0, b, pb, rb, sizeof rb);
    if (x != y) abort();
    if (x == FR_REJ_NONE) {
        for (int i = 0; i < 30; i++)
            if (!isfinite(a[i]) || memcmp(&a[i], &b[i], sizeof a[i]) != 0) abort();
        for (int k = 0; k < 2; k++)
            if (pa[k].ptr && (pa[k].ptr < padded || pa[k].ptr + pa[k].len > padded + size)) abort();
    } else if (strlen(ra) == 0 || strcmp(ra, rb) != 0) {
        abort();
    }
    free(padded);
    return 0;
}
