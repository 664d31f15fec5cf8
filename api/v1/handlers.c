/* SPDX-License-Identifier: MIT */
/*
 * api/v1/handlers.c — what the handlers of api/v1/ share: the token a route
 * names, a token-layer failure answered as a problem (through the one
 * mapping of api/v1/errmap.c), and the PIN policy check that runs before
 * any PIN reaches a card.
 */
#include "api/v1/handlers.h"

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
