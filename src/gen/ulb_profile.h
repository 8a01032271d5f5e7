/* Summary statistics of the ULB training data for the sample generator.
 *
 * What: the profile src/gen/gen.c draws normal transactions from, written into
 * src/gen/ulb_profile.c by models/make_profile.py (do not edit that file).
 * Dimension order: V1..V28, then log1p(Amount).
 * Threads: constant data. Internal (fr__ prefix), not part of the public API.
 */
#ifndef FR_GEN_ULB_PROFILE_H
#define FR_GEN_ULB_PROFILE_H

#define FR__ULB_DIM 29 /* V1..V28, log1p(Amount) */
#define FR__ULB_NV 28  /* the V features: dimensions 0..27 */

extern const char *const fr__ulb_names[FR__ULB_DIM];          /* "V1".."V28", "Amount" */
extern const double fr__ulb_mean[FR__ULB_DIM];                /* means (Amount: of log1p) */
extern const double fr__ulb_std[FR__ULB_DIM];                 /* standard deviations, same space */
extern const double fr__ulb_chol[FR__ULB_DIM * FR__ULB_DIM];  /* lower Cholesky factor of the covariance, row-major */
extern const double fr__ulb_time_min;                         /* smallest Time in the data, seconds */
extern const double fr__ulb_time_max;                         /* largest Time in the data, seconds */
extern const double fr__ulb_time_span;                        /* time_max - time_min */

#endif
