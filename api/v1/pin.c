/* SPDX-License-Identifier: MIT */
/*
 * api/v1/pin.c — GET /v1/tokens/{id}/pin, POST …/pin/verify and …/pin/change.
 *
 * Before the card is asked, each PIN in the body is checked against the
 * token's policy (a malformed PIN never costs a try), a new PIN also against
 * the old one and the too simple ones, and the last try is
 * only ever spent when the body says "confirmLastTry": true; the token layer
 * makes that check and the attempt inside one card transaction. PINs live in
 * the parsed body alone, which is wiped when it is released.
 */
#include "api/v1/handlers.h"
#include "api/base/json.h"
#include "api/v1/pinrule.h"
#include "api/render/render.h"
#include "api/base/scoped.h"

void handle_pin(struct request *r)
{
    struct token_pin_info pin = { 0 };
    token_err err = token_service_pin_info(request_tokens(r), request_param(r, "id"), &pin);

    if (err != TOKEN_OK) {
        respond_token_error(r, err, -1);
        return;
    }
    respond_json(r, MHD_HTTP_OK, render_pin(&pin));
}

static unsigned pin_flags(bool confirm_last_try)
{
    return confirm_last_try ? TOKEN_PIN_ALLOW_LAST_TRY : 0;
}

static void respond_pin_result(struct request *r, token_err err, const char *done_member,
                               int tries_left)
{
    if (err != TOKEN_OK) {
        respond_token_error(r, err, tries_left);
        return;
    }
    respond_json(r, MHD_HTTP_OK,
                 json_pack("{s:b, s:o}", done_member, 1, "triesLeft",
                           tries_left >= 0 ? json_integer(tries_left) : json_null()));
}

void handle_pin_verify(struct request *r)
{
    const char *pin = NULL;
    bool confirm = false;
    const struct body_field fields[] = {
        { "pin", BODY_STRING, true, &pin, NULL },
        { "confirmLastTry", BODY_BOOL, false, NULL, &confirm },
    };
    SCOPED_JSON *body = request_body_fields(r, fields, sizeof fields / sizeof fields[0]);
    SCOPED_SNAPSHOT *s = NULL;
    int tries = -1;
    token_err err;

    if (!body || !(s = request_token(r)) || !pin_acceptable(r, &s->pin, "pin", pin))
        return;
    err = token_service_verify_pin(request_tokens(r), s->id, pin, pin_flags(confirm), &tries);
    respond_pin_result(r, err, "verified", tries);
}

void handle_pin_change(struct request *r)
{
    const char *old_pin = NULL, *new_pin = NULL;
    bool confirm = false;
    const struct body_field fields[] = {
        { "oldPin", BODY_STRING, true, &old_pin, NULL },
        { "newPin", BODY_STRING, true, &new_pin, NULL },
        { "confirmLastTry", BODY_BOOL, false, NULL, &confirm },
    };
    SCOPED_JSON *body = request_body_fields(r, fields, sizeof fields / sizeof fields[0]);
    SCOPED_SNAPSHOT *s = NULL;
    int tries = -1;
    token_err err;

    if (!body || !(s = request_token(r)) || !pin_acceptable(r, &s->pin, "oldPin", old_pin) ||
        !new_pin_acceptable(r, &s->pin, new_pin, old_pin))
        return;
    err = token_service_change_pin(request_tokens(r), s->id, old_pin, new_pin, pin_flags(confirm),
                                   &tries);
    respond_pin_result(r, err, "changed", tries);
}
