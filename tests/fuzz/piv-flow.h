/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/piv-flow.h — what the token service asks of the PIV driver for a
 * new token, then every PIN and PUK operation, with checks that what the
 * driver reports is consistent (an identity has an id and a model, a wrong
 * PIN leaves tries, a blocked PIN none). fuzz-piv runs it over replayed card
 * answers; make-piv-seeds runs it against the virtual token and records the
 * answers as seeds, so the seeds follow the flow exactly.
 */
#ifndef UKEYD_TESTS_FUZZ_PIV_FLOW_H
#define UKEYD_TESTS_FUZZ_PIV_FLOW_H

#include <time.h>

#include "tests/fuzz/fuzz.h"
#include "token/cert.h"
#include "token/edge.h"
#include "token/token.h"

/* A fixed "now", so that a crash replays exactly. */
#define FUZZ_NOW          ((time_t)1795000000)
#define RETRIES_MAX       15
/* The demo tokens' PIN and PUK (docs/virtual-token.md), and new ones. */
#define PIN               "123456"
#define NEW_PIN           "654321"
#define PUK               "12345678"
#define NEW_PUK           "87654321"

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

static void piv_flow(const struct apdu_transport *t, const uint8_t *atr, size_t atr_len)
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
}

#endif
