/* SPDX-License-Identifier: MIT */
/*
 * tests/vtoken/keys.c — slot keys through OpenSSL 3: generation, public key
 * encoding, signing, and the key/certificate match `vtoken show` reports.
 */
#include "tests/vtoken/keys.h"

#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <zlib.h>

#include "tests/vtoken/state.h"
#include "tests/vtoken/tlv.h"

#define RSA_1024_BITS        1024
#define RSA_2048_BITS        2048
#define RSA_PUBLIC_EXPONENT  65537
#define SM2_DIGEST_LEN       32     /* e = SM3(Z || M) */
#define EC_GROUP_NAME_MAX    64
#define EC_POINT_MAX         133    /* 04 X Y on P-521, the largest curve */
#define BITS_PER_BYTE        8
/* A PIV certificate object holds at most a few kilobytes; anything that
 * inflates beyond this is no certificate. */
#define GUNZIP_MAX           65536
#define GZIP_WINDOW_BITS     (MAX_WBITS + 16)   /* zlib: expect a gzip header */

EVP_PKEY *vt_key_load(const struct vt_buf *pkcs8)
{
    const unsigned char *p = pkcs8->data;

    if (!pkcs8->len)
        return NULL;
    return d2i_AutoPrivateKey(NULL, &p, (long)pkcs8->len);
}

static int ec_alg(const EVP_PKEY *key)
{
    char group[EC_GROUP_NAME_MAX];
    size_t len;

    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &len) != 1)
        return -1;
    if (strcmp(group, SN_X9_62_prime256v1) == 0)
        return PIV_ALG_ECC_P256;
    if (strcmp(group, SN_secp384r1) == 0)
        return PIV_ALG_ECC_P384;
    if (strcmp(group, SN_sm2) == 0)
        return PIV_ALG_SM2_VENDOR;
    return -1;
}

int vt_key_alg(const EVP_PKEY *key)
{
    if (!key)
        return -1;
    if (EVP_PKEY_is_a(key, "SM2"))
        return PIV_ALG_SM2_VENDOR;
    if (EVP_PKEY_is_a(key, "EC"))
        return ec_alg(key);
    if (EVP_PKEY_is_a(key, "RSA")) {
        switch (EVP_PKEY_get_bits(key)) {
        case RSA_1024_BITS: return PIV_ALG_RSA_1024;
        case RSA_2048_BITS: return PIV_ALG_RSA_2048;
        default:            return -1;
        }
    }
    return -1;
}

bool vt_key_alg_can_generate(uint8_t alg)
{
    return alg == PIV_ALG_RSA_2048 || alg == PIV_ALG_ECC_P256 || alg == PIV_ALG_ECC_P384 ||
           alg == PIV_ALG_SM2_VENDOR;
}

static EVP_PKEY *generate(uint8_t alg)
{
    switch (alg) {
    case PIV_ALG_RSA_2048:
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)RSA_2048_BITS);
    case PIV_ALG_ECC_P256:
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    case PIV_ALG_ECC_P384:
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    case PIV_ALG_SM2_VENDOR:
        return EVP_PKEY_Q_keygen(NULL, NULL, "SM2");
    default:
        return NULL;
    }
}

int vt_key_to_pkcs8(EVP_PKEY *key, struct vt_buf *out)
{
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(key);
    unsigned char *der = NULL;
    int len, rc = -1;

    if (!p8)
        return -1;
    len = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
    if (len > 0)
        rc = vt_buf_set(out, der, (size_t)len);
    if (der)
        OPENSSL_clear_free(der, (size_t)(len > 0 ? len : 0));
    PKCS8_PRIV_KEY_INFO_free(p8);
    return rc;
}

int vt_key_generate(uint8_t alg, struct vt_buf *pkcs8)
{
    EVP_PKEY *key = vt_key_alg_can_generate(alg) ? generate(alg) : NULL;
    int rc = key ? vt_key_to_pkcs8(key, pkcs8) : -1;

    EVP_PKEY_free(key);
    ERR_clear_error();
    return rc;
}

/* --- public keys --------------------------------------------------------- */

static int append_bn(struct vt_buf *out, uint32_t tag, const BIGNUM *bn, int width)
{
    int n = width > 0 ? width : BN_num_bytes(bn);
    VT_AUTO_BUF bytes = {0};

    if (n <= 0 || vt_buf_resize(&bytes, (size_t)n) < 0 ||
        BN_bn2binpad(bn, bytes.data, n) != n)
        return -1;
    return vt_tlv_append(out, tag, bytes.data, bytes.len);
}

static int rsa_public_tlvs(const EVP_PKEY *key, struct vt_buf *out)
{
    BIGNUM *n = NULL, *e = NULL;
    int rc = -1;

    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) == 1 &&
        EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) == 1 &&
        append_bn(out, PIV_TAG_RSA_MODULUS, n, EVP_PKEY_get_size(key)) == 0 &&
        append_bn(out, PIV_TAG_RSA_EXPONENT, e, 0) == 0)
        rc = 0;
    BN_free(n);
    BN_free(e);
    return rc;
}

static int ec_public_tlvs(const EVP_PKEY *key, struct vt_buf *out)
{
    unsigned char point[EC_POINT_MAX];
    size_t len;

    /* OpenSSL keeps EC points uncompressed (04 X Y) unless told otherwise. */
    if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point,
                                        &len) != 1)
        return -1;
    return vt_tlv_append(out, PIV_TAG_EC_POINT, point, len);
}

int vt_key_public_tlvs(const EVP_PKEY *key, struct vt_buf *out)
{
    int alg = vt_key_alg(key);
    int rc;

    if (alg == PIV_ALG_RSA_1024 || alg == PIV_ALG_RSA_2048)
        rc = rsa_public_tlvs(key, out);
    else
        rc = alg < 0 ? -1 : ec_public_tlvs(key, out);
    ERR_clear_error();
    return rc;
}

/* --- signing ---------------------------------------------------------------- */

static size_t ec_field_bytes(const EVP_PKEY *key)
{
    return (size_t)(EVP_PKEY_get_bits(key) + BITS_PER_BYTE - 1) / BITS_PER_BYTE;
}

static bool input_length_ok(const EVP_PKEY *key, uint8_t alg, size_t len)
{
    switch (alg) {
    case PIV_ALG_RSA_1024:
    case PIV_ALG_RSA_2048:
        return len == (size_t)EVP_PKEY_get_size(key);
    case PIV_ALG_SM2_VENDOR:
        return len == SM2_DIGEST_LEN;
    default:
        /* A YubiKey takes a hash of at most the field size (clients cut
         * longer ones, as FIPS 186-4 §6.4 does). */
        return len > 0 && len <= ec_field_bytes(key);
    }
}

/* OpenSSL 3.0's SM2 signer reports the maximum length, not the DER's:
 * re-encode so the answer holds exactly SEQUENCE { r, s }. */
static int normalise_der_signature(struct vt_buf *sig)
{
    const unsigned char *p = sig->data;
    ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)sig->len);
    unsigned char *der = NULL;
    int len, rc = -1;

    if (!s)
        return -1;
    len = i2d_ECDSA_SIG(s, &der);
    if (len > 0)
        rc = vt_buf_set(sig, der, (size_t)len);
    OPENSSL_free(der);
    ECDSA_SIG_free(s);
    return rc;
}

enum vt_sign_result vt_key_sign(EVP_PKEY *key, uint8_t alg, const uint8_t *in, size_t len,
                                struct vt_buf *sig)
{
    EVP_PKEY_CTX *ctx;
    bool rsa = alg == PIV_ALG_RSA_1024 || alg == PIV_ALG_RSA_2048;
    enum vt_sign_result result = VT_SIGN_FAILED;
    size_t sig_len = 0;

    if (!input_length_ok(key, alg, len))
        return VT_SIGN_BAD_INPUT;
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    if (!ctx || EVP_PKEY_sign_init(ctx) != 1 ||
        (rsa && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) != 1) ||
        EVP_PKEY_sign(ctx, NULL, &sig_len, in, len) != 1 ||
        vt_buf_resize(sig, sig_len) < 0)
        goto out;
    if (EVP_PKEY_sign(ctx, sig->data, &sig_len, in, len) != 1) {
        /* Raw RSA refuses a block that is not below the modulus. */
        result = rsa ? VT_SIGN_BAD_INPUT : VT_SIGN_FAILED;
        goto out;
    }
    sig->len = sig_len;
    if (rsa || normalise_der_signature(sig) == 0)
        result = VT_SIGN_OK;
out:
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    return result;
}

/* --- certificates ------------------------------------------------------------- */

static int gunzip(const struct vt_buf *in, struct vt_buf *out)
{
    z_stream zs;
    int zrc;

    memset(&zs, 0, sizeof zs);
    if (vt_buf_resize(out, GUNZIP_MAX) < 0 || inflateInit2(&zs, GZIP_WINDOW_BITS) != Z_OK)
        return -1;
    zs.next_in = in->data;
    zs.avail_in = (uInt)in->len;
    zs.next_out = out->data;
    zs.avail_out = GUNZIP_MAX;
    zrc = inflate(&zs, Z_FINISH);
    out->len = GUNZIP_MAX - zs.avail_out;
    inflateEnd(&zs);
    return zrc == Z_STREAM_END ? 0 : -1;
}

X509 *vt_cert_decode(const struct vt_buf *stored, uint8_t cert_info)
{
    VT_AUTO_BUF plain = {0};
    const struct vt_buf *der = stored;
    const unsigned char *p;
    X509 *cert;

    if (cert_info == VT_CERT_INFO_GZIP) {
        if (gunzip(stored, &plain) < 0)
            return NULL;
        der = &plain;
    }
    p = der->data;
    cert = d2i_X509(NULL, &p, (long)der->len);
    if (cert && p != der->data + der->len) {
        X509_free(cert);
        cert = NULL;
    }
    ERR_clear_error();
    return cert;
}

static bool same_public_key_der(EVP_PKEY *key, X509 *cert)
{
    unsigned char *a = NULL, *b = NULL;
    int la = i2d_PUBKEY(key, &a);
    int lb = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &b);
    bool same = la > 0 && la == lb && memcmp(a, b, (size_t)la) == 0;

    OPENSSL_free(a);
    OPENSSL_free(b);
    return same;
}

int vt_key_matches_cert(const struct vt_buf *pkcs8, const struct vt_buf *cert_der,
                        uint8_t cert_info)
{
    EVP_PKEY *key = vt_key_load(pkcs8);
    X509 *cert = vt_cert_decode(cert_der, cert_info);
    int rc = -1;

    if (key && cert) {
        /* EVP_PKEY_eq can say "different types" for an SM2 key beside an
         * EC-typed certificate key on the SM2 curve; the encoded public
         * keys then decide. */
        rc = EVP_PKEY_eq(X509_get0_pubkey(cert), key) == 1 || same_public_key_der(key, cert);
    }
    EVP_PKEY_free(key);
    X509_free(cert);
    ERR_clear_error();
    return rc;
}
