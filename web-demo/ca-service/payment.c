/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/payment.c — orders, simulated payment, invoices
 * (see payment.h).
 */
#include "payment.h"

#include <ctype.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "secret.h"
#include "text.h"

#define EMAIL_MAX        254

enum ca_code order_load(sqlite3 *db, const char *id, struct order *out)
{
    DB_STMT *st = db_prepare(db, "SELECT id, token_id, amount_cents, currency, state, purpose "
                                 "FROM orders WHERE id = ?", "s", id);
    bool failed = false;

    if (!st)
        return CA_INTERNAL;
    if (!db_row(st, &failed))
        return failed ? CA_INTERNAL : CA_ORDER_UNKNOWN;
    db_text(st, 0, out->id, sizeof out->id);
    db_text(st, 1, out->token_id, sizeof out->token_id);
    out->amount_cents = (long)sqlite3_column_int64(st, 2);
    db_text(st, 3, out->currency, sizeof out->currency);
    out->paid = strcmp((const char *)sqlite3_column_text(st, 4), "unpaid") != 0;
    out->for_cert = strcmp((const char *)sqlite3_column_text(st, 5), ORDER_FOR_CERT) == 0;
    return CA_OK;
}

/* The token's paid order that no completed unlock has used: "" when none. */
static enum ca_code unused_paid_order(sqlite3 *db, const char *token_id, char id[CA_ID_MAX])
{
    DB_STMT *st = db_prepare(db, "SELECT id FROM orders WHERE token_id = ? AND state = 'paid' "
                                 "AND purpose = 'unlock' ORDER BY paid_at LIMIT 1", "s", token_id);
    bool failed = false;

    id[0] = '\0';
    if (!st)
        return CA_INTERNAL;
    if (db_row(st, &failed))
        db_text(st, 0, id, CA_ID_MAX);
    return failed ? CA_INTERNAL : CA_OK;
}

enum ca_code order_for_request(sqlite3 *db, const struct token_rec *t, char id[CA_ID_MAX])
{
    enum ca_code code = unused_paid_order(db, t->id, id);

    if (code != CA_OK || id[0])
        return code;
    if (!secret_random_id("ord-", id, CA_ID_MAX) ||
        db_exec(db, "INSERT INTO orders (id, token_id, amount_cents, currency, state, created_at) "
                    "VALUES (?, ?, ?, ?, 'unpaid', ?)", "ssl" "st",
                id, t->id, t->fee_cents, t->currency, time(NULL)) != 1)
        return CA_INTERNAL;
    return CA_OK;
}

enum ca_code order_new_for_cert(sqlite3 *db, const char *token_id, long cents,
                                const char *currency, char id[CA_ID_MAX])
{
    if (!secret_random_id("ord-", id, CA_ID_MAX) ||
        db_exec(db, "INSERT INTO orders (id, token_id, amount_cents, currency, state, created_at, "
                    "purpose) VALUES (?, ?, ?, ?, 'unpaid', ?, ?)", "ssl" "sts",
                id, token_id, cents, currency, time(NULL), ORDER_FOR_CERT) != 1)
        return CA_INTERNAL;
    return CA_OK;
}

bool order_consume(sqlite3 *db, const char *id)
{
    return db_exec(db, "UPDATE orders SET state = 'consumed' WHERE id = ? AND state = 'paid'", "s",
                   id) >= 0;
}

static bool tax_number_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0)
        return true;
    if (n < TAX_NUMBER_MIN || n > TAX_NUMBER_MAX)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s) && !isupper((unsigned char)*s))
            return false;
    return true;
}

static bool email_ok(const char *s)
{
    const char *at = strchr(s, '@');

    return *s == '\0' || (strlen(s) <= EMAIL_MAX && at && at != s && at[1] && !strchr(at + 1, '@'));
}

const char *invoice_bad_field(const struct invoice *inv)
{
    if (strlen(inv->title) > INVOICE_TEXT_MAX)
        return "title";
    if (!tax_number_ok(inv->tax_number))
        return "taxNumber";
    if (*inv->phone && !text_is_digits(inv->phone, CA_PHONE_MIN_DIGITS, CA_PHONE_MAX_DIGITS))
        return "phone";
    if (!email_ok(inv->email))
        return "email";
    return NULL;
}

static bool store_invoice(sqlite3 *db, const char *order_id, const struct invoice *inv)
{
    if (!*inv->title)
        return true;
    return db_exec(db, "INSERT OR REPLACE INTO invoices (order_id, title, tax_number, phone, "
                       "email, created_at) VALUES (?, ?, ?, ?, ?, ?)", "sssss" "t",
                   order_id, inv->title, inv->tax_number, inv->phone, inv->email,
                   time(NULL)) == 1;
}

/* A certificate order is paid only while its request waits for it. */
static bool cert_order_payable(sqlite3 *db, const char *id)
{
    DB_STMT *st = db_prepare(db, "SELECT 1 FROM cert_requests WHERE order_id = ? "
                                 "AND state = 'awaiting-payment'", "s", id);
    bool failed = false;

    return st && db_row(st, &failed);
}

struct ca_problem order_pay(sqlite3 *db, const char *id, const struct invoice *inv)
{
    DB_TX tx = { 0 };
    struct order o;
    enum ca_code code;

    if (!db_tx_begin(&tx, db))
        return ca_fail(CA_INTERNAL);
    if ((code = order_load(db, id, &o)) != CA_OK)
        return ca_fail(code);
    /* a certificate request rejected (or gone) before payment takes no money */
    if (!o.paid && o.for_cert && !cert_order_payable(db, id))
        return ca_fail(CA_STATE_CONFLICT);
    if (!o.paid &&
        db_exec(db, "UPDATE orders SET state = 'paid', paid_at = ? WHERE id = ?", "ts",
                time(NULL), id) != 1)
        return ca_fail(CA_INTERNAL);
    if (!store_invoice(db, id, inv) ||
        db_exec(db, "UPDATE requests SET state = 'awaiting-identity' WHERE order_id = ? "
                    "AND state = 'awaiting-payment'", "s", id) < 0 ||
        db_exec(db, "UPDATE cert_requests SET state = 'submitted', updated_at = ? "
                    "WHERE order_id = ? AND state = 'awaiting-payment'", "ts", time(NULL), id) < 0 ||
        !db_tx_commit(&tx))
        return ca_fail(CA_INTERNAL);
    if (!o.paid)
        ca_log("order %.12s… paid (simulated)", id);
    return ca_ok();
}

bool orders_consume_for_rotation(sqlite3 *db, const char *rotation_id)
{
    return db_exec(db, "UPDATE orders SET state = 'consumed' WHERE state = 'paid' AND id IN "
                       "(SELECT order_id FROM requests WHERE rotation_id = ?)", "s",
                   rotation_id) >= 0;
}

static json_t *invoice_view(sqlite3 *db, const char *order_id)
{
    DB_STMT *st = db_prepare(db, "SELECT title, tax_number, phone, email FROM invoices "
                                 "WHERE order_id = ?", "s", order_id);
    bool failed = false;

    if (!st)
        return NULL;
    if (!db_row(st, &failed))
        return failed ? NULL : json_null();
    return json_pack("{s:s, s:s, s:s, s:s}", "title", (const char *)sqlite3_column_text(st, 0),
                     "taxNumber", (const char *)sqlite3_column_text(st, 1),
                     "phone", (const char *)sqlite3_column_text(st, 2),
                     "email", (const char *)sqlite3_column_text(st, 3));
}

json_t *order_view(sqlite3 *db, const char *id, enum ca_code *code)
{
    char amount[CA_AMOUNT_MAX];
    struct order o;
    json_t *view;

    if ((*code = order_load(db, id, &o)) != CA_OK)
        return NULL;
    text_format_amount(o.amount_cents, amount, sizeof amount);
    view = json_pack("{s:b, s:s, s:s, s:s, s:s, s:s, s:b, s:o}", "demo", 1, "orderId", o.id,
                     "purpose", o.for_cert ? ORDER_FOR_CERT : "unlock",
                     "tokenId", o.token_id, "amount", amount, "currency", o.currency,
                     "paid", o.paid, "invoice", invoice_view(db, id));
    if (!view)
        *code = CA_INTERNAL;
    return view;
}
