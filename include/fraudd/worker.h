/* fraudd workers: N threads, each the only consumer of its own ring.
 *
 * A worker pops up to pipeline.batch_size jobs at once, scores them in one
 * fr_scorer_run call (decode, model over the whole micro-batch, score,
 * encode) with the scorer of each job's model generation, and hands each
 * result or dead letter to the sink. The run thread (source) is the only
 * producer of every ring: it checks for room (fr_worker_room), pushes
 * (fr_worker_push) and, once per poll round, wakes the workers it pushed to
 * (fr_workers_wake). Idle workers sleep, so an idle pod uses no CPU (the
 * HPA scales on CPU).
 *
 * Construction and teardown are here: fr_workers_new builds the rings and
 * per-batch scratch (nothing is allocated per record), fr_workers_start
 * starts the threads with signals blocked, fr_workers_stop lets them empty
 * their rings and joins them.
 *
 * Thread safety: push, room and wake on the run thread only; stats from any
 * thread.
 */
#ifndef FRAUDD_WORKER_H
#define FRAUDD_WORKER_H

#include <stddef.h>

#include "fraudd/config.h"
#include "fraudd/job.h"
#include "fraudd/metrics.h"
#include "fraudd/sink.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fr_workers fr_workers;
typedef struct fr_worker fr_worker;

/* n workers, rings of pipeline.ring_capacity, batches of batch; results go
 * to sink (which must outlive the workers). */
int fr_workers_new(const fr_config *c, int n, size_t batch, fr_sink *sink, fr_workers **out, char *err, size_t errlen);
/* Stops (fr_workers_stop) and frees. */
void fr_workers_free(fr_workers *ws);
int fr_workers_start(fr_workers *ws, char *err, size_t errlen);
/* Workers exit once their ring is empty; returns when all have. A worker
 * waiting for room in the producer's queue gives up (fr_sink_stop_waiting),
 * so this is bounded even when the broker is gone. Only the first call does
 * anything (fr_workers_free calls it again, when the sink may be gone). */
void fr_workers_stop(fr_workers *ws);

int fr_workers_count(const fr_workers *ws);
fr_worker *fr_workers_at(fr_workers *ws, int i);
/* Run thread: nonzero if w's ring has a free slot. */
int fr_worker_room(const fr_worker *w);
/* Run thread: queues job on w (ownership of job moves to the worker; there
 * must be room) and marks w to be woken. */
void fr_worker_push(fr_workers *ws, fr_worker *w, fr_job *job);
/* Run thread: wakes the workers pushed to since the last call. */
void fr_workers_wake(fr_workers *ws);

void fr_workers_stats(const fr_workers *ws, int i, fr_worker_stats *out);
/* Adds the workers' counters to out. Any thread. */
void fr_workers_add_stats(const fr_workers *ws, fr_stats *out);

#ifdef __cplusplus
}
#endif

#endif
