/* SPDX-License-Identifier: MIT */
/*
 * token/pcsc/edge.h — the card-edge driver interface. A driver speaks one card
 * application (PIV today; OpenPGP card or a vendor's edge can sit beside it)
 * over an APDU transport. The service picks the first driver whose select()
 * succeeds and never sends an APDU itself.
 *
 * Every operation runs inside a PC/SC transaction the caller holds, after
 * select(). Secrets passed in are wiped from the driver's own buffers.
 */
#ifndef UKEYD_TOKEN_PCSC_EDGE_H
#define UKEYD_TOKEN_PCSC_EDGE_H

#include <stddef.h>
#include <stdint.h>

#include "token/pcsc/apdu.h"
#include "token/provider.h"
#include "token/token.h"

struct edge_identity {
    char *id;        /* stable across insertions and readers */
    char *model;
    char *serial;    /* NULL when the card has none */
    char *version;   /* NULL when unknown */
};

struct card_edge {
    const char *name;
    struct token_secret_policy pin_policy;
    struct token_secret_policy puk_policy;

    /* TOKEN_E_CARD_UNSUPPORTED when the card does not have this application. */
    token_err (*select)(const struct apdu_transport *t);
    token_err (*identify)(const struct apdu_transport *t, const uint8_t *atr, size_t atr_len,
                          struct edge_identity *out);
    /* Every certificate on the card; an empty card is not an error. */
    token_err (*read_certs)(const struct apdu_transport *t, struct token_cert **certs, size_t *n);
    token_err (*pin_state)(const struct apdu_transport *t, int *tries_left, bool *blocked);
    token_err (*verify_pin)(const struct apdu_transport *t, const char *pin, int *tries_left);
    token_err (*change_pin)(const struct apdu_transport *t, const char *old_pin,
                            const char *new_pin, int *tries_left);
    token_err (*unblock_pin)(const struct apdu_transport *t, const char *puk,
                             const char *new_pin, int *puk_tries_left);
    token_err (*change_puk)(const struct apdu_transport *t, const char *old_puk,
                            const char *new_puk, int *puk_tries_left);
    /* The tries left of the unlock secret (PIV: the PUK), without spending
     * one. TOKEN_E_NOT_SUPPORTED when the card cannot tell. */
    token_err (*unlock_state)(const struct apdu_transport *t, int *tries_left, bool *blocked);
    /* Drops the verified PIN so no other process inherits it. The
     * management key's authentication ends with select() (SELECT). */
    token_err (*logout)(const struct apdu_transport *t);

    /*
     * Certificate writes (issue 9). `slot` is a key reference (PIV: 9A, 9C,
     * 9D, 9E, 82..95); TOKEN_E_INVALID_ARG for one the edge does not have.
     * Keys and certificates travel as SubjectPublicKeyInfo / certificate DER,
     * malloc()ed for the caller. Status words the cards give for these:
     * TOKEN_E_NOT_SUPPORTED (the command or algorithm is unknown to the
     * card), TOKEN_E_NO_SPACE (no room), TOKEN_E_NO_OBJECT (no key there).
     */
    /* Authenticates with the card management key; the answer to the card's
     * challenge comes from the relay. TOKEN_E_MGMT_AUTH_FAILED when the card
     * refuses it or the relay's algorithm, TOKEN_E_RELAY_FAILED when the
     * relay gave none. */
    token_err (*mgmt_auth)(const struct apdu_transport *t, const struct token_mgmt_relay *relay);
    /* The public key in `slot`, from the card's key metadata; costs no PIN. */
    token_err (*key_public)(const struct apdu_transport *t, uint8_t slot, uint8_t **spki,
                            size_t *spki_len);
    /* A new key pair in `slot` (needs mgmt_auth first). */
    token_err (*generate)(const struct apdu_transport *t, uint8_t slot, enum token_key_alg alg,
                          uint8_t **spki, size_t *spki_len);
    /*
     * Signs with the key in `slot` (needs the PIN verified). `in` is what
     * the key signs: for RSA a DER DigestInfo, which the edge pads (PKCS#1
     * v1.5); for EC the hash; for SM2 e = SM3(Z || M). The signature comes
     * as X.509 carries it: RSA the raw block, EC and SM2 a DER SEQUENCE{r,s}.
     * TOKEN_E_KEY_MISMATCH when the slot's key is not of `alg`.
     */
    token_err (*sign)(const struct apdu_transport *t, uint8_t slot, enum token_key_alg alg,
                      const uint8_t *in, size_t in_len, uint8_t **sig, size_t *sig_len);
    /* The certificate in `slot`'s object; TOKEN_E_NO_OBJECT when empty. */
    token_err (*read_cert)(const struct apdu_transport *t, uint8_t slot, uint8_t **der,
                           size_t *der_len);
    /* Replaces the object (needs mgmt_auth); `der` NULL empties it. */
    token_err (*write_cert)(const struct apdu_transport *t, uint8_t slot, const uint8_t *der,
                            size_t der_len);
    /* Moves the key of `from` into `to`, replacing what `to` held (needs mgmt_auth). */
    token_err (*move_key)(const struct apdu_transport *t, uint8_t from, uint8_t to);
    /*
     * For a slot whose old keys the card edge keeps (PIV: 9D, SP 800-73-4
     * 3.3.2), moves its key and certificate to the next free retired slot
     * and counts them in the key history (needs mgmt_auth); *retired_to is
     * that slot, 0 when nothing moved (another slot, or no key there). Picks
     * up a retirement an interruption left half done.
     */
    token_err (*retire_key)(const struct apdu_transport *t, uint8_t slot, uint8_t *retired_to);
};

extern const struct card_edge piv_edge;

/* The drivers, most specific first, NULL-terminated. */
extern const struct card_edge *const card_edges[];

/* TOKEN_OK when `pin` fits the policy, else TOKEN_E_PIN_POLICY. */
token_err edge_check_pin_policy(const struct token_secret_policy *p, const char *pin);

void edge_identity_clear(struct edge_identity *id);

#endif
