/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/piv-flow.h — what the token service asks of the PIV driver for a
 * new token, then every PIN and PUK operation, then the key side of a
 * certificate write (each slot's public key from its metadata, management
 * key authentication, GENERATE of every algorithm in the staging slot, the
 * retirement of 9D's key through the key history), with checks that what the
 * driver reports is consistent (an identity has an id and a model, a wrong
 * PIN leaves tries, a blocked PIN none, a public key handed on is one
 * SubjectPublicKeyInfo, and a generated one of the algorithm asked for). fuzz-piv runs it over replayed card
 * answers; make-piv-seeds runs it against the virtual token and records the
 * answers as seeds, so the seeds follow the flow exactly.
 */
#ifndef UKEYD_TESTS_FUZZ_PIV_FLOW_H
#define UKEYD_TESTS_FUZZ_PIV_FLOW_H

#include <time.h>

#include "tests/fuzz/fuzz.h"
#include "token/cert.h"
#include "token/pcsc/edge.h"
#include "token/spki.h"
#include "token/token.h"

/* A fixed "now", so that a crash replays exactly. */
#define FUZZ_NOW          ((time_t)1795000000)
#define RETRIES_MAX       15
/* The demo tokens' PIN and PUK (docs/virtual-token.md), and new ones. */
#define PIN               "123456"
#define NEW_PIN           "654321"
#define PUK               "12345678"
#define NEW_PUK           "87654321"
#define SLOT_KEY_MGMT     0x9D
#define RETIRED_FIRST     0x82

static void check_identity(token_err err, const struct edge_identity *id)
{
    if (err != TOKEN_OK) {
        FUZZ_ASSERT(!id->id && !id->model && !id->serial && !id->version);
        return;
    }
    FUZZ_ASSERT(id->id && strncmp(id->id, "piv-", strlen("piv-")) == 0);
    FUZZ_ASSERT(id->model != NULL);
}

static void read_certs(const struct apdu_transport *t)
{
    struct token_cert *certs = NULL;
    size_t n = 0;

    if (piv_edge.read_certs(t, &certs, &n) != TOKEN_OK) {
        FUZZ_ASSERT(certs == NULL || n == 0);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        FUZZ_ASSERT(certs[i].der && certs[i].der_len > 0 && certs[i].slot_name);
        if (cert_summarize(certs[i].der, certs[i].der_len, FUZZ_NOW, &certs[i].summary))
            certs[i].summary = NULL;
    }
    token_certs_free(certs, n);
}

/* What a PIN or PUK command's answer may say about the counter. */
static void check_tries(token_err err, int tries, token_err incorrect, token_err blocked)
{
    if (err == incorrect)
        FUZZ_ASSERT(tries >= 1 && tries <= RETRIES_MAX);
    if (err == blocked)
        FUZZ_ASSERT(tries == 0);
    if (err == TOKEN_OK)
        FUZZ_ASSERT(tries == -1);
}

static void pin_operations(const struct apdu_transport *t)
{
    int tries = -1;
    bool blocked = false;
    token_err err;

    if (piv_edge.pin_state(t, &tries, &blocked) == TOKEN_OK)
        FUZZ_ASSERT(tries >= -1 && tries <= RETRIES_MAX && (!blocked || tries == 0));
    err = piv_edge.verify_pin(t, PIN, &tries);
    check_tries(err, tries, TOKEN_E_PIN_INCORRECT, TOKEN_E_PIN_BLOCKED);
    err = piv_edge.change_pin(t, PIN, NEW_PIN, &tries);
    check_tries(err, tries, TOKEN_E_PIN_INCORRECT, TOKEN_E_PIN_BLOCKED);
    err = piv_edge.unblock_pin(t, PUK, PIN, &tries);
    check_tries(err, tries, TOKEN_E_PUK_INCORRECT, TOKEN_E_PUK_BLOCKED);
    err = piv_edge.change_puk(t, PUK, NEW_PUK, &tries);
    check_tries(err, tries, TOKEN_E_PUK_INCORRECT, TOKEN_E_PUK_BLOCKED);
    piv_edge.logout(t);
}

/* A public key the driver built from a card answer (want: the algorithm
 * generated, -1 for any); freed here. */
static void check_spki(token_err err, uint8_t *spki, size_t spki_len, int want)
{
    enum token_key_alg alg;
    token_err kind;

    if (err != TOKEN_OK) {
        FUZZ_ASSERT(spki == NULL);
        return;
    }
    FUZZ_ASSERT(spki && spki_len > 0);
    kind = spki_key_alg(spki, spki_len, &alg);
    FUZZ_ASSERT(kind == TOKEN_OK || kind == TOKEN_E_NOT_SUPPORTED);   /* never malformed */
    if (want >= 0)
        FUZZ_ASSERT(kind == TOKEN_OK && (int)alg == want);
    free(spki);
}

static void key_operations(const struct apdu_transport *t, const struct token_mgmt_relay *relay)
{
    static const uint8_t slots[] = { 0x9A, 0x9C, 0x9D, 0x9E, TOKEN_STAGING_SLOT };
    uint8_t *spki, retired = 0xFF;
    size_t spki_len;
    token_err err;

    for (size_t i = 0; i < sizeof slots; i++) {
        spki = NULL;
        spki_len = 0;
        err = piv_edge.key_public(t, slots[i], &spki, &spki_len);
        check_spki(err, spki, spki_len, -1);
    }
    if (piv_edge.mgmt_auth(t, relay) != TOKEN_OK)
        return;
    for (int alg = 0; alg < TOKEN_KEY__COUNT; alg++) {
        spki = NULL;
        spki_len = 0;
        err = piv_edge.generate(t, TOKEN_STAGING_SLOT, (enum token_key_alg)alg, &spki, &spki_len);
        check_spki(err, spki, spki_len, alg);
    }
    err = piv_edge.retire_key(t, SLOT_KEY_MGMT, &retired);
    /* Only into a retired slot the key history counts, never the staging one. */
    FUZZ_ASSERT(retired == 0 || (err == TOKEN_OK && retired >= RETIRED_FIRST &&
                                 retired < TOKEN_STAGING_SLOT));
}

static void piv_flow(const struct apdu_transport *t, const uint8_t *atr, size_t atr_len,
                     const struct token_mgmt_relay *relay)
{
    struct edge_identity id;
    token_err err;

    if (piv_edge.select(t) != TOKEN_OK)
        return;
    err = piv_edge.identify(t, atr, atr_len, &id);
    check_identity(err, &id);
    edge_identity_clear(&id);
    read_certs(t);
    pin_operations(t);
    key_operations(t, relay);
}

#endif
