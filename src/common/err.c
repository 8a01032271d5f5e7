/* One table of error codes (include/fraudd/err.h); this file only looks up. */
#include "fraudd/err.h"

#include <stdarg.h>
#include <stdio.h>

const char *fr_err_name(int code) {
    switch (code) {
    case FR_OK: return "FR_OK";
#define FR__ERR_NAME(name, c, msg) case c: return "FR_E" #name;
    FR_ERR_MAP(FR__ERR_NAME)
#undef FR__ERR_NAME
    default: return "FR_E?";
    }
}

const char *fr_strerror(int code) {
    switch (code) {
    case FR_OK: return "success";
#define FR__ERR_MSG(name, c, msg) case c: return msg;
    FR_ERR_MAP(FR__ERR_MSG)
#undef FR__ERR_MSG
    default: return "unknown error";
    }
}

int fr_set_err(char *err, size_t errlen, int code, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}
