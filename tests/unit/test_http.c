/* Proves the HTTP endpoints' contract (include/fraudd/http.h), over real
 * HTTP with libcurl on 127.0.0.1:
 *  - /healthz is 200 before the pipeline exists (the process is alive);
 *  - /readyz is 503 with the reason until a pipeline is running;
 *  - /metrics is 200 in the Prometheus text format with HELP/TYPE lines,
 *    build and model info and the process metrics;
 *  - unknown paths are 404, other methods 405;
 *  - a port in use is refused with an error naming it.
 */
#include <curl/curl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fraudd/http.h"
#include "fraudd/model.h"

typedef struct body {
    char *data;
    size_t len;
} body;

static size_t on_data(char *ptr, size_t size, size_t n, void *user) {
    body *b = user;
    char *d = realloc(b->data, b->len + size * n + 1);
    assert_non_null(d);
    memcpy(d + b->len, ptr, size * n);
    b->data = d;
    b->len += size * n;
    b->data[b->len] = 0;
    return size * n;
}

static long request(int port, const char *method, const char *path, body *b) {
    CURL *c = curl_easy_init();
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    return code;
}

static void endpoints_answer_before_the_pipeline_exists(void **state) {
    (void)state;
    fr_model *m = NULL;
    char err[256];
    assert_int_equal(fr_model_load_default(&m, err, sizeof err), 0);
    fr_http_src src = {.model = m, .model_loaded_unix = 1795500000.0, .threshold = 7.5};
    fr_http *h = NULL;
    assert_int_equal(fr_http_start("127.0.0.1", 0, &src, &h, err, sizeof err), 0);
    int port = fr_http_port(h);
    assert_true(port > 0);

    body b = {0};
    assert_int_equal(request(port, "GET", "/healthz", &b), 200);
    assert_string_equal(b.data, "ok\n");
    free(b.data);
    b = (body){0};
    assert_int_equal(request(port, "GET", "/readyz", &b), 503);
    assert_string_equal(b.data, "pipeline not started\n");
    free(b.data);
    b = (body){0};
    assert_int_equal(request(port, "GET", "/metrics", &b), 200);
    assert_non_null(strstr(b.data, "# TYPE fraudd_build_info gauge\n"));
    assert_non_null(strstr(b.data, "fraudd_model_info{version=\"ulb-ae-1.2.0\"} 1\n"));
    assert_non_null(strstr(b.data, "fraudd_model_features 29\n"));
    assert_non_null(strstr(b.data, "fraudd_model_threshold 7.5\n"));
    assert_non_null(strstr(b.data, "# TYPE process_cpu_seconds_total counter\n"));
    assert_non_null(strstr(b.data, "process_resident_memory_bytes "));
    free(b.data);
    b = (body){0};
    assert_int_equal(request(port, "GET", "/", &b), 404);
    free(b.data);
    b = (body){0};
    assert_int_equal(request(port, "POST", "/metrics", &b), 405);
    free(b.data);

    /* the same port again is refused, naming it */
    fr_http *h2 = NULL;
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%d", port);
    assert_int_not_equal(fr_http_start("127.0.0.1", port, &src, &h2, err, sizeof err), 0);
    assert_null(h2);
    assert_non_null(strstr(err, want));
    assert_int_not_equal(fr_http_start("not-an-ip", 0, &src, &h2, err, sizeof err), 0);

    fr_http_stop(h);
    fr_model_free(m);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(endpoints_answer_before_the_pipeline_exists),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
