/* Proves the model reload contract (include/fraudd/reload.h) short of the
 * pipeline (test_pipeline_mock.c swaps models under load):
 *  - a file source reads a new file, calls an unchanged one unchanged, and
 *    refuses one over model.max_bytes or missing;
 *  - a URL source (a real HTTP server on 127.0.0.1, libmicrohttpd) sends
 *    If-None-Match with the last ETag and takes 304 as unchanged; refuses
 *    HTTP errors and bodies over max_bytes, announced or chunked; logs
 *    the URL without its credentials or query; over https it verifies the
 *    server, against model.ca_file when set;
 *  - the checks refuse a corrupt model, other features, the serving
 *    model's version with other content, NaN weights, and a model whose
 *    own fraudd.selftest scores it does not reproduce; they accept a
 *    correct new model.
 */
#include <curl/curl.h>
#include <microhttpd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fraudd/config.h"
#include "fraudd/err.h"
#include "fraudd/reload.h"
#include "fraudd/scorer.h"
#include "model_variants.h"

static char err[1024];

/* ---- file source ---- */

static void file_source_reads_changes_and_calls_the_rest_unchanged(void **state) {
    (void)state;
    char dir[] = "/tmp/fraudd-reload-XXXXXX", path[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    assert_int_equal(mv_write(path, (const unsigned char *)"first", 5), 0);
    fr_model_src_opts o = {.path = path, .max_bytes = 64, .timeout_ms = 1000};
    fr_model_src *s = fr_model_src_new(&o);
    unsigned char *b;
    size_t n;
    assert_int_equal(fr_model_src_fetch(s, 0, &b, &n, err, sizeof err), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(b, "first", 5);
    free(b);
    assert_int_equal(fr_model_src_fetch(s, 0, &b, &n, err, sizeof err), FR_SRC_UNCHANGED);
    assert_int_equal(fr_model_src_fetch(s, 1, &b, &n, err, sizeof err), 0); /* forced: read anyway */
    free(b);
    assert_int_equal(mv_write(path, (const unsigned char *)"second!", 7), 0); /* renamed into place: new inode */
    assert_int_equal(fr_model_src_fetch(s, 0, &b, &n, err, sizeof err), 0);
    assert_int_equal(n, 7);
    assert_memory_equal(b, "second!", 7);
    free(b);
    char big[100];
    memset(big, 'x', sizeof big);
    assert_int_equal(mv_write(path, (const unsigned char *)big, sizeof big), 0);
    assert_int_equal(fr_model_src_fetch(s, 0, &b, &n, err, sizeof err), FR_ETOOBIG);
    assert_non_null(strstr(err, "over model.max_bytes (64)"));
    unlink(path);
    assert_int_equal(fr_model_src_fetch(s, 0, &b, &n, err, sizeof err), FR_EIO);
    assert_non_null(strstr(err, "No such file"));
    fr_model_src_free(s);
    rmdir(dir);
}

/* ---- URL source, against a real HTTP server ---- */

typedef struct server {
    struct MHD_Daemon *d;
    int port;
    const char *body;     /* /m's content */
    const char *etag;     /* /m's ETag */
    int conditional_hits; /* requests of /m that carried If-None-Match */
    int not_modified;     /* 304s sent */
} server;

static ssize_t chunk_cb(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)cls;
    if (pos >= 4096) return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = max < 512 ? max : 512;
    memset(buf, 'c', n);
    return (ssize_t)n;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_len, void **con_cls) {
    (void)method, (void)version, (void)upload, (void)upload_len, (void)con_cls;
    server *s = cls;
    struct MHD_Response *r;
    unsigned code = MHD_HTTP_OK;
    static char big[4096];
    if (!strcmp(url, "/m")) {
        const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
        if (inm) s->conditional_hits++;
        if (inm && !strcmp(inm, s->etag)) {
            s->not_modified++;
            r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
            code = MHD_HTTP_NOT_MODIFIED;
        } else {
            r = MHD_create_response_from_buffer(strlen(s->body), (void *)s->body, MHD_RESPMEM_PERSISTENT);
        }
        MHD_add_response_header(r, "ETag", s->etag);
    } else if (!strcmp(url, "/big")) {
        memset(big, 'b', sizeof big);
        r = MHD_create_response_from_buffer(sizeof big, big, MHD_RESPMEM_PERSISTENT);
    } else if (!strcmp(url, "/chunked")) {
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 512, chunk_cb, NULL, NULL);
    } else {
        r = MHD_create_response_from_buffer(9, (void *)"not found", MHD_RESPMEM_PERSISTENT);
        code = MHD_HTTP_NOT_FOUND;
    }
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static void server_start(server *s) {
    s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler, s, MHD_OPTION_END);
    assert_non_null(s->d);
    s->port = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT)->port;
}

static fr_model_src *url_src(const server *s, const char *path, size_t max) {
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s->port, path);
    fr_model_src_opts o = {.url = url, .max_bytes = max, .timeout_ms = 5000};
    return fr_model_src_new(&o);
}

static void url_source_polls_with_the_etag_and_takes_304_as_unchanged(void **state) {
    (void)state;
    server sv = {.body = "model-one", .etag = "\"v1\""};
    server_start(&sv);
    fr_model_src *s = url_src(&sv, "/m", 1024);
    unsigned char *b;
    size_t n;
    assert_int_equal(fr_model_src_fetch(s, 0, &b, &n, err, sizeof err), 0);
    assert_int_equal(n, 9);
    assert_memory_equal(b, "model-one", 9);
    free(b);
    assert_int_equal(sv.conditional_hits, 0); /* nothing to be conditional on yet */
    assert_int_equal(fr_model_src_fetch(s, 0, &b, &n, err, sizeof err), FR_SRC_UNCHANGED);
    assert_int_equal(sv.not_modified, 1);
    sv.body = "model-two!";
    sv.etag = "\"v2\"";
    assert_int_equal(fr_model_src_fetch(s, 0, &b, &n, err, sizeof err), 0);
    assert_int_equal(n, 10);
    assert_memory_equal(b, "model-two!", 10);
    free(b);
    assert_int_equal(sv.conditional_hits, 2);
    assert_int_equal(fr_model_src_fetch(s, 1, &b, &n, err, sizeof err), 0); /* forced: no If-None-Match */
    free(b);
    assert_int_equal(sv.conditional_hits, 2);
    fr_model_src_free(s);
    MHD_stop_daemon(sv.d);
}

static void url_source_refuses_http_errors_and_oversized_bodies(void **state) {
    (void)state;
    server sv = {.body = "x", .etag = "\"e\""};
    server_start(&sv);
    unsigned char *b;
    size_t n;
    fr_model_src *s = url_src(&sv, "/missing", 1024);
    assert_int_equal(fr_model_src_fetch(s, 0, &b, &n, err, sizeof err), FR_EIO);
    assert_non_null(strstr(err, "HTTP 404"));
    fr_model_src_free(s);
    s = url_src(&sv, "/big", 1024); /* Content-Length 4096 */
    assert_int_equal(fr_model_src_fetch(s, 0, &b, &n, err, sizeof err), FR_ETOOBIG);
    assert_non_null(strstr(err, "over model.max_bytes (1024)"));
    fr_model_src_free(s);
    s = url_src(&sv, "/chunked", 1024); /* no length announced */
    assert_int_equal(fr_model_src_fetch(s, 0, &b, &n, err, sizeof err), FR_ETOOBIG);
    fr_model_src_free(s);
    s = url_src(&sv, "/chunked", 8192); /* the same, within the bound */
    assert_int_equal(fr_model_src_fetch(s, 0, &b, &n, err, sizeof err), 0);
    assert_int_equal(n, 4096);
    free(b);
    fr_model_src_free(s);
    MHD_stop_daemon(sv.d);
    /* nothing listening: an error, not a hang (bounded by timeout_ms) */
    fr_model_src_opts o = {.url = "http://127.0.0.1:1/m.onnx", .max_bytes = 1024, .timeout_ms = 2000};
    s = fr_model_src_new(&o);
    assert_int_equal(fr_model_src_fetch(s, 0, &b, &n, err, sizeof err), FR_EIO);
    fr_model_src_free(s);
}

/* A self-signed certificate for 127.0.0.1 (openssl CLI) in dir; returns 0. */
static int make_cert(const char *dir) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
             "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout %s/key.pem -out %s/cert.pem "
             ">/dev/null 2>&1",
             dir, dir);
    return system(cmd);
}

static void https_source_verifies_the_server_against_model_ca_file(void **state) {
    (void)state;
    char dir[] = "/tmp/fraudd-tls-XXXXXX", path[256];
    assert_non_null(mkdtemp(dir));
    assert_int_equal(make_cert(dir), 0);
    size_t kn = 0, cn = 0;
    snprintf(path, sizeof path, "%s/key.pem", dir);
    char *key = (char *)mv_read(path, &kn);
    snprintf(path, sizeof path, "%s/cert.pem", dir);
    char *cert = (char *)mv_read(path, &cn);
    assert_non_null(key);
    assert_non_null(cert);
    key[kn] = cert[cn] = 0;
    server sv = {.body = "model-over-tls", .etag = "\"t1\""};
    sv.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS, 0, NULL, NULL, handler, &sv,
                            MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_END);
    assert_non_null(sv.d);
    sv.port = MHD_get_daemon_info(sv.d, MHD_DAEMON_INFO_BIND_PORT)->port;
    char url[128];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/m", sv.port);
    unsigned char *b;
    size_t n;
    /* the system's CAs do not know this server: refused, not fetched */
    fr_model_src *s = fr_model_src_new(&(fr_model_src_opts){.url = url, .max_bytes = 1024, .timeout_ms = 5000});
    assert_int_equal(fr_model_src_fetch(s, 0, &b, &n, err, sizeof err), FR_EIO);
    fr_model_src_free(s);
    /* with its CA in model.ca_file: fetched, and polled with the ETag like http */
    s = fr_model_src_new(&(fr_model_src_opts){.url = url, .max_bytes = 1024, .timeout_ms = 5000, .ca_file = path});
    assert_int_equal(fr_model_src_fetch(s, 0, &b, &n, err, sizeof err), 0);
    assert_int_equal(n, 14);
    assert_memory_equal(b, "model-over-tls", 14);
    free(b);
    assert_int_equal(fr_model_src_fetch(s, 0, &b, &n, err, sizeof err), FR_SRC_UNCHANGED);
    fr_model_src_free(s);
    MHD_stop_daemon(sv.d);
    free(key);
    free(cert);
    snprintf(path, sizeof path, "rm -rf %s", dir);
    assert_int_equal(system(path), 0);
}

static void url_name_hides_credentials_and_query(void **state) {
    (void)state;
    fr_model_src_opts o = {.url = "https://fraudd:s3cret@models.internal:8443/fraud/v7.onnx?X-Amz-Signature=abc#x",
                           .max_bytes = 1024};
    fr_model_src *s = fr_model_src_new(&o);
    assert_string_equal(fr_model_src_name(s), "https://models.internal:8443/fraud/v7.onnx");
    fr_model_src_free(s);
}

/* ---- checks ---- */

static fr_model *serving_model(void) {
    fr_model *m = NULL;
    assert_int_equal(fr_model_load_default(&m, err, sizeof err), 0);
    return m;
}

/* fr_model_check on a variant; returns its code (the model is freed). */
static int check_variant(const mv_opts *o, const fr_model *serving) {
    size_t n;
    unsigned char *b = mv_make(o, &n);
    assert_non_null(b);
    fr_model *m = NULL;
    err[0] = 0;
    int rc = fr_model_check(b, n, "variant.onnx", serving, NULL, &m, err, sizeof err);
    free(b);
    assert_true(rc ? m == NULL : m != NULL);
    fr_model_free(m);
    return rc;
}

static void checks_accept_a_new_model_with_the_same_features(void **state) {
    (void)state;
    fr_model *cur = serving_model();
    mv_opts o = {.version = "2.0.0"};
    assert_int_equal(check_variant(&o, cur), 0);
    assert_int_equal(check_variant(&o, NULL), 0); /* the first model: nothing to compare with */
    fr_model_free(cur);
}

static void checks_refuse_a_corrupt_model(void **state) {
    (void)state;
    fr_model *cur = serving_model(), *m = NULL;
    size_t n;
    unsigned char *b = mv_make(&(mv_opts){.version = "2.0.0"}, &n);
    assert_int_not_equal(fr_model_check(b, n / 2, "half.onnx", cur, NULL, &m, err, sizeof err), 0); /* truncated */
    assert_null(m);
    assert_non_null(strstr(err, "half.onnx"));
    assert_int_not_equal(fr_model_check("not onnx at all", 15, "junk.onnx", cur, NULL, &m, err, sizeof err), 0);
    free(b);
    fr_model_free(cur);
}

static void checks_refuse_other_features(void **state) {
    (void)state;
    fr_model *cur = serving_model();
    /* the serving features with V1 renamed */
    char feats[2048] = "[";
    for (size_t i = 0; i < fr_model_n_features(cur); i++) {
        const char *f = fr_model_feature_name(cur, i);
        snprintf(feats + strlen(feats), sizeof feats - strlen(feats), "%s\"%s\"", i ? "," : "",
                 strcmp(f, "V1") ? f : "V1_renamed");
    }
    strcat(feats, "]");
    mv_opts o = {.version = "2.0.0", .features = feats};
    assert_int_equal(check_variant(&o, cur), FR_EMODEL);
    assert_non_null(strstr(err, "1 missing: V1, 1 new: V1_renamed"));
    fr_model_free(cur);
}

static void checks_refuse_the_serving_version_with_other_content(void **state) {
    (void)state;
    fr_model *cur = serving_model();
    /* other content: error weights of 2 */
    mv_opts o = {.err_weights = mv_uniform_weights(cur, "2"), .version = fr_model_version(cur), .nan_weight = 0};
    assert_int_equal(check_variant(&o, cur), FR_EMODEL);
    assert_non_null(strstr(err, "is the serving model's"));
    fr_model_free(cur);
}

static void checks_refuse_nan_weights(void **state) {
    (void)state;
    fr_model *cur = serving_model();
    mv_opts o = {.version = "2.0.0", .nan_weight = 1};
    assert_int_equal(check_variant(&o, cur), FR_EMODEL);
    assert_non_null(strstr(err, "self-test"));
    fr_model_free(cur);
}

/* The default model's score of a record, through the scorer. */
static double score_of(const fr_model *m, const char *rec) {
    fr_scorer_opts so = {.threshold = NAN, .max_batch = 1, .max_record_bytes = 1 << 20};
    fr_scorer *s = fr_scorer_new(m, &so, err, sizeof err);
    fr_slice sl = {rec, strlen(rec)};
    fr_scored out;
    assert_int_equal(fr_scorer_run(s, &sl, 1, 0, &out), 0);
    assert_int_equal(out.reject, FR_REJ_NONE);
    double v = out.score;
    fr_scorer_free(s);
    return v;
}

static void checks_run_the_models_own_selftest(void **state) {
    (void)state;
    fr_model *cur = serving_model();
    /* two records: all features 0.5, and all features -1.5 except Amount */
    char r1[2048] = "{", r2[2048] = "{";
    for (size_t i = 0; i < fr_model_n_features(cur); i++) {
        const char *f = fr_model_feature_name(cur, i);
        snprintf(r1 + strlen(r1), sizeof r1 - strlen(r1), "%s\"%s\":0.5", i ? "," : "", f);
        snprintf(r2 + strlen(r2), sizeof r2 - strlen(r2), "%s\"%s\":%s", i ? "," : "", f,
                 strcmp(f, "Amount") ? "-1.5" : "12.0");
    }
    strcat(r1, "}");
    strcat(r2, "}");
    double s1 = score_of(cur, r1), s2 = score_of(cur, r2);
    char st[8192];
    snprintf(st, sizeof st, "{\"records\":[%s,%s],\"scores\":[%.17g,%.17g]}", r1, r2, s1, s2);
    mv_opts o = {.version = "2.0.0", .selftest = st};
    assert_int_equal(check_variant(&o, cur), 0);
    /* the exporter says the second score is 10% higher: the model is refused */
    snprintf(st, sizeof st, "{\"records\":[%s,%s],\"scores\":[%.17g,%.17g]}", r1, r2, s1, s2 * 1.1);
    assert_int_equal(check_variant(&o, cur), FR_EMODEL);
    assert_non_null(strstr(err, "self-test record 1 scored"));
    /* malformed self-test metadata is refused too */
    o.selftest = "{\"records\":[],\"scores\":[]}";
    assert_int_equal(check_variant(&o, cur), FR_EMODEL);
    assert_non_null(strstr(err, "fraudd.selftest"));
    fr_model_free(cur);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(file_source_reads_changes_and_calls_the_rest_unchanged),
        cmocka_unit_test(url_source_polls_with_the_etag_and_takes_304_as_unchanged),
        cmocka_unit_test(url_source_refuses_http_errors_and_oversized_bodies),
        cmocka_unit_test(https_source_verifies_the_server_against_model_ca_file),
        cmocka_unit_test(url_name_hides_credentials_and_query),
        cmocka_unit_test(checks_accept_a_new_model_with_the_same_features),
        cmocka_unit_test(checks_refuse_a_corrupt_model),
        cmocka_unit_test(checks_refuse_other_features),
        cmocka_unit_test(checks_refuse_the_serving_version_with_other_content),
        cmocka_unit_test(checks_refuse_nan_weights),
        cmocka_unit_test(checks_run_the_models_own_selftest),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
