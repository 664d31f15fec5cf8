/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/mechanism.h — how a token's PIN gets unblocked, which
 * the service chooses from what the client says the token offers
 * (docs/unlock-protocol.md, "Unlock mechanisms"): PIV's PUK and an SKF
 * token's admin PIN are handed out and rotated; the SKF challenge-response
 * keeps the admin PIN here and answers the token's challenge instead.
 */
#ifndef UKEY_CA_MECHANISM_H
#define UKEY_CA_MECHANISM_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>

#include "problem.h"

enum mechanism {
    MECH_PUK,                  /* "puk" */
    MECH_ADMIN_PIN,            /* "admin-pin" */
    MECH_REMOTE,               /* "remote-challenge" */
    MECH__COUNT
};

#define MECH_BIT(m) (1u << (m))

/* The protocol's name; "puk" for values out of range. */
const char *mechanism_name(enum mechanism m);
/* false when `name` is none of them. */
bool mechanism_of_name(const char *name, enum mechanism *out);

/*
 * The offer in a request body: `mechanisms` (an array of names; names this
 * service does not know are ignored, as later revisions may add some) and
 * `interface` ("PIV", "SKF"). A body without them is a client from before
 * mechanisms were named: a PIV token offering its PUK. BAD_REQUEST (field)
 * when they are there with the wrong shape.
 */
struct ca_problem mechanism_offer(json_t *body, unsigned *offered);

/*
 * The mechanism for token `token_id` among `offered`: its record's
 * `unlock_mechanism` when it names one, else the first this service
 * prefers (remote-challenge, admin-pin, puk) that fits the token's
 * interface. MECHANISM_UNSUPPORTED when none is offered.
 */
struct ca_problem mechanism_choose(sqlite3 *db, const char *token_id, unsigned offered,
                                   enum mechanism *out);

#endif
