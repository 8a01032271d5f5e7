/* fraudd dead letters: why a record went to the dead-letter topic.
 *
 * A reason (the header fraudd.error.reason, the metrics label "reason") is
 * a decoder rejection (fr_reject, never FR_REJ_NONE) or one of the two the
 * pipeline adds; its class (fraudd.error.class, label "class") follows from
 * it. The sink writes them, the metrics count them: the names live here,
 * below both (docs/OUTPUT.md lists them).
 *
 * Thread safety: pure functions over constant tables.
 */
#ifndef FRAUDD_DEADLETTER_H
#define FRAUDD_DEADLETTER_H

#include "fraudd/record.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fr_err_class {
    FR_EC_DECODE = 0, /* not JSON, not an object, duplicate key, too large */
    FR_EC_FEATURE,    /* a feature missing, null, of the wrong type, not finite */
    FR_EC_MODEL,      /* the model could not score it (preprocessing domain) */
    FR_EC_PRODUCE,    /* its result could not be delivered after retries */
    FR_EC__COUNT
} fr_err_class;

#define FR_DEAD_SCORER (FR_REJ_PREPROCESS + 1)   /* "scorer_failed": the batch could not be scored */
#define FR_DEAD_DELIVERY (FR_REJ_PREPROCESS + 2) /* "delivery_failed": result undeliverable */
#define FR_DEAD__COUNT (FR_REJ_PREPROCESS + 3)

const char *fr_err_class_name(fr_err_class c);
/* reason: an fr_reject or FR_DEAD_*. */
const char *fr_dead_reason_name(int reason);
fr_err_class fr_dead_reason_class(int reason);

#ifdef __cplusplus
}
#endif

#endif
