/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/sms.c — SMS codes and the demo outbox (see sms.h).
 */
#include "sms.h"

#include <stdio.h>

#include "codes.h"
#include "db.h"
#include "log.h"
#include "secret.h"
#include "text.h"
#include "tokens.h"

#define SMS_TEXT_MAX       256
#define SECONDS_PER_MINUTE 60
#define OUTBOX_LIST_MAX    50

/* How many of the token's rows in `sql` fall in the window, and when the
 * oldest of them leaves it. */
struct window_count {
    int n;
    time_t oldest;
};

static bool count_in_window(sqlite3 *db, const char *sql, const char *token_id, time_t since,
                            struct window_count *out)
{
    DB_STMT *st = db_prepare(db, sql, "st", token_id, since);
    bool failed = false;

    if (!st || !db_row(st, &failed))
        return false;
    out->n = sqlite3_column_int(st, 0);
    out->oldest = (time_t)sqlite3_column_int64(st, 1);
    return true;
}

static struct ca_problem rate_limited(time_t until, time_t now)
{
    struct ca_problem p = ca_fail(CA_RATE_LIMITED);

    p.retry_after = until > now ? (long)(until - now) : 1;
    return p;
}

/* Wrong numbers are limited, or the four masked digits could be guessed. */
static struct ca_problem check_phone(sqlite3 *db, const struct token_rec *t, const char *phone,
                                     time_t now)
{
    struct window_count wrong;

    if (!count_in_window(db, "SELECT count(*), min(at) FROM phone_mismatches WHERE token_id = ? "
                             "AND at > ?", t->id, now - CA_SMS_WINDOW_S, &wrong))
        return ca_fail(CA_INTERNAL);
    if (wrong.n >= CA_PHONE_MISMATCH_MAX)
        return rate_limited(wrong.oldest + CA_SMS_WINDOW_S, now);
    if (secret_equal(phone, t->phone))
        return ca_ok();
    if (db_exec(db, "INSERT INTO phone_mismatches (token_id, at) VALUES (?, ?)", "st",
                t->id, now) != 1)
        return ca_fail(CA_INTERNAL);
    return ca_fail(CA_PHONE_MISMATCH);
}

static struct ca_problem check_send_rate(struct ca *ca, const char *token_id, time_t now)
{
    struct window_count sent, recent;

    if (!count_in_window(ca->db, "SELECT count(*), max(sent_at) FROM outbox WHERE token_id = ? "
                                 "AND sent_at > ?", token_id, now - ca->t.sms_resend_s, &recent) ||
        !count_in_window(ca->db, "SELECT count(*), min(sent_at) FROM outbox WHERE token_id = ? "
                                 "AND sent_at > ?", token_id, now - CA_SMS_WINDOW_S, &sent))
        return ca_fail(CA_INTERNAL);
    if (recent.n > 0)
        return rate_limited(recent.oldest + ca->t.sms_resend_s, now);
    if (sent.n >= CA_SMS_PER_WINDOW)
        return rate_limited(sent.oldest + CA_SMS_WINDOW_S, now);
    return ca_ok();
}

/* The demo's stand-in for an SMS gateway. */
static bool send_to_outbox(struct ca *ca, const struct token_rec *t, const char *code, time_t now)
{
    char text[SMS_TEXT_MAX];
    long minutes = (ca->t.sms_code_ttl_s + SECONDS_PER_MINUTE - 1) / SECONDS_PER_MINUTE;
    bool ok;

    snprintf(text, sizeof text, "【演示CA】您的证书解锁验证码为%s，%ld分钟内有效，请勿告诉他人。"
             "[Demo CA] Your certificate unlock code is %s, valid for %ld min.",
             code, minutes, code, minutes);
    ok = db_exec(ca->db, "INSERT INTO outbox (token_id, phone, text, code, sent_at) "
                         "VALUES (?, ?, ?, ?, ?)", "ssss" "t", t->id, t->phone, text, code,
                 now) == 1;
    secret_wipe(text, sizeof text);
    return ok;
}

static struct ca_problem send_code(struct ca *ca, const struct unlock_request *r,
                                   const char *phone)
{
    char code[CA_CODE_DIGITS + 1], masked[CA_PHONE_MAX + sizeof "****"];
    time_t now = time(NULL);
    struct token_rec t;
    struct ca_problem p;
    enum ca_code c;
    bool sent;

    if ((c = token_load(ca->db, r->token_id, &t)) != CA_OK)
        return ca_fail(c == CA_TOKEN_UNKNOWN ? CA_INTERNAL : c);
    if ((p = check_phone(ca->db, &t, phone, now)).code != CA_OK ||
        (p = check_send_rate(ca, t.id, now)).code != CA_OK)
        return p;
    sent = codes_issue_sms(ca->db, r->id, ca->t.sms_code_ttl_s, code) &&
           send_to_outbox(ca, &t, code, now);
    secret_wipe(code, sizeof code);
    if (!sent)
        return ca_fail(CA_INTERNAL);
    text_mask_phone(t.phone, masked, sizeof masked);
    ca_log("request %.12s… SMS code sent to %s", r->id, masked);
    return ca_ok();
}

struct ca_problem sms_send(struct ca *ca, const struct unlock_request *r, const char *phone)
{
    DB_TX tx = { 0 };
    struct ca_problem p = request_in_identity_phase(r);

    if (p.code != CA_OK)
        return p;
    if (!db_tx_begin(&tx, ca->db))
        return ca_fail(CA_INTERNAL);
    p = send_code(ca, r, phone);
    /* a wrong number is committed too: that is what makes its limit hold */
    if (p.code != CA_INTERNAL && !db_tx_commit(&tx))
        return ca_fail(CA_INTERNAL);
    return p;
}

static json_t *outbox_row(sqlite3_stmt *st)
{
    char when[CA_TIME_MAX];

    text_format_time((time_t)sqlite3_column_int64(st, 3), when, sizeof when);
    return json_pack("{s:s, s:s, s:s, s:s}", "phone", (const char *)sqlite3_column_text(st, 0),
                     "text", (const char *)sqlite3_column_text(st, 1),
                     "code", (const char *)sqlite3_column_text(st, 2), "sentAt", when);
}

json_t *sms_outbox(sqlite3 *db, const char *phone)
{
    DB_STMT *st = db_prepare(db, "SELECT phone, text, code, sent_at FROM outbox "
                                 "WHERE ?1 IS NULL OR phone = ?1 ORDER BY id DESC LIMIT ?2",
                             "si", phone, OUTBOX_LIST_MAX);
    json_t *list = json_array();
    bool failed = false;

    if (!st || !list)
        goto fail;
    while (db_row(st, &failed))
        if (json_array_append_new(list, outbox_row(st)))
            goto fail;
    if (failed)
        goto fail;
    return json_pack("{s:b, s:o}", "demo", 1, "messages", list);
fail:
    json_decref(list);
    return NULL;
}
