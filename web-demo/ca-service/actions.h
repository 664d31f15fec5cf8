/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/actions.h — the certificate protocol's side of a
 * request (docs/cert-protocol.md): an approved request is an action that
 * ukeyd lists, answers management-key challenges for (at most
 * ACTION_MGMT_ANSWERS_MAX), has issued and confirms written. Confirming
 * records the new certificate as the slot's, for the next keep action and
 * for unlock/v1.
 */
#ifndef UKEY_CA_ACTIONS_H
#define UKEY_CA_ACTIONS_H

#include <jansson.h>
#include <stddef.h>

#include "ca.h"
#include "problem.h"

#define ACTION_MGMT_ANSWERS_MAX  16

/* {"actions": [ACTION…]}: the token's approved and issued actions, oldest first. */
struct ca_problem actions_for_token(struct ca *ca, const char *token_id, json_t **out);

/* ACTION, whatever its state (done and expired included). */
struct ca_problem action_get(struct ca *ca, const char *action_id, json_t **out);

/* {"response"}: the challenge encrypted under the token's management key. */
struct ca_problem action_management_auth(struct ca *ca, const char *action_id,
                                         const char *algorithm, const char *challenge_b64,
                                         json_t **out);

/* {"certificate", "chain"}; csr_b64 NULL for a keep action. */
struct ca_problem action_issue(struct ca *ca, const char *action_id, const char *csr_b64,
                               json_t **out);

/* {"state": "done"} once the serial is the issued certificate's and
 * `certificates` ([{slot, serial}…], may be NULL) names each partner of a
 * pair with its issued serial. */
struct ca_problem action_confirm(struct ca *ca, const char *action_id, const char *serial,
                                 json_t *certificates, json_t **out);

#endif
