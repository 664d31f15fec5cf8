/* SPDX-License-Identifier: MIT */
/*
 * api/ca/ca_http.h — inside the CA client only: the one HTTP exchange that
 * api/ca/ca_client.c (unlock/v1) and api/ca/ca_cert.c (cert/v1) share, so both
 * protocols get the same transport rules (no redirects, bounded time and
 * answer size, TLS verified, problem codes mapped in ca_client.c's one
 * table, anything else CA_E_UNAVAILABLE).
 */
#ifndef UKEYD_API_CA_HTTP_H
#define UKEYD_API_CA_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "api/ca/ca_client.h"

#define CA_UNLOCK_PREFIX    "/unlock/v1"
#define CA_CERT_PREFIX      "/cert/v1"
#define CA_CALL_PATH_MAX    (CA_ID_MAX + 64)

/* What the transport needs of a protocol, so that it knows none itself. */
struct ca_protocol {
    const char *prefix;                  /* CA_UNLOCK_PREFIX or CA_CERT_PREFIX */
    const char *service;                 /* for the log: "unlock service" */
    /* Whether a STATE_CONFLICT refusal's state is one of this protocol's. */
    bool (*state_known)(const char *name);
};

struct ca_call {
    const struct ca_protocol *protocol;
    const char *what;                    /* for the log: the endpoint, never its ids */
    char path[CA_CALL_PATH_MAX];         /* after the prefix */
    json_t *body;                        /* POST body; NULL: a GET, or a POST without body */
    bool post;
    unsigned timeout_ms;                 /* the whole exchange when below the client's; 0: its */
};

/* Every call starts with an empty refusal, so a caller may read it whatever happened. */
void ca_refusal_reset(struct ca_refusal *why);
/* One exchange: CA_OK with *out the answer's JSON object (caller decrefs). */
ca_err ca_exchange(const struct ca_client *c, const struct ca_call *call, json_t **out,
                   struct ca_refusal *why);
/* Logs why an answer has the wrong shape (a member's name, never its value); CA_E_UNAVAILABLE. */
ca_err ca_shape_error(const struct ca_call *call, json_error_t *jerr, const char *member);
/* Whether `s` is 1..max characters, all from `set`. */
bool ca_chars_in(const char *s, const char *set, size_t max);

#endif
