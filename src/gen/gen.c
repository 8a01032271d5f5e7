/* Sample transaction generator (include/fraudd/gen.h).
 *
 * What: one realistic JSON card transaction per fr_gen_next call, in the
 * ULB feature space, with ground truth for injected anomalies.
 *
 * Randomness: xoshiro256** (Blackman & Vigna), its 256-bit state seeded from
 * the 64-bit seed through splitmix64 - fast, statistically strong, and the
 * same stream for the same seed on every platform.
 *
 * Normal records are real transactions, resampled: each picks one of the
 * 1,058 rows of src/gen/ulb_profile.c uniformly at random (one uniform draw)
 * and writes its V1..V28 and Amount unchanged. The rows are the test split of
 * models/ae_lib.py: legit ULB transactions that neither the default model
 * (ulb-ae-1.2.0) nor its predecessor was trained on, and that its threshold
 * and score histogram were not taken from, so the default scores the stream
 * as it scores real held-out data (a false-positive rate near its held-back
 * one, a score drift PSI near 0). Drawing from a fitted multivariate normal,
 * as the generator did before, gave records off the data's manifold that the
 * default scored like outliers (median score ~30 times that of real rows).
 * The rows are shipped in the binary (about 120 KB); models/make_profile.py
 * says which and why, data/ulb/README.md where they come from (DbCL v1.0).
 * Anomalies (probability anomaly_rate per record, one uniform draw each): a
 * picked row in which 3 distinct features among V1..V28 are each moved by
 * 8 to 16 of their standard deviations (over all the ULB rows; uniform), up
 * or down (fair coin); one anomaly in four also gets an amount 20 to 200
 * times its row's. All of it comes from the same seeded stream, so it is
 * deterministic.
 *
 * Record text (about 625 bytes; at most ~760 by construction, so 1024 always fits):
 *   {"id":"tx-<id, 20 digits>","ts":"<UTC ISO-8601 with ms>","card_id":"c-<6 digits>",
 *    "merchant_id":"m-<5 digits>","Time":<s>,"V1":..,...,"V28":..,"Amount":<cents>,
 *    "injected_anomaly":true|false}
 * V values are printed as the shortest text of their float32 value
 * (fr_fmt_float), so the decoder reads back exactly the value drawn; Amount
 * as a decimal with at most two fraction digits ("12.3", "7", "0.05").
 * ts is the record's timestamp: start_ms, then exponential gaps with mean
 * 1000/rate_per_s ms (a Poisson stream), formatted without gmtime (no libc
 * time-zone lock); years are clamped to 0000..9999. "Time" mimics the ULB
 * column: seconds since the first record (whole seconds, truncated), wrapped
 * into the data's Time range. Card and merchant ids are uniform over 10^6 and
 * 5*10^4 values.
 *
 * Shift (drift on purpose, to test drift monitoring): with shift S != 0
 * every record's V1..V28 are moved by S of their own standard deviations,
 * all in the same direction (+), before anomalies are injected; the amount
 * is unchanged. It draws nothing from the random stream, so the records are
 * the same ones, moved; S = 0 leaves the output byte-identical.
 *
 * Options: anomaly_rate NaN counts as 0, other values are clamped to 0..1;
 * rate_per_s that is not a positive finite number means 1000; a shift that
 * is not finite means 0.
 *
 * Guarantees: no allocation after fr_gen_new, no snprintf; a call that
 * returns 0 (cap too small) leaves the generator unchanged, so retrying with
 * a larger buffer gives the same record.
 * Threads: one generator per thread; no shared mutable state.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fraudd/encode.h"
#include "fraudd/gen.h"
#include "gen/ulb_profile.h"

#define FR__GEN_SHIFT_MIN 8.0  /* anomaly shift, in standard deviations: min */
#define FR__GEN_SHIFT_MAX 16.0 /* ... and max */
#define FR__GEN_N_SHIFTED 3    /* V features moved per anomaly */
#define FR__GEN_MAX_AMOUNT 1e9 /* amounts are clamped to this (keeps the text short) */

/* The part of the generator one record changes (saved and restored when the
 * record does not fit). */
typedef struct fr__gen_state {
    uint64_t s[4];    /* xoshiro256** state */
    uint64_t next_id; /* id of the next record */
    double t_ms;      /* timestamp of the next record, ms since the epoch */
} fr__gen_state;

struct fr_gen {
    fr__gen_state st;                /* random stream, id and clock */
    double anomaly_rate;             /* 0..1 */
    double gap_ms;                   /* mean gap between records, ms */
    double start_ms;                 /* timestamp of the first record */
    double shift;                    /* V features moved by this many standard deviations (0: none) */
    char key[FR__ULB_DIM][16];       /* ,"V1": .. ,"Amount":  precomputed keys */
    unsigned char key_len[FR__ULB_DIM]; /* their lengths */
};

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t next_u64(fr__gen_state *g) {
    uint64_t *s = g->s, r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

/* Uniform in [0, 1), 53 bits. */
static inline double uniform(fr__gen_state *g) { return (double)(next_u64(g) >> 11) * 0x1.0p-53; }

fr_gen *fr_gen_new(const fr_gen_opts *o) {
    if (!o) return NULL;
    fr_gen *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    uint64_t x = o->seed;
    for (int i = 0; i < 4; i++) g->st.s[i] = splitmix64(&x);
    g->st.next_id = o->first_id;
    g->st.t_ms = (double)o->start_ms;
    g->start_ms = (double)o->start_ms;
    double ar = o->anomaly_rate;
    g->anomaly_rate = !(ar > 0) ? 0 : ar > 1 ? 1 : ar; /* NaN -> 0 */
    double rate = o->rate_per_s;
    g->gap_ms = rate > 0 && isfinite(rate) ? 1000.0 / rate : 1.0;
    g->shift = isfinite(o->shift) ? o->shift : 0;
    for (int i = 0; i < FR__ULB_DIM; i++) {
        size_t n = strlen(fr__ulb_names[i]);
        char *k = g->key[i];
        k[0] = ',';
        k[1] = '"';
        memcpy(k + 2, fr__ulb_names[i], n);
        memcpy(k + 2 + n, "\":", 2);
        g->key_len[i] = (unsigned char)(n + 4);
    }
    return g;
}

void fr_gen_free(fr_gen *g) { free(g); }

/* Bounds-checked writer: once something does not fit, `full` sticks. */
typedef struct fr__w {
    char *dst;   /* start of the output */
    size_t len;  /* bytes written */
    size_t cap;  /* capacity */
    int full;    /* something did not fit */
} fr__w;

static inline void w_put(fr__w *w, const char *s, size_t n) {
    if (n > w->cap - w->len) {
        w->full = 1;
        return;
    }
    memcpy(w->dst + w->len, s, n);
    w->len += n;
}

#define W_LIT(w, lit) w_put((w), (lit), sizeof(lit) - 1)

/* Decimal digits of v, zero-padded to at least `width` digits, into b
 * (>= 20 bytes); returns the length. */
static size_t fmt_u64(char *b, uint64_t v, int width) {
    char r[24];
    int n = 0;
    do {
        r[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n < width) r[n++] = '0';
    for (int i = 0; i < n; i++) b[i] = r[n - 1 - i];
    return (size_t)n;
}

static void w_u64(fr__w *w, uint64_t v, int width) {
    char b[24];
    w_put(w, b, fmt_u64(b, v, width));
}

static inline void two(char *p, int v) {
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

/* "YYYY-MM-DDThh:mm:ss.mmmZ" (24 bytes) for ms since the epoch, UTC.
 * Days to civil date: H. Hinnant's algorithm (proleptic Gregorian). */
static void fmt_iso8601(char *p, int64_t ms) {
    const int64_t lo = -62167219200000LL, hi = 253402300799999LL; /* 0000-01-01 .. 9999-12-31T23:59:59.999 */
    ms = ms < lo ? lo : ms > hi ? hi : ms;
    int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
    int64_t rem = ms - days * 86400000; /* 0 .. 86399999 */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    int y = (int)(yoe + era * 400 + (m <= 2));
    two(p, y / 100);
    two(p + 2, y % 100);
    p[4] = '-';
    two(p + 5, m);
    p[7] = '-';
    two(p + 8, d);
    p[10] = 'T';
    int s = (int)(rem / 1000);
    two(p + 11, s / 3600);
    p[13] = ':';
    two(p + 14, s / 60 % 60);
    p[16] = ':';
    two(p + 17, s % 60);
    p[19] = '.';
    int frac = (int)(rem % 1000);
    p[20] = (char)('0' + frac / 100);
    two(p + 21, frac % 100);
    p[23] = 'Z';
}

/* Amount in cents as "123", "123.4" or "123.45". */
static void w_cents(fr__w *w, uint64_t cents) {
    char b[32];
    size_t n = fmt_u64(b, cents / 100, 1);
    unsigned c = (unsigned)(cents % 100);
    if (c) {
        b[n++] = '.';
        b[n++] = (char)('0' + c / 10);
        if (c % 10) b[n++] = (char)('0' + c % 10);
    }
    w_put(w, b, n);
}

size_t fr_gen_next(fr_gen *g, char *dst, size_t cap, int *is_anomaly) {
    fr__gen_state saved = g->st, *st = &g->st;

    /* features: a real row, picked uniformly (uniform() < 1, so the index < nrows) */
    const fr__ulb_row *row = &fr__ulb_rows[(size_t)(uniform(st) * (double)fr__ulb_nrows)];
    double v[FR__ULB_NV];
    for (int i = 0; i < FR__ULB_NV; i++) v[i] = row->v[i];
    if (g->shift != 0)
        for (int i = 0; i < FR__ULB_NV; i++) v[i] += g->shift * fr__ulb_std[i];
    uint64_t cents = row->cents;
    int anomaly = uniform(st) < g->anomaly_rate;
    if (anomaly) {
        int picked[FR__GEN_N_SHIFTED];
        for (int k = 0; k < FR__GEN_N_SHIFTED; k++) {
            int f, dup;
            do {
                f = (int)(uniform(st) * FR__ULB_NV);
                dup = 0;
                for (int j = 0; j < k; j++) dup |= picked[j] == f;
            } while (dup);
            picked[k] = f;
            double shift = (FR__GEN_SHIFT_MIN + (FR__GEN_SHIFT_MAX - FR__GEN_SHIFT_MIN) * uniform(st)) * fr__ulb_std[f];
            v[f] += uniform(st) < 0.5 ? -shift : shift;
        }
        if (uniform(st) < 0.25) {
            double amount = (double)cents / 100 * (20 + 180 * uniform(st));
            if (amount > FR__GEN_MAX_AMOUNT) amount = FR__GEN_MAX_AMOUNT;
            cents = (uint64_t)llround(amount * 100);
        }
    }

    /* identity and time */
    uint64_t id = st->next_id++;
    double t_ms = st->t_ms;
    st->t_ms += -log1p(-uniform(st)) * g->gap_ms;
    uint64_t card = next_u64(st) % 1000000, merchant = next_u64(st) % 50000; /* bias < 1e-13 */
    double time_s = floor(fmod((t_ms - g->start_ms) / 1000.0, fr__ulb_time_span + 1) + fr__ulb_time_min);

    fr__w w = {dst, 0, cap, 0};
    char b[40];
    W_LIT(&w, "{\"id\":\"tx-");
    w_u64(&w, id, 20);
    W_LIT(&w, "\",\"ts\":\"");
    fmt_iso8601(b, (int64_t)floor(t_ms));
    w_put(&w, b, 24);
    W_LIT(&w, "\",\"card_id\":\"c-");
    w_u64(&w, card, 6);
    W_LIT(&w, "\",\"merchant_id\":\"m-");
    w_u64(&w, merchant, 5);
    W_LIT(&w, "\",\"Time\":");
    w_u64(&w, (uint64_t)time_s, 1);
    for (int i = 0; i < FR__ULB_NV; i++) {
        w_put(&w, g->key[i], g->key_len[i]);
        w_put(&w, b, fr_fmt_float(b, (float)v[i]));
    }
    w_put(&w, g->key[FR__ULB_DIM - 1], g->key_len[FR__ULB_DIM - 1]);
    w_cents(&w, cents);
    if (anomaly) W_LIT(&w, ",\"injected_anomaly\":true}");
    else W_LIT(&w, ",\"injected_anomaly\":false}");

    if (w.full) {
        g->st = saved;
        return 0;
    }
    if (is_anomaly) *is_anomaly = anomaly;
    return w.len;
}
