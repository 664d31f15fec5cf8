/* SPDX-License-Identifier: MIT */
/*
 * api/v1/unlock_api.c — the remote unlock's routes: POST /v1/tokens/{id}/unlock,
 * GET /v1/unlock/{sid}, POST /v1/unlock/{sid}/sms, …/verify and …/complete.
 *
 * The portal sees ukeyd's session id, the fee, the masked phone and the
 * CA's payment and upload links; never the CA's request id, a rotation id or
 * a PUK. Phone numbers and codes are checked for form here (a malformed one
 * costs no attempt at the CA), passed on, and wiped with the request body.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/v1/errmap.h"
#include "api/v1/handlers.h"
#include "api/base/json.h"
#include "api/base/log.h"
#include "api/v1/pinrule.h"
#include "api/unlock/unlock.h"
#include "api/base/timeutil.h"
#include "api/base/scoped.h"

#define PHONE_DIGITS_MIN   5
#define PHONE_DIGITS_MAX   20
#define CODE_DIGITS        6
#define NUMBER_TEXT_MAX    16
#define HEADER_RETRY_AFTER "Retry-After"
/* POST /v1/tokens/{id}/unlock answers within about this from its arrival,
 * however long the CA service hangs (docs/api.md): the person is looking
 * at a spinner, and a start is cheap to try again. */
#define UNLOCK_START_BOUND_MS 5000
#define UNLOCK_START_MIN_MS   1        /* curl takes 0 as "no bound" */

#define N_FIELDS(a) (sizeof (a) / sizeof (a)[0])

/* --- answers ------------------------------------------------------------------- */

/* The service may name a member it refused; only ours are named back. */
static const char *our_field(const char *field)
{
    static const char *const ours[] = { "phone", "smsCode", "unlockCode" };

    for (size_t i = 0; i < N_FIELDS(ours); i++)
        if (strcmp(field, ours[i]) == 0)
            return ours[i];
    return NULL;
}

static void respond_ca_error(struct request *r, ca_err err, const struct ca_refusal *why)
{
    struct problem p = problem_of(errmap_ca(err));
    char retry[NUMBER_TEXT_MAX];

    p.attempts_left = why->attempts_left;
    p.retry_after_s = why->retry_after_s;
    if (p.code == API_UNLOCK_STATE_CONFLICT && why->state[0])
        p.state = why->state;
    if (p.code == API_BAD_REQUEST) {
        p.field = our_field(why->field);
        p.reason = REASON_BAD_FORMAT;
    }
    if (p.code == API_RATE_LIMITED && p.retry_after_s > 0) {
        snprintf(retry, sizeof retry, "%u", p.retry_after_s);
        respond_problem_header(r, &p, HEADER_RETRY_AFTER, retry);
        return;
    }
    respond_problem(r, &p);
}

/* A CA refusal about a session's request; a request the CA no longer has, or
 * a PUK record the CA itself holds wrong, ends the session. */
static void respond_session_ca_error(struct request *r, struct unlock_service *u,
                                     const struct unlock_session *s, ca_err err,
                                     const struct ca_refusal *why)
{
    if (err == CA_E_REQUEST_EXPIRED || err == CA_E_REQUEST_UNKNOWN ||
        err == CA_E_PUK_RECORD_MISMATCH)
        session_expire(unlock_sessions(u), s->sid);
    respond_ca_error(r, err, why);
}

static json_t *render_methods(const struct ca_request *q)
{
    json_t *list = json_array();

    if (list && ((q->method_sms && json_array_append_new(list, json_string("sms"))) ||
                 (q->method_review && json_array_append_new(list, json_string("review"))))) {
        json_decref(list);
        return NULL;
    }
    return list;
}

static json_t *render_review(const struct ca_request *q)
{
    if (q->review == CA_REVIEW_NONE)
        return json_null();
    return json_pack("{s:s, s:o}", "state", ca_review_name(q->review), "reason",
                     json_string_or_null(q->review_reason));
}

/* The session as the portal sees it: the CA's request less its capabilities. */
static json_t *render_session(const struct unlock_session *s, const struct ca_request *q)
{
    return json_pack("{s:s, s:s, s:s, s:{s:b, s:s, s:s, s:b}, s:o, s:s, s:o, s:o, s:o, s:s}",
                     "sessionId", s->sid, "tokenId", s->token_id, "state",
                     ca_state_name(q->state), "fee", "required", q->fee_required, "amount",
                     q->fee_amount, "currency", q->fee_currency, "paid", q->fee_paid,
                     "paymentUrl", json_string_or_null(q->payment_url), "maskedPhone",
                     q->masked_phone, "methods", render_methods(q), "reviewUrl",
                     json_string_or_null(q->review_url), "review", render_review(q), "expiresAt",
                     q->expires_at);
}

/* --- what every route needs ------------------------------------------------------- */

/* The unlock service, or NULL when it is off (answered). */
static struct unlock_service *unlock_of(struct request *r)
{
    if (unlock_enabled(r->ctx->unlock))
        return r->ctx->unlock;
    respond_code(r, API_UNLOCK_NOT_CONFIGURED);
    return NULL;
}

static bool find_session(struct request *r, struct unlock_service *u, struct unlock_session *s)
{
    switch (session_find(unlock_sessions(u), request_param(r, "sid"), s)) {
    case SESSION_FOUND:
        return true;
    case SESSION_EXPIRED:
        respond_code(r, API_UNLOCK_SESSION_EXPIRED);
        return false;
    case SESSION_NOT_FOUND:
        break;
    }
    respond_code(r, API_UNLOCK_SESSION_NOT_FOUND);
    return false;
}

static bool digits_between(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);

    return n >= min && n <= max && strspn(s, "0123456789") == n;
}

static void clear_session(struct unlock_session *s)
{
    OPENSSL_cleanse(s, sizeof *s);
}

#define SCOPED_SESSION SCOPED(clear_session) struct unlock_session

static void clear_request(struct ca_request *q)
{
    ca_request_clear(q);
}

#define SCOPED_CA_REQUEST SCOPED(clear_request) struct ca_request

/* --- POST /v1/tokens/{id}/unlock --------------------------------------------------- */

/* What is left of the start's bound, counted from the request's arrival
 * (queueing for a thread, and recovering an earlier attempt, included). */
static unsigned start_time_left_ms(const struct request *r)
{
    struct timespec now;
    long spent;

    clock_gettime(CLOCK_MONOTONIC, &now);
    spent = (now.tv_sec - r->started.tv_sec) * MS_PER_SEC +
            (now.tv_nsec - r->started.tv_nsec) / NS_PER_MS;
    return spent >= UNLOCK_START_BOUND_MS - UNLOCK_START_MIN_MS
               ? UNLOCK_START_MIN_MS
               : (unsigned)(UNLOCK_START_BOUND_MS - spent);
}

/* The certificate the CA knows the token by: any decoded one will do. */
static const struct token_cert *identifying_cert(const struct token_snapshot *s)
{
    for (size_t i = 0; i < s->n_certs; i++)
        if (s->certs[i].summary && s->certs[i].summary->serial_hex)
            return &s->certs[i];
    return NULL;
}

void handle_unlock_open(struct request *r)
{
    SCOPED_JSON *body = request_body_fields(r, NULL, 0);
    SCOPED_SNAPSHOT *s = NULL;
    SCOPED_SESSION sess = { 0 };
    SCOPED_CA_REQUEST q = { 0 };
    struct unlock_service *u;
    const struct token_cert *cert;
    struct ca_offer offer;
    struct ca_refusal why;
    ca_err err;

    if (!body || !(u = unlock_of(r)) || !(s = request_token(r)))
        return;
    if (!(cert = identifying_cert(s))) {
        respond_code(r, API_CERTIFICATE_NOT_FOUND);
        return;
    }
    /* A new attempt: first finish what an interruption left on this token. */
    unlock_recover_token(u, s->id);
    offer = rotation_offer_of(s);
    err = ca_open_request(unlock_ca(u), s->id, cert->summary->serial_hex,
                          cert->summary->issuer.display, &offer, start_time_left_ms(r), &q, &why);
    if (err != CA_OK) {
        respond_ca_error(r, err, &why);
        return;
    }
    if (session_open(unlock_sessions(u), s->id, q.id, &sess) < 0) {
        respond_code(r, API_INTERNAL);
        return;
    }
    log_msg(LOG_NOTICE, &(struct log_fields){ .token_id = s->id, .request_id = r->id },
            "unlock: session opened (%s)", ca_state_name(q.state));
    respond_json(r, MHD_HTTP_CREATED, render_session(&sess, &q));
}

/* --- GET /v1/unlock/{sid} ------------------------------------------------------------ */

void handle_unlock_get(struct request *r)
{
    SCOPED_SESSION sess = { 0 };
    SCOPED_CA_REQUEST q = { 0 };
    struct unlock_service *u;
    struct ca_refusal why;
    ca_err err;

    if (!(u = unlock_of(r)) || !find_session(r, u, &sess))
        return;
    err = ca_get_request(unlock_ca(u), sess.request_id, &q, &why);
    if (err != CA_OK) {
        respond_session_ca_error(r, u, &sess, err, &why);
        return;
    }
    respond_json(r, MHD_HTTP_OK, render_session(&sess, &q));
}

/* --- POST /v1/unlock/{sid}/sms --------------------------------------------------------- */

void handle_unlock_sms(struct request *r)
{
    const char *phone = NULL;
    const struct body_field fields[] = {
        { "phone", BODY_STRING, true, &phone, NULL },
    };
    SCOPED_JSON *body = request_body_fields(r, fields, N_FIELDS(fields));
    SCOPED_SESSION sess = { 0 };
    struct unlock_service *u;
    struct ca_sms_sent sent;
    struct ca_refusal why;
    ca_err err;

    if (!body || !(u = unlock_of(r)))
        return;
    if (!digits_between(phone, PHONE_DIGITS_MIN, PHONE_DIGITS_MAX)) {
        respond_bad_field(r, "phone", REASON_BAD_FORMAT);
        return;
    }
    if (!find_session(r, u, &sess))
        return;
    err = ca_send_sms(unlock_ca(u), sess.request_id, phone, &sent, &why);
    if (err != CA_OK) {
        respond_session_ca_error(r, u, &sess, err, &why);
        return;
    }
    respond_json(r, MHD_HTTP_OK,
                 json_pack("{s:b, s:I, s:I}", "sent", 1, "resendAfter",
                           (json_int_t)sent.resend_after_s, "expiresIn",
                           (json_int_t)sent.expires_in_s));
}

/* --- POST /v1/unlock/{sid}/verify ------------------------------------------------------ */

/* Exactly one of the two codes, six digits; false (answered) otherwise. */
static bool pick_code(struct request *r, const char *sms, const char *unlock,
                      enum ca_code_kind *kind, const char **code)
{
    if (sms && unlock) {
        respond_bad_field(r, "unlockCode", REASON_EXCLUSIVE);
        return false;
    }
    if (!sms && !unlock) {
        respond_bad_field(r, "smsCode", REASON_MISSING);
        return false;
    }
    *kind = sms ? CA_CODE_SMS : CA_CODE_UNLOCK;
    *code = sms ? sms : unlock;
    if (!digits_between(*code, CODE_DIGITS, CODE_DIGITS)) {
        respond_bad_field(r, sms ? "smsCode" : "unlockCode", REASON_BAD_FORMAT);
        return false;
    }
    return true;
}

void handle_unlock_verify(struct request *r)
{
    const char *sms = NULL, *unlock = NULL, *code = NULL;
    const struct body_field fields[] = {
        { "smsCode", BODY_STRING, false, &sms, NULL },
        { "unlockCode", BODY_STRING, false, &unlock, NULL },
    };
    SCOPED_JSON *body = request_body_fields(r, fields, N_FIELDS(fields));
    SCOPED_SESSION sess = { 0 };
    SCOPED_CA_REQUEST q = { 0 };
    enum ca_code_kind kind = CA_CODE_SMS;
    struct unlock_service *u;
    struct ca_refusal why;
    ca_err err;

    if (!body || !(u = unlock_of(r)) || !pick_code(r, sms, unlock, &kind, &code) ||
        !find_session(r, u, &sess))
        return;
    err = ca_verify(unlock_ca(u), sess.request_id, kind, code, &q, &why);
    if (err != CA_OK) {
        respond_session_ca_error(r, u, &sess, err, &why);
        return;
    }
    log_msg(LOG_NOTICE, &(struct log_fields){ .token_id = sess.token_id, .request_id = r->id },
            "unlock: identity proven (%s)", kind == CA_CODE_SMS ? "SMS code" : "unlock code");
    respond_json(r, MHD_HTTP_OK, render_session(&sess, &q));
}

/* --- POST /v1/unlock/{sid}/complete ---------------------------------------------------- */

static bool same_text(const char *a, const char *b)
{
    size_t n = strlen(a);

    return n == strlen(b) && CRYPTO_memcmp(a, b, n) == 0;
}

/* The session's token as it is now; a session whose token is gone answers TOKEN_REMOVED. */
static struct token_snapshot *session_token(struct request *r, const struct unlock_session *s)
{
    struct token_snapshot *snap = NULL;
    token_err err = token_service_get(request_tokens(r), s->token_id, &snap);

    if (err == TOKEN_OK)
        return snap;
    respond_token_error(r, err == TOKEN_E_TOKEN_NOT_FOUND ? TOKEN_E_TOKEN_REMOVED : err, -1);
    return NULL;
}

static void respond_unlock_error(struct request *r, struct unlock_service *u,
                                 const struct unlock_session *s, const struct unlock_error *e)
{
    switch (e->kind) {
    case UNLOCK_ERR_TOKEN:
        respond_token_error(r, e->token, e->tries_left);
        return;
    case UNLOCK_ERR_CA:
        respond_session_ca_error(r, u, s, e->ca, &e->refusal);
        return;
    /* The unlock's one wrong PUK is spent: no second try in this session. */
    case UNLOCK_ERR_RECORD_MISMATCH:
        session_expire(unlock_sessions(u), s->sid);
        respond_code(r, API_UNLOCK_RECORD_MISMATCH);
        return;
    case UNLOCK_ERR_JOURNAL:
        break;
    }
    respond_code(r, API_INTERNAL);
}

void handle_unlock_complete(struct request *r)
{
    const char *new_pin = NULL, *confirm = NULL;
    const struct body_field fields[] = {
        { "newPin", BODY_STRING, true, &new_pin, NULL },
        { "confirmNewPin", BODY_STRING, false, &confirm, NULL },
    };
    SCOPED_JSON *body = request_body_fields(r, fields, N_FIELDS(fields));
    SCOPED_SESSION sess = { 0 };
    SCOPED_SNAPSHOT *s = NULL;
    struct unlock_service *u;
    struct unlock_error e;
    int tries = -1;

    if (!body || !(u = unlock_of(r)) || !find_session(r, u, &sess))
        return;
    if (confirm && !same_text(confirm, new_pin)) {
        respond_bad_field(r, "confirmNewPin", REASON_NOT_MATCHING);
        return;
    }
    if (!(s = session_token(r, &sess)) || !new_pin_acceptable(r, &s->pin, new_pin, NULL))
        return;
    if (unlock_complete(u, sess.token_id, sess.request_id, new_pin, &tries, &e) < 0) {
        respond_unlock_error(r, u, &sess, &e);
        return;
    }
    log_msg(LOG_NOTICE, &(struct log_fields){ .token_id = sess.token_id, .request_id = r->id },
            "unlock: completed");
    respond_json(r, MHD_HTTP_OK,
                 json_pack("{s:b, s:s, s:o}", "completed", 1, "tokenId", sess.token_id,
                           "triesLeft", tries >= 0 ? json_integer(tries) : json_null()));
}
