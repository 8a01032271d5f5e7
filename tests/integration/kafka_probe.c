/* kafka_probe: checks a live broker with the librdkafka we link (docs/KAFKA.md).
 *
 *   kafka_probe BOOTSTRAP TOPIC_PREFIX
 *
 * Creates PREFIX-idem (2 partitions) and PREFIX-txn (1 partition) with the admin API, then:
 *   idempotent-producer  enable.idempotence=true delivers 1000 messages
 *   consumer-group       cooperative-sticky group, manual offset store + synchronous commit of
 *                        all 1000; a second member of the group reads the committed offsets
 *                        back (rd_kafka_committed, 1000 in total) and gets nothing redelivered
 *   transactions         100 messages committed, 50 aborted; read_committed sees exactly the 100
 * Prints "ok NAME" or "FAIL NAME: reason" per check; exits 0 only if all pass.
 * Build: cc -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror kafka_probe.c \
 *          $(pkg-config --cflags --libs rdkafka) -o kafka_probe */
#include <librdkafka/rdkafka.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NMSG 1000
#define NTXN_COMMIT 100
#define NTXN_ABORT 50

static const char *bootstrap;
static char why[512]; /* reason of the current check's failure */

static void failf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int report(const char *name, int ok) {
    if (ok) printf("ok %s\n", name);
    else printf("FAIL %s: %s\n", name, why);
    fflush(stdout);
    return ok;
}

/* A conf with bootstrap.servers and the given NULL-terminated key/value pairs; NULL on error. */
static rd_kafka_conf_t *conf_new(const char *const *kv) {
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
        failf("conf bootstrap.servers: %s", errstr);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    for (; kv && kv[0]; kv += 2) {
        if (rd_kafka_conf_set(conf, kv[0], kv[1], errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
            failf("conf %s=%s: %s", kv[0], kv[1], errstr);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    return conf;
}

static rd_kafka_t *client_new(rd_kafka_type_t type, rd_kafka_conf_t *conf) {
    char errstr[512];
    if (!conf) return NULL;
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
    if (!rk) {
        failf("rd_kafka_new: %s", errstr);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

/* --- topics --------------------------------------------------------------------------- */

static int wait_leaders(rd_kafka_t *rk, const char *topic, int parts, int timeout_ms) {
    int64_t end = now_ms() + timeout_ms;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int ok = 0;
    while (!ok && now_ms() < end) {
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt == parts) {
                ok = 1;
                for (int i = 0; i < parts; i++)
                    if (md->topics[0].partitions[i].leader < 0) ok = 0;
            }
            rd_kafka_metadata_destroy(md);
        }
        if (!ok) {
            struct timespec ts = {0, 200 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    rd_kafka_topic_destroy(rkt);
    if (!ok) failf("topic %s: no leader for all %d partitions after %d ms", topic, parts, timeout_ms);
    return ok;
}

static int create_topics(const char *const *names, const int *parts, int n) {
    char errstr[512];
    rd_kafka_t *rk = client_new(RD_KAFKA_PRODUCER, conf_new(NULL));
    if (!rk) return 0;
    rd_kafka_NewTopic_t *nt[4];
    int ok = 1;
    for (int i = 0; i < n; i++) {
        nt[i] = rd_kafka_NewTopic_new(names[i], parts[i], 1, errstr, sizeof errstr);
        if (!nt[i]) { failf("NewTopic %s: %s", names[i], errstr); n = i; ok = 0; }
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    if (ok) {
        rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        if (rd_kafka_AdminOptions_set_operation_timeout(opt, 20000, errstr, sizeof errstr)) {
            failf("operation_timeout: %s", errstr);
            ok = 0;
        } else {
            rd_kafka_CreateTopics(rk, nt, (size_t)n, opt, q);
            rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
            if (!ev) { failf("CreateTopics: no result in 30 s"); ok = 0; }
            else if (rd_kafka_event_error(ev)) {
                failf("CreateTopics: %s", rd_kafka_event_error_string(ev));
                ok = 0;
            } else {
                size_t cnt;
                const rd_kafka_topic_result_t **res =
                    rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
                for (size_t i = 0; i < cnt; i++)
                    if (rd_kafka_topic_result_error(res[i])) {
                        failf("CreateTopics %s: %s", rd_kafka_topic_result_name(res[i]),
                              rd_kafka_topic_result_error_string(res[i]));
                        ok = 0;
                    }
            }
            if (ev) rd_kafka_event_destroy(ev);
        }
        rd_kafka_AdminOptions_destroy(opt);
    }
    for (int i = 0; ok && i < n; i++) ok = wait_leaders(rk, names[i], parts[i], 30000);
    rd_kafka_NewTopic_destroy_array(nt, (size_t)n);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return ok;
}

/* --- idempotent producer --------------------------------------------------------------- */

static int delivered, failed;
static char dr_err[256];

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk; (void)opaque;
    if (m->err) {
        if (!failed++) snprintf(dr_err, sizeof dr_err, "%s", rd_kafka_err2str(m->err));
    } else delivered++;
}

static int produce(rd_kafka_t *rk, const char *topic, const char *tag, int n) {
    char key[32], val[64];
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "k%d", i);
        snprintf(val, sizeof val, "%s-%d", tag, i);
        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                                        RD_KAFKA_V_VALUE(val, strlen(val)),
                                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 100);
        if (err) { failf("producev: %s", rd_kafka_err2str(err)); return 0; }
        rd_kafka_poll(rk, 0);
    }
    return 1;
}

static int check_idempotent(const char *topic) {
    const char *kv[] = {"enable.idempotence", "true", "linger.ms", "5", NULL};
    rd_kafka_conf_t *conf = conf_new(kv);
    if (conf) rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_t *rk = client_new(RD_KAFKA_PRODUCER, conf);
    if (!rk) return 0;
    delivered = failed = 0;
    int ok = produce(rk, topic, "idem", NMSG);
    rd_kafka_resp_err_t ferr = rd_kafka_flush(rk, 30000);
    char fatal[256];
    rd_kafka_resp_err_t fe = rd_kafka_fatal_error(rk, fatal, sizeof fatal);
    if (ok && fe) { failf("fatal error: %s", fatal); ok = 0; }
    else if (ok && ferr) { failf("flush: %s (%d delivered)", rd_kafka_err2str(ferr), delivered); ok = 0; }
    else if (ok && (failed || delivered != NMSG)) {
        failf("%d delivered, %d failed (%s)", delivered, failed, dr_err);
        ok = 0;
    }
    rd_kafka_destroy(rk);
    return ok;
}

/* --- consumer group ------------------------------------------------------------------- */

static int cooperative_seen; /* the rebalance protocol that was negotiated was COOPERATIVE */

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
    (void)opaque;
    int coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    if (coop) cooperative_seen = 1;
    rd_kafka_error_t *e = NULL;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
        e = coop ? rd_kafka_incremental_assign(rk, parts) : (rd_kafka_assign(rk, parts), NULL);
    else
        e = coop ? rd_kafka_incremental_unassign(rk, parts) : (rd_kafka_assign(rk, NULL), NULL);
    if (e) {
        fprintf(stderr, "kafka_probe: rebalance: %s\n", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
}

static rd_kafka_t *group_member(const char *group, const char *topic) {
    const char *kv[] = {"group.id", group, "partition.assignment.strategy", "cooperative-sticky",
                        "enable.auto.offset.store", "false", "enable.auto.commit", "false",
                        "auto.offset.reset", "earliest", NULL};
    rd_kafka_conf_t *conf = conf_new(kv);
    if (conf) rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_t *rk = client_new(RD_KAFKA_CONSUMER, conf);
    if (!rk) return NULL;
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (err) {
        failf("subscribe: %s", rd_kafka_err2str(err));
        rd_kafka_destroy(rk);
        return NULL;
    }
    return rk;
}

static void close_consumer(rd_kafka_t *rk) {
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

static int check_group(const char *topic, const char *group) {
    rd_kafka_t *rk = group_member(group, topic);
    if (!rk) return 0;
    int n = 0, ok = 1;
    int64_t end = now_ms() + 60000;
    while (n < NMSG && now_ms() < end) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
        if (!m) continue;
        if (m->err) {
            fprintf(stderr, "kafka_probe: consume: %s\n", rd_kafka_message_errstr(m));
        } else {
            rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
            rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt), m->partition)->offset =
                m->offset + 1;
            rd_kafka_resp_err_t err = rd_kafka_offsets_store(rk, l);
            rd_kafka_topic_partition_list_destroy(l);
            if (err) { failf("offsets_store: %s", rd_kafka_err2str(err)); ok = 0; }
            n++;
        }
        rd_kafka_message_destroy(m);
    }
    if (ok && n != NMSG) { failf("consumed %d of %d in 60 s", n, NMSG); ok = 0; }
    if (ok && !cooperative_seen) { failf("rebalance protocol was not COOPERATIVE"); ok = 0; }
    if (ok) {
        rd_kafka_resp_err_t err = rd_kafka_commit(rk, NULL, 0 /* synchronous */);
        if (err) { failf("commit: %s", rd_kafka_err2str(err)); ok = 0; }
    }
    close_consumer(rk);
    if (!ok) return 0;

    /* a second member of the group: committed offsets of its assignment, nothing redelivered */
    rk = group_member(group, topic);
    if (!rk) return 0;
    rd_kafka_topic_partition_list_t *asg = NULL;
    end = now_ms() + 30000;
    int redelivered = 0;
    while (now_ms() < end) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (m) {
            if (!m->err) redelivered++;
            rd_kafka_message_destroy(m);
        }
        if (!asg && rd_kafka_assignment(rk, &asg) == RD_KAFKA_RESP_ERR_NO_ERROR && asg->cnt < 2) {
            rd_kafka_topic_partition_list_destroy(asg);
            asg = NULL;
        }
        if (asg && end - now_ms() > 2000) end = now_ms() + 2000; /* listen 2 s for redeliveries */
    }
    if (!asg) { failf("second member got no assignment of both partitions in 30 s"); ok = 0; }
    else {
        rd_kafka_resp_err_t err = rd_kafka_committed(rk, asg, 10000);
        int64_t sum = 0;
        for (int i = 0; !err && i < asg->cnt; i++) {
            if (asg->elems[i].err) err = asg->elems[i].err;
            else if (asg->elems[i].offset > 0) sum += asg->elems[i].offset;
        }
        if (err) { failf("committed: %s", rd_kafka_err2str(err)); ok = 0; }
        else if (sum != NMSG) { failf("committed offsets sum to %lld, not %d", (long long)sum, NMSG); ok = 0; }
        else if (redelivered) { failf("second member was redelivered %d messages", redelivered); ok = 0; }
        rd_kafka_topic_partition_list_destroy(asg);
    }
    close_consumer(rk);
    return ok;
}

/* --- transactions --------------------------------------------------------------------- */

static int txn_step(rd_kafka_error_t *e, const char *what) {
    if (!e) return 1;
    failf("%s: %s%s", what, rd_kafka_error_string(e), rd_kafka_error_is_fatal(e) ? " (fatal)" : "");
    rd_kafka_error_destroy(e);
    return 0;
}

/* Reads the topic (1 partition) from the start to its end; counts messages and "commit-" ones. */
static int read_all(const char *topic, const char *isolation, int *total, int *committed) {
    /* consumer_poll needs a group.id even with a manual assignment; nothing is committed */
    const char *kv[] = {"isolation.level", isolation, "enable.partition.eof", "true", "group.id",
                        "kafka-probe-reader", "enable.auto.commit", "false", NULL};
    rd_kafka_t *rk = client_new(RD_KAFKA_CONSUMER, conf_new(kv));
    if (!rk) return 0;
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t err = rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    int eof = 0;
    *total = *committed = 0;
    int64_t end = now_ms() + 30000;
    while (!err && !eof && now_ms() < end) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
        if (!m) continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) eof = 1;
        else if (m->err) err = m->err;
        else {
            (*total)++;
            if (m->len > 7 && !memcmp(m->payload, "commit-", 7)) (*committed)++;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(rk, NULL);
    rd_kafka_destroy(rk);
    if (err) failf("%s read: %s", isolation, rd_kafka_err2str(err));
    else if (!eof) failf("%s read: no end of partition in 30 s", isolation);
    return !err && eof;
}

static int check_transactions(const char *topic, const char *txid) {
    const char *kv[] = {"transactional.id", txid, NULL};
    rd_kafka_conf_t *conf = conf_new(kv);
    if (conf) rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_t *rk = client_new(RD_KAFKA_PRODUCER, conf);
    if (!rk) return 0;
    delivered = failed = 0;
    int ok = txn_step(rd_kafka_init_transactions(rk, 30000), "init_transactions") &&
             txn_step(rd_kafka_begin_transaction(rk), "begin_transaction") &&
             produce(rk, topic, "commit", NTXN_COMMIT) &&
             txn_step(rd_kafka_commit_transaction(rk, 30000), "commit_transaction") &&
             txn_step(rd_kafka_begin_transaction(rk), "begin_transaction (2)") &&
             produce(rk, topic, "abort", NTXN_ABORT) &&
             rd_kafka_flush(rk, 30000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
             txn_step(rd_kafka_abort_transaction(rk, 30000), "abort_transaction");
    if (ok && delivered != NTXN_COMMIT + NTXN_ABORT) {
        failf("%d of %d transactional messages delivered (%s)", delivered,
              NTXN_COMMIT + NTXN_ABORT, dr_err);
        ok = 0;
    }
    rd_kafka_destroy(rk);
    int total, committed;
    if (ok && (ok = read_all(topic, "read_committed", &total, &committed)) &&
        (total != NTXN_COMMIT || committed != NTXN_COMMIT)) {
        failf("read_committed saw %d messages (%d committed ones), want %d", total, committed, NTXN_COMMIT);
        ok = 0;
    }
    /* the aborted ones are in the log: read_uncommitted sees them */
    if (ok && (ok = read_all(topic, "read_uncommitted", &total, &committed)) &&
        total != NTXN_COMMIT + NTXN_ABORT) {
        failf("read_uncommitted saw %d messages, want %d", total, NTXN_COMMIT + NTXN_ABORT);
        ok = 0;
    }
    return ok;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s BOOTSTRAP TOPIC_PREFIX\n", argv[0]);
        return 2;
    }
    bootstrap = argv[1];
    char idem[200], txn[200], group[200], txid[200];
    snprintf(idem, sizeof idem, "%s-idem", argv[2]);
    snprintf(txn, sizeof txn, "%s-txn", argv[2]);
    snprintf(group, sizeof group, "%s-group", argv[2]);
    snprintf(txid, sizeof txid, "%s-txid", argv[2]);
    fprintf(stderr, "kafka_probe: librdkafka %s, broker %s\n", rd_kafka_version_str(), bootstrap);

    const char *names[] = {idem, txn};
    const int parts[] = {2, 1};
    if (!report("create-topics", create_topics(names, parts, 2))) {
        printf("FAIL idempotent-producer: no topic\nFAIL consumer-group: no topic\n"
               "FAIL transactions: no topic\n");
        return 1;
    }
    int ok = report("idempotent-producer", check_idempotent(idem));
    if (ok) ok &= report("consumer-group", check_group(idem, group));
    else printf("FAIL consumer-group: nothing was produced\n");
    ok &= report("transactions", check_transactions(txn, txid));
    return ok ? 0 : 1;
}
