/* SPDX-License-Identifier: MIT */
/*
 * tests/vtoken/keys.h — the private keys in the PIV slots, through OpenSSL:
 * their PIV algorithm ids, generation, the public key as GENERATE and GET
 * METADATA show it, the card's signature operations, and whether a key
 * belongs to a slot's certificate. Keys are held as PKCS#8 DER in the state
 * and decoded only for the moment they are used.
 */
#ifndef UKEYD_VTOKEN_KEYS_H
#define UKEYD_VTOKEN_KEYS_H

#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "tests/vtoken/buf.h"

/* SP 800-78-4 table 6-2 algorithm identifiers. */
#define PIV_ALG_RSA_1024     0x06
#define PIV_ALG_RSA_2048     0x07
#define PIV_ALG_ECC_P256     0x11
#define PIV_ALG_ECC_P384     0x14
/*
 * SM2 has no PIV identifier: real SM2 tokens speak GM/T 0016 (SKF), not
 * PIV. This vendor value, from the range SP 800-78-4 leaves unassigned, is
 * what the virtual token and ukeyd's token layer agree on.
 */
#define PIV_ALG_SM2_VENDOR   0xF0

/* Public key tags inside 7F49 (SP 800-73-4 part 2 table 6). */
#define PIV_TAG_RSA_MODULUS   0x81
#define PIV_TAG_RSA_EXPONENT  0x82
#define PIV_TAG_EC_POINT      0x86

enum vt_sign_result {
    VT_SIGN_OK,
    VT_SIGN_BAD_INPUT,     /* wrong length, or an RSA block not below the modulus */
    VT_SIGN_FAILED,        /* OpenSSL or memory */
};

/* The key, or NULL when the DER does not decode. */
EVP_PKEY *vt_key_load(const struct vt_buf *pkcs8);
/* The PIV algorithm id of a key, or -1 for one the card cannot use. */
int vt_key_alg(const EVP_PKEY *key);
/* True for the algorithms GENERATE makes. */
bool vt_key_alg_can_generate(uint8_t alg);
/* The private key as the state keeps it, PKCS#8 DER; -1 on failure. */
int vt_key_to_pkcs8(EVP_PKEY *key, struct vt_buf *pkcs8);
/* A new key of that algorithm as PKCS#8 DER; -1 on failure. */
int vt_key_generate(uint8_t alg, struct vt_buf *pkcs8);
/* The public key as PIV encodes it: 81 modulus 82 exponent, or 86 point. */
int vt_key_public_tlvs(const EVP_PKEY *key, struct vt_buf *out);

/*
 * The card's private key operation: RSA raw over a whole block (the client
 * did the padding), ECDSA over the given hash, SM2 over the given
 * e = SM3(Z || M). EC and SM2 signatures are DER SEQUENCE { r, s }.
 */
enum vt_sign_result vt_key_sign(EVP_PKEY *key, uint8_t alg, const uint8_t *in, size_t len,
                                struct vt_buf *sig);

/* The certificate a slot stores (gunzipped when CertInfo says gzip), or NULL. */
X509 *vt_cert_decode(const struct vt_buf *stored, uint8_t cert_info);

/* 1 when the key is the certificate's, 0 when it is not, -1 when either
 * does not decode. */
int vt_key_matches_cert(const struct vt_buf *pkcs8, const struct vt_buf *cert,
                        uint8_t cert_info);

#endif
