// Shortest round-trip number text for the result encoder (include/fraudd/encode.h).
//
// What: fr_fmt_float / fr_fmt_double write the shortest decimal text that
// reads back (strtof / strtod, round to nearest) to exactly the same value,
// via C++17 std::to_chars with no precision argument (libstdc++ 11+, Ryu
// based). The text is valid JSON for every finite value: "0.1", "-2.5",
// "659479424", "1e+20", "1.17549435e-38", "-0"; NaN and +-Inf, which JSON
// cannot express, are written as `null` so the output stays parseable.
// One deviation from plain to_chars: magnitudes >= 2^53 always use the
// exponent form (same digits). Plain to_chars prints e.g. 1.3448079939007265e21
// as the 22-digit integer 1344807993900726484992 (a tie in length); such
// integers overflow the int64 of many JSON readers (jansson: "too big
// integer") and exceed JavaScript's exact range, so integer-looking output
// stays below 2^53.
// Guarantees: at most 24 bytes written (dst needs 32 by contract), no NUL,
// no locale, no allocation, several times faster than snprintf("%.17g") and
// exact where %.9g/%.17g are either lossy or needlessly long.
// Threads: pure, thread safe.
#include <charconv>
#include <cmath>
#include <cstring>

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

extern "C" size_t fr_fmt_float(char *dst, float v) { return fmt(dst, v); }
extern "C" size_t fr_fmt_double(char *dst, double v) { return fmt(dst, v); }
