/* Model sources: a file or an HTTP(S) URL (include/fraudd/reload.h).
 *
 * File: the source is "changed" when stat() gives another device, inode,
 * size or mtime than at the last successful read (a Kubernetes ConfigMap
 * or volume update swaps a symlink, so the inode changes). The read is
 * bounded by max_bytes and must see the same size and mtime before and
 * after: a model still being written is not taken (the next check retries).
 *
 * URL: libcurl, http and https only (redirects too, at most 5), with
 * If-None-Match: <last ETag> and If-Modified-Since: <last Last-Modified>;
 * 304 means unchanged. The body is refused past max_bytes, whether the
 * server announced its length or not. The time bound covers connect and
 * transfer. ETag and Last-Modified are remembered only from a complete 200.
 * https verifies the server's certificate and name, against model.ca_file
 * when set (a private registry's CA), else the system's CA bundle.
 *
 * One thread at a time uses a source (the boot sequence, then the reloader).
 */
#define _GNU_SOURCE /* strcasestr, st_mtim */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fraudd/common.h"
#include "fraudd/config.h"
#include "fraudd/err.h"
#include "fraudd/reload.h"
#include "reload/reload_internal.h"

struct fr_model_src {
    char *path;             /* file source, or NULL */
    char *url;              /* URL source, or NULL */
    char *name;             /* what logs show */
    char *ca_file;          /* CA bundle for https, or NULL */
    size_t max_bytes;
    int timeout_ms;
    /* file: identity at the last successful read */
    int have_stat;
    struct stat st;
    /* URL: validators of the last complete 200 */
    char etag[256];
    char last_modified[128];
    CURL *curl;             /* kept for connection reuse */
};

fr_model_src *fr_model_src_new(const fr_model_src_opts *o) {
    fr_model_src *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->max_bytes = o->max_bytes;
    s->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000;
    if (o->ca_file && !(s->ca_file = strdup(o->ca_file))) goto oom;
    if (o->url) {
        s->url = strdup(o->url);
        s->name = malloc(strlen(o->url) + 1); /* the redacted form is never longer */
        if (!s->url || !s->name) goto oom;
        fr_url_redact(o->url, 0, s->name, strlen(o->url) + 1);
    } else {
        s->path = strdup(o->path ? o->path : "");
        s->name = strdup(s->path ? s->path : "");
        if (!s->path || !s->name) goto oom;
    }
    return s;
oom:
    fr_model_src_free(s);
    return NULL;
}

void fr_model_src_free(fr_model_src *s) {
    if (!s) return;
    if (s->curl) curl_easy_cleanup(s->curl);
    free(s->path);
    free(s->url);
    free(s->name);
    free(s->ca_file);
    free(s);
}

const char *fr_model_src_name(const fr_model_src *s) { return s->name; }

uint64_t fr__model_digest(const void *buf, size_t len) {
    const unsigned char *p = buf;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

/* ---- file ---- */

static int same_file(const struct stat *a, const struct stat *b) {
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static int fetch_file(fr_model_src *s, int force, unsigned char **buf, size_t *len, char *err, size_t errlen) {
    int rc = 0, fd = -1;
    unsigned char *data = NULL;
    struct stat before, after;
    if (stat(s->path, &before) != 0) return fr_set_err(err, errlen, FR_EIO, "%s: %s", s->name, strerror(errno));
    if (!force && s->have_stat && same_file(&before, &s->st)) return FR_SRC_UNCHANGED;
    if (!S_ISREG(before.st_mode)) return fr_set_err(err, errlen, FR_EIO, "%s: not a regular file", s->name);
    if ((unsigned long long)before.st_size > s->max_bytes)
        return fr_set_err(err, errlen, FR_ETOOBIG, "%s: %lld bytes, over model.max_bytes (%zu)", s->name,
                          (long long)before.st_size, s->max_bytes);
    if ((fd = open(s->path, O_RDONLY | O_CLOEXEC)) < 0) {
        rc = fr_set_err(err, errlen, FR_EIO, "%s: %s", s->name, strerror(errno));
        goto out;
    }
    size_t want = (size_t)before.st_size, got = 0;
    if (!(data = malloc(want ? want : 1))) {
        rc = fr_set_err(err, errlen, FR_ENOMEM, "%s: out of memory", s->name);
        goto out;
    }
    while (got < want) {
        ssize_t n = read(fd, data + got, want - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    /* the file as opened must still be the file as stat'ed, and the path
     * must still name it: otherwise a writer is at work */
    if (got != want || fstat(fd, &after) != 0 || !same_file(&before, &after) || stat(s->path, &after) != 0 ||
        !same_file(&before, &after)) {
        rc = fr_set_err(err, errlen, FR_EIO, "%s: changed while being read (write it elsewhere and rename it into place)",
                        s->name);
        goto out;
    }
    s->st = before;
    s->have_stat = 1;
    *buf = data;
    *len = got;
    data = NULL;
out:
    if (fd >= 0) close(fd);
    free(data);
    return rc;
}

/* ---- URL ---- */

typedef struct body {
    unsigned char *data;
    size_t len, cap, max;
    int too_big;
    char etag[256];
    char last_modified[128];
} body;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *user) {
    body *b = user;
    size_t n = size * nmemb;
    if (b->len + n > b->max) {
        b->too_big = 1;
        return 0; /* aborts the transfer */
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + n) cap *= 2;
        if (cap > b->max) cap = b->max;
        unsigned char *d = realloc(b->data, cap);
        if (!d) return 0;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    return n;
}

/* Copies a header's value (trimmed) into dst if line is "name: value". */
static void header_value(const char *line, size_t n, const char *name, char *dst, size_t cap) {
    size_t k = strlen(name);
    if (n <= k + 1 || strncasecmp(line, name, k) != 0 || line[k] != ':') return;
    const char *v = line + k + 1, *e = line + n;
    while (v < e && (*v == ' ' || *v == '\t')) v++;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ')) e--;
    size_t len = (size_t)(e - v) < cap - 1 ? (size_t)(e - v) : 0; /* an oversized validator is not kept */
    memcpy(dst, v, len);
    dst[len] = 0;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *user) {
    body *b = user;
    size_t n = size * nmemb;
    if (n >= 5 && !strncasecmp(line, "HTTP/", 5)) { /* a new response (after a redirect): forget the old one's */
        b->etag[0] = 0;
        b->last_modified[0] = 0;
    }
    header_value(line, n, "ETag", b->etag, sizeof b->etag);
    header_value(line, n, "Last-Modified", b->last_modified, sizeof b->last_modified);
    return n;
}

static int fetch_url(fr_model_src *s, int force, unsigned char **buf, size_t *len, char *err, size_t errlen) {
    int rc = 0;
    body b = {.max = s->max_bytes};
    struct curl_slist *hdrs = NULL;
    char line[400];
    if (!s->curl && !(s->curl = curl_easy_init())) return fr_set_err(err, errlen, FR_ENOMEM, "libcurl: out of memory");
    CURL *c = s->curl;
    curl_easy_reset(c);
    if (!force && s->etag[0]) {
        snprintf(line, sizeof line, "If-None-Match: %s", s->etag);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (!force && s->last_modified[0]) {
        snprintf(line, sizeof line, "If-Modified-Since: %s", s->last_modified);
        hdrs = curl_slist_append(hdrs, line);
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, s->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS timeouts */
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(s->timeout_ms < 10000 ? s->timeout_ms : 10000));
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)s->max_bytes);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "fraudd/" FRAUDD_VERSION);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &b);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    /* TLS: peer and host verification stay on (libcurl's defaults) */
    if (s->ca_file) curl_easy_setopt(c, CURLOPT_CAINFO, s->ca_file);
    CURLcode e = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (b.too_big || e == CURLE_FILESIZE_EXCEEDED) {
        rc = fr_set_err(err, errlen, FR_ETOOBIG, "%s: over model.max_bytes (%zu)", s->name, s->max_bytes);
    } else if (e != CURLE_OK) {
        rc = fr_set_err(err, errlen, FR_EIO, "%s: %s", s->name, errbuf[0] ? errbuf : curl_easy_strerror(e));
    } else if (status == 304) {
        rc = FR_SRC_UNCHANGED;
    } else if (status != 200) {
        rc = fr_set_err(err, errlen, FR_EIO, "%s: HTTP %ld", s->name, status);
    } else {
        memcpy(s->etag, b.etag, sizeof s->etag);
        memcpy(s->last_modified, b.last_modified, sizeof s->last_modified);
        *buf = b.data ? b.data : malloc(1);
        *len = b.len;
        b.data = NULL;
        if (!*buf) rc = fr_set_err(err, errlen, FR_ENOMEM, "%s: out of memory", s->name);
    }
    curl_slist_free_all(hdrs);
    free(b.data);
    return rc;
}

int fr_model_src_fetch(fr_model_src *s, int force, unsigned char **buf, size_t *len, char *err, size_t errlen) {
    *buf = NULL;
    *len = 0;
    return s->url ? fetch_url(s, force, buf, len, err, errlen) : fetch_file(s, force, buf, len, err, errlen);
}
