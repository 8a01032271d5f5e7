/* Sample transaction generator (include/fraudd/gen.h).
 *
 * Randomness: xoshiro256** seeded through splitmix64 (fast, well tested,
 * deterministic per seed); normals by the polar Box-Muller method.
 * Normal records: z ~ N(0, I), v = mean + L z over [V1..V28, log1p(Amount)]
 * (src/gen/ulb_profile.c), Amount = expm1(v_29) rounded to cents, >= 0.
 * Anomalies (share anomaly_rate): a normal draw with 3 distinct V features
 * moved by 8 to 16 of their standard deviations, in random directions; one
 * in four also gets an amount 20 to 200 times its drawn value.
 * Timestamps advance by exponential gaps with mean 1/rate_per_s.
 *
 * Thread safety: one generator per thread; no shared state.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fraudd/encode.h"
#include "fraudd/gen.h"
#include "gen/ulb_profile.h"

struct fr_gen {
    uint64_t s[4];        /* xoshiro256** state */
    fr_gen_opts o;        /* options */
    uint64_t next_id;     /* id of the next record */
    double t_ms;          /* timestamp of the next record, ms since epoch */
    double spare;         /* second normal from the last polar draw */
    int has_spare;        /* spare is valid */
};

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_u64(fr_gen *g) {
    uint64_t *s = g->s, r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

/* Uniform in [0, 1). */
static double uniform(fr_gen *g) { return (double)(next_u64(g) >> 11) * 0x1.0p-53; }

static double normal(fr_gen *g) {
    if (g->has_spare) {
        g->has_spare = 0;
        return g->spare;
    }
    double u, v, q;
    do {
        u = 2 * uniform(g) - 1;
        v = 2 * uniform(g) - 1;
        q = u * u + v * v;
    } while (q >= 1 || q == 0);
    double f = sqrt(-2 * log(q) / q);
    g->spare = v * f;
    g->has_spare = 1;
    return u * f;
}

fr_gen *fr_gen_new(const fr_gen_opts *o) {
    fr_gen *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->o = *o;
    if (!(g->o.rate_per_s > 0)) g->o.rate_per_s = 1000;
    uint64_t x = o->seed;
    for (int i = 0; i < 4; i++) g->s[i] = splitmix64(&x);
    g->next_id = o->first_id;
    g->t_ms = (double)o->start_ms;
    return g;
}

void fr_gen_free(fr_gen *g) { free(g); }

typedef struct fr__w {
    char *p, *end;
    int full;
} fr__w;

static void w_put(fr__w *w, const char *s, size_t n) {
    if (w->full || (size_t)(w->end - w->p) < n) {
        w->full = 1;
        return;
    }
    memcpy(w->p, s, n);
    w->p += n;
}

static void w_u64(fr__w *w, uint64_t v, int width) {
    char b[24];
    int n = 0;
    do {
        b[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n < width) b[n++] = '0';
    char r[24];
    for (int i = 0; i < n; i++) r[i] = b[n - 1 - i];
    w_put(w, r, (size_t)n);
}

size_t fr_gen_next(fr_gen *g, char *dst, size_t cap, int *is_anomaly) {
    double z[FR__ULB_DIM], v[FR__ULB_DIM];
    for (int i = 0; i < FR__ULB_DIM; i++) z[i] = normal(g);
    for (int i = 0; i < FR__ULB_DIM; i++) {
        double acc = fr__ulb_mean[i];
        for (int k = 0; k <= i; k++) acc += fr__ulb_chol[i * FR__ULB_DIM + k] * z[k];
        v[i] = acc;
    }
    double amount = expm1(v[28]);
    int anomaly = uniform(g) < g->o.anomaly_rate;
    if (anomaly) {
        int picked[3];
        for (int k = 0; k < 3; k++) {
            int f, dup;
            do {
                f = (int)(uniform(g) * 28);
                dup = 0;
                for (int j = 0; j < k; j++) dup |= picked[j] == f;
            } while (dup);
            picked[k] = f;
            double shift = (8 + 8 * uniform(g)) * fr__ulb_std[f];
            v[f] += uniform(g) < 0.5 ? -shift : shift;
        }
        if (uniform(g) < 0.25) amount *= 20 + 180 * uniform(g);
    }
    if (amount < 0) amount = 0;
    amount = round(amount * 100) / 100;
    if (is_anomaly) *is_anomaly = anomaly;

    /* timestamp: ISO-8601 UTC with milliseconds */
    int64_t ms = (int64_t)g->t_ms;
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char ts[96];
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    double time_s = fmod((g->t_ms - (double)g->o.start_ms) / 1000.0, fr__ulb_time_span);
    uint64_t id = g->next_id++;
    g->t_ms += -log(1 - uniform(g)) * 1000.0 / g->o.rate_per_s;

    fr__w w = {dst, dst + cap, 0};
    char num[32];
    w_put(&w, "{\"id\":\"tx-", 10);
    w_u64(&w, id, 20);
    w_put(&w, "\",\"ts\":\"", 8);
    w_put(&w, ts, strlen(ts));
    w_put(&w, "\",\"card_id\":\"c-", 15);
    w_u64(&w, next_u64(g) % 1000000, 6);
    w_put(&w, "\",\"merchant_id\":\"m-", 19);
    w_u64(&w, next_u64(g) % 50000, 5);
    w_put(&w, "\",\"Time\":", 9);
    w_put(&w, num, fr_fmt_double(num, round(time_s)));
    for (int i = 0; i < 28; i++) {
        char key[12];
        int kl = snprintf(key, sizeof key, ",\"V%d\":", i + 1);
        w_put(&w, key, (size_t)kl);
        w_put(&w, num, fr_fmt_float(num, (float)v[i]));
    }
    w_put(&w, ",\"Amount\":", 10);
    w_put(&w, num, fr_fmt_double(num, amount));
    if (anomaly) w_put(&w, ",\"injected_anomaly\":true}", 25);
    else w_put(&w, ",\"injected_anomaly\":false}", 26);
    return w.full ? 0 : (size_t)(w.p - dst);
}
