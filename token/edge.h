/* SPDX-License-Identifier: MIT */
/*
 * token/edge.h — the card-edge driver interface. A driver speaks one card
 * application (PIV today; OpenPGP card or a vendor's edge can sit beside it)
 * over an APDU transport. The service picks the first driver whose select()
 * succeeds and never sends an APDU itself.
 *
 * Every operation runs inside a PC/SC transaction the caller holds, after
 * select(). Secrets passed in are wiped from the driver's own buffers.
 */
#ifndef UKEYD_TOKEN_EDGE_H
#define UKEYD_TOKEN_EDGE_H

#include <stddef.h>
#include <stdint.h>

#include "token/apdu.h"
#include "token/token.h"

struct edge_identity {
    char *id;        /* stable across insertions and readers */
    char *model;
    char *serial;    /* NULL when the card has none */
    char *version;   /* NULL when unknown */
};

struct edge_pin_policy {
    size_t min_len, max_len;
    const char *charset;     /* "digits" or "ascii" (printable) */
};

struct card_edge {
    const char *name;
    struct edge_pin_policy pin_policy;
    struct edge_pin_policy puk_policy;

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
    /* Drops the verified state so no other process inherits it. */
    token_err (*logout)(const struct apdu_transport *t);
};

extern const struct card_edge piv_edge;

/* The drivers, most specific first, NULL-terminated. */
extern const struct card_edge *const card_edges[];

/* TOKEN_OK when `pin` fits the policy, else TOKEN_E_PIN_POLICY. */
token_err edge_check_pin_policy(const struct edge_pin_policy *p, const char *pin);

void edge_identity_clear(struct edge_identity *id);
void token_certs_free(struct token_cert *certs, size_t n);

#endif
