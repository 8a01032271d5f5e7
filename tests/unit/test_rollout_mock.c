/* Champion and challenger (model.challenger) through a whole pipeline on
 * librdkafka's mock cluster (tests/faults/rollout.py runs the same against
 * a real broker, with an independent checker):
 *  - shadow: every result is the champion's, with the challenger's score
 *    inside; the challenger here is the same network with every error
 *    weight doubled, so its score must be exactly 4x the champion's; the
 *    shadow verdict counters add up to the records;
 *  - canary: each record is served by the model its key hashes to (FNV-1a
 *    64, recomputed here), the header and the JSON name that model, and a
 *    key's records all meet the same model;
 *  - promotion: the config file is rewritten with the two models swapped
 *    and SIGHUP (fr_reloader_request) re-reads it: records dispatched
 *    after the swap are scored by the new pair, none is lost or doubled;
 *  - a challenger with other features, or the champion's version, is
 *    refused at start and on reload, and the serving pair stays.
 *
 * ./test_rollout_mock PATTERN runs only the matching tests.
 */
#define _GNU_SOURCE /* memmem */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fraudd/err.h"
#include "fraudd/log.h"
#include "fraudd/reload.h"
#include "mock_env.h"
#include "model_variants.h"


/* The default model with every error weight set to w, under version v. */
static unsigned char *variant(const char *v, const char *w, size_t *n) {
    fr_model *m = NULL;
    char err[256];
    assert_int_equal(fr_model_load_default(&m, err, sizeof err), 0);
    unsigned char *b = mv_make(&(mv_opts){.version = v, .err_weights = mv_uniform_weights(m, w)}, n);
    fr_model_free(m);
    assert_non_null(b);
    return b;
}

/* Writes variant(v, w) to path. */
static void write_variant(const char *path, const char *v, const char *w) {
    size_t n;
    unsigned char *b = variant(v, w, &n);
    assert_int_equal(mv_write(path, b, n), 0);
    free(b);
}

static fr_model *variant_model(const char *v, const char *w) {
    size_t n;
    unsigned char *b = variant(v, w, &n);
    fr_model *m = NULL;
    char err[256];
    assert_int_equal(fr_model_load_mem(b, n, v, &m, err, sizeof err), 0);
    free(b);
    return m;
}

/* fraudd.features JSON of the default model with its first feature
 * renamed: a model that compiles but reads other records. Static buffer. */
static const char *renamed_features(void) {
    static char w[4096];
    fr_model *m = NULL;
    char err[256];
    assert_int_equal(fr_model_load_default(&m, err, sizeof err), 0);
    size_t n = (size_t)snprintf(w, sizeof w, "[");
    for (size_t i = 0; i < fr_model_n_features(m); i++)
        n += (size_t)snprintf(w + n, sizeof w - n, "%s\"%s\"", i ? "," : "",
                              i ? fr_model_feature_name(m, i) : "renamed");
    snprintf(w + n, sizeof w - n, "]");
    fr_model_free(m);
    return w;
}

/* n generated records, record i keyed "card-<i % cards>". */
static void produce_cards(env *e, int n, int cards, uint64_t seed) {
    fr_gen *g = gen_new(seed, 0);
    char rec[4096], key[32];
    for (int i = 0; i < n; i++) {
        size_t len = gen_record(g, rec, sizeof rec);
        snprintf(key, sizeof key, "card-%d", i % cards);
        produce(e, rec, len, key);
    }
    fr_gen_free(g);
}

/* The text of the "challenger" object of a shadow result, or NULL. */
static const char *challenger_of(const msg *m) {
    const char *p = strstr(m->text, ",\"challenger\":{");
    return p ? p + 15 : NULL;
}

/* Two workers, champion "champ-1" (error weights 1) and challenger
 * version ch (weights 2: 4x the score) serving in mode (share: canary). */
static env *env_with_challenger(const char *ch, fr_challenger_mode mode, double share) {
    env *e = env_new(2, 3);
    fr_model_free(e->m);
    e->m = variant_model("champ-1", "1");
    e->challenger = variant_model(ch, "2");
    e->cfg->model.challenger.mode = mode;
    e->cfg->model.challenger.share = share;
    set(&e->cfg->model.challenger.path, "/unused/by/the/pipeline.onnx");
    return e;
}

static void shadow_results_carry_the_challengers_score(void **state) {
    (void)state;
    env *e = env_with_challenger("shadow-2", FR_CHALLENGER_SHADOW, NAN);
    produce_cards(e, 300, 50, 21);
    start(e);
    fr_stats s = finish(e, 300);
    assert_int_equal(s.results, 300);
    assert_int_equal(s.dead_letters, 0);
    msg *out = read_topic(e, "out", 2, 300);
    uint64_t fraud_pairs[2][2] = {{0, 0}, {0, 0}};
    for (int i = 0; i < 300; i++) {
        assert_string_equal(out[i].version, "champ-1");
        assert_string_equal(out[i].json_version, "champ-1");
        const char *c = challenger_of(&out[i]);
        assert_non_null(c);
        /* the challenger's part: the score fields of its own result, no pass-through */
        assert_true(!strncmp(c, "\"score\":", 8));
        assert_non_null(strstr(c, "\"model_version\":\"shadow-2\""));
        assert_null(strstr(c, "\"id\":"));
        size_t len = strlen(out[i].text);
        assert_true(len > 2 && !strcmp(out[i].text + len - 2, "}}"));
        double a = strtod(out[i].score, NULL), b = strtod(c + 8, NULL);
        if (a != 0) assert_true(fabs(b - 4 * a) <= 1e-12 * fabs(4 * a));
        char af[8], bf[8];
        json_field(out[i].text, (size_t)(c - out[i].text), "is_fraud", af, sizeof af);
        json_field(c, strlen(c), "is_fraud", bf, sizeof bf);
        fraud_pairs[!strcmp(af, "true")][!strcmp(bf, "true")]++;
    }
    free(out);
    fr_metrics_view *v = calloc(1, sizeof *v);
    fr_pipeline_metrics(e->p, v);
    assert_int_equal(v->n_shadows, 1);
    assert_string_equal(v->shadows[0].champion, "champ-1");
    assert_string_equal(v->shadows[0].challenger, "shadow-2");
    for (int x = 0; x < 2; x++)
        for (int y = 0; y < 2; y++) assert_int_equal(v->shadows[0].verdicts[x][y], fraud_pairs[x][y]);
    assert_int_equal(v->shadows[0].rejected, 0);
    /* both models' score histograms count every record */
    assert_int_equal(v->n_models, 2);
    for (int k = 0; k < 2; k++) {
        uint64_t total = 0;
        for (int i = 0; i < FR_SCORE_BUCKETS; i++) total += v->models[k].scores[i];
        assert_int_equal(total, 300);
    }
    assert_string_equal(v->models[1].mode, "shadow");
    free(v);
    env_free(e);
}

/* FNV-1a 64, then MurmurHash3's fmix64 (docs/DEPLOY.md). */
static uint64_t key_hash(const char *s) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static void canary_serves_a_share_of_keys_with_the_challenger(void **state) {
    (void)state;
    env *e = env_with_challenger("canary-2", FR_CHALLENGER_CANARY, 0.3);
    produce_cards(e, 400, 100, 22);
    start(e);
    fr_stats s = finish(e, 400);
    assert_int_equal(s.results, 400);
    msg *out = read_topic(e, "out", 2, 400);
    int served[100] = {0}, canary_cards = 0, n_canary = 0;
    for (int i = 0; i < 400; i++) {
        int card = atoi(out[i].key + 5);
        int want = (key_hash(out[i].key) >> 11) < (uint64_t)ldexp(0.3, 53);
        const char *v = want ? "canary-2" : "champ-1";
        assert_string_equal(out[i].version, v);
        assert_string_equal(out[i].json_version, v);
        assert_null(challenger_of(&out[i])); /* a canary result is one model's */
        int role = want ? 2 : 1;
        assert_true(served[card] == 0 || served[card] == role); /* a card meets one model */
        served[card] = role;
        n_canary += want;
    }
    for (int c = 0; c < 100; c++) canary_cards += served[c] == 2;
    print_message("canary: %d of 100 cards\n", canary_cards);
    /* 100 cards at 0.3: 30 +- 4.6 (one standard deviation) */
    assert_true(canary_cards >= 12 && canary_cards <= 48);
    assert_int_equal(n_canary, canary_cards * 4);
    free(out);
    env_free(e);
}

/* A config file for the mock cluster with the given model section. */
static void write_config(env *e, const char *path, const char *model_section) {
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fprintf(f,
            "kafka:\n  bootstrap_servers: \"%s\"\n  group_id: test\n  input_topic: in\n  output_topic: out\n"
            "  dead_letter_topic: dlq\nmodel:\n%s",
            e->cfg->kafka.bootstrap_servers, model_section);
    fclose(f);
    assert_int_equal(rename(tmp, path), 0); /* as a ConfigMap update: whole or not at all */
}

static void promotion_by_config_swaps_both_roles_at_one_record(void **state) {
    (void)state;
    char dir[] = "/tmp/fraudd-rollout-XXXXXX", a[256], b[256], bad[256], cfg[256], sec[1024], err[1024];
    assert_non_null(mkdtemp(dir));
    snprintf(a, sizeof a, "%s/a.onnx", dir);
    snprintf(b, sizeof b, "%s/b.onnx", dir);
    snprintf(bad, sizeof bad, "%s/bad.onnx", dir);
    snprintf(cfg, sizeof cfg, "%s/fraudd.yaml", dir);
    size_t n;
    write_variant(a, "champ-a", "1");
    write_variant(b, "chall-b", "2");
    unsigned char *bytes = mv_make(&(mv_opts){.version = "other-features", .features = renamed_features()}, &n);
    assert_int_equal(mv_write(bad, bytes, n), 0);
    free(bytes);

    env *e = env_new(2, 3);
    snprintf(sec, sizeof sec, "  path: %s\n  challenger:\n    path: %s\n    mode: shadow\n", a, b);
    write_config(e, cfg, sec);
    fr_config *c = NULL;
    assert_int_equal(fr_config_load(cfg, NULL, &c, err, sizeof err), 0);
    c->pipeline.workers = 2;
    c->pipeline.shutdown_timeout_ms = 10000;
    fr_config_free(e->cfg);
    e->cfg = c;
    fr_rollout live;
    assert_int_equal(fr_rollout_load(c, &live, err, sizeof err), 0);
    fr_model_free(e->m);
    e->m = fr_model_retain(live.model[0]);
    e->challenger = fr_model_retain(live.model[1]);
    produce_cards(e, 200, 40, 23);
    start(e);
    fr_reloader *r = NULL;
    assert_int_equal(fr_reloader_start(e->p, c, &live, &r, err, sizeof err), 0);
    fr_stats s;
    WAIT_FOR(e, s, s.results == 200);

    /* a challenger reading other features: refused, the pair stays */
    snprintf(sec, sizeof sec, "  path: %s\n  challenger:\n    path: %s\n    mode: shadow\n", a, bad);
    write_config(e, cfg, sec);
    fr_reloader_request(r);
    WAIT_FOR(e, s, s.model_reloads[FR_RELOAD_REFUSED] == 1);
    assert_int_equal(s.model_generation, 1);
    /* a config that does not load: refused, the pair stays */
    write_config(e, cfg, "  path: [not, a, path]\n");
    fr_reloader_request(r);
    WAIT_FOR(e, s, s.model_reloads[FR_RELOAD_REFUSED] == 2);
    assert_int_equal(s.model_generation, 1);

    /* the promotion: B becomes the champion, A its shadow */
    snprintf(sec, sizeof sec, "  path: %s\n  challenger:\n    path: %s\n    mode: shadow\n", b, a);
    write_config(e, cfg, sec);
    fr_reloader_request(r);
    WAIT_FOR(e, s, s.model_generation == 2);
    assert_int_equal(s.model_reloads[FR_RELOAD_SWAPPED], 1);
    produce_cards(e, 200, 40, 24);
    rd_kafka_flush(e->host, 10000);
    WAIT_FOR(e, s, s.results == 400);
    /* the challenger dropped: B alone */
    snprintf(sec, sizeof sec, "  path: %s\n", b);
    write_config(e, cfg, sec);
    fr_reloader_request(r);
    WAIT_FOR(e, s, s.model_generation == 3);
    produce_cards(e, 100, 40, 25);
    rd_kafka_flush(e->host, 10000);
    WAIT_FOR(e, s, s.results == 500);
    fr_reloader_stop(r);
    s = finish(e, 500);
    assert_int_equal(s.results, 500);
    assert_int_equal(s.dead_letters, 0);
    msg *out = read_topic(e, "out", 2, 500);
    int seen[3] = {0, 0, 0};
    for (int i = 0; i < 500; i++) {
        const char *ch = challenger_of(&out[i]);
        if (!strcmp(out[i].version, "champ-a")) {
            assert_non_null(ch);
            assert_non_null(strstr(ch, "\"model_version\":\"chall-b\""));
            seen[0]++;
        } else if (ch) {
            assert_string_equal(out[i].version, "chall-b");
            assert_non_null(strstr(ch, "\"model_version\":\"champ-a\""));
            seen[1]++;
        } else {
            assert_string_equal(out[i].version, "chall-b");
            seen[2]++;
        }
        assert_string_equal(out[i].version, out[i].json_version);
    }
    assert_int_equal(seen[0], 200);
    assert_int_equal(seen[1], 200);
    assert_int_equal(seen[2], 100);
    free(out);
    env_free(e);
    unlink(a);
    unlink(b);
    unlink(bad);
    unlink(cfg);
    rmdir(dir);
}

static void a_challenger_must_match_the_champion_at_start(void **state) {
    (void)state;
    char dir[] = "/tmp/fraudd-rollout-XXXXXX", a[256], b[256], err[1024];
    assert_non_null(mkdtemp(dir));
    snprintf(a, sizeof a, "%s/a.onnx", dir);
    snprintf(b, sizeof b, "%s/b.onnx", dir);
    size_t n;
    write_variant(a, "same-version", "1");
    write_variant(b, "same-version", "2");
    fr_config *c = fr_config_defaults();
    set(&c->model.path, a);
    set(&c->model.challenger.path, b);
    fr_rollout live;
    assert_int_equal(fr_rollout_load(c, &live, err, sizeof err), FR_EMODEL);
    assert_non_null(strstr(err, "challenger: its version 'same-version' is the champion's"));
    unsigned char *bytes = mv_make(&(mv_opts){.version = "other", .features = renamed_features()}, &n);
    assert_int_equal(mv_write(b, bytes, n), 0);
    free(bytes);
    assert_int_equal(fr_rollout_load(c, &live, err, sizeof err), FR_EMODEL);
    assert_non_null(strstr(err, "challenger: its features differ from the champion's"));
    fr_config_free(c);
    unlink(a);
    unlink(b);
    rmdir(dir);
}

int main(int argc, char **argv) {
    fr_log_setup(FR_LOGFMT_TEXT, getenv("FR_TEST_LOG") ? (fr_log_level)atoi(getenv("FR_TEST_LOG")) : FR_LOG_ERROR, 2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shadow_results_carry_the_challengers_score),
        cmocka_unit_test(canary_serves_a_share_of_keys_with_the_challenger),
        cmocka_unit_test(promotion_by_config_swaps_both_roles_at_one_record),
        cmocka_unit_test(a_challenger_must_match_the_champion_at_start),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
