/* SPDX-License-Identifier: MIT */
/*
 * api/base/timeutil.h — the one set of time-unit constants of the API layer,
 * and elapsed time on the monotonic clock. (daemon/ uses these too; token/
 * keeps its own, since it must not include api/.)
 */
#ifndef UKEYD_API_BASE_TIMEUTIL_H
#define UKEYD_API_BASE_TIMEUTIL_H

#include <time.h>

#define MS_PER_SEC  1000
#define US_PER_MS   1000
#define US_PER_SEC  1000000L
#define NS_PER_US   1000L
#define NS_PER_MS   1000000L
#define NS_PER_SEC  1000000000L

/* Milliseconds from `t0` (CLOCK_MONOTONIC) to now. */
long ms_since(const struct timespec *t0);

/* CLOCK_MONOTONIC now plus `ms`: a deadline for pthread_cond_timedwait on a
 * monotonic condition variable. */
struct timespec deadline_after_ms(unsigned ms);

#endif
