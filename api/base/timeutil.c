/* SPDX-License-Identifier: MIT */
/*
 * api/base/timeutil.c — elapsed time and deadlines on the monotonic clock,
 * which a change of the wall clock (the clock check's very subject) never
 * moves.
 */
#include "api/base/timeutil.h"

long ms_since(const struct timespec *t0)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - t0->tv_sec) * MS_PER_SEC + (now.tv_nsec - t0->tv_nsec) / NS_PER_MS;
}

struct timespec deadline_after_ms(unsigned ms)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += ms / MS_PER_SEC;
    t.tv_nsec += (long)(ms % MS_PER_SEC) * NS_PER_MS;
    if (t.tv_nsec >= NS_PER_SEC) {
        t.tv_sec++;
        t.tv_nsec -= NS_PER_SEC;
    }
    return t;
}
