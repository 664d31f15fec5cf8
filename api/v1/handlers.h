/* SPDX-License-Identifier: MIT */
/*
 * api/handlers.h — one function per route of api/routes.c. Each runs after
 * every guard has passed, and answers exactly once (api/request.h).
 */
#ifndef UKEYD_API_HANDLERS_H
#define UKEYD_API_HANDLERS_H

#include "api/request.h"

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
void handle_events(struct request *r);
/* The environment check and repair: api/environment.c, api/env_repair.c. */
void handle_environment(struct request *r);
void handle_environment_repair(struct request *r);
/* The remote unlock: api/unlock_api.c. */
void handle_unlock_open(struct request *r);
void handle_unlock_get(struct request *r);
void handle_unlock_sms(struct request *r);
void handle_unlock_verify(struct request *r);
void handle_unlock_complete(struct request *r);
/* Certificate writes: api/certwrite_api.c. */
void handle_cert_actions(struct request *r);
void handle_cert_action_carry_out(struct request *r);
void handle_diagnostics(struct request *r);   /* support socket only: api/diag.c */

#endif
