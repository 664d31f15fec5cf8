/* SPDX-License-Identifier: MIT */
/*
 * token/provider.h — the interface between the token service (service.c)
 * and the providers of tokens, internal to token/.
 *
 * A provider finds its tokens, follows them coming and going, reads each
 * into an immutable snapshot and hands it to the service's cache
 * (service_publish / service_withdraw), and carries out the operations on its
 * tokens. The service keeps what does not depend on how a token is reached:
 * the cache and the subscribers, routing a token id to the provider that
 * published it, one operation at a time per token, pacing, the PIN and
 * unlock-secret policies and the last-try guard. A provider knows the
 * service, never another provider.
 *
 * Lock order: a provider may call service_* while holding its own locks; the
 * service never holds its cache lock while it calls a provider.
 */
#ifndef UKEYD_TOKEN_PROVIDER_H
#define UKEYD_TOKEN_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "token/token.h"

struct token_provider;

/* What a secret must look like before a token sees it. */
struct token_secret_policy {
    size_t min_len, max_len;
    const char *charset;     /* "digits" or "ascii" (printable) */
};

enum provider_pin_op {
    PROVIDER_PIN_INFO,       /* read the state only: presents nothing */
    PROVIDER_VERIFY,         /* a: PIN */
    PROVIDER_CHANGE_PIN,     /* a: old PIN, b: new PIN */
    PROVIDER_UNBLOCK,        /* a: unlock secret, b: new PIN */
    PROVIDER_CHANGE_PUK,     /* a: old unlock secret, b: new one */
    PROVIDER_REMOTE_UNBLOCK, /* relay: the token's challenge out, the CA's answer back */
};

/* Work a provider runs while the PIN just presented is verified, inside the
 * same exclusive use of the token; `session` is the provider's own. */
typedef token_err (*provider_then_fn)(void *session, void *arg);

struct provider_pin_request {
    enum provider_pin_op op;
    const char *a, *b;       /* the secrets, per op */
    const struct token_unblock_relay *relay;   /* PROVIDER_REMOTE_UNBLOCK only */
    unsigned flags;          /* TOKEN_PIN_* */
    provider_then_fn then;   /* may be NULL; only with PROVIDER_VERIFY */
    void *then_arg;
};

struct provider_pin_result {
    int tries_left;          /* the counter the operation speaks of */
    int unlock_tries;        /* in: as last seen by the service (-1: never); out: as now known */
    int pin_tries;           /* the PIN counter afterwards (-1: unknown) */
    int pin_tries_max;       /* -1: the token does not say */
    bool pin_blocked;
    enum token_pin_default pin_default;
    bool accepted;           /* the token took the PIN or unlock secret */
};

struct provider_ops {
    const char *name;        /* "pcsc", "skf" — for logs */
    /* Stops watching, waits for work in flight, frees. */
    void (*free)(struct token_provider *p);
    /* TOKEN_OK while its tokens can be reached; else the error that says why
     * (TOKEN_E_PCSC_UNAVAILABLE): its cached tokens are hidden meanwhile. */
    token_err (*reachable)(struct token_provider *p);
    /* Reads tokens whose first read failed; may be NULL. */
    void (*read_missing)(struct token_provider *p);
    /* The rules of token `id`'s PIN and unlock secret. */
    token_err (*policies)(struct token_provider *p, const char *id,
                          struct token_secret_policy *pin, struct token_secret_policy *unlock);
    /*
     * Runs one PIN operation on token `id`, called with the token's lock held
     * and after pacing, in one exclusive use of the token where the provider
     * has one: the token must still be `id`, then the guard
     * (service_guard_secret) on what the token says of its counters, then the
     * operation, then the security state dropped, then the PIN state read
     * into `res`.
     */
    token_err (*pin_op)(struct token_provider *p, const char *id,
                        const struct provider_pin_request *req, struct provider_pin_result *res);
    /* Reads every token again (environment repair); may be NULL. */
    token_err (*rescan)(struct token_provider *p, unsigned wait_ms);
    /* Certificate writes by certificate id (token.h); NULL without. Called
     * with the token's lock held. */
    token_err (*cert_key)(struct token_provider *p, const char *id, const char *cert_id,
                          uint8_t **spki, size_t *spki_len);
    token_err (*cert_state)(struct token_provider *p, const char *id, const char *cert_id,
                            const uint8_t *der, size_t der_len, struct token_slot_state *out);
    /* Run as the `then` of a PIN verify (service_verify_pin_then): `arg` is a
     * struct provider_cert_write. Called first with `session` NULL, before
     * any PIN: then it judges the request alone (TOKEN_E_NOT_SUPPORTED,
     * TOKEN_E_INVALID_ARG) and touches nothing. */
    provider_then_fn cert_write;
};

/* What cert_write does: a new key pair and its request, or a certificate import. */
struct provider_cert_write {
    bool new_key;                    /* else: import `der` */
    const char *id, *cert_id;
    enum token_key_alg alg;
    const uint8_t *subject;          /* new_key: a DER Name, or NULL */
    size_t subject_len;
    const uint8_t *der;              /* import */
    size_t der_len;
    uint8_t *spki, *csr;             /* new_key: out, malloc()ed */
    size_t spki_len, csr_len;
    bool key_replaced;               /* new_key: out, the key may have changed (even on failure) */
};

/* Every provider's own struct begins with this. */
struct token_provider {
    const struct provider_ops *ops;
    struct token_service *svc;
};

/* ---- what the service lends its providers ---- */

void service_log(struct token_service *svc, int prio, const char *token_id, const char *msg);
const struct token_service_config *service_config(struct token_service *svc);
void service_emit(struct token_service *svc, const struct token_event *ev);

/*
 * Puts `snap` (the reference passes to the cache) in the cache as provider
 * `p`'s token, replacing one of the same id; with `announce`, subscribers get
 * TOKEN_EV_TOKEN_INSERTED.
 */
void service_publish(struct token_service *svc, struct token_provider *p,
                     struct token_snapshot *snap, bool announce);
/* Whether token `id` is in the cache. */
bool service_has_token(struct token_service *svc, const char *id);
/* Takes token `id` of provider `p` out of the cache; with `announce`,
 * subscribers get TOKEN_EV_TOKEN_REMOVED. */
void service_withdraw(struct token_service *svc, struct token_provider *p, const char *id,
                      bool announce);

/*
 * The last-try guard, the one policy for every provider: `tries`/`blocked`
 * are what the token says of the counter the request presents (the PIN's,
 * or the unlock secret's: -1 when it could not say, `read_err`
 * TOKEN_E_NOT_SUPPORTED; the count last seen in `res->unlock_tries` then
 * judges). TOKEN_OK when the attempt may go ahead.
 */
token_err service_guard_secret(const struct provider_pin_request *req, token_err read_err,
                               int tries, bool blocked, struct provider_pin_result *res);
/* TOKEN_OK when `secret` fits the policy, else TOKEN_E_PIN_POLICY. */
token_err service_check_secret(const struct token_secret_policy *p, const char *secret);
/* token_service_verify_pin with `then` run while the PIN is verified, in the
 * same exclusive use of the token (a card signing a request). */
token_err service_verify_pin_then(struct token_service *svc, const char *id, const char *pin,
                                  unsigned flags, provider_then_fn then, void *arg,
                                  int *tries_left);
/* Whether the request presents the unlock secret (PUK, admin PIN, CA answer). */
bool service_presents_unlock_secret(enum provider_pin_op op);
/* Whether the request presents any secret to the token. */
bool service_presents_secret(enum provider_pin_op op);
/* What the token's answer to an unlock secret says of its counter. */
void service_note_unlock_tries(token_err err, struct provider_pin_result *res);

/* Snapshots: a fresh one with one reference, and freeing a cert list. */
struct token_snapshot *service_snapshot_new(void);
/* Gives the snapshot the certificates (it takes them: freed with it). */
token_err service_snapshot_set_certs(struct token_snapshot *s, struct token_cert *certs, size_t n);
void token_certs_free(struct token_cert *certs, size_t n);
/* Fills each certificate's summary from its DER (left NULL when it does not parse). */
void service_summarize_certs(struct token_cert *certs, size_t n);

/* The one operation at a time per token, for providers' own operations
 * (certificate writes). */
struct token_lock;
struct token_lock *service_lock_token(struct token_service *svc, const char *id);
void service_unlock_token(struct token_lock *l);
/* The provider that published token `id`, reading missing tokens first;
 * TOKEN_E_TOKEN_NOT_FOUND, or the unreachable provider's error. */
token_err service_route(struct token_service *svc, const char *id, struct token_provider **out);

/* ---- the providers ---- */

token_err pcsc_provider_start(struct token_service *svc, struct token_provider **out);
/* The PC/SC side of token.h's status and readers. */
bool pcsc_provider_reachable(struct token_provider *p);
size_t pcsc_provider_reader_count(struct token_provider *p);
token_err pcsc_provider_readers(struct token_provider *p, struct token_reader **out, size_t *n);

/* One provider for the SKF libraries configured and discovered; none (*out
 * NULL, TOKEN_OK) when there are none. */
token_err skf_provider_start(struct token_service *svc, struct token_provider **out);

#endif
