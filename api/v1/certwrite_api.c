/* SPDX-License-Identifier: MIT */
/*
 * api/v1/certwrite_api.c — the certificate-write routes:
 * GET /v1/tokens/{id}/cert-actions and POST /v1/tokens/{id}/cert-actions/{number}.
 *
 * The portal sees the CA's approved actions by their request number; never
 * an actionId, a challenge or anything of the management key. A PIN (needed
 * to sign the CSR of a new key) is checked against the token's policy before
 * any card or network work, and lives in the parsed body alone, which is
 * wiped when it is released.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "api/certwrite/certwrite.h"
#include "api/v1/errmap.h"
#include "api/v1/handlers.h"
#include "api/base/json.h"
#include "api/base/log.h"
#include "api/v1/pinrule.h"
#include "api/render/render.h"
#include "api/base/scoped.h"

#define N_FIELDS(a) (sizeof (a) / sizeof (a)[0])

/* The certificate writes, or NULL when they are off (answered). */
static struct certwrite *certwrite_of(struct request *r)
{
    struct certwrite *cw = r->ctx->certwrite;

    if (!cw)
        respond_code(r, API_CERT_SERVICE_UNAVAILABLE);
    return cw;
}

static void respond_certwrite_error(struct request *r, const struct certwrite_error *e)
{
    struct problem p;

    switch (e->kind) {
    case CERTWRITE_ERR_TOKEN:
        respond_token_error(r, e->token, e->tries_left);
        return;
    case CERTWRITE_ERR_CA:
        p = problem_of(errmap_ca_cert(e->ca));
        if (p.code == API_CERT_ACTION_NOT_READY && e->refusal.state[0])
            p.state = e->refusal.state;
        respond_problem(r, &p);
        return;
    case CERTWRITE_ERR_PIN_MISSING:
        p = problem_of(API_BAD_REQUEST);
        p.field = "pin";
        p.reason = REASON_MISSING;
        respond_problem(r, &p);
        return;
    case CERTWRITE_ERR_CODE:
        break;
    }
    respond_code(r, errmap_certwrite(e->code));
}

/* --- GET /v1/tokens/{id}/cert-actions ------------------------------------------------- */

/* [{slot, role, oldSerial}]: the certificates the action re-issues, its own
 * first; a pair (signing and encryption) is carried out as one. */
static json_t *render_action_certs(const struct ca_action *a)
{
    json_t *list = json_array();

    for (size_t i = 0; list && i < a->n_certs; i++) {
        const struct ca_action_cert *c = &a->certs[i];

        if (json_array_append_new(list, json_pack("{s:s, s:s, s:o}", "slot", c->cert_id,
                                                  "role", ca_cert_role_name(c->role),
                                                  "oldSerial",
                                                  json_text_or_null(c->old_serial)))) {
            json_decref(list);
            return NULL;
        }
    }
    return list;
}

static json_t *render_item(const struct certwrite_item *item)
{
    const struct ca_action *a = &item->action;

    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:b, s:b, s:o, s:o}", "number",
                     a->number, "kind", ca_action_kind_name(a->kind), "state",
                     ca_action_state_name(a->state), "slot", ca_action_slot(a), "keyPolicy",
                     ca_key_policy_name(a->key_policy), "keyAlgorithm",
                     token_key_alg_name(a->key_alg), "subject", a->subject, "oldSerial",
                     json_text_or_null(a->old_serial), "expiresAt", a->expires_at, "needsPin",
                     item->needs_pin, "interrupted", item->interrupted, "expectedSerial",
                     json_text_or_null(item->expected_serial), "certificates",
                     render_action_certs(a));
}

static json_t *render_items(const char *token_id, const struct certwrite_item *items, size_t n)
{
    json_t *list = json_array();

    for (size_t i = 0; list && i < n; i++) {
        if (json_array_append_new(list, render_item(&items[i]))) {
            json_decref(list);
            list = NULL;
        }
    }
    return list ? json_pack("{s:s, s:o}", "tokenId", token_id, "actions", list) : NULL;
}

void handle_cert_actions(struct request *r)
{
    SCOPED_SNAPSHOT *s = NULL;
    struct certwrite_item *items = NULL;
    struct certwrite_error e;
    struct certwrite *cw;
    size_t n = 0;

    if (!(s = request_token(r)) || !(cw = certwrite_of(r)))
        return;
    if (certwrite_list(cw, s, &items, &n, &e) < 0) {
        respond_certwrite_error(r, &e);
        return;
    }
    respond_json(r, MHD_HTTP_OK, render_items(s->id, items, n));
    free(items);
}

/* --- POST /v1/tokens/{id}/cert-actions/{number} ------------------------------------------ */

/* The certificate now in the slot, as GET …/certificates/{slot} shows it. */
static json_t *render_slot_cert(struct request *r, const char *token_id, const char *slot)
{
    struct token_snapshot *now = NULL;
    const struct token_cert *c;
    json_t *v = NULL;

    if (token_service_get(request_tokens(r), token_id, &now) != TOKEN_OK)
        return json_null();
    c = render_find_cert(now, slot);
    v = c ? render_certificate(c) : json_null();
    token_snapshot_unref(now);
    return v;
}

/* [{slot, serial, certificate}]: every slot the action wrote, its own first. */
static json_t *render_written(struct request *r, const char *token_id,
                              const struct certwrite_outcome *out)
{
    json_t *list = json_array();

    for (size_t i = 0; list && i <= out->n_partners; i++) {
        const char *slot = i ? out->partners[i - 1].cert_id : out->cert_id;
        const char *serial = i ? out->partners[i - 1].serial : out->serial;

        if (json_array_append_new(list, json_pack("{s:s, s:s, s:o}", "slot", slot,
                                                  "serial", serial, "certificate",
                                                  render_slot_cert(r, token_id, slot)))) {
            json_decref(list);
            return NULL;
        }
    }
    return list;
}

void handle_cert_action_carry_out(struct request *r)
{
    const char *pin = NULL;
    bool confirm = false;
    const struct body_field fields[] = {
        { "pin", BODY_STRING, false, &pin, NULL },
        { "confirmLastTry", BODY_BOOL, false, NULL, &confirm },
    };
    SCOPED_JSON *body = request_body_fields(r, fields, N_FIELDS(fields));
    const char *number = request_param(r, "number");
    SCOPED_SNAPSHOT *s = NULL;
    struct certwrite_outcome out;
    struct certwrite_error e;
    struct certwrite *cw;

    if (!body || !(s = request_token(r)))
        return;
    if (!ca_action_number_valid(number)) {
        respond_code(r, API_CERT_ACTION_NOT_FOUND);
        return;
    }
    if (!(cw = certwrite_of(r)) || !pin_acceptable(r, &s->pin, "pin", pin))
        return;
    if (certwrite_carry_out(cw, s, number, pin,
                            confirm ? TOKEN_PIN_ALLOW_LAST_TRY : 0, &out, &e) < 0) {
        /* The journal keeps what the service must still answer or hear. */
        if (e.kind == CERTWRITE_ERR_CA && e.ca == CA_E_UNAVAILABLE)
            recovery_worker_wake(r->ctx->recovery);
        respond_certwrite_error(r, &e);
        return;
    }
    if (!out.confirmed)
        recovery_worker_wake(r->ctx->recovery);
    log_msg(LOG_NOTICE, &(struct log_fields){ .token_id = s->id, .request_id = r->id },
            "certificate: action %s carried out (%s)", number,
            out.confirmed ? "done" : "written, confirmation pending");
    respond_json(r, MHD_HTTP_OK,
                 json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "number", number, "kind",
                           ca_action_kind_name(out.kind), "slot", out.cert_id, "state",
                           out.confirmed ? "done" : "written", "serial", out.serial,
                           "certificate", render_slot_cert(r, s->id, out.cert_id), "certificates",
                           render_written(r, s->id, &out)));
}
