/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/rotation.h — the unlock secrets on record (a PIV
 * token's PUK, an SKF token's admin PIN) and their rotation, the part of the
 * service that must never strand a token; and the answers to SKF tokens'
 * remote-unblock challenges, made from the admin PIN that never leaves it.
 *
 * A token's record holds the PUK its card has and, while a rotation is
 * pending, the fresh PUK handed out with it. Until the client confirms, both
 * are kept and handed out again unchanged (authorize on any authorised
 * request of the token, or reconcile by rotation id), so a client that
 * crashed anywhere between the PIN reset and its confirmation can find out
 * which of the two the card has. The confirmation drops the other one.
 */
#ifndef UKEY_CA_ROTATION_H
#define UKEY_CA_ROTATION_H

#include <jansson.h>
#include <stdbool.h>

#include "ca.h"
#include "problem.h"
#include "requests.h"

/*
 * {rotationId, mechanism, resumed} and the mechanism's secrets ({puk,
 * nextPuk}, {adminPin, nextAdminPin}, none for remote-challenge): the
 * request must be authorised. `offered` (MECH_BIT()s), when not 0, is the
 * client's offer again, and the mechanism is chosen anew from it.
 */
struct ca_problem rotation_authorize(struct ca *ca, struct unlock_request *r, unsigned offered,
                                     json_t **out);

/*
 * result "rotated" (the card took nextPuk) or "unchanged" (it kept puk).
 * pin_reset says whether the user's unlock happened: a rotation finished
 * by a recovery after a PIN reset that did not take leaves the request
 * authorised (and its fee unspent) for another try.
 */
struct ca_problem rotation_confirm(struct ca *ca, const char *rotation_id, const char *result,
                                   bool pin_reset, json_t **out);

/* {rotationId, mechanism, and its secrets} of a pending rotation. */
struct ca_problem rotation_reconcile(struct ca *ca, const char *rotation_id, json_t **out);

/*
 * A client's card refused the rotation's PUK (`problem` "puk-incorrect" or
 * "puk-unfit"; `puk_tries_left` -1 when not said): recorded, settling
 * nothing. Until the token's PUK record changes, authorize answers
 * PUK_RECORD_MISMATCH for it, so a wrong record costs a card one try only.
 */
struct ca_problem rotation_report(struct ca *ca, const char *rotation_id, const char *problem,
                                  int puk_tries_left, json_t **out);

/*
 * A pending remote-challenge rotation: {rotationId, answer} where answer is
 * the hex of the answer to the token's challenge (hex, 1 to 16 bytes) that
 * sets the token's user PIN to `pin` (6 to 16 characters), made with the
 * admin PIN on record (unblock.h). The admin PIN never leaves the service.
 */
struct ca_problem rotation_answer(struct ca *ca, const char *rotation_id, const char *challenge_hex,
                                  const char *pin, json_t **out);

#endif
