/* SPDX-License-Identifier: MIT */
/*
 * api/v1/errmap.h — the one place where a token-layer error, a refusal of the
 * CA's services, or a workflow's own error becomes an API code (and through
 * it an HTTP status).
 */
#ifndef UKEYD_API_ERRMAP_H
#define UKEYD_API_ERRMAP_H

#include "api/ca/ca_client.h"
#include "api/certwrite/certwrite.h"
#include "api/render/problem.h"
#include "token/token.h"

enum api_code errmap_token(token_err err);
/* The CA unlock service's refusals (api/ca/ca_client.h) as the portal sees them. */
enum api_code errmap_ca(ca_err err);
/* The CA certificate service's refusals (api/ca/ca_cert.h) as the portal sees them. */
enum api_code errmap_ca_cert(ca_err err);
/* A certificate write's own failures (api/certwrite/certwrite.h). */
enum api_code errmap_certwrite(enum certwrite_code code);

#endif
