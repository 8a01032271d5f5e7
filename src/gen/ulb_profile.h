/* Summary statistics of the ULB training data for the generator
 * (written by models/make_profile.py into ulb_profile.c). Internal. */
#ifndef FR_GEN_ULB_PROFILE_H
#define FR_GEN_ULB_PROFILE_H

#define FR__ULB_DIM 29 /* V1..V28, log1p(Amount) */

extern const double fr__ulb_mean[FR__ULB_DIM];
extern const double fr__ulb_std[FR__ULB_DIM];
extern const double fr__ulb_chol[FR__ULB_DIM * FR__ULB_DIM];
extern const double fr__ulb_time_span; /* seconds covered by the data */

#endif
