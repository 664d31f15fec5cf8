/* SPDX-License-Identifier: MIT */
/*
 * Tests for token/pcsc/keyslot.c through the whole token layer and the real parts
 * (private pcscd, vpcd, the two demo virtual tokens): a new key pair made on
 * the token, a request the token signs with the user's PIN, the certificate
 * written and read back, a staged key swapped into its slot — 9D keeping its
 * old key in a retired slot that OpenSC still reads. The management key's
 * answers come from a relay that encrypts the card's challenge with OpenSSL,
 * as the CA service does. What must never happen is checked too: a
 * certificate for another key written, a failed relay or a wrong PIN leaving
 * anything changed, a pulled token leaving a slot that cannot be finished.
 */
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "tests/rig.h"
#include "tests/tap.h"
#include "token/pcsc/apdu.h"
#include "token/cert.h"
#include "token/csr.h"
#include "token/pcsc/pcsc.h"
#include "token/spki.h"
#include "token/token.h"

#define PIN   "123456"
#define WRONG "000000"
#define SM2_TOKEN 0
#define RSA_TOKEN 1

static struct rig rig;

/* ---- the key holder: ECB-encrypts the card's challenge ---- */

enum relay_mode { RELAY_RIGHT, RELAY_FAILS, RELAY_GARBAGE };

struct test_relay {
    uint8_t alg;
    uint8_t key[32];
    size_t key_len;
    enum relay_mode mode;
    unsigned calls;
};

static struct test_relay relays[2];

static const char *cipher_of(uint8_t alg)
{
    switch (alg) {
    case TOKEN_MGMT_ALG_3DES:   return "DES-EDE3-ECB";
    case TOKEN_MGMT_ALG_AES128: return "AES-128-ECB";
    case TOKEN_MGMT_ALG_AES192: return "AES-192-ECB";
    case TOKEN_MGMT_ALG_AES256: return "AES-256-ECB";
    default:                    return NULL;
    }
}

static token_err relay_respond(void *ud, uint8_t alg, const uint8_t *challenge, size_t len,
                               uint8_t *response)
{
    struct test_relay *r = ud;
    EVP_CIPHER *c = cipher_of(alg) ? EVP_CIPHER_fetch(NULL, cipher_of(alg), NULL) : NULL;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, ok;

    r->calls++;
    ok = r->mode != RELAY_FAILS && c && ctx &&
         EVP_EncryptInit_ex(ctx, c, NULL, r->key, NULL) && EVP_CIPHER_CTX_set_padding(ctx, 0) &&
         EVP_EncryptUpdate(ctx, response, &n, challenge, (int)len) && (size_t)n == len;
    if (ok && r->mode == RELAY_GARBAGE)
        response[0] ^= 0x80;
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(c);
    return ok ? TOKEN_OK : TOKEN_E_RELAY_FAILED;
}

static struct token_mgmt_relay relay_for(int token, enum relay_mode mode)
{
    relays[token].mode = mode;
    return (struct token_mgmt_relay){relays[token].alg, relay_respond, &relays[token]};
}

/* SM2_MGMT_ALG=AES-128 and SM2_MGMT_KEY=hex from the demo tokens' tokens.env */
static bool load_mgmt_keys(void)
{
    static const char *const prefix[2] = {"SM2_MGMT_", "RSA_EC_MGMT_"};
    char path[400], line[256];
    int found = 0, i;
    FILE *f;

    snprintf(path, sizeof(path), "%s/demo/tokens.env", rig.build);
    f = fopen(path, "r");
    if (!f)
        return false;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        for (i = 0; i < 2; i++) {
            size_t pl = strlen(prefix[i]);
            const char *v = line + pl + 4;

            if (strncmp(line, prefix[i], pl) != 0)
                continue;
            if (strncmp(line + pl, "ALG=", 4) == 0) {
                relays[i].alg = strcmp(v, "3DES") == 0      ? TOKEN_MGMT_ALG_3DES
                                : strcmp(v, "AES-128") == 0 ? TOKEN_MGMT_ALG_AES128
                                : strcmp(v, "AES-192") == 0 ? TOKEN_MGMT_ALG_AES192
                                                            : TOKEN_MGMT_ALG_AES256;
                found++;
            } else if (strncmp(line + pl, "KEY=", 4) == 0) {
                long len = 0;
                unsigned char *k = OPENSSL_hexstr2buf(v, &len);

                if (k && len <= (long)sizeof(relays[i].key)) {
                    memcpy(relays[i].key, k, (size_t)len);
                    relays[i].key_len = (size_t)len;
                    found++;
                }
                OPENSSL_free(k);
            }
        }
    }
    fclose(f);
    return found == 4;
}

/* ---- events ---- */

static struct {
    pthread_mutex_t m;
    unsigned certs_changed;
} events = {PTHREAD_MUTEX_INITIALIZER, 0};

static void on_event(const struct token_event *ev, void *ud)
{
    (void)ud;
    pthread_mutex_lock(&events.m);
    if (ev->kind == TOKEN_EV_CERTS_CHANGED)
        events.certs_changed++;
    pthread_mutex_unlock(&events.m);
}

static unsigned certs_changed_count(void)
{
    unsigned n;

    pthread_mutex_lock(&events.m);
    n = events.certs_changed;
    pthread_mutex_unlock(&events.m);
    return n;
}

/* ---- helpers ---- */

static char ids[2][80];

static bool find_ids(struct token_service *svc)
{
    static const char *const serial[2] = {"10000001", "10000002"};
    struct token_snapshot **list = NULL;
    size_t n = 0, i;
    int t, found = 0;

    if (token_service_tokens(svc, &list, &n) != TOKEN_OK)
        return false;
    for (i = 0; i < n; i++)
        for (t = 0; t < 2; t++)
            if (list[i]->serial && strcmp(list[i]->serial, serial[t]) == 0) {
                snprintf(ids[t], sizeof(ids[t]), "%s", list[i]->id);
                found++;
            }
    token_snapshots_free(list, n);
    return found == 2;
}

/* A copy of the certificate DER the cached snapshot shows in `slot`, or NULL. */
static uint8_t *snapshot_cert(struct token_service *svc, int token, uint8_t slot, size_t *len)
{
    struct token_snapshot *s = NULL;
    uint8_t *der = NULL;
    size_t i;

    if (token_service_get(svc, ids[token], &s) != TOKEN_OK)
        return NULL;
    for (i = 0; i < s->n_certs; i++) {
        if (s->certs[i].slot == slot) {
            der = malloc(s->certs[i].der_len);
            memcpy(der, s->certs[i].der, s->certs[i].der_len);
            *len = s->certs[i].der_len;
        }
    }
    token_snapshot_unref(s);
    return der;
}

static bool same_bytes(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    return a && b && al == bl && memcmp(a, b, al) == 0;
}

static EVP_PKEY *issuer_key;

/* A certificate for the key of `spki`, as a CA issues it (the token layer
 * does not judge the chain; api/ does). */
static uint8_t *issue(const uint8_t *spki, size_t spki_len, const char *cn, size_t *len)
{
    const unsigned char *p = spki;
    EVP_PKEY *subject_key = d2i_PUBKEY(NULL, &p, (long)spki_len);
    X509 *x = X509_new();
    unsigned char *der = NULL;
    uint8_t *out = NULL;
    static long serial = 100;
    int n;

    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_NAME_add_entry_by_txt(X509_get_issuer_name(x), "CN", MBSTRING_UTF8,
                               (const unsigned char *)"test issuer", -1, -1, 0);
    X509_set_pubkey(x, subject_key);
    X509_sign(x, issuer_key, EVP_sha256());
    n = i2d_X509(x, &der);
    if (n > 0) {
        out = malloc((size_t)n);
        memcpy(out, der, (size_t)n);
        *len = (size_t)n;
    }
    OPENSSL_free(der);
    X509_free(x);
    EVP_PKEY_free(subject_key);
    return out;
}

/* The request verifies (SM2 with the default user id) and is for `spki`. */
static bool csr_good(const uint8_t *csr, size_t len, const uint8_t *spki, size_t spki_len)
{
    const unsigned char *p = csr;
    X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
    unsigned char *key = NULL;
    enum token_key_alg alg;
    int n;
    bool good;

    if (!req)
        return false;
    if (spki_key_alg(spki, spki_len, &alg) == TOKEN_OK && alg == TOKEN_KEY_SM2) {
        ASN1_OCTET_STRING *id = ASN1_OCTET_STRING_new();

        ASN1_OCTET_STRING_set(id, (const unsigned char *)CSR_SM2_DEFAULT_ID,
                              (int)strlen(CSR_SM2_DEFAULT_ID));
        X509_REQ_set0_distinguishing_id(req, id);
    }
    n = i2d_PUBKEY(X509_REQ_get0_pubkey(req), &key);
    good = X509_REQ_verify(req, X509_REQ_get0_pubkey(req)) == 1 &&
           same_bytes(key, (size_t)n, spki, spki_len);
    OPENSSL_free(key);
    X509_REQ_free(req);
    return good;
}

/* `vtoken show` on the token's state: "9a: key matches certificate" and the like. */
static bool vtoken_says(int token, const char *text)
{
    return rig_sh(&rig, "'%s/vtoken' show --state '%s' | grep -qF '%s'", rig.build,
                  rig.state[token], text) == 0;
}

static bool slot_key_is(struct token_service *svc, int token, uint8_t slot, const uint8_t *spki,
                        size_t spki_len)
{
    uint8_t *key = NULL;
    size_t len = 0;
    bool equal = false;

    if (token_service_slot_public_key(svc, ids[token], slot, &key, &len) == TOKEN_OK)
        spki_equal(key, len, spki, spki_len, &equal);
    free(key);
    return equal;
}

static bool slot_empty(struct token_service *svc, int token, uint8_t slot)
{
    uint8_t *key = NULL;
    size_t len = 0;
    token_err err = token_service_slot_public_key(svc, ids[token], slot, &key, &len);

    free(key);
    return err == TOKEN_E_NO_OBJECT;
}

/* ---- tests ---- */

static void test_metadata(struct token_service *svc)
{
    uint8_t *key = NULL, *cert;
    size_t key_len = 0, cert_len = 0;
    bool match = false;

    cert = snapshot_cert(svc, SM2_TOKEN, 0x9A, &cert_len);
    TAP_EQ_INT(token_service_slot_public_key(svc, ids[SM2_TOKEN], 0x9A, &key, &key_len), TOKEN_OK,
               "the public key of slot 9a from the card's metadata");
    tap_ok(cert && cert_key_matches_spki(cert, cert_len, key, key_len, &match) == TOKEN_OK && match,
           "is the key of 9a's certificate");
    free(key);
    key = NULL;
    TAP_EQ_INT(token_service_slot_public_key(svc, ids[SM2_TOKEN], 0x9C, &key, &key_len),
               TOKEN_E_NO_OBJECT, "slot 9c of the SM2 token holds no key");
    TAP_EQ_INT(token_service_slot_public_key(svc, "piv-nosuchtoken", 0x9A, &key, &key_len),
               TOKEN_E_TOKEN_NOT_FOUND, "an unknown token");
    free(cert);
}

static void test_relay_failures(struct token_service *svc)
{
    struct token_mgmt_relay relay = relay_for(SM2_TOKEN, RELAY_FAILS);
    struct token_mgmt_relay wrong_alg = {TOKEN_MGMT_ALG_3DES, relay_respond, &relays[SM2_TOKEN]};
    uint8_t *spki = NULL, *cert;
    size_t spki_len = 0, cert_len = 0;
    unsigned before = certs_changed_count();

    TAP_EQ_INT(token_service_generate_key(svc, ids[SM2_TOKEN], TOKEN_STAGING_SLOT, TOKEN_KEY_SM2,
                                          &relay, &spki, &spki_len),
               TOKEN_E_RELAY_FAILED, "a relay that fails: RELAY_FAILED");
    tap_ok(slot_empty(svc, SM2_TOKEN, TOKEN_STAGING_SLOT), "and no key was generated");
    relay = relay_for(SM2_TOKEN, RELAY_GARBAGE);
    TAP_EQ_INT(token_service_generate_key(svc, ids[SM2_TOKEN], TOKEN_STAGING_SLOT, TOKEN_KEY_SM2,
                                          &relay, &spki, &spki_len),
               TOKEN_E_MGMT_AUTH_FAILED, "a relay answering garbage: MGMT_AUTH_FAILED");
    tap_ok(slot_empty(svc, SM2_TOKEN, TOKEN_STAGING_SLOT), "and no key was generated");
    TAP_EQ_INT(token_service_generate_key(svc, ids[SM2_TOKEN], TOKEN_STAGING_SLOT, TOKEN_KEY_SM2,
                                          &wrong_alg, &spki, &spki_len),
               TOKEN_E_MGMT_AUTH_FAILED, "a key holder naming another algorithm than the card's");
    cert = snapshot_cert(svc, SM2_TOKEN, 0x9A, &cert_len);
    relay = relay_for(SM2_TOKEN, RELAY_FAILS);
    TAP_EQ_INT(token_service_write_cert(svc, ids[SM2_TOKEN], 0x9A, cert, cert_len, &relay),
               TOKEN_E_RELAY_FAILED, "writing with a failing relay");
    TAP_EQ_INT(certs_changed_count() - before, 0, "nothing changed, no event");
    free(cert);
}

/* Another PC/SC client must not inherit the management key's authority. */
static void test_authority_dropped(struct token_service *svc)
{
    static const uint8_t aid[] = {0xA0, 0x00, 0x00, 0x03, 0x08};
    static const uint8_t put[] = {0x5C, 0x03, 0x5F, 0xC1, 0x05, 0x53, 0x00};
    struct apdu sel = {0x00, ISO_INS_SELECT, 0x04, 0x00, aid, sizeof(aid), APDU_LE_ANY};
    struct apdu cmd = {0x00, 0xDB, 0x3F, 0xFF, put, sizeof(put), 0};
    struct apdu_response rsp = {0};
    struct pcsc_ctx *ctx = NULL;
    struct pcsc_card *card = NULL;
    struct token_mgmt_relay relay = relay_for(RSA_TOKEN, RELAY_RIGHT);
    uint8_t *cert;
    size_t cert_len = 0;

    cert = snapshot_cert(svc, RSA_TOKEN, 0x9A, &cert_len);
    TAP_EQ_INT(token_service_write_cert(svc, ids[RSA_TOKEN], 0x9A, cert, cert_len, &relay),
               TOKEN_OK, "the same certificate written again (reinstall)");
    free(cert);
    if (!tap_ok(pcsc_ctx_open(&ctx) == TOKEN_OK &&
                    pcsc_card_connect(ctx, rig.reader[RSA_TOKEN], &card) == TOKEN_OK,
                "a second PC/SC client connects"))
        goto out;
    /* no SELECT first: a SELECT would end any authentication by itself */
    apdu_transmit(pcsc_card_transport(card), &cmd, &rsp);
    TAP_EQ_INT(rsp.sw, 0x6982, "and cannot write: the authentication was reset");
    apdu_response_clear(&rsp);
    apdu_transmit(pcsc_card_transport(card), &sel, &rsp);
    apdu_response_clear(&rsp);
out:
    pcsc_card_free(card);
    pcsc_ctx_free(ctx);
}

struct fresh_key {
    uint8_t *spki, *csr, *cert;
    size_t spki_len, csr_len, cert_len;
};

static void fresh_key_free(struct fresh_key *k)
{
    free(k->spki);
    free(k->csr);
    free(k->cert);
    memset(k, 0, sizeof(*k));
}

/* Generate in the staging slot, have the token sign a request, issue. */
static bool stage_key(struct token_service *svc, int token, enum token_key_alg alg,
                      struct fresh_key *k)
{
    struct token_mgmt_relay relay = relay_for(token, RELAY_RIGHT);
    const char *name = token_key_alg_name(alg);
    int tries = -1;
    token_err err;

    memset(k, 0, sizeof(*k));
    err = token_service_generate_key(svc, ids[token], TOKEN_STAGING_SLOT, alg, &relay, &k->spki,
                                     &k->spki_len);
    if (!tap_ok(err == TOKEN_OK, "%s key pair generated in the staging slot (%s)", name,
                token_err_name(err)))
        return false;
    tap_ok(slot_key_is(svc, token, TOKEN_STAGING_SLOT, k->spki, k->spki_len),
           "  the card's metadata shows the same key");
    err = token_service_sign_csr(svc, ids[token], TOKEN_STAGING_SLOT, PIN, 0, k->spki,
                                 k->spki_len, NULL, 0, &k->csr, &k->csr_len, &tries);
    if (!tap_ok(err == TOKEN_OK, "  the token signs a request with the PIN (%s)",
                token_err_name(err)))
        return false;
    TAP_EQ_INT(tries, 3, "  tries left after the right PIN");
    tap_ok(csr_good(k->csr, k->csr_len, k->spki, k->spki_len),
           "  the request verifies with OpenSSL and carries the new key");
    k->cert = issue(k->spki, k->spki_len, name, &k->cert_len);
    return k->cert != NULL;
}

/* yubico-piv-tool signs with the slot's key and checks it against `cert` (not SM2). */
static bool yubico_signs(int token, const char *slot_name, const uint8_t *cert, size_t len)
{
    char path[400];
    const unsigned char *p = cert;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s.pem", rig.dir, slot_name);
    f = fopen(path, "w");
    if (!f || !x || !PEM_write_X509(f, x)) {
        if (f)
            fclose(f);
        X509_free(x);
        return false;
    }
    fclose(f);
    X509_free(x);
    return rig_sh(&rig, "yubico-piv-tool -r '%s' -a verify-pin -P %s -a test-signature -s %s "
                        "-i '%s' >/dev/null 2>&1", rig.reader[token], PIN, slot_name, path) == 0;
}

static void test_install(struct token_service *svc, int token, enum token_key_alg alg,
                         uint8_t slot, const char *slot_name)
{
    struct token_mgmt_relay relay = relay_for(token, RELAY_RIGHT);
    struct token_slot_state st;
    struct fresh_key k;
    uint8_t *now;
    size_t now_len = 0;
    unsigned before;
    char says[64];

    if (!stage_key(svc, token, alg, &k))
        goto out;
    before = certs_changed_count();
    TAP_EQ_INT(token_service_install_key(svc, ids[token], TOKEN_STAGING_SLOT, slot, k.cert,
                                         k.cert_len, &relay), TOKEN_OK, "installed into the slot");
    now = snapshot_cert(svc, token, slot, &now_len);
    tap_ok(same_bytes(now, now_len, k.cert, k.cert_len),
           "  the cached snapshot shows the new certificate in %s", slot_name);
    free(now);
    tap_ok(certs_changed_count() > before, "  certificates-changed sent");
    tap_ok(slot_key_is(svc, token, slot, k.spki, k.spki_len), "  the slot holds the new key");
    tap_ok(slot_empty(svc, token, TOKEN_STAGING_SLOT), "  the staging slot is empty again");
    snprintf(says, sizeof(says), "%s: key matches certificate", slot_name);
    tap_ok(vtoken_says(token, says), "  the virtual token agrees: \"%s\"", says);
    TAP_EQ_INT(token_service_slot_state(svc, ids[token], slot, k.cert, k.cert_len, &st), TOKEN_OK,
               "  slot state");
    tap_ok(st.key_known && st.has_key && st.key_matches && st.cert_present && st.cert_is_given &&
               st.cert_matches_key,
           "  says key and certificate are the given ones and agree");
    if (alg != TOKEN_KEY_SM2)
        tap_ok(yubico_signs(token, slot_name, k.cert, k.cert_len),
               "  yubico-piv-tool test-signature with the new key and certificate");
out:
    fresh_key_free(&k);
}

/* 9D keeps its old key: retired to the next free slot, counted in the key history. */
static void test_install_9d(struct token_service *svc, int token, enum token_key_alg alg,
                            uint8_t retired_slot, const char *retired_name)
{
    uint8_t *old_cert, *old_key = NULL, *retired;
    size_t old_len = 0, old_key_len = 0, retired_len = 0;
    char says[64];

    old_cert = snapshot_cert(svc, token, 0x9D, &old_len);
    token_service_slot_public_key(svc, ids[token], 0x9D, &old_key, &old_key_len);
    test_install(svc, token, alg, 0x9D, "9d");
    retired = snapshot_cert(svc, token, retired_slot, &retired_len);
    tap_ok(old_cert && same_bytes(retired, retired_len, old_cert, old_len),
           "9d's old certificate is listed in retired slot %s", retired_name);
    tap_ok(old_key && slot_key_is(svc, token, retired_slot, old_key, old_key_len),
           "and %s holds 9d's old key, for mail encrypted to it", retired_name);
    snprintf(says, sizeof(says), "%s: key matches certificate", retired_name);
    tap_ok(vtoken_says(token, says), "the virtual token agrees: \"%s\"", says);
    free(old_cert);
    free(old_key);
    free(retired);
}

/* What OpenSC's PIV driver makes of the token afterwards (it knows no SM2
 * keys, so for the SM2 token it is the data objects it reads). */
static void test_opensc_reads(void)
{
    tap_ok(rig_sh(&rig, "pkcs15-tool --reader '%s' -D 2>&1 | grep -A4 "
                        "'Retired X.509 Certificate for Key Management 1' | grep -q 'Data ('",
                  rig.reader[SM2_TOKEN]) == 0,
           "OpenSC reads the SM2 token's retired certificate object");
    tap_ok(rig_sh(&rig, "pkcs15-tool --reader '%s' --list-certificates 2>&1 | "
                        "grep -c '^X.509 Certificate' | grep -qx 4",
                  rig.reader[RSA_TOKEN]) == 0,
           "OpenSC lists the RSA/EC token's four certificates (9a, 9c, 9d, retired 82)");
    tap_ok(rig_sh(&rig, "pkcs15-tool --reader '%s' --list-certificates 2>&1 | "
                        "grep -q 'Retired'", rig.reader[RSA_TOKEN]) == 0,
           "one of them the retired key management certificate");
}

static void test_write_wrong_key(struct token_service *svc)
{
    struct token_mgmt_relay relay = relay_for(SM2_TOKEN, RELAY_RIGHT);
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "SM2");
    unsigned char *spki = NULL;
    uint8_t *cert, *before, *after;
    size_t cert_len = 0, before_len = 0, after_len = 0;
    int spki_len = i2d_PUBKEY(other, &spki);
    unsigned events_before = certs_changed_count();

    cert = issue(spki, (size_t)spki_len, "someone else", &cert_len);
    before = snapshot_cert(svc, SM2_TOKEN, 0x9A, &before_len);
    relays[SM2_TOKEN].calls = 0;
    TAP_EQ_INT(token_service_write_cert(svc, ids[SM2_TOKEN], 0x9A, cert, cert_len, &relay),
               TOKEN_E_KEY_MISMATCH, "a certificate for another key is refused");
    TAP_EQ_INT(relays[SM2_TOKEN].calls, 0, "before the management key is even asked");
    TAP_EQ_INT(token_service_install_key(svc, ids[SM2_TOKEN], TOKEN_STAGING_SLOT, 0x9A, cert,
                                         cert_len, &relay),
               TOKEN_E_KEY_MISMATCH, "nor installed (the staged key is not its key either)");
    TAP_EQ_INT(token_service_rescan(svc, 2000), TOKEN_OK, "the token read afresh");
    after = snapshot_cert(svc, SM2_TOKEN, 0x9A, &after_len);
    tap_ok(same_bytes(before, before_len, after, after_len), "9a still holds its certificate");
    TAP_EQ_INT(certs_changed_count() - events_before, 0, "no certificates-changed event");
    free(cert);
    free(before);
    free(after);
    OPENSSL_free(spki);
    EVP_PKEY_free(other);
}

/* A wrong PIN while signing the request changes nothing on the token. */
static void test_wrong_pin(struct token_service *svc)
{
    struct token_mgmt_relay relay = relay_for(RSA_TOKEN, RELAY_RIGHT);
    uint8_t *spki = NULL, *csr = NULL, *before, *after;
    size_t spki_len = 0, csr_len = 0, before_len = 0, after_len = 0;
    int tries = -1;

    before = snapshot_cert(svc, RSA_TOKEN, 0x9C, &before_len);
    TAP_EQ_INT(token_service_generate_key(svc, ids[RSA_TOKEN], TOKEN_STAGING_SLOT,
                                          TOKEN_KEY_EC_P384, &relay, &spki, &spki_len),
               TOKEN_OK, "EC-P384 key staged");
    TAP_EQ_INT(token_service_sign_csr(svc, ids[RSA_TOKEN], TOKEN_STAGING_SLOT, WRONG, 0, spki,
                                      spki_len, NULL, 0, &csr, &csr_len, &tries),
               TOKEN_E_PIN_INCORRECT, "a wrong PIN: no request");
    TAP_EQ_INT(tries, 2, "one try spent");
    tap_ok(csr == NULL, "nothing handed out");
    tap_ok(slot_key_is(svc, RSA_TOKEN, TOKEN_STAGING_SLOT, spki, spki_len),
           "the staged key is still there");
    after = snapshot_cert(svc, RSA_TOKEN, 0x9C, &after_len);
    tap_ok(same_bytes(before, before_len, after, after_len), "9c untouched");
    TAP_EQ_INT(token_service_sign_csr(svc, ids[RSA_TOKEN], TOKEN_STAGING_SLOT, PIN, 0, spki,
                                      spki_len, NULL, 0, &csr, &csr_len, &tries),
               TOKEN_OK, "the right PIN signs");
    TAP_EQ_INT(tries, 3, "and resets the counter");
    tap_ok(csr_good(csr, csr_len, spki, spki_len), "an EC-P384 request that verifies");
    free(csr);
    csr = NULL;
    token_service_verify_pin(svc, ids[RSA_TOKEN], WRONG, 0, &tries);
    token_service_verify_pin(svc, ids[RSA_TOKEN], WRONG, 0, &tries);
    TAP_EQ_INT(token_service_sign_csr(svc, ids[RSA_TOKEN], TOKEN_STAGING_SLOT, WRONG, 0, spki,
                                      spki_len, NULL, 0, &csr, &csr_len, &tries),
               TOKEN_E_PIN_LAST_TRY, "the last PIN try is not spent on a request");
    TAP_EQ_INT(token_service_verify_pin(svc, ids[RSA_TOKEN], PIN, TOKEN_PIN_ALLOW_LAST_TRY,
                                        &tries), TOKEN_OK, "the PIN still verifies");
    free(spki);
    free(before);
    free(after);
}

/* Pulled after the move, before the write: the slot state tells, a second install finishes. */
static void test_pulled_mid_install(struct token_service *svc)
{
    struct token_mgmt_relay relay = relay_for(RSA_TOKEN, RELAY_RIGHT);
    struct token_slot_state st;
    struct fresh_key k;
    uint8_t *now;
    size_t now_len = 0;
    token_err err;
    int i;

    if (!stage_key(svc, RSA_TOKEN, TOKEN_KEY_EC_P256, &k))
        goto out;
    rig_sh(&rig, "tests/rig/rig fault '%s' %d DB before", rig.dir, RSA_TOKEN);
    err = token_service_install_key(svc, ids[RSA_TOKEN], TOKEN_STAGING_SLOT, 0x9C, k.cert,
                                    k.cert_len, &relay);
    tap_ok(err == TOKEN_E_TOKEN_REMOVED, "the token pulled at the write: %s", token_err_name(err));
    rig_do(&rig, "insert", RSA_TOKEN);
    for (i = 0; i < 40 && token_service_slot_state(svc, ids[RSA_TOKEN], 0x9C, k.cert, k.cert_len,
                                                   &st) != TOKEN_OK; i++)
        usleep(100 * 1000);
    tap_ok(st.key_known && st.has_key && st.key_matches && !st.cert_is_given,
           "back in: the slot has the new key, not yet its certificate");
    TAP_EQ_INT(token_service_install_key(svc, ids[RSA_TOKEN], TOKEN_STAGING_SLOT, 0x9C, k.cert,
                                         k.cert_len, &relay),
               TOKEN_OK, "installing again finishes the job");
    now = snapshot_cert(svc, RSA_TOKEN, 0x9C, &now_len);
    tap_ok(same_bytes(now, now_len, k.cert, k.cert_len), "9c holds the new certificate");
    tap_ok(vtoken_says(RSA_TOKEN, "9c: key matches certificate"), "and its key matches");
    free(now);
out:
    fresh_key_free(&k);
}

/* The key history's count of retired keys on the card (C1), read as any
 * PC/SC client reads it; -1 when it cannot be read. */
static int key_history_on_card(int token)
{
    static const uint8_t aid[] = {0xA0, 0x00, 0x00, 0x03, 0x08};
    static const uint8_t list[] = {0x5C, 0x03, 0x5F, 0xC1, 0x0C};
    struct apdu sel = {0x00, ISO_INS_SELECT, 0x04, 0x00, aid, sizeof(aid), APDU_LE_ANY};
    struct apdu get = {0x00, 0xCB, 0x3F, 0xFF, list, sizeof(list), APDU_LE_ANY};
    struct apdu_response rsp = {0};
    struct pcsc_ctx *ctx = NULL;
    struct pcsc_card *card = NULL;
    int count = -1;
    size_t i;

    if (pcsc_ctx_open(&ctx) == TOKEN_OK &&
        pcsc_card_connect(ctx, rig.reader[token], &card) == TOKEN_OK &&
        apdu_transmit(pcsc_card_transport(card), &sel, &rsp) == TOKEN_OK && rsp.sw == 0x9000) {
        apdu_response_clear(&rsp);
        if (apdu_transmit(pcsc_card_transport(card), &get, &rsp) == TOKEN_OK &&
            rsp.sw == 0x9000)
            for (i = 0; i + 2 < rsp.len && count < 0; i++)   /* 53 L { C1 01 n ... } */
                if (rsp.data[i] == 0xC1 && rsp.data[i + 1] == 0x01)
                    count = rsp.data[i + 2];
    }
    apdu_response_clear(&rsp);
    pcsc_card_free(card);
    pcsc_ctx_free(ctx);
    return count;
}

/*
 * Pulled right after the old 9d key moved to its retired slot, before the
 * key history counted it: a second install counts it once, then finishes.
 */
static void test_pulled_mid_retire(struct token_service *svc)
{
    struct token_mgmt_relay relay = relay_for(SM2_TOKEN, RELAY_RIGHT);
    uint8_t *old_cert, *old_key = NULL, *now = NULL, *retired = NULL;
    size_t old_len = 0, old_key_len = 0, now_len = 0, retired_len = 0;
    int count_before = key_history_on_card(SM2_TOKEN);
    struct token_slot_state st = {0};
    struct fresh_key k;
    token_err err;
    int i;

    old_cert = snapshot_cert(svc, SM2_TOKEN, 0x9D, &old_len);
    token_service_slot_public_key(svc, ids[SM2_TOKEN], 0x9D, &old_key, &old_key_len);
    if (!stage_key(svc, SM2_TOKEN, TOKEN_KEY_SM2, &k))
        goto out;
    rig_sh(&rig, "tests/rig/rig fault '%s' %d F6 after 1", rig.dir, SM2_TOKEN);
    err = token_service_install_key(svc, ids[SM2_TOKEN], TOKEN_STAGING_SLOT, 0x9D, k.cert,
                                    k.cert_len, &relay);
    tap_ok(err == TOKEN_E_TOKEN_REMOVED, "the token pulled after retiring 9d's key: %s",
           token_err_name(err));
    rig_do(&rig, "insert", SM2_TOKEN);
    for (i = 0; i < 40 && token_service_slot_state(svc, ids[SM2_TOKEN], 0x9D, k.cert, k.cert_len,
                                                   &st) != TOKEN_OK; i++)
        usleep(100 * 1000);
    tap_ok(st.key_known && !st.has_key, "back in: 9d has no key (it moved to 83)");
    TAP_EQ_INT(key_history_on_card(SM2_TOKEN), count_before, "and the key history not yet counted it");
    TAP_EQ_INT(token_service_install_key(svc, ids[SM2_TOKEN], TOKEN_STAGING_SLOT, 0x9D, k.cert,
                                         k.cert_len, &relay),
               TOKEN_OK, "installing again finishes the job");
    TAP_EQ_INT(key_history_on_card(SM2_TOKEN), count_before + 1, "the old key counted once");
    now = snapshot_cert(svc, SM2_TOKEN, 0x9D, &now_len);
    tap_ok(same_bytes(now, now_len, k.cert, k.cert_len), "9d holds the new certificate");
    tap_ok(vtoken_says(SM2_TOKEN, "9d: key matches certificate"), "and its key matches");
    retired = snapshot_cert(svc, SM2_TOKEN, 0x83, &retired_len);
    tap_ok(old_cert && same_bytes(retired, retired_len, old_cert, old_len),
           "9d's old certificate is listed in 83");
    tap_ok(old_key && slot_key_is(svc, SM2_TOKEN, 0x83, old_key, old_key_len),
           "and 83 holds 9d's old key");
    tap_ok(slot_empty(svc, SM2_TOKEN, TOKEN_STAGING_SLOT), "the staging slot is empty again");
out:
    free(old_cert);
    free(old_key);
    free(now);
    free(retired);
    fresh_key_free(&k);
}

/* keep-key actions: a new certificate for the key already in the slot. */
static void test_write_keep_key(struct token_service *svc)
{
    struct token_mgmt_relay relay = relay_for(RSA_TOKEN, RELAY_RIGHT);
    uint8_t *key = NULL, *cert, *now;
    size_t key_len = 0, cert_len = 0, now_len = 0;

    token_service_slot_public_key(svc, ids[RSA_TOKEN], 0x9A, &key, &key_len);
    cert = issue(key, key_len, "renewed", &cert_len);
    TAP_EQ_INT(token_service_write_cert(svc, ids[RSA_TOKEN], 0x9A, cert, cert_len, &relay),
               TOKEN_OK, "a renewed certificate for 9a's RSA key written");
    now = snapshot_cert(svc, RSA_TOKEN, 0x9A, &now_len);
    tap_ok(same_bytes(now, now_len, cert, cert_len), "and shown by the snapshot");
    tap_ok(vtoken_says(RSA_TOKEN, "9a: key matches certificate"), "9a: key matches certificate");
    free(key);
    free(cert);
    free(now);
}

int main(void)
{
    static const char *const tokens[] = {"sm2", "rsa-ec"};
    struct token_service_config cfg = {.card_wait_ms = 2000};
    struct token_service *svc = NULL;

    if (rig_start(&rig, 2, tokens) != 0) {
        tap_ok(0, "the PC/SC rig starts");
        rig_stop(&rig);
        return tap_done();
    }
    issuer_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!tap_ok(load_mgmt_keys(), "the demo tokens' management keys (tokens.env)") ||
        !tap_ok(token_service_new(&cfg, &svc) == TOKEN_OK, "token service starts") ||
        !tap_ok(find_ids(svc), "both demo tokens found"))
        goto out;
    token_service_subscribe(svc, on_event, NULL);

    test_metadata(svc);
    test_relay_failures(svc);
    test_write_wrong_key(svc);
    test_install(svc, SM2_TOKEN, TOKEN_KEY_SM2, 0x9A, "9a");
    test_install(svc, RSA_TOKEN, TOKEN_KEY_RSA2048, 0x9A, "9a");
    test_install(svc, RSA_TOKEN, TOKEN_KEY_EC_P256, 0x9C, "9c");
    test_install_9d(svc, SM2_TOKEN, TOKEN_KEY_SM2, 0x82, "82");
    test_install(svc, RSA_TOKEN, TOKEN_KEY_EC_P256, 0x9D, "9d");   /* a first 9d key: nothing to retire */
    test_install_9d(svc, RSA_TOKEN, TOKEN_KEY_EC_P384, 0x82, "82");
    test_opensc_reads();
    test_write_keep_key(svc);
    test_authority_dropped(svc);
    test_wrong_pin(svc);
    test_pulled_mid_install(svc);
    test_pulled_mid_retire(svc);
out:
    token_service_free(svc);
    EVP_PKEY_free(issuer_key);
    rig_stop(&rig);
    return tap_done();
}
