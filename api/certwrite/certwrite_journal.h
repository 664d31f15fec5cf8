/* SPDX-License-Identifier: MIT */
/*
 * api/certwrite/certwrite_journal.h — the durable journal of certificate writes in
 * progress (docs/cert-protocol.md, "The client's algorithm and its
 * journal"): one JSON record per action in STATE_DIRECTORY/cert/, written
 * with api/base/journal_dir.h and made durable before each card step.
 *
 * A record holds the step, the action as the CA described it and the public
 * material gathered so far — the staged key's SubjectPublicKeyInfo, the
 * signed CSR, the issued certificate — so that recovery never needs the PIN
 * once the CSR is signed. It never holds a PIN, and the actionId (a bearer
 * capability) is its file name: it is logged only by its first characters.
 *
 * certwrite_plan says, from a record's step and what the card holds now,
 * what a recovery does next; it is pure, so the rules are unit tested.
 */
#ifndef UKEYD_API_CERTWRITE_JOURNAL_H
#define UKEYD_API_CERTWRITE_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/ca/ca_cert.h"
#include "token/token.h"

#define CERT_JOURNAL_TOKEN_ID_MAX TOKEN_ID_MAX
#define CERT_JOURNAL_SUBDIR       "cert"

enum cert_step {
    CERT_STEP_GENERATING,    /* GENERATE in the staging slot is being (or was) sent */
    CERT_STEP_SIGNED,        /* the CSR is signed; issue may be asked without the PIN */
    CERT_STEP_WRITING,       /* keep: the checked certificate is being written to the slot */
    CERT_STEP_INSTALLING,    /* new: the staged key is moving in, the certificate being written */
    CERT_STEP_CONFIRMING,    /* the slot holds the certificate; the confirmation is being sent */
    CERT_STEP__COUNT
};

/* "generating", "signed", "writing", "installing", "confirming". */
const char *cert_step_name(enum cert_step step);

/* The other half of a pair: a certificate for the key already in its slot
 * (or an SKF key's container), written after the action's own
 * (docs/cert-protocol.md, "Certificate pairs"). */
#define CERT_PARTNERS_MAX (CA_ACTION_CERTS_MAX - 1)

struct cert_partner {
    uint8_t slot;                        /* a PIV slot; 0: cert_id names it */
    char cert_id[CA_CERT_ID_MAX + 1];    /* as the protocol spells it: "9d", "<container>.enc" */
    uint8_t *cert;
    size_t cert_len;
    char serial[CA_SERIAL_MAX + 1];
};

struct cert_record {
    enum cert_step step;
    char token_id[CERT_JOURNAL_TOKEN_ID_MAX + 1];
    char ca_url[CA_URL_MAX + 1];
    struct ca_action action;         /* subject and expiresAt are not kept */
    uint8_t *staged_spki;            /* new: from `signed` on */
    size_t staged_spki_len;
    uint8_t *csr;                    /* new: from `signed` on */
    size_t csr_len;
    uint8_t *cert;                   /* from `writing` / `installing` on */
    size_t cert_len;
    char serial[CA_SERIAL_MAX + 1];  /* the certificate's, with it */
    struct cert_partner partners[CERT_PARTNERS_MAX];   /* with the certificate, all checked */
    size_t n_partners;
};

/* Frees the buffers and zeroes the record. */
void cert_record_clear(struct cert_record *rec);
/* Whether the record says the slot should hold the new certificate now. */
bool cert_record_slot_has_new(const struct cert_record *rec);

struct cert_journal;

/* Opens (creating it 0700 when missing) STATE_DIR/cert. -1 with `why` filled. */
int cert_journal_open(const char *state_dir, struct cert_journal **out, char *why,
                      size_t why_size);
void cert_journal_close(struct cert_journal *j);

/* Replaces the record of rec->action.id, durably. 0, or -1 (logged). */
int cert_journal_write(struct cert_journal *j, const struct cert_record *rec);
/* Deletes the record of `action_id`, durably. 0 (also when there was none), or -1. */
int cert_journal_remove(struct cert_journal *j, const char *action_id);
/* Every readable record (unreadable ones are logged and left alone). Free
 * with cert_records_free. 0, or -1 when the directory cannot be read. */
int cert_journal_list(struct cert_journal *j, struct cert_record **out, size_t *n);
void cert_records_free(struct cert_record *recs, size_t n);

/* What a recovery does with a record, given the card now. */
enum cert_plan {
    CERT_PLAN_CONFIRM,       /* the slot holds the certificate: tell the CA */
    CERT_PLAN_WRITE,         /* write the certificate into the slot (its key is already there) */
    CERT_PLAN_INSTALL,       /* move the staged key in and write the certificate */
    CERT_PLAN_ISSUE,         /* ask the CA for the certificate of the recorded CSR, then install */
    CERT_PLAN_WAIT_FOR_USER, /* nothing changed on the slot; carrying it out again needs the PIN */
    CERT_PLAN_LOST,          /* the new key is nowhere: drop the record, the action stays open */
};

const char *cert_plan_name(enum cert_plan plan);

/* `slot` and `staged`: token_service_slot_state of the slot and of the
 * staging slot against the recorded certificate (ignored before it exists). */
enum cert_plan certwrite_plan(const struct cert_record *rec, const struct token_slot_state *slot,
                              const struct token_slot_state *staged);

#endif
