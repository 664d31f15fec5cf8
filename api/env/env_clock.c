/* SPDX-License-Identifier: MIT */
/*
 * api/env/env_clock.c — clock skew against the CA service, its classification,
 * the time zone's name, times written for users (local, with the offset),
 * whether NTP keeps the clock synchronised (the kernel's word, else
 * timedated's), and the clock.skew check.
 */
#include "api/env/env_clock.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timex.h>
#include <unistd.h>

#include "api/base/timeutil.h"

#define TIMEZONE_FILE     "/etc/timezone"
#define LOCALTIME_LINK    "/etc/localtime"
#define ZONEINFO_MARK     "zoneinfo/"
#define DATE_RESOLUTION_S 1.0       /* an HTTP date counts whole seconds */
#define ISO_LOCAL_MAX     32
#define OFFSET_DIGITS     5         /* "+0800" as strftime's %z writes it */
#define SECONDS_PER_MINUTE 60
#define ROUND_HALF        0.5

static double seconds_of(const struct timespec *t)
{
    return (double)t->tv_sec + (double)t->tv_nsec / (double)NS_PER_SEC;
}

long env_clock_skew(time_t server_date, const struct timespec *sent,
                    const struct timespec *received)
{
    double local = (seconds_of(sent) + seconds_of(received)) / 2;
    /* The Date header drops the fraction: the server's clock read somewhere
     * within the second after it, on average half way. */
    double server = (double)server_date + DATE_RESOLUTION_S / 2;

    double skew = local - server;

    return (long)(skew < 0 ? skew - ROUND_HALF : skew + ROUND_HALF);
}

enum env_state env_clock_classify(long skew_s)
{
    long off = labs(skew_s);

    if (off > ENV_CLOCK_FAIL_S)
        return ENV_FAIL;
    if (off > ENV_CLOCK_WARN_S)
        return ENV_WARN;
    return ENV_OK;
}

/* The first line of /etc/timezone (Debian writes the zone name there). */
static bool zone_from_file(char *buf, size_t size)
{
    FILE *f = fopen(TIMEZONE_FILE, "re");
    bool ok;

    if (!f)
        return false;
    ok = fgets(buf, (int)size, f) != NULL;
    fclose(f);
    if (ok)
        buf[strcspn(buf, "\r\n")] = '\0';
    return ok && buf[0];
}

/* /etc/localtime -> /usr/share/zoneinfo/Asia/Shanghai */
static bool zone_from_link(char *buf, size_t size)
{
    char target[PATH_MAX];
    ssize_t n = readlink(LOCALTIME_LINK, target, sizeof target - 1);
    const char *mark;

    if (n <= 0)
        return false;
    target[n] = '\0';
    mark = strstr(target, ZONEINFO_MARK);
    if (!mark || !mark[strlen(ZONEINFO_MARK)])
        return false;
    snprintf(buf, size, "%s", mark + strlen(ZONEINFO_MARK));
    return true;
}

void env_clock_zone(time_t now, char *buf, size_t size)
{
    struct tm tm;

    if (getenv("TZ") == NULL && (zone_from_file(buf, size) || zone_from_link(buf, size)))
        return;
    if (localtime_r(&now, &tm) && tm.tm_zone)
        snprintf(buf, size, "%s", tm.tm_zone);
    else
        snprintf(buf, size, "UTC");
}

/* strftime's %z gives +0800 at the end of `buf` (`n` long); RFC 3339 and
 * people write +08:00. */
static void colon_in_offset(char *buf, size_t n, size_t size)
{
    if (n >= OFFSET_DIGITS && n + 2 <= size) {
        memmove(buf + n - 1, buf + n - 2, 3);
        buf[n - 2] = ':';
    }
}

/* "2026-11-21T14:20:13+08:00" */
static void iso_local(time_t now, char *buf, size_t size)
{
    struct tm tm;
    size_t n;

    if (!localtime_r(&now, &tm) || !(n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S%z", &tm))) {
        snprintf(buf, size, "?");
        return;
    }
    colon_in_offset(buf, n, size);
}

void env_clock_text(time_t t, char *buf, size_t size)
{
    struct tm tm;
    size_t n;

    if (!localtime_r(&t, &tm) || !(n = strftime(buf, size, "%Y-%m-%d %H:%M %z", &tm))) {
        snprintf(buf, size, "?");
        return;
    }
    colon_in_offset(buf, n, size);
}

static long utc_offset_minutes(time_t now)
{
    struct tm tm;

    return localtime_r(&now, &tm) ? tm.tm_gmtoff / SECONDS_PER_MINUTE : 0;
}

void env_clock_ntp(int adjtimex_state, unsigned timeout_ms, struct env_clock_ntp *out)
{
    if (adjtimex_state >= 0) {
        /* TIME_ERROR: the kernel's STA_UNSYNC, set until an NTP client
         * disciplines the clock (timedated reads the same flag). */
        out->state = adjtimex_state == TIME_ERROR ? ENV_NTP_UNSYNCHRONIZED : ENV_NTP_SYNCHRONIZED;
        out->source = ENV_CLOCK_NTP_KERNEL;
        return;
    }
    out->state = env_systemd_ntp_synchronized(timeout_ms);
    out->source = out->state == ENV_NTP_UNKNOWN ? NULL : ENV_CLOCK_NTP_TIMEDATED;
}

void env_clock_ntp_read(unsigned timeout_ms, struct env_clock_ntp *out)
{
    struct timex tx = { .modes = 0 };     /* read only */

    env_clock_ntp(adjtimex(&tx), timeout_ms, out);
}

static void ntp_details(struct env_check *c, const struct env_clock_ntp *ntp)
{
    bool known = ntp && ntp->state != ENV_NTP_UNKNOWN;

    env_check_detail(c, "ntpSynchronized",
                     known ? json_boolean(ntp->state == ENV_NTP_SYNCHRONIZED) : json_null());
    env_check_detail(c, "ntpSource", known && ntp->source ? json_string(ntp->source) : json_null());
}

static void say_skew(struct env_check *c, long skew_s)
{
    enum env_state state = env_clock_classify(skew_s);
    enum env_msg found = ENV_CLOCK_IN_SYNC;

    if (state != ENV_OK)
        found = skew_s > 0 ? ENV_CLOCK_AHEAD : ENV_CLOCK_BEHIND;
    env_check_say(c, state, found, state == ENV_OK ? ENV_MSG_NONE : ENV_CLOCK_HINT_SYNC);
    env_words_arg(&c->found, "skew", "%ld", labs(skew_s));
}

void env_clock_check(struct env_report *r, time_t now, const struct env_clock_reference *ref)
{
    struct env_check *c = env_report_add(r, "clock", "clock.skew", ENV_CLOCK_TITLE);
    char local[ISO_LOCAL_MAX], shown[ENV_CLOCK_TEXT_MAX], zone[ENV_ARG_MAX];

    if (!c)
        return;
    iso_local(now, local, sizeof local);
    env_clock_text(now, shown, sizeof shown);
    env_clock_zone(now, zone, sizeof zone);
    if (ref->have_date)
        say_skew(c, ref->skew_s);
    else if (ref->configured)
        env_check_say(c, ENV_WARN, ENV_CLOCK_UNREACHABLE, ENV_CLOCK_HINT_NETWORK);
    else
        env_check_say(c, ENV_OK, ENV_CLOCK_UNCOMPARED, ENV_MSG_NONE);
    /* The zone's name ("Etc/UTC" on many a machine) means little to a user:
     * the sentence gives the offset, details.timeZone the name. */
    env_words_arg(&c->found, "local", "%s", shown);
    env_check_detail(c, "localTime", json_string(local));
    env_check_detail(c, "timeZone", json_string(zone));
    env_check_detail(c, "utcOffsetMinutes", json_integer(utc_offset_minutes(now)));
    env_check_detail(c, "skewSeconds", ref->have_date ? json_integer(ref->skew_s) : json_null());
    env_check_detail(c, "warnAboveSeconds", json_integer(ENV_CLOCK_WARN_S));
    env_check_detail(c, "failAboveSeconds", json_integer(ENV_CLOCK_FAIL_S));
    ntp_details(c, ref->ntp);
}
