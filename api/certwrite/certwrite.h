/* SPDX-License-Identifier: MIT */
/*
 * api/certwrite/certwrite.h — certificate writes inside ukeyd: carrying out an action
 * the CA approved (docs/cert-protocol.md, "The client's algorithm and its
 * journal") — keep: issue, check, write, confirm; new: generate in the
 * staging slot, sign the CSR with the user's PIN, issue, check, install,
 * confirm — each card step journalled first, and the recovery of what an
 * interruption left.
 *
 * The wiring (api/app.c) builds one on the CA client the unlock uses, and
 * adds its recovery (certwrite_recover_all) to the one recovery worker
 * (api/base/recovery.h: start-up, token inserted, pcscd back). One lock
 * serialises every card-and-journal step of certificate writes.
 * An issued certificate is written only after its chain verified against
 * `ca-roots` and its public key proved to be the token's.
 */
#ifndef UKEYD_API_CERTWRITE_H
#define UKEYD_API_CERTWRITE_H

#include <stdbool.h>

#include "api/ca/ca_cert.h"
#include "api/certwrite/certwrite_journal.h"
#include "api/base/recovery.h"
#include "token/token.h"

/* Test hook steps (UKEYD_TEST_CRASH_AFTER, as the unlock's): "cert-" + step
 * name: ukeyd kills itself right after that step's card operation. */
#define CERTWRITE_CRASH_PREFIX "cert-"

struct certwrite;

struct certwrite_config {
    struct token_service *svc;
    const struct ca_client *ca;          /* the configured service; outlives this */
    struct ca_client_config ca_cfg;      /* to reach a service a record names */
    const char *state_directory;
    const char *ca_roots;                /* PEM file, or NULL */
    const char *crash_after;             /* the test hook's step, or NULL */
};

/* 0 with *out (NULL and logged when the state directory is unusable), -1 out of memory. */
int certwrite_new(const struct certwrite_config *cfg, struct certwrite **out);
void certwrite_free(struct certwrite *cw);
bool certwrite_roots_ready(const struct certwrite *cw);

/* Finishes the journal records of `token_id`, or of every token when NULL. */
enum recovery_result certwrite_recover(struct certwrite *cw, const char *token_id);
/* The recovery job (recovery_job_fn): every token's records; `cw` may be NULL. */
enum recovery_result certwrite_recover_all(void *cw);

/* Why a write stopped on ukeyd's side; mapped to the API once (api/v1/errmap.c). */
enum certwrite_code {
    CERTWRITE_INTERNAL,                  /* out of memory, a journal that cannot be written */
    CERTWRITE_CERT_INVALID,              /* the issued certificate failed its checks */
    CERTWRITE_TOKEN_WRITE_FAILED,        /* the card refused or lost a write step */
    CERTWRITE_ACTION_NOT_FOUND,          /* no open action of that number */
    CERTWRITE_ROOTS_NOT_CONFIGURED,      /* no ca-roots: nothing issued can be checked */
};
/* "TOKEN_WRITE_FAILED": the API code's name, for the log. */
const char *certwrite_code_name(enum certwrite_code code);

/* Why an operation stopped; exactly one of the parts applies. */
enum certwrite_error_kind {
    CERTWRITE_ERR_TOKEN,                 /* `token`, `tries_left` */
    CERTWRITE_ERR_CA,                    /* `ca`, `refusal` */
    CERTWRITE_ERR_CODE,                  /* `code` */
    CERTWRITE_ERR_PIN_MISSING,           /* the action makes a new key: the body needs "pin" */
};

struct certwrite_error {
    enum certwrite_error_kind kind;
    token_err token;
    int tries_left;
    ca_err ca;
    struct ca_refusal refusal;
    enum certwrite_code code;
};

/* One action as the portal sees it: the CA's, less its actionId. */
struct certwrite_item {
    struct ca_action action;
    bool needs_pin;
    bool interrupted;                    /* ukeyd holds a journal record for it */
    char expected_serial[CA_SERIAL_MAX + 1];  /* what the slot should hold per the record */
    enum cert_step step;                 /* when interrupted */
};

/* The token's open actions; free *items with free(). 0, or -1 with `e`. */
int certwrite_list(struct certwrite *cw, const struct token_snapshot *s,
                   struct certwrite_item **items, size_t *n, struct certwrite_error *e);

struct certwrite_outcome {
    enum ca_action_kind kind;
    uint8_t slot;
    char cert_id[CA_CERT_ID_MAX + 1];    /* the slot as the protocol spells it ("9a", an SKF id) */
    bool confirmed;                      /* false: written, the CA is told later */
    char serial[CA_SERIAL_MAX + 1];
    struct {                             /* the other half of a pair, written with it */
        uint8_t slot;
        char cert_id[CA_CERT_ID_MAX + 1];
        char serial[CA_SERIAL_MAX + 1];
    } partners[CERT_PARTNERS_MAX];
    size_t n_partners;
};

/*
 * Carries out action `number` on token `s`. `pin` may be NULL (needed for a
 * new key; `flags` as token_service_verify_pin's). 0 with `out`, or -1 with
 * `e`. An action an interruption left in the journal is finished first;
 * when that finishes it, the outcome is that one's.
 */
int certwrite_carry_out(struct certwrite *cw, const struct token_snapshot *s, const char *number,
                        const char *pin, unsigned flags, struct certwrite_outcome *out,
                        struct certwrite_error *e);

#endif
