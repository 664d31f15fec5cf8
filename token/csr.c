/* SPDX-License-Identifier: MIT */
/* token/csr.c — PKCS#10 requests signed by the card (see csr.h). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "token/csr.h"
#include "token/spki.h"

#define CSR_VERSION_1         0      /* the only PKCS#10 version */
#define SM3_LEN               CSR_SM3_LEN
#define SM2_FIELD_LEN         32
#define BITS_PER_BYTE         8
#define ASN1_BITS_LEFT_MASK   0x07   /* low bits of ASN1_STRING.flags: unused bits */
#define SM2_CURVE_FIELDS      4      /* a, b, xG, yG */
#define SM2_Z_FIELDS          (SM2_CURVE_FIELDS + 2)   /* and the key's xA, yA */
#define N_PARTS(a)            (sizeof(a) / sizeof((a)[0]))

/* Per key type: the hash of the request and the signature algorithm named in it. */
struct csr_scheme {
    const char *digest;      /* OpenSSL name */
    int sig_nid;
    int param_type;          /* V_ASN1_NULL for RSA (RFC 4055), absent for (EC)DSA and SM2 */
};

static const struct csr_scheme schemes[TOKEN_KEY__COUNT] = {
    [TOKEN_KEY_RSA2048] = {"SHA256", NID_sha256WithRSAEncryption, V_ASN1_NULL},
    [TOKEN_KEY_EC_P256] = {"SHA256", NID_ecdsa_with_SHA256, V_ASN1_UNDEF},
    [TOKEN_KEY_EC_P384] = {"SHA384", NID_ecdsa_with_SHA384, V_ASN1_UNDEF},
    [TOKEN_KEY_SM2]     = {"SM3", NID_SM2_with_SM3, V_ASN1_UNDEF},
};

static void req_freep(X509_REQ **p) { X509_REQ_free(*p); }
static void name_freep(X509_NAME **p) { X509_NAME_free(*p); }
static void pkey_freep(EVP_PKEY **p) { EVP_PKEY_free(*p); }
static void md_freep(EVP_MD **p) { EVP_MD_free(*p); }
static void md_ctx_freep(EVP_MD_CTX **p) { EVP_MD_CTX_free(*p); }
static void bn_ctx_freep(BN_CTX **p) { BN_CTX_free(*p); }
static void ec_group_freep(EC_GROUP **p) { EC_GROUP_free(*p); }
static void sig_freep(X509_SIG **p) { X509_SIG_free(*p); }
static void openssl_freep(unsigned char **p) { OPENSSL_free(*p); }
static void freep(uint8_t **p) { free(*p); }

static token_err decode_pubkey(const uint8_t *spki, size_t len, EVP_PKEY **out)
{
    const unsigned char *p = spki;

    *out = len && len <= LONG_MAX ? d2i_PUBKEY(NULL, &p, (long)len) : NULL;
    if (*out && p == spki + len)
        return TOKEN_OK;
    EVP_PKEY_free(*out);
    *out = NULL;
    ERR_clear_error();
    return TOKEN_E_MALFORMED;
}

static token_err subject_name(const uint8_t *der, size_t len, const char *cn, X509_NAME **out)
{
    const unsigned char *p = der;

    if (der) {
        *out = len && len <= LONG_MAX ? d2i_X509_NAME(NULL, &p, (long)len) : NULL;
        if (*out && p == der + len)
            return TOKEN_OK;
        X509_NAME_free(*out);
        *out = NULL;
        ERR_clear_error();
        return TOKEN_E_INVALID_ARG;
    }
    if (!cn || !*cn)
        return TOKEN_E_INVALID_ARG;
    *out = X509_NAME_new();
    if (!*out || !X509_NAME_add_entry_by_NID(*out, NID_commonName, MBSTRING_UTF8,
                                             (const unsigned char *)cn, -1, -1, 0))
        return TOKEN_E_NO_MEMORY;
    return TOKEN_OK;
}

/* The GM/T 0009 user id, for OpenSSL's SM2 verification. */
static token_err set_sm2_id(X509_REQ *req)
{
    ASN1_OCTET_STRING *id = ASN1_OCTET_STRING_new();

    if (!id || !ASN1_OCTET_STRING_set(id, (const unsigned char *)CSR_SM2_DEFAULT_ID,
                                      (int)strlen(CSR_SM2_DEFAULT_ID))) {
        ASN1_OCTET_STRING_free(id);
        return TOKEN_E_NO_MEMORY;
    }
    X509_REQ_set0_distinguishing_id(req, id);
    return TOKEN_OK;
}

/* Version, subject and key: everything the signature covers. */
static token_err request_info(X509_REQ *req, EVP_PKEY *pkey, enum token_key_alg alg,
                              const uint8_t *subject_der, size_t subject_len, const char *cn)
{
    X509_NAME *name __attribute__((cleanup(name_freep))) = NULL;
    token_err err = subject_name(subject_der, subject_len, cn, &name);

    if (err)
        return err;
    if (!X509_REQ_set_version(req, CSR_VERSION_1) || !X509_REQ_set_subject_name(req, name) ||
        !X509_REQ_set_pubkey(req, pkey))
        return TOKEN_E_NO_MEMORY;
    return alg == TOKEN_KEY_SM2 ? set_sm2_id(req) : TOKEN_OK;
}

static token_err digest(const char *md_name, const uint8_t *parts[], const size_t lens[],
                        size_t n, uint8_t *out, size_t *out_len)
{
    EVP_MD *md __attribute__((cleanup(md_freep))) = EVP_MD_fetch(NULL, md_name, NULL);
    EVP_MD_CTX *ctx __attribute__((cleanup(md_ctx_freep))) = EVP_MD_CTX_new();
    unsigned int len = 0;
    size_t i;

    if (!md || !ctx || !EVP_DigestInit_ex(ctx, md, NULL))
        return TOKEN_E_NO_MEMORY;
    for (i = 0; i < n; i++)
        if (!EVP_DigestUpdate(ctx, parts[i], lens[i]))
            return TOKEN_E_NO_MEMORY;
    if (!EVP_DigestFinal_ex(ctx, out, &len))
        return TOKEN_E_NO_MEMORY;
    *out_len = len;
    return TOKEN_OK;
}

/* The curve's a, b, xG, yG and the key's xA, yA, each as SM2_FIELD_LEN bytes. */
static token_err sm2_z_fields(EVP_PKEY *pkey, uint8_t fields[SM2_Z_FIELDS][SM2_FIELD_LEN])
{
    EC_GROUP *g __attribute__((cleanup(ec_group_freep))) = EC_GROUP_new_by_curve_name(NID_sm2);
    BN_CTX *bn __attribute__((cleanup(bn_ctx_freep))) = BN_CTX_new();
    BIGNUM *v[SM2_Z_FIELDS] = {NULL};
    token_err err = TOKEN_E_NO_MEMORY;
    int i;

    if (!g || !bn)
        return TOKEN_E_NO_MEMORY;
    BN_CTX_start(bn);
    for (i = 0; i < SM2_CURVE_FIELDS; i++)
        if (!(v[i] = BN_CTX_get(bn)))
            goto out;
    if (!EC_GROUP_get_curve(g, NULL, v[0], v[1], bn) ||
        !EC_POINT_get_affine_coordinates(g, EC_GROUP_get0_generator(g), v[2], v[3], bn))
        goto out;
    if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &v[SM2_CURVE_FIELDS]) ||
        !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &v[SM2_CURVE_FIELDS + 1])) {
        err = TOKEN_E_MALFORMED;
        goto out;
    }
    for (i = 0; i < SM2_Z_FIELDS; i++)
        if (BN_bn2binpad(v[i], fields[i], SM2_FIELD_LEN) != SM2_FIELD_LEN)
            goto out;
    err = TOKEN_OK;
out:
    BN_free(v[SM2_CURVE_FIELDS]);       /* not the context's */
    BN_free(v[SM2_CURVE_FIELDS + 1]);
    BN_CTX_end(bn);
    ERR_clear_error();
    return err;
}

/* Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA), GM/T 0003.2 5.5 */
static token_err sm2_z(EVP_PKEY *pkey, uint8_t z[SM3_LEN])
{
    uint8_t fields[SM2_Z_FIELDS][SM2_FIELD_LEN];
    size_t id_bits = strlen(CSR_SM2_DEFAULT_ID) * BITS_PER_BYTE, z_len;
    uint8_t entl[2] = {(uint8_t)(id_bits >> BITS_PER_BYTE), (uint8_t)id_bits};
    const uint8_t *parts[] = {entl, (const uint8_t *)CSR_SM2_DEFAULT_ID, fields[0], fields[1],
                              fields[2], fields[3], fields[4], fields[5]};
    const size_t lens[] = {sizeof(entl), strlen(CSR_SM2_DEFAULT_ID), SM2_FIELD_LEN, SM2_FIELD_LEN,
                           SM2_FIELD_LEN, SM2_FIELD_LEN, SM2_FIELD_LEN, SM2_FIELD_LEN};
    token_err err = sm2_z_fields(pkey, fields);

    return err ? err : digest("SM3", parts, lens, N_PARTS(parts), z, &z_len);
}

static token_err sm2_e(EVP_PKEY *pkey, const uint8_t *msg, size_t msg_len, uint8_t e[SM3_LEN])
{
    uint8_t z[SM3_LEN];
    const uint8_t *parts[] = {z, msg};
    const size_t lens[] = {sizeof(z), msg_len};
    size_t e_len;
    token_err err = sm2_z(pkey, z);

    return err ? err : digest("SM3", parts, lens, N_PARTS(parts), e, &e_len);
}

token_err csr_sm2_e(const uint8_t *spki, size_t spki_len, const uint8_t *msg, size_t msg_len,
                    uint8_t e[CSR_SM3_LEN])
{
    EVP_PKEY *pkey __attribute__((cleanup(pkey_freep))) = NULL;
    enum token_key_alg alg;
    token_err err = spki_key_alg(spki, spki_len, &alg);

    if (!err && alg != TOKEN_KEY_SM2)
        err = TOKEN_E_INVALID_ARG;
    if (!err)
        err = decode_pubkey(spki, spki_len, &pkey);
    return err ? err : sm2_e(pkey, msg, msg_len, e);
}

/* DigestInfo { AlgorithmIdentifier sha256 NULL, OCTET STRING hash } (RFC 8017 9.2) */
static token_err digest_info(int md_nid, const uint8_t *hash, size_t len, uint8_t **out,
                             size_t *out_len)
{
    X509_SIG *sig __attribute__((cleanup(sig_freep))) = X509_SIG_new();
    unsigned char *der __attribute__((cleanup(openssl_freep))) = NULL;
    X509_ALGOR *alg;
    ASN1_OCTET_STRING *octets;
    int n;

    if (!sig)
        return TOKEN_E_NO_MEMORY;
    X509_SIG_getm(sig, &alg, &octets);
    if (!X509_ALGOR_set0(alg, OBJ_nid2obj(md_nid), V_ASN1_NULL, NULL) ||
        !ASN1_OCTET_STRING_set(octets, hash, (int)len) || (n = i2d_X509_SIG(sig, &der)) <= 0)
        return TOKEN_E_NO_MEMORY;
    *out = malloc((size_t)n);
    if (!*out)
        return TOKEN_E_NO_MEMORY;
    memcpy(*out, der, (size_t)n);
    *out_len = (size_t)n;
    return TOKEN_OK;
}

/* What the key signs for this request body (see csr_sign_fn). */
static token_err signing_input(EVP_PKEY *pkey, enum token_key_alg alg, const uint8_t *tbs,
                               size_t tbs_len, uint8_t **in, size_t *in_len)
{
    uint8_t hash[EVP_MAX_MD_SIZE];
    const uint8_t *parts[] = {tbs};
    const size_t lens[] = {tbs_len};
    size_t hash_len = 0;
    token_err err;

    if (alg == TOKEN_KEY_SM2) {
        hash_len = SM3_LEN;
        err = sm2_e(pkey, tbs, tbs_len, hash);
    } else
        err = digest(schemes[alg].digest, parts, lens, N_PARTS(parts), hash, &hash_len);
    if (err)
        return err;
    if (alg == TOKEN_KEY_RSA2048)
        return digest_info(NID_sha256, hash, hash_len, in, in_len);
    *in = malloc(hash_len);
    if (!*in)
        return TOKEN_E_NO_MEMORY;
    memcpy(*in, hash, hash_len);
    *in_len = hash_len;
    return TOKEN_OK;
}

/* The signature algorithm and the signature, all bits used. */
static token_err set_signature(X509_REQ *req, enum token_key_alg alg, const uint8_t *sig,
                               size_t sig_len)
{
    X509_ALGOR *algor = X509_ALGOR_new();
    ASN1_BIT_STRING *bits = ASN1_BIT_STRING_new();
    token_err err = TOKEN_E_NO_MEMORY;

    if (sig_len > INT_MAX)
        err = TOKEN_E_MALFORMED;
    else if (algor && bits &&
             X509_ALGOR_set0(algor, OBJ_nid2obj(schemes[alg].sig_nid), schemes[alg].param_type,
                             NULL) &&
             ASN1_BIT_STRING_set(bits, (unsigned char *)sig, (int)sig_len) &&
             X509_REQ_set1_signature_algo(req, algor)) {
        /* else i2d counts trailing zero bits of the last byte as unused */
        bits->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | ASN1_BITS_LEFT_MASK);
        bits->flags |= ASN1_STRING_FLAG_BITS_LEFT;
        X509_REQ_set0_signature(req, bits);
        bits = NULL;
        err = TOKEN_OK;
    }
    X509_ALGOR_free(algor);
    ASN1_BIT_STRING_free(bits);
    return err;
}

/* The encoded request, read back and checked as a CA will check it. */
static token_err verified_der(X509_REQ *req, enum token_key_alg alg, uint8_t **out,
                              size_t *out_len)
{
    unsigned char *der __attribute__((cleanup(openssl_freep))) = NULL;
    X509_REQ *back __attribute__((cleanup(req_freep))) = NULL;
    const unsigned char *p;
    int n = i2d_X509_REQ(req, &der);
    token_err err;

    if (n <= 0)
        return TOKEN_E_NO_MEMORY;
    p = der;
    back = d2i_X509_REQ(NULL, &p, n);
    if (!back)
        return TOKEN_E_NO_MEMORY;
    if (alg == TOKEN_KEY_SM2 && (err = set_sm2_id(back)))
        return err;
    if (X509_REQ_verify(back, X509_REQ_get0_pubkey(back)) != 1) {
        ERR_clear_error();
        return TOKEN_E_KEY_MISMATCH;
    }
    *out = malloc((size_t)n);
    if (!*out)
        return TOKEN_E_NO_MEMORY;
    memcpy(*out, der, (size_t)n);
    *out_len = (size_t)n;
    return TOKEN_OK;
}

static token_err sign_request(X509_REQ *req, EVP_PKEY *pkey, enum token_key_alg alg,
                              csr_sign_fn sign, void *userdata)
{
    unsigned char *tbs __attribute__((cleanup(openssl_freep))) = NULL;
    uint8_t *in __attribute__((cleanup(freep))) = NULL;
    uint8_t *sig __attribute__((cleanup(freep))) = NULL;
    size_t in_len = 0, sig_len = 0;
    int tbs_len = i2d_re_X509_REQ_tbs(req, &tbs);
    token_err err;

    if (tbs_len <= 0)
        return TOKEN_E_NO_MEMORY;
    if ((err = signing_input(pkey, alg, tbs, (size_t)tbs_len, &in, &in_len)) ||
        (err = sign(userdata, alg, in, in_len, &sig, &sig_len)))
        return err;
    return set_signature(req, alg, sig, sig_len);
}

token_err csr_build(const uint8_t *spki, size_t spki_len, const uint8_t *subject_der,
                    size_t subject_len, const char *common_name, csr_sign_fn sign,
                    void *userdata, uint8_t **csr, size_t *csr_len)
{
    X509_REQ *req __attribute__((cleanup(req_freep))) = NULL;
    EVP_PKEY *pkey __attribute__((cleanup(pkey_freep))) = NULL;
    enum token_key_alg alg;
    token_err err;

    if (!spki || !sign || !csr || !csr_len)
        return TOKEN_E_INVALID_ARG;
    if ((err = spki_key_alg(spki, spki_len, &alg)) || (err = decode_pubkey(spki, spki_len, &pkey)))
        return err;
    req = X509_REQ_new();
    if (!req)
        return TOKEN_E_NO_MEMORY;
    if ((err = request_info(req, pkey, alg, subject_der, subject_len, common_name)) ||
        (err = sign_request(req, pkey, alg, sign, userdata)))
        return err;
    return verified_der(req, alg, csr, csr_len);
}
