/* SPDX-License-Identifier: MIT */
/*
 * api/v1/routes.h — the v1 route table: every path the API answers, which
 * docs/openapi.yaml documents one for one (tests/test-routes.c checks).
 */
#ifndef UKEYD_API_ROUTES_H
#define UKEYD_API_ROUTES_H

#include "api/http/router.h"

const struct route *api_routes(size_t *n);
/* The same less the support-only routes: what the browser-facing port serves. */
const struct route *api_routes_web(size_t *n);

#endif
