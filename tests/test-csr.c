/* SPDX-License-Identifier: MIT */
/*
 * Tests for token/csr.c: PKCS#10 requests for RSA-2048, P-256, P-384 and SM2
 * keys, signed through the callback the card answers in the daemon. Here
 * OpenSSL software keys sign — the same algorithms the card runs — so what
 * is checked is what a CA checks: the request verifies with its own key (SM2
 * with the GM/T 0009 default user id), by OpenSSL's API and by the openssl
 * command, names the right signature algorithm and subject, and a request
 * signed by any other key is never handed out.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "tests/tap.h"
#include "token/cert.h"
#include "token/csr.h"
#include "token/spki.h"

struct soft_signer {
    EVP_PKEY *key;
    bool corrupt;            /* flip a bit of the signature */
    token_err fail_with;     /* the callback fails like a card would */
    enum token_key_alg seen_alg;
    size_t seen_len;
};

static EVP_PKEY *new_key(enum token_key_alg alg)
{
    switch (alg) {
    case TOKEN_KEY_RSA2048: return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    case TOKEN_KEY_EC_P256: return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    case TOKEN_KEY_EC_P384: return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    case TOKEN_KEY_SM2:     return EVP_PKEY_Q_keygen(NULL, NULL, "SM2");
    default:                return NULL;
    }
}

static bool spki_of(EVP_PKEY *key, uint8_t **spki, size_t *len)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(key, &der);

    if (n <= 0)
        return false;
    *spki = malloc((size_t)n);
    memcpy(*spki, der, (size_t)n);
    *len = (size_t)n;
    OPENSSL_free(der);
    return true;
}

/* The raw private-key operation a card performs on what csr.c hands it. */
static token_err soft_sign(void *ud, enum token_key_alg alg, const uint8_t *in, size_t in_len,
                           uint8_t **sig, size_t *sig_len)
{
    struct soft_signer *s = ud;
    EVP_PKEY_CTX *ctx;
    size_t len = 0;
    int ok;

    s->seen_alg = alg;
    s->seen_len = in_len;
    if (s->fail_with)
        return s->fail_with;
    ctx = EVP_PKEY_CTX_new(s->key, NULL);
    ok = ctx && EVP_PKEY_sign_init(ctx) > 0;
    if (ok && alg == TOKEN_KEY_RSA2048)
        ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0;
    ok = ok && EVP_PKEY_sign(ctx, NULL, &len, in, in_len) > 0;
    *sig = ok ? malloc(len) : NULL;
    ok = ok && EVP_PKEY_sign(ctx, *sig, &len, in, in_len) > 0;
    EVP_PKEY_CTX_free(ctx);
    if (!ok) {
        free(*sig);
        return TOKEN_E_CARD_ERROR;
    }
    if (s->corrupt)
        (*sig)[len / 2] ^= 0x01;
    *sig_len = len;
    return TOKEN_OK;
}

static X509_REQ *decode_req(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);

    if (req && p != der + len) {
        X509_REQ_free(req);
        return NULL;
    }
    return req;
}

/* X509_REQ_verify as a CA calls it: SM2 with the default user id. */
static bool req_verifies(X509_REQ *req, bool sm2)
{
    if (sm2) {
        ASN1_OCTET_STRING *id = ASN1_OCTET_STRING_new();

        ASN1_OCTET_STRING_set(id, (const unsigned char *)CSR_SM2_DEFAULT_ID,
                              (int)strlen(CSR_SM2_DEFAULT_ID));
        X509_REQ_set0_distinguishing_id(req, id);
    }
    return X509_REQ_verify(req, X509_REQ_get0_pubkey(req)) == 1;
}

/* `openssl req -verify`, the command a CA operator would run. */
static bool openssl_cli_verifies(const uint8_t *der, size_t len, bool sm2)
{
    char path[] = "/tmp/ukeyd-test-csr-XXXXXX", cmd[512];
    int fd = mkstemp(path), rc;

    if (fd < 0)
        return false;
    if (write(fd, der, len) != (ssize_t)len) {
        close(fd);
        unlink(path);
        return false;
    }
    close(fd);
    snprintf(cmd, sizeof(cmd), "openssl req -inform DER -in '%s' -verify -noout %s >/dev/null 2>&1",
             path, sm2 ? "-vfyopt distid:" CSR_SM2_DEFAULT_ID : "");
    rc = system(cmd);
    unlink(path);
    return rc == 0;
}

static bool subject_cn_is(X509_REQ *req, const char *cn)
{
    char buf[128] = "";

    X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req), NID_commonName, buf, sizeof(buf));
    return strcmp(buf, cn) == 0;
}

static bool req_key_is(X509_REQ *req, const uint8_t *spki, size_t spki_len)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(X509_REQ_get0_pubkey(req), &der);
    bool same = n > 0 && (size_t)n == spki_len && memcmp(der, spki, spki_len) == 0;

    OPENSSL_free(der);
    return same;
}

static const struct {
    enum token_key_alg alg;
    int sig_nid;
    size_t input_len;        /* what the card is asked to sign */
} cases[] = {
    {TOKEN_KEY_RSA2048, NID_sha256WithRSAEncryption, 51},   /* DigestInfo of SHA-256 */
    {TOKEN_KEY_EC_P256, NID_ecdsa_with_SHA256, 32},
    {TOKEN_KEY_EC_P384, NID_ecdsa_with_SHA384, 48},
    {TOKEN_KEY_SM2, NID_SM2_with_SM3, 32},
};

static void test_one_algorithm(size_t i)
{
    const char *name = token_key_alg_name(cases[i].alg);
    bool sm2 = cases[i].alg == TOKEN_KEY_SM2;
    struct soft_signer signer = {0}, other = {0};
    uint8_t *spki = NULL, *csr = NULL;
    size_t spki_len = 0, csr_len = 0;
    X509_REQ *req = NULL;

    signer.key = new_key(cases[i].alg);
    other.key = new_key(cases[i].alg);
    if (!tap_ok(signer.key && other.key && spki_of(signer.key, &spki, &spki_len),
                "%s: software keys made", name))
        goto out;

    TAP_EQ_INT(csr_build(spki, spki_len, NULL, 0, "piv-00112233", soft_sign, &signer, &csr,
                         &csr_len), TOKEN_OK, "request built and signed");
    TAP_EQ_INT(signer.seen_alg, cases[i].alg, "the signer is told the key's algorithm");
    TAP_EQ_INT(signer.seen_len, cases[i].input_len, "and gets the input the card expects");
    req = decode_req(csr, csr_len);
    if (!tap_ok(req != NULL, "%s: the request is one DER PKCS#10 structure", name))
        goto out;
    tap_ok(req_verifies(req, sm2), "%s: X509_REQ_verify accepts it%s", name,
           sm2 ? " (with the default SM2 user id)" : "");
    tap_ok(openssl_cli_verifies(csr, csr_len, sm2), "%s: openssl req -verify accepts it", name);
    TAP_EQ_INT(X509_REQ_get_signature_nid(req), cases[i].sig_nid, "signature algorithm");
    tap_ok(subject_cn_is(req, "piv-00112233"), "%s: subject CN=<token id> by default", name);
    tap_ok(req_key_is(req, spki, spki_len), "%s: the request carries the card's public key", name);
    X509_REQ_free(req);
    req = NULL;
    free(csr);
    csr = NULL;

    TAP_EQ_INT(csr_build(spki, spki_len, NULL, 0, "x", soft_sign, &other, &csr, &csr_len),
               TOKEN_E_KEY_MISMATCH, "signed by another key: refused as KEY_MISMATCH");
    tap_ok(csr == NULL, "%s: and no request handed out", name);
    signer.corrupt = true;
    TAP_EQ_INT(csr_build(spki, spki_len, NULL, 0, "x", soft_sign, &signer, &csr, &csr_len),
               TOKEN_E_KEY_MISMATCH, "a corrupted signature is caught");
    signer.corrupt = false;
    signer.fail_with = TOKEN_E_PIN_INCORRECT;
    TAP_EQ_INT(csr_build(spki, spki_len, NULL, 0, "x", soft_sign, &signer, &csr, &csr_len),
               TOKEN_E_PIN_INCORRECT, "the signer's error comes back as it is");
out:
    X509_REQ_free(req);
    free(csr);
    free(spki);
    EVP_PKEY_free(signer.key);
    EVP_PKEY_free(other.key);
}

/* A subject as the CA words it, Chinese included. */
static void test_subject(void)
{
    struct soft_signer signer = {.key = new_key(TOKEN_KEY_SM2)};
    X509_NAME *name = X509_NAME_new();
    unsigned char *name_der = NULL;
    uint8_t *spki = NULL, *csr = NULL;
    size_t spki_len = 0, csr_len = 0;
    X509_REQ *req = NULL;
    int name_len;
    static const uint8_t junk[] = {0x30, 0x05, 0x31, 0x03, 0x30, 0x01};

    X509_NAME_add_entry_by_txt(name, "C", MBSTRING_UTF8, (const unsigned char *)"CN", -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                               (const unsigned char *)"演示单位", -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                               (const unsigned char *)"张三", -1, -1, 0);
    name_len = i2d_X509_NAME(name, &name_der);
    spki_of(signer.key, &spki, &spki_len);
    TAP_EQ_INT(csr_build(spki, spki_len, name_der, (size_t)name_len, "ignored", soft_sign,
                         &signer, &csr, &csr_len), TOKEN_OK, "request with a given subject");
    req = decode_req(csr, csr_len);
    tap_ok(req && X509_NAME_cmp(X509_REQ_get_subject_name(req), name) == 0,
           "the subject is the one given, byte for byte");
    tap_ok(req && req_verifies(req, true), "and the request verifies");
    X509_REQ_free(req);
    free(csr);
    csr = NULL;

    TAP_EQ_INT(csr_build(spki, spki_len, junk, sizeof(junk), NULL, soft_sign, &signer, &csr,
                         &csr_len), TOKEN_E_INVALID_ARG, "a subject that is no DER Name");
    TAP_EQ_INT(csr_build(spki, spki_len, name_der, (size_t)name_len - 1, NULL, soft_sign, &signer,
                         &csr, &csr_len), TOKEN_E_INVALID_ARG, "a cut-off subject");
    TAP_EQ_INT(csr_build(spki, spki_len, NULL, 0, NULL, soft_sign, &signer, &csr, &csr_len),
               TOKEN_E_INVALID_ARG, "neither subject nor common name");
    TAP_EQ_INT(csr_build(spki, spki_len - 1, NULL, 0, "x", soft_sign, &signer, &csr, &csr_len),
               TOKEN_E_MALFORMED, "a cut-off public key");
    tap_ok(csr == NULL, "no request came out of the refusals");
    OPENSSL_free(name_der);
    X509_NAME_free(name);
    free(spki);
    EVP_PKEY_free(signer.key);
}

static void test_unsupported_key(void)
{
    struct soft_signer signer = {.key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")};
    EVP_PKEY *rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    uint8_t *spki = NULL, *csr = NULL;
    size_t spki_len = 0, csr_len = 0;

    spki_of(signer.key, &spki, &spki_len);
    TAP_EQ_INT(csr_build(spki, spki_len, NULL, 0, "x", soft_sign, &signer, &csr, &csr_len),
               TOKEN_E_NOT_SUPPORTED, "an Ed25519 key is not one a token generates");
    free(spki);
    spki_of(rsa1024, &spki, &spki_len);
    TAP_EQ_INT(csr_build(spki, spki_len, NULL, 0, "x", soft_sign, &signer, &csr, &csr_len),
               TOKEN_E_NOT_SUPPORTED, "nor RSA-1024");
    free(spki);
    EVP_PKEY_free(rsa1024);
    EVP_PKEY_free(signer.key);
}

/* A self-signed certificate for `key`, as the CA would issue for it. */
static uint8_t *self_signed(EVP_PKEY *key, size_t *len)
{
    X509 *x = X509_new();
    unsigned char *der = NULL;
    uint8_t *out;
    int n;

    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
                               (const unsigned char *)"t", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_set_pubkey(x, key);
    X509_sign(x, key, EVP_sha256());
    n = i2d_X509(x, &der);
    out = malloc((size_t)n);
    memcpy(out, der, (size_t)n);
    *len = (size_t)n;
    OPENSSL_free(der);
    X509_free(x);
    return out;
}

static void test_cert_key_comparison(void)
{
    EVP_PKEY *mine = new_key(TOKEN_KEY_EC_P256), *theirs = new_key(TOKEN_KEY_EC_P256);
    uint8_t *cert, *spki_mine = NULL, *spki_theirs = NULL, *from_cert = NULL;
    size_t cert_len, ml = 0, tl = 0, fl = 0;
    bool match = false;

    cert = self_signed(mine, &cert_len);
    spki_of(mine, &spki_mine, &ml);
    spki_of(theirs, &spki_theirs, &tl);
    TAP_EQ_INT(cert_key_matches_spki(cert, cert_len, spki_mine, ml, &match), TOKEN_OK,
               "certificate against its own key");
    tap_ok(match, "matches");
    TAP_EQ_INT(cert_key_matches_spki(cert, cert_len, spki_theirs, tl, &match), TOKEN_OK,
               "certificate against another key");
    tap_ok(!match, "does not match");
    TAP_EQ_INT(cert_key_matches_spki(cert, cert_len - 1, spki_mine, ml, &match), TOKEN_E_MALFORMED,
               "a cut-off certificate is malformed, not a mismatch");
    TAP_EQ_INT(cert_public_key(cert, cert_len, &from_cert, &fl), TOKEN_OK,
               "the certificate's public key");
    tap_ok(fl == ml && memcmp(from_cert, spki_mine, ml) == 0, "is the key it was issued for");
    free(from_cert);
    free(cert);
    free(spki_mine);
    free(spki_theirs);
    EVP_PKEY_free(mine);
    EVP_PKEY_free(theirs);
}

int main(void)
{
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        test_one_algorithm(i);
    test_subject();
    test_unsupported_key();
    test_cert_key_comparison();
    return tap_done();
}
