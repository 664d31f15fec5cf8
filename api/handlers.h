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

#endif
