/* SPDX-License-Identifier: MIT */
/* Tests the environment report's pure parts: the words (every message in
 * both languages, placeholders filled, long arguments cut on a character
 * boundary), check aggregation and the JSON shape (api/env/env_check.c); the
 * per-token judgement of PIN state and certificate dates on made-up
 * snapshots (api/env/env_token.c); the PC/SC checks from made-up facts and a
 * made-up driver directory (api/env/env_pcsc.c); and the browser check
 * (api/env/env_browser.c). */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/env/env_browser.h"
#include "api/env/env_check.h"
#include "api/env/env_pcsc.h"
#include "tests/tap.h"

#define NOW        1800000000L
#define DAY        86400L
#define HOUR       3600L
/* Dates are told in the machine's local time with its offset: in Beijing, a
 * certificate that ended at 2027-01-13 16:00 UTC ended on the 14th. */
#define USER_TZ      "Asia/Shanghai"
#define EXPIRED_AT   (NOW - 2 * DAY + 8 * HOUR)
#define EXPIRED_TEXT "2027-01-14 00:00 +08:00"
#define PATH_TEXT  512

/* --- words ---------------------------------------------------------------- */

static void test_every_message_has_words(void)
{
    int missing = 0;

    for (int m = ENV_MSG_NONE + 1; m < ENV_MSG__COUNT; m++)
        for (int l = 0; l < LANG__COUNT; l++)
            if (!env_text_template((enum env_msg)m, (enum api_lang)l)) {
                tap_diag("message %d has no text in language %d", m, l);
                missing++;
            }
    TAP_EQ_INT(missing, 0, "every message has zh-CN and en words");
    tap_ok(env_text_template(ENV_MSG_NONE, LANG_EN) == NULL, "ENV_MSG_NONE has none");
}

/* The headings a user reads speak of 智能卡服务, 读卡器, 电子钥匙: the names
 * pcscd, systemd and CCID stay in the findings support staff read, and the
 * key and its secret have one word each: 电子钥匙 and 密码, and in English the
 * portal's (web-demo/portal/i18n.js) USB key and PIN. */
static void test_headings_for_users(void)
{
    static const enum env_msg titles[] = {
        ENV_OS_TITLE, ENV_UKEYD_TITLE, ENV_CLOCK_TITLE, ENV_NET_TITLE, ENV_PCSC_TITLE,
        ENV_SYSTEMD_TITLE, ENV_DRIVERS_TITLE, ENV_READERS_TITLE, ENV_TOKENS_TITLE,
        ENV_TOKEN_TITLE, ENV_BROWSER_TITLE,
    };
    static const char *const internals[] = { "pcscd", "systemd", "CCID", "PC/SC" };
    static const char *const other_words[] = { "令牌", "USB Key", "PIN", "槽位" };
    /* " token": the {tokens} placeholder is no word a user reads. */
    static const char *const en_other_words[] = { " token", "Token", "USB Key", "password",
                                                  "the key " };
    int named = 0, foreign = 0;

    for (size_t t = 0; t < sizeof titles / sizeof titles[0]; t++)
        for (int l = 0; l < LANG__COUNT; l++)
            for (size_t i = 0; i < sizeof internals / sizeof internals[0]; i++)
                if (strstr(env_text_template(titles[t], (enum api_lang)l), internals[i])) {
                    tap_diag("heading \"%s\" names %s",
                             env_text_template(titles[t], (enum api_lang)l), internals[i]);
                    named++;
                }
    TAP_EQ_INT(named, 0, "no heading names pcscd, systemd or CCID");
    tap_ok(strstr(env_text_template(ENV_PCSC_DOWN, LANG_ZH_CN), "pcscd") != NULL,
           "…which stay in the findings for support staff");
    for (int m = ENV_MSG_NONE + 1; m < ENV_MSG__COUNT; m++)
        for (size_t i = 0; i < sizeof other_words / sizeof other_words[0]; i++)
            if (strstr(env_text_template((enum env_msg)m, LANG_ZH_CN), other_words[i])) {
                tap_diag("\"%s\" says %s", env_text_template((enum env_msg)m, LANG_ZH_CN),
                         other_words[i]);
                foreign++;
            }
    TAP_EQ_INT(foreign, 0, "the Chinese words say 电子钥匙 and 密码, no other word for them");
    foreign = 0;
    for (int m = ENV_MSG_NONE + 1; m < ENV_MSG__COUNT; m++)
        for (size_t i = 0; i < sizeof en_other_words / sizeof en_other_words[0]; i++)
            if (strstr(env_text_template((enum env_msg)m, LANG_EN), en_other_words[i])) {
                tap_diag("\"%s\" says %s", env_text_template((enum env_msg)m, LANG_EN),
                         en_other_words[i]);
                foreign++;
            }
    TAP_EQ_INT(foreign, 0, "the English words are the portal's: USB key and PIN, never token");
}

static void test_render(void)
{
    struct env_words w;
    char *text;
    char long_arg[ENV_ARG_MAX * 2];

    env_words_set(&w, ENV_NET_CONNECT);
    env_words_arg(&w, "host", "%s", "ca.example.cn");
    env_words_arg(&w, "address", "%s", "192.0.2.1");
    env_words_arg(&w, "port", "%d", 443);
    text = env_text_render(&w, LANG_EN);
    TAP_EQ_STR(text, "Cannot connect to ca.example.cn (192.0.2.1) on port 443",
               "placeholders filled (en)");
    free(text);
    text = env_text_render(&w, LANG_ZH_CN);
    TAP_EQ_STR(text, "无法连接 ca.example.cn（192.0.2.1）的 443 端口", "placeholders filled (zh-CN)");
    free(text);
    env_words_arg(&w, "port", "%d", 8443);
    TAP_EQ_INT(w.n_args, 3, "setting an argument again replaces it");

    env_words_set(&w, ENV_NET_DNS);
    text = env_text_render(&w, LANG_EN);
    TAP_EQ_STR(text, "The name {host} does not resolve", "a missing argument stays visible");
    free(text);

    /* 2-byte characters: a cut must not split one. */
    memset(long_arg, 0, sizeof long_arg);
    for (size_t i = 0; i + 2 < sizeof long_arg; i += 2)
        memcpy(long_arg + i, "\xc3\xa9", 2);
    env_words_set(&w, ENV_NET_DNS);
    env_words_arg(&w, "host", "x%s", long_arg);
    tap_ok(strlen(w.args[0].value) < ENV_ARG_MAX &&
               (strlen(w.args[0].value) - 1) % 2 == 0,
           "a long argument is cut on a UTF-8 boundary (%zu bytes)", strlen(w.args[0].value));
    TAP_EQ_INT(env_text_render(&(struct env_words){ .msg = ENV_MSG_NONE }, LANG_EN) == NULL, 1,
               "no message renders as NULL");
}

/* --- report ---------------------------------------------------------------- */

static void test_aggregation(void)
{
    struct env_report r = { 0 };
    struct env_check *c;
    json_t *j;

    TAP_EQ_INT(env_report_state(&r), ENV_OK, "an empty report is ok");
    env_report_add(&r, "system", "a", ENV_OS_TITLE);
    c = env_report_add(&r, "pcsc", "b", ENV_PCSC_TITLE);
    env_check_say(c, ENV_WARN, ENV_READERS_NONE, ENV_READERS_HINT_NONE);
    TAP_EQ_INT(env_report_state(&r), ENV_WARN, "ok + warn = warn");
    c = env_report_add(&r, "pcsc", "c", ENV_PCSC_TITLE);
    env_check_say(c, ENV_FAIL, ENV_PCSC_DOWN, ENV_PCSC_HINT_DOWN);
    env_check_detail(c, "available", json_false());
    env_check_detail(c, "ignored", NULL);
    TAP_EQ_INT(env_report_state(&r), ENV_FAIL, "any fail = fail");
    TAP_EQ_INT(env_report_count(&r, ENV_OK), 1, "one ok");
    TAP_EQ_INT(env_report_count(&r, ENV_WARN), 1, "one warn");
    tap_ok(env_report_find(&r, "c") == c, "find by id");
    tap_ok(env_report_find(&r, "zz") == NULL, "unknown id: NULL");

    j = env_report_json(&r, LANG_EN);
    TAP_EQ_STR(json_string_value(json_object_get(j, "state")), "fail", "JSON state");
    TAP_EQ_INT(json_integer_value(json_object_get(json_object_get(j, "summary"), "warn")), 1,
               "JSON summary.warn");
    TAP_EQ_INT(json_array_size(json_object_get(j, "checks")), 3, "three checks");
    c = r.checks[2];
    {
        json_t *jc = json_array_get(json_object_get(j, "checks"), 2);

        TAP_EQ_STR(json_string_value(json_object_get(jc, "id")), "c", "check id");
        TAP_EQ_STR(json_string_value(json_object_get(jc, "category")), "pcsc", "check category");
        TAP_EQ_STR(json_string_value(json_object_get(jc, "state")), "fail", "check state");
        TAP_EQ_STR(json_string_value(json_object_get(jc, "title")),
                   "Smart card service", "check title in English");
        tap_ok(strstr(json_string_value(json_object_get(jc, "hint")), "systemctl restart") != NULL,
               "check hint");
        tap_ok(json_is_false(json_object_get(json_object_get(jc, "details"), "available")),
               "details carried over");
        tap_ok(json_is_null(json_object_get(json_array_get(json_object_get(j, "checks"), 0),
                                            "hint")),
               "an ok check without advice has hint null");
    }
    json_decref(j);
    env_report_free(&r);
    TAP_EQ_INT(r.n, 0, "freed report is empty");
}

/* --- tokens ------------------------------------------------------------------ */

static struct cert_summary summaries[4];
static struct token_cert certs[4];

/* A PIV certificate: "9a" (PIV Authentication) or "9c" (Digital Signature). */
static void make_cert(size_t i, const char *slot, long not_before, long not_after)
{
    summaries[i] = (struct cert_summary){ .not_before = not_before, .not_after = not_after };
    certs[i] = (struct token_cert){
        .slot_name = slot, .summary = &summaries[i],
        .slot_label = strcmp(slot, "9a") == 0 ? "PIV Authentication" : "Digital Signature" };
}

static struct token_snapshot snapshot(size_t n_certs, int tries, bool blocked)
{
    return (struct token_snapshot){ .id = "piv-test", .reader = "Reader 0", .edge = "PIV",
                                    .model = "Test token", .serial = "42",
                                    .pin = { .tries_left = tries, .blocked = blocked },
                                    .certs = certs, .n_certs = n_certs };
}

static const struct env_check *judge(struct env_report *r, struct token_snapshot *s)
{
    struct token_snapshot *list[] = { s };
    struct env_pcsc_facts f = { .available = true, .tokens = list, .n_tokens = 1 };

    env_report_free(r);
    env_token_checks(r, &f, NOW);
    return r->n == 1 ? r->checks[0] : NULL;
}

static bool has_problem(const struct env_check *c, const char *name)
{
    size_t i;
    json_t *v;

    json_array_foreach(json_object_get(c->details, "problems"), i, v)
        if (strcmp(json_string_value(v), name) == 0)
            return true;
    return false;
}

static void test_tokens(void)
{
    struct env_report r = { 0 };
    struct token_snapshot s;
    const struct env_check *c;
    char *text;

    make_cert(0, "9a", NOW - 100 * DAY, NOW + 200 * DAY);
    make_cert(1, "9c", NOW - 100 * DAY, NOW + 300 * DAY);
    s = snapshot(2, 3, false);
    c = judge(&r, &s);
    TAP_EQ_STR(c ? c->id : NULL, "token.piv-test", "check id is token.<id>");
    TAP_EQ_INT(c->state, ENV_OK, "valid certificates, 3 tries: ok");
    text = env_text_render(&c->found, LANG_EN);
    tap_ok(text && strstr(text, "200 days left"), "names the first to expire (%s)", text);
    free(text);
    text = env_text_render(&c->title, LANG_EN);
    TAP_EQ_STR(text, "USB key Test token (serial 42)", "title names model and serial");
    free(text);

    make_cert(1, "9c", NOW - 400 * DAY, EXPIRED_AT);
    c = judge(&r, &s);
    TAP_EQ_INT(c->state, ENV_FAIL, "an expired certificate: fail");
    tap_ok(has_problem(c, "certificate-expired"), "problem certificate-expired listed");
    text = env_text_render(&c->found, LANG_EN);
    TAP_EQ_STR(text, "The signing certificate expired on " EXPIRED_TEXT,
               "names the certificate for what it does, not its slot, and the local time");
    free(text);
    text = env_text_render(&c->found, LANG_ZH_CN);
    TAP_EQ_STR(text, "签名证书已于 " EXPIRED_TEXT " 过期", "…in Chinese as the assistant does");
    free(text);

    make_cert(1, "9c", NOW - 400 * DAY, NOW + 10 * DAY);
    c = judge(&r, &s);
    TAP_EQ_INT(c->state, ENV_WARN, "expiring in 10 days: warn");
    tap_ok(has_problem(c, "certificate-expiring"), "problem certificate-expiring listed");

    make_cert(1, "9c", NOW - 400 * DAY, NOW + 31 * DAY);
    c = judge(&r, &s);
    TAP_EQ_INT(c->state, ENV_OK, "expiring in 31 days: still ok");

    make_cert(1, "9c", NOW + 5 * DAY, NOW + 400 * DAY);
    c = judge(&r, &s);
    TAP_EQ_INT(c->state, ENV_WARN, "not valid yet: warn");
    tap_ok(has_problem(c, "certificate-not-yet-valid"), "problem certificate-not-yet-valid");

    make_cert(1, "9c", NOW - 400 * DAY, NOW - DAY);
    s = snapshot(2, 0, true);
    c = judge(&r, &s);
    TAP_EQ_INT(c->state, ENV_FAIL, "blocked PIN and expired certificate: fail");
    tap_ok(c->found.msg == ENV_TOKEN_PIN_BLOCKED, "the blocked PIN is the headline");
    tap_ok(has_problem(c, "pin-blocked") && has_problem(c, "certificate-expired"),
           "both problems listed");
    text = env_text_render(&c->hint, LANG_ZH_CN);
    tap_ok(text && strstr(text, "找回密码"), "hint points to 找回密码");
    free(text);

    make_cert(1, "9c", NOW - 100 * DAY, NOW + 300 * DAY);
    s = snapshot(2, 1, false);
    c = judge(&r, &s);
    TAP_EQ_INT(c->state, ENV_WARN, "one PIN try left: warn");
    tap_ok(has_problem(c, "pin-last-try"), "problem pin-last-try");

    s = snapshot(0, -1, false);
    c = judge(&r, &s);
    TAP_EQ_INT(c->state, ENV_WARN, "no certificate: warn");
    tap_ok(json_is_null(json_object_get(json_object_get(c->details, "pin"), "triesLeft")),
           "unknown tries: null");

    certs[0].summary = NULL;
    s = snapshot(1, 3, false);
    c = judge(&r, &s);
    TAP_EQ_INT(c->state, ENV_WARN, "undecodable certificate: warn");
    tap_ok(has_problem(c, "certificate-unreadable"), "problem certificate-unreadable");
    env_report_free(&r);
}

/* --- pcsc ---------------------------------------------------------------------- */

static void test_pcsc(void)
{
    struct token_reader readers[2] = {
        { .name = "Reader A", .card_present = true, .token_id = "piv-x" },
        { .name = "Reader B", .card_present = true, .atr = { 0x3B, 0x02 }, .atr_len = 2 },
    };
    struct env_pcsc_facts down = { .available = false };
    struct env_pcsc_facts one = { .available = true, .readers = readers, .n_readers = 1,
                                  .n_tokens = 1 };
    struct env_pcsc_facts odd = { .available = true, .readers = readers, .n_readers = 2,
                                  .n_tokens = 1 };
    struct env_pcsc_facts none = { .available = true };
    struct env_report r = { 0 };

    env_pcsc_checks(&r, &down, 1000);
    TAP_EQ_INT(env_report_find(&r, "pcsc.service")->state, ENV_FAIL, "pcscd down: fail");
    tap_ok(env_report_find(&r, "pcsc.service")->hint.msg == ENV_PCSC_HINT_DOWN,
           "pcscd down: restart hint");
    TAP_EQ_INT(env_report_find(&r, "pcsc.readers")->state, ENV_WARN, "readers unknown: warn");
    env_report_free(&r);

    env_pcsc_checks(&r, &one, 1000);
    TAP_EQ_INT(env_report_state(&r), ENV_OK, "one reader, one token: all ok");
    env_report_free(&r);

    env_pcsc_checks(&r, &odd, 1000);
    TAP_EQ_INT(env_report_find(&r, "pcsc.tokens")->state, ENV_WARN, "unrecognised card: warn");
    TAP_EQ_STR(json_string_value(json_object_get(env_report_find(&r, "pcsc.tokens")->details,
                                                 "unrecognisedAtr")),
               "3B02", "the unrecognised card's ATR");
    env_report_free(&r);

    env_pcsc_checks(&r, &none, 1000);
    TAP_EQ_INT(env_report_find(&r, "pcsc.readers")->state, ENV_WARN, "no reader: warn");
    TAP_EQ_INT(env_report_find(&r, "pcsc.tokens")->state, ENV_WARN, "no token: warn");
    env_report_free(&r);

    env_pcsc_checks(&r, NULL, 1234);
    TAP_EQ_INT(env_report_state(&r), ENV_WARN, "token service timed out: warn, not fail");
    env_report_free(&r);
}

static void make_dir(const char *base, const char *name)
{
    char path[PATH_TEXT];

    snprintf(path, sizeof path, "%s/%s", base, name);
    mkdir(path, 0700);
}

static void test_drivers(void)
{
    char dir[] = "/tmp/ukeyd-test-drivers.XXXXXX";
    char path[PATH_TEXT];
    struct env_drivers d;
    struct env_report r = { 0 };

    if (!mkdtemp(dir)) {
        tap_ok(0, "mkdtemp");
        return;
    }
    make_dir(dir, "ifd-other.bundle");
    make_dir(dir, "not-a-driver");
    env_drivers_scan(dir, &d);
    tap_ok(d.readable && !d.ccid, "no CCID bundle found");
    TAP_EQ_INT(json_array_size(d.bundles), 1, "one bundle listed");
    env_drivers_check(&r, dir, &d);
    TAP_EQ_INT(r.checks[0]->state, ENV_WARN, "no CCID: warn");
    tap_ok(r.checks[0]->hint.msg == ENV_DRIVERS_HINT_CCID, "hint: install libccid");
    env_drivers_free(&d);
    env_report_free(&r);

    make_dir(dir, ENV_CCID_BUNDLE);
    make_dir(dir, "serial");
    env_drivers_scan(dir, &d);
    tap_ok(d.ccid, "CCID bundle found");
    TAP_EQ_STR(json_string_value(json_array_get(d.bundles, 0)), "ifd-ccid.bundle",
               "bundles sorted");
    env_drivers_check(&r, dir, &d);
    TAP_EQ_INT(r.checks[0]->state, ENV_OK, "CCID: ok");
    env_drivers_free(&d);
    env_report_free(&r);

    env_drivers_scan("/nonexistent/ukeyd", &d);
    tap_ok(!d.readable && !d.ccid, "a missing directory: not readable, no CCID");
    env_drivers_free(&d);

    snprintf(path, sizeof path, "%s/serial", dir);
    rmdir(path);
    snprintf(path, sizeof path, "%s/%s", dir, ENV_CCID_BUNDLE);
    rmdir(path);
    snprintf(path, sizeof path, "%s/ifd-other.bundle", dir);
    rmdir(path);
    snprintf(path, sizeof path, "%s/not-a-driver", dir);
    rmdir(path);
    rmdir(dir);
}

/* --- browser ---------------------------------------------------------------------- */

static void test_browser(void)
{
    char *good[] = { "https://portal.example.cn", "http://127.0.0.1:8080" };
    char *bad[] = { "https://portal.example.cn", "http://portal.example.cn" };
    struct env_report r = { 0 };

    tap_ok(env_origin_secure("https://a.example"), "https is secure");
    tap_ok(env_origin_secure("http://localhost:3000"), "http://localhost is secure");
    tap_ok(env_origin_secure("http://[::1]"), "http://[::1] is secure");
    tap_ok(!env_origin_secure("http://localhost.example.cn"), "http://localhost.<domain> is not");
    tap_ok(!env_origin_secure("http://portal.example.cn"), "plain http elsewhere is not");
    env_browser_check(&r, good, 2);
    env_browser_check(&r, bad, 2);
    env_browser_check(&r, NULL, 0);
    TAP_EQ_INT(r.checks[0]->state, ENV_OK, "https and loopback origins: ok");
    tap_ok(r.checks[0]->hint.msg == ENV_BROWSER_HINT_LNA, "ok, with the local-network note");
    TAP_EQ_INT(r.checks[1]->state, ENV_WARN, "an http origin: warn");
    TAP_EQ_INT(r.checks[2]->state, ENV_WARN, "no origins: warn");
    env_report_free(&r);
}

int main(void)
{
    setenv("TZ", USER_TZ, 1);
    tzset();
    test_every_message_has_words();
    test_headings_for_users();
    test_render();
    test_aggregation();
    test_tokens();
    test_pcsc();
    test_drivers();
    test_browser();
    return tap_done();
}
