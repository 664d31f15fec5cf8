/* SPDX-License-Identifier: MIT */
/*
 * api/render/problem.h — the API's error codes and their problem bodies
 * (application/problem+json, RFC 9457).
 *
 * Each code has one HTTP status and a title and detail in every language;
 * this module is the only place they are written down. The codes are the
 * stable contract with the portal: a portal switches on `code`, never on text.
 */
#ifndef UKEYD_API_PROBLEM_H
#define UKEYD_API_PROBLEM_H

#include <jansson.h>
#include <stdbool.h>

#include "api/render/lang.h"
#include "token/token.h"

enum api_code {
    API_OK = 0,                 /* not a problem: what guards return to let a request pass */
    API_BAD_REQUEST,
    API_HOST_FORBIDDEN,
    API_MISDIRECTED_REQUEST,
    API_ORIGIN_FORBIDDEN,
    API_PEER_NOT_ALLOWED,
    API_NOT_FOUND,
    API_METHOD_NOT_ALLOWED,
    API_PAYLOAD_TOO_LARGE,
    API_UNSUPPORTED_MEDIA_TYPE,
    API_TOO_MANY_STREAMS,
    API_PIN_INCORRECT,
    API_PIN_BLOCKED,
    API_PIN_LAST_TRY,
    API_PIN_POLICY,
    API_PIN_SAME_AS_OLD,
    API_PIN_TOO_SIMPLE,
    API_PUK_INCORRECT,
    API_PUK_BLOCKED,
    API_PUK_LAST_TRY,
    API_TOKEN_NOT_FOUND,
    API_TOKEN_REMOVED,
    API_TOKEN_BUSY,
    API_CERTIFICATE_NOT_FOUND,
    API_CARD_UNSUPPORTED,
    API_CARD_ERROR,
    API_PCSC_UNAVAILABLE,
    API_TIMEOUT,
    /* The remote unlock (api/v1/unlock_api.c). */
    API_UNLOCK_NOT_CONFIGURED,
    API_UNLOCK_SERVICE_UNAVAILABLE,
    API_UNLOCK_SESSION_NOT_FOUND,
    API_UNLOCK_SESSION_EXPIRED,
    API_UNLOCK_STATE_CONFLICT,
    API_UNLOCK_TOKEN_UNKNOWN,
    API_UNLOCK_RECORD_MISMATCH,
    API_PAYMENT_REQUIRED,
    API_PHONE_MISMATCH,
    API_CODE_INCORRECT,
    API_CODE_NOT_ISSUED,
    API_CODE_EXPIRED,
    API_TOO_MANY_ATTEMPTS,
    API_RATE_LIMITED,
    /* Certificate writes (api/v1/certwrite_api.c). */
    API_CERT_SERVICE_UNAVAILABLE,
    API_CERT_ACTION_NOT_FOUND,
    API_CERT_ACTION_NOT_READY,
    API_CERT_INVALID,
    API_MANAGEMENT_AUTH_FAILED,
    API_TOKEN_WRITE_FAILED,
    API_TOKEN_FULL,
    API_OPERATION_NOT_SUPPORTED,
    API_CERT_ROOTS_NOT_CONFIGURED,
    API_INTERNAL,
    API_CODE__COUNT
};

/* Why a field of a request body was refused (BAD_REQUEST). */
enum problem_reason {
    REASON_NONE = 0,
    REASON_MISSING,
    REASON_NOT_STRING,
    REASON_NOT_BOOLEAN,
    REASON_UNKNOWN_FIELD,
    REASON_NOT_JSON,
    REASON_NOT_OBJECT,
    REASON_NOT_MATCHING,        /* confirmNewPin differs from newPin */
    REASON_BAD_FORMAT,          /* a phone number or code that cannot be one */
    REASON_EXCLUSIVE,           /* given together with a member it excludes */
    REASON__COUNT
};

#define PROBLEM_TRIES_NONE (-2)   /* not a PIN problem: no triesLeft member */
#define PROBLEM_TRIES_UNKNOWN (-1) /* a PIN problem whose card did not say: triesLeft null */

struct problem {
    enum api_code code;
    const char *field;               /* body field or header at fault, or NULL */
    enum problem_reason reason;
    int tries_left;                  /* PROBLEM_TRIES_NONE unless a PIN/PUK problem */
    const struct token_pin_info *policy;  /* PIN_POLICY: the rule that was broken */
    const char *rule;                /* PIN_TOO_SIMPLE: which ("sequence"…, api/v1/pinrule.h) */
    int attempts_left;               /* CODE_INCORRECT, TOO_MANY_ATTEMPTS; -1: null */
    unsigned retry_after_s;          /* RATE_LIMITED; 0: not known */
    const char *state;               /* UNLOCK_STATE_CONFLICT, CERT_ACTION_NOT_READY: the
                                        unlock's or the action's state, or NULL */
};

/* "PIN_INCORRECT"; "INTERNAL" for values out of range. */
const char *api_code_name(enum api_code code);
unsigned api_code_status(enum api_code code);
/* Whether a problem body of this code carries triesLeft. */
bool api_code_has_tries(enum api_code code);
/* Whether a problem body of this code carries attemptsLeft (SMS and unlock codes). */
bool api_code_has_attempts(enum api_code code);

/* The body for `p` in `lang`; `request_id` may be NULL. NULL when out of memory. */
json_t *problem_body(const struct problem *p, enum api_lang lang, const char *request_id);

/* Shorthand for a problem with nothing but a code. */
static inline struct problem problem_of(enum api_code code)
{
    return (struct problem){ .code = code, .tries_left = PROBLEM_TRIES_NONE };
}

#endif
