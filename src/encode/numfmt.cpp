// Shortest round-trip number text for the result encoder (include/fraudd/encode.h).
//
// std::to_chars (C++17, libstdc++ 11+) prints the shortest decimal that
// reads back to the same float/double, without locale, allocation or
// format-string parsing - several times faster than snprintf("%.9g") and
// exact. Non-finite values print as JSON null. Thread safe.
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
    auto r = std::to_chars(dst, dst + 32, v);
    return r.ec == std::errc() ? static_cast<size_t>(r.ptr - dst) : 0;
}

extern "C" size_t fr_fmt_float(char *dst, float v) { return fmt(dst, v); }
extern "C" size_t fr_fmt_double(char *dst, double v) { return fmt(dst, v); }
