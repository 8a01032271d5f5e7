/* What the files of src/reload share (include/fraudd/reload.h is the
 * module's promise). */
#ifndef FRAUDD_RELOAD_INTERNAL_H
#define FRAUDD_RELOAD_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "fraudd/model.h"

/* 64-bit FNV-1a of a model's bytes: "is this the model I already have". */
uint64_t fr__model_digest(const void *buf, size_t len);

/* A champion and its challenger must read the same features (the same
 * records feed both) and carry two versions (each result names its
 * model). 0, or FR_EMODEL and why in err. */
int fr__model_check_pair(const fr_model *champion, const fr_model *challenger, char *err, size_t errlen);

#endif
