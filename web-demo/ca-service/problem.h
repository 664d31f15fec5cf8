/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/problem.h — the error codes of the unlock and the
 * certificate protocols, their HTTP statuses and titles, and their
 * application/problem+json bodies (RFC 9457). docs/unlock-protocol.md and
 * docs/cert-protocol.md list the same codes: they are the contract, a
 * client switches on `code`, never on text.
 */
#ifndef UKEY_CA_PROBLEM_H
#define UKEY_CA_PROBLEM_H

#include <jansson.h>

enum ca_code {
    CA_OK = 0,
    CA_BAD_REQUEST,
    CA_UNSUPPORTED_MEDIA_TYPE,
    CA_PAYLOAD_TOO_LARGE,
    CA_NOT_FOUND,
    CA_METHOD_NOT_ALLOWED,
    CA_ORIGIN_FORBIDDEN,
    CA_HOST_FORBIDDEN,
    CA_TOKEN_UNKNOWN,
    CA_REQUEST_UNKNOWN,
    CA_REQUEST_EXPIRED,
    CA_STATE_CONFLICT,
    CA_PAYMENT_REQUIRED,
    CA_PHONE_MISMATCH,
    CA_RATE_LIMITED,
    CA_CODE_NOT_ISSUED,
    CA_CODE_INCORRECT,
    CA_CODE_EXPIRED,
    CA_TOO_MANY_ATTEMPTS,
    CA_ROTATION_UNKNOWN,
    CA_ROTATION_CLOSED,
    CA_ROTATION_CONFLICT,
    CA_PUK_RECORD_MISMATCH,
    CA_MECHANISM_UNSUPPORTED,
    CA_ORDER_UNKNOWN,
    CA_REVIEW_UNKNOWN,
    CA_ACTION_UNKNOWN,
    CA_FILE_TYPE_UNSUPPORTED,
    CA_INTERNAL,
    CA_CODE__COUNT
};

#define CA_NO_COUNT (-1)

/* A refusal and what the client needs to act on it. */
struct ca_problem {
    enum ca_code code;
    const char *field;       /* BAD_REQUEST: the body member at fault */
    const char *state;       /* STATE_CONFLICT: the request's state now */
    const char *result;      /* ROTATION_CLOSED / _CONFLICT: how it was settled */
    int attempts_left;       /* CODE_INCORRECT, TOO_MANY_ATTEMPTS; else CA_NO_COUNT */
    long retry_after;        /* RATE_LIMITED: seconds; else CA_NO_COUNT */
};

static inline struct ca_problem ca_fail(enum ca_code code)
{
    return (struct ca_problem){ .code = code, .attempts_left = CA_NO_COUNT,
                                .retry_after = CA_NO_COUNT };
}

static inline struct ca_problem ca_ok(void)
{
    return ca_fail(CA_OK);
}

static inline struct ca_problem ca_bad_field(const char *field)
{
    struct ca_problem p = ca_fail(CA_BAD_REQUEST);

    p.field = field;
    return p;
}

const char *ca_code_name(enum ca_code code);
unsigned ca_code_status(enum ca_code code);

/* The problem+json body; NULL when out of memory. */
json_t *ca_problem_body(const struct ca_problem *p);

#endif
