/* Source, the transaction side (kafka.delivery: exactly_once): the
 * transactions the run thread opens and ends, and the records that go in
 * one of their own. src/source/source_internal.h has what it shares with
 * consumer.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fraudd/common.h"
#include "fraudd/err.h"
#include "fraudd/log.h"
#include "source_internal.h"

/* ---- transactions (kafka.delivery: exactly_once) ----
 *
 * The run thread owns the one open transaction of the producer. It begins
 * one before dispatching the first record after the last one ended
 * (txn_admit), so an idle instance commits nothing. A transaction is
 * closed (txn_close) transaction_interval_ms after it began, or when it
 * holds transaction_max_records records, or before partitions are given
 * up (revoke, shutdown):
 *   1. nothing is dispatched (the run thread is inside txn_close);
 *   2. wait until every job of it has ended: results and dead letters
 *      acknowledged, delivery reports served (commit_transaction's flush
 *      waits for served reports, and only this thread serves them);
 *   3. each owned partition's committable offset, which now covers every
 *      record dispatched from it, goes to send_offsets_to_transaction with
 *      the consumer's group metadata (KIP-447: the broker fences a member
 *      of an older generation, so a zombie cannot commit), then
 *      commit_transaction;
 *   4. the next record begins the next transaction.
 * Anything that prevents the commit (a failed delivery, a destination
 * error, an abortable error from librdkafka, partitions lost) aborts
 * (txn_abort): unsent messages are purged, the jobs are waited for (they
 * end undone), abort_transaction, then every owned partition is rewound
 * to its position at the last commit (fr_part.txn_base: known here, so no
 * round trip to the coordinator), its held records dropped and its
 * tracker reset, and its records are read and scored again. After an
 * abort caused by a failure, the next transaction waits a backoff (100 ms
 * doubling to 5 s, reset by a commit), so a broken destination is retried
 * as in the at-least-once mode without spinning. Fatal errors (fenced,
 * unsupported) stop the run (exit 1). */
#define FR_TXN_BACKOFF_MIN_MS 100
#define FR_TXN_BACKOFF_MAX_MS 5000

/* ---- poison records (kafka.delivery: exactly_once) ----
 *
 * One transaction covers every partition, so a record whose message the
 * broker refuses for the record's own fault (too large for the topic,
 * invalid: the sink names it, fr_sink_txn_culprits) would abort every
 * transaction it is in, for ever, and stall every partition. Such a record
 * is marked, and a marked record only ever goes in a transaction of its
 * own (txn_solo), which nothing else joins:
 *   - marked after a shared transaction failed: a suspect (a refused batch
 *     names every record in it); alone it usually just commits;
 *   - its result refused alone more than kafka.produce_retries times: its
 *     dead letter is sent instead (fr_job.result_refused, class produce),
 *     as in the at-least-once mode;
 *   - its dead letter refused alone: it is blocked, as in the other mode:
 *     tried alone again with backoff (100 ms doubling to 5 s), shown as a
 *     blocked record (fraudd_blocked_record_offset, FrauddRecordBlocked).
 * Its partition waits behind it (records keep their order and nothing is
 * committed past it); every other partition flows in the shared
 * transactions. A marked record that is due goes before the next shared
 * transaction begins. A mark ends when a commit passes its offset, or with
 * its partition (revoked: the next owner meets the record itself). Such an
 * abort is the record's fault, not the deployment's: no backoff for the
 * others, readiness unchanged. */
/* One marked record (fr_source.marks). */
typedef struct fr__mark {
    int32_t partition;
    int64_t offset;
    int32_t result_err;  /* its result was refused alone too often: dead-letter it */
    int refusals;        /* its result was refused alone this often */
    int held;            /* its dead letter was refused alone: blocked */
    uint32_t backoff_ms; /* held: the next wait */
    int64_t due_ns;      /* not tried again before this */
} fr__mark;

static fr__mark *mark_find(fr_source *s, int32_t partition, int64_t offset) {
    for (size_t i = 0; i < s->n_marks; i++)
        if (s->marks[i].partition == partition && s->marks[i].offset == offset) return &s->marks[i];
    return NULL;
}

/* The mark of (partition, offset), new if there is none; NULL when out of
 * memory (the record then fails its shared transactions until memory
 * comes back: retried, never skipped). */
static fr__mark *mark_get(fr_source *s, int32_t partition, int64_t offset) {
    fr__mark *mk = mark_find(s, partition, offset);
    if (mk) return mk;
    if (s->n_marks == s->cap_marks) {
        size_t cap = s->cap_marks ? 2 * s->cap_marks : 8;
        fr__mark *a = realloc(s->marks, cap * sizeof *a);
        if (!a) return NULL;
        s->marks = a;
        s->cap_marks = cap;
    }
    mk = &s->marks[s->n_marks++];
    *mk = (fr__mark){.partition = partition, .offset = offset};
    return mk;
}

static void mark_remove(fr_source *s, size_t i, const char *why) {
    fr__mark *mk = &s->marks[i];
    if (mk->held) {
        fr_sink_record_held(s->sink, mk->partition, mk->offset, 0);
        fr_log(FR_LOG_INFO, "record_unblocked", "%s [%d] offset %lld: %s", s->cfg->kafka.input_topic,
               (int)mk->partition, (long long)mk->offset, why);
    }
    s->marks[i] = s->marks[--s->n_marks];
}

/* Drops the marks a commit passed, and those of partitions no longer ours. */
void fr__marks_prune(fr_source *s) {
    for (size_t i = s->n_marks; i-- > 0;) {
        fr_part *part = fr_parts_get(&s->parts, s->marks[i].partition, 0);
        if (!part || !part->assigned)
            mark_remove(s, i, "its partition was revoked");
        else if (part->txn_sent > s->marks[i].offset)
            mark_remove(s, i, "committed");
    }
}

/* A due mark whose record waits at the head of its partition: it goes
 * before a shared transaction begins. */
static int marks_waiting(fr_source *s, int64_t now_ns) {
    for (size_t i = 0; i < s->n_marks; i++) {
        fr__mark *mk = &s->marks[i];
        if (mk->due_ns > now_ns) continue;
        fr_part *part = fr_parts_get(&s->parts, mk->partition, 0);
        fr__pq *q = part && part->assigned ? part->queue : NULL;
        if (q && q->n && q->held[q->head]->offset == mk->offset) return 1;
    }
    return 0;
}

/* The open transaction failed: its culprits (the sink's) become marks, or
 * move on if they are marked (solo). Returns how many it named. */
static size_t marks_note(fr_source *s, int64_t now_ns) {
    const fr_txn_culprit *c;
    size_t n = fr_sink_txn_culprits(s->sink, &c);
    for (size_t i = 0; i < n; i++) {
        fr_part *part = fr_parts_get(&s->parts, c[i].partition, 0);
        if (!part || !part->assigned) continue;
        fr__mark *mk = mark_get(s, c[i].partition, c[i].offset);
        if (!mk) continue;
        const char *err = rd_kafka_err2str((rd_kafka_resp_err_t)c[i].err);
        if (!s->txn_solo) {
            fr_log(FR_LOG_WARN, "record_suspect", "%s [%d] offset %lld: its %s was refused (%s); it goes alone next",
                   s->cfg->kafka.input_topic, (int)c[i].partition, (long long)c[i].offset,
                   c[i].dead ? "dead letter" : "result", err);
        } else if (!c[i].dead) {
            int last = ++mk->refusals > s->cfg->kafka.produce_retries;
            if (last) mk->result_err = c[i].err;
            fr_log(FR_LOG_WARN, "result_refused", "%s [%d] offset %lld: its result was refused alone (%s, attempt %d)%s",
                   s->cfg->kafka.input_topic, (int)c[i].partition, (long long)c[i].offset, err, mk->refusals,
                   last ? "; its dead letter goes instead" : "; tried alone again");
        } else {
            mk->backoff_ms = mk->backoff_ms ? mk->backoff_ms * 2 : FR_TXN_BACKOFF_MIN_MS;
            if (mk->backoff_ms > FR_TXN_BACKOFF_MAX_MS) mk->backoff_ms = FR_TXN_BACKOFF_MAX_MS;
            mk->due_ns = now_ns + (int64_t)mk->backoff_ms * 1000000;
            if (!mk->held) {
                mk->held = 1;
                fr_sink_record_held(s->sink, mk->partition, mk->offset, 1);
            }
            static fr_log_limiter lim;
            fr_log_limited(&lim, FR_LOG_ERROR, "record_blocked",
                           "%s [%d] offset %lld: its dead letter to %s failed for good (%s); partition %d is not "
                           "committed past it; retrying alone every %u ms",
                           s->cfg->kafka.input_topic, (int)c[i].partition, (long long)c[i].offset,
                           s->cfg->kafka.dead_letter_topic, err, (int)c[i].partition, mk->backoff_ms);
        }
    }
    return n;
}

/* May m go into a transaction now (beginning one if needed)? DISPATCHED:
 * yes; BLOCKED: not yet (the open one is full, a backoff); HELD: its
 * partition waits (a marked record waits for its turn alone, or the open
 * transaction is one). *result_refused: as in source_internal.h. */
int fr__txn_admit(fr_source *s, const rd_kafka_message_t *m, int64_t now_ns, int32_t *result_refused) {
    fr__mark *mk = s->n_marks ? mark_find(s, m->partition, m->offset) : NULL;
    *result_refused = mk ? mk->result_err : 0;
    if (s->txn_open) {
        if (mk || s->txn_solo) return HELD;
        return s->txn_records < (uint64_t)s->cfg->kafka.transaction_max_records ? DISPATCHED : BLOCKED;
    }
    if (now_ns < s->txn_resume_ns || atomic_load(&s->ks->fatal)) return BLOCKED;
    if (mk ? mk->due_ns > now_ns : s->n_marks && marks_waiting(s, now_ns)) return HELD;
    if (fr_sink_txn_begin(s->sink)) return BLOCKED; /* fatal: the run stops */
    s->txn_open = 1;
    s->txn_solo = mk != NULL;
    s->txn_records = 0;
    s->txn_start_ns = now_ns;
    return DISPATCHED;
}

/* The bound of one transaction step: pipeline.shutdown_timeout_ms, and the
 * shutdown's deadline once it began. */
static int64_t txn_deadline(fr_source *s) {
    int64_t d = fr_now_ns() + (int64_t)s->cfg->pipeline.shutdown_timeout_ms * 1000000;
    if (s->shutdown_deadline_ns && s->shutdown_deadline_ns < d) d = s->shutdown_deadline_ns;
    return d;
}

/* "partition@offset,..." of list into buf, for the log. */
void fr__offsets_text(const rd_kafka_topic_partition_list_t *l, char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < l->cnt && n + 32 < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%d@%lld", i ? "," : "", (int)l->elems[i].partition,
                              (long long)l->elems[i].offset);
}

/* Every owned partition back to where the last commit left it: held
 * records dropped (they are read again), trackers reset (reports of jobs
 * from before are ignored), a seek to txn_base. A seek that fails would
 * skip records: the run stops instead. */
static int txn_rewind(fr_source *s) {
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
    char txt[512];
    for (size_t i = 0; i < s->parts.n; i++) {
        fr_part *part = s->parts.v[i];
        if (!part || !part->assigned) continue;
        fr__pq *q = part->queue;
        if (q) {
            for (size_t k = 0; k < q->n; k++) rd_kafka_message_destroy(q->held[q->head + k]);
            q->head = q->n = 0;
        }
        fr_otrack_reset(&part->track);
        part->dirty = 0;
        part->gave_back = 0;
        if (part->txn_base < 0) continue; /* nothing taken since the last commit */
        rd_kafka_topic_partition_list_add(list, s->cfg->kafka.input_topic, part->id)->offset = part->txn_base;
    }
    fr__offsets_text(list, txt, sizeof txt);
    int rc = 0;
    if (list->cnt) {
        rd_kafka_error_t *e = rd_kafka_seek_partitions(s->consumer, list, 10000);
        const char *why = e ? rd_kafka_error_string(e) : NULL;
        for (int i = 0; !why && i < list->cnt; i++)
            if (list->elems[i].err) why = rd_kafka_err2str(list->elems[i].err);
        if (why) {
            fr_log(FR_LOG_ERROR, "rewind_failed", "%s [%s]: %s; stopping (exit 1) rather than skip records",
                   s->cfg->kafka.input_topic, txt, why);
            atomic_store(&s->ks->fatal, 1);
            rc = FR_EIO;
        } else {
            fr_log(FR_LOG_INFO, "rewound", "%s [%s] (partition@offset): scoring again from there",
                   s->cfg->kafka.input_topic, txt);
        }
        if (e) rd_kafka_error_destroy(e);
    }
    rd_kafka_topic_partition_list_destroy(list);
    return rc;
}

/* Aborts the open transaction and rewinds (see above). backoff: it failed
 * (rather than being given up for a rebalance): the next one waits. */
int fr__txn_abort(fr_source *s, const char *why, int backoff) {
    if (!s->txn_open) return 0;
    int64_t deadline = txn_deadline(s);
    char reason[300];
    const char *failed = fr_sink_txn_failed(s->sink);
    snprintf(reason, sizeof reason, "%s", failed ? failed : why);
    /* workers may still produce into it: purge until every job has ended */
    while (s->jobs->in_flight && fr_now_ns() < deadline) {
        fr_sink_txn_purge(s->sink);
        fr_workers_wake(s->ws);
        fr_sink_poll(s->sink, 5);
    }
    if (s->jobs->in_flight) {
        fr_log(FR_LOG_ERROR, "transaction_stuck", "%zu records of the transaction did not end within %d ms; stopping",
               s->jobs->in_flight, s->cfg->pipeline.shutdown_timeout_ms);
        atomic_store(&s->ks->fatal, 1);
        return FR_EIO;
    }
    s->txn_open = 0;
    /* a record's own fault: it goes alone from now on, the others need no backoff */
    if (s->eos && marks_note(s, fr_now_ns())) backoff = 0;
    s->txn_solo = 0;
    if (fr_sink_txn_abort(s->sink, deadline) != FR_TXN_COMMITTED) return FR_EIO; /* fatal, logged */
    if (backoff) {
        atomic_store(&s->txn_failing, why);
        s->txn_backoff_ms = s->txn_backoff_ms ? s->txn_backoff_ms * 2 : FR_TXN_BACKOFF_MIN_MS;
        if (s->txn_backoff_ms > FR_TXN_BACKOFF_MAX_MS) s->txn_backoff_ms = FR_TXN_BACKOFF_MAX_MS;
        s->txn_resume_ns = fr_now_ns() + (int64_t)s->txn_backoff_ms * 1000000;
    }
    static fr_log_limiter lim;
    fr_log_limited(&lim, FR_LOG_WARN, "transaction_aborted",
                   "%llu records, after %.0f ms: %s; their partitions rewind and they are scored again%s",
                   (unsigned long long)s->txn_records, (double)(fr_now_ns() - s->txn_start_ns) / 1e6, reason,
                   backoff ? " after a backoff" : "");
    return txn_rewind(s);
}

/* Commits the open transaction with every owned partition's committable
 * offset (aborting it if it cannot); 0, or FR_EIO if it was aborted or the
 * run stops. */
int fr__txn_close(fr_source *s) {
    if (!s->txn_open) return 0;
    int64_t deadline = txn_deadline(s);
    while (s->jobs->in_flight && !fr_sink_txn_failed(s->sink) && !atomic_load(&s->ks->fatal) &&
           fr_now_ns() < deadline) {
        fr_workers_wake(s->ws);
        fr_sink_poll(s->sink, 5);
    }
    if (atomic_load(&s->ks->fatal)) return FR_EIO;
    if (fr_sink_txn_failed(s->sink) || s->jobs->in_flight) {
        fr__txn_abort(s, "its records were not all acknowledged in time", 1);
        return FR_EIO;
    }
    s->next_position_check = 0;
    fr__skip_unaccounted(s); /* offsets no record accounts for (transaction markers of the input) */
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < s->parts.n; i++) {
        fr_part *part = s->parts.v[i];
        if (!part || !part->assigned || part->track.committable < 0 || part->track.committable == part->txn_sent)
            continue;
        rd_kafka_topic_partition_list_add(list, s->cfg->kafka.input_topic, part->id)->offset = part->track.committable;
    }
    fr_txn_result r = fr_sink_txn_commit(s->sink, list, s->consumer, s->txn_records, deadline);
    int rc = 0;
    if (r == FR_TXN_COMMITTED) {
        s->txn_open = 0;
        s->txn_solo = 0;
        s->txn_backoff_ms = 0;
        atomic_store(&s->txn_failing, NULL);
        /* the committed offset is the new rewind point if records taken
         * after it are held; else the next record taken sets it */
        for (int i = 0; i < list->cnt; i++) {
            fr_part *part = fr_parts_get(&s->parts, list->elems[i].partition, 0);
            if (!part) continue;
            part->txn_sent = list->elems[i].offset;
            part->txn_base = part->queue && part->queue->n ? part->txn_sent : -1;
        }
        if (s->n_marks) fr__marks_prune(s);
    } else if (r == FR_TXN_ABORT) {
        fr__txn_abort(s, "the commit failed", 1);
        rc = FR_EIO;
    } else {
        rc = FR_EIO; /* fatal: logged, the run stops */
    }
    rd_kafka_topic_partition_list_destroy(list);
    return rc;
}

/* Run thread, every poll: ends the open transaction when it is due or has
 * failed. */
void fr__txn_tick(fr_source *s) {
    if (!s->txn_open || s->draining) return;
    if (fr_sink_txn_failed(s->sink)) {
        fr__txn_abort(s, "a delivery failed", 1);
        return;
    }
    int64_t now = fr_now_ns();
    if (s->txn_solo || now - s->txn_start_ns >= (int64_t)s->cfg->kafka.transaction_interval_ms * 1000000 ||
        s->txn_records >= (uint64_t)s->cfg->kafka.transaction_max_records)
        fr__txn_close(s);
}

int64_t fr__txn_wake_at(fr_source *s, int64_t now_ns) {
    /* the open transaction's end, or a backoff's or a marked record's wait
     * (one already over needs no wake-up: a past time would make every
     * wait 0, a busy loop while idle) */
    if (s->txn_open) return s->txn_start_ns + (int64_t)s->cfg->kafka.transaction_interval_ms * 1000000;
    int64_t at = s->txn_resume_ns > now_ns ? s->txn_resume_ns : 0;
    for (size_t i = 0; i < s->n_marks; i++)
        if (s->marks[i].due_ns > now_ns && (!at || s->marks[i].due_ns < at)) at = s->marks[i].due_ns;
    return at;
}
