/* SPDX-License-Identifier: MIT */
/*
 * api/http/gate.c — the guards and the router in the order the server applies
 * them. The order matters: framing first, since a request whose headers can
 * be read two ways cannot be judged by either reading; the sender is judged before the path is looked
 * at, so a refused page learns nothing about which routes exist, and the
 * body guards run only for routes that take a body.
 */
#include "api/http/gate.h"

#include <string.h>

#define METHOD_OPTIONS "OPTIONS"

static bool framing_ambiguous(const struct gate_request *in)
{
    return in->n_host > 1 || in->n_content_length > 1 ||
           (in->transfer_encoding && in->content_length) || in->name_with_space;
}

static enum api_code gate_sender(const struct gate_request *in, const struct gate_rules *rules,
                                 bool origin_allowed)
{
    enum api_code code = guard_check_host(in->host, rules->hosts);

    if (code == API_OK)
        code = guard_check_origin(in->origin, rules->origins);
    if (code == API_OK)
        code = guard_check_fetch_site(in->sec_fetch_site, origin_allowed);
    return code;
}

static enum api_code gate_route(const struct gate_request *in, const struct gate_rules *rules,
                                struct gate_verdict *out)
{
    switch (router_match(rules->routes, rules->n_routes, in->method, in->path, &out->match)) {
    case ROUTE_FOUND:
        return API_OK;
    case ROUTE_METHOD_NOT_ALLOWED:
        if (strcmp(in->method, METHOD_OPTIONS) != 0)
            return API_METHOD_NOT_ALLOWED;
        out->options = true;
        return API_OK;
    case ROUTE_NOT_FOUND:
        break;
    }
    return API_NOT_FOUND;
}

static enum api_code gate_json_body(const struct gate_request *in)
{
    enum api_code code = guard_check_content_type(in->content_type);

    if (code == API_OK)
        code = guard_check_content_length(in->content_length);
    return code;
}

void gate_evaluate(const struct gate_request *in, const struct gate_rules *rules,
                   struct gate_verdict *out)
{
    memset(out, 0, sizeof *out);
    /* libmicrohttpd always has both; anything else is a caller's bug. */
    if (!in->method || !in->path) {
        out->code = API_BAD_REQUEST;
        return;
    }
    if (framing_ambiguous(in)) {
        out->code = API_BAD_REQUEST;
        out->close = true;
        return;
    }
    out->origin_allowed = origin_list_contains(rules->origins, in->origin);
    out->code = gate_sender(in, rules, out->origin_allowed);
    if (out->code == API_OK)
        out->code = gate_route(in, rules, out);
    if (out->code == API_OK && !out->options && (out->match.route->flags & ROUTE_JSON_BODY))
        out->code = gate_json_body(in);
}
