// Shortest round-trip number text for the result encoder (include/fraudd/encode.h).
//
// What: fr_fmt_float / fr_fmt_double write the shortest decimal text that
// reads back (strtof / strtod, round to nearest) to exactly the same value,
// in the form C++17 std::to_chars with no precision argument gives
// (libstdc++ 11+, Ryu based): the shortest digits (the closest to the value
// when several are shortest), written fixed or scientific, whichever is
// shorter (fixed on a tie). The text is valid JSON for every finite value:
// "0.1", "-2.5", "659479424", "1e+20", "1.1754944e-38", "-0"; NaN and +-Inf,
// which JSON cannot express, are written as `null` so the output stays
// parseable. One deviation from plain to_chars: magnitudes >= 2^53 always
// use the exponent form (same digits). Plain to_chars prints e.g.
// 1.3448079939007265e21 as the 22-digit integer 1344807993900726484992 (a
// tie in length); such integers overflow the int64 of many JSON readers
// (jansson: "too big integer") and exceed JavaScript's exact range, so
// integer-looking output stays below 2^53.
//
// How: doubles (one per result) go through std::to_chars. Floats (six per
// result) have their own path: the digits by Schubfach (R. Giulietti, "The
// Schubfach way to render doubles", 2020; the float variant of OpenJDK's
// FloatToDecimal, less Java's two-digit minimum), written with whole-word
// stores. fr__fmt_float_ref is the to_chars path, kept as the reference:
// tests/unit/test_numfmt.c compares the two (every one of the 2^32 floats
// with FR_EXHAUSTIVE=1).
// Guarantees: at most 24 bytes of text (dst needs 32 by contract: the word
// stores may write garbage after the text, never past dst + 32), no NUL, no
// locale, no allocation, several times faster than snprintf("%.17g") and
// exact where %.9g/%.17g are either lossy or needlessly long.
// Threads: pure, thread safe.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "encode/encode_internal.h"
#include "fraudd/encode.h"

template <typename T>
static size_t fmt(char *dst, T v) {
    if (!std::isfinite(v)) {
        std::memcpy(dst, "null", 4);
        return 4;
    }
    auto r = std::fabs(v) >= static_cast<T>(9007199254740992.0) // 2^53
                 ? std::to_chars(dst, dst + 32, v, std::chars_format::scientific)
                 : std::to_chars(dst, dst + 32, v);
    return r.ec == std::errc() ? static_cast<size_t>(r.ptr - dst) : 0; // cannot fail in 32 bytes
}

extern "C" size_t fr__fmt_float_ref(char *dst, float v) { return fmt(dst, v); }

// ---- floats: Schubfach ------------------------------------------------------

namespace {

constexpr int kQMin = -149;           // a float is c 2^q, q >= kQMin
constexpr uint32_t kCMin = 1u << 23;  // smallest c of a normal float
constexpr int kKMin = -45;            // smallest k = floor(log10(2^q)) (or of 3/4 2^q)

// g = floor(10^-k 2^-r) + 1, r = floor(log2(10^-k)) - 125, a 126-bit number;
// the table holds its top 63 bits plus one (the float variant's g), computed
// exactly with Python's fractions.
static const uint64_t kG[77] = {  // g1(k) + 1 for k = -45..31
    0x59aedfc10d7279c6ull, 0x47bf19673df52e38ull, 0x72cb5bd86321e38dull, 0x5bd5e313828182d7ull,
    0x4977e8dc68679be0ull, 0x758ca7c70d7292ffull, 0x5e0a1fd271287599ull, 0x4b3b4ca85a86c47bull,
    0x785ee10d5da46d91ull, 0x604be73de4838adaull, 0x4d0985cb1d3608afull, 0x7b426fab61f00de4ull,
    0x629b8c891b267183ull, 0x4ee2d6d415b85acfull, 0x7e37be2022c0914cull, 0x64f964e68233a770ull,
    0x50c783eb9b5c85f3ull, 0x409f9cbc7c4a04c3ull, 0x6765c793fa10079eull, 0x52b7d2dcc80cd2e5ull,
    0x422ca8b0a00a4251ull, 0x69e10de76676d081ull, 0x54b40b1f852bda01ull, 0x43c33c1937564801ull,
    0x6c6b935b8bbd4001ull, 0x56bc75e2d6310001ull, 0x4563918244f40001ull, 0x6f05b59d3b200001ull,
    0x58d15e1762800001ull, 0x470de4df82000001ull, 0x71afd498d0000001ull, 0x5af3107a40000001ull,
    0x48c2739500000001ull, 0x746a528800000001ull, 0x5d21dba000000001ull, 0x4a817c8000000001ull,
    0x7735940000000001ull, 0x5f5e100000000001ull, 0x4c4b400000000001ull, 0x7a12000000000001ull,
    0x61a8000000000001ull, 0x4e20000000000001ull, 0x7d00000000000001ull, 0x6400000000000001ull,
    0x5000000000000001ull, 0x4000000000000001ull, 0x6666666666666667ull, 0x51eb851eb851eb86ull,
    0x4189374bc6a7ef9eull, 0x68db8bac710cb296ull, 0x53e2d6238da3c212ull, 0x431bde82d7b634dbull,
    0x6b5fca6af2bd215full, 0x55e63b88c230e77full, 0x44b82fa09b5a52ccull, 0x6df37f675ef6eae0ull,
    0x57f5ff85e5925580ull, 0x465e6604b7a84466ull, 0x709709a125da070aull, 0x5a126e1a84ae6c08ull,
    0x480ebe7b9d58566dull, 0x734aca5f6226f0aeull, 0x5c3bd5191b525a25ull, 0x49c97747490eae84ull,
    0x760f253edb4ab0d3ull, 0x5e72843249088d76ull, 0x4b8ed0283a6d3df8ull, 0x78e480405d7b9659ull,
    0x60b6cd004ac94514ull, 0x4d5f0a66a23a9daaull, 0x7bcb43d769f762a9ull, 0x63090312bb2c4eeeull,
    0x4f3a68dbc8f03f25ull, 0x7ec3daf941806507ull, 0x65697bfa9acd1da0ull, 0x51212ffbaf0a7e19ull,
    0x40e7599625a1fe7bull,
};

// floor(log10(2^e)), floor(log10(3/4 2^e)), floor(log2(10^e)), exact for |e| < 5 million.
inline int flog10pow2(int e) { return (int)(((int64_t)e * 661971961083LL) >> 41); }
inline int flog10three_quarters_pow2(int e) { return (int)(((int64_t)e * 661971961083LL - 274743187321LL) >> 41); }
inline int flog2pow10(int e) { return (int)(((int64_t)e * 913124641741LL) >> 38); }

// cp g 2^-95 rounded to odd (the paper's r_o').
inline uint64_t rop(uint64_t g, uint64_t cp) {
    const uint64_t x1 = (uint64_t)(((unsigned __int128)g * cp) >> 64);
    return (x1 >> 31) | (((x1 & 0xFFFFFFFFull) + 0xFFFFFFFFull) >> 32);
}

// The shortest decimal f 10^e that rounds to c 2^q, the closest to it when
// several are; f may keep trailing zeros.
inline void schubfach(int q, uint64_t c, uint64_t *f, int *e) {
    const uint64_t out = c & 1;  // c odd: the rounding interval is open
    const uint64_t cb = c << 2, cbr = cb + 2;
    uint64_t cbl;
    int k;
    if (c != kCMin || q == kQMin) {  // regular spacing
        cbl = cb - 2;
        k = flog10pow2(q);
    } else {  // just above a power of two: the gap below is half as wide
        cbl = cb - 1;
        k = flog10three_quarters_pow2(q);
    }
    const int h = q + flog2pow10(-k) + 33;
    const uint64_t g = kG[k - kKMin];
    const uint64_t vb = rop(g, cb << h), vbl = rop(g, cbl << h), vbr = rop(g, cbr << h);
    const uint64_t s = vb >> 2;
    *e = k;
    // One digit fewer: is s' 10^(k+1) or t' 10^(k+1) in the rounding
    // interval? (It is narrower than 10^(k+1): at most one is.) OpenJDK
    // asks only when s >= 100, for Java's two-digit minimum; to_chars has
    // none, which shows on subnormals ("3e-44", not "2.9e-44").
    if (s >= 10) {
        const uint64_t sp10 = s / 10 * 10, tp10 = sp10 + 10;
        const bool upin = vbl + out <= sp10 << 2, wpin = (tp10 << 2) + out <= vbr;
        if (upin != wpin) {
            *f = upin ? sp10 : tp10;
            return;
        }
    }
    const uint64_t t = s + 1;
    const bool uin = vbl + out <= s << 2, win = (t << 2) + out <= vbr;
    if (uin != win) {
        *f = uin ? s : t;
        return;
    }
    const int64_t cmp = (int64_t)vb - (int64_t)((s + t) << 1);  // both in: the closer, ties to even
    *f = (cmp < 0 || (cmp == 0 && (s & 1) == 0)) ? s : t;
}

constexpr char kDigits2[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

// Eight ASCII digits of v < 10^8, the first in the lowest byte: halves,
// hundreds, tens in SWAR lanes (9999 * 10486 < 2^32, 99 * 103 < 2^16: no
// lane overflows; both quotients are exact in those ranges).
inline uint64_t ascii8(uint32_t v) {
    uint64_t y = (uint64_t)(v / 10000) | ((uint64_t)(v % 10000) << 32);
    uint64_t z = ((y * 10486) >> 20) & 0x0000007F0000007Full;
    y = z | ((y - z * 100) << 16);
    z = ((y * 103) >> 10) & 0x000F000F000F000Full;
    y = z | ((y - z * 10) << 8);
    return y | 0x3030303030303030ull;
}

inline void store8(char *p, uint64_t w) { memcpy(p, &w, 8); }

// Writes the n >= 1 digits of f at p (any f: the exact integers of big floats).
inline void put_digits(char *p, uint64_t f, int n) {
    while (n >= 2) {
        memcpy(p + n - 2, kDigits2 + 2 * (f % 100), 2);
        f /= 100;
        n -= 2;
    }
    if (n) p[0] = (char)('0' + f);
}

constexpr uint64_t kPow10u[20] = {1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
                                  100000000ull, 1000000000ull, 10000000000ull, 100000000000ull,
                                  1000000000000ull, 10000000000000ull, 100000000000000ull,
                                  1000000000000000ull, 10000000000000000ull, 100000000000000000ull,
                                  1000000000000000000ull, 10000000000000000000ull};

// Decimal digits of f >= 1: from the bit length (1233 / 4096 ~ log10(2)).
inline int digit_count(uint64_t f) {
    const int t = (64 - __builtin_clzll(f | 1)) * 1233 >> 12;
    return t - (f < kPow10u[t]) + 1;
}

// Writes d (n digits, n <= 9, as: hi = the first digit when n == 9, w = the
// last min(n, 8) digits, left-aligned in its low bytes) at p, with a '.'
// after the first `whole` digits when 0 < whole < n. Returns the end.
inline char *put_decimal(char *p, int n, char hi, uint64_t w, int whole) {
    if (n == 9) {
        *p++ = hi;
        n = 8;
        whole--;
    }
    if (whole <= 0 || whole >= n) {
        if (whole == 0 && hi) *p++ = '.';  // n was 9 and the point follows its first digit
        store8(p, w);
        return p + n;
    }
    store8(p, w);
    p[whole] = '.';
    store8(p + whole + 1, w >> (8 * whole));
    return p + n + 1;
}

}  // namespace

extern "C" size_t fr_fmt_float(char *dst, float v) {
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    return fr__fmt_float_ref(dst, v);  // the word stores below assume little endian
#else
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    const uint32_t t = bits & 0x7FFFFFu, bq = (bits >> 23) & 0xFFu;
    if (bq == 0xFF) {  // NaN, +-Inf
        memcpy(dst, "null", 4);
        return 4;
    }
    char *p = dst;
    if (bits >> 31) *p++ = '-';
    if (bq == 0 && t == 0) {
        *p++ = '0';
        return (size_t)(p - dst);
    }
    const int mq = -kQMin + 1 - (int)bq;  // normal: v = c 2^-mq
    const uint32_t c = kCMin | t;
    uint64_t f;
    int e;
    if (bq != 0 && 0 < mq && mq < 24 && ((c >> mq) << mq) == c) {  // an integer below 2^24: its own digits
        f = c >> mq;
        e = 0;
    } else if (bq != 0) {
        schubfach(-mq, c, &f, &e);
    } else {  // subnormal
        schubfach(kQMin, t, &f, &e);
    }
    while (f % 10 == 0) f /= 10, e++;  // f != 0
    // v = f 10^e with n <= 9 digits; scientific exponent x = e + n - 1
    const int n = digit_count(f), x = e + n - 1;
    const int sci_len = n + (n > 1) + 4;  // |x| <= 45: two exponent digits
    const int fix_len = e >= 0 ? n + e : (n + e > 0 ? n + 1 : 2 - e);
    const bool huge = bq >= 127 + 53;  // |v| >= 2^53: always scientific (see the top)
    if (fix_len <= sci_len && !huge && e >= 0) {
        // An integer (below 2^24 every integer is a float, so f 10^e is v;
        // above, every float is an integer). to_chars writes its exact
        // digits, not f and zeros: as many characters, and the closer text
        // wins (33578648, not 33578650). At most 14 digits here.
        const uint64_t iv = mq <= 0 ? (uint64_t)c << -mq : c >> mq;
        const int ni = digit_count(iv);
        put_digits(p, iv, ni);
        return (size_t)(p + ni - dst);
    }
    const char hi = n == 9 ? (char)('0' + f / 100000000) : 0;
    const uint64_t w = ascii8((uint32_t)(f % 100000000)) >> (n >= 8 ? 0 : 8 * (8 - n));
    if (fix_len <= sci_len && !huge) {
        if (n + e > 0) return (size_t)(put_decimal(p, n, hi, w, n + e) - dst);  // d.ddd
        // 0.000ddd: at most 14 characters in all, so at most 11 zeros
        const int zeros = -e - n;
        store8(p, 0x3030303030302e30ull);  // "0.000000"
        store8(p + 8, 0x3030303030303030ull);
        p = put_decimal(p + 2 + zeros, n, hi, w, n);
        return (size_t)(p - dst);
    }
    p = put_decimal(p, n, hi, w, 1);  // d.ddd
    const int ax = x < 0 ? -x : x;
    p[0] = 'e';
    p[1] = x < 0 ? '-' : '+';
    memcpy(p + 2, kDigits2 + 2 * ax, 2);
    return (size_t)(p + 4 - dst);
#endif
}
extern "C" size_t fr_fmt_double(char *dst, double v) { return fmt(dst, v); }
