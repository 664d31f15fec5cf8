/* SPDX-License-Identifier: MIT */
/*
 * api/env/env_clock.h — the clock check: local time, time zone, and how far this
 * machine's clock is from the CA service's (its HTTP Date header).
 * Certificates and SMS codes depend on it: over ENV_CLOCK_WARN_S is a
 * warning, over ENV_CLOCK_FAIL_S a failure.
 */
#ifndef UKEYD_API_ENV_CLOCK_H
#define UKEYD_API_ENV_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "api/env/env_check.h"
#include "api/env/env_systemd.h"

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

/* `t` as a user reads it, in this machine's local time with the offset
 * rather than a zone's name: "2026-12-07 20:31 +08:00" ("?" if it cannot be
 * told). JSON fields keep RFC 3339; this is for the sentences. */
#define ENV_CLOCK_TEXT_MAX 32
void env_clock_text(time_t t, char *buf, size_t size);

struct env_clock_ntp;

/* What the CA service told about its clock. */
struct env_clock_reference {
    bool configured;       /* a CA service is configured */
    bool have_date;        /* it answered with a Date header */
    long skew_s;           /* env_clock_skew of that answer */
    const struct env_clock_ntp *ntp;   /* env_clock_ntp_read's answer, or NULL when it was not in time */
};

/*
 * Whether an NTP client keeps the clock synchronised, and who said so. The
 * kernel (adjtimex, read only) first; when it refuses — ukeyd.service's
 * ProtectClock=yes makes every @clock call fail with EPERM — systemd-
 * timedated, which reads the same kernel state outside the sandbox.
 */
#define ENV_CLOCK_NTP_KERNEL       "kernel"
#define ENV_CLOCK_NTP_TIMEDATED    "timedated"
struct env_clock_ntp {
    enum env_ntp state;
    const char *source;    /* ENV_CLOCK_NTP_KERNEL or _TIMEDATED; NULL when unknown */
};

/* `adjtimex_state` is what adjtimex() returned (-1 when refused), passed in
 * so that each source can be tried; timedated is asked only when it is < 0,
 * within `timeout_ms`. */
void env_clock_ntp(int adjtimex_state, unsigned timeout_ms, struct env_clock_ntp *out);

/* env_clock_ntp with the kernel's answer read now: may wait up to
 * `timeout_ms` on the bus, so the environment check calls it from its
 * systemd worker thread, not from the request's. */
void env_clock_ntp_read(unsigned timeout_ms, struct env_clock_ntp *out);

/* Adds clock.skew; `now` is the local time the report is about. Its details
 * include ntpSynchronized and ntpSource (from ref->ntp; both null when
 * unknown or not asked in time). */
void env_clock_check(struct env_report *r, time_t now, const struct env_clock_reference *ref);

#endif
