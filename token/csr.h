/* SPDX-License-Identifier: MIT */
/*
 * token/csr.h — PKCS#10 certification requests (RFC 2986) for a key pair
 * that never leaves the card: OpenSSL builds and encodes the request, a
 * callback (the card) makes the signature, and OpenSSL checks the finished
 * request against the public key before it is handed out. Owns the choice of
 * hash and signature algorithm per key type and the SM2 signing input
 * (GM/T 0009: e = SM3(Z || M) with the default user id).
 */
#ifndef UKEYD_TOKEN_CSR_H
#define UKEYD_TOKEN_CSR_H

#include <stddef.h>
#include <stdint.h>

#include "token/error.h"
#include "token/token.h"

/* The user id of GM/T 0009 that SM2 signatures are made and checked with
 * when the parties agreed on none; the CAs of this project use it. */
#define CSR_SM2_DEFAULT_ID "1234567812345678"
#define CSR_SM3_LEN        32

/*
 * Signs `in` with the key: for RSA `in` is a DER DigestInfo (SHA-256) to be
 * padded PKCS#1 v1.5; for EC the hash (SHA-256 for P-256, SHA-384 for
 * P-384); for SM2 e = SM3(Z || M). The signature, malloc()ed, as X.509
 * carries it: RSA the raw block, EC and SM2 a DER SEQUENCE{r, s}.
 */
typedef token_err (*csr_sign_fn)(void *userdata, enum token_key_alg alg, const uint8_t *in,
                                 size_t in_len, uint8_t **sig, size_t *sig_len);

/*
 * A request for the public key `spki` (SubjectPublicKeyInfo DER) with the
 * subject `subject_der` (a DER Name), or CN=`common_name` when that is NULL.
 * Signature algorithms: sha256WithRSAEncryption, ecdsa-with-SHA256/SHA384,
 * SM2-with-SM3. *csr is malloc()ed DER.
 * TOKEN_E_KEY_MISMATCH when the signature does not verify with `spki` (the
 * signer's key is another); TOKEN_E_NOT_SUPPORTED for a key other than
 * RSA-2048, P-256, P-384, SM2; TOKEN_E_MALFORMED for a `spki` that does not
 * decode; TOKEN_E_INVALID_ARG for a subject that does not; the callback's
 * error as it is.
 */
token_err csr_build(const uint8_t *spki, size_t spki_len, const uint8_t *subject_der,
                    size_t subject_len, const char *common_name, csr_sign_fn sign,
                    void *userdata, uint8_t **csr, size_t *csr_len);

/* The SM2 signing input e = SM3(Z || msg) for the key `spki`, with the default
 * user id; for callers that check an SM2 signature by hand (tests). */
token_err csr_sm2_e(const uint8_t *spki, size_t spki_len, const uint8_t *msg, size_t msg_len,
                    uint8_t e[CSR_SM3_LEN]);

#endif
