/* SPDX-License-Identifier: MIT */
/*
 * api/v1/handlers.h — one function per route of api/v1/routes.c. Each runs after
 * every guard has passed, and answers exactly once (api/http/request.h).
 * Also what every handler shares (api/v1/handlers.c): the token a route
 * names, a token-layer failure as a problem, the PIN policy check.
 */
#ifndef UKEYD_API_HANDLERS_H
#define UKEYD_API_HANDLERS_H

#include <stdbool.h>

#include "api/http/request.h"
#include "api/base/scoped.h"
#include "token/token.h"

/* A token-layer failure; `tries_left` is used for PIN and PUK errors. */
void respond_token_error(struct request *r, token_err err, int tries_left);

/* The snapshot of the route's {id}; NULL when it answered with the error. */
struct token_snapshot *request_token(struct request *r);
void snapshot_release(struct token_snapshot **s);
#define SCOPED_SNAPSHOT SCOPED(snapshot_release) struct token_snapshot

/* Whether `pin` (the body's `field`; NULL: none given, nothing to check)
 * meets the token's policy; answers PIN_POLICY when not. A refusal here
 * costs the token nothing: the card never sees the PIN. */
bool pin_acceptable(struct request *r, const struct token_pin_info *policy, const char *field,
                    const char *pin);

/* pin_acceptable for the body's newPin (given), then that it is not the old
 * PIN (`old_pin`, NULL when none is known: the remote unlock) and not too
 * simple (api/v1/pinrule.h); answers PIN_POLICY, PIN_SAME_AS_OLD or
 * PIN_TOO_SIMPLE when not. The card never sees a refused PIN. */
bool new_pin_acceptable(struct request *r, const struct token_pin_info *policy,
                        const char *new_pin, const char *old_pin);

void handle_status(struct request *r);
void handle_readers(struct request *r);
void handle_tokens(struct request *r);
void handle_token(struct request *r);
void handle_certificates(struct request *r);
void handle_certificate(struct request *r);
void handle_certificate_pem(struct request *r);
void handle_certificate_der(struct request *r);
void handle_pin(struct request *r);
void handle_pin_verify(struct request *r);
void handle_pin_change(struct request *r);
/* GET /v1/events is the HTTP front's own stream: events_stream (api/http/events.h). */
/* The environment check and repair: api/v1/environment_api.c. */
void handle_environment(struct request *r);
void handle_environment_repair(struct request *r);
/* The remote unlock: api/v1/unlock_api.c. */
void handle_unlock_open(struct request *r);
void handle_unlock_get(struct request *r);
void handle_unlock_sms(struct request *r);
void handle_unlock_verify(struct request *r);
void handle_unlock_complete(struct request *r);
/* Certificate writes: api/v1/certwrite_api.c. */
void handle_cert_actions(struct request *r);
void handle_cert_action_carry_out(struct request *r);
void handle_diagnostics(struct request *r);   /* support socket only: api/v1/diag.c */

#endif
