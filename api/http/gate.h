/* SPDX-License-Identifier: MIT */
/*
 * api/http/gate.h — everything a request passes before its body is read and its
 * handler runs, as one pure function of the request line, a few header
 * values and the rules: framing (one Host, one length) → Host guard → Origin guard → fetch-metadata guard →
 * router (404, 405 with Allow, OPTIONS) → for JSON routes the Content-Type
 * and Content-Length guards.
 *
 * api/http/server.c fills a gate_request from libmicrohttpd's parsed headers and
 * acts on the verdict; tests and the fuzz target (tests/fuzz/fuzz-gate.c)
 * call the same function without a server.
 */
#ifndef UKEYD_API_GATE_H
#define UKEYD_API_GATE_H

#include <stdbool.h>
#include <stddef.h>

#include "api/http/guard.h"
#include "api/render/problem.h"
#include "api/http/router.h"

/* Header values as the client sent them; NULL when absent. */
struct gate_request {
    const char *method;
    const char *path;
    const char *host;
    const char *origin;
    const char *sec_fetch_site;
    const char *content_type;
    const char *content_length;
    /* How the header lines frame the request, counted over all of them:
     * libmicrohttpd keeps the first of two Hosts or two Content-Lengths,
     * lets Transfer-Encoding win over Content-Length, and takes "Host :"
     * as a header named "Host ". A proxy or a cache in front of it may
     * read any of these the other way, so each is refused. */
    unsigned n_host;
    unsigned n_content_length;
    bool transfer_encoding;
    bool name_with_space;           /* white space in a header's name */
};

/* What the request is judged against. The origin list is read under the
 * server's settings lock, so the caller holds it during gate_evaluate. */
struct gate_rules {
    const struct guard_hosts *hosts;
    const struct origin_list *origins;
    const struct route *routes;
    size_t n_routes;
};

struct gate_verdict {
    enum api_code code;            /* API_OK: read the body (if any) and run the handler */
    bool origin_allowed;           /* the Origin is on the allow-list: CORS headers */
    bool options;                  /* OPTIONS on a known path: Allow / CORS preflight */
    struct route_match match;      /* the route and its parameters; `allow` for 405 */
    bool close;                    /* malformed framing: answer, then close the connection,
                                    * since where the next request starts is unknown */
};

void gate_evaluate(const struct gate_request *in, const struct gate_rules *rules,
                   struct gate_verdict *out);

#endif
