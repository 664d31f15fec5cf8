/* SPDX-License-Identifier: MIT */
/*
 * api/http/router.h — matching a request's method and path against a table of
 * routes whose patterns name parameters: "/v1/tokens/{id}/certificates/{slot}.pem".
 *
 * A parameter takes one whole path segment (less a literal suffix such as
 * ".pem") made of RFC 3986's unreserved characters only (letters, digits,
 * '-', '_', '.', '~'), and never a dot segment, so ".", "..", "%00" and the
 * like never reach a handler. The first route that fits wins: a pattern with
 * a suffix goes before the same pattern without, as a parameter may hold
 * dots itself. HEAD fits every GET route. The router knows nothing of what
 * handlers do.
 */
#ifndef UKEYD_API_ROUTER_H
#define UKEYD_API_ROUTER_H

#include <stddef.h>

struct request;
typedef void (*route_handler)(struct request *req);

enum route_flags {
    ROUTE_JSON_BODY = 1u << 0,   /* POST with a JSON body: content type and size guards */
    ROUTE_STREAM = 1u << 1,      /* long-lived response (Server-Sent Events) */
    ROUTE_SUPPORT_ONLY = 1u << 2, /* served on the support socket only (api/http/peer.h) */
    ROUTE_WAITS = 1u << 3,       /* may wait for a card: api/http/offload.h */
    ROUTE_WAITS_CA = 1u << 4,    /* may wait for the CA service: a pool of its own */
};

struct route {
    const char *method;          /* "GET" or "POST" */
    const char *pattern;
    route_handler handler;
    unsigned flags;
};

#define ROUTE_PARAMS_MAX     4
#define ROUTE_PARAM_NAME_MAX 16
/* The longest value: an SKF certificate id, a container name of up to 256
 * bytes each written "~xx", and ".sign" (token_cert.id in token/token.h). */
#define ROUTE_PARAM_LEN_MAX  800
#define ROUTE_ALLOW_MAX      64

struct route_param {
    char name[ROUTE_PARAM_NAME_MAX + 1];
    char value[ROUTE_PARAM_LEN_MAX + 1];
};

struct route_match {
    const struct route *route;           /* ROUTE_FOUND only */
    size_t n_params;
    struct route_param params[ROUTE_PARAMS_MAX];
    char allow[ROUTE_ALLOW_MAX];         /* ROUTE_METHOD_NOT_ALLOWED: "GET, HEAD, OPTIONS" */
};

enum route_result {
    ROUTE_FOUND,
    ROUTE_NOT_FOUND,
    ROUTE_METHOD_NOT_ALLOWED,
};

enum route_result router_match(const struct route *table, size_t n, const char *method,
                               const char *path, struct route_match *m);

/* The value of parameter `name`, or NULL. */
const char *route_param(const struct route_match *m, const char *name);

#endif
