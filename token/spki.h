/* SPDX-License-Identifier: MIT */
/*
 * token/spki.h — public keys as X.509 SubjectPublicKeyInfo DER (internal to
 * token/): built by OpenSSL from the raw material a card hands out (an RSA
 * modulus and exponent, an uncompressed EC point on a named curve), compared
 * key against key, and told apart by the algorithms a token generates; the
 * names of those algorithms (token_key_alg_name of token.h) live here too.
 *
 * Everything returned is malloc()ed; free with free().
 */
#ifndef UKEYD_TOKEN_SPKI_H
#define UKEYD_TOKEN_SPKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "token/error.h"
#include "token/token.h"

/* Curves by the names OpenSSL knows them under. */
#define SPKI_CURVE_P256 "prime256v1"
#define SPKI_CURVE_P384 "secp384r1"
#define SPKI_CURVE_SM2  "SM2"

/* TOKEN_E_MALFORMED for a modulus that is no RSA modulus, or an exponent that is none. */
token_err spki_from_rsa(const uint8_t *modulus, size_t modulus_len, const uint8_t *exponent,
                        size_t exponent_len, uint8_t **spki, size_t *spki_len);

/*
 * `point` is the uncompressed point (04 || X || Y) on `curve` (SPKI_CURVE_*).
 * TOKEN_E_MALFORMED when it is not on the curve or not of the curve's length.
 * An SM2 key comes out as id-ecPublicKey on the SM2 curve (GM/T 0015).
 */
token_err spki_from_ec_point(const char *curve, const uint8_t *point, size_t point_len,
                             uint8_t **spki, size_t *spki_len);

/* *equal when both decode and hold the same public key. TOKEN_E_MALFORMED when one does not decode. */
token_err spki_equal(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len, bool *equal);

/*
 * Which of the generatable key pairs `spki` is: RSA-2048, EC P-256/P-384, SM2.
 * TOKEN_E_NOT_SUPPORTED for another key (RSA-4096, Ed25519...); TOKEN_E_MALFORMED
 * when it does not decode.
 */
token_err spki_key_alg(const uint8_t *spki, size_t spki_len, enum token_key_alg *alg);

#endif
