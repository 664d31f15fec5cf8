/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/api_unlock.c — the unlock protocol's endpoints
 * (docs/unlock-protocol.md): JSON in, JSON or problem+json out. Each handler
 * checks the body's shape, then leaves the rules to requests.c, sms.c,
 * codes.c and rotation.c.
 */
#include <stdio.h>
#include <string.h>

#include "codes.h"
#include "handlers.h"
#include "requests.h"
#include "rotation.h"
#include "sms.h"
#include "text.h"
#include "unblock.h"

#define LOCATION_MAX 128
#define PUK_TRIES_MAX 15
#define CHALLENGE_HEX_MAX (2 * UNBLOCK_CHALLENGE_MAX + 1)

/* A string member no longer than max - 1; NULL (and *p set) when it is not. */
static const char *member_string(json_t *body, const char *name, size_t max,
                                 struct ca_problem *p)
{
    const char *s = json_string_value(json_object_get(body, name));

    if (!s || !*s || strlen(s) >= max) {
        *p = ca_bad_field(name);
        return NULL;
    }
    return s;
}

static void reply_view(struct http_req *r, unsigned status, const struct unlock_request *req)
{
    json_t *view = request_view(r->ca, req);
    struct ca_problem p = ca_fail(CA_INTERNAL);

    if (view)
        reply_json(r, status, view);
    else
        reply_problem(r, &p);
}

/* The request named by the path, or a problem answered already. */
static bool load_request(struct http_req *r, struct unlock_request *req)
{
    struct ca_problem p = request_load(r->ca, r->captures[0], req);

    if (p.code != CA_OK)
        reply_problem(r, &p);
    return p.code == CA_OK;
}

void api_health(struct http_req *r)
{
    reply_json(r, HTTP_OK, json_pack("{s:s, s:s, s:s}", "service", "ukey-ca", "protocol",
                                     "unlock/v1", "status", "ok"));
}

void api_open(struct http_req *r)
{
    struct ca_problem p = ca_ok();
    json_auto_t *body = req_json_object(r, &p);
    const char *token_id, *serial, *issuer;
    struct unlock_request req;
    char location[LOCATION_MAX];
    unsigned offered = 0;

    if (body && (token_id = member_string(body, "tokenId", CA_TOKEN_ID_MAX, &p)) &&
        (serial = member_string(body, "certSerial", CA_SERIAL_MAX, &p)) &&
        (issuer = member_string(body, "certIssuer", CA_ISSUER_MAX, &p)) &&
        (p = mechanism_offer(body, &offered)).code == CA_OK)
        p = request_open(r->ca, token_id, serial, issuer, offered, &req);
    if (p.code != CA_OK) {
        reply_problem(r, &p);
        return;
    }
    reply_view(r, HTTP_CREATED, &req);
    snprintf(location, sizeof location, "/unlock/v1/requests/%s", req.id);
    if (r->resp && r->status == HTTP_CREATED)
        MHD_add_response_header(r->resp, MHD_HTTP_HEADER_LOCATION, location);
}

void api_get(struct http_req *r)
{
    struct unlock_request req;

    if (load_request(r, &req))
        reply_view(r, HTTP_OK, &req);
}

void api_sms(struct http_req *r)
{
    struct ca_problem p = ca_ok();
    json_auto_t *body = req_json_object(r, &p);
    struct unlock_request req;
    const char *phone = NULL;

    if (body && (phone = member_string(body, "phone", CA_PHONE_MAX, &p)) &&
        !text_is_digits(phone, CA_PHONE_MIN_DIGITS, CA_PHONE_MAX_DIGITS))
        p = ca_bad_field("phone");
    if (p.code != CA_OK) {
        reply_problem(r, &p);
        return;
    }
    if (!load_request(r, &req))
        return;
    if ((p = sms_send(r->ca, &req, phone)).code != CA_OK) {
        reply_problem(r, &p);
        return;
    }
    reply_json(r, HTTP_ACCEPTED, json_pack("{s:I, s:I}",
                                           "resendAfter", (json_int_t)r->ca->t.sms_resend_s,
                                           "expiresIn", (json_int_t)r->ca->t.sms_code_ttl_s));
}

/* Exactly one of smsCode and unlockCode, six digits. */
static const char *code_member(json_t *body, enum code_kind *kind, struct ca_problem *p)
{
    const char *sms = json_string_value(json_object_get(body, "smsCode"));
    const char *unlock = json_string_value(json_object_get(body, "unlockCode"));
    const char *given = sms ? sms : unlock;

    *kind = sms ? CODE_SMS : CODE_UNLOCK;
    if ((sms && unlock) || !text_is_digits(given, CA_CODE_DIGITS, CA_CODE_DIGITS)) {
        *p = ca_bad_field(sms || !unlock ? "smsCode" : "unlockCode");
        return NULL;
    }
    return given;
}

void api_verify(struct http_req *r)
{
    struct ca_problem p = ca_ok();
    json_auto_t *body = req_json_object(r, &p);
    struct unlock_request req;
    enum code_kind kind = CODE_SMS;
    const char *code = body ? code_member(body, &kind, &p) : NULL;

    if (p.code != CA_OK) {
        reply_problem(r, &p);
        return;
    }
    if (!load_request(r, &req))
        return;
    /* a retry of a verify whose answer was lost: the request is authorised already */
    if (req.state != RS_AUTHORIZED &&
        ((p = request_in_identity_phase(&req)).code != CA_OK ||
         (p = codes_verify(r->ca, &req, kind, code)).code != CA_OK)) {
        reply_problem(r, &p);
        return;
    }
    req.state = RS_AUTHORIZED;
    reply_view(r, HTTP_OK, &req);
}

static void reply_result(struct http_req *r, const struct ca_problem *p, json_t *out)
{
    if (p->code != CA_OK)
        reply_problem(r, p);
    else
        reply_json(r, HTTP_OK, out);
}

/* An optional body: the token's offer again (a client from before
 * mechanisms were named sends none, and the request's choice stands). */
static unsigned authorize_offer(struct http_req *r, struct ca_problem *p)
{
    json_auto_t *body = NULL;
    unsigned offered = 0;

    if (!r->body_len)
        return 0;
    if ((body = req_json_object(r, p)) && json_object_get(body, "mechanisms"))
        *p = mechanism_offer(body, &offered);
    return offered;
}

void api_authorize(struct http_req *r)
{
    struct unlock_request req;
    struct ca_problem p = ca_ok();
    unsigned offered = authorize_offer(r, &p);
    json_t *out = NULL;

    if (p.code != CA_OK) {
        reply_problem(r, &p);
        return;
    }
    if (!load_request(r, &req))
        return;
    p = rotation_authorize(r->ca, &req, offered, &out);
    reply_result(r, &p, out);
}

/* pinReset: optional, true unless the client says the PIN reset did not take. */
static bool pin_reset_member(json_t *body, struct ca_problem *p)
{
    json_t *j = json_object_get(body, "pinReset");

    if (j && !json_is_boolean(j))
        *p = ca_bad_field("pinReset");
    return !j || json_is_true(j);
}

void api_confirm(struct http_req *r)
{
    struct ca_problem p = ca_ok();
    json_auto_t *body = req_json_object(r, &p);
    const char *result = body ? member_string(body, "result", sizeof "unchanged", &p) : NULL;
    bool pin_reset = body ? pin_reset_member(body, &p) : true;
    json_t *out = NULL;

    if (p.code == CA_OK)
        p = rotation_confirm(r->ca, r->captures[0], result, pin_reset, &out);
    reply_result(r, &p, out);
}

/* pukTriesLeft: optional, 0 to 15 (what a card's counter answer can say); -1 when absent. */
static int puk_tries_member(json_t *body, struct ca_problem *p)
{
    json_t *j = json_object_get(body, "pukTriesLeft");
    json_int_t n = json_integer_value(j);

    if (!j)
        return -1;
    if (!json_is_integer(j) || n < 0 || n > PUK_TRIES_MAX)
        *p = ca_bad_field("pukTriesLeft");
    return (int)n;
}

void api_report(struct http_req *r)
{
    struct ca_problem p = ca_ok();
    json_auto_t *body = req_json_object(r, &p);
    const char *problem = body ? member_string(body, "cardRefused", sizeof "answer-incorrect", &p)
                               : NULL;
    int tries = body ? puk_tries_member(body, &p) : -1;
    json_t *out = NULL;

    if (p.code == CA_OK)
        p = rotation_report(r->ca, r->captures[0], problem, tries, &out);
    reply_result(r, &p, out);
}

void api_reconcile(struct http_req *r)
{
    json_t *out = NULL;
    struct ca_problem p = rotation_reconcile(r->ca, r->captures[0], &out);

    reply_result(r, &p, out);
}

/* {challenge: hex, pin}: the CA's answer for a remote-challenge rotation. */
void api_answer(struct http_req *r)
{
    struct ca_problem p = ca_ok();
    json_auto_t *body = req_json_object(r, &p);
    const char *challenge = body ? member_string(body, "challenge", CHALLENGE_HEX_MAX, &p) : NULL;
    const char *pin = challenge ? member_string(body, "pin", UNBLOCK_PIN_MAX + 1, &p) : NULL;
    json_t *out = NULL;

    if (pin && !text_is_digits(pin, UNBLOCK_PIN_MIN, UNBLOCK_PIN_MAX))
        p = ca_bad_field("pin");
    if (p.code == CA_OK)
        p = rotation_answer(r->ca, r->captures[0], challenge, pin, &out);
    reply_result(r, &p, out);
}
