/* SPDX-License-Identifier: MIT */
/*
 * api/ca/ca_cert.h — ukeyd's client of a CA's certificate service (cert/v1,
 * docs/cert-protocol.md): query, get, management-auth, issue, confirm.
 *
 * The same client (api/ca/ca_client.h) and the same strictness as the unlock
 * calls: every member of an answer is checked before any of it is used, the
 * CA's problem codes map to ca_err in ca_client.c's one table, and anything
 * that is not a protocol answer is CA_E_UNAVAILABLE.
 *
 * An actionId is a bearer capability (it reaches the token's management
 * key): it is never logged beyond CA_ID_LOG_PREFIX characters and never
 * handed to a browser. Management-auth challenges and answers live in the
 * caller's buffers only and are wiped here after use.
 */
#ifndef UKEYD_API_CA_CERT_H
#define UKEYD_API_CA_CERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/ca/ca_client.h"
#include "token/token.h"

#define CA_ACTION_ID_PREFIX  "act-"
#define CA_ACTION_ID_HEX     32
#define CA_ACTION_ID_LEN     (sizeof CA_ACTION_ID_PREFIX - 1 + CA_ACTION_ID_HEX)
#define CA_NUMBER_PREFIX     'C'
#define CA_NUMBER_DIGITS     10
#define CA_NUMBER_LEN        (1 + CA_NUMBER_DIGITS)
#define CA_SERIAL_MAX        64          /* upper-case hex of a certificate serial */
#define CA_SUBJECT_MAX       512
/* An SKF key's certificate id as ukeyd shows it ("<container>.sign", with
 * "~xx" escapes: three bytes per byte of a 256-byte container name). */
#define CA_CERT_ID_MAX       (3 * 256 + 5)
#define CA_CERT_DER_MAX      8192        /* one certificate, DER */
#define CA_CSR_DER_MAX       4096
#define CA_CHAIN_MAX         4           /* intermediates an issue answer may carry */
#define CA_MGMT_BLOCK_MAX    16          /* AES; 3DES is 8 */
#define CA_ACTION_CERTS_MAX  2           /* a pair: the signing and the encryption certificate */

enum ca_action_kind {
    CA_KIND_CHANGE,
    CA_KIND_RENEWAL,
    CA_KIND_REINSTALL,
    CA_KIND_ISSUE,
    CA_KIND__COUNT
};

enum ca_action_state {
    CA_ACTION_APPROVED,
    CA_ACTION_ISSUED,
    CA_ACTION_DONE,
    CA_ACTION_EXPIRED,       /* approved, never issued, past expiresAt: nothing was written */
    CA_ACTION__COUNT
};

enum ca_key_policy {
    CA_KEY_KEEP,
    CA_KEY_NEW,
};

/* "change" …, "approved" …, "keep"/"new", as the protocol spells them. */
const char *ca_action_kind_name(enum ca_action_kind kind);
const char *ca_action_state_name(enum ca_action_state state);
const char *ca_key_policy_name(enum ca_key_policy policy);
/* "3DES", "AES-128", … for TOKEN_MGMT_ALG_*; NULL for others. */
const char *ca_mgmt_alg_name(uint8_t alg);
/* The reverse lookups (records read back from the journal); false for unknown names. */
bool ca_mgmt_alg_of_name(const char *name, uint8_t *alg);
bool ca_action_kind_of_name(const char *name, enum ca_action_kind *kind);

/* What a certificate of an action is for; a pair has one of each. */
enum ca_cert_role {
    CA_ROLE_SIGNING,
    CA_ROLE_ENCRYPTION,
};
/* "signing", "encryption". */
const char *ca_cert_role_name(enum ca_cert_role role);

/* One certificate an action re-issues: its slot, and the one there now. */
struct ca_action_cert {
    uint8_t slot;                        /* a PIV slot; 0: cert_id names it */
    char cert_id[CA_CERT_ID_MAX + 1];    /* as the protocol spells it: "9d", "<container>.enc" */
    enum ca_cert_role role;
    char old_serial[CA_SERIAL_MAX + 1];  /* "" when null */
};

/* One approved action, checked member by member. */
struct ca_action {
    char id[CA_ACTION_ID_LEN + 1];       /* the bearer capability */
    char number[CA_NUMBER_LEN + 1];      /* what a person sees: "C" + 10 digits */
    enum ca_action_kind kind;
    enum ca_action_state state;
    uint8_t slot;                        /* 0x9A, 0x9C, 0x9D or 0x9E; 0: cert_id names it */
    /* `slot` as the protocol spells it: "9a", or an SKF key's certificate id
     * ("<container>.sign" / ".enc", token.h), whose write the user's PIN
     * authorises (docs/cert-protocol.md, "SKF keys") */
    char cert_id[CA_CERT_ID_MAX + 1];
    enum ca_key_policy key_policy;
    enum token_key_alg key_alg;
    uint8_t mgmt_alg;                    /* TOKEN_MGMT_ALG_* */
    char subject[CA_SUBJECT_MAX + 1];    /* display text, UTF-8, no control characters */
    char old_serial[CA_SERIAL_MAX + 1];  /* "" when null */
    char expires_at[CA_TIME_MAX + 1];
    /* `certificates`: [0] is always `slot` and `oldSerial`; a pair adds the
     * other half, in another slot (an answer without the member has one). */
    struct ca_action_cert certs[CA_ACTION_CERTS_MAX];
    size_t n_certs;
};

/* A certificate on the token now, as query sends it. */
struct ca_presented_cert {
    const char *slot;                    /* "9a" */
    const char *serial;
    const char *issuer;
};

/* What issue answers: the certificate and the issuing CA's chain (DER). */
struct ca_issued {
    /* the slot or SKF certificate id it is for; "": the action's own (an
     * answer of before pairs) */
    char cert_id[CA_CERT_ID_MAX + 1];
    uint8_t *der;
    size_t der_len;
    uint8_t *chain[CA_CHAIN_MAX];
    size_t chain_len[CA_CHAIN_MAX];
    size_t n_chain;
};

void ca_issued_clear(struct ca_issued *is);

/* Whether `id` has the form of an actionId (safe in a path and a file name). */
bool ca_action_id_valid(const char *id);
/* Whether `number` has the form of a request number. */
bool ca_action_number_valid(const char *number);
/* The protocol's `slot` into `a` (slot and cert_id): a PIV slot, or an SKF
 * certificate id (URL-safe, ending ".sign" or ".enc"; slot 0); false otherwise. */
bool ca_action_set_slot(struct ca_action *a, const char *name);
/* Whether `name` is such an SKF certificate id. */
bool ca_cert_id_valid(const char *name);
/* A PIV slot into *slot, or an SKF certificate id (*slot 0); false for
 * anything else. */
bool ca_slot_or_cert_id(const char *name, uint8_t *slot);
/* The action's `slot` as the protocol spells it. */
const char *ca_action_slot(const struct ca_action *a);
/* "9a" → 0x9A for the four slots the protocol names; false otherwise. */
bool ca_slot_of_name(const char *name, uint8_t *slot);
/* 0x9A → "9a" for those slots; "" for any other. */
const char *ca_slot_name(uint8_t slot);

/*
 * The calls. On an error `why` (may be NULL) receives what the refusal said;
 * `out` values are only set on CA_OK.
 */
/* The token's approved and issued actions, oldest first (free with free()). */
ca_err ca_cert_query(const struct ca_client *c, const char *token_id,
                     const struct ca_presented_cert *certs, size_t n_certs,
                     struct ca_action **out, size_t *n_out, struct ca_refusal *why);
ca_err ca_cert_get(const struct ca_client *c, const char *action_id, struct ca_action *out,
                   struct ca_refusal *why);
/* `response` receives `len` bytes: the challenge encrypted under the token's key. */
ca_err ca_cert_management_auth(const struct ca_client *c, const char *action_id, uint8_t alg,
                               const uint8_t *challenge, size_t len, uint8_t *response,
                               struct ca_refusal *why);
/* `csr` NULL for a keep action. Clear `out` with ca_issued_clear either way. */
ca_err ca_cert_issue(const struct ca_client *c, const char *action_id, const uint8_t *csr,
                     size_t csr_len, struct ca_issued *out, struct ca_refusal *why);
ca_err ca_cert_confirm(const struct ca_client *c, const char *action_id, const char *serial,
                       struct ca_refusal *why);

/* Every certificate of the action: out[0] the action's own, a pair's other
 * half after it (*n 1 or 2). Clear each with ca_issued_clear either way. */
ca_err ca_cert_issue_all(const struct ca_client *c, const char *action_id, const uint8_t *csr,
                         size_t csr_len, struct ca_issued out[CA_ACTION_CERTS_MAX], size_t *n,
                         struct ca_refusal *why);

/* The serial now in each slot the action wrote; written[0] is the action's own. */
struct ca_written {
    const char *slot;                    /* as the protocol spells it: "9a", an SKF id */
    const char *serial;
};
ca_err ca_cert_confirm_all(const struct ca_client *c, const char *action_id,
                           const struct ca_written *written, size_t n, struct ca_refusal *why);

/* Whether `name` is a state of cert/v1 (a STATE_CONFLICT refusal may carry one). */
bool ca_cert_state_known(const char *name);

#endif
