/* Score drift (include/fraudd/metrics.h, "score drift"): the population
 * stability index, and the sliding window of cumulative snapshots it is
 * computed over. Pure over the caller's memory; tests/unit/test_drift.c
 * checks the PSI against a value computed by hand and that old counts
 * leave the window.
 *
 * Why snapshots of cumulative counters: the workers only ever add to their
 * own counters (no reset, no lock, nothing shared on the record path), and
 * one owner thread records their sum every window / FR_DRIFT_STEPS. A
 * reader subtracts the oldest snapshot kept from the sum now. Memory per
 * model: (FR_DRIFT_STEPS + 1) x FR_DRIFT_MAX_BINS counters (5.6 KB).
 */
#include <math.h>
#include <string.h>

#include "fraudd/metrics.h"

double fr_psi(const double *expected, const uint64_t *observed, size_t k) {
    uint64_t total = 0;
    for (size_t i = 0; i < k; i++) total += observed[i];
    if (!total) return NAN;
    double psi = 0;
    for (size_t i = 0; i < k; i++) {
        double q = (double)observed[i] / (double)total, p = expected[i];
        if (q < FR_PSI_FLOOR) q = FR_PSI_FLOOR;
        if (p < FR_PSI_FLOOR) p = FR_PSI_FLOOR;
        psi += (q - p) * log(q / p);
    }
    return psi;
}

void fr_drift_init(fr_drift *d, size_t k, int64_t window_ns, int64_t now_ns) {
    memset(d, 0, sizeof *d);
    d->k = k <= FR_DRIFT_MAX_BINS ? k : 0;
    d->step_ns = window_ns / FR_DRIFT_STEPS > 0 ? window_ns / FR_DRIFT_STEPS : 1;
    d->next_ns = now_ns + d->step_ns;
    d->n = 1; /* snap[0]: all zeros, the model's start */
}

int fr_drift_step(fr_drift *d, const uint64_t *cum, int64_t now_ns) {
    if (!d->k || now_ns < d->next_ns) return 0;
    unsigned slot;
    if (d->n < FR_DRIFT_STEPS + 1) {
        slot = (d->first + d->n++) % (FR_DRIFT_STEPS + 1);
    } else {
        slot = d->first; /* the oldest leaves, the newest takes its place */
        d->first = (d->first + 1) % (FR_DRIFT_STEPS + 1);
    }
    memcpy(d->snap[slot], cum, d->k * sizeof *cum);
    /* keep the cadence; after a late step (a long pause of the owner) start
     * again from now rather than catching up with a burst of snapshots */
    d->next_ns += d->step_ns;
    if (d->next_ns <= now_ns) d->next_ns = now_ns + d->step_ns;
    return 1;
}

uint64_t fr_drift_window(const fr_drift *d, const uint64_t *cum, uint64_t *out) {
    uint64_t total = 0;
    const uint64_t *old = d->snap[d->first];
    for (size_t i = 0; i < d->k; i++) {
        out[i] = cum[i] >= old[i] ? cum[i] - old[i] : 0;
        total += out[i];
    }
    return total;
}
