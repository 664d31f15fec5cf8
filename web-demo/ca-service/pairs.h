/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/pairs.h — certificate pairs: a change of the holder's
 * details (证书变更) re-issues the signing and the encryption certificate
 * together, as GM/T 0014's double certificate has them carry one subject.
 * A change of a signing slot (9a, 9c) whose token has an encryption
 * certificate (9d) on record, or of 9d whose token has a signing one (9a,
 * else 9c), or of an SKF key's <container>.sign whose <container>.enc is on
 * record (and back), carries that other certificate as its partner: filed with it,
 * listed in the action's `certificates`, issued with it, and confirmed only
 * together with it (docs/cert-protocol.md, "Certificate pairs").
 *
 * A partner keeps its key: the reference re-certifies the key it has on
 * record for the slot, with the request's subject. (A production CA's KM
 * would make a new encryption key pair and deliver it enveloped; see the
 * protocol text for why the reference does not.)
 */
#ifndef UKEY_CA_PAIRS_H
#define UKEY_CA_PAIRS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ca.h"
#include "certreq.h"
#include "issuing.h"
#include "problem.h"

#define PAIR_PARTNERS_MAX  1             /* a pair is two certificates */

/* "signing" for 9a, 9c, 9e and an SKF <container>.sign; "encryption" for 9d
 * and <container>.enc. */
const char *pair_role(const char *slot);

/* At filing, beside the one-open-request rule: 409 STATE_CONFLICT (with the
 * state a person sees) when an open request's pair holds `r`'s slot, or
 * another open request holds the slot `r` would pair with. */
struct ca_problem pair_check_free(sqlite3 *db, const struct cert_request *r);

/* At filing (in its transaction): records the partner of `r` when it has one. */
enum ca_code pair_file(sqlite3 *db, const struct cert_request *r);

/* [{slot, role, oldSerial}]: the request's own certificate first, then its partners. */
json_t *pair_action_certificates(sqlite3 *db, const struct cert_request *r);

/* Issues (in the issue's transaction) each partner not issued yet: the key
 * on record for its slot, the request's subject; the issuer of the
 * partner's certificate on record. */
struct ca_problem pair_issue(struct ca *ca, const struct cert_request *r);

/* {certificate, chain}: one issued certificate as the issue answer carries it
 * (an intermediate issuer's own certificate in the chain, a root never). */
json_t *pair_cert_view(const unsigned char *der, size_t len, const struct issuer *is);

/* Appends each partner's {slot, role, certificate, chain} to `list`. */
bool pair_issued_views(struct ca *ca, const struct cert_request *r, json_t *list);

/* Confirm: `certificates` ([{slot, serial}…], may be NULL) must name each
 * partner with its issued serial, else 400 with field "certificates". */
struct ca_problem pair_check_confirmed(sqlite3 *db, const struct cert_request *r,
                                       json_t *certificates);

/* Records each partner's issued certificate as its slot's (in the confirm's transaction). */
bool pair_record_written(sqlite3 *db, const struct cert_request *r);

#endif
