/* SPDX-License-Identifier: MIT */
/*
 * api/v1/routes.c — the v1 route table.
 */
#include "api/v1/routes.h"

#include <pthread.h>

#include "api/http/events.h"
#include "api/v1/handlers.h"

static const struct route routes[] = {
    { "GET", "/v1/status", handle_status, 0 },
    { "GET", "/v1/readers", handle_readers, 0 },
    { "GET", "/v1/tokens", handle_tokens, 0 },
    { "GET", "/v1/tokens/{id}", handle_token, 0 },
    { "GET", "/v1/tokens/{id}/certificates", handle_certificates, 0 },
    /* .pem and .der before the bare id, which may hold dots itself ("DEMO.sign") */
    { "GET", "/v1/tokens/{id}/certificates/{slot}.pem", handle_certificate_pem, 0 },
    { "GET", "/v1/tokens/{id}/certificates/{slot}.der", handle_certificate_der, 0 },
    { "GET", "/v1/tokens/{id}/certificates/{slot}", handle_certificate, 0 },
    { "GET", "/v1/tokens/{id}/pin", handle_pin, ROUTE_WAITS },
    { "POST", "/v1/tokens/{id}/pin/verify", handle_pin_verify, ROUTE_JSON_BODY | ROUTE_WAITS },
    { "POST", "/v1/tokens/{id}/pin/change", handle_pin_change, ROUTE_JSON_BODY | ROUTE_WAITS },
    { "GET", "/v1/events", events_stream, ROUTE_STREAM },
    { "GET", "/v1/environment", handle_environment, ROUTE_WAITS },
    { "POST", "/v1/environment/repair", handle_environment_repair, ROUTE_JSON_BODY | ROUTE_WAITS },
    { "POST", "/v1/tokens/{id}/unlock", handle_unlock_open, ROUTE_JSON_BODY | ROUTE_WAITS_CA },
    { "GET", "/v1/unlock/{sid}", handle_unlock_get, ROUTE_WAITS_CA },
    { "POST", "/v1/unlock/{sid}/sms", handle_unlock_sms, ROUTE_JSON_BODY | ROUTE_WAITS_CA },
    { "POST", "/v1/unlock/{sid}/verify", handle_unlock_verify, ROUTE_JSON_BODY | ROUTE_WAITS_CA },
    { "POST", "/v1/unlock/{sid}/complete", handle_unlock_complete,
      ROUTE_JSON_BODY | ROUTE_WAITS_CA },
    { "GET", "/v1/tokens/{id}/cert-actions", handle_cert_actions, ROUTE_WAITS_CA },
    { "POST", "/v1/tokens/{id}/cert-actions/{number}", handle_cert_action_carry_out,
      ROUTE_JSON_BODY | ROUTE_WAITS_CA },
    { "GET", "/v1/diagnostics", handle_diagnostics, ROUTE_SUPPORT_ONLY },
};

const struct route *api_routes(size_t *n)
{
    *n = sizeof routes / sizeof routes[0];
    return routes;
}

#define N_ROUTES (sizeof routes / sizeof routes[0])

static struct route web_routes[N_ROUTES];
static size_t n_web_routes;
static pthread_once_t web_routes_once = PTHREAD_ONCE_INIT;

static void pick_web_routes(void)
{
    for (size_t i = 0; i < N_ROUTES; i++)
        if (!(routes[i].flags & ROUTE_SUPPORT_ONLY))
            web_routes[n_web_routes++] = routes[i];
}

const struct route *api_routes_web(size_t *n)
{
    pthread_once(&web_routes_once, pick_web_routes);
    *n = n_web_routes;
    return web_routes;
}
