/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/api_cert.c — the certificate protocol's endpoints
 * (docs/cert-protocol.md): JSON in, JSON or problem+json out. Each handler
 * checks the body's shape and leaves the rules to actions.c. The transport
 * rules are unlock/v1's: the routes are ROUTE_PROTOCOL, so http.c refuses
 * browsers before a handler runs.
 */
#include <string.h>

#include "actions.h"
#include "handlers.h"

#define CHALLENGE_B64_MAX  64            /* one block is 24 characters */
#define CSR_B64_MAX        (12 * 1024)   /* under the 16 KiB body limit */
#define ALGORITHM_MAX      16

/* [{"slot", "serial", "issuer"}…]: what the token holds; checked, not needed. */
static bool certificates_member_ok(json_t *body)
{
    json_t *list = json_object_get(body, "certificates"), *c;
    size_t i;

    if (!list)
        return true;
    if (!json_is_array(list))
        return false;
    json_array_foreach(list, i, c)
        if (!json_is_object(c) || !json_is_string(json_object_get(c, "slot")) ||
            !json_is_string(json_object_get(c, "serial")))
            return false;
    return true;
}

void api_cert_query(struct http_req *r)
{
    struct ca_problem p = ca_ok();
    json_auto_t *body = req_json_object(r, &p);
    const char *token_id = NULL;
    json_t *out = NULL;

    if (body && (token_id = req_member_string(body, "tokenId", CA_TOKEN_ID_MAX, &p)) &&
        !certificates_member_ok(body))
        p = ca_bad_field("certificates");
    if (p.code == CA_OK)
        p = actions_for_token(r->ca, token_id, &out);
    reply_outcome(r, HTTP_OK, &p, out);
}

void api_cert_get(struct http_req *r)
{
    json_t *out = NULL;
    struct ca_problem p = action_get(r->ca, r->captures[0], &out);

    reply_outcome(r, HTTP_OK, &p, out);
}

void api_cert_mgmt_auth(struct http_req *r)
{
    struct ca_problem p = ca_ok();
    json_auto_t *body = req_json_object(r, &p);
    const char *alg = NULL, *challenge = NULL;
    json_t *out = NULL;

    if (body && (alg = req_member_string(body, "algorithm", ALGORITHM_MAX, &p)) &&
        (challenge = req_member_string(body, "challenge", CHALLENGE_B64_MAX, &p)))
        p = action_management_auth(r->ca, r->captures[0], alg, challenge, &out);
    reply_outcome(r, HTTP_OK, &p, out);
}

void api_cert_issue(struct http_req *r)
{
    struct ca_problem p = ca_ok();
    json_auto_t *body = req_json_object(r, &p);
    json_t *csr = body ? json_object_get(body, "csr") : NULL;
    json_t *out = NULL;

    if (body && csr && (!json_is_string(csr) || json_string_length(csr) >= CSR_B64_MAX))
        p = ca_bad_field("csr");
    if (p.code == CA_OK)
        p = action_issue(r->ca, r->captures[0], json_string_value(csr), &out);
    reply_outcome(r, HTTP_OK, &p, out);
}

void api_cert_confirm(struct http_req *r)
{
    struct ca_problem p = ca_ok();
    json_auto_t *body = req_json_object(r, &p);
    const char *serial = NULL;
    json_t *out = NULL;

    if (body && (serial = req_member_string(body, "serial", CA_SERIAL_MAX, &p)))
        p = action_confirm(r->ca, r->captures[0], serial, json_object_get(body, "certificates"),
                           &out);
    reply_outcome(r, HTTP_OK, &p, out);
}
