/* SPDX-License-Identifier: MIT */
/*
 * api/certwrite/certwrite.c — carrying out a certificate action and recovering an
 * interrupted one, as docs/cert-protocol.md describes them step by step.
 *
 * The rule that keeps a token usable: the slot's key and certificate change
 * only through token_service_write_cert and token_service_install_key, each
 * after a durable journal record that holds the certificate about to be
 * written. Whatever stops them, the slot holds its old pair or its new one
 * (or, between MOVE KEY and PUT DATA, the new key and a certificate the
 * record holds), and a recovery finishes from the record without the PIN.
 *
 * Before a certificate is written its chain must verify against ca-roots
 * (OpenSSL's X509_STORE; SM2-signed certificates get the GM/T 0009 default
 * user id, which OpenSSL 3.0 does not assume — measured: without it an SM3withSM2
 * signature fails to verify) and its key must be the slot's (keep) or the
 * staged key (new).
 *
 * An action may carry a pair (docs/cert-protocol.md, "Certificate pairs"):
 * the signing and the encryption certificate re-issued together. Every
 * certificate of the answer is checked before any is written, one record
 * holds them all, the action's own is written first and the other half
 * after it, and a recovery writes whichever the card does not hold yet, so
 * a token never keeps a mixed pair.
 */
#include "api/certwrite/certwrite.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/base/log.h"
#include "api/base/scoped.h"

#define SM2_DEFAULT_DISTID     "1234567812345678"   /* GM/T 0009-2012 default user id */
#define CRASH_NAME_MAX         32

struct certwrite {
    struct token_service *svc;
    const struct ca_client *ca;
    struct ca_client_config ca_cfg;
    struct cert_journal *journal;
    X509_STORE *roots;                   /* NULL: no usable ca-roots */
    char *crash_after;
    pthread_mutex_t lock;
    /* The user's PIN, under `lock` for one carry-out only: what authorises
     * each write to an SKF key (by_pin). Never journalled, never logged. */
    const char *pin;
    unsigned pin_flags;
};

/* An SKF key's certificate, named by id rather than a PIV slot: no management
 * key and no staging slot; the user's PIN authorises each write, and a new
 * key pair replaces the container's in place (docs/cert-protocol.md, "SKF keys"). */
static bool by_pin(const struct ca_action *a)
{
    return a->slot == 0;
}

#define TOKEN_FIELDS(id) (&(struct log_fields){ .token_id = (id) })

/* --- errors ------------------------------------------------------------------- */

static int token_failure(struct certwrite_error *e, token_err err, int tries_left)
{
    *e = (struct certwrite_error){ .kind = CERTWRITE_ERR_TOKEN, .token = err,
                                   .tries_left = tries_left };
    return -1;
}

static int ca_failure(struct certwrite_error *e, ca_err err, const struct ca_refusal *why)
{
    *e = (struct certwrite_error){ .kind = CERTWRITE_ERR_CA, .ca = err };
    if (why)
        e->refusal = *why;
    return -1;
}

const char *certwrite_code_name(enum certwrite_code code)
{
    static const char *const names[] = {
        [CERTWRITE_INTERNAL] = "INTERNAL",
        [CERTWRITE_CERT_INVALID] = "CERT_INVALID",
        [CERTWRITE_TOKEN_WRITE_FAILED] = "TOKEN_WRITE_FAILED",
        [CERTWRITE_ACTION_NOT_FOUND] = "CERT_ACTION_NOT_FOUND",
        [CERTWRITE_ROOTS_NOT_CONFIGURED] = "CERT_ROOTS_NOT_CONFIGURED",
    };

    return (size_t)code < sizeof names / sizeof names[0] && names[code] ? names[code] : "?";
}

static int code_failure(struct certwrite_error *e, enum certwrite_code code)
{
    *e = (struct certwrite_error){ .kind = CERTWRITE_ERR_CODE, .code = code };
    return -1;
}

/* The card was not changed by an operation that failed this way. */
static bool card_untouched(token_err err)
{
    return err == TOKEN_E_TOKEN_NOT_FOUND || err == TOKEN_E_TOKEN_BUSY ||
           err == TOKEN_E_CARD_UNSUPPORTED || err == TOKEN_E_INVALID_ARG ||
           err == TOKEN_E_KEY_MISMATCH || err == TOKEN_E_MGMT_AUTH_FAILED ||
           err == TOKEN_E_RELAY_FAILED || err == TOKEN_E_NOT_SUPPORTED ||
           err == TOKEN_E_PCSC_UNAVAILABLE || err == TOKEN_E_NO_MEMORY ||
           /* an SKF key's PIN, refused before anything is written */
           err == TOKEN_E_PIN_INCORRECT || err == TOKEN_E_PIN_BLOCKED ||
           err == TOKEN_E_PIN_LAST_TRY || err == TOKEN_E_PIN_POLICY;
}

/* The token went away: a recovery waits for it to come back. */
static bool token_gone(token_err err)
{
    return err == TOKEN_E_TOKEN_NOT_FOUND || err == TOKEN_E_TOKEN_REMOVED ||
           err == TOKEN_E_READER_NOT_FOUND || err == TOKEN_E_TOKEN_BUSY ||
           err == TOKEN_E_TIMEOUT || err == TOKEN_E_PCSC_UNAVAILABLE;
}

/* The test hook: die right after a step's card operation. */
static void crash_point(const struct certwrite *cw, enum cert_step step, const char *token_id)
{
    char name[CRASH_NAME_MAX];

    if (!cw->crash_after)
        return;
    snprintf(name, sizeof name, CERTWRITE_CRASH_PREFIX "%s", cert_step_name(step));
    if (strcmp(cw->crash_after, name) != 0)
        return;
    log_msg(LOG_WARNING, TOKEN_FIELDS(token_id), "test hook: SIGKILL after %s", name);
    raise(SIGKILL);
}

/* --- the management key relay --------------------------------------------------- */

struct relay_ctx {
    const struct ca_client *ca;
    const char *action_id;
    ca_err err;
    struct ca_refusal refusal;
};

static token_err relay_respond(void *userdata, uint8_t algorithm, const uint8_t *challenge,
                               size_t len, uint8_t *response)
{
    struct relay_ctx *ctx = userdata;

    ctx->err = ca_cert_management_auth(ctx->ca, ctx->action_id, algorithm, challenge, len,
                                       response, &ctx->refusal);
    return ctx->err == CA_OK ? TOKEN_OK : TOKEN_E_RELAY_FAILED;
}

static struct token_mgmt_relay relay_of(struct relay_ctx *ctx, const struct ca_action *a)
{
    *ctx = (struct relay_ctx){ .ca = ctx->ca, .action_id = a->id, .err = CA_OK };
    return (struct token_mgmt_relay){ .algorithm = a->mgmt_alg, .respond = relay_respond,
                                      .userdata = ctx };
}

/* A failed card step: the service's refusal when the relay is what failed. */
static int card_step_failure(struct certwrite_error *e, token_err err, int tries_left,
                             const struct relay_ctx *relay)
{
    if (err == TOKEN_E_RELAY_FAILED && relay->err != CA_OK)
        return ca_failure(e, relay->err, &relay->refusal);
    return token_failure(e, err, tries_left);
}

/* --- certificates ------------------------------------------------------------------ */

static void x509_free(X509 **x)
{
    X509_free(*x);
}

#define SCOPED_X509 SCOPED(x509_free) X509

static X509 *parse_der(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);

    if (x && p != der + len) {
        X509_free(x);
        return NULL;
    }
    return x;
}

/* OpenSSL 3.0 verifies SM3withSM2 only with the signer's user id set. */
static bool set_sm2_distid(X509 *x)
{
    ASN1_OCTET_STRING *id;

    if (X509_get_signature_nid(x) != NID_SM2_with_SM3)
        return true;
    id = ASN1_OCTET_STRING_new();
    if (!id || !ASN1_OCTET_STRING_set(id, (const unsigned char *)SM2_DEFAULT_DISTID,
                                      (int)strlen(SM2_DEFAULT_DISTID))) {
        ASN1_OCTET_STRING_free(id);
        return false;
    }
    X509_set0_distinguishing_id(x, id);
    return true;
}

static void chain_free(STACK_OF(X509) **chain)
{
    sk_X509_pop_free(*chain, X509_free);
}

/* Frees the verification context and drops what OpenSSL queued on the way. */
static void store_ctx_free(X509_STORE_CTX **ctx)
{
    X509_STORE_CTX_free(*ctx);
    ERR_clear_error();
}

/* The issued certificate's chain, verified against ca-roots at this time. */
static bool chain_verifies(const struct certwrite *cw, X509 *leaf, const struct ca_issued *is,
                           const char *token_id)
{
    SCOPED(chain_free) STACK_OF(X509) *untrusted = sk_X509_new_null();
    SCOPED(store_ctx_free) X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    bool ok;

    if (!untrusted || !ctx || !set_sm2_distid(leaf))
        return false;
    for (size_t i = 0; i < is->n_chain; i++) {
        X509 *x = parse_der(is->chain[i], is->chain_len[i]);

        if (!x || !set_sm2_distid(x) || !sk_X509_push(untrusted, x)) {
            X509_free(x);
            log_msg(LOG_ERR, TOKEN_FIELDS(token_id), "certificate: chain member %zu does not parse",
                    i);
            return false;
        }
    }
    if (!X509_STORE_CTX_init(ctx, cw->roots, leaf, untrusted))
        return false;
    ok = X509_verify_cert(ctx) == 1;
    if (!ok)
        log_msg(LOG_ERR, TOKEN_FIELDS(token_id),
                "certificate: the issued certificate does not verify against ca-roots: %s",
                X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    return ok;
}

/* The serial as GET …/certificates shows it (token/cert.h's form). */
static bool serial_of(const uint8_t *der, size_t len, char *out, size_t size)
{
    struct cert_summary *sum = NULL;
    bool ok = cert_summarize(der, len, time(NULL), &sum) == TOKEN_OK && sum->serial_hex &&
              strlen(sum->serial_hex) < size;

    if (ok)
        snprintf(out, size, "%s", sum->serial_hex);
    if (sum)
        cert_summary_free(sum);
    return ok;
}

/* The issued certificate, checked: chain to ca-roots, key `spki`; its serial. */
static int check_issued(const struct certwrite *cw, const struct ca_issued *is,
                        const uint8_t *spki, size_t spki_len, const char *token_id,
                        char *serial, size_t serial_size, struct certwrite_error *e)
{
    SCOPED_X509 *leaf = parse_der(is->der, is->der_len);
    bool same;

    if (!leaf || !serial_of(is->der, is->der_len, serial, serial_size)) {
        log_msg(LOG_ERR, TOKEN_FIELDS(token_id), "certificate: the issued certificate does not parse");
        return code_failure(e, CERTWRITE_CERT_INVALID);
    }
    if (!chain_verifies(cw, leaf, is, token_id))
        return code_failure(e, CERTWRITE_CERT_INVALID);
    /* The key and its parameters (a curve), not just the same point bytes:
     * token/cert.c's one comparison. */
    if (cert_key_matches_spki(is->der, is->der_len, spki, spki_len, &same) != TOKEN_OK || !same) {
        log_msg(LOG_ERR, TOKEN_FIELDS(token_id),
                "certificate: the issued certificate's key is not the token's");
        return code_failure(e, CERTWRITE_CERT_INVALID);
    }
    return 0;
}

/* The answer's certificate for `cert_id` (an answer of before pairs names
 * none: its one is the action's own, `own_id`). */
static struct ca_issued *issued_for(struct ca_issued *all, size_t n, const char *cert_id,
                                    const char *own_id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(all[i].cert_id, cert_id) == 0 ||
            (!all[i].cert_id[0] && strcmp(cert_id, own_id) == 0))
            return &all[i];
    return NULL;
}

static void issued_all_clear(struct ca_issued *all)
{
    for (size_t i = 0; i < CA_ACTION_CERTS_MAX; i++)
        ca_issued_clear(&all[i]);
}

static token_err slot_key(struct certwrite *cw, const struct token_snapshot *s, uint8_t slot,
                          uint8_t **spki, size_t *len);

/* The key of PIV `slot`, or (slot 0) of SKF certificate `cert_id`, on the
 * token as it is now: the token layer asks whichever interface it speaks. */
static token_err token_cert_key(struct certwrite *cw, const char *token_id, uint8_t slot,
                                const char *cert_id, uint8_t **spki, size_t *len)
{
    struct token_snapshot *s = NULL;
    token_err err;

    if (!slot) {
        err = token_service_cert_key(cw->svc, token_id, cert_id, spki, len);
    } else if ((err = token_service_get(cw->svc, token_id, &s)) == TOKEN_OK) {
        err = slot_key(cw, s, slot, spki, len);
        token_snapshot_unref(s);
    }
    return err == TOKEN_E_NO_OBJECT ? TOKEN_E_NOT_SUPPORTED : err;
}

/* Where PIV `slot`, or (slot 0) SKF certificate `cert_id`, stands against `der`. */
static token_err token_cert_state(struct certwrite *cw, const char *token_id, uint8_t slot,
                                  const char *cert_id, const uint8_t *der, size_t der_len,
                                  struct token_slot_state *out)
{
    if (!slot)
        return token_service_cert_state(cw->svc, token_id, cert_id, der, der_len, out);
    return token_service_slot_state(cw->svc, token_id, slot, der, der_len, out);
}

/* The other half of a pair, checked against the key already in its slot
 * (an SKF key: its container's signing or encryption key). */
static int check_partner(struct certwrite *cw, const struct ca_issued *is,
                         const struct ca_action_cert *c, const char *token_id,
                         struct cert_partner *out, struct certwrite_error *e)
{
    uint8_t *spki = NULL;
    size_t spki_len = 0;
    token_err err = token_cert_key(cw, token_id, c->slot, c->cert_id, &spki, &spki_len);
    int rc;

    if (err != TOKEN_OK) {
        log_msg(LOG_ERR, TOKEN_FIELDS(token_id), "certificate: no key in %s for the pair's "
                "other certificate (%s)", c->cert_id, token_err_name(err));
        return token_failure(e, err, -1);
    }
    rc = check_issued(cw, is, spki, spki_len, token_id, out->serial, sizeof out->serial, e);
    free(spki);
    out->slot = c->slot;
    snprintf(out->cert_id, sizeof out->cert_id, "%s", c->cert_id);
    return rc;
}

/*
 * Every certificate of the answer, checked before any is written: the
 * action's own against `spki` (the slot's key, or the staged one), each
 * other half of a pair against the key in its own slot. Only when all pass
 * do they move into `rec` (its certificate, serial and partners).
 */
static int check_all(struct certwrite *cw, const struct ca_action *a, struct ca_issued *all,
                     size_t n, const uint8_t *spki, size_t spki_len, struct cert_record *rec,
                     struct certwrite_error *e)
{
    const char *own_id = ca_action_slot(a);
    struct ca_issued *own = issued_for(all, n, own_id, own_id);
    struct cert_partner partners[CERT_PARTNERS_MAX] = { { 0 } };

    if (!own || n != a->n_certs || a->n_certs > CA_ACTION_CERTS_MAX) {
        log_msg(LOG_ERR, TOKEN_FIELDS(rec->token_id), "certificate: the answer of action %s does "
                "not carry the certificates the action names", a->number);
        return code_failure(e, CERTWRITE_CERT_INVALID);
    }
    if (check_issued(cw, own, spki, spki_len, rec->token_id, rec->serial, sizeof rec->serial,
                     e) < 0)
        return -1;
    for (size_t i = 1; i < a->n_certs; i++) {
        struct ca_issued *is = issued_for(all, n, a->certs[i].cert_id, own_id);

        if (!is || is == own) {
            log_msg(LOG_ERR, TOKEN_FIELDS(rec->token_id), "certificate: the answer of action %s "
                    "lacks the %s certificate", a->number, a->certs[i].cert_id);
            return code_failure(e, CERTWRITE_CERT_INVALID);
        }
        if (check_partner(cw, is, &a->certs[i], rec->token_id, &partners[i - 1], e) < 0)
            return -1;
    }
    rec->cert = own->der;
    rec->cert_len = own->der_len;
    own->der = NULL;
    for (size_t i = 1; i < a->n_certs; i++) {
        struct ca_issued *is = issued_for(all, n, a->certs[i].cert_id, own_id);

        rec->partners[i - 1] = partners[i - 1];
        rec->partners[i - 1].cert = is->der;
        rec->partners[i - 1].cert_len = is->der_len;
        is->der = NULL;
        rec->n_partners = i;
    }
    return 0;
}

/* A malloc'ed copy of what an i2d call gave (n bytes at *der, freed here). */
static uint8_t *copy_der(unsigned char *der, int n, size_t *out_len)
{
    uint8_t *copy = n > 0 ? malloc((size_t)n) : NULL;

    if (copy) {
        memcpy(copy, der, (size_t)n);
        *out_len = (size_t)n;
    }
    OPENSSL_free(der);
    return copy;
}

/* The DER subject of a certificate (caller frees), or NULL. */
static uint8_t *subject_of_cert(const uint8_t *der, size_t len, size_t *out_len)
{
    SCOPED_X509 *x = parse_der(der, len);
    unsigned char *name = NULL;
    int n = x ? i2d_X509_NAME(X509_get_subject_name(x), &name) : -1;

    return copy_der(name, n, out_len);
}

static const struct token_cert *cert_in_slot(const struct token_snapshot *s, uint8_t slot)
{
    for (size_t i = 0; i < s->n_certs; i++)
        if (s->certs[i].slot == slot)
            return &s->certs[i];
    return NULL;
}

/* The slot's public key: the card's metadata, else the certificate there. */
static token_err slot_key(struct certwrite *cw, const struct token_snapshot *s, uint8_t slot,
                          uint8_t **spki, size_t *len)
{
    token_err err = token_service_slot_public_key(cw->svc, s->id, slot, spki, len);
    const struct token_cert *c;

    if (err != TOKEN_E_NOT_SUPPORTED)
        return err;
    c = cert_in_slot(s, slot);
    if (!c)
        return TOKEN_E_NOT_SUPPORTED;
    return cert_public_key(c->der, c->der_len, spki, len) == TOKEN_OK ? TOKEN_OK
                                                                      : TOKEN_E_MALFORMED;
}

/* The key the action's certificate must carry, for a kept key. */
static token_err action_key(struct certwrite *cw, const struct token_snapshot *s,
                            const struct ca_action *a, uint8_t **spki, size_t *len)
{
    if (by_pin(a))
        return token_service_cert_key(cw->svc, s->id, a->cert_id, spki, len);
    return slot_key(cw, s, a->slot, spki, len);
}

static const struct token_cert *action_cert(const struct token_snapshot *s,
                                            const struct ca_action *a)
{
    if (!by_pin(a))
        return cert_in_slot(s, a->slot);
    for (size_t i = 0; i < s->n_certs; i++)
        if (strcmp(s->certs[i].id, a->cert_id) == 0)
            return &s->certs[i];
    return NULL;
}

/* --- confirmation ----------------------------------------------------------------- */

/* An SKF record past `generating`: the container's key was replaced in
 * place and its certificate is the old key's until the import. Such a
 * record is the only trace of that, so no refusal drops it. */
static bool container_key_replaced(const struct cert_record *rec)
{
    return by_pin(&rec->action) && rec->step >= CERT_STEP_SIGNED;
}

static enum recovery_result drop_record(struct certwrite *cw, const struct cert_record *rec)
{
    return cert_journal_remove(cw->journal, rec->action.id) == 0 ? RECOVERY_DONE
                                                                 : RECOVERY_FAILED;
}

/* Tells the CA; any settled answer ends the record. */
static enum recovery_result deliver_confirmation(struct certwrite *cw, const struct ca_client *c,
                                                 const struct cert_record *rec)
{
    const struct log_fields *f = TOKEN_FIELDS(rec->token_id);
    struct ca_written written[CA_ACTION_CERTS_MAX] = {
        { ca_action_slot(&rec->action), rec->serial }
    };
    struct ca_refusal why;
    ca_err err;

    for (size_t i = 0; i < rec->n_partners; i++)
        written[i + 1] = (struct ca_written){ rec->partners[i].cert_id, rec->partners[i].serial };
    err = ca_cert_confirm_all(c, rec->action.id, written, rec->n_partners + 1, &why);

    switch (err) {
    case CA_OK:
        log_msg(LOG_NOTICE, f, "certificate: action %s confirmed (slot holds serial %s)",
                rec->action.number, rec->serial);
        break;
    case CA_E_ACTION_UNKNOWN:
    case CA_E_STATE_CONFLICT:
    case CA_E_BAD_REQUEST:
        log_msg(LOG_ERR, f,
                "certificate: the CA refused the confirmation of action %s (%s); the token "
                "holds serial %s; record dropped", rec->action.number, ca_err_name(err),
                rec->serial);
        break;
    default:
        return RECOVERY_SERVICE_DOWN;
    }
    return drop_record(cw, rec);
}

static void fill_outcome(const struct cert_record *rec, bool confirmed,
                         struct certwrite_outcome *out)
{
    if (!out)
        return;
    *out = (struct certwrite_outcome){ .kind = rec->action.kind, .slot = rec->action.slot,
                                       .confirmed = confirmed };
    snprintf(out->serial, sizeof out->serial, "%s", rec->serial);
    snprintf(out->cert_id, sizeof out->cert_id, "%s", ca_action_slot(&rec->action));
    for (size_t i = 0; i < rec->n_partners; i++) {
        out->partners[i].slot = rec->partners[i].slot;
        snprintf(out->partners[i].cert_id, sizeof out->partners[i].cert_id, "%s",
                 rec->partners[i].cert_id);
        snprintf(out->partners[i].serial, sizeof out->partners[i].serial, "%s",
                 rec->partners[i].serial);
    }
    out->n_partners = rec->n_partners;
}

/* The slot holds the certificate: record that, then tell the CA. */
static enum recovery_result confirm_written(struct certwrite *cw, const struct ca_client *c,
                                            struct cert_record *rec,
                                            struct certwrite_outcome *out)
{
    enum recovery_result r;

    rec->step = CERT_STEP_CONFIRMING;
    /* Without the record the earlier one stays, and a recovery finds the card done. */
    if (cert_journal_write(cw->journal, rec) < 0) {
        fill_outcome(rec, false, out);
        return RECOVERY_FAILED;
    }
    crash_point(cw, CERT_STEP_CONFIRMING, rec->token_id);
    r = deliver_confirmation(cw, c, rec);
    fill_outcome(rec, r == RECOVERY_DONE, out);
    return r;
}

/* --- the card steps ------------------------------------------------------------------ */

/* An SKF key's certificate `cert_id` into its container, under the PIN of
 * this carry-out; a recovery without one leaves the record for the user's
 * next try. */
static int write_by_pin(struct certwrite *cw, const struct cert_record *rec,
                        const char *cert_id, const uint8_t *der, size_t der_len,
                        const char *serial, struct certwrite_error *e)
{
    int tries = -1;
    token_err err;

    if (!cw->pin) {
        *e = (struct certwrite_error){ .kind = CERTWRITE_ERR_PIN_MISSING, .tries_left = -1 };
        return -1;
    }
    err = token_service_import_cert(cw->svc, rec->token_id, cert_id, cw->pin, cw->pin_flags,
                                    der, der_len, &tries);
    if (err != TOKEN_OK)
        return token_failure(e, err, tries);
    log_msg(LOG_NOTICE, TOKEN_FIELDS(rec->token_id), "certificate: serial %s written to %s "
            "(action %s)", serial, cert_id, rec->action.number);
    return 0;
}

/* Into PIV `slot` under the management key, or (slot 0) into SKF
 * certificate `cert_id` under the user's PIN. */
static int write_cert(struct certwrite *cw, const struct ca_client *c,
                      const struct cert_record *rec, uint8_t slot, const char *cert_id,
                      const uint8_t *der, size_t der_len, const char *serial,
                      struct certwrite_error *e)
{
    struct relay_ctx relay = { .ca = c };
    struct token_mgmt_relay r = relay_of(&relay, &rec->action);
    token_err err;

    if (!slot)
        return write_by_pin(cw, rec, cert_id, der, der_len, serial, e);
    err = token_service_write_cert(cw->svc, rec->token_id, slot, der, der_len, &r);

    if (err != TOKEN_OK)
        return card_step_failure(e, err, -1, &relay);
    log_msg(LOG_NOTICE, TOKEN_FIELDS(rec->token_id),
            "certificate: serial %s written to slot %s (action %s)", serial, ca_slot_name(slot),
            rec->action.number);
    return 0;
}

static int write_step(struct certwrite *cw, const struct ca_client *c, struct cert_record *rec,
                      struct certwrite_error *e)
{
    if (write_cert(cw, c, rec, rec->action.slot, rec->action.cert_id, rec->cert, rec->cert_len,
                   rec->serial, e) < 0)
        return -1;
    /* With a pair this is between its two writes: what the recovery must finish. */
    crash_point(cw, CERT_STEP_WRITING, rec->token_id);
    return 0;
}

/* The other half of a pair, after the action's own: each certificate the
 * card does not hold yet (`look`: ask the card first, as a recovery must). */
static int write_partners(struct certwrite *cw, const struct ca_client *c,
                          const struct cert_record *rec, bool look, struct certwrite_error *e)
{
    for (size_t i = 0; i < rec->n_partners; i++) {
        const struct cert_partner *p = &rec->partners[i];
        struct token_slot_state now = { 0 };
        token_err err;

        if (look) {
            err = token_cert_state(cw, rec->token_id, p->slot, p->cert_id, p->cert, p->cert_len,
                                   &now);
            if (err != TOKEN_OK)
                return token_failure(e, err, -1);
            if (now.cert_is_given)
                continue;
        }
        if (write_cert(cw, c, rec, p->slot, p->cert_id, p->cert, p->cert_len, p->serial, e) < 0)
            return -1;
    }
    return 0;
}

static int install_step(struct certwrite *cw, const struct ca_client *c, struct cert_record *rec,
                        struct certwrite_error *e)
{
    struct relay_ctx relay = { .ca = c };
    struct token_mgmt_relay r = relay_of(&relay, &rec->action);
    token_err err;

    if (by_pin(&rec->action)) {
        /* An SKF key made the new key pair in its container: the certificate is what is left. */
        if (write_by_pin(cw, rec, rec->action.cert_id, rec->cert, rec->cert_len, rec->serial,
                         e) < 0)
            return -1;
    } else if ((err = token_service_install_key(cw->svc, rec->token_id, TOKEN_STAGING_SLOT,
                                                rec->action.slot, rec->cert, rec->cert_len,
                                                &r)) != TOKEN_OK) {
        return card_step_failure(e, err, -1, &relay);
    }
    crash_point(cw, CERT_STEP_INSTALLING, rec->token_id);
    log_msg(LOG_NOTICE, TOKEN_FIELDS(rec->token_id),
            "certificate: new key and serial %s installed (action %s)", rec->serial,
            rec->action.number);
    return 0;
}

/* After a failed write or install: keep the record only when the card may be mid-way. */
static void settle_failed_card_step(struct certwrite *cw, const struct cert_record *rec,
                                    const struct certwrite_error *e)
{
    /* A token that went away keeps its record: a recovery finishes without the PIN. */
    if (e->kind == CERTWRITE_ERR_TOKEN && (token_gone(e->token) || !card_untouched(e->token)))
        return;
    /* An SKF container holds the new key already: the record keeps its
     * certificate until the user's PIN writes it. */
    if (by_pin(&rec->action) && rec->step == CERT_STEP_INSTALLING)
        return;
    /* An unreachable service: the recovery relays again once it is back. */
    if (e->kind == CERTWRITE_ERR_CA && e->ca == CA_E_UNAVAILABLE)
        return;
    /* A refused relay or authentication changed nothing; the action stays open. */
    if (rec->step == CERT_STEP_INSTALLING || rec->step == CERT_STEP_WRITING)
        drop_record(cw, rec);
}

/* Issue for the recorded CSR, check, install, confirm: from `signed` on, no PIN. */
static int issue_and_install(struct certwrite *cw, const struct ca_client *c,
                             struct cert_record *rec, struct certwrite_outcome *out,
                             struct certwrite_error *e)
{
    struct ca_issued all[CA_ACTION_CERTS_MAX];
    struct ca_action now;
    struct ca_refusal why;
    size_t n = 0;
    ca_err cerr = ca_cert_issue_all(c, rec->action.id, rec->csr, rec->csr_len, all, &n, &why);
    bool issued = cerr == CA_OK;
    int rc;

    /* The record keeps no list of the action's certificates: what the
     * service says of the action now names them. */
    if (issued)
        cerr = ca_cert_get(c, rec->action.id, &now, &why);
    if (cerr != CA_OK) {
        issued_all_clear(all);
        /* The CSR stays in the journal while the service is away, once the
         * service has issued for it (asked again, it answers the same
         * certificates), and whenever the container's key is the new one. */
        if (cerr != CA_E_UNAVAILABLE && !issued && !container_key_replaced(rec))
            drop_record(cw, rec);
        return ca_failure(e, cerr, &why);
    }
    now.slot = rec->action.slot;
    snprintf(now.cert_id, sizeof now.cert_id, "%s", rec->action.cert_id);
    rc = check_all(cw, &now, all, n, rec->staged_spki, rec->staged_spki_len, rec, e);
    OPENSSL_cleanse(&now, sizeof now);
    if (rc == 0) {
        rec->step = CERT_STEP_INSTALLING;
        if (cert_journal_write(cw->journal, rec) < 0)
            rc = code_failure(e, CERTWRITE_INTERNAL);
    } else if (!container_key_replaced(rec)) {
        /* Only the staging slot holds the new key: the slot is as it was. */
        drop_record(cw, rec);
    }
    issued_all_clear(all);
    if (rc < 0)
        return -1;
    if (install_step(cw, c, rec, e) < 0) {
        settle_failed_card_step(cw, rec, e);
        return -1;
    }
    /* The new key is in: a failure now keeps the record, for the recovery. */
    if (write_partners(cw, c, rec, false, e) < 0)
        return -1;
    confirm_written(cw, c, rec, out);
    return 0;
}

/* --- carrying out ----------------------------------------------------------------------- */

static void record_start(struct cert_record *rec, const struct certwrite *cw,
                         const char *token_id, const struct ca_action *a, enum cert_step step)
{
    *rec = (struct cert_record){ .step = step, .action = *a };
    snprintf(rec->token_id, sizeof rec->token_id, "%s", token_id);
    snprintf(rec->ca_url, sizeof rec->ca_url, "%s", ca_client_base_url(cw->ca));
}

static void record_release(struct cert_record *rec)
{
    cert_record_clear(rec);
}

#define SCOPED_RECORD SCOPED(record_release) struct cert_record

static int carry_out_keep(struct certwrite *cw, const struct token_snapshot *s,
                          const struct ca_action *a, struct certwrite_outcome *out,
                          struct certwrite_error *e)
{
    SCOPED_RECORD rec = { 0 };
    struct ca_issued all[CA_ACTION_CERTS_MAX];
    struct ca_refusal why;
    uint8_t *spki = NULL;
    size_t spki_len = 0, n = 0;
    token_err terr;
    ca_err cerr;
    int rc;

    terr = action_key(cw, s, a, &spki, &spki_len);
    if (terr != TOKEN_OK)
        return token_failure(e, terr == TOKEN_E_NO_OBJECT ? TOKEN_E_NOT_SUPPORTED : terr, -1);
    cerr = ca_cert_issue_all(cw->ca, a->id, NULL, 0, all, &n, &why);
    if (cerr != CA_OK) {
        free(spki);
        issued_all_clear(all);
        return ca_failure(e, cerr, &why);
    }
    record_start(&rec, cw, s->id, a, CERT_STEP_WRITING);
    /* Nothing is journalled, and nothing written, unless every one checks. */
    rc = check_all(cw, a, all, n, spki, spki_len, &rec, e);
    free(spki);
    if (rc == 0 && cert_journal_write(cw->journal, &rec) < 0)
        rc = code_failure(e, CERTWRITE_INTERNAL);
    issued_all_clear(all);
    if (rc < 0)
        return -1;
    if (write_step(cw, cw->ca, &rec, e) < 0) {
        settle_failed_card_step(cw, &rec, e);
        return -1;
    }
    /* The first half is written: a failure now keeps the record, for the recovery. */
    if (write_partners(cw, cw->ca, &rec, false, e) < 0)
        return -1;
    confirm_written(cw, cw->ca, &rec, out);
    return 0;
}

/*
 * An SKF key: the new key pair replaces the container's in place and signs
 * its request, under one PIN check; the container's key and certificate
 * disagree from then until the import, a window the record (from `signed`
 * on, with the request, then the certificate) lets the next carry-out close.
 */
static int carry_out_new_by_pin(struct certwrite *cw, const struct token_snapshot *s,
                                const struct ca_action *a, const char *pin, unsigned flags,
                                struct certwrite_outcome *out, struct certwrite_error *e)
{
    SCOPED_RECORD rec = { 0 };
    const struct token_cert *current = action_cert(s, a);
    uint8_t *subject = NULL;
    size_t subject_len = 0;
    int tries = -1;
    bool key_replaced = true;
    token_err err;

    record_start(&rec, cw, s->id, a, CERT_STEP_GENERATING);
    if (cert_journal_write(cw->journal, &rec) < 0)
        return code_failure(e, CERTWRITE_INTERNAL);
    if (current)
        subject = subject_of_cert(current->der, current->der_len, &subject_len);
    err = token_service_new_key_csr(cw->svc, s->id, a->cert_id, pin, flags, a->key_alg, subject,
                                    subject_len, &rec.staged_spki, &rec.staged_spki_len,
                                    &rec.csr, &rec.csr_len, &tries, &key_replaced);
    free(subject);
    if (err != TOKEN_OK) {
        /* The token layer says whether the container may hold a new key
         * now; if so the record at `generating` names it until the user's
         * next carry-out replaces key and request. */
        if (!key_replaced)
            drop_record(cw, &rec);
        else
            log_msg(LOG_WARNING, TOKEN_FIELDS(s->id), "certificate: the new key of action %s "
                    "may be in the container without its certificate (%s); the record "
                    "stays", a->number, token_err_name(err));
        return token_failure(e, err, tries);
    }
    crash_point(cw, CERT_STEP_GENERATING, s->id);
    rec.step = CERT_STEP_SIGNED;
    if (cert_journal_write(cw->journal, &rec) < 0)
        return code_failure(e, CERTWRITE_INTERNAL);
    crash_point(cw, CERT_STEP_SIGNED, s->id);
    return issue_and_install(cw, cw->ca, &rec, out, e);
}

static int carry_out_new(struct certwrite *cw, const struct token_snapshot *s,
                         const struct ca_action *a, const char *pin, unsigned flags,
                         struct certwrite_outcome *out, struct certwrite_error *e)
{
    SCOPED_RECORD rec = { 0 };
    struct relay_ctx relay = { .ca = cw->ca };
    struct token_mgmt_relay r = relay_of(&relay, a);
    const struct token_cert *current = cert_in_slot(s, a->slot);
    uint8_t *subject = NULL;
    size_t subject_len = 0;
    int tries = -1;
    token_err err;

    record_start(&rec, cw, s->id, a, CERT_STEP_GENERATING);
    if (cert_journal_write(cw->journal, &rec) < 0)
        return code_failure(e, CERTWRITE_INTERNAL);
    err = token_service_generate_key(cw->svc, s->id, TOKEN_STAGING_SLOT, a->key_alg, &r,
                                     &rec.staged_spki, &rec.staged_spki_len);
    if (err != TOKEN_OK) {
        /* Only the staging slot may have changed: nothing to finish. */
        drop_record(cw, &rec);
        return card_step_failure(e, err, -1, &relay);
    }
    crash_point(cw, CERT_STEP_GENERATING, s->id);
    if (current)
        subject = subject_of_cert(current->der, current->der_len, &subject_len);
    err = token_service_sign_csr(cw->svc, s->id, TOKEN_STAGING_SLOT, pin, flags, rec.staged_spki,
                                 rec.staged_spki_len, subject, subject_len, &rec.csr,
                                 &rec.csr_len, &tries);
    free(subject);
    if (err != TOKEN_OK) {
        drop_record(cw, &rec);
        return token_failure(e, err, tries);
    }
    rec.step = CERT_STEP_SIGNED;
    if (cert_journal_write(cw->journal, &rec) < 0)
        return code_failure(e, CERTWRITE_INTERNAL);
    crash_point(cw, CERT_STEP_SIGNED, s->id);
    return issue_and_install(cw, cw->ca, &rec, out, e);
}

/* --- recovery --------------------------------------------------------------------------- */

static bool token_present(struct certwrite *cw, const char *token_id)
{
    struct token_snapshot *s = NULL;

    if (token_service_get(cw->svc, token_id, &s) != TOKEN_OK)
        return false;
    token_snapshot_unref(s);
    return true;
}

static enum recovery_result result_of_card_error(const struct cert_record *rec,
                                                 const struct certwrite_error *e)
{
    if (e->kind == CERTWRITE_ERR_CA)
        return e->ca == CA_E_UNAVAILABLE ? RECOVERY_SERVICE_DOWN : RECOVERY_DONE;
    if (e->kind == CERTWRITE_ERR_TOKEN && token_gone(e->token))
        return RECOVERY_TOKEN_ABSENT;
    if (e->kind == CERTWRITE_ERR_PIN_MISSING) {
        log_msg(LOG_NOTICE, TOKEN_FIELDS(rec->token_id), "certificate: action %s waits at step "
                "%s for the user's PIN (an SKF key's write)", rec->action.number,
                cert_step_name(rec->step));
        return RECOVERY_DONE;
    }
    /* Refused for good, or a card that keeps failing: not retried on a timer
     * (each try costs a management-auth answer); the next insertion or a new
     * attempt by the user tries again. */
    log_msg(LOG_ERR, TOKEN_FIELDS(rec->token_id),
            "certificate: recovery of action %s stopped at step %s (%s)", rec->action.number,
            cert_step_name(rec->step),
            e->kind == CERTWRITE_ERR_TOKEN ? token_err_name(e->token)
                                           : certwrite_code_name(e->code));
    return RECOVERY_DONE;
}

/* The action's own certificate is in: the other half of a pair, then the CA told. */
static enum recovery_result finish_pair(struct certwrite *cw, const struct ca_client *c,
                                        struct cert_record *rec, struct certwrite_outcome *out,
                                        struct certwrite_error *e)
{
    if (write_partners(cw, c, rec, true, e) < 0)
        return result_of_card_error(rec, e);
    return confirm_written(cw, c, rec, out);
}

/* `e`: why a card step stopped, when one did. */
static enum recovery_result follow_plan(struct certwrite *cw, const struct ca_client *c,
                                        struct cert_record *rec, struct certwrite_outcome *out,
                                        struct certwrite_error *e)
{
    struct token_slot_state slot = { 0 }, staged = { 0 };
    enum cert_plan plan;
    token_err err = TOKEN_OK;

    if (rec->cert) {
        err = token_cert_state(cw, rec->token_id, rec->action.slot, rec->action.cert_id,
                               rec->cert, rec->cert_len, &slot);
        /* An SKF key has no staging slot: the new key is in the container or nowhere. */
        if (err == TOKEN_OK && rec->step == CERT_STEP_INSTALLING && !by_pin(&rec->action))
            err = token_service_slot_state(cw->svc, rec->token_id, TOKEN_STAGING_SLOT, rec->cert,
                                           rec->cert_len, &staged);
    }
    if (err != TOKEN_OK)
        return token_gone(err) ? RECOVERY_TOKEN_ABSENT : RECOVERY_FAILED;
    plan = certwrite_plan(rec, &slot, &staged);
    log_msg(LOG_NOTICE, TOKEN_FIELDS(rec->token_id), "certificate: recovering action %s from "
            "step %s: %s", rec->action.number, cert_step_name(rec->step), cert_plan_name(plan));
    switch (plan) {
    case CERT_PLAN_CONFIRM:
        return finish_pair(cw, c, rec, out, e);
    case CERT_PLAN_WRITE:
        if (write_step(cw, c, rec, e) < 0)
            return result_of_card_error(rec, e);
        return finish_pair(cw, c, rec, out, e);
    case CERT_PLAN_INSTALL:
        if (install_step(cw, c, rec, e) < 0)
            return result_of_card_error(rec, e);
        return finish_pair(cw, c, rec, out, e);
    case CERT_PLAN_ISSUE:
        if (issue_and_install(cw, c, rec, out, e) < 0)
            return result_of_card_error(rec, e);
        return RECOVERY_DONE;
    case CERT_PLAN_WAIT_FOR_USER:
        return RECOVERY_DONE;
    case CERT_PLAN_LOST:
        log_msg(LOG_ERR, TOKEN_FIELDS(rec->token_id),
                "certificate: the new key of action %s is on neither slot; record dropped, the "
                "action can be carried out again", rec->action.number);
        return drop_record(cw, rec);
    }
    return RECOVERY_FAILED;
}

/*
 * An SKF action the CA will no longer issue for (expired, or unknown to it):
 * its record is dropped only once the container's certificate is its key's
 * again (another action's import made it whole); until then it is the one
 * trace of a container whose key its certificate does not match.
 */
static enum recovery_result settle_abandoned_by_pin(struct certwrite *cw,
                                                    const struct cert_record *rec)
{
    struct token_slot_state now = { 0 };
    token_err err = token_cert_state(cw, rec->token_id, 0, rec->action.cert_id, NULL, 0, &now);

    if (err != TOKEN_OK)
        return token_gone(err) ? RECOVERY_TOKEN_ABSENT : RECOVERY_FAILED;
    if (now.cert_present && now.cert_matches_key) {
        log_msg(LOG_NOTICE, TOKEN_FIELDS(rec->token_id), "certificate: action %s is settled at "
                "the CA and %s holds a certificate for its key; record dropped",
                rec->action.number, rec->action.cert_id);
        return drop_record(cw, rec);
    }
    log_msg(LOG_ERR, TOKEN_FIELDS(rec->token_id), "certificate: action %s can no longer be "
            "issued, and %s's key may have no certificate; the record stays until a new request "
            "is carried out", rec->action.number, rec->action.cert_id);
    return RECOVERY_DONE;
}

/* What the CA says of the action decides whether there is anything left to do. */
static enum recovery_result recover_with(struct certwrite *cw, const struct ca_client *c,
                                         struct cert_record *rec, struct certwrite_outcome *out,
                                         struct certwrite_error *e)
{
    struct ca_action now;
    ca_err err = ca_cert_get(c, rec->action.id, &now, NULL);

    /* An SKF container whose key the action replaced keeps its record
     * whatever the CA says, until the container is whole again. */
    if ((err == CA_E_ACTION_UNKNOWN || (err == CA_OK && now.state == CA_ACTION_EXPIRED)) &&
        by_pin(&rec->action))
        return settle_abandoned_by_pin(cw, rec);
    /* `expired` was never issued: at most a key was staged, the slot is as it was. */
    if (err == CA_E_ACTION_UNKNOWN ||
        (err == CA_OK && (now.state == CA_ACTION_DONE || now.state == CA_ACTION_EXPIRED))) {
        log_msg(LOG_NOTICE, TOKEN_FIELDS(rec->token_id),
                "certificate: action %s is settled at the CA (%s); record dropped",
                rec->action.number, err == CA_OK ? ca_action_state_name(now.state) : "unknown");
        if (err == CA_OK && now.state == CA_ACTION_DONE && rec->step >= CERT_STEP_WRITING)
            fill_outcome(rec, true, out);
        return drop_record(cw, rec);
    }
    if (err != CA_OK)
        return RECOVERY_SERVICE_DOWN;
    if (rec->step == CERT_STEP_CONFIRMING) {
        enum recovery_result r = deliver_confirmation(cw, c, rec);

        fill_outcome(rec, r == RECOVERY_DONE, out);
        return r;
    }
    return follow_plan(cw, c, rec, out, e);
}

static enum recovery_result recover_record(struct certwrite *cw, struct cert_record *rec,
                                           struct certwrite_outcome *out,
                                           struct certwrite_error *e)
{
    struct ca_client_config cfg = cw->ca_cfg;
    struct ca_client *own = NULL;
    const struct ca_client *c = cw->ca;
    enum recovery_result r;

    if (rec->step != CERT_STEP_CONFIRMING && !token_present(cw, rec->token_id))
        return RECOVERY_TOKEN_ABSENT;
    /* The action lives at the service that approved it, even after a change of configuration. */
    if (strcmp(rec->ca_url, ca_client_base_url(cw->ca)) != 0) {
        cfg.base_url = rec->ca_url;
        if (ca_client_new(&cfg, &own) != CA_OK) {
            log_msg(LOG_ERR, TOKEN_FIELDS(rec->token_id),
                    "certificate: a journal record names a service URL this ukeyd refuses; "
                    "left alone");
            return RECOVERY_FAILED;
        }
        c = own;
    }
    r = recover_with(cw, c, rec, out, e);
    ca_client_free(own);
    return r;
}

/* Recovers the records of `token_id` (all when NULL); `number`'s outcome
 * into `out`, or why its card step stopped into `number_e`. */
static enum recovery_result recover_locked(struct certwrite *cw, const char *token_id,
                                           const char *number, struct certwrite_outcome *out,
                                           bool *number_settled, struct certwrite_error *number_e)
{
    struct cert_record *recs = NULL;
    enum recovery_result worst = RECOVERY_DONE;
    size_t n = 0;

    if (cert_journal_list(cw->journal, &recs, &n) < 0)
        return RECOVERY_FAILED;
    for (size_t i = 0; i < n; i++) {
        bool mine = number && strcmp(recs[i].action.number, number) == 0;
        struct certwrite_outcome o = { 0 };
        struct certwrite_error e = { .kind = CERTWRITE_ERR_CODE,
                                     .code = CERTWRITE_TOKEN_WRITE_FAILED, .tries_left = -1 };
        enum recovery_result r;

        if (token_id && strcmp(recs[i].token_id, token_id) != 0)
            continue;
        r = recover_record(cw, &recs[i], &o, &e);
        if (mine && o.serial[0]) {
            *out = o;
            *number_settled = true;
        } else if (mine) {
            *number_e = e;
        }
        if (r > worst)
            worst = r;
    }
    cert_records_free(recs, n);
    return worst;
}

enum recovery_result certwrite_recover(struct certwrite *cw, const char *token_id)
{
    enum recovery_result r;
    struct certwrite_outcome ignored;
    struct certwrite_error ignored_e;
    bool settled = false;

    if (!cw)
        return RECOVERY_DONE;
    pthread_mutex_lock(&cw->lock);
    r = recover_locked(cw, token_id, NULL, &ignored, &settled, &ignored_e);
    pthread_mutex_unlock(&cw->lock);
    return r;
}

enum recovery_result certwrite_recover_all(void *cw)
{
    return certwrite_recover(cw, NULL);
}

/* --- the token's actions ----------------------------------------------------------------- */

static struct ca_presented_cert *presented_of(const struct token_snapshot *s, size_t *n)
{
    struct ca_presented_cert *list = calloc(s->n_certs ? s->n_certs : 1, sizeof *list);

    *n = 0;
    for (size_t i = 0; list && i < s->n_certs; i++) {
        const struct cert_summary *sum = s->certs[i].summary;

        if (!sum || !sum->serial_hex)
            continue;
        list[(*n)++] = (struct ca_presented_cert){ .slot = s->certs[i].slot_name,
                                                   .serial = sum->serial_hex,
                                                   .issuer = sum->issuer.display };
    }
    return list;
}

static int query_actions(struct certwrite *cw, const struct token_snapshot *s,
                         struct ca_action **actions, size_t *n, struct certwrite_error *e)
{
    size_t n_certs = 0;
    struct ca_presented_cert *certs = presented_of(s, &n_certs);
    struct ca_refusal why;
    ca_err err;

    if (!certs)
        return code_failure(e, CERTWRITE_INTERNAL);
    err = ca_cert_query(cw->ca, s->id, certs, n_certs, actions, n, &why);
    free(certs);
    if (err == CA_E_TOKEN_UNKNOWN) {
        /* A token the CA has no record of has no actions. */
        *actions = NULL;
        *n = 0;
        return 0;
    }
    return err == CA_OK ? 0 : ca_failure(e, err, &why);
}

static const struct cert_record *record_of(const struct cert_record *recs, size_t n,
                                           const char *action_id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(recs[i].action.id, action_id) == 0)
            return &recs[i];
    return NULL;
}

static void describe_item(const struct ca_action *a, const struct cert_record *rec,
                          struct certwrite_item *item)
{
    *item = (struct certwrite_item){ .action = *a, .interrupted = rec != NULL };
    item->needs_pin = by_pin(a) ||
                      (a->key_policy == CA_KEY_NEW && !(rec && rec->step >= CERT_STEP_SIGNED));
    snprintf(item->expected_serial, sizeof item->expected_serial, "%s",
             rec && cert_record_slot_has_new(rec) ? rec->serial : a->old_serial);
    if (rec)
        item->step = rec->step;
    /* Not the capability: what leaves this module never needs it. */
    OPENSSL_cleanse(item->action.id, sizeof item->action.id);
}

int certwrite_list(struct certwrite *cw, const struct token_snapshot *s,
                   struct certwrite_item **items, size_t *n, struct certwrite_error *e)
{
    struct ca_action *actions = NULL;
    struct cert_record *recs = NULL;
    size_t n_actions = 0, n_recs = 0;

    *items = NULL;
    *n = 0;
    if (query_actions(cw, s, &actions, &n_actions, e) < 0)
        return -1;
    if (cert_journal_list(cw->journal, &recs, &n_recs) < 0)
        n_recs = 0;
    *items = calloc(n_actions ? n_actions : 1, sizeof **items);
    if (*items) {
        for (size_t i = 0; i < n_actions; i++)
            describe_item(&actions[i], record_of(recs, n_recs, actions[i].id), &(*items)[i]);
        *n = n_actions;
    }
    cert_records_free(recs, n_recs);
    OPENSSL_cleanse(actions, n_actions * sizeof *actions);
    free(actions);
    return *items ? 0 : code_failure(e, CERTWRITE_INTERNAL);
}

static int find_action(struct certwrite *cw, const struct token_snapshot *s, const char *number,
                       struct ca_action *out, struct certwrite_error *e)
{
    struct ca_action *actions = NULL;
    size_t n = 0;
    bool found = false;

    if (query_actions(cw, s, &actions, &n, e) < 0)
        return -1;
    for (size_t i = 0; i < n && !found; i++) {
        if (strcmp(actions[i].number, number) == 0) {
            *out = actions[i];
            found = true;
        }
    }
    OPENSSL_cleanse(actions, n * sizeof *actions);
    free(actions);
    return found ? 0 : code_failure(e, CERTWRITE_ACTION_NOT_FOUND);
}

/* Whether the journal still says the slot should hold `number`'s new
 * certificate, or (SKF) names a container key its request was signed by. */
static bool slot_promised(struct certwrite *cw, const char *number)
{
    struct cert_record *recs = NULL;
    size_t n = 0;
    bool promised = false;

    if (cert_journal_list(cw->journal, &recs, &n) < 0)
        return true;                     /* cannot tell: do not risk overwriting it */
    for (size_t i = 0; i < n && !promised; i++)
        promised = strcmp(recs[i].action.number, number) == 0 &&
                   (cert_record_slot_has_new(&recs[i]) || container_key_replaced(&recs[i]));
    cert_records_free(recs, n);
    return promised;
}

/* An interruption of this token first; 1 when that settled `number` itself. */
static int recover_first(struct certwrite *cw, const char *token_id, const char *number,
                         struct certwrite_outcome *out, struct certwrite_error *e)
{
    struct certwrite_error mine = { .kind = CERTWRITE_ERR_CODE,
                                    .code = CERTWRITE_TOKEN_WRITE_FAILED, .tries_left = -1 };
    bool settled = false;

    switch (recover_locked(cw, token_id, number, out, &settled, &mine)) {
    case RECOVERY_DONE:
        if (settled)
            return 1;
        /* A record that holds the certificate the slot should have (a write
         * that failed for good), or the request of an SKF container's new
         * key, is never replaced by a fresh start: that would forget which
         * certificate belongs to a key already moved in, or replace the
         * key again for a certificate that could not be written. */
        if (slot_promised(cw, number)) {
            *e = mine;
            return -1;
        }
        return 0;
    case RECOVERY_TOKEN_ABSENT:
        return token_failure(e, TOKEN_E_TOKEN_REMOVED, -1);
    case RECOVERY_SERVICE_DOWN:
        return settled ? 1 : ca_failure(e, CA_E_UNAVAILABLE, NULL);
    case RECOVERY_FAILED:
        break;
    }
    return settled ? 1 : code_failure(e, CERTWRITE_INTERNAL);
}

static int carry_out_locked(struct certwrite *cw, const struct token_snapshot *s,
                            const char *number, const char *pin, unsigned flags,
                            struct certwrite_outcome *out, struct certwrite_error *e)
{
    struct ca_action a;
    int rc = recover_first(cw, s->id, number, out, e);

    if (rc != 0)
        return rc > 0 ? 0 : -1;
    if (!cw->roots)
        return code_failure(e, CERTWRITE_ROOTS_NOT_CONFIGURED);
    if (find_action(cw, s, number, &a, e) < 0)
        return -1;
    log_msg(LOG_NOTICE, TOKEN_FIELDS(s->id), "certificate: carrying out action %s (%s, %s key)",
            a.number, ca_action_kind_name(a.kind), ca_key_policy_name(a.key_policy));
    if (a.key_policy == CA_KEY_KEEP && !by_pin(&a))
        rc = carry_out_keep(cw, s, &a, out, e);
    else if (!pin)
        rc = -1, *e = (struct certwrite_error){ .kind = CERTWRITE_ERR_PIN_MISSING };
    else if (a.key_policy == CA_KEY_KEEP)
        rc = carry_out_keep(cw, s, &a, out, e);
    else if (by_pin(&a))
        rc = carry_out_new_by_pin(cw, s, &a, pin, flags, out, e);
    else
        rc = carry_out_new(cw, s, &a, pin, flags, out, e);
    OPENSSL_cleanse(&a, sizeof a);
    return rc;
}

int certwrite_carry_out(struct certwrite *cw, const struct token_snapshot *s, const char *number,
                        const char *pin, unsigned flags, struct certwrite_outcome *out,
                        struct certwrite_error *e)
{
    int rc;

    *out = (struct certwrite_outcome){ 0 };
    *e = (struct certwrite_error){ .tries_left = -1 };
    pthread_mutex_lock(&cw->lock);
    cw->pin = pin;
    cw->pin_flags = flags;
    rc = carry_out_locked(cw, s, number, pin, flags, out, e);
    cw->pin = NULL;
    cw->pin_flags = 0;
    pthread_mutex_unlock(&cw->lock);
    return rc;
}

/* --- set-up ------------------------------------------------------------------------------ */

/* The roots, or NULL (logged): certificate writes then answer CERT_ROOTS_NOT_CONFIGURED. */
static X509_STORE *load_roots(const char *path)
{
    X509_STORE *store;
    int n;

    if (!path) {
        log_msg(LOG_WARNING, NULL, "certificate writes off: no ca-roots configured");
        return NULL;
    }
    store = X509_STORE_new();
    if (!store || !X509_STORE_load_file(store, path) ||
        (n = sk_X509_OBJECT_num(X509_STORE_get0_objects(store))) <= 0) {
        log_msg(LOG_ERR, NULL, "certificate writes off: ca-roots %s holds no readable "
                "certificate", path);
        X509_STORE_free(store);
        ERR_clear_error();
        return NULL;
    }
    log_msg(LOG_INFO, NULL, "certificate writes: %d root%s from %s", n, n == 1 ? "" : "s", path);
    return store;
}

int certwrite_new(const struct certwrite_config *cfg, struct certwrite **out)
{
    struct certwrite *cw = calloc(1, sizeof *cw);
    char why[256];

    *out = NULL;
    if (!cw || (cfg->crash_after && !(cw->crash_after = strdup(cfg->crash_after)))) {
        free(cw);
        return -1;
    }
    if (cert_journal_open(cfg->state_directory, &cw->journal, why, sizeof why) < 0) {
        log_msg(LOG_ERR, NULL, "certificate writes off: state directory: %s", why);
        free(cw->crash_after);
        free(cw);
        return 0;
    }
    cw->svc = cfg->svc;
    cw->ca = cfg->ca;
    cw->ca_cfg = cfg->ca_cfg;
    cw->roots = load_roots(cfg->ca_roots);
    pthread_mutex_init(&cw->lock, NULL);
    *out = cw;
    return 0;
}

void certwrite_free(struct certwrite *cw)
{
    if (!cw)
        return;
    cert_journal_close(cw->journal);
    X509_STORE_free(cw->roots);
    free(cw->crash_after);
    pthread_mutex_destroy(&cw->lock);
    free(cw);
}

bool certwrite_roots_ready(const struct certwrite *cw)
{
    return cw && cw->roots;
}
