/* SPDX-License-Identifier: MIT */
/*
 * token/skf/status.h — the SKF provider's one error enum.
 *
 * Everything in token/skf/ answers an skf_err: what the library said (mapped
 * from its SAR_* code once, in the helper), what went wrong with the helper
 * process (crash, hang, garbage), or what the caller asked wrongly. The values
 * travel in the helper protocol's STATUS field, so they are numbered for good:
 * add at the end, never renumber. The token layer maps them to token_err in
 * one place when the provider is wired in.
 */
#ifndef UKEYD_TOKEN_SKF_STATUS_H
#define UKEYD_TOKEN_SKF_STATUS_H

#include <stdint.h>

typedef enum skf_err {
    SKF_OK = 0,
    SKF_E_NO_MEMORY = 1,
    SKF_E_INVALID_ARG = 2,          /* the caller's request is unusable (e.g. a name too long) */
    /* the helper process */
    SKF_E_HELPER_START = 3,         /* the helper could not be started */
    SKF_E_HELPER_DIED = 4,          /* it exited or crashed during the call */
    SKF_E_HELPER_TIMEOUT = 5,       /* no answer within the call's deadline: killed */
    SKF_E_HELPER_GARBAGE = 6,       /* it answered something that is not a valid frame */
    SKF_E_HELPER_BACKOFF = 7,       /* it failed again just now: not restarted before its backoff */
    /* the library */
    SKF_E_LIBRARY_LOAD = 8,         /* dlopen failed */
    SKF_E_LIBRARY_SYMBOL = 9,       /* a required function is missing; the detail names it */
    SKF_E_NOT_SUPPORTED = 10,       /* an optional function is absent, or SAR_NOTSUPPORTYETERR */
    SKF_E_LIBRARY_FAIL = 11,        /* any other SAR_* error; the raw code is reported beside */
    SKF_E_MALFORMED = 12,           /* the library answered nonsense (sizes, lists, structures) */
    /* the token */
    SKF_E_DEVICE_NOT_FOUND = 13,
    SKF_E_DEVICE_REMOVED = 14,
    SKF_E_APP_NOT_FOUND = 15,
    SKF_E_CONTAINER_NOT_FOUND = 16,
    SKF_E_CERT_NOT_FOUND = 17,
    SKF_E_PIN_INCORRECT = 18,       /* tries left reported beside */
    SKF_E_PIN_LOCKED = 19,
    SKF_E_PIN_POLICY = 20,          /* refused before reaching the token: length or characters */
    SKF_E_NOT_LOGGED_IN = 21,       /* the token wants a verified PIN first */
    SKF_E_TIMEOUT = 22,             /* the library itself reported SAR_TIMEOUTERR */
    SKF_E_CHALLENGE_STALE = 23,     /* a remote unblock's answer came after its challenge's
                                       application was closed: not presented, ask again */
    SKF_E__COUNT
} skf_err;

/* Stable upper-case name without prefix, e.g. "HELPER_TIMEOUT"; never NULL. */
const char *skf_err_name(skf_err err);

/* The library's SAR_* code as an skf_err (used by the helper, once). */
skf_err skf_err_from_sar(uint32_t sar);

/* Whether an skf_err came from the helper process misbehaving (the supervisor
 * killed or lost it), as opposed to an answer from the library. */
int skf_err_is_helper_fault(skf_err err);

#endif
