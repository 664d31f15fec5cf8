/* SPDX-License-Identifier: MIT */
/*
 * api/env_clock.h — the clock check: local time, time zone, and how far this
 * machine's clock is from the CA service's (its HTTP Date header).
 * Certificates and SMS codes depend on it: over ENV_CLOCK_WARN_S is a
 * warning, over ENV_CLOCK_FAIL_S a failure.
 */
#ifndef UKEYD_API_ENV_CLOCK_H
#define UKEYD_API_ENV_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "api/env_check.h"

#define ENV_CLOCK_WARN_S 60
#define ENV_CLOCK_FAIL_S 300

/*
 * Seconds this clock is ahead of the server's (negative: behind), from the
 * server's Date (whole seconds, truncated) and the local times just before
 * the request was sent and just after the answer arrived: the server read
 * its clock somewhere in between, on average at the midpoint.
 */
long env_clock_skew(time_t server_date, const struct timespec *sent,
                    const struct timespec *received);

enum env_state env_clock_classify(long skew_s);

/* The time zone's name: "Asia/Shanghai" from /etc/timezone or the
 * /etc/localtime link, else the abbreviation in effect ("CST"). */
void env_clock_zone(time_t now, char *buf, size_t size);

/* What the CA service told about its clock. */
struct env_clock_reference {
    bool configured;       /* a CA service is configured */
    bool have_date;        /* it answered with a Date header */
    long skew_s;           /* env_clock_skew of that answer */
};

/* Adds clock.skew; `now` is the local time the report is about. */
void env_clock_check(struct env_report *r, time_t now, const struct env_clock_reference *ref);

#endif
