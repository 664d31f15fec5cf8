/* SPDX-License-Identifier: MIT */
/* Tests api/v1/diag.c's rings: log events keep their fields and order and stay
 * bounded, APDU summaries show header, lengths, status word and timing but
 * have no place for data, and the log recorder sees lines below the log
 * level (support wants them) while the level still filters the log. */
#include "api/v1/diag.h"
#include "token/pcsc/apdu.h"
#include "tests/tap.h"

#define VERIFY_P2_PIN   0x80
#define PIV_PIN_LC      8
#define SW_TWO_LEFT     0x63C2
#define SW_SUCCESS      0x9000
#define SOME_US         1234
#define EXTRA_EVENTS    5
#define EXTRA_APDUS     3

static const char *member(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static void test_event_fields(void)
{
    struct log_fields f = { .request_id = "abcd-1", .token_id = "piv-1", .origin = NULL };
    json_t *events, *e;

    diag_record_log(LOG_NOTICE, &f, "GET /v1/status 403 PEER_NOT_ALLOWED 0ms uid=65534");
    events = diag_events();
    e = json_array_get(events, json_array_size(events) - 1);
    TAP_EQ_STR(member(e, "message"), "GET /v1/status 403 PEER_NOT_ALLOWED 0ms uid=65534",
               "event message kept");
    TAP_EQ_STR(member(e, "level"), "notice", "event level");
    TAP_EQ_STR(member(e, "requestId"), "abcd-1", "event request id");
    TAP_EQ_STR(member(e, "tokenId"), "piv-1", "event token id");
    tap_ok(json_is_null(json_object_get(e, "origin")), "no origin: null");
    tap_ok(member(e, "time") && strlen(member(e, "time")) == strlen("2026-01-01T00:00:00.000Z"),
           "event time in ISO 8601 with milliseconds (%s)", member(e, "time"));
    json_decref(events);
}

static void test_events_bounded(void)
{
    char text[64];
    json_t *events;

    for (int i = 0; i < DIAG_EVENTS_MAX + EXTRA_EVENTS; i++) {
        snprintf(text, sizeof text, "event %d", i);
        diag_record_log(LOG_INFO, NULL, text);
    }
    events = diag_events();
    TAP_EQ_INT(json_array_size(events), DIAG_EVENTS_MAX, "the event ring keeps its bound");
    snprintf(text, sizeof text, "event %d", EXTRA_EVENTS);
    TAP_EQ_STR(member(json_array_get(events, 0), "message"), text, "oldest first");
    snprintf(text, sizeof text, "event %d", DIAG_EVENTS_MAX + EXTRA_EVENTS - 1);
    TAP_EQ_STR(member(json_array_get(events, DIAG_EVENTS_MAX - 1), "message"), text,
               "newest last");
    json_decref(events);
}

static void test_apdu_summary(void)
{
    struct apdu_summary verify = { .cla = ISO_CLA, .ins = ISO_INS_VERIFY, .p1 = 0,
                                   .p2 = VERIFY_P2_PIN, .lc = PIV_PIN_LC, .le = 0,
                                   .sw = SW_TWO_LEFT, .duration_us = SOME_US };
    struct apdu_summary gone = { .ins = ISO_INS_SELECT, .lc = 1, .err = TOKEN_E_TOKEN_REMOVED };
    json_t *apdus, *a;
    char *text;

    diag_record_apdu(&verify);
    apdus = diag_apdus();
    a = json_array_get(apdus, json_array_size(apdus) - 1);
    TAP_EQ_STR(member(a, "ins"), "20", "INS in hex");
    TAP_EQ_STR(member(a, "command"), "VERIFY", "INS named");
    TAP_EQ_STR(member(a, "p2"), "80", "P2 in hex");
    TAP_EQ_INT(json_integer_value(json_object_get(a, "lc")), PIV_PIN_LC, "Lc");
    TAP_EQ_STR(member(a, "sw"), "63C2", "status word");
    TAP_EQ_INT(json_integer_value(json_object_get(a, "durationUs")), SOME_US, "duration");
    tap_ok(json_is_null(json_object_get(a, "error")), "no error: null");
    text = json_dumps(a, JSON_SORT_KEYS);
    tap_ok(text && !strstr(text, "data"), "a summary has no data member (%s)", text);
    free(text);
    json_decref(apdus);

    diag_record_apdu(&gone);
    apdus = diag_apdus();
    a = json_array_get(apdus, json_array_size(apdus) - 1);
    tap_ok(json_is_null(json_object_get(a, "sw")), "a failed exchange has no status word");
    TAP_EQ_STR(member(a, "error"), "TOKEN_REMOVED", "...and names its error");
    json_decref(apdus);
}

static void test_apdus_bounded(void)
{
    struct apdu_summary s = { .ins = ISO_INS_GET_DATA_ODD, .sw = SW_SUCCESS };
    json_t *apdus;

    for (int i = 0; i < DIAG_APDUS_MAX + EXTRA_APDUS; i++) {
        s.p1 = (uint8_t)i;
        diag_record_apdu(&s);
    }
    apdus = diag_apdus();
    TAP_EQ_INT(json_array_size(apdus), DIAG_APDUS_MAX, "the APDU ring keeps its bound");
    TAP_EQ_STR(member(json_array_get(apdus, DIAG_APDUS_MAX - 1), "command"), "GET DATA",
               "the newest is last");
    json_decref(apdus);
}

static int lines_logged;

static void count_sink(int priority, const struct log_fields *f, const char *message)
{
    (void)priority;
    (void)f;
    (void)message;
    lines_logged++;
}

static void test_recorder_below_level(void)
{
    json_t *events;

    diag_start();
    log_set_sink(count_sink);
    log_set_level(LOG_WARNING);
    log_msg(LOG_INFO, NULL, "below the log level");
    log_msg(LOG_DEBUG, NULL, "debug is not recorded");
    events = diag_events();
    TAP_EQ_STR(member(json_array_get(events, json_array_size(events) - 1), "message"),
               "below the log level", "an info line is recorded at log level warning");
    TAP_EQ_INT(lines_logged, 0, "...and not logged");
    json_decref(events);
    log_set_sink(NULL);
    log_set_recorder(NULL, 0);
}

int main(void)
{
    test_event_fields();
    test_events_bounded();
    test_apdu_summary();
    test_apdus_bounded();
    test_recorder_below_level();
    return tap_done();
}
