/* SPDX-License-Identifier: MIT */
/*
 * api/ca/ca_client.h — ukeyd's client of a CA's unlock service (unlock/v1,
 * docs/unlock-protocol.md), on libcurl and jansson. The certificate calls
 * (cert/v1) are in api/ca/ca_cert.h and share this client and its errors.
 *
 * One call per protocol endpoint. Each answers CA_OK with the answer parsed
 * into plain C values that were checked member by member, or one ca_err: the
 * CA's problem `code` mapped in one table here, and everything that is not a
 * well-formed answer (no connection, a timeout, TLS, a 5xx, a body that does
 * not parse or has the wrong shape) is CA_E_UNAVAILABLE. Nothing of an
 * answer is passed on unchecked, so a broken or hostile service cannot put
 * arbitrary text in front of the portal.
 *
 * Secrets (phone numbers, codes, PUKs) travel only in memory that is wiped
 * when released, and are never logged.
 */
#ifndef UKEYD_API_CA_CLIENT_H
#define UKEYD_API_CA_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CA_ID_MAX            64    /* requestId, rotationId: URL-safe characters only */
#define CA_ID_LOG_PREFIX     8     /* of those ids (capabilities), a log line shows this much */
#define CA_PUK_MAX           16
#define CA_STATE_NAME_MAX    24
#define CA_AMOUNT_MAX        16
#define CA_CURRENCY_LEN      3
#define CA_MASKED_PHONE_MAX  24
#define CA_TIME_MAX          32
#define CA_CODE_NAME_MAX     32
#define CA_FIELD_MAX         32
#define CA_URL_MAX           512
#define CA_WHY_MAX           160

typedef enum ca_err {
    CA_OK = 0,
    CA_E_NO_MEMORY,
    CA_E_UNAVAILABLE,          /* unreachable, slow, TLS, 5xx, or not a protocol answer */
    CA_E_BAD_REQUEST,          /* the service refused a member we sent (`field`) */
    CA_E_PAYMENT_REQUIRED,
    CA_E_PHONE_MISMATCH,
    CA_E_CODE_INCORRECT,       /* `attempts_left` */
    CA_E_CODE_NOT_ISSUED,
    CA_E_CODE_EXPIRED,
    CA_E_TOO_MANY_ATTEMPTS,
    CA_E_RATE_LIMITED,         /* `retry_after_s` */
    CA_E_TOKEN_UNKNOWN,
    CA_E_REQUEST_UNKNOWN,
    CA_E_REQUEST_EXPIRED,
    CA_E_STATE_CONFLICT,       /* `state` */
    CA_E_ROTATION_UNKNOWN,
    CA_E_ROTATION_CONFLICT,    /* `result` */
    CA_E_ROTATION_CLOSED,      /* `result` */
    CA_E_ACTION_UNKNOWN,       /* cert/v1 (api/ca/ca_cert.h): no such action */
    CA_E_PUK_RECORD_MISMATCH,  /* a card refused this token's PUK on record: no more pairs */
    CA_E_MECHANISM_UNSUPPORTED, /* the CA can unlock the token by none of the mechanisms offered */
    CA_E__COUNT
} ca_err;

/* "PHONE_MISMATCH"; "UNAVAILABLE" for values out of range. */
const char *ca_err_name(ca_err err);

enum ca_state {
    CA_STATE_AWAITING_PAYMENT,
    CA_STATE_AWAITING_IDENTITY,
    CA_STATE_REVIEW_PENDING,
    CA_STATE_REVIEW_APPROVED,
    CA_STATE_REVIEW_REJECTED,
    CA_STATE_AUTHORIZED,
    CA_STATE_COMPLETED,
    CA_STATE_EXPIRED,
    CA_STATE__COUNT
};

/* "awaiting-payment" …, as the protocol spells them. */
const char *ca_state_name(enum ca_state state);

enum ca_review {
    CA_REVIEW_NONE,
    CA_REVIEW_PENDING,
    CA_REVIEW_APPROVED,
    CA_REVIEW_REJECTED,
};

const char *ca_review_name(enum ca_review review);   /* NULL for CA_REVIEW_NONE */

/* What a refusal said beside its code. */
struct ca_refusal {
    int attempts_left;                   /* -1 when not given */
    unsigned retry_after_s;              /* 0 when not given */
    char state[CA_STATE_NAME_MAX];       /* a known state name, or "" */
    char result[CA_STATE_NAME_MAX];      /* "rotated", "unchanged" or "" */
    char field[CA_FIELD_MAX];            /* BAD_REQUEST: the member, or "" */
};

/* An unlock request as the service shows it. Clear with ca_request_clear. */
struct ca_request {
    char id[CA_ID_MAX + 1];              /* the bearer capability: never for a browser */
    enum ca_state state;
    bool fee_required, fee_paid;
    char fee_amount[CA_AMOUNT_MAX + 1];  /* "30.00" */
    char fee_currency[CA_CURRENCY_LEN + 1];
    char *payment_url;                   /* http(s) URL, or NULL */
    char masked_phone[CA_MASKED_PHONE_MAX + 1];
    bool method_sms, method_review;
    char *review_url;                    /* http(s) URL, or NULL */
    enum ca_review review;
    char *review_reason;                 /* or NULL */
    char expires_at[CA_TIME_MAX + 1];
};

void ca_request_clear(struct ca_request *r);

/*
 * How the token's PIN is unblocked, which the CA chooses from what the
 * token offers: the unlock secret handed out and rotated (PIV's PUK, an SKF
 * admin PIN), or the SKF vendor challenge-response, where the secret (the
 * admin PIN) stays at the CA and only its answers to the token travel.
 */
enum ca_mechanism {
    CA_MECH_PUK,               /* "puk" */
    CA_MECH_ADMIN_PIN,         /* "admin-pin" */
    CA_MECH_REMOTE,            /* "remote-challenge" */
    CA_MECH__COUNT
};

#define CA_MECH_BIT(m)       (1u << (m))
#define CA_CHALLENGE_MAX     16    /* the token's challenge: 1..16 bytes */
#define CA_ANSWER_MAX        36    /* the remote-unblock answer: 16·n + 4 bytes, n = 1 or 2 */

/* "puk", "admin-pin", "remote-challenge"; NULL out of range. */
const char *ca_mechanism_name(enum ca_mechanism m);

/* What ukeyd tells the CA about the token when it opens and authorises. */
struct ca_offer {
    const char *interface;               /* "PIV", "SKF" */
    unsigned mechanisms;                 /* CA_MECH_BIT()s, at least one */
};

/*
 * authorize and reconcile: wipe with ca_puk_pair_wipe as soon as it is used.
 * `puk` and `next_puk` are the unlock secret of the mechanism (PIV's PUK, or
 * the SKF admin PIN), both empty for CA_MECH_REMOTE.
 */
struct ca_puk_pair {
    char rotation_id[CA_ID_MAX + 1];
    enum ca_mechanism mechanism;
    char puk[CA_PUK_MAX + 1];
    char next_puk[CA_PUK_MAX + 1];
    bool resumed;
};

void ca_puk_pair_wipe(struct ca_puk_pair *p);

struct ca_sms_sent {
    unsigned resend_after_s;
    unsigned expires_in_s;
};

enum ca_code_kind {
    CA_CODE_SMS,
    CA_CODE_UNLOCK,
};

enum ca_rotation_result {
    CA_ROTATION_ROTATED,
    CA_ROTATION_UNCHANGED,
};

/* Why a card refused the PUK a rotation handed out (report). */
enum ca_puk_problem {
    CA_PUK_INCORRECT,          /* "puk-incorrect": the card said wrong PUK */
    CA_PUK_UNFIT,              /* "puk-unfit": it cannot be this card's PUK (length, characters) */
    CA_ANSWER_INCORRECT,       /* "answer-incorrect": the token refused the CA's remote-unblock answer */
};

struct ca_client_config {
    const char *base_url;                /* checked with ca_url_check */
    const char *ca_bundle;               /* PEM file, or NULL for the system's trust store */
    unsigned connect_timeout_ms;
    unsigned timeout_ms;                 /* the whole exchange */
};

struct ca_client;

/*
 * Whether `url` may be a service base URL: https:// with a host, or http://
 * to a loopback address literal (127.0.0.0/8, [::1]) for tests and the demo;
 * no user name, query or fragment. Otherwise false with `why` filled.
 */
bool ca_url_check(const char *url, char *why, size_t why_size);

/* Global libcurl set-up: once, before any thread uses a client. */
int ca_client_global_init(void);
void ca_client_global_cleanup(void);

/* Copies the configuration. CA_E_UNAVAILABLE when the URL does not pass ca_url_check. */
ca_err ca_client_new(const struct ca_client_config *cfg, struct ca_client **out);
void ca_client_free(struct ca_client *c);
/* The configuration `c` was made with, its strings `c`'s own: what reaches
 * another service (one a journal record names) the same way. */
struct ca_client_config ca_client_config_of(const struct ca_client *c);
const char *ca_client_base_url(const struct ca_client *c);

/*
 * The protocol's calls. On an error, `why` (may be NULL) receives what the
 * refusal said. `out` values are only set on CA_OK (clear them either way).
 */
/* Opening a request answers within `within_ms` (0: ca-timeout), the
 * connection included: the person waits on it with nothing to show. */
ca_err ca_open_request(const struct ca_client *c, const char *token_id, const char *cert_serial,
                       const char *cert_issuer, const struct ca_offer *offer, unsigned within_ms,
                       struct ca_request *out, struct ca_refusal *why);
ca_err ca_get_request(const struct ca_client *c, const char *request_id, struct ca_request *out,
                      struct ca_refusal *why);
ca_err ca_send_sms(const struct ca_client *c, const char *request_id, const char *phone,
                   struct ca_sms_sent *out, struct ca_refusal *why);
ca_err ca_verify(const struct ca_client *c, const char *request_id, enum ca_code_kind kind,
                 const char *code, struct ca_request *out, struct ca_refusal *why);
/* The answer's mechanism is one the offer named (else CA_E_UNAVAILABLE). */
ca_err ca_authorize(const struct ca_client *c, const char *request_id,
                    const struct ca_offer *offer, struct ca_puk_pair *out,
                    struct ca_refusal *why);
ca_err ca_confirm(const struct ca_client *c, const char *rotation_id,
                  enum ca_rotation_result result, bool pin_reset, struct ca_refusal *why);
ca_err ca_reconcile(const struct ca_client *c, const char *rotation_id, struct ca_puk_pair *out,
                    struct ca_refusal *why);
/*
 * A remote-challenge rotation: the CA's answer to the token's `challenge`
 * that sets the user PIN to `pin` (ukeyd's temporary one). `answer` holds
 * CA_ANSWER_MAX bytes; *answer_len is set. Wipe it after use.
 */
ca_err ca_answer(const struct ca_client *c, const char *rotation_id, const uint8_t *challenge,
                 size_t challenge_len, const char *pin, uint8_t *answer, size_t *answer_len,
                 struct ca_refusal *why);
/* Tells the service that the card refused the rotation's PUK; settles nothing.
 * `puk_tries_left` -1 when the card did not say. */
ca_err ca_report(const struct ca_client *c, const char *rotation_id, enum ca_puk_problem problem,
                 int puk_tries_left, struct ca_refusal *why);

/* Whether `id` is a well-formed request or rotation id (safe in a path and a file name). */
bool ca_id_valid(const char *id);

#endif
