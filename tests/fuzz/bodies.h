/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/bodies.h — the JSON bodies the POST handlers take, as field
 * lists for body_parse, and what a handler does with a body before it
 * touches a card: the PIN policy check, or the BAD_REQUEST / PIN_POLICY
 * problem it answers with.
 *
 * The lists copy the handlers' own (api/v1/pin.c, api/v1/unlock_api.c,
 * api/env/env_repair.c): a handler that adds a field must add it here too, or
 * the fuzzer only ever sees that field refused as unknown; a POST route
 * without a list here stops fuzz-http at once.
 */
#ifndef UKEYD_TESTS_FUZZ_BODIES_H
#define UKEYD_TESTS_FUZZ_BODIES_H

#include "api/http/body.h"
#include "api/v1/handlers.h"
#include "api/v1/pinrule.h"
#include "api/render/problem.h"
#include "tests/fuzz/fuzz.h"
#include "token/pcsc/edge.h"

#define FUZZ_FIELDS_MAX 4

struct fuzz_field {
    const char *name;
    enum body_field_type type;
    bool required;
    bool is_pin;                 /* checked against the card edge's PIN policy */
};

struct fuzz_body_spec {
    const char *route;           /* for people reading a crash */
    route_handler handler;       /* to find the spec of a route the router matched */
    struct fuzz_field fields[FUZZ_FIELDS_MAX];
    size_t n;
    bool empty_ok;               /* no body at all is accepted before any parsing */
};

static const struct fuzz_body_spec fuzz_bodies[] = {
    { "POST /v1/tokens/{id}/pin/verify", handle_pin_verify, {
        { "pin", BODY_STRING, true, true },
        { "confirmLastTry", BODY_BOOL, false, false } }, 2, false },
    { "POST /v1/tokens/{id}/pin/change", handle_pin_change, {
        { "oldPin", BODY_STRING, true, true },
        { "newPin", BODY_STRING, true, true },
        { "confirmLastTry", BODY_BOOL, false, false } }, 3, false },
    { "POST /v1/environment/repair", handle_environment_repair, { { 0 } }, 0, true },
    { "POST /v1/tokens/{id}/unlock", handle_unlock_open, { { 0 } }, 0, false },
    { "POST /v1/unlock/{sid}/sms", handle_unlock_sms, {
        { "phone", BODY_STRING, true, false } }, 1, false },
    { "POST /v1/unlock/{sid}/verify", handle_unlock_verify, {
        { "smsCode", BODY_STRING, false, false },
        { "unlockCode", BODY_STRING, false, false } }, 2, false },
    { "POST /v1/unlock/{sid}/complete", handle_unlock_complete, {
        { "newPin", BODY_STRING, true, true },
        { "confirmNewPin", BODY_STRING, false, false } }, 2, false },
};

#define FUZZ_BODIES (sizeof fuzz_bodies / sizeof fuzz_bodies[0])

__attribute__((unused))
static const struct fuzz_body_spec *fuzz_body_of(route_handler handler)
{
    for (size_t i = 0; i < FUZZ_BODIES; i++)
        if (fuzz_bodies[i].handler == handler)
            return &fuzz_bodies[i];
    return NULL;
}

/* Renders the problem a handler would answer with, as respond.c does. */
static void fuzz_render_problem(const struct problem *p, enum api_lang lang)
{
    json_t *body = problem_body(p, lang, "0badc0de-1");
    char *text;
    size_t len = 0;

    FUZZ_ASSERT(body != NULL);   /* only memory can fail it, and the fuzzer has plenty */
    text = json_text(body, lang == LANG_EN, &len);
    FUZZ_ASSERT(text != NULL && len == strlen(text));
    json_text_free(text);
    json_decref(body);
}

static enum api_code fuzz_check_pins(const struct fuzz_body_spec *spec, const char *const *strings,
                                     enum api_lang lang)
{
    const struct token_pin_info policy = {
        .tries_left = -1,
        .min_len = piv_edge.pin_policy.min_len,
        .max_len = piv_edge.pin_policy.max_len,
        .charset = piv_edge.pin_policy.charset,
    };

    for (size_t i = 0; i < spec->n; i++) {
        if (spec->fields[i].is_pin && strings[i] && !pin_meets_policy(strings[i], &policy)) {
            struct problem p = problem_of(API_PIN_POLICY);

            p.field = spec->fields[i].name;
            p.policy = &policy;
            fuzz_render_problem(&p, lang);
            return API_PIN_POLICY;
        }
    }
    return API_OK;
}

/* What the handler of `spec` makes of `len` bytes of body before the card. */
__attribute__((unused))
static enum api_code fuzz_body_run(const struct fuzz_body_spec *spec, const char *text,
                                   size_t len, enum api_lang lang)
{
    struct body_field fields[FUZZ_FIELDS_MAX];
    const char *strings[FUZZ_FIELDS_MAX] = { 0 };
    bool bools[FUZZ_FIELDS_MAX] = { 0 };
    struct body_error err = { .reason = REASON_NONE };
    enum api_code code;
    json_t *root;

    if (spec->empty_ok && len == 0)
        return API_OK;
    for (size_t i = 0; i < spec->n; i++)
        fields[i] = (struct body_field){ spec->fields[i].name, spec->fields[i].type,
                                         spec->fields[i].required, &strings[i], &bools[i] };
    root = body_parse(text, len, fields, spec->n, &err);
    if (!root) {
        struct problem p = problem_of(API_BAD_REQUEST);

        FUZZ_ASSERT(err.reason != REASON_NONE);
        FUZZ_ASSERT(strlen(err.field) <= BODY_FIELD_NAME_MAX);
        p.field = err.field[0] ? err.field : NULL;
        p.reason = err.reason;
        fuzz_render_problem(&p, lang);
        return API_BAD_REQUEST;
    }
    for (size_t i = 0; i < spec->n; i++)
        FUZZ_ASSERT(!spec->fields[i].required || spec->fields[i].type != BODY_STRING ||
                    strings[i] != NULL);
    code = fuzz_check_pins(spec, strings, lang);
    json_decref(root);
    return code;
}

#endif
