/* SPDX-License-Identifier: MIT */
/*
 * tests/vskf/crypto.c — the virtual SKF token's cryptography, all through
 * OpenSSL 3: SM4 (device authentication, the remote-unblock answer), SM2 key
 * pairs, signatures on a digest e = SM3(Z || M) as the standard's
 * SKF_ECCSignData takes it, SM2 decryption of an ECCCIPHERBLOB, and the
 * conversions between OpenSSL keys and the standard's blobs (coordinates
 * big-endian, right-aligned in 64-byte fields).
 */
#include "tests/vskf/vskf.h"

#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#define SM2_NAME            "SM2"
#define SM4_ECB_NAME        "SM4-ECB"
#define SM4_CBC_NAME        "SM4-CBC"
#define EC_POINT_UNCOMPRESSED 0x04
#define EC_POINT_LEN        (1 + 2 * VSKF_SM2_COORD_LEN)   /* 04 || X || Y */
#define GROUP_NAME_MAX      32
#define PBOC_PAD_FIRST      0x80
/* Where a 32-byte coordinate starts in the blob's 64-byte field. */
#define BLOB_COORD_OFFSET   (ECC_COORD_BYTES - VSKF_SM2_COORD_LEN)
/* SM2 DER signatures and ciphertexts here stay far below this. */
#define DER_MAX             512

int vskf_random(uint8_t *out, size_t len)
{
    return RAND_bytes(out, (int)len) == 1 ? 0 : -1;
}

static int sm4_run(const char *name, const uint8_t *key, const uint8_t *iv, const uint8_t *in,
                   size_t len, uint8_t *out, bool encrypt)
{
    EVP_CIPHER *cipher = EVP_CIPHER_fetch(NULL, name, NULL);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, tail = 0, rc = -1;

    if (!cipher || !ctx || len % VSKF_SM4_BLOCK || len > INT32_MAX)
        goto out;
    if (EVP_CipherInit_ex2(ctx, cipher, key, iv, encrypt ? 1 : 0, NULL) != 1 ||
        EVP_CIPHER_CTX_set_padding(ctx, 0) != 1 ||
        EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1 ||
        EVP_CipherFinal_ex(ctx, out + n, &tail) != 1 || (size_t)(n + tail) != len)
        goto out;
    rc = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(cipher);
    return rc;
}

int vskf_sm4_ecb(const uint8_t key[VSKF_SM4_KEY_LEN], const uint8_t *in, size_t len,
                 uint8_t *out, bool encrypt)
{
    return sm4_run(SM4_ECB_NAME, key, NULL, in, len, out, encrypt);
}

int vskf_sm4_cbc_mac(const uint8_t key[VSKF_SM4_KEY_LEN], const uint8_t iv[VSKF_SM4_BLOCK],
                     const uint8_t *data, size_t len, uint8_t mac[VSKF_SM4_BLOCK])
{
    size_t padded = (len / VSKF_SM4_BLOCK + 1) * VSKF_SM4_BLOCK;
    uint8_t *buf = calloc(1, padded), *out = malloc(padded);
    int rc = -1;

    if (!buf || !out)
        goto out;
    memcpy(buf, data, len);
    buf[len] = PBOC_PAD_FIRST;
    if (sm4_run(SM4_CBC_NAME, key, iv, buf, padded, out, true) < 0)
        goto out;
    memcpy(mac, out + padded - VSKF_SM4_BLOCK, VSKF_SM4_BLOCK);
    rc = 0;
out:
    if (buf)
        OPENSSL_cleanse(buf, padded);
    free(buf);
    free(out);
    return rc;
}

/* --- keys ----------------------------------------------------------------------- */

bool vskf_key_is_sm2(const EVP_PKEY *key)
{
    char group[GROUP_NAME_MAX];
    size_t len;

    if (EVP_PKEY_is_a(key, SM2_NAME))
        return true;
    return EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                          &len) == 1 &&
           strcmp(group, SN_sm2) == 0;
}

static EVP_PKEY *from_params(const uint8_t *priv, size_t priv_len, const uint8_t *point,
                             size_t point_len)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, SM2_NAME, NULL);
    OSSL_PARAM *params = NULL;
    BIGNUM *d = NULL;
    EVP_PKEY *key = NULL;

    if (!bld || !ctx ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, SN_sm2, 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, point_len))
        goto out;
    if (priv) {
        d = BN_secure_new();
        if (!d || !BN_bin2bn(priv, (int)priv_len, d) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d))
            goto out;
    }
    params = OSSL_PARAM_BLD_to_param(bld);
    if (!params || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &key, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) != 1)
        key = NULL;
out:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    BN_clear_free(d);
    return key;
}

EVP_PKEY *vskf_sm2_from_private(const uint8_t *priv, size_t len)
{
    EC_GROUP *group = EC_GROUP_new_by_curve_name(NID_sm2);
    EC_POINT *pub = NULL;
    BIGNUM *d = BN_secure_new();
    uint8_t point[EC_POINT_LEN];
    EVP_PKEY *key = NULL;

    if (!group || !d || !BN_bin2bn(priv, (int)len, d) || BN_is_zero(d) ||
        BN_cmp(d, EC_GROUP_get0_order(group)) >= 0)
        goto out;
    pub = EC_POINT_new(group);
    if (!pub || EC_POINT_mul(group, pub, d, NULL, NULL, NULL) != 1 ||
        EC_POINT_point2oct(group, pub, POINT_CONVERSION_UNCOMPRESSED, point, sizeof point,
                           NULL) != sizeof point)
        goto out;
    key = from_params(priv, len, point, sizeof point);
out:
    EC_POINT_free(pub);
    EC_GROUP_free(group);
    BN_clear_free(d);
    return key;
}

/* Every key is rebuilt as an OpenSSL "SM2" key from its private scalar: an
 * SM2-curve key typed "EC" (a PEM "EC PRIVATE KEY") would sign with ECDSA. */
static EVP_PKEY *as_sm2(EVP_PKEY *key)
{
    BIGNUM *d = NULL;
    uint8_t priv[VSKF_SM2_COORD_LEN];
    EVP_PKEY *sm2 = NULL;

    if (!vskf_key_is_sm2(key) || EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1 ||
        BN_bn2binpad(d, priv, sizeof priv) < 0)
        goto out;
    sm2 = vskf_sm2_from_private(priv, sizeof priv);
out:
    OPENSSL_cleanse(priv, sizeof priv);
    BN_clear_free(d);
    return sm2;
}

EVP_PKEY *vskf_key_load(const struct vskf_bytes *pkcs8)
{
    const unsigned char *p = pkcs8->data;
    EVP_PKEY *raw, *key;

    if (!pkcs8->len)
        return NULL;
    raw = d2i_AutoPrivateKey(NULL, &p, (long)pkcs8->len);
    if (!raw)
        return NULL;
    key = as_sm2(raw);
    EVP_PKEY_free(raw);
    return key;
}

int vskf_key_store(EVP_PKEY *key, struct vskf_bytes *pkcs8)
{
    PKCS8_PRIV_KEY_INFO *info = EVP_PKEY2PKCS8(key);
    unsigned char *der = NULL;
    int len = info ? i2d_PKCS8_PRIV_KEY_INFO(info, &der) : -1;
    int rc = -1;

    if (len > 0)
        rc = vskf_bytes_set(pkcs8, der, (size_t)len);
    if (der)
        OPENSSL_clear_free(der, (size_t)len);
    PKCS8_PRIV_KEY_INFO_free(info);
    return rc;
}

EVP_PKEY *vskf_sm2_generate(void)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, SM2_NAME);
}

static int public_point(const EVP_PKEY *key, uint8_t point[EC_POINT_LEN])
{
    size_t len = 0;

    if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
                                        EC_POINT_LEN, &len) != 1 ||
        len != EC_POINT_LEN || point[0] != EC_POINT_UNCOMPRESSED)
        return -1;
    return 0;
}

int vskf_key_to_blob(const EVP_PKEY *key, ECCPUBLICKEYBLOB *blob)
{
    uint8_t point[EC_POINT_LEN];

    if (public_point(key, point) < 0)
        return -1;
    memset(blob, 0, sizeof *blob);
    blob->BitLen = VSKF_SM2_BITS;
    memcpy(blob->XCoordinate + BLOB_COORD_OFFSET, point + 1, VSKF_SM2_COORD_LEN);
    memcpy(blob->YCoordinate + BLOB_COORD_OFFSET, point + 1 + VSKF_SM2_COORD_LEN,
           VSKF_SM2_COORD_LEN);
    return 0;
}

static bool leading_zeros(const uint8_t *field)
{
    for (size_t i = 0; i < BLOB_COORD_OFFSET; i++)
        if (field[i])
            return false;
    return true;
}

EVP_PKEY *vskf_key_from_blob(const ECCPUBLICKEYBLOB *blob)
{
    uint8_t point[EC_POINT_LEN];

    if (blob->BitLen != VSKF_SM2_BITS || !leading_zeros(blob->XCoordinate) ||
        !leading_zeros(blob->YCoordinate))
        return NULL;
    point[0] = EC_POINT_UNCOMPRESSED;
    memcpy(point + 1, blob->XCoordinate + BLOB_COORD_OFFSET, VSKF_SM2_COORD_LEN);
    memcpy(point + 1 + VSKF_SM2_COORD_LEN, blob->YCoordinate + BLOB_COORD_OFFSET,
           VSKF_SM2_COORD_LEN);
    return from_params(NULL, 0, point, sizeof point);
}

/* --- signatures ----------------------------------------------------------------- */

int vskf_sign_digest(EVP_PKEY *key, const uint8_t *digest, size_t len, ECCSIGNATUREBLOB *sig)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
    unsigned char der[DER_MAX];
    const unsigned char *p = der;
    size_t der_len = sizeof der;
    ECDSA_SIG *s = NULL;
    const BIGNUM *r, *sv;
    int rc = -1;

    if (!ctx || EVP_PKEY_sign_init(ctx) != 1 ||
        EVP_PKEY_sign(ctx, der, &der_len, digest, len) != 1)
        goto out;
    s = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    if (!s)
        goto out;
    ECDSA_SIG_get0(s, &r, &sv);
    memset(sig, 0, sizeof *sig);
    if (BN_bn2binpad(r, sig->r + BLOB_COORD_OFFSET, VSKF_SM2_COORD_LEN) < 0 ||
        BN_bn2binpad(sv, sig->s + BLOB_COORD_OFFSET, VSKF_SM2_COORD_LEN) < 0)
        goto out;
    rc = 0;
out:
    ECDSA_SIG_free(s);
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

int vskf_verify_digest(EVP_PKEY *key, const uint8_t *digest, size_t len,
                       const ECCSIGNATUREBLOB *sig)
{
    ECDSA_SIG *s = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig->r, ECC_COORD_BYTES, NULL);
    BIGNUM *sv = BN_bin2bn(sig->s, ECC_COORD_BYTES, NULL);
    EVP_PKEY_CTX *ctx = NULL;
    unsigned char *der = NULL;
    int der_len, rc = -1;

    if (!s || !r || !sv || ECDSA_SIG_set0(s, r, sv) != 1)
        goto out;
    r = sv = NULL;                     /* owned by s now */
    der_len = i2d_ECDSA_SIG(s, &der);
    ctx = EVP_PKEY_CTX_new(key, NULL);
    if (der_len <= 0 || !ctx || EVP_PKEY_verify_init(ctx) != 1)
        goto out;
    rc = EVP_PKEY_verify(ctx, der, (size_t)der_len, digest, len) == 1 ? 1 : 0;
    ERR_clear_error();
out:
    OPENSSL_free(der);
    EVP_PKEY_CTX_free(ctx);
    BN_free(r);
    BN_free(sv);
    ECDSA_SIG_free(s);
    return rc;
}

/* --- SM2 decryption -------------------------------------------------------------- */

static int push_integer(STACK_OF(ASN1_TYPE) *seq, const uint8_t *field)
{
    BIGNUM *bn = BN_bin2bn(field, ECC_COORD_BYTES, NULL);
    ASN1_INTEGER *i = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    ASN1_TYPE *t = ASN1_TYPE_new();

    BN_free(bn);
    if (!i || !t) {
        ASN1_INTEGER_free(i);
        ASN1_TYPE_free(t);
        return -1;
    }
    ASN1_TYPE_set(t, V_ASN1_INTEGER, i);
    if (!sk_ASN1_TYPE_push(seq, t)) {
        ASN1_TYPE_free(t);
        return -1;
    }
    return 0;
}

static int push_octets(STACK_OF(ASN1_TYPE) *seq, const uint8_t *data, size_t len)
{
    ASN1_OCTET_STRING *o = ASN1_OCTET_STRING_new();
    ASN1_TYPE *t = ASN1_TYPE_new();

    if (!o || !t || ASN1_OCTET_STRING_set(o, data, (int)len) != 1) {
        ASN1_OCTET_STRING_free(o);
        ASN1_TYPE_free(t);
        return -1;
    }
    ASN1_TYPE_set(t, V_ASN1_OCTET_STRING, o);
    if (!sk_ASN1_TYPE_push(seq, t)) {
        ASN1_TYPE_free(t);
        return -1;
    }
    return 0;
}

/* OpenSSL takes SM2 ciphertext as GM/T 0009's DER: SEQUENCE { x INTEGER,
 * y INTEGER, hash OCTET STRING, cipher OCTET STRING }; the blob holds the
 * same four parts as fixed fields. */
int vskf_sm2_decrypt_blob(EVP_PKEY *key, const ECCCIPHERBLOB *blob, uint8_t *out,
                          size_t *out_len)
{
    STACK_OF(ASN1_TYPE) *seq = sk_ASN1_TYPE_new_null();
    EVP_PKEY_CTX *ctx = NULL;
    unsigned char *der = NULL;
    int der_len, rc = -1;

    if (!seq || push_integer(seq, blob->XCoordinate) < 0 ||
        push_integer(seq, blob->YCoordinate) < 0 ||
        push_octets(seq, blob->HASH, sizeof blob->HASH) < 0 ||
        push_octets(seq, blob->Cipher, blob->CipherLen) < 0)
        goto out;
    der_len = i2d_ASN1_SEQUENCE_ANY(seq, &der);
    ctx = EVP_PKEY_CTX_new(key, NULL);
    if (der_len <= 0 || !ctx || EVP_PKEY_decrypt_init(ctx) != 1 ||
        EVP_PKEY_decrypt(ctx, out, out_len, der, (size_t)der_len) != 1)
        goto out;
    rc = 0;
out:
    ERR_clear_error();
    OPENSSL_free(der);
    EVP_PKEY_CTX_free(ctx);
    sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
    return rc;
}

/* --- certificates ------------------------------------------------------------------- */

int vskf_cert_matches_key(const struct vskf_bytes *cert, const struct vskf_bytes *key)
{
    const unsigned char *p = cert->data;
    X509 *x = d2i_X509(NULL, &p, (long)cert->len);
    EVP_PKEY *k = vskf_key_load(key);
    EVP_PKEY *cert_key = x ? X509_get0_pubkey(x) : NULL;
    uint8_t a[EC_POINT_LEN], b[EC_POINT_LEN];
    int rc = -1;

    /* Compared as encoded points: EVP_PKEY_eq calls an "EC"-typed SM2 key
     * from a certificate a different type from an "SM2" one. */
    if (cert_key && k && public_point(cert_key, a) == 0 && public_point(k, b) == 0)
        rc = memcmp(a, b, sizeof a) == 0;
    EVP_PKEY_free(k);
    X509_free(x);
    return rc;
}
