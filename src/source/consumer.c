/* Source (include/fraudd/source.h has the design). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fraudd/common.h"
#include "fraudd/err.h"
#include "fraudd/log.h"
#include "fraudd/offsets.h"
#include "fraudd/source.h"
#include "source_internal.h"

/* ---- partition queues ---- */

/* The partition's queue entry, or NULL; with create, a new empty one if
 * there is none (NULL only when out of memory). */
static fr__pq *pq_get(fr_source *s, int32_t id, int create) {
    fr_part *part = fr_parts_get(&s->parts, id, create);
    if (part && !part->queue && create) part->queue = calloc(1, sizeof(fr__pq));
    return part ? part->queue : NULL;
}

/* Takes the partition's queue out of the consumer's, once per partition:
 * librdkafka keeps it split for the partition's life (an application
 * forward sets a flag that its own fetch start respects), so its records
 * are read only by read_part, and the fetcher stops at the queue's own
 * bound (queued.max.messages.kbytes) while it is not read. */
static int split_queue(fr_source *s, fr__pq *q, int32_t id) {
    if (q->q) return 0;
    q->q = rd_kafka_queue_get_partition(s->consumer, s->cfg->kafka.input_topic, id);
    if (!q->q) return FR_ENOMEM;
    rd_kafka_queue_forward(q->q, NULL);
    rd_kafka_queue_io_event_enable(q->q, s->wake[1], "p", 1);
    return 0;
}

/* ---- offsets ---- */

/* Offsets no record accounts for. Transaction markers and aborted records
 * (read_committed skips them) sit between records and after the last one,
 * so the offset after a partition's last record can stay below its end for
 * good: the lag would read 1 or more for ever. librdkafka's position of a
 * partition is the offset after the last message it handed us, control
 * records included; when a partition has nothing in flight, nothing held
 * and nothing given back, every offset below it is done, so its committable
 * moves up to it. */
#define FR_POSITION_CHECK_MS 100
void fr__skip_unaccounted(fr_source *s) {
    rd_kafka_topic_partition_list_t *list = NULL;
    for (size_t i = 0; i < s->parts.n; i++) {
        fr_part *part = s->parts.v[i];
        /* last_pushed >= 0: a record of this assignment was handed to us, so
         * the position is this assignment's, not one left from before */
        if (!part || !part->assigned || part->gave_back || part->track.last_pushed < 0 ||
            fr_otrack_in_flight(&part->track))
            continue;
        fr__pq *q = pq_get(s, part->id, 0);
        if (q && q->n) continue; /* records held */
        if (!list) list = rd_kafka_topic_partition_list_new(8);
        rd_kafka_topic_partition_list_add(list, s->cfg->kafka.input_topic, part->id);
    }
    if (!list) return;
    if (rd_kafka_position(s->consumer, list) == RD_KAFKA_RESP_ERR_NO_ERROR)
        for (int i = 0; i < list->cnt; i++) {
            fr_part *part = fr_parts_get(&s->parts, list->elems[i].partition, 0);
            int64_t pos = list->elems[i].offset;
            if (!part || pos < 0 || pos <= part->track.committable) continue;
            fr_otrack_skip_to(&part->track, pos);
            part->dirty = 1;
        }
    rd_kafka_topic_partition_list_destroy(list);
}

void fr_source_store_offsets(fr_source *s) {
    if (s->eos) return; /* offsets go into the transactions (src/source/txn.c) */
    int64_t now = fr_now_ns();
    if (now >= s->next_position_check) {
        fr__skip_unaccounted(s);
        s->next_position_check = now + (int64_t)FR_POSITION_CHECK_MS * 1000000;
    }
    rd_kafka_topic_partition_list_t *list = NULL;
    for (size_t i = 0; i < s->parts.n; i++) {
        fr_part *part = s->parts.v[i];
        if (!part || !part->dirty) continue;
        part->dirty = 0;
        if (!part->assigned || part->track.committable < 0 || part->track.committable == part->stored) continue;
        if (!list) list = rd_kafka_topic_partition_list_new(8);
        rd_kafka_topic_partition_list_add(list, s->cfg->kafka.input_topic, part->id)->offset =
            part->track.committable;
        part->stored = part->track.committable;
    }
    if (!list) return;
    rd_kafka_resp_err_t e = rd_kafka_offsets_store(s->consumer, list);
    if (e)
        fr_log(FR_LOG_WARN, "offset_store_failed", "%s: %s", s->cfg->kafka.input_topic, rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(list);
}

/* ---- dispatch ---- */

static uint64_t hash_bytes(const void *data, size_t len) {
    /* FNV-1a, 64 bit: cheap and well spread for short keys */
    const unsigned char *b = data;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static fr_worker *pick_worker(fr_source *s, const rd_kafka_message_t *m) {
    unsigned n = (unsigned)fr_workers_count(s->ws);
    /* one worker: nothing to choose, and hashing the key would be the run
     * thread's first (cache-missing) touch of the record's bytes */
    if (n == 1) return fr_workers_at(s->ws, 0);
    switch (s->cfg->pipeline.ordering) {
    case FR_ORDER_KEY:
        if (m->key && m->key_len) return fr_workers_at(s->ws, (int)(hash_bytes(m->key, m->key_len) % n));
        return fr_workers_at(s->ws, (int)(s->rr++ % n));
    case FR_ORDER_PARTITION:
        return fr_workers_at(s->ws, (int)((unsigned)m->partition % n));
    case FR_ORDER_UNORDERED:
    default:
        for (unsigned i = 0; i < n; i++) {
            fr_worker *w = fr_workers_at(s->ws, (int)((s->rr + i) % n));
            if (fr_worker_room(w)) {
                s->rr += i + 1;
                return w;
            }
        }
        return fr_workers_at(s->ws, (int)(s->rr++ % n));
    }
}

/* now_ns: the clock read once per batch of records */
static int dispatch(fr_source *s, rd_kafka_message_t *m, int64_t now_ns) {
    fr_part *part = fr_parts_get(&s->parts, m->partition, 0);
    if (!part || !part->assigned) { /* revoked meanwhile: the new owner reads it */
        rd_kafka_message_destroy(m);
        return DISPATCHED;
    }
    if (!fr_jobs_available(s->jobs)) return BLOCKED;
    fr_worker *w = pick_worker(s, m);
    if (!fr_worker_room(w)) return BLOCKED;
    int32_t result_refused = 0;
    if (s->eos) {
        int r = fr__txn_admit(s, m, now_ns, &result_refused);
        if (r != DISPATCHED) return r;
    }
    uint64_t seq;
    int rc = fr_otrack_push(&part->track, m->offset, &seq);
    if (rc == FR_ENOMEM) {
        /* the tracker could not grow: the record cannot be tracked, and
         * skipping it would let later offsets commit past it. Stop (exit 1)
         * with the record held: its offset is never committed, so the next
         * owner reads it. */
        fr_log(FR_LOG_ERROR, "out_of_memory", "%s [%d] offset %lld: the offset tracker could not grow; stopping",
               s->cfg->kafka.input_topic, (int)m->partition, (long long)m->offset);
        atomic_store(&s->ks->fatal, 1);
        return BLOCKED;
    }
    if (rc) {
        /* an offset at or below one already dispatched: librdkafka re-fetched
         * after a seek; the earlier copy is in flight, so drop this one */
        fr_log(FR_LOG_WARN, "offset_out_of_order", "%s [%d] offset %lld after %lld: dropped",
               s->cfg->kafka.input_topic, (int)m->partition, (long long)m->offset,
               (long long)part->track.last_pushed);
        rd_kafka_message_destroy(m);
        return DISPATCHED;
    }
    fr_job *job = fr_jobs_take(s->jobs);
    job->msg = m;
    job->part = part;
    job->seq = seq;
    job->t_dispatch_ns = now_ns;
    part->progress_ns = job->t_dispatch_ns;
    job->tries = 0;
    job->dead = 0;
    job->flagged = 0;
    job->result_refused = result_refused;
    job->gen = fr_mgens_acquire(s->gens); /* the model it will be scored with (include/fraudd/mgen.h) */
    fr_worker_push(s->ws, w, job);        /* ownership of job moves to the worker */
    fr_ctr_add(&s->st_consumed, 1);
    s->txn_records++;
    return DISPATCHED;
}

/* Dispatches the partition's held records in order: DISPATCHED when none
 * is left, else what stopped it (BLOCKED, HELD). */
static int flush_part(fr_source *s, fr__pq *q, int64_t now_ns) {
    while (q->n) {
        int r = dispatch(s, q->held[q->head], now_ns);
        if (r != DISPATCHED) return r;
        q->head++;
        q->n--;
    }
    q->head = 0;
    return DISPATCHED;
}

/* A record taken from the consumer and not dispatched (held records of a
 * revoke or a shutdown, records polled only to serve the group): its offset
 * is not stored, so the next owner reads it. Its partition's position is
 * now past a record that is not done: fr__skip_unaccounted leaves it alone until
 * the partition is assigned again. */
static void give_back(fr_source *s, rd_kafka_message_t *m) {
    if (!m->err) {
        fr_part *part = fr_parts_get(&s->parts, m->partition, 0);
        if (part) part->gave_back = 1;
    }
    rd_kafka_message_destroy(m);
}

static void give_back_held(fr_source *s, fr__pq *q) {
    for (size_t i = 0; i < q->n; i++) give_back(s, q->held[q->head + i]);
    q->head = q->n = 0;
}

/* Gives back the held records of parts (all partitions if NULL). */
static void drop_held_if(fr_source *s, const rd_kafka_topic_partition_list_t *parts) {
    if (!parts) {
        for (size_t i = 0; i < s->parts.n; i++)
            if (s->parts.v[i] && s->parts.v[i]->queue) give_back_held(s, s->parts.v[i]->queue);
        return;
    }
    for (int k = 0; k < parts->cnt; k++) {
        fr__pq *q = pq_get(s, parts->elems[k].partition, 0);
        if (q) give_back_held(s, q);
    }
}

/* An error event of the consumer or of a partition: logged (rate-limited),
 * never dispatched. */
static void consumer_error(rd_kafka_message_t *m) {
    static fr_log_limiter lim;
    if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
        fr_log_limited(&lim, FR_LOG_WARN, "consumer_error", "%s [%d]: %s",
                       m->rkt ? rd_kafka_topic_name(m->rkt) : "-", (int)m->partition, rd_kafka_message_errstr(m));
    rd_kafka_message_destroy(m);
}

/* Serves the consumer's own queue: the rebalance callback, errors,
 * statistics. A record there (none is expected: every assigned partition's
 * queue is split before its fetch starts) is given back. */
static void serve_group(fr_source *s, int timeout_ms) {
    for (int i = 0; i < 64; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(s->consumer, i ? 0 : timeout_ms);
        if (!m) return;
        if (m->err)
            consumer_error(m);
        else
            give_back(s, m);
    }
}

/* One turn of a partition: its held records first, then up to FR_BATCH
 * new ones from its queue (never more than the job pool can take). Sets
 * *blocked when a record found no room (a record held back by its
 * partition's own turn, src/source/txn.c, is not that). */
static void read_part(fr_source *s, fr__pq *q, int *blocked) {
    int64_t now = q->n ? fr_now_ns() : 0; /* read only when there are records */
    int r = q->n ? flush_part(s, q, now) : DISPATCHED;
    if (r != DISPATCHED) {
        if (r == BLOCKED) *blocked = 1;
        return;
    }
    size_t want = fr_jobs_available(s->jobs);
    if (want > FR_BATCH) want = FR_BATCH;
    if (!want) {
        *blocked = 1;
        return;
    }
    ssize_t got = rd_kafka_consume_batch_queue(q->q, 0, q->held, want);
    if (got <= 0) return;
    if ((size_t)got == want) fr_ctr_add(&s->st_backlog_reads, 1); /* more may wait: nudge its fetcher */
    if (!now) now = fr_now_ns();
    fr_kafka_broker_seen(s->ks);
    /* errors (end of partition, fetch errors) out of the way, order kept */
    size_t n = 0;
    for (ssize_t i = 0; i < got; i++) {
        if (q->held[i]->err)
            consumer_error(q->held[i]);
        else
            q->held[n++] = q->held[i];
    }
    q->head = 0;
    q->n = n;
    /* exactly_once: the first record taken since the last commit is where
     * an abort rewinds to (src/source/txn.c) */
    if (s->eos && n) {
        fr_part *part = fr_parts_get(&s->parts, q->held[0]->partition, 0);
        if (part && part->txn_base < 0) part->txn_base = q->held[0]->offset;
    }
    if (flush_part(s, q, now) == BLOCKED) *blocked = 1;
}

/* One round over the partitions we own and read (not blocked by the sink),
 * starting one further each round so no partition is always last when
 * room is scarce. Returns the records dispatched; *blocked as read_part,
 * for any partition. */
static size_t read_round(fr_source *s, int *blocked) {
    uint64_t before = fr_ctr_get(&s->st_consumed);
    size_t n = s->parts.n;
    if (!n) return 0;
    size_t start = (size_t)(s->rr_part % n), first = SIZE_MAX;
    for (size_t k = 0; k < n; k++) {
        size_t id = (start + k) % n;
        fr_part *part = s->parts.v[id];
        fr__pq *q = part ? part->queue : NULL;
        if (!q || !q->q) continue;
        /* a partition whose record the sink cannot deliver is not read: its
         * tracker stops growing behind that record, its queue fills to its
         * bound and librdkafka stops fetching it; the others flow */
        if (!part->assigned || part->blocked > 0) continue;
        if (first == SIZE_MAX) first = id;
        read_part(s, q, blocked);
        if (!fr_jobs_available(s->jobs)) {
            *blocked = 1;
            break;
        }
    }
    s->rr_part = (first == SIZE_MAX ? start : first) + 1;
    return (size_t)(fr_ctr_get(&s->st_consumed) - before);
}

/* The wake pipe: librdkafka writes a byte when one of our queues gets an
 * entry after the queue was last read (once per such period), so emptying
 * the pipe, then reading every queue, then waiting on the pipe loses no
 * wake-up (fr_source_poll). */
static void wake_drain(fr_source *s) {
    char buf[256];
    while (read(s->wake[0], buf, sizeof buf) > 0) {
    }
}

static void wake_wait(fr_source *s, int timeout_ms) {
    struct pollfd pfd = {.fd = s->wake[0], .events = POLLIN};
    if (timeout_ms > 0) poll(&pfd, 1, timeout_ms);
}

/* ---- progress ----
 *
 * A partition makes progress when one of its records is dispatched, or
 * when it is seen caught up. The stall gauge (fr_source_stalls) is the
 * time since then, per assigned partition: it grows only while records
 * wait, or while nobody can tell, and none is taken, whatever the cause:
 * a fetcher left paused, a fetch stuck in offset-query, a stuck pipeline.
 * A newly assigned partition starts at 0.
 *
 * "Caught up" needs the partition's high watermark from the broker. The
 * consumer's own statistics are not enough: librdkafka learns the high
 * watermark from its fetch responses, so for a partition it does not fetch
 * the statistics keep the value of the last fetch (a partition assigned
 * back while its pause flag stayed set shows lag 0 for ever, or -1). So a
 * prober thread asks the partition leaders (ListOffsets, through
 * rd_kafka_query_watermark_offsets, which blocks: never on the run thread)
 * every FR_PROBE_MS. The run thread calls a partition caught up when
 *   - a probe sent after it was assigned gave a high watermark at or below
 *     its position (the offset after the last record dispatched, else the
 *     group's committed offset from the statistics), or an empty log; or
 *   - no such probe yet, or no position known, and the statistics show
 *     backlog 0 (a partition never committed and never fetched while
 *     stuck stays invisible: its statistics are all there is).
 * So a stuck partition shows within FR_PROBE_MS plus a statistics interval
 * (5 s each by default); a quiet one reads at most about that much. */
#define FR_PROGRESS_CHECK_MS 1000
#define FR_PROBE_MS 5000
#define FR_PROBE_TIMEOUT_MS 1000

static int caught_up(fr_source *s, fr_part *part, const fr_kstats_part *kp) {
    int64_t pos = part->track.last_pushed >= 0 ? part->track.last_pushed + 1 : kp ? kp->committed : -1;
    int64_t lo = -1, hi = -1, at = 0;
    if (part->id >= 0 && part->id < FR_KSTATS_MAX_PARTITIONS) {
        lo = s->probe_lo[part->id];
        hi = s->probe_hi[part->id];
        at = s->probe_ns[part->id];
    }
    if (at && at >= part->assigned_ns && hi >= 0) {
        if (lo == hi) return 1; /* an empty log */
        if (pos >= 0) return pos >= hi;
    }
    /* no probe since the assignment, or no position to compare (nothing
     * dispatched and nothing committed, e.g. auto.offset.reset=latest on
     * an idle partition): the statistics decide */
    return kp && kp->backlog == 0;
}

static void check_progress(fr_source *s, int64_t now) {
    if (now < s->next_progress_check) return;
    /* the prober and scrapes hold the lock only to copy: skip a round rather than wait */
    if (pthread_mutex_trylock(&s->stall_mu)) return;
    s->next_progress_check = now + (int64_t)FR_PROGRESS_CHECK_MS * 1000000;
    size_t n = 0;
    fr_kafka_state_parts(s->ks, s->kparts, FR_KSTATS_MAX_PARTITIONS, &n);
    s->stall_n = 0;
    for (size_t i = 0; i < s->parts.n && s->stall_n < FR_KSTATS_MAX_PARTITIONS; i++) {
        fr_part *part = s->parts.v[i];
        if (!part || !part->assigned) continue;
        const fr_kstats_part *kp = NULL;
        for (size_t k = 0; k < n && !kp; k++)
            if (s->kparts[k].partition == part->id) kp = &s->kparts[k];
        if (caught_up(s, part, kp)) part->progress_ns = now;
        s->stall_id[s->stall_n] = part->id;
        s->stall_progress_ns[s->stall_n] = part->progress_ns;
        s->stall_n++;
    }
    pthread_mutex_unlock(&s->stall_mu);
}

/* The prober's and the nudger's sleep: ms, or until prober_stop (sleep
 * 0: just look). 1 to go on, 0 once stopping. */
static int helper_sleep(fr_source *s, int ms) {
    pthread_mutex_lock(&s->probe_mu);
    if (ms && !s->probe_stop) {
        struct timespec until = fr_mono_after_ms(ms);
        pthread_cond_timedwait(&s->probe_cv, &s->probe_mu, &until);
    }
    int go = !s->probe_stop;
    pthread_mutex_unlock(&s->probe_mu);
    return go;
}

/* The prober thread: every FR_PROBE_MS, the high watermark of each
 * partition assigned at the last progress check. */
static void *prober_main(void *arg) {
    fr_source *s = arg;
    int32_t ids[256];
    size_t start = 0; /* a round covers at most 256 partitions, the next ones the next round */
    while (helper_sleep(s, FR_PROBE_MS)) {
        size_t n = 0;
        pthread_mutex_lock(&s->stall_mu);
        n = s->stall_n < 256 ? s->stall_n : 256;
        for (size_t i = 0; i < n; i++) ids[i] = s->stall_id[(start + i) % s->stall_n];
        start = n ? (start + n) % s->stall_n : 0;
        pthread_mutex_unlock(&s->stall_mu);
        for (size_t i = 0; i < n; i++) {
            int64_t lo = -1, hi = -1, at = fr_now_ns();
            if (ids[i] < 0 || ids[i] >= FR_KSTATS_MAX_PARTITIONS) continue;
            rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(s->consumer, s->cfg->kafka.input_topic, ids[i],
                                                                     &lo, &hi, FR_PROBE_TIMEOUT_MS);
            if (e) { /* the leader did not answer: no news, the gauge keeps its last verdict */
                fr_log(FR_LOG_DEBUG, "watermark_probe_failed", "%s [%d]: %s", s->cfg->kafka.input_topic, (int)ids[i],
                       rd_kafka_err2str(e));
                continue;
            }
            fr_log(FR_LOG_DEBUG, "watermark_probe", "%s [%d]: %lld..%lld", s->cfg->kafka.input_topic, (int)ids[i],
                   (long long)lo, (long long)hi);
            pthread_mutex_lock(&s->stall_mu);
            s->probe_lo[ids[i]] = lo;
            s->probe_hi[ids[i]] = hi;
            s->probe_ns[ids[i]] = at;
            pthread_mutex_unlock(&s->stall_mu);
            if (!helper_sleep(s, 0)) break;
        }
    }
    return NULL;
}

/* ---- fetch nudges ----
 *
 * librdkafka stops fetching a partition whose queue holds its bound
 * (queued.max.messages.kbytes), and 2.0.2 looks at that partition again
 * only when the broker thread that fetches it wakes up for something else:
 * an op on its queue, a response on its socket, or its one-second timer.
 * With one broker and every partition at its bound, nothing else comes, so
 * a backlog drained at one queue per partition per second: the bound had
 * to hold a second of input (8 MB per partition), which set fraudd's peak
 * memory (docs/BENCHMARKS.md, "The per-partition queues' bound"). librdkafka
 * 2.1 added fetch.queue.backoff.ms for this; 2.0.2 has no setting.
 *
 * A request to a broker is an op on its broker thread's queue, and after
 * serving it the thread decides again which of its partitions to fetch. So
 * while the run thread keeps finding backlog (a read that got all it asked
 * for), the nudger thread asks the leaders of the assigned partitions for
 * their latest offsets every FR_NUDGE_MS (rd_kafka_offsets_for_times: one
 * ListOffsets request per leader, whatever the partition count; it blocks,
 * hence a thread of its own) and drops the answer: the request is the
 * point. A queue emptied below its bound is fetched again within
 * FR_NUDGE_MS, so a 2 MB bound drains a backlog faster than 8 MB did
 * without, in half the memory (docs/BENCHMARKS.md, "Fetch nudges"). With
 * no backlog, no nudge: a fetch is outstanding or due anyway. A nudge
 * cannot cut short a fetch in flight: that one is bounded by
 * fetch.wait.max.ms (fr_source_new sets it). The partitions come from
 * rd_kafka_assignment, not the prober's list (stall_id), which the run
 * thread refreshes only once a second: a new assignment's backlog would
 * wait for it. */
#define FR_NUDGE_MS 50
#define FR_NUDGE_TIMEOUT_MS 1000

static void *nudger_main(void *arg) {
    fr_source *s = arg;
    uint64_t seen = fr_ctr_get(&s->st_backlog_reads);
    while (helper_sleep(s, FR_NUDGE_MS)) {
        uint64_t now = fr_ctr_get(&s->st_backlog_reads);
        rd_kafka_topic_partition_list_t *l = NULL;
        if (now != seen && rd_kafka_assignment(s->consumer, &l) == RD_KAFKA_RESP_ERR_NO_ERROR && l->cnt) {
            for (int i = 0; i < l->cnt; i++) l->elems[i].offset = RD_KAFKA_OFFSET_END; /* the latest offset */
            rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(s->consumer, l, FR_NUDGE_TIMEOUT_MS);
            if (e) fr_log(FR_LOG_DEBUG, "fetch_nudge_failed", "%s", rd_kafka_err2str(e));
            fr_ctr_add(&s->st_nudges, 1);
        }
        seen = now;
        if (l) rd_kafka_topic_partition_list_destroy(l);
    }
    return NULL;
}

/* Stops the prober and the nudger: both query the consumer. */
static void prober_stop(fr_source *s) {
    if (!s->prober_started && !s->nudger_started) return;
    pthread_mutex_lock(&s->probe_mu);
    s->probe_stop = 1;
    pthread_cond_broadcast(&s->probe_cv);
    pthread_mutex_unlock(&s->probe_mu);
    if (s->prober_started) pthread_join(s->prober, NULL);
    if (s->nudger_started) pthread_join(s->nudger, NULL);
    s->prober_started = s->nudger_started = 0;
}

size_t fr_source_stalls(fr_source *s, int64_t now_ns, fr_part_stall *out, size_t cap) {
    pthread_mutex_lock(&s->stall_mu);
    size_t n = s->stall_n < cap ? s->stall_n : cap;
    for (size_t i = 0; i < n; i++) {
        int64_t d = now_ns - s->stall_progress_ns[i];
        out[i] = (fr_part_stall){.partition = s->stall_id[i], .seconds = d > 0 ? (double)d / 1e9 : 0};
    }
    pthread_mutex_unlock(&s->stall_mu);
    return n;
}

/* Backpressure time: from the first round that found no room to the
 * first that found room again, counted as it goes (scrapes see it grow). */
static void account_backpressure(fr_source *s, int blocked, int64_t now) {
    if (s->bp_mark) fr_ctr_add(&s->st_backpressure_ns, (uint64_t)(now - s->bp_mark));
    s->bp_mark = blocked ? now : 0;
}

void fr_source_poll(fr_source *s, int timeout_ms) {
    fr_sink_poll(s->sink, 0);
    serve_group(s, 0);
    check_progress(s, fr_now_ns());
    if (s->eos) {
        fr__txn_tick(s);
        int64_t now = fr_now_ns(), at = fr__txn_wake_at(s, now);
        if (at) {
            int64_t due = at - now;
            int due_ms = due > 0 ? (int)(due / 1000000) + 1 : 0;
            if (due_ms < timeout_ms) timeout_ms = due_ms;
        }
    }
    if (s->draining) {
        fr_sink_poll(s->sink, 1);
        return;
    }
    int blocked = 0;
    size_t sent = 0, got;
    /* rounds until the queues are empty, room runs out, or a few hundred
     * records went out (delivery reports are served in between) */
    do {
        got = read_round(s, &blocked);
        sent += got;
        if (got) fr_workers_wake(s->ws);
    } while (got && !blocked && sent < 512);
    if (!sent && !blocked) {
        /* nothing to read: empty the wake pipe, look once more (a record
         * that came before the pipe was emptied is seen now, one after it
         * writes to the pipe again), then sleep until one comes */
        wake_drain(s);
        serve_group(s, 0);
        sent = read_round(s, &blocked);
        if (sent) fr_workers_wake(s->ws);
        if (!sent && !blocked) wake_wait(s, timeout_ms);
    }
    account_backpressure(s, blocked, fr_now_ns());
    if (blocked) fr_sink_poll(s->sink, 1); /* acknowledgements free room */
    fr_sink_poll(s->sink, 0);
}

/* Waits (serving delivery reports) until the parts in list have nothing in
 * flight, or deadline_ns: 0 or FR_EIO. */
static int wait_parts(fr_source *s, const rd_kafka_topic_partition_list_t *list, int64_t deadline_ns) {
    for (;;) {
        uint64_t busy = 0;
        for (int i = 0; i < list->cnt; i++) {
            fr_part *part = fr_parts_get(&s->parts, list->elems[i].partition, 0);
            if (part) busy += fr_otrack_in_flight(&part->track);
        }
        if (!busy) return 0;
        if (fr_now_ns() > deadline_ns) return FR_EIO;
        fr_workers_wake(s->ws);
        fr_sink_poll(s->sink, 5);
    }
}

/* ---- rebalance ---- */

static void list_text(const rd_kafka_topic_partition_list_t *l, char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < l->cnt && n + 16 < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%d", i ? "," : "", (int)l->elems[i].partition);
}

static double prefetch_cost(int kb);

/* The prefetch bound was sized at start for the partitions the input topic
 * had then (size_prefetch); partitions added since can make one process own
 * more, and the bound cannot change while the consumer lives. Said once
 * per new high. */
static void check_prefetch_budget(fr_source *s, size_t owned) {
    if (s->prefetch_sized_for <= 0 || owned <= (size_t)s->prefetch_sized_for || owned <= s->prefetch_warned_at) return;
    s->prefetch_warned_at = owned;
    int kb = (int)(s->prefetch_bytes / 1024);
    fr_log(FR_LOG_WARN, "prefetch_bound_outgrown",
           "own %zu partitions of %s, more than the %d it had when the prefetch bound (%d KB per partition) was "
           "sized for the %.0f MiB memory limit: prefetched records may take about %.0f MiB, more than the half "
           "of the limit they were given; restart fraudd (a rolling restart) to size the bound again",
           owned, s->cfg->kafka.input_topic, s->prefetch_sized_for, kb, (double)s->mem_limit / (1 << 20),
           (double)owned * prefetch_cost(kb) / (1 << 20));
}

static void on_assign(fr_source *s, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, int coop) {
    char txt[512];
    list_text(parts, txt, sizeof txt);
    for (int i = 0; i < parts->cnt; i++) {
        fr_part *part = fr_parts_get(&s->parts, parts->elems[i].partition, 1);
        if (!part) {
            fr_log(FR_LOG_ERROR, "out_of_memory", "assigning partition %d", (int)parts->elems[i].partition);
            atomic_store(&s->ks->fatal, 1);
            continue;
        }
        /* before the assign: its fetch must start on its own queue */
        fr__pq *q = pq_get(s, part->id, 1);
        if (!q || split_queue(s, q, part->id)) {
            fr_log(FR_LOG_ERROR, "out_of_memory", "the queue of partition %d", (int)part->id);
            atomic_store(&s->ks->fatal, 1);
        }
        fr_otrack_reset(&part->track);
        part->assigned = 1;
        part->dirty = 0;
        part->stored = -1;
        part->txn_base = part->txn_sent = -1;
        part->gave_back = 0;
        part->progress_ns = part->assigned_ns = fr_now_ns();
    }
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t e = 0;
    if (coop)
        error = rd_kafka_incremental_assign(rk, parts);
    else
        e = rd_kafka_assign(rk, parts);
    if (error) {
        fr_log(FR_LOG_ERROR, "assign_failed", "%s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (e) {
        fr_log(FR_LOG_ERROR, "assign_failed", "%s", rd_kafka_err2str(e));
    }
    /* every SyncGroup ends in one rebalance callback; see on_revoke */
    if (s->settle_assigns > 0) s->settle_assigns--;
    size_t owned = fr_parts_owned(&s->parts);
    atomic_store_explicit(&s->st_assigned, owned, memory_order_relaxed);
    s->next_progress_check = 0; /* publish the new assignment at the next poll */
    fr_ctr_add(&s->st_rebalances, 1);
    fr_log(FR_LOG_INFO, "assigned", "%s partitions [%s] (%s); now own %zu", s->cfg->kafka.input_topic, txt,
           coop ? "incremental" : "eager", owned);
    check_prefetch_budget(s, owned);
}

/* The end of a revoke: unassigns parts and counts the rebalance; returns
 * the partitions still owned. */
static size_t give_up(fr_source *s, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, int coop, int lost) {
    /* librdkafka rejoins after this (unless closing): the rebalance is over
     * after the assign that ends the rejoin, and in a cooperative rebalance
     * that did not lose the partitions, the assign that follows this revoke
     * comes first */
    if (!s->closing) s->settle_assigns = coop && !lost ? 2 : 1;
    if (coop) {
        rd_kafka_error_t *error = rd_kafka_incremental_unassign(rk, parts);
        if (error) {
            fr_log(FR_LOG_ERROR, "unassign_failed", "%s", rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
        }
    } else {
        rd_kafka_assign(rk, NULL);
    }
    size_t owned = fr_parts_owned(&s->parts);
    atomic_store_explicit(&s->st_assigned, owned, memory_order_relaxed);
    s->next_progress_check = 0; /* publish the new assignment at the next poll */
    fr_ctr_add(&s->st_rebalances, 1);
    return owned;
}

/* exactly_once: before the partitions go, the open transaction ends: with
 * their offsets committed if it can, else aborted (the new owner reads from
 * the last commit, and the partitions we keep are rewound to theirs). Lost
 * partitions (the session expired, another member may own them already):
 * aborted, never committed. */
static void on_revoke_eos(fr_source *s, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, int coop) {
    char txt[512];
    list_text(parts, txt, sizeof txt);
    int lost = rd_kafka_assignment_lost(rk);
    int64_t t0 = fr_now_ns();
    uint64_t records = s->txn_open ? s->txn_records : 0;
    drop_held_if(s, parts); /* never dispatched: read again by the new owner */
    int rc = 0;
    if (lost) {
        for (int i = 0; i < parts->cnt; i++) {
            fr_part *part = fr_parts_get(&s->parts, parts->elems[i].partition, 0);
            if (part) part->assigned = 0;
        }
        rc = fr__txn_abort(s, "partitions lost", 0);
    } else {
        rc = fr__txn_close(s);
    }
    for (int i = 0; i < parts->cnt; i++) {
        fr_part *part = fr_parts_get(&s->parts, parts->elems[i].partition, 0);
        if (part) part->assigned = 0;
    }
    fr__marks_prune(s);
    size_t owned = give_up(s, rk, parts, coop, lost);
    fr_log(rc ? FR_LOG_WARN : FR_LOG_INFO, lost ? "partitions_lost" : "revoked",
           "%s partitions [%s]: the open transaction (%llu records) %s in %.0f ms; now own %zu",
           s->cfg->kafka.input_topic, txt, (unsigned long long)records,
           !records ? "was empty" : rc ? "was aborted (the new owner scores them)" : "was committed",
           (double)(fr_now_ns() - t0) / 1e6, owned);
}

static void on_revoke(fr_source *s, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, int coop) {
    if (s->eos) {
        on_revoke_eos(s, rk, parts, coop);
        return;
    }
    char txt[512];
    list_text(parts, txt, sizeof txt);
    int lost = rd_kafka_assignment_lost(rk);
    int64_t t0 = fr_now_ns();
    uint64_t waited = 0;
    for (int i = 0; i < parts->cnt; i++) {
        fr_part *part = fr_parts_get(&s->parts, parts->elems[i].partition, 0);
        if (part) waited += fr_otrack_in_flight(&part->track);
    }
    /* records of these partitions that were never dispatched go back */
    drop_held_if(s, parts);
    /* wait for in-flight ones, so their offsets can be committed now */
    /* during shutdown (the revoke of the close) the drain already waited:
     * the shutdown's deadline bounds this wait too, not a fresh one */
    int64_t deadline = t0 + (int64_t)s->cfg->pipeline.shutdown_timeout_ms * 1000000;
    if (s->shutdown_deadline_ns && s->shutdown_deadline_ns < deadline) deadline = s->shutdown_deadline_ns;
    int timed_out = wait_parts(s, parts, deadline);
    s->next_position_check = 0; /* offsets no record accounts for, now */
    fr_source_store_offsets(s);
    rd_kafka_topic_partition_list_t *commit = rd_kafka_topic_partition_list_new(parts->cnt);
    for (int i = 0; i < parts->cnt; i++) {
        fr_part *part = fr_parts_get(&s->parts, parts->elems[i].partition, 0);
        if (!part) continue;
        if (part->assigned && part->track.committable >= 0)
            rd_kafka_topic_partition_list_add(commit, s->cfg->kafka.input_topic, part->id)->offset =
                part->track.committable;
        part->assigned = 0;
    }
    /* closing after a final commit that went through: it covered these
     * offsets (nothing is in flight after the drain), and committing again
     * could meet a new rebalance */
    if (!lost && commit->cnt && s->closing != 2) {
        rd_kafka_resp_err_t e = rd_kafka_commit(rk, commit, 0);
        if (e) fr_log(FR_LOG_WARN, "commit_failed", "on revoke of [%s]: %s", txt, rd_kafka_err2str(e));
    }
    rd_kafka_topic_partition_list_destroy(commit);
    size_t owned = give_up(s, rk, parts, coop, lost);
    fr_log(timed_out ? FR_LOG_WARN : FR_LOG_INFO, lost ? "partitions_lost" : "revoked",
           "%s partitions [%s]: drained %llu in-flight records in %.0f ms%s; now own %zu", s->cfg->kafka.input_topic,
           txt, (unsigned long long)waited, (double)(fr_now_ns() - t0) / 1e6,
           timed_out ? " (timed out: the rest will be redelivered to the new owner)" : "", owned);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                         void *opaque) {
    fr_source *s = ((fr_kafka_ctx *)opaque)->owner;
    int coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    /* librdkafka does not rejoin while this callback is due: every JoinGroup
     * written so far has been answered (see on_request_sent) */
    s->joins_served = atomic_load_explicit(&s->joins_sent, memory_order_relaxed);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
        on_assign(s, rk, parts, coop);
    else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
        on_revoke(s, rk, parts, coop);
    else {
        fr_log(FR_LOG_ERROR, "rebalance_failed", "%s", rd_kafka_err2str(err));
        if (coop)
            on_revoke(s, rk, parts, coop);
        else
            rd_kafka_assign(rk, NULL);
    }
}

/* ---- group settling ----
 *
 * The final commit must not reach the group coordinator behind one of our
 * own JoinGroup requests, or the broker refuses it and librdkafka 2.0.2
 * loses the member's generation: docs/ARCHITECTURE.md, "Why the final
 * commit waits for the group", has the race and the measurements. The
 * group is settled when every JoinGroup written has been answered by a
 * rebalance callback and no rejoin is due after a revoke of ours. */

/* Kafka protocol ApiKey of JoinGroup */
enum { API_JOIN_GROUP = 11 };

/* Broker threads: counts the JoinGroup requests written to the coordinator.
 * A rebalance this member joined is over when its SyncGroup answer has been
 * served as a rebalance callback (every successful SyncGroup ends in one,
 * even with no change; a failed JoinGroup or SyncGroup makes librdkafka join
 * again), so the run thread compares the count with the one it saw at its
 * last callback. That also covers the gap between the JoinGroup answer and
 * the SyncGroup (the leader first refreshes metadata): a commit sent there
 * is read in CompletingRebalance and refused (REBALANCE_IN_PROGRESS). */
static rd_kafka_resp_err_t on_request_sent(rd_kafka_t *rk, int sockfd, const char *brokername, int32_t brokerid,
                                           int16_t api, int16_t ver, int32_t corrid, size_t size, void *opaque) {
    (void)rk, (void)sockfd, (void)brokername, (void)brokerid, (void)ver, (void)corrid, (void)size;
    fr_source *s = opaque; /* the interceptor's own opaque (on_new) */
    /* the count is the only data handed over: relaxed, no partner */
    if (api == API_JOIN_GROUP) atomic_fetch_add_explicit(&s->joins_sent, 1, memory_order_relaxed);
    return RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* rd_kafka_new, before it returns: only interceptors may be added here */
static rd_kafka_resp_err_t on_new(rd_kafka_t *rk, const rd_kafka_conf_t *conf, void *opaque, char *errstr,
                                  size_t errstr_size) {
    (void)conf;
    rd_kafka_resp_err_t e = rd_kafka_interceptor_add_on_request_sent(rk, "fraudd-group", on_request_sent, opaque);
    if (e) snprintf(errstr, errstr_size, "group interceptor: %s", rd_kafka_err2str(e));
    return e;
}

static int group_settled(fr_source *s) {
    return atomic_load_explicit(&s->joins_sent, memory_order_relaxed) == s->joins_served && s->settle_assigns == 0;
}

/* partitions we own with a delivered offset to commit */
static int committable_parts(const fr_source *s) {
    int n = 0;
    for (size_t i = 0; i < s->parts.n; i++)
        n += s->parts.v[i] && s->parts.v[i]->assigned && s->parts.v[i]->track.committable >= 0;
    return n;
}

/* exactly_once: the shutdown's last transaction, after the drain. */
static int commit_final_eos(fr_source *s, int settled, double waited_ms) {
    int rc = 0;
    uint64_t records = s->txn_records;
    if (!s->txn_open) {
        records = 0;
    } else if (atomic_load(&s->ks->fatal)) {
        rc = FR_EIO;
    } else if (fr_sink_txn_failed(s->sink) || s->jobs->in_flight) {
        fr__txn_abort(s, "the drain did not finish", 0);
        rc = FR_EIO;
    } else {
        rc = fr__txn_close(s);
    }
    if (rc)
        fr_log(FR_LOG_WARN, "commit_failed",
               "final transaction (%llu records)%s: not committed; the next owner scores them (no duplicates)",
               (unsigned long long)records, settled ? "" : " (the group was still rebalancing at the shutdown bound)");
    else if (records)
        fr_log(FR_LOG_INFO, "final_commit", "%s: final transaction of %llu records committed; waited %.0f ms for the "
               "group to settle", s->cfg->kafka.input_topic, (unsigned long long)records, waited_ms);
    else
        fr_log(FR_LOG_INFO, "final_commit", "%s: no transaction open; everything scored was committed",
               s->cfg->kafka.input_topic);
    s->closing = rc ? 1 : 2;
    return rc;
}

int fr_source_commit_final(fr_source *s, int64_t deadline_ns) {
    /* serve the consumer (rebalance callbacks; records are dropped unstored,
     * the next owner reads them) until the group is settled; with nothing to
     * commit (or nothing left after a revoke committed it) there is no wait */
    int64_t t0 = fr_now_ns();
    int settled;
    while (!(settled = group_settled(s)) && (s->eos ? s->txn_open : committable_parts(s)) &&
           fr_now_ns() < deadline_ns) {
        serve_group(s, 5);
        fr_sink_poll(s->sink, 0);
    }
    double waited_ms = (double)(fr_now_ns() - t0) / 1e6;
    if (s->eos) return commit_final_eos(s, settled, waited_ms);
    for (size_t i = 0; i < s->parts.n; i++)
        if (s->parts.v[i]) s->parts.v[i]->dirty = 1;
    s->next_position_check = 0; /* offsets no record accounts for, now */
    fr_source_store_offsets(s);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
    char txt[512];
    for (size_t i = 0; i < s->parts.n; i++) {
        fr_part *part = s->parts.v[i];
        if (!part || !part->assigned || part->track.committable < 0) continue;
        rd_kafka_topic_partition_list_add(list, s->cfg->kafka.input_topic, part->id)->offset = part->track.committable;
    }
    fr__offsets_text(list, txt, sizeof txt);
    int rc = 0;
    rd_kafka_resp_err_t e = list->cnt ? rd_kafka_commit(s->consumer, list, 0) : RD_KAFKA_RESP_ERR_NO_ERROR;
    if (e) {
        fr_log(FR_LOG_WARN, "commit_failed", "final commit of [%s]%s: %s", txt,
               settled ? "" : " (the group was still rebalancing at the shutdown bound)", rd_kafka_err2str(e));
        /* the next owner re-reads from the last auto-commit: duplicates, no loss */
        rc = FR_EIO;
    } else {
        fr_log(FR_LOG_INFO, "final_commit", "%s [%s] (partition@next offset); waited %.0f ms for the group to settle%s",
               s->cfg->kafka.input_topic, txt, waited_ms,
               settled || !list->cnt ? "" : " (not settled at the shutdown bound)");
    }
    rd_kafka_topic_partition_list_destroy(list);
    s->closing = rc ? 1 : 2;
    return rc;
}

/* ---- shutdown ---- */

void fr_source_drain(fr_source *s, int64_t deadline_ns) {
    s->shutdown_deadline_ns = deadline_ns;
    /* 1. no new records: the partitions' queues are not read again, and
     * what was taken from them but not dispatched goes back */
    s->draining = 1;
    drop_held_if(s, NULL);
    account_backpressure(s, 0, fr_now_ns());
    /* 2. wait for the in-flight ones, the group session served */
    while (s->jobs->in_flight && fr_now_ns() < deadline_ns) {
        fr_workers_wake(s->ws);
        fr_sink_poll(s->sink, 5);
        serve_group(s, 0);
    }
}

void fr_source_close(fr_source *s) {
    prober_stop(s); /* it queries the consumer: stopped before the consumer closes */
    rd_kafka_resp_err_t e = rd_kafka_consumer_close(s->consumer);
    if (e) fr_log(FR_LOG_WARN, "close_failed", "%s", rd_kafka_err2str(e));
}

/* ---- construction ---- */

/* ---- the prefetch bound under a memory limit ---- */

#define FR__STR_(x) #x
#define FR__STR(x) FR__STR_(x)

/* What a partition's prefetch costs in memory (fr_source_prefetch_kb). */
static double prefetch_cost(int kb) { return 1.6 * kb * 1024.0 + 1048576.0; }

int fr_source_prefetch_kb(int64_t mem_limit, int partitions) {
    if (mem_limit <= 0 || partitions <= 0) return FR_PREFETCH_KB_MAX;
    double per = (double)mem_limit / 2 / partitions;       /* half the limit for prefetched records */
    double kb = (per - prefetch_cost(0)) / (prefetch_cost(1) - prefetch_cost(0)); /* prefetch_cost(kb) = per */
    if (kb >= FR_PREFETCH_KB_MAX) return FR_PREFETCH_KB_MAX;
    if (kb <= FR_PREFETCH_KB_MIN) return FR_PREFETCH_KB_MIN;
    return (int)kb;
}

static int kv_has(const fr_kv_list *l, const char *key) {
    for (size_t i = 0; l && i < l->n; i++)
        if (!strcmp(l->items[i].key, key)) return 1;
    return 0;
}

/* Partitions of topic, asked of the cluster by a short-lived client made
 * from conf (destroyed here): the consumer's settings so far, no callbacks,
 * its logs off (a failure is reported by the caller). -1 if it cannot tell
 * within timeout_ms. Not the producer's handle: a producer's metadata
 * request may create a missing topic (allow.auto.create.topics is true for
 * producers); nor a subscribe: the client never joins the group. */
static int topic_partitions(rd_kafka_conf_t *conf, const char *topic, int timeout_ms, char *why, size_t whylen) {
    char e[512];
    rd_kafka_conf_set_log_cb(conf, NULL);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
    if (!rk) {
        snprintf(why, whylen, "%s", e);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    int n = -1;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t ke = t ? rd_kafka_metadata(rk, 0, t, &md, timeout_ms) : rd_kafka_last_error();
    if (ke) snprintf(why, whylen, "%s", rd_kafka_err2str(ke));
    for (int i = 0; md && i < md->topic_cnt; i++) {
        if (strcmp(md->topics[i].topic, topic)) continue;
        if (md->topics[i].err)
            snprintf(why, whylen, "%s", rd_kafka_err2str(md->topics[i].err));
        else
            n = md->topics[i].partition_cnt;
    }
    if (md) rd_kafka_metadata_destroy(md);
    if (t) rd_kafka_topic_destroy(t);
    rd_kafka_destroy(rk);
    return n;
}

/* Sets queued.max.messages.kbytes in conf (the consumer's, every map
 * applied) from the memory limit, unless the config or the override sets
 * it; *sized_for: the partition count it was sized for (else left 0). */
static int size_prefetch(const fr_config *c, const fr_kv_list *override, int64_t mem_limit, rd_kafka_conf_t *conf,
                         int *sized_for, char *err, size_t errlen) {
    static const char key[] = "queued.max.messages.kbytes";
    if (mem_limit <= 0 || kv_has(&c->kafka.properties, key) || kv_has(&c->kafka.consumer, key) ||
        kv_has(override, key))
        return 0;
    char why[520] = "no answer";
    int n = -1;
    rd_kafka_conf_t *probe = rd_kafka_conf_dup(conf);
    if (fr_kafka_conf_set(probe, "bootstrap.servers", c->kafka.bootstrap_servers, why, sizeof why))
        rd_kafka_conf_destroy(probe);
    else
        n = topic_partitions(probe, c->kafka.input_topic, 5000, why, sizeof why);
    double mib = (double)mem_limit / (1 << 20);
    if (n <= 0) {
        fr_log(FR_LOG_WARN, "prefetch_bound",
               "memory limit %.0f MiB, but the partition count of %s is unknown (%s): the prefetch bound stays "
               "%d KB per partition; a pod that owns many partitions may need kafka.consumer "
               "queued.max.messages.kbytes lowered",
               mib, c->kafka.input_topic, why, FR_PREFETCH_KB_MAX);
        return 0;
    }
    int kb = fr_source_prefetch_kb(mem_limit, n);
    double worst = n * prefetch_cost(kb) / (1 << 20);
    fr_log(worst > mib / 2 ? FR_LOG_WARN : FR_LOG_INFO, "prefetch_bound",
           "%s has %d partitions and the memory limit is %.0f MiB: prefetch bound %d KB per partition "
           "(owning all of them: about %.0f MiB of prefetched records%s)",
           c->kafka.input_topic, n, mib, kb, worst,
           worst > mib / 2 ? ", more than half the limit even at the smallest bound: give the pod more memory or run "
                             "more replicas"
                           : "");
    char v[16];
    snprintf(v, sizeof v, "%d", kb);
    *sized_for = n;
    return fr_kafka_conf_set(conf, key, v, err, errlen);
}

int fr_source_new(const fr_config *c, const fr_kv_list *override, int64_t mem_limit, fr_kafka_state *ks,
                  fr_jobs *jobs, fr_mgens *gens, fr_workers *ws, fr_sink *sink, fr_source **out, char *err,
                  size_t errlen) {
    char e[512];
    int rc = 0;
    rd_kafka_conf_t *conf = NULL;
    *out = NULL;
    fr_source *s = calloc(1, sizeof *s);
    if (!s) return fr_set_err(err, errlen, FR_ENOMEM, "out of memory (source)");
    s->cfg = c;
    s->override = override;
    s->ks = ks;
    s->jobs = jobs;
    s->gens = gens;
    s->ws = ws;
    s->sink = sink;
    s->mem_limit = mem_limit;
    s->ctx = (fr_kafka_ctx){.state = ks, .owner = s};
    pthread_mutex_init(&s->stall_mu, NULL);
    pthread_mutex_init(&s->probe_mu, NULL);
    fr_cond_init_monotonic(&s->probe_cv);
    s->wake[0] = s->wake[1] = -1;
    if (pipe(s->wake) || fcntl(s->wake[0], F_SETFL, O_NONBLOCK) || fcntl(s->wake[1], F_SETFL, O_NONBLOCK) ||
        fcntl(s->wake[0], F_SETFD, FD_CLOEXEC) || fcntl(s->wake[1], F_SETFD, FD_CLOEXEC)) {
        rc = fr_set_err(err, errlen, FR_ENOMEM, "source wake-up pipe: %s", strerror(errno));
        goto out;
    }
    conf = rd_kafka_conf_new();
    /* our defaults first; the user's properties may override the tunables */
    if ((rc = fr_kafka_conf_set(conf, "client.id", "fraudd", err, errlen)) ||
        (rc = fr_kafka_conf_set(conf, "partition.assignment.strategy", "cooperative-sticky", err, errlen)) ||
        (rc = fr_kafka_conf_set(conf, "auto.offset.reset", "earliest", err, errlen)) ||
        (rc = fr_kafka_conf_set(conf, "enable.auto.commit", "true", err, errlen)) ||
        (rc = fr_kafka_conf_set(conf, "auto.commit.interval.ms", "1000", err, errlen)) ||
        /* per partition queue (see "partition queues" in source.h); with
         * the fetch nudges, 2 MB drains as fast as larger bounds */
        (rc = fr_kafka_conf_set(conf, "queued.max.messages.kbytes", FR__STR(FR_PREFETCH_KB_MAX), err, errlen)) ||
        /* a fetched response stays allocated until its last record's job
         * ends: smaller responses free memory sooner (peak RSS 84 -> 73 MB
         * draining 4 partitions, same CPU and drain rate; BENCHMARKS.md (l)) */
        (rc = fr_kafka_conf_set(conf, "max.partition.fetch.bytes", "262144", err, errlen)) ||
        /* a partition at its bound joins the next fetch only after the one
         * in flight returns, which the broker holds up to this long when
         * the other partitions have nothing new: with 2 MB, a backlog on
         * one partition drains at about the bound per wait (librdkafka's
         * 500 ms: 13k records/s; 100 ms: 60k; BENCHMARKS.md (n)) */
        (rc = fr_kafka_conf_set(conf, "fetch.wait.max.ms", "100", err, errlen)) ||
        (rc = fr_kafka_conf_set(conf, "statistics.interval.ms", "5000", err, errlen)) ||
        (rc = fr_kafka_conf_apply(conf, &c->kafka.properties, "kafka.properties", err, errlen)) ||
        (rc = fr_kafka_conf_apply(conf, &c->kafka.consumer, "kafka.consumer", err, errlen)) ||
        (rc = fr_kafka_conf_apply(conf, override, "consumer override", err, errlen)) ||
        (rc = size_prefetch(c, override, mem_limit, conf, &s->prefetch_sized_for, err, errlen)) ||
        /* fixed: the delivery guarantee depends on these */
        (rc = fr_kafka_conf_set(conf, "bootstrap.servers", c->kafka.bootstrap_servers, err, errlen)) ||
        (rc = fr_kafka_conf_set(conf, "group.id", c->kafka.group_id, err, errlen)) ||
        (rc = fr_kafka_conf_set(conf, "enable.auto.offset.store", "false", err, errlen)))
        goto out;
    s->eos = c->kafka.delivery == FR_EXACTLY_ONCE;
    /* exactly_once: offsets are committed only inside the transactions, and
     * records of aborted input transactions are never read */
    if (s->eos && ((rc = fr_kafka_conf_set(conf, "enable.auto.commit", "false", err, errlen)) ||
                   (rc = fr_kafka_conf_set(conf, "isolation.level", "read_committed", err, errlen))))
        goto out;
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    if (rd_kafka_conf_interceptor_add_on_new(conf, "fraudd-group", on_new, s)) {
        rc = fr_set_err(err, errlen, FR_EINVAL, "kafka consumer: could not add the group interceptor");
        goto out;
    }
    fr_kafka_conf_callbacks(conf, &s->ctx);
    char qmax[32];
    size_t ql = sizeof qmax;
    if (rd_kafka_conf_get(conf, "queued.max.messages.kbytes", qmax, &ql) == RD_KAFKA_CONF_OK)
        s->prefetch_bytes = (uint64_t)strtoull(qmax, NULL, 10) * 1024;
    s->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
    if (!s->consumer) {
        rc = fr_set_err(err, errlen, FR_EINVAL, "kafka consumer: %s", e);
        goto out;
    }
    conf = NULL; /* now owned by s->consumer */
    rd_kafka_poll_set_consumer(s->consumer);
    s->cq = rd_kafka_queue_get_consumer(s->consumer);
    if (s->cq) rd_kafka_queue_io_event_enable(s->cq, s->wake[1], "c", 1);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, c->kafka.input_topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t ke = rd_kafka_subscribe(s->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (ke) {
        rc = fr_set_err(err, errlen, FR_EINVAL, "subscribe to %s: %s", c->kafka.input_topic, rd_kafka_err2str(ke));
        goto out;
    }
    int te = fr_thread_start(&s->prober, prober_main, s, "fraudd-probe");
    if (te) {
        rc = fr_set_err(err, errlen, FR_ENOMEM, "watermark prober thread: %s", strerror(te));
        goto out;
    }
    s->prober_started = 1;
    te = fr_thread_start(&s->nudger, nudger_main, s, "fraudd-nudge");
    if (te)
        rc = fr_set_err(err, errlen, FR_ENOMEM, "fetch nudger thread: %s", strerror(te));
    else
        s->nudger_started = 1;
out:
    if (conf) rd_kafka_conf_destroy(conf);
    if (rc)
        fr_source_free(s);
    else
        *out = s;
    return rc;
}

void fr_source_free(fr_source *s) {
    if (!s) return;
    prober_stop(s);
    /* the consumer's messages and queue handles first: rd_kafka_destroy
     * waits for every message of its client to be destroyed. librdkafka
     * stops writing to the pipe before it is closed. */
    for (size_t i = 0; i < s->parts.n; i++) {
        fr__pq *q = s->parts.v[i] ? s->parts.v[i]->queue : NULL;
        if (!q) continue;
        for (size_t k = 0; k < q->n; k++) rd_kafka_message_destroy(q->held[q->head + k]);
        if (q->q) {
            rd_kafka_queue_io_event_enable(q->q, -1, NULL, 0);
            rd_kafka_queue_destroy(q->q);
        }
        free(q);
        s->parts.v[i]->queue = NULL;
    }
    if (s->cq) {
        rd_kafka_queue_io_event_enable(s->cq, -1, NULL, 0);
        rd_kafka_queue_destroy(s->cq);
    }
    if (s->consumer) rd_kafka_destroy(s->consumer);
    if (s->wake[0] >= 0) close(s->wake[0]);
    if (s->wake[1] >= 0) close(s->wake[1]);
    fr_parts_free(&s->parts);
    free(s->marks);
    pthread_mutex_destroy(&s->stall_mu);
    pthread_mutex_destroy(&s->probe_mu);
    pthread_cond_destroy(&s->probe_cv);
    free(s);
}

int fr_source_ready(fr_source *s, char *why, size_t whylen) {
    const char *f = atomic_load(&s->txn_failing);
    if (!f) return 1;
    snprintf(why, whylen, "exactly_once: the last transaction was aborted (%s) and none has committed since", f);
    return 0;
}

void fr_source_stats(const fr_source *s, fr_stats *out) {
    out->consumed += fr_ctr_get(&s->st_consumed);
    out->backpressure_ns += fr_ctr_get(&s->st_backpressure_ns);
    out->assigned_partitions += fr_ctr_get(&s->st_assigned);
    out->rebalances += fr_ctr_get(&s->st_rebalances);
    out->prefetch_bytes = s->prefetch_bytes;
    out->fetch_nudges += fr_ctr_get(&s->st_nudges);
}
