/* The job pool (include/fraudd/job.h). */
#include <stdlib.h>

#include "fraudd/err.h"
#include "fraudd/job.h"

int fr_jobs_init(fr_jobs *j, size_t n) {
    j->all = calloc(n, sizeof *j->all);
    j->free = NULL;
    j->n = n;
    j->in_flight = 0;
    atomic_init(&j->in_flight_a, 0);
    if (!j->all) return FR_ENOMEM;
    for (size_t i = n; i-- > 0;) {
        j->all[i].next_free = j->free;
        j->free = &j->all[i];
    }
    return 0;
}

void fr_jobs_destroy(fr_jobs *j) {
    for (size_t i = 0; j->all && i < j->n; i++) {
        if (j->all[i].msg) rd_kafka_message_destroy(j->all[i].msg);
        if (j->all[i].spare_hdrs) rd_kafka_headers_destroy(j->all[i].spare_hdrs);
    }
    free(j->all);
    j->all = j->free = NULL;
}
