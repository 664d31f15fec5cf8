/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/requests.h — unlock requests and their states:
 *
 *   awaiting-payment → awaiting-identity → review-pending → review-approved
 *                                                  ↘ review-rejected → review-pending
 *   awaiting-identity | review-* → authorized (SMS code or unlock code)
 *   authorized → completed (PUK rotation confirmed with the PIN reset done)
 *   any state but completed → expired (at expiresAt)
 *
 * docs/unlock-protocol.md has the full diagram. The request id is the
 * client's bearer capability on the request and never goes to a browser;
 * browser pages use the order id (payment) and the review ticket (upload).
 */
#ifndef UKEY_CA_REQUESTS_H
#define UKEY_CA_REQUESTS_H

#include <jansson.h>
#include <time.h>

#include "ca.h"
#include "mechanism.h"
#include "problem.h"

enum req_state {
    RS_AWAITING_PAYMENT,
    RS_AWAITING_IDENTITY,
    RS_REVIEW_PENDING,
    RS_REVIEW_APPROVED,
    RS_REVIEW_REJECTED,
    RS_AUTHORIZED,
    RS_COMPLETED,
    RS_EXPIRED,
    RS__COUNT
};

struct unlock_request {
    char id[CA_ID_MAX];
    char token_id[CA_TOKEN_ID_MAX];
    enum req_state state;
    time_t expires_at;
    char order_id[CA_ID_MAX];           /* "" when the unlock is free */
    char review_ticket[CA_ID_MAX];
    char rotation_id[CA_ID_MAX];        /* "" until authorised */
    enum mechanism mechanism;           /* chosen from the client's offer */
};

const char *req_state_name(enum req_state s);

/* Opens a request for the token holding the certificate (serial, issuer),
 * with the mechanism chosen from `offered` (MECH_BIT()s; see mechanism.h). */
struct ca_problem request_open(struct ca *ca, const char *token_id, const char *serial,
                               const char *issuer, unsigned offered,
                               struct unlock_request *out);

/* A new offer at authorize: the mechanism is chosen again, and recorded. */
struct ca_problem request_reoffer(struct ca *ca, struct unlock_request *r, unsigned offered);

/* Loads a request by id or by review ticket; a request past its time comes
 * back (and is stored) as expired. REQUEST_UNKNOWN when there is none. */
struct ca_problem request_load(struct ca *ca, const char *id, struct unlock_request *out);
struct ca_problem request_load_by_ticket(struct ca *ca, const char *ticket,
                                         struct unlock_request *out);

bool request_set_state(sqlite3 *db, const char *id, enum req_state s);

/*
 * Whether the request is in the phase where identity can be proven (SMS,
 * unlock code, materials): not expired, paid, not yet authorised.
 */
struct ca_problem request_in_identity_phase(const struct unlock_request *r);

/* A refusal for a request in the wrong state, naming the state. */
struct ca_problem request_state_conflict(const struct unlock_request *r);

/* The protocol's view of a request (GET /unlock/v1/requests/{id}). */
json_t *request_view(struct ca *ca, const struct unlock_request *r);

#endif
