/* The ULB data the sample generator uses.
 *
 * What: real legit rows a normal generated transaction is picked from, and summary statistics
 * of all the ULB training data, written into src/gen/ulb_profile.c by models/make_profile.py
 * (do not edit that file; it says which rows and why).
 * Dimension order of the statistics: V1..V28, then log1p(Amount).
 * Threads: constant data. Internal (fr__ prefix), not part of the public API.
 */
#ifndef FR_GEN_ULB_PROFILE_H
#define FR_GEN_ULB_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#define FR__ULB_DIM 29 /* V1..V28, log1p(Amount) */
#define FR__ULB_NV 28  /* the V features: dimensions 0..27 */

/* One real transaction. */
typedef struct fr__ulb_row {
    float v[FR__ULB_NV]; /* V1..V28 */
    uint32_t cents;      /* Amount, in cents */
} fr__ulb_row;

extern const char *const fr__ulb_names[FR__ULB_DIM]; /* "V1".."V28", "Amount" */
extern const double fr__ulb_mean[FR__ULB_DIM];       /* means over all rows of the data (Amount: of log1p) */
extern const double fr__ulb_std[FR__ULB_DIM];        /* standard deviations, same rows and space */
extern const double fr__ulb_time_min;                /* smallest Time in the data, seconds */
extern const double fr__ulb_time_max;                /* largest Time in the data, seconds */
extern const double fr__ulb_time_span;               /* time_max - time_min */
extern const size_t fr__ulb_nrows;                   /* rows in fr__ulb_rows (> 0) */
extern const fr__ulb_row fr__ulb_rows[];             /* the rows normal records are picked from */

#endif
