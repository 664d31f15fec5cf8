/* SPDX-License-Identifier: MIT */
/*
 * api/v1/handlers.h — one function per route of api/v1/routes.c. Each runs after
 * every guard has passed, and answers exactly once (api/http/request.h).
 */
#ifndef UKEYD_API_HANDLERS_H
#define UKEYD_API_HANDLERS_H

#include "api/http/request.h"

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
/* The environment check and repair: api/env/environment.c, api/env/env_repair.c. */
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
