/* fraudd sink: the idempotent producer; results to the output topic, dead
 * letters to the dead-letter topic, and the delivery reports that complete
 * each job.
 *
 * Workers call fr_sink_result / fr_sink_dead_letter (rd_kafka_producev is
 * thread safe). The message carries the job as its opaque; once producev
 * succeeds the worker no longer touches the job. A result is copied into
 * the message; the input's own bytes (a dead letter's value, a pass-through
 * result) are not: they live as long as the job. The run thread polls the
 * producer (fr_sink_poll), so the delivery reports run there: they arrive
 * as events, one per acknowledged batch, each message's report exactly once,
 * and either complete the job or re-send:
 *
 *   delivered            -> complete: the record is done in its partition's
 *                           offsets (fr_part_done), its generation released,
 *                           the job back in the pool
 *   destination error    -> (topic missing or unauthorized, not enough
 *                           replicas) kept: re-sent with backoff (100 ms
 *                           doubling to 5 s) until it passes, never a dead
 *                           letter; the topic is blocked (fr_sink_blocked:
 *                           not ready, fraudd_output_blocked) until a
 *                           delivery to it succeeds
 *   failed, tries left   -> the same message again (kafka.produce_retries)
 *   result failed for good -> a dead letter, class "produce", reason = the error
 *   dead letter failed for good -> the record is blocked: re-sent with
 *                           backoff, its partition not read (fr_part.blocked),
 *                           nothing committed past it; the other partitions
 *                           flow (fraudd_blocked_record_offset)
 *
 * The run thread never waits for room in the producer's queue (only it
 * frees room, by serving reports): re-sends and dead letters from a report
 * are parked on a list it owns and sent by fr_sink_poll when due; a full
 * queue only delays them. Workers wait for room until fr_sink_stop_waiting;
 * a worker's produce refused at once goes to the run thread to decide.
 * A job whose produce was never accepted stays in flight: its offset is
 * not committed, the record is redelivered. Jobs waiting for a partition
 * that was revoked are dropped (the new owner reads them). Only librdkafka's
 * fatal errors (and running out of memory) stop the run with exit 1.

 * Headers on results: fraudd.model.version, fraudd.source.topic,
 * fraudd.source.partition, fraudd.source.offset (none with
 * kafka.result_headers: false, which saves their cost). Dead letters carry the
 * input's own headers, bytes and key unchanged, plus those and
 * fraudd.error.class, fraudd.error.reason, fraudd.error.message
 * (docs/OUTPUT.md).
 *
 * Thread safety: fr_sink_result and fr_sink_dead_letter from any worker;
 * everything else on the run thread, except fr_sink_stats (any thread).
 */
#ifndef FRAUDD_SINK_H
#define FRAUDD_SINK_H

#include <stddef.h>

#include "fraudd/config.h"
#include "fraudd/job.h"
#include "fraudd/kafka.h"
#include "fraudd/metrics.h"
#include "fraudd/mgen.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fr_sink fr_sink;

/* The producer and its topics. Everything given must outlive the sink. */
int fr_sink_new(const fr_config *c, fr_kafka_state *ks, fr_jobs *jobs, fr_mgens *gens, fr_sink **out, char *err,
                size_t errlen);
/* Anything still queued is abandoned (its offset was never stored). */
void fr_sink_free(fr_sink *k);

/* Run thread: a header list of a delivered result or dead letter that worker
 * `worker` built, detached from its delivery report, for that worker to destroy
 * before it builds new headers (fr_job's spare_hdrs); NULL when there is none. */
rd_kafka_headers_t *fr_sink_spare_headers(fr_sink *k, uint32_t worker);

/* Worker side: send a result / dead letter for job; never fails silently:
 * an immediate refusal is handed to the run thread, which retries, dead-
 * letters or keeps the job as above. */
void fr_sink_result(fr_sink *k, fr_job *job, const char *text, size_t len);
/* reason: an fr_reject, FR_DEAD_SCORER or FR_DEAD_DELIVERY (it decides the
 * class); reason_text: the header's short reason. */
void fr_sink_dead_letter(fr_sink *k, fr_job *job, int reason, const char *reason_text, const char *message);

/* Workers waiting for room in the producer's queue give up from now on:
 * their jobs stay in flight, never produced, so their offsets are not
 * committed (redelivered, never lost). fr_workers_stop calls it so that it
 * returns within the shutdown bound. Any thread. */
void fr_sink_stop_waiting(fr_sink *k);

/* Run thread: serves delivery reports, waiting up to timeout_ms for one,
 * and (re)sends the waiting messages that are due. */
void fr_sink_poll(fr_sink *k, int timeout_ms);
/* Run thread: waits up to timeout_ms for everything queued to be delivered
 * (reports served). */
void fr_sink_flush(fr_sink *k, int timeout_ms);

/* Nonzero while the output or dead-letter topic refuses records with a
 * destination error (no delivery to it since); writes why. Any thread. */
int fr_sink_blocked(fr_sink *k, char *why, size_t whylen);

/* Adds the sink's counters to out. Any thread. */
void fr_sink_stats(fr_sink *k, fr_stats *out);

/* ---- kafka.delivery: exactly_once ----
 *
 * The producer is transactional (transactional.id: kafka.transactional_id,
 * or fraudd-<group_id>-<$HOSTNAME or the host name>); fr_sink_new runs init_transactions, bounded
 * by 30 s, and fails with the reason). The source's run thread owns the
 * transaction: it begins one before dispatching a record into it, and
 * ends it with fr_sink_txn_commit (after every message of it has its
 * delivery report served: commit_transaction's own flush waits for served
 * reports, which only the run thread serves) or, after a failure, with
 * fr_sink_txn_purge, waiting for the jobs, and fr_sink_txn_abort.
 *
 * In this mode a failure that the at-least-once mode retries, dead-letters
 * or keeps with backoff (include/fraudd/sink.h, above) ends the
 * transaction instead when it cannot be kept inside it: a failed delivery
 * report (librdkafka makes the transaction abortable), a destination
 * error, a dead letter that fails for good. The job then ends without its
 * record being done and fr_sink_txn_failed says why; the source aborts,
 * rewinds and scores the records again. A produce call refused at once
 * (a result too large, say) is retried and dead-lettered inside the
 * transaction, as in the other mode. All run thread. */
typedef enum fr_txn_result {
    FR_TXN_COMMITTED = 0, /* done (for fr_sink_txn_abort: the abort went through) */
    FR_TXN_ABORT,         /* the transaction cannot commit: abort it */
    FR_TXN_FATAL          /* fenced, unsupported, or librdkafka's fatal error: the run stops (ks->fatal set) */
} fr_txn_result;

/* begin_transaction: 0, or FR_EIO (the run stops: ks->fatal set). */
int fr_sink_txn_begin(fr_sink *k);
/* NULL while the open transaction can commit; else why not. */
const char *fr_sink_txn_failed(const fr_sink *k);
/* send_offsets_to_transaction (offsets of consumer's group; none if NULL
 * or empty) and commit_transaction, each retried while retriable until
 * deadline_ns. records: how many records the transaction holds (metrics). */
fr_txn_result fr_sink_txn_commit(fr_sink *k, const rd_kafka_topic_partition_list_t *offsets, rd_kafka_t *consumer,
                                 uint64_t records, int64_t deadline_ns);
/* Fails every message not yet sent (their reports come as failures, and
 * the jobs end undone) and marks the transaction failed: the first step of
 * an abort; call it while waiting for the jobs (workers may still produce). */
void fr_sink_txn_purge(fr_sink *k);
/* abort_transaction, once every job of the transaction has ended: returns
 * FR_TXN_COMMITTED when the abort went through, else FR_TXN_FATAL. */
fr_txn_result fr_sink_txn_abort(fr_sink *k, int64_t deadline_ns);

/* A message of the open transaction that the broker refused for its
 * record's own fault (too large, invalid: FR_DELIVERY_RECORD), which made
 * the transaction fail. The source retries such a record in a transaction
 * of its own (src/source/txn.c, "poison records"). A refused batch
 * names every record in it, not only the one at fault. */
#define FR_TXN_MAX_CULPRITS 64
typedef struct fr_txn_culprit {
    int32_t partition;
    int64_t offset; /* of the input record */
    int dead;       /* the refused message was its dead letter, not its result */
    int err;        /* rd_kafka_resp_err_t */
} fr_txn_culprit;
/* The open (or just failed) transaction's culprits, up to
 * FR_TXN_MAX_CULPRITS, in *out; their count. Valid until the next begin. */
size_t fr_sink_txn_culprits(const fr_sink *k, const fr_txn_culprit **out);
/* exactly_once: the source holds (held 1) or released (0) a record whose
 * dead letter cannot be delivered: it shows as a blocked record
 * (fraudd_blocked_record_offset), as in the other mode. */
void fr_sink_record_held(fr_sink *k, int32_t partition, int64_t offset, int held);

#ifdef __cplusplus
}
#endif

#endif
