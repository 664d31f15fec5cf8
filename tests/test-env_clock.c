/* SPDX-License-Identifier: MIT */
/* Tests api/env/env_clock.c: the skew against a server's Date (whole seconds,
 * measured around a round trip), its classification at the 60 s / 300 s
 * limits, the clock.skew check in each situation and the local time it
 * tells, and where the NTP answer comes from: the kernel when adjtimex
 * answers, else timedated — here only without a bus; tests/test-env_systemd.c asks a fake timedated. */
#include <stdlib.h>
#include <sys/timex.h>

#include "api/env/env_clock.h"
#include "tests/tap.h"

#define T0 1700000000L

static long skew(time_t date, long sent_s, long sent_ns, long recv_s, long recv_ns)
{
    struct timespec sent = { .tv_sec = sent_s, .tv_nsec = sent_ns };
    struct timespec received = { .tv_sec = recv_s, .tv_nsec = recv_ns };

    return env_clock_skew(date, &sent, &received);
}

static void test_skew(void)
{
    /* The server stamped T0 (meaning T0.0 to T0.999); we sent at T0.2 and
     * got the answer at T0.8: no skew. */
    TAP_EQ_INT(skew(T0, T0, 200000000, T0, 800000000), 0, "same clock: 0");
    TAP_EQ_INT(skew(T0 - 120, T0, 0, T0, 100000000), 120, "server 2 minutes behind: +120");
    TAP_EQ_INT(skew(T0 + 400, T0, 0, T0, 100000000), -400, "server ahead: negative");
    TAP_EQ_INT(skew(T0, T0, 0, T0 + 4, 0), 2, "midpoint of a 4 s round trip, rounded");
}

static void test_classify(void)
{
    TAP_EQ_INT(env_clock_classify(0), ENV_OK, "0 s ok");
    TAP_EQ_INT(env_clock_classify(ENV_CLOCK_WARN_S), ENV_OK, "exactly 60 s still ok");
    TAP_EQ_INT(env_clock_classify(ENV_CLOCK_WARN_S + 1), ENV_WARN, "61 s warn");
    TAP_EQ_INT(env_clock_classify(-(ENV_CLOCK_WARN_S + 1)), ENV_WARN, "-61 s warn");
    TAP_EQ_INT(env_clock_classify(ENV_CLOCK_FAIL_S), ENV_WARN, "exactly 300 s warn");
    TAP_EQ_INT(env_clock_classify(ENV_CLOCK_FAIL_S + 1), ENV_FAIL, "301 s fail");
    TAP_EQ_INT(env_clock_classify(-100000), ENV_FAIL, "a day behind: fail");
}

static char *found(const struct env_check *c, enum api_lang lang)
{
    return env_text_render(&c->found, lang);
}

#define NTP_TIMEOUT_MS 200

static void test_check(void)
{
    struct env_report r = { 0 };
    struct env_clock_ntp ntp_synced = { ENV_NTP_SYNCHRONIZED, ENV_CLOCK_NTP_TIMEDATED };
    struct env_clock_ntp ntp_unknown = { ENV_NTP_UNKNOWN, NULL };
    const struct env_clock_reference refs[] = {
        { .configured = true, .have_date = true, .skew_s = 3, .ntp = &ntp_synced },
        { .configured = true, .have_date = true, .skew_s = 400 },
        { .configured = true, .have_date = true, .skew_s = -90 },
        { .configured = true, .have_date = false, .ntp = &ntp_unknown },
        { .configured = false },
    };
    char *text;

    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++)
        env_clock_check(&r, T0, &refs[i]);
    TAP_EQ_INT(r.checks[0]->state, ENV_OK, "3 s: ok");
    tap_ok(r.checks[0]->hint.msg == ENV_MSG_NONE, "ok: no hint");
    TAP_EQ_INT(r.checks[1]->state, ENV_FAIL, "400 s ahead: fail");
    text = found(r.checks[1], LANG_EN);
    tap_ok(text && strstr(text, "400 s ahead"), "says 400 s ahead (%s)", text ? text : "");
    free(text);
    text = env_text_render(&r.checks[1]->hint, LANG_ZH_CN);
    tap_ok(text && strstr(text, "sudo timedatectl set-ntp true"), "hint has the NTP command");
    free(text);
    TAP_EQ_INT(r.checks[2]->state, ENV_WARN, "90 s behind: warn");
    text = found(r.checks[2], LANG_ZH_CN);
    tap_ok(text && strstr(text, "慢 90 秒"), "says 慢 90 秒 (%s)", text ? text : "");
    free(text);
    TAP_EQ_INT(r.checks[3]->state, ENV_WARN, "CA configured but no Date: warn");
    TAP_EQ_INT(r.checks[4]->state, ENV_OK, "no CA configured: ok, not compared");
    TAP_EQ_INT(json_integer_value(json_object_get(r.checks[1]->details, "skewSeconds")), 400,
               "details.skewSeconds");
    tap_ok(json_is_null(json_object_get(r.checks[3]->details, "skewSeconds")),
           "details.skewSeconds null without a Date");
    tap_ok(json_is_string(json_object_get(r.checks[0]->details, "timeZone")),
           "details.timeZone is a string");
    tap_ok(json_is_true(json_object_get(r.checks[0]->details, "ntpSynchronized")),
           "details.ntpSynchronized from the reference");
    TAP_EQ_STR(json_string_value(json_object_get(r.checks[0]->details, "ntpSource")) ?: "(null)",
               "timedated", "details.ntpSource from the reference");
    tap_ok(json_is_null(json_object_get(r.checks[3]->details, "ntpSynchronized")),
           "details.ntpSynchronized null when unknown");
    tap_ok(json_is_null(json_object_get(r.checks[4]->details, "ntpSource")),
           "details.ntpSource null when not asked in time");
    for (size_t i = 0; i < r.n; i++) {
        json_t *synced = json_object_get(r.checks[i]->details, "ntpSynchronized");
        json_t *source = json_object_get(r.checks[i]->details, "ntpSource");

        tap_ok(synced && source && json_is_null(synced) == json_is_null(source),
               "check %zu: details.ntpSynchronized and ntpSource, both null or neither", i);
    }
    env_report_free(&r);
}

/* A user reads the time as the clock on the wall shows it, with the offset
 * rather than a zone's name ("Etc/UTC" says nothing to most); details keep
 * the exact values. T0 is 2023-11-14 22:13:20 UTC: the next day in Beijing. */
static void test_local_time_words(void)
{
    struct env_report r = { 0 };
    const struct env_clock_reference ref = { .configured = true, .have_date = true, .skew_s = 3 };
    char shown[ENV_CLOCK_TEXT_MAX];
    char *text;

    setenv("TZ", "Asia/Shanghai", 1);
    tzset();
    env_clock_text(T0, shown, sizeof shown);
    TAP_EQ_STR(shown, "2023-11-15 06:13 +08:00", "a time is shown in local time with its offset");
    env_clock_check(&r, T0, &ref);
    text = found(r.checks[0], LANG_EN);
    TAP_EQ_STR(text, "Local time 2023-11-15 06:13 +08:00, 3 s from the CA service's clock",
               "the clock check says the local time and offset (en)");
    free(text);
    text = found(r.checks[0], LANG_ZH_CN);
    TAP_EQ_STR(text, "本机时间 2023-11-15 06:13 +08:00，与 CA 服务的时间相差 3 秒",
               "the clock check says the local time and offset (zh-CN)");
    free(text);
    TAP_EQ_STR(json_string_value(json_object_get(r.checks[0]->details, "localTime")) ?: "(null)",
               "2023-11-15T06:13:20+08:00", "details.localTime stays RFC 3339");
    TAP_EQ_INT(json_integer_value(json_object_get(r.checks[0]->details, "utcOffsetMinutes")), 480,
               "details.utcOffsetMinutes");
    env_report_free(&r);

    setenv("TZ", "UTC", 1);
    tzset();
    env_clock_check(&r, T0, &ref);
    text = found(r.checks[0], LANG_EN);
    TAP_EQ_STR(text, "Local time 2023-11-14 22:13 +00:00, 3 s from the CA service's clock",
               "on a UTC machine: the offset +00:00, no zone name");
    free(text);
    env_report_free(&r);
    unsetenv("TZ");
    tzset();
}

static void test_ntp(void)
{
    struct env_clock_ntp ntp;

    /* Nothing may be asked over a bus while the kernel answers. */
    setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/ukeyd-test-bus", 1);
    env_clock_ntp(TIME_OK, NTP_TIMEOUT_MS, &ntp);
    tap_ok(ntp.state == ENV_NTP_SYNCHRONIZED, "adjtimex TIME_OK: synchronised");
    TAP_EQ_STR(ntp.source ? ntp.source : "(null)", "kernel", "... says the kernel");
    env_clock_ntp(TIME_INS, NTP_TIMEOUT_MS, &ntp);
    tap_ok(ntp.state == ENV_NTP_SYNCHRONIZED, "adjtimex TIME_INS (leap second ahead): synchronised");
    env_clock_ntp(TIME_ERROR, NTP_TIMEOUT_MS, &ntp);
    tap_ok(ntp.state == ENV_NTP_UNSYNCHRONIZED, "adjtimex TIME_ERROR: not synchronised");
    TAP_EQ_STR(ntp.source ? ntp.source : "(null)", "kernel", "... says the kernel");
    env_clock_ntp(-1, NTP_TIMEOUT_MS, &ntp);
    tap_ok(ntp.state == ENV_NTP_UNKNOWN, "adjtimex refused, no system bus: unknown");
    tap_ok(ntp.source == NULL, "... from nowhere");
}

int main(void)
{
    test_skew();
    test_classify();
    test_check();
    test_local_time_words();
    test_ntp();
    return tap_done();
}
