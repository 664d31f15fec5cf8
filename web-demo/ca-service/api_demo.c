/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/api_demo.c — the demo's JSON API: simulated payment,
 * the SMS outbox, and the review queue with its decisions. None of this is
 * part of the unlock protocol; a real CA has a payment provider, an SMS
 * gateway and a staff console with authentication instead.
 */
#include <stdlib.h>
#include <string.h>

#include "certreq.h"
#include "handlers.h"
#include "payment.h"
#include "review.h"
#include "secret.h"
#include "sms.h"
#include "text.h"

#define DECIMAL_BASE 10

static void reply_or_internal(struct http_req *r, json_t *body)
{
    struct ca_problem p = ca_fail(CA_INTERNAL);

    if (body)
        reply_json(r, HTTP_OK, body);
    else
        reply_problem(r, &p);
}

/* {"invoice": {"title", "taxNumber", "phone", "email"}}, every part optional. */
static bool invoice_from_json(json_t *body, struct invoice *inv, struct ca_problem *p)
{
    json_t *j = json_object_get(body, "invoice");
    json_error_t err;

    *inv = (struct invoice){ "", "", "", "" };
    if (j && !json_is_null(j) &&
        json_unpack_ex(j, &err, 0, "{s?s, s?s, s?s, s?s}", "title", &inv->title, "taxNumber",
                       &inv->tax_number, "phone", &inv->phone, "email", &inv->email)) {
        *p = ca_bad_field("invoice");
        return false;
    }
    return true;
}

void demo_pay(struct http_req *r)
{
    struct ca_problem p = ca_ok();
    json_auto_t *body = req_json_object(r, &p);
    struct invoice inv;
    const char *bad;

    if (body && invoice_from_json(body, &inv, &p)) {
        if ((bad = invoice_bad_field(&inv)))
            p = ca_bad_field(bad);
        else
            p = order_pay(r->ca->db, r->captures[0], &inv);
    }
    if (p.code != CA_OK) {
        reply_problem(r, &p);
        return;
    }
    reply_or_internal(r, json_pack("{s:s, s:b}", "orderId", r->captures[0], "paid", 1));
}

void demo_order(struct http_req *r)
{
    enum ca_code code = CA_OK;
    json_t *view = order_view(r->ca->db, r->captures[0], &code);
    struct ca_problem p = ca_fail(code);

    if (view)
        reply_json(r, HTTP_OK, view);
    else
        reply_problem(r, &p);
}

/* Read by people (a browser tab, curl), not by programs: readable UTF-8. */
static void reply_readable_or_internal(struct http_req *r, json_t *body)
{
    struct ca_problem p = ca_fail(CA_INTERNAL);

    if (body)
        reply_json_readable(r, HTTP_OK, body);
    else
        reply_problem(r, &p);
}

void demo_outbox(struct http_req *r)
{
    reply_readable_or_internal(r, sms_outbox(r->ca->db, req_query(r, "phone")));
}

void demo_reviews(struct http_req *r)
{
    reply_readable_or_internal(r, review_list(r->ca->db));
}

void demo_approve(struct http_req *r)
{
    struct review_decision d;
    struct ca_problem p = review_approve(r->ca, r->captures[0], &d);
    char when[CA_TIME_MAX];

    if (p.code != CA_OK) {
        reply_problem(r, &p);
        return;
    }
    text_format_time(d.expires_at, when, sizeof when);
    reply_or_internal(r, json_pack("{s:s, s:s, s:s, s:s}", "reviewId", r->captures[0],
                                   "state", "approved", "unlockCode", d.unlock_code,
                                   "expiresAt", when));
    secret_wipe(d.unlock_code, sizeof d.unlock_code);
}

void demo_reject(struct http_req *r)
{
    struct ca_problem p = ca_ok();
    json_auto_t *body = req_json_object(r, &p);
    const char *reason = body ? json_string_value(json_object_get(body, "reason")) : NULL;

    if (body && (!reason || !*reason || strlen(reason) > REVIEW_REASON_MAX))
        p = ca_bad_field("reason");
    if (p.code == CA_OK)
        p = review_reject(r->ca, r->captures[0], reason);
    if (p.code != CA_OK) {
        reply_problem(r, &p);
        return;
    }
    reply_or_internal(r, json_pack("{s:s, s:s, s:s}", "reviewId", r->captures[0], "state",
                                   "rejected", "reason", reason));
}

/* Only types a browser shows safely inline in a sandbox; the rest as bytes. */
static const char *served_type(const char *stored)
{
    static const char *const safe[] = { "image/png", "image/jpeg", "application/pdf" };

    for (size_t i = 0; i < sizeof safe / sizeof safe[0]; i++)
        if (strcmp(stored, safe[i]) == 0)
            return safe[i];
    return "application/octet-stream";
}

typedef struct ca_problem (*material_fetcher)(sqlite3 *db, const char *owner, long id,
                                              struct stored_material *out);

/* /…/{owner}/materials/{id}: an uploaded file, as an attachment. */
static void reply_material(struct http_req *r, material_fetcher fetch)
{
    struct stored_material m;
    char *end = NULL;
    long id = strtol(r->captures[1], &end, DECIMAL_BASE);
    struct ca_problem p = *end ? ca_fail(CA_NOT_FOUND) : fetch(r->ca->db, r->captures[0], id, &m);

    if (p.code != CA_OK) {
        reply_problem(r, &p);
        return;
    }
    reply_bytes(r, served_type(m.content_type), m.data, m.len);
}

void demo_material(struct http_req *r)
{
    reply_material(r, review_material);
}

void demo_cert_material(struct http_req *r)
{
    reply_material(r, certreq_material);
}
