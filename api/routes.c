/* SPDX-License-Identifier: MIT */
/*
 * api/routes.c — the v1 route table. The unlock and environment routes
 * belong here too when their handlers exist.
 */
#include "api/routes.h"

#include "api/handlers.h"

static const struct route routes[] = {
    { "GET", "/v1/status", handle_status, 0 },
    { "GET", "/v1/readers", handle_readers, 0 },
    { "GET", "/v1/tokens", handle_tokens, 0 },
    { "GET", "/v1/tokens/{id}", handle_token, 0 },
    { "GET", "/v1/tokens/{id}/certificates", handle_certificates, 0 },
    { "GET", "/v1/tokens/{id}/certificates/{slot}", handle_certificate, 0 },
    { "GET", "/v1/tokens/{id}/certificates/{slot}.pem", handle_certificate_pem, 0 },
    { "GET", "/v1/tokens/{id}/certificates/{slot}.der", handle_certificate_der, 0 },
    { "GET", "/v1/tokens/{id}/pin", handle_pin, 0 },
    { "POST", "/v1/tokens/{id}/pin/verify", handle_pin_verify, ROUTE_JSON_BODY },
    { "POST", "/v1/tokens/{id}/pin/change", handle_pin_change, ROUTE_JSON_BODY },
    { "GET", "/v1/events", handle_events, ROUTE_STREAM },
};

const struct route *api_routes(size_t *n)
{
    *n = sizeof routes / sizeof routes[0];
    return routes;
}
