/* SPDX-License-Identifier: MIT */
/* Tests api/unlock/unlock_session.c: ids of ukeyd's own, one session per token,
 * a bounded table that gives up the least recently used, and expiry. */
#include <time.h>

#include "api/unlock/unlock_session.h"
#include "tests/tap.h"

#define IDLE_TEST_MS 1100

static void sleep_ms(long ms)
{
    struct timespec t = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

    nanosleep(&t, NULL);
}

static void test_open_and_find(void)
{
    struct session_table *t = session_table_new(2, 3600, 86400);
    struct unlock_session a, b, c, found;

    tap_ok(t != NULL, "a table");
    tap_ok(session_open(t, "piv-a", "req-a", &a) == 0, "open a session");
    tap_ok(strncmp(a.sid, UNLOCK_SID_PREFIX, strlen(UNLOCK_SID_PREFIX)) == 0 &&
           strlen(a.sid) == UNLOCK_SID_MAX, "its id is ukeyd's own: %s", a.sid);
    tap_ok(session_find(t, a.sid, &found) == SESSION_FOUND &&
           strcmp(found.request_id, "req-a") == 0 && strcmp(found.token_id, "piv-a") == 0,
           "found with its token and request");
    tap_ok(session_find(t, "uls-0000", &found) == SESSION_NOT_FOUND, "an unknown id");
    session_open(t, "piv-a", "req-a2", &b);
    tap_ok(strcmp(a.sid, b.sid) != 0, "a second session of the token has another id");
    tap_ok(session_find(t, a.sid, &found) == SESSION_NOT_FOUND, "…and replaces the first");
    session_open(t, "piv-b", "req-b", &c);
    session_find(t, c.sid, &found);
    session_open(t, "piv-c", "req-c", &a);
    tap_ok(session_find(t, b.sid, &found) == SESSION_NOT_FOUND,
           "a full table gives up the session least recently used");
    tap_ok(session_find(t, c.sid, &found) == SESSION_FOUND &&
           session_find(t, a.sid, &found) == SESSION_FOUND, "…and keeps the others");
    session_expire(t, c.sid);
    tap_ok(session_find(t, c.sid, &found) == SESSION_EXPIRED, "expired on the CA's word");
    session_table_free(t);
}

static void test_idle_expiry(void)
{
    struct session_table *t = session_table_new(4, 0, 86400);
    struct unlock_session a, found;

    session_open(t, "piv-a", "req-a", &a);
    sleep_ms(IDLE_TEST_MS);
    tap_ok(session_find(t, a.sid, &found) == SESSION_EXPIRED, "unused too long: expired");
    tap_ok(session_find(t, a.sid, &found) == SESSION_EXPIRED, "…and stays so");
    session_table_free(t);
}

int main(void)
{
    test_open_and_find();
    test_idle_expiry();
    return tap_done();
}
