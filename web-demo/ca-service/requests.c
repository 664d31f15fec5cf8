/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/requests.c — unlock requests: opening, loading with
 * expiry, state checks, and their JSON view (see requests.h).
 */
#include "requests.h"

#include <string.h>

#include "db.h"
#include "log.h"
#include "payment.h"
#include "secret.h"
#include "text.h"
#include "tokens.h"

#define URL_MAX          512
#define REVIEW_STATE_MAX 16
#define REASON_MAX       512

static const char *const state_names[RS__COUNT] = {
    [RS_AWAITING_PAYMENT] = "awaiting-payment",
    [RS_AWAITING_IDENTITY] = "awaiting-identity",
    [RS_REVIEW_PENDING] = "review-pending",
    [RS_REVIEW_APPROVED] = "review-approved",
    [RS_REVIEW_REJECTED] = "review-rejected",
    [RS_AUTHORIZED] = "authorized",
    [RS_COMPLETED] = "completed",
    [RS_EXPIRED] = "expired",
};

const char *req_state_name(enum req_state s)
{
    return (unsigned)s < RS__COUNT ? state_names[s] : "expired";
}

static enum req_state state_from_name(const char *name)
{
    for (unsigned s = 0; s < RS__COUNT; s++)
        if (name && strcmp(name, state_names[s]) == 0)
            return (enum req_state)s;
    return RS_EXPIRED;
}

bool request_set_state(sqlite3 *db, const char *id, enum req_state s)
{
    return db_exec(db, "UPDATE requests SET state = ? WHERE id = ?", "ss", req_state_name(s),
                   id) == 1;
}

static enum ca_code insert_request(struct ca *ca, struct unlock_request *r, const char *serial)
{
    time_t now = time(NULL);

    r->expires_at = now + ca->t.request_ttl_s;
    if (!secret_random_id("req-", r->id, sizeof r->id) ||
        !secret_random_id("rvt-", r->review_ticket, sizeof r->review_ticket))
        return CA_INTERNAL;
    return db_exec(ca->db, "INSERT INTO requests (id, token_id, cert_serial, state, created_at, "
                           "expires_at, order_id, review_ticket, mechanism) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   "ssss" "tt" "sss", r->id, r->token_id, serial, req_state_name(r->state), now,
                   r->expires_at, r->order_id[0] ? r->order_id : NULL, r->review_ticket,
                   mechanism_name(r->mechanism)) == 1
               ? CA_OK : CA_INTERNAL;
}

/* The fee decides where a new request starts. */
static enum ca_code choose_start(sqlite3 *db, const struct token_rec *t, struct unlock_request *r)
{
    struct order o;
    enum ca_code code;

    r->state = RS_AWAITING_IDENTITY;
    if (t->fee_cents == 0)
        return CA_OK;
    if ((code = order_for_request(db, t, r->order_id)) != CA_OK ||
        (code = order_load(db, r->order_id, &o)) != CA_OK)
        return code;
    if (!o.paid)
        r->state = RS_AWAITING_PAYMENT;
    return CA_OK;
}

struct ca_problem request_open(struct ca *ca, const char *token_id, const char *serial,
                               const char *issuer, unsigned offered,
                               struct unlock_request *out)
{
    DB_TX tx = { 0 };
    struct token_rec t;
    struct ca_problem p;
    enum ca_code code;

    memset(out, 0, sizeof *out);
    if (!db_tx_begin(&tx, ca->db))
        return ca_fail(CA_INTERNAL);
    if ((code = token_find(ca->db, token_id, serial, issuer, &t)) != CA_OK)
        return ca_fail(code);
    /* before anyone pays: a token this service cannot unlock gets no request */
    if ((p = mechanism_choose(ca->db, t.id, offered, &out->mechanism)).code != CA_OK)
        return p;
    snprintf(out->token_id, sizeof out->token_id, "%s", t.id);
    if ((code = choose_start(ca->db, &t, out)) != CA_OK ||
        (code = insert_request(ca, out, serial)) != CA_OK)
        return ca_fail(code);
    if (!db_tx_commit(&tx))
        return ca_fail(CA_INTERNAL);
    ca_log("request %.12s… opened for %s (%s)", out->id, out->token_id,
           req_state_name(out->state));
    return ca_ok();
}

static void read_request(sqlite3_stmt *st, struct unlock_request *r)
{
    db_text(st, 0, r->id, sizeof r->id);
    db_text(st, 1, r->token_id, sizeof r->token_id);
    r->state = state_from_name((const char *)sqlite3_column_text(st, 2));
    r->expires_at = (time_t)sqlite3_column_int64(st, 3);
    db_text(st, 4, r->order_id, sizeof r->order_id);
    db_text(st, 5, r->review_ticket, sizeof r->review_ticket);
    db_text(st, 6, r->rotation_id, sizeof r->rotation_id);
    if (!mechanism_of_name((const char *)sqlite3_column_text(st, 7), &r->mechanism))
        r->mechanism = MECH_PUK;
}

/* Expiry is applied when a request is read: no timer thread needed. */
static struct ca_problem apply_expiry(struct ca *ca, struct unlock_request *r)
{
    if (r->state == RS_COMPLETED || r->state == RS_EXPIRED || time(NULL) < r->expires_at)
        return ca_ok();
    r->state = RS_EXPIRED;
    return request_set_state(ca->db, r->id, RS_EXPIRED) ? ca_ok() : ca_fail(CA_INTERNAL);
}

static struct ca_problem load_where(struct ca *ca, const char *sql, const char *key,
                                    struct unlock_request *out)
{
    DB_STMT *st = db_prepare(ca->db, sql, "s", key);
    bool failed = false;

    memset(out, 0, sizeof *out);
    if (!st)
        return ca_fail(CA_INTERNAL);
    if (!db_row(st, &failed))
        return ca_fail(failed ? CA_INTERNAL : CA_REQUEST_UNKNOWN);
    read_request(st, out);
    return apply_expiry(ca, out);
}

#define REQUEST_COLUMNS \
    "SELECT id, token_id, state, expires_at, order_id, review_ticket, rotation_id, mechanism " \
    "FROM requests "

struct ca_problem request_load(struct ca *ca, const char *id, struct unlock_request *out)
{
    return load_where(ca, REQUEST_COLUMNS "WHERE id = ?", id, out);
}

struct ca_problem request_load_by_ticket(struct ca *ca, const char *ticket,
                                         struct unlock_request *out)
{
    return load_where(ca, REQUEST_COLUMNS "WHERE review_ticket = ?", ticket, out);
}

struct ca_problem request_reoffer(struct ca *ca, struct unlock_request *r, unsigned offered)
{
    struct ca_problem p = mechanism_choose(ca->db, r->token_id, offered, &r->mechanism);

    if (p.code != CA_OK)
        return p;
    return db_exec(ca->db, "UPDATE requests SET mechanism = ? WHERE id = ?", "ss",
                   mechanism_name(r->mechanism), r->id) == 1 ? ca_ok() : ca_fail(CA_INTERNAL);
}

struct ca_problem request_state_conflict(const struct unlock_request *r)
{
    struct ca_problem p = ca_fail(CA_STATE_CONFLICT);

    p.state = req_state_name(r->state);
    return p;
}

struct ca_problem request_in_identity_phase(const struct unlock_request *r)
{
    switch (r->state) {
    case RS_EXPIRED:
        return ca_fail(CA_REQUEST_EXPIRED);
    case RS_AWAITING_PAYMENT:
        return ca_fail(CA_PAYMENT_REQUIRED);
    case RS_AUTHORIZED:
    case RS_COMPLETED:
        return request_state_conflict(r);
    default:
        return ca_ok();
    }
}

/* --- the view ------------------------------------------------------------ */

static json_t *fee_view(struct ca *ca, const struct unlock_request *r, const struct token_rec *t)
{
    char amount[CA_AMOUNT_MAX];
    struct order o;

    if (!r->order_id[0])
        return json_pack("{s:b, s:s, s:s, s:b, s:n}", "required", 0, "amount", "0.00",
                         "currency", t->currency, "paid", 0, "orderId");
    if (order_load(ca->db, r->order_id, &o) != CA_OK)
        return NULL;
    text_format_amount(o.amount_cents, amount, sizeof amount);
    return json_pack("{s:b, s:s, s:s, s:b, s:s}", "required", 1, "amount", amount, "currency",
                     o.currency, "paid", o.paid, "orderId", o.id);
}

/* The latest review of the request: null, or {state, reason}. */
static json_t *review_view(sqlite3 *db, const char *request_id)
{
    DB_STMT *st = db_prepare(db, "SELECT state, reason FROM reviews WHERE request_id = ? "
                                 "ORDER BY created_at DESC, rowid DESC LIMIT 1", "s", request_id);
    char state[REVIEW_STATE_MAX], reason[REASON_MAX];
    bool failed = false;

    if (!st)
        return NULL;
    if (!db_row(st, &failed))
        return failed ? NULL : json_null();
    db_text(st, 0, state, sizeof state);
    db_text(st, 1, reason, sizeof reason);
    if (sqlite3_column_type(st, 1) == SQLITE_NULL)
        return json_pack("{s:s, s:n}", "state", state, "reason");
    return json_pack("{s:s, s:s}", "state", state, "reason", reason);
}

static json_t *url_or_null(const char *base, const char *path, const char *id)
{
    char url[URL_MAX];

    if (!id[0])
        return json_null();
    snprintf(url, sizeof url, "%s%s%s", base, path, id);
    return json_string(url);
}

json_t *request_view(struct ca *ca, const struct unlock_request *r)
{
    char masked[CA_PHONE_MAX + sizeof "****"], expires[CA_TIME_MAX];
    struct token_rec t;

    if (token_load(ca->db, r->token_id, &t) != CA_OK)
        return NULL;
    text_mask_phone(t.phone, masked, sizeof masked);
    text_format_time(r->expires_at, expires, sizeof expires);
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:[ss], s:o, s:o, s:s}",
                     "requestId", r->id, "tokenId", r->token_id,
                     "state", req_state_name(r->state),
                     "mechanism", mechanism_name(r->mechanism),
                     "fee", fee_view(ca, r, &t),
                     "paymentUrl", url_or_null(ca->public_url, "/pay/", r->order_id),
                     "maskedPhone", masked,
                     "methods", "sms", "review",
                     "reviewUrl", url_or_null(ca->public_url, "/review/", r->review_ticket),
                     "review", review_view(ca->db, r->id),
                     "expiresAt", expires);
}
