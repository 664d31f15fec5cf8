/* SPDX-License-Identifier: MIT */
/*
 * token/pcsc/keyslot.c — the token service's operations on key slots (token.h,
 * "certificate writes"): key metadata, key generation, PKCS#10 requests the
 * card signs, certificate writes checked against the slot's key and read
 * back, and the swap of a staged key into its slot. Each runs in one
 * transaction like the PIN operations (provider_internal.h); work that
 * authenticated with the management key ends with the security status
 * reset, and a changed certificate object is read into the cache again.
 */
#include <stdlib.h>
#include <string.h>

#include "token/csr.h"
#include "token/pcsc/edge.h"
#include "token/pcsc/provider_internal.h"
#include "token/spki.h"
#include "token/token.h"

/*
 * One write or key read on a token: the work runs in one transaction after
 * the token is re-identified; work that authenticated with the management
 * key ends with the card's security status reset. Reads (key metadata, slot
 * state) leave other programs' verified state alone, as the PIN reads do.
 */
struct key_op;
typedef token_err (*key_op_fn)(struct card_session *cs, struct key_op *op);

struct key_op {
    const char *id;
    key_op_fn run;
    /* inputs */
    uint8_t slot, staged_slot;
    enum token_key_alg alg;
    const struct token_mgmt_relay *relay;
    const uint8_t *der;             /* certificate */
    size_t der_len;
    uint8_t *der_key;               /* its SubjectPublicKeyInfo (owned) */
    size_t der_key_len;
    /* outputs */
    uint8_t *spki;
    size_t spki_len;
    struct token_slot_state *state;
    bool authenticated;             /* the security status needs a reset */
    bool certs_changed;             /* a certificate object was written */
};

static bool edge_writes(const struct card_edge *e)
{
    return e->mgmt_auth && e->key_public && e->generate && e->sign && e->read_cert &&
           e->write_cert && e->move_key && e->retire_key;
}

/*
 * The logout resets the PIN; per SP 800-73-4 a VERIFY reset (P1 FF) speaks
 * of that one key reference only, so the management key's authentication
 * is ended by selecting the application again, as a YubiKey does on SELECT.
 */
static token_err drop_authority(struct card_session *cs)
{
    token_err err = cs->edge->logout(cs->t);

    return err ? err : cs->edge->select(cs->t);
}

static token_err key_op_work(struct card_session *cs, void *arg)
{
    struct key_op *op = arg;
    token_err err = service_same_token(cs, op->id);

    if (!err)
        err = op->run(cs, op);
    if (err == TOKEN_E_TOKEN_REMOVED || err == TOKEN_E_PCSC_UNAVAILABLE)
        return err;
    if (op->authenticated && drop_authority(cs) != TOKEN_OK)
        cs->needs_reset = true;   /* the management key's authority must not outlive us */
    return err;
}

static token_err token_key_operation(struct token_service *svc, struct key_op *op)
{
    char *reader = NULL;
    token_err err = service_token_job(svc, op->id, edge_writes, key_op_work, op, &reader);

    if (op->certs_changed && reader)
        service_certs_changed(svc, reader, op->id);
    free(reader);
    return err;
}

/* An operation whose result is a public key, handed to the caller only on success. */
static token_err key_operation_spki(struct token_service *svc, struct key_op *op,
                                    uint8_t **spki, size_t *spki_len)
{
    token_err err = token_key_operation(svc, op);

    if (err) {
        free(op->spki);
        return err;
    }
    *spki = op->spki;
    *spki_len = op->spki_len;
    return TOKEN_OK;
}

static token_err mgmt_auth(struct card_session *cs, struct key_op *op)
{
    op->authenticated = true;
    return cs->edge->mgmt_auth(cs->t, op->relay);
}

/* TOKEN_OK when `spki` (or, when NULL, nothing) is the key of the certificate being written. */
static token_err same_key_as_cert(const struct key_op *op, const uint8_t *spki, size_t spki_len)
{
    bool equal = false;
    token_err err = spki_equal(spki, spki_len, op->der_key, op->der_key_len, &equal);

    if (err == TOKEN_E_MALFORMED)
        return TOKEN_E_KEY_MISMATCH;   /* what the card says is no key we can compare */
    return err ? err : equal ? TOKEN_OK : TOKEN_E_KEY_MISMATCH;
}

/* Without key metadata, a certificate already in the slot names the key. */
static token_err check_key_by_old_cert(struct card_session *cs, const struct key_op *op)
{
    uint8_t *old = NULL, *key = NULL;
    size_t old_len = 0, key_len = 0;
    token_err err = cs->edge->read_cert(cs->t, op->slot, &old, &old_len);

    if (err == TOKEN_E_NO_OBJECT || err == TOKEN_E_MALFORMED)
        return TOKEN_OK;   /* the card cannot tell: the chain check above us has to do */
    if (!err && cert_public_key(old, old_len, &key, &key_len) == TOKEN_OK)
        err = same_key_as_cert(op, key, key_len);
    free(old);
    free(key);
    return err;
}

/* The new certificate's key must be the key in op->slot, as far as the card can tell. */
static token_err check_slot_key(struct card_session *cs, const struct key_op *op)
{
    uint8_t *key = NULL;
    size_t key_len = 0;
    token_err err = cs->edge->key_public(cs->t, op->slot, &key, &key_len);

    if (err == TOKEN_E_NOT_SUPPORTED)
        return check_key_by_old_cert(cs, op);
    if (err == TOKEN_E_NO_OBJECT)
        return TOKEN_E_KEY_MISMATCH;   /* no key there to certify */
    if (!err)
        err = same_key_as_cert(op, key, key_len);
    free(key);
    return err;
}

/* Writes the certificate and reads it back, byte for byte. */
static token_err write_and_read_back(struct card_session *cs, struct key_op *op)
{
    uint8_t *back = NULL;
    size_t back_len = 0;
    token_err err = cs->edge->write_cert(cs->t, op->slot, op->der, op->der_len);

    if (err)
        return err;
    op->certs_changed = true;
    err = cs->edge->read_cert(cs->t, op->slot, &back, &back_len);
    if (err == TOKEN_E_NO_OBJECT || err == TOKEN_E_MALFORMED ||
        (!err && (back_len != op->der_len || memcmp(back, op->der, back_len) != 0)))
        err = TOKEN_E_WRITE_FAILED;
    free(back);
    return err;
}

static token_err run_slot_public_key(struct card_session *cs, struct key_op *op)
{
    return cs->edge->key_public(cs->t, op->slot, &op->spki, &op->spki_len);
}

static token_err run_generate(struct card_session *cs, struct key_op *op)
{
    token_err err = mgmt_auth(cs, op);

    return err ? err : cs->edge->generate(cs->t, op->slot, op->alg, &op->spki, &op->spki_len);
}

static token_err run_write_cert(struct card_session *cs, struct key_op *op)
{
    token_err err = check_slot_key(cs, op);

    if (!err)
        err = mgmt_auth(cs, op);
    return err ? err : write_and_read_back(cs, op);
}

/* Retires the slot's old key where the card edge keeps them, then the swap. */
static token_err move_staged_key(struct card_session *cs, struct key_op *op)
{
    uint8_t retired = 0;
    token_err err = cs->edge->retire_key(cs->t, op->slot, &retired);

    if (retired)
        op->certs_changed = true;
    return err ? err : cs->edge->move_key(cs->t, op->staged_slot, op->slot);
}

/*
 * An empty staging slot with the certificate's key already in the slot is
 * an install cut off after the move: only the write is left to do.
 */
static token_err run_install_key(struct card_session *cs, struct key_op *op)
{
    uint8_t *staged = NULL;
    size_t staged_len = 0;
    bool resume = false;
    token_err err = cs->edge->key_public(cs->t, op->staged_slot, &staged, &staged_len);

    if (err == TOKEN_E_NO_OBJECT) {
        resume = true;
        err = check_slot_key(cs, op);
    } else if (!err)
        err = same_key_as_cert(op, staged, staged_len);
    free(staged);
    if (!err)
        err = mgmt_auth(cs, op);
    if (!err && !resume)
        err = move_staged_key(cs, op);
    return err ? err : write_and_read_back(cs, op);
}

static token_err key_state(struct card_session *cs, struct key_op *op, uint8_t **key,
                           size_t *key_len)
{
    struct token_slot_state *st = op->state;
    token_err err = cs->edge->key_public(cs->t, op->slot, key, key_len);

    if (err == TOKEN_E_NOT_SUPPORTED)
        return TOKEN_OK;
    st->key_known = err == TOKEN_OK || err == TOKEN_E_NO_OBJECT;
    st->has_key = err == TOKEN_OK;
    if (st->has_key && op->der_key)
        st->key_matches = same_key_as_cert(op, *key, *key_len) == TOKEN_OK;
    return err == TOKEN_E_NO_OBJECT ? TOKEN_OK : err;
}

static token_err run_slot_state(struct card_session *cs, struct key_op *op)
{
    struct token_slot_state *st = op->state;
    uint8_t *key = NULL, *cert = NULL;
    size_t key_len = 0, cert_len = 0;
    bool match = false;
    token_err err = key_state(cs, op, &key, &key_len);

    if (!err)
        err = cs->edge->read_cert(cs->t, op->slot, &cert, &cert_len);
    if (err == TOKEN_E_NO_OBJECT || err == TOKEN_E_MALFORMED)
        err = TOKEN_OK;   /* no certificate in the object */
    else if (!err) {
        st->cert_present = true;
        st->cert_is_given = op->der && cert_len == op->der_len &&
                            memcmp(cert, op->der, cert_len) == 0;
        st->cert_matches_key = st->has_key &&
                               cert_key_matches_spki(cert, cert_len, key, key_len, &match) ==
                                   TOKEN_OK && match;
    }
    free(key);
    free(cert);
    return err;
}

/* The certificate's key, before any card is touched: a broken certificate never gets written. */
static token_err take_cert(struct key_op *op, const uint8_t *der, size_t der_len)
{
    uint8_t *key = NULL;
    size_t key_len = 0;
    token_err err;

    if (!der || !der_len)
        return TOKEN_E_INVALID_ARG;
    err = cert_public_key(der, der_len, &key, &key_len);
    op->der = der;
    op->der_len = der_len;
    op->der_key = key;
    op->der_key_len = key_len;
    return err;
}

token_err token_service_slot_public_key(struct token_service *svc, const char *id, uint8_t slot,
                                        uint8_t **spki, size_t *spki_len)
{
    struct key_op op = {.id = id, .run = run_slot_public_key, .slot = slot};

    if (!svc || !id || !spki || !spki_len)
        return TOKEN_E_INVALID_ARG;
    return key_operation_spki(svc, &op, spki, spki_len);
}

token_err token_service_generate_key(struct token_service *svc, const char *id, uint8_t slot,
                                     enum token_key_alg alg, const struct token_mgmt_relay *relay,
                                     uint8_t **spki, size_t *spki_len)
{
    struct key_op op = {.id = id, .run = run_generate, .slot = slot, .alg = alg, .relay = relay};

    if (!svc || !id || !relay || !relay->respond || !spki || !spki_len ||
        !token_key_alg_name(alg))
        return TOKEN_E_INVALID_ARG;
    return key_operation_spki(svc, &op, spki, spki_len);
}

token_err token_service_write_cert(struct token_service *svc, const char *id, uint8_t slot,
                                   const uint8_t *der, size_t der_len,
                                   const struct token_mgmt_relay *relay)
{
    struct key_op op = {.id = id, .run = run_write_cert, .slot = slot, .relay = relay};
    token_err err;

    if (!svc || !id || !relay || !relay->respond)
        return TOKEN_E_INVALID_ARG;
    err = take_cert(&op, der, der_len);
    if (!err)
        err = token_key_operation(svc, &op);
    free(op.der_key);
    return err;
}

token_err token_service_install_key(struct token_service *svc, const char *id,
                                    uint8_t staged_slot, uint8_t slot, const uint8_t *der,
                                    size_t der_len, const struct token_mgmt_relay *relay)
{
    struct key_op op = {.id = id, .run = run_install_key, .slot = slot,
                        .staged_slot = staged_slot, .relay = relay};
    token_err err;

    if (!svc || !id || !relay || !relay->respond || staged_slot == slot)
        return TOKEN_E_INVALID_ARG;
    err = take_cert(&op, der, der_len);
    if (!err)
        err = token_key_operation(svc, &op);
    free(op.der_key);
    return err;
}

token_err token_service_slot_state(struct token_service *svc, const char *id, uint8_t slot,
                                   const uint8_t *der, size_t der_len,
                                   struct token_slot_state *out)
{
    struct key_op op = {.id = id, .run = run_slot_state, .slot = slot};
    token_err err = TOKEN_OK;

    if (!svc || !id || !out)
        return TOKEN_E_INVALID_ARG;
    memset(out, 0, sizeof(*out));
    op.state = out;
    if (der)
        err = take_cert(&op, der, der_len);
    if (!err)
        err = token_key_operation(svc, &op);
    free(op.der_key);
    if (err)
        memset(out, 0, sizeof(*out));
    return err;
}

/* Signing a request happens while the PIN is verified, inside the PIN operation. */
struct csr_work {
    const char *id;
    uint8_t slot;
    const uint8_t *spki, *subject;
    size_t spki_len, subject_len;
    struct card_session *cs;
    uint8_t *csr;
    size_t csr_len;
};

static token_err card_signs(void *userdata, enum token_key_alg alg, const uint8_t *in,
                            size_t in_len, uint8_t **sig, size_t *sig_len)
{
    struct csr_work *w = userdata;

    return w->cs->edge->sign(w->cs->t, w->slot, alg, in, in_len, sig, sig_len);
}

/* Run by the PC/SC provider inside the PIN operation: `session` is its card session. */
static token_err csr_work(void *session, void *arg)
{
    struct card_session *cs = session;
    struct csr_work *w = arg;

    if (!cs->edge->sign)
        return TOKEN_E_NOT_SUPPORTED;
    w->cs = cs;
    return csr_build(w->spki, w->spki_len, w->subject, w->subject_len, w->id, card_signs, w,
                     &w->csr, &w->csr_len);
}

token_err token_service_sign_csr(struct token_service *svc, const char *id, uint8_t slot,
                                 const char *pin, unsigned flags, const uint8_t *spki,
                                 size_t spki_len, const uint8_t *subject_der, size_t subject_len,
                                 uint8_t **csr, size_t *csr_len, int *tries_left)
{
    struct csr_work w = {id, slot, spki, subject_der, spki_len, subject_len, NULL, NULL, 0};
    enum token_key_alg alg;
    token_err err;

    if (tries_left)
        *tries_left = -1;
    if (!svc || !id || !pin || !csr || !csr_len)
        return TOKEN_E_INVALID_ARG;
    err = spki_key_alg(spki, spki_len, &alg);   /* no PIN for a key no request can be made for */
    if (!err)
        err = service_verify_pin_then(svc, id, pin, flags, csr_work, &w, tries_left);
    if (err) {
        free(w.csr);
        return err;
    }
    *csr = w.csr;
    *csr_len = w.csr_len;
    return TOKEN_OK;
}
