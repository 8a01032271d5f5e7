/* Score drift (src/metrics/drift.c, src/mgen): a score lands in the bin the
 * format's rule names, the PSI equals a value computed by hand (with the
 * floor on empty bins), and old counts leave the sliding window while the
 * young window covers everything since the start; a generation of a model
 * with a reference histogram measures its workers' counts, exports no PSI
 * below metrics.drift_min_records, and renders both gauges per model
 * version; workers counting while the run thread steps and scrapes read is
 * race-free (run under TSan by scripts/test.sh). */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "fraudd/common.h"
#include "fraudd/config.h"
#include "fraudd/metrics.h"
#include "fraudd/mgen.h"
#include "fraudd/model.h"

#define NO_HISTOGRAM FR_SOURCE_DIR "/tests/fixtures/torch_mlp_ae.onnx" /* a model without fraudd.score_histogram */

#define S 1000000000LL /* one second in ns */

/* bin 0: score < e1; bin i: e_i <= score < e_{i+1}; the last: score >= e_{k-1} */
static void scores_land_in_the_bins_the_format_names(void **state) {
    (void)state;
    const double e[] = {0.5, 1.0, 2.0};
    assert_int_equal(fr_drift_bin(e, 4, -1e300), 0);
    assert_int_equal(fr_drift_bin(e, 4, 0.4999), 0);
    assert_int_equal(fr_drift_bin(e, 4, 0.5), 1);
    assert_int_equal(fr_drift_bin(e, 4, 0.99), 1);
    assert_int_equal(fr_drift_bin(e, 4, 1.0), 2);
    assert_int_equal(fr_drift_bin(e, 4, 2.0), 3);
    assert_int_equal(fr_drift_bin(e, 4, INFINITY), 3);
    assert_int_equal(fr_drift_bin(e, 4, NAN), 0);
    assert_int_equal(fr_drift_bin(e, 2, 0.7), 1); /* two bins: the first edge only */
    /* binary search == linear scan, for every bin count up to the most */
    double edges[FR_DRIFT_MAX_BINS - 1];
    for (int i = 0; i < FR_DRIFT_MAX_BINS - 1; i++) edges[i] = i * 0.25 - 3;
    for (size_t k = 2; k <= FR_DRIFT_MAX_BINS; k++)
        for (double x = -4; x < 14; x += 0.125) {
            int want = 0;
            while ((size_t)want < k - 1 && x >= edges[want]) want++;
            assert_int_equal(fr_drift_bin(edges, k, x), want);
        }
}

/* p = (0.5, 0.3, 0.2), q = (0.25, 0.25, 0.5):
 * (0.25-0.5) ln(0.5) + (0.25-0.3) ln(0.25/0.3) + (0.5-0.2) ln(2.5)
 * = 0.173287 + 0.009116 + 0.274887 = 0.457290 */
static void psi_equals_the_value_computed_by_hand(void **state) {
    (void)state;
    const double p[] = {0.5, 0.3, 0.2};
    const uint64_t q[] = {100, 100, 200};
    assert_true(fabs(fr_psi(p, q, 3) - 0.4572901) < 1e-6);
    /* the same shares: 0 */
    const uint64_t same[] = {5000, 3000, 2000};
    assert_true(fabs(fr_psi(p, same, 3)) < 1e-12);
    /* nothing observed: no PSI */
    const uint64_t none[] = {0, 0, 0};
    assert_true(isnan(fr_psi(p, none, 3)));
    /* an empty bin on either side is floored at 1e-4, not infinite:
     * p = (1, 0), q = (0.5, 0.5) -> (0.5-1) ln(0.5) + (0.5-1e-4) ln(0.5/1e-4) */
    const double p2[] = {1.0, 0.0};
    const uint64_t q2[] = {1, 1};
    double want = -0.5 * log(0.5) + (0.5 - 1e-4) * log(0.5 / 1e-4);
    assert_true(fabs(fr_psi(p2, q2, 2) - want) < 1e-12);
    assert_true(fabs(want - 4.604318) < 1e-5);
}

/* a window of 10 s: snapshots every 1 s; counts older than the window
 * leave it, a young window covers everything since the start */
static void old_counts_leave_the_window(void **state) {
    (void)state;
    fr_drift d;
    uint64_t cum[2] = {0, 0}, win[2];
    int64_t t0 = 1000 * S;
    fr_drift_init(&d, 2, 10 * S, t0);
    /* nothing due before the first step */
    assert_int_equal(fr_drift_step(&d, cum, t0 + S - 1), 0);
    /* 0..5 s: 100 scores per second into bin 0 */
    for (int s = 1; s <= 5; s++) {
        cum[0] += 100;
        assert_int_equal(fr_drift_step(&d, cum, t0 + s * S), 1);
    }
    assert_int_equal(fr_drift_window(&d, cum, win), 500); /* young: since the start */
    /* 5..30 s: 100 per second into bin 1 only */
    for (int s = 6; s <= 30; s++) {
        cum[1] += 100;
        fr_drift_step(&d, cum, t0 + s * S);
        assert_int_equal(d.n, s + 1 < FR_DRIFT_STEPS + 1 ? (unsigned)s + 1 : FR_DRIFT_STEPS + 1);
    }
    /* the window is the last 10 steps: bin 0's old counts are gone */
    assert_int_equal(fr_drift_window(&d, cum, win), 1000);
    assert_int_equal(win[0], 0);
    assert_int_equal(win[1], 1000);
    /* a step's worth between snapshots counts too (the window reaches to now) */
    cum[0] += 7;
    assert_int_equal(fr_drift_window(&d, cum, win), 1007);
    assert_int_equal(win[0], 7);
    /* an owner that was away for a minute takes one snapshot, not sixty */
    assert_int_equal(fr_drift_step(&d, cum, t0 + 90 * S), 1);
    assert_int_equal(fr_drift_step(&d, cum, t0 + 90 * S), 0);
    assert_true(d.next_ns == t0 + 91 * S);
    /* no reference: nothing measured */
    fr_drift none;
    fr_drift_init(&none, 0, 10 * S, t0);
    assert_int_equal(fr_drift_step(&none, cum, t0 + 5 * S), 0);
}

/* the window's PSI: normal counts against their own reference are near 0,
 * a shifted window is not, and it returns to 0 once the shift has left it */
static void psi_over_the_window_rises_and_falls_with_a_shift(void **state) {
    (void)state;
    const double p[] = {0.25, 0.25, 0.25, 0.25};
    uint64_t cum[4] = {0}, win[4];
    fr_drift d;
    fr_drift_init(&d, 4, 10 * S, 0);
    int s = 1;
    for (; s <= 10; s++) {
        for (int i = 0; i < 4; i++) cum[i] += 250;
        fr_drift_step(&d, cum, s * S);
    }
    fr_drift_window(&d, cum, win);
    assert_true(fr_psi(p, win, 4) < 1e-12);
    for (; s <= 20; s++) {
        cum[3] += 1000; /* everything in the top bin */
        fr_drift_step(&d, cum, s * S);
    }
    fr_drift_window(&d, cum, win);
    assert_true(fr_psi(p, win, 4) > 0.25);
    for (; s <= 31; s++) {
        for (int i = 0; i < 4; i++) cum[i] += 250;
        fr_drift_step(&d, cum, s * S);
    }
    fr_drift_window(&d, cum, win);
    assert_true(fr_psi(p, win, 4) < 1e-12);
}

/* Generations of the embedded default model (it has a histogram) for 2
 * workers, a 10 s window and min_records; *c and *m are the caller's to free
 * after fr_mgens_destroy. */
static void default_gens(fr_mgens *s, fr_config **c, fr_model **m, int min_records) {
    char err[512];
    *m = NULL;
    if (fr_model_load_default(m, err, sizeof err)) fail_msg("%s", err);
    assert_true(fr_model_score_bins(*m, NULL, NULL) >= 2);
    *c = fr_config_defaults();
    (*c)->metrics.drift_window_s = 10;
    (*c)->metrics.drift_min_records = min_records;
    fr_mgen_spec spec = {.champion = *m, .champion_threshold = NAN, .challenger_threshold = NAN};
    if (fr_mgens_init(s, *c, 2, 64, &spec, err, sizeof err)) fail_msg("%s", err);
}

/* a generation counts its workers' scores per bin; the run thread's steps
 * slide the window; the status shows the PSI once the window holds
 * drift_min_records scores, and it is the PSI of those counts */
static void generation_measures_its_workers_counts(void **state) {
    (void)state;
    char err[512];
    fr_config *c;
    fr_model *m;
    fr_mgens s;
    default_gens(&s, &c, &m, 100);
    fr_mgen *g = s.gen;
    const double *edges, *p;
    size_t k = fr_model_score_bins(m, &edges, &p);
    assert_int_equal(g->m[FR_ROLE_CHAMPION].stats->drift.bins, k);
    fr_model_status st;
    assert_int_equal(fr_mgens_status(&s, &st, 1), 1);
    assert_int_equal(st.has_drift, 1);
    assert_int_equal(st.psi_records, 0);
    assert_true(isnan(st.psi));
    /* 99 scores, all in the top bin: below drift_min_records, no PSI */
    fr_ctr_add(&g->m[FR_ROLE_CHAMPION].stats->w[0].drift[fr_drift_bin(edges, k, 1e6)], 60);
    fr_ctr_add(&g->m[FR_ROLE_CHAMPION].stats->w[1].drift[fr_drift_bin(edges, k, 1e6)], 39);
    fr_mgens_status(&s, &st, 1);
    assert_int_equal(st.psi_records, 99);
    assert_true(isnan(st.psi));
    fr_ctr_add(&g->m[FR_ROLE_CHAMPION].stats->w[1].drift[k - 1], 1);
    fr_mgens_status(&s, &st, 1);
    uint64_t q[FR_DRIFT_MAX_BINS] = {0};
    q[k - 1] = 100;
    assert_true(fabs(st.psi - fr_psi(p, q, k)) < 1e-12);
    assert_true(st.psi > 2);
    /* 11 s of reference-shaped counts later (steps every second), the top-bin
     * burst has left the window and the PSI is near 0 */
    int64_t t = g->m[FR_ROLE_CHAMPION].stats->drift.win.next_ns;
    for (int sec = 0; sec <= 11; sec++) {
        for (size_t i = 0; i < k; i++) fr_ctr_add(&g->m[FR_ROLE_CHAMPION].stats->w[sec % 2].drift[i], (uint64_t)llround(p[i] * 1000));
        fr_mgens_drift_step(&s, t + sec * (int64_t)S);
    }
    fr_mgens_status(&s, &st, 1);
    assert_true(st.psi_records >= 9000 && st.psi_records <= 11000);
    assert_true(st.psi < 1e-3);
    fr_mgens_destroy(&s);
    fr_model_free(m);
    /* a model without a histogram: no drift state */
    if (fr_model_load_file(NO_HISTOGRAM, &m, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(fr_model_score_bins(m, NULL, NULL), 0);
    fr_mgen_spec spec = {.champion = m, .champion_threshold = NAN, .challenger_threshold = NAN};
    assert_int_equal(fr_mgens_init(&s, c, 1, 64, &spec, err, sizeof err), 0);
    fr_mgens_status(&s, &st, 1);
    assert_int_equal(st.has_drift, 0);
    fr_mgens_destroy(&s);
    fr_model_free(m);
    fr_config_free(c);
}

/* the exposition: one PSI sample per model version that has one, the
 * window's size for every model with a reference, the heads always */
static void psi_gauges_are_rendered_per_model_version(void **state) {
    (void)state;
    fr_metrics_view *v = calloc(1, sizeof *v);
    assert_non_null(v);
    v->have_pipeline = 1;
    v->n_models = 3;
    snprintf(v->models[0].version, sizeof v->models[0].version, "new\"1");
    v->models[0].has_drift = 1;
    v->models[0].psi = 0.3125;
    v->models[0].psi_records = 5000;
    snprintf(v->models[1].version, sizeof v->models[1].version, "old");
    v->models[1].has_drift = 1;
    v->models[1].psi = NAN;
    v->models[1].psi_records = 12;
    snprintf(v->models[2].version, sizeof v->models[2].version, "nohist");
    v->models[2].psi = NAN;
    fr_buf b = {0};
    fr_metrics_render(v, &b);
    assert_false(b.oom);
    fr_buf_printf(&b, "%c", 0);
    const char *t = b.data;
    assert_non_null(strstr(t, "# TYPE fraudd_model_score_psi gauge\n"));
    assert_non_null(strstr(t, "# TYPE fraudd_model_score_psi_window_records gauge\n"));
    assert_non_null(strstr(t, "\nfraudd_model_score_psi{model_version=\"new_1\"} 0.3125\n"));
    assert_non_null(strstr(t, "\nfraudd_model_score_psi_window_records{model_version=\"new_1\"} 5000\n"));
    assert_null(strstr(t, "fraudd_model_score_psi{model_version=\"old\"}"));
    assert_non_null(strstr(t, "\nfraudd_model_score_psi_window_records{model_version=\"old\"} 12\n"));
    assert_null(strstr(t, "fraudd_model_score_psi{model_version=\"nohist\"}"));
    assert_null(strstr(t, "fraudd_model_score_psi_window_records{model_version=\"nohist\"}"));
    assert_non_null(strstr(t, "fraudd_score_bucket{model_version=\"nohist\",le=\"+Inf\"}")); /* same label text */
    free(b.data);
    free(v);
}

/* ---- concurrency: workers count, the run thread steps, scrapes read ---- */

typedef struct race {
    fr_mgens *s;
    int worker;
    _Atomic int stop;
} race;

static void *race_worker(void *arg) {
    race *r = arg;
    fr_mgen *g = r->s->gen; /* a worker holds the generation through its job */
    uint64_t x = 12345 + (uint64_t)r->worker;
    while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double score = (double)(x % 4000) / 1000.0;
        fr_ctr_add(&g->m[FR_ROLE_CHAMPION].stats->w[r->worker].drift[fr_drift_bin(g->m[FR_ROLE_CHAMPION].stats->drift.edges, g->m[FR_ROLE_CHAMPION].stats->drift.bins, score)], 1);
    }
    return NULL;
}

static void *race_scrape(void *arg) {
    race *r = arg;
    fr_model_status st[2];
    while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
        int n = fr_mgens_status(r->s, st, 2);
        assert_int_equal(n, 1);
        assert_true(isnan(st[0].psi) || st[0].psi >= 0);
    }
    return NULL;
}

static void counting_stepping_and_scraping_at_once_is_race_free(void **state) {
    (void)state;
    fr_config *c;
    fr_model *m;
    fr_mgens s;
    default_gens(&s, &c, &m, 1);
    race r[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        r[i].s = &s;
        r[i].worker = i;
        atomic_init(&r[i].stop, 0);
        assert_int_equal(pthread_create(&th[i], NULL, i < 2 ? race_worker : race_scrape, &r[i]), 0);
    }
    /* the run thread: a step due every call (time runs 1 s per 1 ms) */
    int64_t t = fr_now_ns();
    for (int i = 0; i < 300; i++) {
        fr_mgens_drift_step(&s, t + (int64_t)i * S);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < 3; i++) atomic_store(&r[i].stop, 1);
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    fr_model_status st;
    fr_mgens_status(&s, &st, 1);
    assert_true(st.psi_records > 0 && st.psi >= 0);
    fr_mgens_destroy(&s);
    fr_model_free(m);
    fr_config_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scores_land_in_the_bins_the_format_names),
        cmocka_unit_test(psi_equals_the_value_computed_by_hand),
        cmocka_unit_test(old_counts_leave_the_window),
        cmocka_unit_test(psi_over_the_window_rises_and_falls_with_a_shift),
        cmocka_unit_test(generation_measures_its_workers_counts),
        cmocka_unit_test(psi_gauges_are_rendered_per_model_version),
        cmocka_unit_test(counting_stepping_and_scraping_at_once_is_race_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
