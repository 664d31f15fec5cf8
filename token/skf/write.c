/* SPDX-License-Identifier: MIT */
/* token/skf/write.c — certificate writes on an SKF key (see write.h). */
#include "token/skf/write.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>

#include "token/cert.h"
#include "token/csr.h"
#include "token/spki.h"

#define EC_POINT_UNCOMPRESSED 0x04

/* --- keys and signatures ------------------------------------------------------------- */

static token_err spki_of_point(const uint8_t point[2 * SKF_EC_COORD_LEN], uint8_t **spki,
                               size_t *spki_len)
{
    uint8_t uncompressed[1 + 2 * SKF_EC_COORD_LEN];

    uncompressed[0] = EC_POINT_UNCOMPRESSED;
    memcpy(uncompressed + 1, point, 2 * SKF_EC_COORD_LEN);
    return spki_from_ec_point(SPKI_CURVE_SM2, uncompressed, sizeof uncompressed, spki, spki_len);
}

token_err skf_write_cert_key(const struct skf_write_target *t, const char *con, bool sign,
                             uint8_t **spki, size_t *spki_len)
{
    uint8_t point[2 * SKF_EC_COORD_LEN];
    skf_err e = skf_host_export_public_key(t->host, t->dev, t->app, con, sign, point);

    if (e == SKF_E_CERT_NOT_FOUND)
        return TOKEN_E_NO_OBJECT;
    if (e != SKF_OK)
        return skf_token_err(e);
    return spki_of_point(point, spki, spki_len);
}

/* r || s as X.509 carries an SM2 signature: DER SEQUENCE { r, s }. */
static token_err der_of_signature(const uint8_t rs[2 * SKF_EC_COORD_LEN], uint8_t **sig,
                                  size_t *sig_len)
{
    ECDSA_SIG *s = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(rs, SKF_EC_COORD_LEN, NULL);
    BIGNUM *ss = BN_bin2bn(rs + SKF_EC_COORD_LEN, SKF_EC_COORD_LEN, NULL);
    unsigned char *der = NULL;
    int n;

    if (!s || !r || !ss || !ECDSA_SIG_set0(s, r, ss)) {
        ECDSA_SIG_free(s);
        BN_free(r);
        BN_free(ss);
        return TOKEN_E_NO_MEMORY;
    }
    n = i2d_ECDSA_SIG(s, &der);
    ECDSA_SIG_free(s);
    if (n <= 0 || !(*sig = malloc((size_t)n))) {
        OPENSSL_free(der);
        return TOKEN_E_NO_MEMORY;
    }
    memcpy(*sig, der, (size_t)n);
    *sig_len = (size_t)n;
    OPENSSL_free(der);
    return TOKEN_OK;
}

struct signer {
    const struct skf_write_target *t;
    const char *pin, *con;
};

/* csr_build's signer: the container's key signs e = SM3(Z || M). */
static token_err container_signs(void *userdata, enum token_key_alg alg, const uint8_t *in,
                                 size_t in_len, uint8_t **sig, size_t *sig_len)
{
    struct signer *sg = userdata;
    uint8_t rs[2 * SKF_EC_COORD_LEN];
    uint32_t tries;
    skf_err e;

    if (alg != TOKEN_KEY_SM2 || in_len != SKF_SM3_LEN)
        return TOKEN_E_NOT_SUPPORTED;
    e = skf_host_sign_digest(sg->t->host, sg->t->dev, sg->t->app, sg->con, sg->pin, in, rs,
                             &tries);
    if (e != SKF_OK)
        return skf_token_err(e);
    return der_of_signature(rs, sig, sig_len);
}

/* A failed key generation that never reached SKF_GenECCKeyPair: the helper
 * was not asked, or refused the device, application, container or PIN
 * before it. Anything else (the helper dying or timing out mid-call, the
 * library failing, memory short while the answer came back) may have left
 * the container with a new key. */
static bool gen_failed_before_key(skf_err e)
{
    return e == SKF_E_INVALID_ARG || e == SKF_E_HELPER_START ||
           e == SKF_E_HELPER_BACKOFF || e == SKF_E_LIBRARY_LOAD || e == SKF_E_LIBRARY_SYMBOL ||
           e == SKF_E_DEVICE_NOT_FOUND || e == SKF_E_APP_NOT_FOUND ||
           e == SKF_E_CONTAINER_NOT_FOUND || e == SKF_E_PIN_INCORRECT ||
           e == SKF_E_PIN_LOCKED || e == SKF_E_PIN_POLICY;
}

token_err skf_write_new_key_csr(const struct skf_write_target *t, const char *pin,
                                const char *con, const uint8_t *subject, size_t subject_len,
                                uint8_t **spki, size_t *spki_len, uint8_t **csr,
                                size_t *csr_len, bool *key_replaced)
{
    uint8_t point[2 * SKF_EC_COORD_LEN];
    struct signer sg = {t, pin, con};
    uint32_t tries;
    skf_err e = skf_host_gen_sign_key(t->host, t->dev, t->app, con, pin, point, &tries);
    token_err err;

    *key_replaced = !(e != SKF_OK && gen_failed_before_key(e));
    if (e != SKF_OK)
        return skf_token_err(e);
    if ((err = spki_of_point(point, spki, spki_len)) != TOKEN_OK)
        return err;
    err = csr_build(*spki, *spki_len, subject, subject_len, t->token_id, container_signs, &sg,
                    csr, csr_len);
    if (err) {
        free(*spki);
        *spki = NULL;
        *spki_len = 0;
    }
    return err;
}

token_err skf_write_import(const struct skf_write_target *t, const char *pin, const char *con,
                           bool sign, const uint8_t *der, size_t der_len)
{
    uint8_t *back = NULL;
    size_t back_len = 0;
    uint32_t tries;
    skf_err e = skf_host_import_cert(t->host, t->dev, t->app, con, pin, sign, der, der_len,
                                     &tries);
    bool same;

    if (e != SKF_OK)
        return skf_token_err(e);
    e = skf_host_export_cert(t->host, t->dev, t->app, con, sign, &back, &back_len);
    if (e != SKF_OK && e != SKF_E_CERT_NOT_FOUND)
        return skf_token_err(e);
    same = e == SKF_OK && back_len == der_len && memcmp(back, der, der_len) == 0;
    free(back);
    return same ? TOKEN_OK : TOKEN_E_WRITE_FAILED;
}

token_err skf_write_state(const struct skf_write_target *t, const char *con, bool sign,
                          const uint8_t *der, size_t der_len, struct token_slot_state *out)
{
    uint8_t *key = NULL, *cert = NULL;
    size_t key_len = 0, cert_len = 0;
    bool match = false;
    token_err err = skf_write_cert_key(t, con, sign, &key, &key_len);
    skf_err e;

    if (err && err != TOKEN_E_NO_OBJECT)
        return err;
    out->key_known = true;
    out->has_key = err == TOKEN_OK;
    if (out->has_key && der)
        out->key_matches = cert_key_matches_spki(der, der_len, key, key_len, &match) ==
                               TOKEN_OK && match;
    e = skf_host_export_cert(t->host, t->dev, t->app, con, sign, &cert, &cert_len);
    if (e == SKF_OK) {
        out->cert_present = true;
        out->cert_is_given = der && cert_len == der_len && memcmp(cert, der, der_len) == 0;
        out->cert_matches_key = out->has_key &&
                                cert_key_matches_spki(cert, cert_len, key, key_len, &match) ==
                                    TOKEN_OK && match;
    }
    free(key);
    free(cert);
    return e == SKF_OK || e == SKF_E_CERT_NOT_FOUND ? TOKEN_OK : skf_token_err(e);
}
