/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/mgmt.h — each token's PIV card management key (key
 * reference 9B): its algorithm and bytes, kept in the database from the
 * seed, and the one thing the service does with it: encrypt a card's
 * challenge (one block, ECB), which ukeyd relays back to the card. The key
 * never leaves this module; it is wiped from memory after each use and is
 * never logged.
 */
#ifndef UKEY_CA_MGMT_H
#define UKEY_CA_MGMT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

#include "problem.h"

#define MGMT_BLOCK_MAX   16             /* AES; 3DES has 8 */
#define MGMT_ALG_MAX     8              /* "AES-128" */

/* The PIV default key every card ships with, and yubico-piv-tool assumes. */
#define MGMT_DEFAULT_ALG "3DES"
#define MGMT_DEFAULT_KEY "010203040506070801020304050607080102030405060708"

/* Whether name is 3DES, AES-128, AES-192 or AES-256. */
bool mgmt_alg_known(const char *name);

/* Records the token's key (hex) unless it has one; false when the
 * algorithm is unknown or the hex is not a key of its length. */
bool mgmt_seed(sqlite3 *db, const char *token_id, const char *alg, const char *key_hex);

/* The token's management key algorithm into alg[MGMT_ALG_MAX]; CA_OK,
 * CA_TOKEN_UNKNOWN (no key on record) or CA_INTERNAL. */
enum ca_code mgmt_algorithm(sqlite3 *db, const char *token_id, char alg[MGMT_ALG_MAX]);

/*
 * response = ECB-encrypt(challenge) under the token's key. BAD_REQUEST with
 * field "algorithm" when alg is not the key's, "challenge" when the
 * challenge is not one block of it.
 */
struct ca_problem mgmt_answer(sqlite3 *db, const char *token_id, const char *alg,
                              const unsigned char *challenge, size_t len,
                              unsigned char response[MGMT_BLOCK_MAX], size_t *response_len);

#endif
