/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/certreq.h — certificate requests a person files
 * (change, renewal, reinstall, first issue), their fee, materials and the
 * staff's decision. Their states:
 *
 *   awaiting-payment ─(order paid)─► submitted ─(staff: review)─► under-review
 *   submitted | under-review ─(staff: approve)─► approved
 *   awaiting-payment | submitted | under-review ─(staff: reject, reason)─► rejected
 *   approved ─(cert/v1 issue)─► issued ─(cert/v1 confirm)─► done
 *   approved ─(expiresAt passes before issue)─► expired
 *
 * A charged kind starts in awaiting-payment, a free one in submitted. From
 * approved on the request is also a protocol action (actions.h); a person
 * sees approved and issued both as "approved". Each request carries its
 * action id, ukeyd's bearer capability, which no browser-facing answer ever
 * holds: pages and the portal name a request by its number.
 */
#ifndef UKEY_CA_CERTREQ_H
#define UKEY_CA_CERTREQ_H

#include <jansson.h>
#include <stdbool.h>
#include <time.h>

#include "ca.h"
#include "issuing.h"
#include "problem.h"
#include "review.h"

#define CR_NUMBER_PREFIX   "C"
#define CR_NUMBER_DIGITS   10
#define CR_NUMBER_MAX      (sizeof CR_NUMBER_PREFIX + CR_NUMBER_DIGITS)
/* "9a", or an SKF key's certificate id as ukeyd names it ("DEMO_SM2.sign");
 * the reference bounds a container's name to what fits here */
#define CR_SLOT_MAX        64
#define CR_ACTION_ID_PREFIX "act-"

enum cr_kind { CK_CHANGE, CK_RENEWAL, CK_REINSTALL, CK_ISSUE, CK__COUNT };

enum cr_state {
    CR_AWAITING_PAYMENT,
    CR_SUBMITTED,
    CR_UNDER_REVIEW,
    CR_APPROVED,
    CR_ISSUED,
    CR_REJECTED,
    CR_DONE,
    CR_EXPIRED,
    CR__COUNT
};

const char *cr_kind_name(enum cr_kind kind);
const char *cr_state_name(enum cr_state state);       /* the service's own word */
const char *cr_person_state(enum cr_state state);     /* issued shows as approved */
/* A slot the protocol names: a PIV slot (9a, 9c, 9d, 9e), or an SKF key's
 * certificate "<container>.sign" / "<container>.enc" (URL-safe, as ukeyd
 * shows its certificate ids; docs/cert-protocol.md, "SKF keys"). */
bool cr_slot_valid(const char *slot);
/* keep (change, reinstall) or new (renewal, issue): the reference's policy. */
bool cr_new_key(enum cr_kind kind);

struct cert_request {
    char number[CR_NUMBER_MAX];
    char action_id[CA_ID_MAX];
    char token_id[CA_TOKEN_ID_MAX];
    enum cr_kind kind;
    char slot[CR_SLOT_MAX];
    char old_serial[CA_SERIAL_MAX];      /* "" for a first issue */
    char subject[CA_ISSUER_MAX];         /* of the certificate to issue, RFC 4514 */
    enum key_alg key_alg;
    enum cr_state state;
    char order_id[CA_ID_MAX];            /* "" when free */
    int mgmt_answers;
    char issued_serial[CA_SERIAL_MAX];   /* canonical; "" until issued */
    time_t created_at, updated_at, expires_at;   /* expires_at 0 until approved */
};

/* What a person files (POST /portal/api/cert-requests). */
struct cert_filing {
    const char *session_id;              /* the portal session it is bound to */
    const char *token_id;
    const char *kind;
    const char *slot;
    const char *cert_serial;             /* the slot's certificate now; NULL for issue */
    const char *key_algorithm;           /* optional, for new keys */
    struct subject_details details;
};

/* Which details member is malformed ("details.commonName"), or NULL. */
const char *certreq_bad_detail(const struct subject_details *d);

struct ca_problem certreq_file(struct ca *ca, const struct cert_filing *f,
                               struct cert_request *out);

/* By number (REQUEST_UNKNOWN) or by action id (ACTION_UNKNOWN); an approved
 * request past its time comes back, and is stored, as expired. */
struct ca_problem certreq_load(struct ca *ca, const char *number, struct cert_request *out);
struct ca_problem certreq_load_action(struct ca *ca, const char *action_id,
                                      struct cert_request *out);
/* By number, but only a request filed in this portal session: any other is
 * REQUEST_UNKNOWN, as one that does not exist. */
struct ca_problem certreq_load_in_session(struct ca *ca, const char *number,
                                          const char *session_id, struct cert_request *out);

/* What a person sees: {number, kind, slot, state, reason, fee, paymentUrl,
 * createdAt, updatedAt, details, subject}. */
json_t *certreq_person_view(struct ca *ca, const struct cert_request *r);
/* The personal centre: a token's requests filed in this portal session
 * (none when session_id is ""), newest first. */
json_t *certreq_token_list(struct ca *ca, const char *token_id, const char *session_id,
                           enum ca_code *code);

struct ca_problem certreq_add_material(struct ca *ca, const char *number,
                                       const struct material *m);

enum cr_decision { CR_DECIDE_REVIEW, CR_DECIDE_APPROVE, CR_DECIDE_REJECT };
/* The staff's step; reason only (and required) for a rejection. */
struct ca_problem certreq_decide(struct ca *ca, const char *number, enum cr_decision d,
                                 const char *reason);

/* The staff's queue, newest first, with materials; never action ids. */
json_t *certreq_staff_list(struct ca *ca);

/* The slot's certificate on record (seeded, or confirmed written since);
 * *out NULL (and CA_OK) when there is none. */
enum ca_code certreq_slot_cert(sqlite3 *db, const char *token_id, const char *slot, X509 **out);

struct ca_problem certreq_material(sqlite3 *db, const char *number, long material_id,
                                   struct stored_material *out);

#endif
