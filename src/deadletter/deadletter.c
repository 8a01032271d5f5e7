/* Dead-letter reasons and classes (include/fraudd/deadletter.h). */
#include "fraudd/deadletter.h"

static const char *const class_names[FR_EC__COUNT] = {"decode", "feature", "model", "produce"};

const char *fr_err_class_name(fr_err_class c) { return (unsigned)c < FR_EC__COUNT ? class_names[c] : "unknown"; }

const char *fr_dead_reason_name(int reason) {
    if (reason == FR_DEAD_SCORER) return "scorer_failed";
    if (reason == FR_DEAD_DELIVERY) return "delivery_failed";
    return fr_reject_name((fr_reject)reason);
}

fr_err_class fr_dead_reason_class(int reason) {
    switch (reason) {
    case FR_DEAD_SCORER: return FR_EC_MODEL;
    case FR_DEAD_DELIVERY: return FR_EC_PRODUCE;
    case FR_REJ_MISSING:
    case FR_REJ_NULL:
    case FR_REJ_TYPE:
    case FR_REJ_NONFINITE: return FR_EC_FEATURE;
    case FR_REJ_PREPROCESS: return FR_EC_MODEL;
    default: return FR_EC_DECODE;
    }
}
