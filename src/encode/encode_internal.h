/* What only src/encode's own files (and its tests) share. */
#ifndef FRAUDD_ENCODE_INTERNAL_H
#define FRAUDD_ENCODE_INTERNAL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* fr_fmt_float's reference: the same text by std::to_chars (numfmt.cpp). */
size_t fr__fmt_float_ref(char *dst, float v);

#ifdef __cplusplus
}
#endif

#endif
