/* SPDX-License-Identifier: MIT */
/*
 * api/unlock/unlock_rotation.h — the part of the remote unlock that touches the
 * card: `complete` (authorize; then either reset the PIN with the CA's
 * unlock secret, PIV's PUK or an SKF admin PIN, and rotate that secret, or
 * relay the token's challenge and the CA's answer, which sets a temporary
 * PIN that is changed at once to the user's; confirm), each step journalled
 * first, and the recovery of journal records an interruption left behind
 * (docs/unlock-protocol.md).
 *
 * Callers serialise these calls (the unlock service's rotation lock): one
 * rotation at a time, so the journal and the card always agree on what is
 * in progress.
 */
#ifndef UKEYD_API_UNLOCK_ROTATION_H
#define UKEYD_API_UNLOCK_ROTATION_H

#include <stdbool.h>

#include "api/base/recovery.h"
#include "api/ca/ca_client.h"
#include "api/unlock/unlock_journal.h"
#include "token/token.h"

/* Test hook: the journal points where UKEYD_TEST_CRASH_AFTER may kill ukeyd. */
#define UNLOCK_CRASH_ENV "UKEYD_TEST_CRASH_AFTER"
/* ...with this before the step's name: stop (SIGSTOP) there instead. */
#define UNLOCK_STOP_PREFIX "stop:"

struct rotation_env {
    struct token_service *svc;
    struct journal *journal;
    const struct ca_client *ca;          /* the configured service */
    struct ca_client_config ca_cfg;      /* to reach a service a record names */
    const char *crash_after;             /* a journal step name, or NULL */
};

/* Why `complete` stopped; exactly one of the parts applies. */
enum unlock_error_kind {
    UNLOCK_ERR_TOKEN,                    /* `token`, `tries_left` */
    UNLOCK_ERR_CA,                       /* `ca`, `refusal` */
    UNLOCK_ERR_JOURNAL,                  /* the state directory failed us */
    UNLOCK_ERR_RECORD_MISMATCH,          /* the card refused the CA's PUK (`tries_left`: the PUK's) */
};

struct unlock_error {
    enum unlock_error_kind kind;
    token_err token;
    int tries_left;
    ca_err ca;
    struct ca_refusal refusal;
};

/* What the token offers the CA: its interface and unlock mechanisms (none: mechanisms 0). */
struct ca_offer rotation_offer_of(const struct token_snapshot *s);

/* Finishes the journal records of `token_id`, or of every token present when NULL. */
enum recovery_result rotation_recover(const struct rotation_env *env, const char *token_id);

/*
 * Runs `complete` for a verified request: 0 with the PIN's tries afterwards
 * (-1 when the card does not say), or -1 with `e`. `new_pin` must already
 * meet the token's policy. *left_pending says a record is left for the
 * recovery to finish (the caller wakes it).
 */
int rotation_complete(const struct rotation_env *env, const char *token_id,
                      const char *request_id, const char *new_pin, int *pin_tries,
                      struct unlock_error *e, bool *left_pending);

#endif
