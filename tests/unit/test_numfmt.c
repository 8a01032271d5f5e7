/* Proves that fr_fmt_float (Schubfach, src/encode/numfmt.cpp) writes exactly
 * the text of its reference fr__fmt_float_ref (std::to_chars): the same
 * bytes for every float tested, and nothing past the 32 bytes it may use.
 * By default: the edges listed below, every one of the 2^17 smallest
 * subnormals (where the shortest text has the fewest digits: "3e-44" was
 * once "2.9e-44"), every float in [1, 2^25) one in 64 (integers, and the
 * integers of 2^24..2^25 that to_chars prints exactly: 33578648, not
 * 33578650), and 2^24 bit patterns spread over all 2^32 (every exponent,
 * both signs), in about a second. With FR_EXHAUSTIVE=1 in the environment:
 * every one of the 2^32 patterns (minutes; run for each change of the
 * formatter, the result quoted in docs/BENCHMARKS.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "encode/encode_internal.h"
#include "fraudd/encode.h"

static int same_text(uint32_t bits) {
    float v;
    memcpy(&v, &bits, sizeof v);
    char a[48], b[32];
    memset(a, 0x5a, sizeof a);
    size_t na = fr_fmt_float(a, v), nb = fr__fmt_float_ref(b, v);
    int ok = na == nb && memcmp(a, b, na) == 0 && na <= 24;
    for (size_t i = 32; i < sizeof a; i++) ok &= (unsigned char)a[i] == 0x5a;
    if (!ok) print_error("bits 0x%08x: fr_fmt_float \"%.*s\", to_chars \"%.*s\"\n", (unsigned)bits, (int)na, a, (int)nb, b);
    return ok;
}

static void float_text_equals_to_chars(void **state) {
    (void)state;
    static const uint32_t edges[] = {
        0x00000000u, 0x80000000u, 0x00000001u, 0x00000007u, 0x00000008u, 0x00000015u, 0x0000001du, 0x00000047u,
        0x007fffffu, 0x00800000u, 0x00800001u, 0x7f7fffffu, 0xff7fffffu, 0x7f800000u, 0xff800000u, 0x7fc00000u,
        0x3f800000u, 0x3f7fffffu, 0x3f800001u, 0x4b7fffffu, 0x4b800000u, 0x4b800001u, 0x4c0017a6u, 0x5a000000u,
        0x59ffffffu, 0x5a000001u, 0x3dcccccdu, 0x33d6bf95u, 0xc2c80000u, 0x49742400u,
    };
    uint64_t bad = 0;
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) bad += !same_text(edges[i]);
    const char *ex = getenv("FR_EXHAUSTIVE");
    if (ex && strcmp(ex, "1") == 0) {
        for (uint64_t b = 0; b <= 0xffffffffull && bad <= 20; b++) bad += !same_text((uint32_t)b);
        assert_int_equal(bad, 0);
        return;
    }
    for (uint32_t b = 0; b < (1u << 17) && bad <= 20; b++) bad += !same_text(b);
    for (uint32_t b = 0x3f800000u; b < 0x4c000000u && bad <= 20; b += 64) bad += !same_text(b ^ (b >> 6 & 63));
    for (uint64_t b = 0; b <= 0xffffffffull && bad <= 20; b += 256)
        bad += !same_text((uint32_t)b ^ (uint32_t)((b >> 8) % 251)); /* vary the low bits too */
    assert_int_equal(bad, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(float_text_equals_to_chars),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
