/* SPDX-License-Identifier: MIT */
/*
 * api/errmap.h — the one place where a token-layer error becomes an API code
 * (and through it an HTTP status).
 */
#ifndef UKEYD_API_ERRMAP_H
#define UKEYD_API_ERRMAP_H

#include "api/problem.h"
#include "token/error.h"

enum api_code errmap_token(token_err err);

#endif
