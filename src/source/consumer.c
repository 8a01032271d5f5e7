/* Source: the librdkafka consumer, dispatch to workers, offsets, rebalances.
 *
 * Everything here runs on the run thread (the caller of fr_pipeline_run):
 * polling the consumer, dispatching, the rebalance callback and, because
 * the run thread also polls the producer, delivery reports. So partition
 * state, the job pool and the held queue need no locks.
 *
 * Dispatch: a record gets a job from the pool, a sequence number in its
 * partition's tracker, and a place on one worker's ring:
 *   key        hash(key) % workers (records without a key: round-robin)
 *   partition  partition % workers
 *   unordered  round-robin, skipping full rings
 * If the pool or the chosen ring is full, the record waits at the tail of
 * the held queue and later records queue behind it, so order is kept; if
 * that lasts, the input partitions are paused (librdkafka stops fetching
 * them) until the held queue is empty and the rings half drained (see
 * fr_source_poll). Memory is bounded by
 * the pool (max_in_flight), the rings, the held queue (records fetched before
 * the pause took effect) and librdkafka's own prefetch limits.
 *
 * Offsets: a job's delivery report marks it done in its partition tracker;
 * the contiguous done prefix is stored with rd_kafka_offsets_store (auto
 * commit sends stored offsets every auto.commit.interval.ms).
 *
 * Revocation (cooperative): stop dispatching the revoked partitions, drop
 * their held records (never dispatched, they will be fetched again by the
 * new owner), wait for their in-flight jobs (bounded by the shutdown
 * timeout), store and synchronously commit their offsets, then unassign.
 *
 * Final commit (shutdown) and group rebalances: a commit must not reach the
 * group coordinator behind one of our own JoinGroup requests. The broker
 * answers one connection's requests in order and parks a JoinGroup until
 * every member has rejoined (up to a heartbeat interval of the slowest
 * one); the OffsetCommit queued behind it is then read in the new
 * generation and refused with ILLEGAL_GENERATION, and librdkafka 2.0.2
 * (rd_kafka_cgrp_op_handle_OffsetCommit) resets its generation id to -1,
 * overwriting the one the JoinGroup response just set, so every later
 * commit (and SyncGroup) of this member is refused as well: the next owner
 * re-reads everything since the last auto-commit. librdkafka's own
 * auto-commit timer skips commits outside the steady join state for this
 * reason; our final commit waits for the same (fr_source_commit_final):
 * every JoinGroup written (counted by an interceptor on the broker threads)
 * answered by a rebalance callback, and no rejoin due after a revoke of
 * ours (counted in the rebalance callbacks). docs/ARCHITECTURE.md,
 * "Delivery guarantee".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fraudd/err.h"
#include "fraudd/log.h"
#include "pipeline/internal.h"

/* ---- partitions ---- */

static fr_part *part_get(fr_pipeline *p, int32_t id, int create) {
    if (id < 0) return NULL;
    if ((size_t)id < p->n_parts && p->parts[id]) return p->parts[id];
    if (!create) return NULL;
    if ((size_t)id >= p->n_parts) {
        size_t n = p->n_parts ? p->n_parts : 16;
        while (n <= (size_t)id) n *= 2;
        fr_part **np = realloc(p->parts, n * sizeof *np);
        if (!np) return NULL;
        memset(np + p->n_parts, 0, (n - p->n_parts) * sizeof *np);
        p->parts = np;
        p->n_parts = n;
    }
    fr_part *part = calloc(1, sizeof *part);
    if (!part) return NULL;
    part->id = id;
    part->stored = -1;
    fr_otrack_init(&part->track);
    p->parts[id] = part;
    return part;
}

/* ---- offsets ---- */

void fr_source_store_offsets(fr_pipeline *p) {
    rd_kafka_topic_partition_list_t *list = NULL;
    for (size_t i = 0; i < p->n_parts; i++) {
        fr_part *part = p->parts[i];
        if (!part || !part->dirty) continue;
        part->dirty = 0;
        if (!part->assigned || part->track.committable < 0 || part->track.committable == part->stored) continue;
        if (!list) list = rd_kafka_topic_partition_list_new(8);
        rd_kafka_topic_partition_list_add(list, p->cfg->kafka.input_topic, part->id)->offset =
            part->track.committable;
        part->stored = part->track.committable;
    }
    if (!list) return;
    rd_kafka_resp_err_t e = rd_kafka_offsets_store(p->consumer, list);
    if (e)
        fr_log(FR_LOG_WARN, "offset_store_failed", "%s: %s", p->cfg->kafka.input_topic, rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(list);
}

/* ---- pause / resume ---- */

void fr_source_pause(fr_pipeline *p, int pause) {
    if (p->paused == pause) return;
    rd_kafka_topic_partition_list_t *list = NULL;
    if (rd_kafka_assignment(p->consumer, &list) || !list) return;
    rd_kafka_resp_err_t e = pause ? rd_kafka_pause_partitions(p->consumer, list)
                                  : rd_kafka_resume_partitions(p->consumer, list);
    if (e) fr_log(FR_LOG_WARN, pause ? "pause_failed" : "resume_failed", "%s", rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(list);
    p->paused = pause;
    if (pause) fr_ctr_add(&p->st_pauses, 1);
    fr_log(FR_LOG_DEBUG, pause ? "input_paused" : "input_resumed", "in flight %zu, held %zu", p->in_flight, p->held_n);
}

/* ---- dispatch ---- */

static uint64_t hash_bytes(const void *data, size_t len) {
    /* FNV-1a, 64 bit: cheap and well spread for short keys */
    const unsigned char *b = data;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static fr_worker *pick_worker(fr_pipeline *p, const rd_kafka_message_t *m) {
    unsigned n = (unsigned)p->n_workers;
    switch (p->cfg->pipeline.ordering) {
    case FR_ORDER_KEY:
        if (m->key && m->key_len) return &p->workers[hash_bytes(m->key, m->key_len) % n];
        return &p->workers[p->rr++ % n];
    case FR_ORDER_PARTITION:
        return &p->workers[(unsigned)m->partition % n];
    case FR_ORDER_UNORDERED:
    default:
        for (unsigned i = 0; i < n; i++) {
            fr_worker *w = &p->workers[(p->rr + i) % n];
            if (fr_ring_free_slots(w->ring)) {
                p->rr += i + 1;
                return w;
            }
        }
        return &p->workers[p->rr++ % n];
    }
}

enum { DISPATCHED = 0, BLOCKED = 1 };

static int dispatch(fr_pipeline *p, rd_kafka_message_t *m) {
    fr_part *part = part_get(p, m->partition, 0);
    if (!part || !part->assigned) { /* revoked meanwhile: the new owner reads it */
        rd_kafka_message_destroy(m);
        return DISPATCHED;
    }
    if (!p->free_jobs) return BLOCKED;
    fr_worker *w = pick_worker(p, m);
    if (!fr_ring_free_slots(w->ring)) return BLOCKED;
    fr_job *job = p->free_jobs;
    uint64_t seq;
    int rc = fr_otrack_push(&part->track, m->offset, &seq);
    if (rc) {
        /* an offset at or below one already dispatched: librdkafka re-fetched
         * after a seek; the earlier copy is in flight, so drop this one */
        fr_log(FR_LOG_WARN, "offset_out_of_order", "%s [%d] offset %lld after %lld: dropped",
               p->cfg->kafka.input_topic, (int)m->partition, (long long)m->offset,
               (long long)part->track.last_pushed);
        rd_kafka_message_destroy(m);
        return DISPATCHED;
    }
    p->free_jobs = job->next_free;
    job->next_free = NULL;
    job->msg = m;
    job->part = part;
    job->seq = seq;
    job->t_dispatch_ns = fr_now_ns();
    job->tries = 0;
    job->dead = 0;
    job->flagged = 0;
    job->gen = p->gen; /* the model it will be scored with; see src/pipeline/models.c */
    p->gen->jobs++;
    p->in_flight++;
    void *item = job;
    /* ownership of job moves to the worker */
    size_t pushed = fr_ring_push(w->ring, &item, 1);
    (void)pushed; /* free_slots said there was room and only we push */
    p->to_wake[w->id / 64] |= (uint64_t)1 << (w->id % 64);
    fr_ctr_add(&p->st_consumed, 1);
    atomic_store_explicit(&p->st_in_flight, p->in_flight, memory_order_relaxed);
    return DISPATCHED;
}

void fr_source_wake_workers(fr_pipeline *p) {
    for (uint32_t i = 0; i < p->wake_mask_words; i++) {
        uint64_t m = p->to_wake[i];
        p->to_wake[i] = 0;
        while (m) {
            int b = __builtin_ctzll(m);
            m &= m - 1;
            fr_worker_wake(&p->workers[i * 64 + (uint32_t)b]);
        }
    }
}

static void held_push(fr_pipeline *p, rd_kafka_message_t *m) {
    p->held[(p->held_head + p->held_n) % p->held_cap] = m;
    p->held_n++;
}

/* Dispatches held records in order; returns 1 if the queue is now empty. */
int fr_source_flush_held(fr_pipeline *p) {
    while (p->held_n) {
        if (dispatch(p, p->held[p->held_head]) == BLOCKED) break;
        p->held_head = (p->held_head + 1) % p->held_cap;
        p->held_n--;
    }
    fr_source_wake_workers(p);
    return p->held_n == 0;
}

static void drop_held_if(fr_pipeline *p, const rd_kafka_topic_partition_list_t *parts) {
    size_t keep = 0;
    for (size_t i = 0; i < p->held_n; i++) {
        rd_kafka_message_t *m = p->held[(p->held_head + i) % p->held_cap];
        int drop = !parts;
        for (int k = 0; parts && k < parts->cnt; k++)
            if (parts->elems[k].partition == m->partition) drop = 1;
        if (drop)
            rd_kafka_message_destroy(m);
        else
            p->held[(p->held_head + keep++) % p->held_cap] = m;
    }
    p->held_n = keep;
}

void fr_source_drop_held(fr_pipeline *p) { drop_held_if(p, NULL); }

static void handle_message(fr_pipeline *p, rd_kafka_message_t *m) {
    if (m->err) {
        static fr_log_limiter lim;
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            fr_log_limited(&lim, FR_LOG_WARN, "consumer_error", "%s [%d]: %s",
                           m->rkt ? rd_kafka_topic_name(m->rkt) : "-", (int)m->partition, rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        return;
    }
    if (atomic_load_explicit(&p->brokers_down, memory_order_relaxed)) atomic_store(&p->brokers_down, 0);
    if (p->held_n || dispatch(p, m) == BLOCKED) held_push(p, m);
}

/* Resume only with room to spare, so a saturated pipeline pauses rarely:
 * every pause drops librdkafka's prefetched records and re-fetches them. */
static int can_resume(fr_pipeline *p) {
    if (p->held_n || p->in_flight > p->n_jobs / 2) return 0;
    for (int i = 0; i < p->n_workers; i++)
        if (fr_ring_count(p->workers[i].ring) > fr_ring_capacity(p->workers[i].ring) / 2) return 0;
    return 1;
}

/* One round: serve delivery reports, retry held records, then take up to a
 * few hundred new records (waiting up to timeout_ms for the first).
 *
 * Backpressure: a record that finds its ring or the job pool full is held
 * and the consumer is not polled for records (librdkafka's prefetch queue is
 * bounded by queued.max.messages.kbytes). Short stalls, such as the pool
 * waiting for a batch of acknowledgements, end there. A stall longer than
 * FR_PAUSE_AFTER_MS pauses the partitions, and the consumer is polled again
 * to keep the group session and rebalances served; records fetched before
 * the pause took effect queue behind the held one. */
#define FR_PAUSE_AFTER_MS 50
/* While paused: serve the group session and take what was fetched before
 * the pause (it queues behind the held records), then wait up to 1 ms for
 * acknowledgements, which is what frees room. */
static void poll_while_paused(fr_pipeline *p) {
    if (p->held_n < p->held_cap) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(p->consumer, 0);
        if (m) handle_message(p, m);
    }
    rd_kafka_poll(p->producer, 1);
}

void fr_source_poll(fr_pipeline *p, int timeout_ms) {
    rd_kafka_poll(p->producer, 0);
    if (p->held_n && !fr_source_flush_held(p)) {
        int64_t now = fr_now_ns();
        if (!p->blocked_since) p->blocked_since = now;
        if (!p->paused && now - p->blocked_since > (int64_t)FR_PAUSE_AFTER_MS * 1000000) fr_source_pause(p, 1);
        if (p->paused)
            poll_while_paused(p);
        else
            rd_kafka_poll(p->producer, 1); /* not polling the consumer: its prefetch is bounded */
        return;
    }
    p->blocked_since = 0;
    if (p->paused) {
        if (!can_resume(p)) {
            poll_while_paused(p);
            return;
        }
        fr_source_pause(p, 0);
    }
    for (int i = 0; i < 512; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(p->consumer, i == 0 ? timeout_ms : 0);
        if (!m) break;
        handle_message(p, m);
        if (p->held_n) break;
        if ((i & 63) == 63) fr_source_wake_workers(p);
    }
    fr_source_wake_workers(p);
    rd_kafka_poll(p->producer, 0);
}

int fr_source_wait_parts(fr_pipeline *p, const rd_kafka_topic_partition_list_t *list, int64_t deadline_ns) {
    for (;;) {
        uint64_t busy = 0;
        for (int i = 0; i < list->cnt; i++) {
            fr_part *part = part_get(p, list->elems[i].partition, 0);
            if (part) busy += fr_otrack_in_flight(&part->track);
        }
        if (!busy) return 0;
        if (fr_now_ns() > deadline_ns) return FR_EIO;
        fr_source_wake_workers(p);
        rd_kafka_poll(p->producer, 5);
    }
}

/* ---- rebalance ---- */

static void list_text(const rd_kafka_topic_partition_list_t *l, char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < l->cnt && n + 16 < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%d", i ? "," : "", (int)l->elems[i].partition);
}

static void on_assign(fr_pipeline *p, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, int coop) {
    char txt[512];
    list_text(parts, txt, sizeof txt);
    for (int i = 0; i < parts->cnt; i++) {
        fr_part *part = part_get(p, parts->elems[i].partition, 1);
        if (!part) {
            fr_log(FR_LOG_ERROR, "out_of_memory", "assigning partition %d", (int)parts->elems[i].partition);
            atomic_store(&p->fatal, 1);
            continue;
        }
        fr_otrack_reset(&part->track);
        part->assigned = 1;
        part->dirty = 0;
        part->stored = -1;
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
    if (p->paused) rd_kafka_pause_partitions(rk, parts);
    /* every SyncGroup ends in one rebalance callback; see on_revoke */
    if (p->settle_assigns > 0) p->settle_assigns--;
    size_t owned = 0;
    for (size_t i = 0; i < p->n_parts; i++) owned += p->parts[i] && p->parts[i]->assigned;
    atomic_store_explicit(&p->st_assigned, owned, memory_order_relaxed);
    fr_ctr_add(&p->st_rebalances, 1);
    fr_log(FR_LOG_INFO, "assigned", "%s partitions [%s] (%s); now own %zu", p->cfg->kafka.input_topic, txt,
           coop ? "incremental" : "eager", owned);
}

static void on_revoke(fr_pipeline *p, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, int coop) {
    char txt[512];
    list_text(parts, txt, sizeof txt);
    int lost = rd_kafka_assignment_lost(rk);
    int64_t t0 = fr_now_ns();
    uint64_t waited = 0;
    for (int i = 0; i < parts->cnt; i++) {
        fr_part *part = part_get(p, parts->elems[i].partition, 0);
        if (part) waited += fr_otrack_in_flight(&part->track);
    }
    /* records of these partitions that were never dispatched go back */
    drop_held_if(p, parts);
    /* wait for in-flight ones, so their offsets can be committed now */
    int timed_out = fr_source_wait_parts(p, parts, t0 + (int64_t)p->cfg->pipeline.shutdown_timeout_ms * 1000000);
    fr_source_store_offsets(p);
    rd_kafka_topic_partition_list_t *commit = rd_kafka_topic_partition_list_new(parts->cnt);
    for (int i = 0; i < parts->cnt; i++) {
        fr_part *part = part_get(p, parts->elems[i].partition, 0);
        if (!part) continue;
        if (part->assigned && part->track.committable >= 0)
            rd_kafka_topic_partition_list_add(commit, p->cfg->kafka.input_topic, part->id)->offset =
                part->track.committable;
        part->assigned = 0;
    }
    /* closing after a final commit that went through: it covered these
     * offsets (nothing is in flight after the drain), and committing again
     * could meet a new rebalance */
    if (!lost && commit->cnt && p->closing != 2) {
        rd_kafka_resp_err_t e = rd_kafka_commit(rk, commit, 0);
        if (e) fr_log(FR_LOG_WARN, "commit_failed", "on revoke of [%s]: %s", txt, rd_kafka_err2str(e));
    }
    /* librdkafka rejoins after this (unless closing): the rebalance is over
     * after the assign that ends the rejoin, and in a cooperative rebalance
     * that did not lose the partitions, the assign that follows this revoke
     * comes first */
    if (!p->closing) p->settle_assigns = coop && !lost ? 2 : 1;
    rd_kafka_topic_partition_list_destroy(commit);
    if (coop) {
        rd_kafka_error_t *error = rd_kafka_incremental_unassign(rk, parts);
        if (error) {
            fr_log(FR_LOG_ERROR, "unassign_failed", "%s", rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
        }
    } else {
        rd_kafka_assign(rk, NULL);
    }
    size_t owned = 0;
    for (size_t i = 0; i < p->n_parts; i++) owned += p->parts[i] && p->parts[i]->assigned;
    atomic_store_explicit(&p->st_assigned, owned, memory_order_relaxed);
    fr_ctr_add(&p->st_rebalances, 1);
    fr_log(timed_out ? FR_LOG_WARN : FR_LOG_INFO, lost ? "partitions_lost" : "revoked",
           "%s partitions [%s]: drained %llu in-flight records in %.0f ms%s; now own %zu", p->cfg->kafka.input_topic,
           txt, (unsigned long long)waited, (double)(fr_now_ns() - t0) / 1e6,
           timed_out ? " (timed out: the rest will be redelivered to the new owner)" : "", owned);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                         void *opaque) {
    fr_pipeline *p = opaque;
    int coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    /* librdkafka does not rejoin while this callback is due: every JoinGroup
     * written so far has been answered (see on_request_sent) */
    p->joins_served = atomic_load_explicit(&p->joins_sent, memory_order_relaxed);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
        on_assign(p, rk, parts, coop);
    else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
        on_revoke(p, rk, parts, coop);
    else {
        fr_log(FR_LOG_ERROR, "rebalance_failed", "%s", rd_kafka_err2str(err));
        if (coop)
            on_revoke(p, rk, parts, coop);
        else
            rd_kafka_assign(rk, NULL);
    }
}

/* ---- group settling ---- */

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
    fr_pipeline *p = opaque;
    /* the count is the only data handed over: relaxed, no partner */
    if (api == API_JOIN_GROUP) atomic_fetch_add_explicit(&p->joins_sent, 1, memory_order_relaxed);
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

static int group_settled(fr_pipeline *p) {
    return atomic_load_explicit(&p->joins_sent, memory_order_relaxed) == p->joins_served && p->settle_assigns == 0;
}

/* partitions we own with a delivered offset to commit */
static int committable_parts(const fr_pipeline *p) {
    int n = 0;
    for (size_t i = 0; i < p->n_parts; i++)
        n += p->parts[i] && p->parts[i]->assigned && p->parts[i]->track.committable >= 0;
    return n;
}

int fr_source_commit_final(fr_pipeline *p, int64_t deadline_ns) {
    /* serve the consumer (rebalance callbacks; records are dropped unstored,
     * the next owner reads them) until the group is settled; with nothing to
     * commit (or nothing left after a revoke committed it) there is no wait */
    int64_t t0 = fr_now_ns();
    int settled;
    while (!(settled = group_settled(p)) && committable_parts(p) && fr_now_ns() < deadline_ns) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(p->consumer, 5);
        if (m) rd_kafka_message_destroy(m);
        rd_kafka_poll(p->producer, 0);
    }
    double waited_ms = (double)(fr_now_ns() - t0) / 1e6;
    for (size_t i = 0; i < p->n_parts; i++)
        if (p->parts[i]) p->parts[i]->dirty = 1;
    fr_source_store_offsets(p);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
    char txt[512];
    size_t n = 0;
    txt[0] = 0;
    for (size_t i = 0; i < p->n_parts; i++) {
        fr_part *part = p->parts[i];
        if (!part || !part->assigned || part->track.committable < 0) continue;
        rd_kafka_topic_partition_list_add(list, p->cfg->kafka.input_topic, part->id)->offset = part->track.committable;
        if (n + 32 < sizeof txt)
            n += (size_t)snprintf(txt + n, sizeof txt - n, "%s%d@%lld", n ? "," : "", (int)part->id,
                                  (long long)part->track.committable);
    }
    int rc = 0;
    rd_kafka_resp_err_t e = list->cnt ? rd_kafka_commit(p->consumer, list, 0) : RD_KAFKA_RESP_ERR_NO_ERROR;
    if (e) {
        fr_log(FR_LOG_WARN, "commit_failed", "final commit of [%s]%s: %s", txt,
               settled ? "" : " (the group was still rebalancing at the shutdown bound)", rd_kafka_err2str(e));
        /* the next owner re-reads from the last auto-commit: duplicates, no loss */
        rc = FR_EIO;
    } else {
        fr_log(FR_LOG_INFO, "final_commit", "%s [%s] (partition@next offset); waited %.0f ms for the group to settle%s",
               p->cfg->kafka.input_topic, txt, waited_ms,
               settled || !list->cnt ? "" : " (not settled at the shutdown bound)");
    }
    rd_kafka_topic_partition_list_destroy(list);
    p->closing = rc ? 1 : 2;
    return rc;
}

/* ---- construction ---- */

int fr_source_new(fr_pipeline *p, char *err, size_t errlen) {
    const fr_config *c = p->cfg;
    char e[512];
    int rc = 0;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* our defaults first; the user's properties may override the tunables */
    if ((rc = fr_kafka_conf_set(conf, "client.id", "fraudd", err, errlen)) ||
        (rc = fr_kafka_conf_set(conf, "partition.assignment.strategy", "cooperative-sticky", err, errlen)) ||
        (rc = fr_kafka_conf_set(conf, "auto.offset.reset", "earliest", err, errlen)) ||
        (rc = fr_kafka_conf_set(conf, "enable.auto.commit", "true", err, errlen)) ||
        (rc = fr_kafka_conf_set(conf, "auto.commit.interval.ms", "1000", err, errlen)) ||
        (rc = fr_kafka_conf_set(conf, "queued.max.messages.kbytes", "16384", err, errlen)) ||
        (rc = fr_kafka_conf_set(conf, "statistics.interval.ms", "5000", err, errlen)) ||
        (rc = fr_kafka_conf_apply(conf, &c->kafka.properties, "kafka.properties", err, errlen)) ||
        (rc = fr_kafka_conf_apply(conf, &c->kafka.consumer, "kafka.consumer", err, errlen)) ||
        (rc = fr_kafka_conf_apply(conf, p->opts.consumer_override, "consumer override", err, errlen)) ||
        /* fixed: the delivery guarantee depends on these */
        (rc = fr_kafka_conf_set(conf, "bootstrap.servers", c->kafka.bootstrap_servers, err, errlen)) ||
        (rc = fr_kafka_conf_set(conf, "group.id", c->kafka.group_id, err, errlen)) ||
        (rc = fr_kafka_conf_set(conf, "enable.auto.offset.store", "false", err, errlen)))
        goto out;
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    if (rd_kafka_conf_interceptor_add_on_new(conf, "fraudd-group", on_new, p)) {
        rc = fr_set_err(err, errlen, FR_EINVAL, "kafka consumer: could not add the group interceptor");
        goto out;
    }
    rd_kafka_conf_set_log_cb(conf, fr_kafka_log_cb);
    rd_kafka_conf_set_error_cb(conf, fr_kafka_error_cb);
    rd_kafka_conf_set_stats_cb(conf, fr_kafka_stats_cb);
    rd_kafka_conf_set_opaque(conf, p);
    p->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
    if (!p->consumer) {
        rc = fr_set_err(err, errlen, FR_EINVAL, "kafka consumer: %s", e);
        goto out;
    }
    conf = NULL; /* now owned by p->consumer */
    rd_kafka_poll_set_consumer(p->consumer);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, c->kafka.input_topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t ke = rd_kafka_subscribe(p->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (ke) rc = fr_set_err(err, errlen, FR_EINVAL, "subscribe to %s: %s", c->kafka.input_topic, rd_kafka_err2str(ke));
out:
    if (conf) rd_kafka_conf_destroy(conf);
    return rc;
}
