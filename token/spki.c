/* SPDX-License-Identifier: MIT */
/* token/spki.c — SubjectPublicKeyInfo DER from card key material (see spki.h). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "token/spki.h"

#define SPKI_RSA_MIN_BITS     1024
#define SPKI_RSA_MAX_BITS     4096
#define SPKI_RSA_2048_BITS    2048
#define SPKI_RSA_EXP_MAX_LEN  8
#define SPKI_EC_POINT_UNCOMPRESSED 0x04   /* SEC 1, 2.3.3 */
#define SPKI_GROUP_NAME_MAX   80

static void pkey_freep(EVP_PKEY **p) { EVP_PKEY_free(*p); }
static void pkey_ctx_freep(EVP_PKEY_CTX **p) { EVP_PKEY_CTX_free(*p); }
static void bn_freep(BIGNUM **p) { BN_free(*p); }
static void param_bld_freep(OSSL_PARAM_BLD **p) { OSSL_PARAM_BLD_free(*p); }
static void params_freep(OSSL_PARAM **p) { OSSL_PARAM_free(*p); }
static void x509_pubkey_freep(X509_PUBKEY **p) { X509_PUBKEY_free(*p); }
static void ec_group_freep(EC_GROUP **p) { EC_GROUP_free(*p); }

/* i2d_PUBKEY into a malloc()ed buffer, so callers free with free() like everything of token/. */
static token_err pkey_to_spki(EVP_PKEY *pkey, uint8_t **spki, size_t *spki_len)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(pkey, &der);

    if (n <= 0)
        return TOKEN_E_NO_MEMORY;
    *spki = malloc((size_t)n);
    if (*spki) {
        memcpy(*spki, der, (size_t)n);
        *spki_len = (size_t)n;
    }
    OPENSSL_free(der);
    return *spki ? TOKEN_OK : TOKEN_E_NO_MEMORY;
}

/* A public key from parameters; TOKEN_E_MALFORMED when OpenSSL will not take them. */
static token_err pkey_from_params(const char *type, const OSSL_PARAM *params, EVP_PKEY **out)
{
    EVP_PKEY_CTX *ctx __attribute__((cleanup(pkey_ctx_freep))) =
        EVP_PKEY_CTX_new_from_name(NULL, type, NULL);

    *out = NULL;
    if (!ctx)
        return TOKEN_E_NO_MEMORY;
    if (EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, (OSSL_PARAM *)params) <= 0) {
        ERR_clear_error();
        return TOKEN_E_MALFORMED;
    }
    return TOKEN_OK;
}

static bool rsa_material_plausible(const BIGNUM *n, const BIGNUM *e)
{
    int bits = BN_num_bits(n);

    return bits >= SPKI_RSA_MIN_BITS && bits <= SPKI_RSA_MAX_BITS && BN_is_odd(n) &&
           BN_is_odd(e) && !BN_is_one(e);
}

token_err spki_from_rsa(const uint8_t *modulus, size_t modulus_len, const uint8_t *exponent,
                        size_t exponent_len, uint8_t **spki, size_t *spki_len)
{
    BIGNUM *n __attribute__((cleanup(bn_freep))) = NULL;
    BIGNUM *e __attribute__((cleanup(bn_freep))) = NULL;
    OSSL_PARAM_BLD *bld __attribute__((cleanup(param_bld_freep))) = NULL;
    OSSL_PARAM *params __attribute__((cleanup(params_freep))) = NULL;
    EVP_PKEY *pkey __attribute__((cleanup(pkey_freep))) = NULL;
    token_err err;

    if (!modulus || !exponent || modulus_len == 0 || modulus_len > INT_MAX ||
        exponent_len == 0 || exponent_len > SPKI_RSA_EXP_MAX_LEN)
        return TOKEN_E_MALFORMED;
    n = BN_bin2bn(modulus, (int)modulus_len, NULL);
    e = BN_bin2bn(exponent, (int)exponent_len, NULL);
    bld = OSSL_PARAM_BLD_new();
    if (!n || !e || !bld)
        return TOKEN_E_NO_MEMORY;
    if (!rsa_material_plausible(n, e))
        return TOKEN_E_MALFORMED;
    if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
        !(params = OSSL_PARAM_BLD_to_param(bld)))
        return TOKEN_E_NO_MEMORY;
    err = pkey_from_params("RSA", params, &pkey);
    return err ? err : pkey_to_spki(pkey, spki, spki_len);
}

/* Bytes of one coordinate on `curve`; 0 when OpenSSL does not know the curve. */
static size_t curve_field_len(const char *curve)
{
    EC_GROUP *g __attribute__((cleanup(ec_group_freep))) =
        EC_GROUP_new_by_curve_name(OBJ_txt2nid(curve));

    return g ? ((size_t)EC_GROUP_get_degree(g) + 7) / 8 : 0;
}

token_err spki_from_ec_point(const char *curve, const uint8_t *point, size_t point_len,
                             uint8_t **spki, size_t *spki_len)
{
    size_t field = curve_field_len(curve);
    EVP_PKEY *pkey __attribute__((cleanup(pkey_freep))) = NULL;
    /* The SM2 key type signs and verifies with SM3 and the user id; a plain EC key would not. */
    const char *type = strcmp(curve, SPKI_CURVE_SM2) == 0 ? "SM2" : "EC";
    OSSL_PARAM params[] = {
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)curve, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point, point_len),
        OSSL_PARAM_END,
    };
    token_err err;

    if (field == 0)
        return TOKEN_E_NOT_SUPPORTED;
    if (!point || point_len != 1 + 2 * field || point[0] != SPKI_EC_POINT_UNCOMPRESSED)
        return TOKEN_E_MALFORMED;
    err = pkey_from_params(type, params, &pkey);
    return err ? err : pkey_to_spki(pkey, spki, spki_len);
}

/* The whole of `der` must be one SubjectPublicKeyInfo. */
static token_err decode_spki(const uint8_t *der, size_t len, X509_PUBKEY **out)
{
    const unsigned char *p = der;

    *out = NULL;
    if (!der || len == 0 || len > LONG_MAX)
        return TOKEN_E_MALFORMED;
    *out = d2i_X509_PUBKEY(NULL, &p, (long)len);
    if (*out && p == der + len && X509_PUBKEY_get0(*out))
        return TOKEN_OK;
    X509_PUBKEY_free(*out);
    *out = NULL;
    ERR_clear_error();
    return TOKEN_E_MALFORMED;
}

token_err spki_equal(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len, bool *equal)
{
    X509_PUBKEY *ka __attribute__((cleanup(x509_pubkey_freep))) = NULL;
    X509_PUBKEY *kb __attribute__((cleanup(x509_pubkey_freep))) = NULL;
    token_err err;

    *equal = false;
    if ((err = decode_spki(a, a_len, &ka)) || (err = decode_spki(b, b_len, &kb)))
        return err;
    /* the keys, not their encodings: an EC point may come compressed */
    *equal = EVP_PKEY_eq(X509_PUBKEY_get0(ka), X509_PUBKEY_get0(kb)) == 1;
    ERR_clear_error();
    return TOKEN_OK;
}

static token_err ec_key_alg(const EVP_PKEY *pkey, enum token_key_alg *alg)
{
    char group[SPKI_GROUP_NAME_MAX];
    size_t group_len;

    if (!EVP_PKEY_get_group_name(pkey, group, sizeof(group), &group_len))
        return TOKEN_E_MALFORMED;
    switch (OBJ_txt2nid(group)) {
    case NID_X9_62_prime256v1: *alg = TOKEN_KEY_EC_P256; return TOKEN_OK;
    case NID_secp384r1:        *alg = TOKEN_KEY_EC_P384; return TOKEN_OK;
    case NID_sm2:              *alg = TOKEN_KEY_SM2;     return TOKEN_OK;
    default:                   return TOKEN_E_NOT_SUPPORTED;
    }
}

/* By the algorithm OID, as cert.c does: OpenSSL 3.0 gives SM2 keys no legacy id. */
token_err spki_key_alg(const uint8_t *spki, size_t spki_len, enum token_key_alg *alg)
{
    X509_PUBKEY *k __attribute__((cleanup(x509_pubkey_freep))) = NULL;
    ASN1_OBJECT *oid = NULL;
    token_err err = decode_spki(spki, spki_len, &k);

    if (err)
        return err;
    X509_PUBKEY_get0_param(&oid, NULL, NULL, NULL, k);
    switch (OBJ_obj2nid(oid)) {
    case NID_rsaEncryption:
        if (EVP_PKEY_get_bits(X509_PUBKEY_get0(k)) != SPKI_RSA_2048_BITS)
            return TOKEN_E_NOT_SUPPORTED;
        *alg = TOKEN_KEY_RSA2048;
        return TOKEN_OK;
    case NID_X9_62_id_ecPublicKey:
    case NID_sm2:
        return ec_key_alg(X509_PUBKEY_get0(k), alg);
    default:
        return TOKEN_E_NOT_SUPPORTED;
    }
}

static const char *const key_alg_names[TOKEN_KEY__COUNT] = {
    [TOKEN_KEY_RSA2048] = "RSA-2048",
    [TOKEN_KEY_EC_P256] = "EC-P256",
    [TOKEN_KEY_EC_P384] = "EC-P384",
    [TOKEN_KEY_SM2] = "SM2",
};

const char *token_key_alg_name(enum token_key_alg alg)
{
    return (unsigned)alg < TOKEN_KEY__COUNT ? key_alg_names[alg] : NULL;
}

token_err token_key_alg_from_name(const char *name, enum token_key_alg *out)
{
    unsigned i;

    if (!name || !out)
        return TOKEN_E_INVALID_ARG;
    for (i = 0; i < TOKEN_KEY__COUNT; i++) {
        if (strcmp(name, key_alg_names[i]) == 0) {
            *out = (enum token_key_alg)i;
            return TOKEN_OK;
        }
    }
    return TOKEN_E_INVALID_ARG;
}
