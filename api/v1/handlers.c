/* SPDX-License-Identifier: MIT */
/*
 * api/v1/handlers.c — what the handlers of api/v1/ share: the token a route
 * names, a token-layer failure answered as a problem (through the one
 * mapping of api/v1/errmap.c), and the PIN checks that run before any PIN
 * reaches a card: the token's policy, and for a new PIN, not the old one and
 * not too simple.
 */
#include "api/v1/handlers.h"

#include <string.h>

#include "api/base/log.h"
#include "api/v1/errmap.h"
#include "api/v1/pinrule.h"

void respond_token_error(struct request *r, token_err err, int tries_left)
{
    struct problem p = problem_of(errmap_token(err));

    if (api_code_has_tries(p.code))
        p.tries_left = tries_left >= 0 ? tries_left : PROBLEM_TRIES_UNKNOWN;
    if (p.code == API_INTERNAL || p.code == API_CARD_ERROR)
        log_msg(LOG_WARNING, &(struct log_fields){ .request_id = r->id },
                "token layer: %s", token_err_name(err));
    respond_problem(r, &p);
}

struct token_snapshot *request_token(struct request *r)
{
    struct token_snapshot *s = NULL;
    token_err err = token_service_get(request_tokens(r), request_param(r, "id"), &s);

    if (err != TOKEN_OK) {
        respond_token_error(r, err, -1);
        return NULL;
    }
    return s;
}

void snapshot_release(struct token_snapshot **s)
{
    if (*s)
        token_snapshot_unref(*s);
    *s = NULL;
}

bool pin_acceptable(struct request *r, const struct token_pin_info *policy, const char *field,
                    const char *pin)
{
    struct problem p;

    if (!pin || pin_meets_policy(pin, policy))
        return true;
    p = problem_of(API_PIN_POLICY);
    p.field = field;
    p.policy = policy;
    respond_problem(r, &p);
    return false;
}

bool new_pin_acceptable(struct request *r, const struct token_pin_info *policy,
                        const char *new_pin, const char *old_pin)
{
    enum pin_simplicity simple;
    struct problem p;

    if (!pin_acceptable(r, policy, "newPin", new_pin))
        return false;
    /* Both come from this one body: comparing them tells the sender nothing. */
    if (old_pin && strcmp(old_pin, new_pin) == 0) {
        p = problem_of(API_PIN_SAME_AS_OLD);
        p.field = "newPin";
        respond_problem(r, &p);
        return false;
    }
    simple = pin_simplicity(new_pin);
    if (simple == PIN_NOT_SIMPLE)
        return true;
    p = problem_of(API_PIN_TOO_SIMPLE);
    p.field = "newPin";
    p.rule = pin_simplicity_rule(simple);
    respond_problem(r, &p);
    return false;
}
