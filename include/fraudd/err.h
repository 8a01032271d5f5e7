/* fraudd error model.
 *
 * Every fallible function returns 0 on success or a negative fr_err code.
 * Codes, names and messages come from one X-macro table so they cannot drift.
 * Functions that can fail on outside input also take (char *err, size_t errlen)
 * and write a sentence there saying where and what was expected.
 *
 * Thread safety: everything here is pure and thread safe.
 */
#ifndef FRAUDD_ERR_H
#define FRAUDD_ERR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FR_ERR_MAP(X)                                                         \
    X(NOMEM, -1, "out of memory")                                             \
    X(INVAL, -2, "invalid argument")                                          \
    X(IO, -3, "input/output error")                                           \
    X(PARSE, -4, "malformed input")                                           \
    X(UNSUPPORTED, -5, "unsupported construct")                               \
    X(MODEL, -6, "inconsistent model")                                        \
    X(MISSING, -7, "required value missing")                                  \
    X(TYPE, -8, "value has the wrong type")                                   \
    X(NONFINITE, -9, "value is NaN or infinite")                              \
    X(TOOBIG, -10, "input too large")                                         \
    X(DUPLICATE, -11, "duplicate key")                                        \
    X(RANGE, -12, "value out of range")

typedef enum fr_err {
    FR_OK = 0,
#define FR__ERR_ENUM(name, code, msg) FR_E##name = (code),
    FR_ERR_MAP(FR__ERR_ENUM)
#undef FR__ERR_ENUM
} fr_err;

/* "FR_EPARSE" style name of a code; "FR_E?" for unknown codes. */
const char *fr_err_name(int code);
/* Human message of a code; "unknown error" for unknown codes. */
const char *fr_strerror(int code);

/* snprintf into err (if err && errlen), always NUL terminated. Returns code
 * unchanged so callers can write `return fr_set_err(err, n, FR_EPARSE, ...)`. */
int fr_set_err(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#ifdef __cplusplus
}
#endif

#endif
