/* SPDX-License-Identifier: MIT */
/*
 * token/token.h — the token layer as the API layer sees it: one service that
 * knows the readers and tokens, keeps a cache of what the tokens hold, follows
 * them coming and going, and carries out PIN operations one at a time per
 * token, resetting the token's security status afterwards. Behind it sit the
 * providers of tokens (token/provider.h): PC/SC with its card edges (PIV), and
 * GM/T 0016 "SKF" vendor libraries, each in a helper process. A token says
 * which interface it speaks (`edge`) and what it can do (`caps`); nothing
 * here asks the caller to know which provider holds it.
 *
 * It knows nothing of HTTP or JSON. Everything it hands out is owned by the
 * caller (free with the matching *_free / *_unref) and safe to use from any
 * thread. Secrets passed in are never kept, copied into logs, or returned.
 */
#ifndef UKEYD_TOKEN_TOKEN_H
#define UKEYD_TOKEN_TOKEN_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "token/cert.h"
#include "token/error.h"

#define TOKEN_ATR_MAX 33
/* The longest token id (struct token_info.id) the layer hands out, with room
 * to spare; what the journals above size their on-disk records by. */
#define TOKEN_ID_MAX 64

struct token_service;
struct token_certset;

/* A vendor's SKF library the service loads (in a helper process of its own). */
struct token_skf_library {
    const char *path;         /* as dlopen takes it: absolute, or a bare name */
    const char *profile;      /* a built-in profile's name (token/skf/profile.c); NULL: "standard" */
};

struct token_service_config {
    /* Minimum time between two PIN/PUK attempts on one token; 0 = none.
     * A request inside the window waits, up to pin_pacing_ms. */
    unsigned pin_pacing_ms;
    /* How long an operation waits for a card that another process holds in a
     * PC/SC transaction before it answers TOKEN_E_TOKEN_BUSY; 0 = 5 s. */
    unsigned card_wait_ms;
    /* Called from the monitor thread; may be NULL. Must not block. */
    void (*log)(void *userdata, int priority /* LOG_* of syslog.h */, const char *token_id,
                const char *msg);
    void *log_userdata;
    /* SKF libraries configured by the administrator; may be none. These
     * three are read by token_service_new only (the caller may free them
     * once it returns). */
    const struct token_skf_library *skf_libraries;
    size_t n_skf_libraries;
    /* Also look for the known vendors' libraries where their Linux packages
     * install them (one per vendor, a configured one wins); what was found and
     * loaded goes to the log. */
    bool skf_discover;
    /* The ukeyd-skf-host program; without it no SKF library is loaded. */
    const char *skf_helper_path;
};

/* Whether `name` is one of the built-in SKF vendor profiles (a configuration
 * names one beside a library's path). */
bool token_skf_profile_exists(const char *name);

/*
 * For `ukeyd --check-config`: loads each SKF library the service would load
 * with `cfg` (the configured ones, then with skf_discover the known vendors'
 * found at their packages' paths) in a helper process of its own, as the
 * service would, and stops it again. One line per library goes to `report`:
 * loaded, with the optional functions it has; or why not (missing, does not
 * load, lacks a required function). Touches no token. Returns how many
 * configured libraries did not load (a discovered path that is not there is
 * no failure).
 */
typedef void (*token_skf_report_fn)(void *userdata, bool loaded, const char *line);
size_t token_skf_check(const struct token_service_config *cfg, token_skf_report_fn report,
                       void *userdata);

struct token_status {
    bool pcsc_available;
    size_t n_readers;
    size_t n_tokens;          /* tokens of every provider (PIV cards, SKF keys) */
};

struct token_reader {
    char *name;
    bool card_present;
    uint8_t atr[TOKEN_ATR_MAX];
    size_t atr_len;
    char *token_id;           /* NULL when no card or not recognised */
};

/* Whether the PIN is still the one the token left the factory with. */
enum token_pin_default {
    TOKEN_PIN_DEFAULT_UNKNOWN,   /* the token does not say (PIV) */
    TOKEN_PIN_DEFAULT_NO,
    TOKEN_PIN_DEFAULT_YES,       /* the user should be asked to change it */
};

struct token_pin_info {
    int tries_left;           /* -1 when the card does not say */
    int tries_max;            /* -1 when the token does not say (PIV) */
    bool blocked;
    enum token_pin_default is_default;
    size_t min_len, max_len;  /* the card edge's PIN policy */
    const char *charset;      /* static: "digits" or "ascii" — what the card edge accepts */
};

struct token_cert {
    uint8_t slot;             /* PIV key reference, e.g. 0x9A; 0 for SKF */
    const char *slot_name;    /* PIV static "9a"; SKF: the same as id */
    const char *slot_label;   /* static: "PIV Authentication", "SKF signing", ... */
    uint8_t *der;
    size_t der_len;
    struct cert_summary *summary;  /* NULL when the DER did not parse */
    /* URL-safe ([A-Za-z0-9._~-]) and stable across insertions: PIV the slot
     * ("9a", so existing URLs stay), SKF "<container>.sign" / "<container>.enc"
     * with every byte of the container's name outside [A-Za-z0-9._-] written
     * "~xx" (lower-case hex), "~" itself too. */
    const char *id;
    /* private */
    char *owned_id;           /* id when it is not static */
};

/* What a token can do, beyond reading and its PIN (token_snapshot.caps). */
#define TOKEN_CAP_UNLOCK_PUK        0x01u  /* unblock with a PUK (PIV) */
#define TOKEN_CAP_UNLOCK_ADMIN_PIN  0x02u  /* unblock with an admin PIN (SKF_UnblockPIN) */
#define TOKEN_CAP_UNLOCK_REMOTE     0x04u  /* challenge-response unblock: the CA answers the
                                              token's challenge (SKF vendor extension) */
#define TOKEN_CAP_CERT_WRITE        0x08u  /* key generation and certificate writes (issue 9) */

/* token_snapshot.seals when the token holds no seals (PIV) or they could not be counted. */
#define TOKEN_SEALS_UNKNOWN         UINT_MAX

/* One token as last read; immutable once published, reference counted. */
struct token_snapshot {
    char *id;                 /* stable: "piv-<card GUID hex>", "piv-sn-<serial>", "skf-<serial>" */
    char *reader;             /* PC/SC reader; SKF: the device's name in its library */
    const char *edge;         /* static: the interface it speaks, "PIV" or "SKF" */
    unsigned caps;            /* TOKEN_CAP_* */
    char *manufacturer;       /* NULL when the token does not say (PIV) */
    char *model;              /* human name of the token model, e.g. "Virtual PIV token";
                                 SKF: the label the device gives */
    char *serial;             /* NULL when the card has none */
    char *version;            /* card-edge application version, NULL when unknown */
    uint8_t atr[TOKEN_ATR_MAX];
    size_t atr_len;
    struct token_pin_info pin;   /* as read when the snapshot was taken */
    unsigned seals;              /* electronic seals (电子印章) on it, as read when it was
                                    plugged in; TOKEN_SEALS_UNKNOWN */
    struct token_cert *certs;    /* shared by the snapshots of one insertion; read-only */
    size_t n_certs;
    /* private */
    unsigned refs;
    struct token_certset *certset;
};

enum token_event_kind {
    TOKEN_EV_READER_ADDED,
    TOKEN_EV_READER_REMOVED,
    TOKEN_EV_TOKEN_INSERTED,
    TOKEN_EV_TOKEN_REMOVED,
    TOKEN_EV_PIN_CHANGED,       /* tries left or blocked state changed (any operation) */
    TOKEN_EV_PCSC_LOST,
    TOKEN_EV_PCSC_BACK,
    TOKEN_EV_CERTS_CHANGED,     /* a write changed the token's certificates */
};

struct token_event {
    enum token_event_kind kind;
    const char *reader;         /* may be NULL for PCSC_* */
    const char *token_id;       /* for TOKEN_* and PIN_CHANGED */
    int tries_left;             /* for PIN_CHANGED, -1 otherwise */
    bool blocked;               /* for PIN_CHANGED */
};

/* Called on the monitor thread (or the thread of the operation that changed
 * PIN state). Must not block nor call back into the service. */
typedef void (*token_event_fn)(const struct token_event *ev, void *userdata);

token_err token_service_new(const struct token_service_config *cfg, struct token_service **out);
/* Stops the monitor, waits for operations in flight to finish, frees. */
void token_service_free(struct token_service *svc);

/* Returns a subscription id > 0, or 0 when out of memory. */
unsigned token_service_subscribe(struct token_service *svc, token_event_fn fn, void *userdata);
void token_service_unsubscribe(struct token_service *svc, unsigned id);

token_err token_service_status(struct token_service *svc, struct token_status *out);

token_err token_service_readers(struct token_service *svc, struct token_reader **out, size_t *n);
void token_readers_free(struct token_reader *list, size_t n);

/* Snapshots of every recognised token, from the cache when nothing changed. */
token_err token_service_tokens(struct token_service *svc, struct token_snapshot ***out, size_t *n);
void token_snapshots_free(struct token_snapshot **list, size_t n);

token_err token_service_get(struct token_service *svc, const char *id, struct token_snapshot **out);
struct token_snapshot *token_snapshot_ref(struct token_snapshot *s);
void token_snapshot_unref(struct token_snapshot *s);

/* Reads the PIN state from the card now; costs no try. */
token_err token_service_pin_info(struct token_service *svc, const char *id, struct token_pin_info *out);

/*
 * Without this flag a verify or change that would spend the card's last PIN
 * try is refused with TOKEN_E_PIN_LAST_TRY before the card is asked; the check
 * and the attempt happen inside one PC/SC transaction, so no other caller can
 * slip in between.
 */
#define TOKEN_PIN_ALLOW_LAST_TRY 0x1u

/*
 * PIN operations. `tries_left` receives the counter after the operation
 * (-1 when unknown) on success and on PIN/PUK errors. The PIN is checked
 * against the card edge's policy before the card is touched
 * (TOKEN_E_PIN_POLICY). The card's security status is reset afterwards.
 */
token_err token_service_verify_pin(struct token_service *svc, const char *id,
                                   const char *pin, unsigned flags, int *tries_left);
token_err token_service_change_pin(struct token_service *svc, const char *id,
                                   const char *old_pin, const char *new_pin, unsigned flags,
                                   int *tries_left);
/*
 * The unlock secret (PIV: the PUK; SKF: the admin PIN, SKF_UnblockPIN and
 * SKF_ChangePIN of the admin PIN; a PKCS#11 SO PIN when that provider comes)
 * is guarded for every caller alike: its tries left are read first, without
 * spending one (PIV: GET METADATA of key reference 81, YubiKey 5.3+; SKF:
 * SKF_GetPINInfo; a card without it is judged by the count its last
 * answer to the secret gave in this process, and goes ahead when there is
 * none), and an attempt that could spend its last try is refused with
 * TOKEN_E_PUK_LAST_TRY (`puk_tries_left` 1) before the card is asked: a
 * blocked PUK can never be unblocked. A PUK outside the card edge's PUK
 * rules is TOKEN_E_PUK_POLICY (the new PIN's is TOKEN_E_PIN_POLICY).
 */
token_err token_service_unblock_pin(struct token_service *svc, const char *id,
                                    const char *puk, const char *new_pin, int *puk_tries_left);
token_err token_service_change_puk(struct token_service *svc, const char *id,
                                   const char *old_puk, const char *new_puk, int *puk_tries_left);

/*
 * The challenge-response unblock (TOKEN_CAP_UNLOCK_REMOTE; otherwise
 * TOKEN_E_NOT_SUPPORTED), in one operation: the token's challenge
 * (`challenge_len` random bytes, 1..16; it answers once) goes out through
 * `relay` to the CA, who keeps the unlock secret, and its answer goes back
 * to the token, which sets the PIN the answer carries. The token stays held
 * from the challenge to the answer (its lock, and the provider's open
 * application: a vendor key may draw a fresh random when its application
 * is reopened, and the CA's right answer would then cost a try), so the
 * relay bounds how long: it must give up within its own deadline. A wrong
 * answer costs the unlock secret a try, so the same guard as
 * token_service_unblock_pin applies first (TOKEN_E_PUK_LAST_TRY, never
 * spent). A relay that gives up answers TOKEN_E_RELAY_FAILED, having cost
 * the token nothing.
 */
typedef token_err (*token_unblock_answer_fn)(void *userdata, const uint8_t *challenge,
                                             size_t len, uint8_t *answer, size_t *answer_len);

struct token_unblock_relay {
    size_t challenge_len;
    /* Called on the operation's thread with the token held; it may block for
     * a network round trip, bounded by its own deadline. `*answer_len` holds
     * the room in `answer` on entry (TOKEN_UNBLOCK_ANSWER_MAX) and the
     * answer's length on TOKEN_OK; else TOKEN_E_RELAY_FAILED, after noting
     * why in `userdata`. */
    token_unblock_answer_fn answer;
    void *userdata;
};

#define TOKEN_UNBLOCK_CHALLENGE_MAX 16
#define TOKEN_UNBLOCK_ANSWER_MAX    64

token_err token_service_unblock_remote(struct token_service *svc, const char *id,
                                       const struct token_unblock_relay *relay,
                                       int *puk_tries_left);

/*
 * For the environment repair: waits up to `wait_ms` for the monitor's next
 * complete look at pcscd (it reconnects by itself once pcscd is back), then
 * reads every card present again, replacing its cached snapshot (a card that
 * fails to read keeps the old one). TOKEN_E_PCSC_UNAVAILABLE when pcscd was
 * not reachable within `wait_ms`. Costs no PIN try.
 */
token_err token_service_rescan(struct token_service *svc, unsigned wait_ms);

/* --- certificate writes (issue 9) -----------------------------------------
 *
 * Writing to a PIV token needs its card management key (key reference 9B).
 * ukeyd never holds it: the card's challenge goes out through a relay to
 * whoever does (the CA service) and the answer comes back to the card, all
 * inside the operation's one PC/SC transaction. Every write below ends with
 * the card's security status reset, as the PIN operations do.
 */

/* PIV algorithm identifiers of the management key (SP 800-78-4 table 5). */
#define TOKEN_MGMT_ALG_3DES     0x03
#define TOKEN_MGMT_ALG_AES128   0x08
#define TOKEN_MGMT_ALG_AES192   0x0A
#define TOKEN_MGMT_ALG_AES256   0x0C

/*
 * Answers one card challenge: `challenge` (one block of the key's cipher,
 * 8 or 16 bytes) encrypted under the management key, into `response` (as
 * many bytes as the challenge). Called on the card-job thread while the
 * transaction is held; it may block for a network round trip. Return
 * TOKEN_OK, or TOKEN_E_RELAY_FAILED after noting why in `userdata`.
 */
typedef token_err (*token_mgmt_respond_fn)(void *userdata, uint8_t algorithm,
                                           const uint8_t *challenge, size_t len,
                                           uint8_t *response);

struct token_mgmt_relay {
    uint8_t algorithm;              /* TOKEN_MGMT_ALG_*: what the key holder says the key is */
    token_mgmt_respond_fn respond;
    void *userdata;
};

/* Key pairs a token can generate; the names are the CA protocol's. */
enum token_key_alg {
    TOKEN_KEY_RSA2048,              /* "RSA-2048" */
    TOKEN_KEY_EC_P256,              /* "EC-P256" */
    TOKEN_KEY_EC_P384,              /* "EC-P384" */
    TOKEN_KEY_SM2,                  /* "SM2" (a vendor algorithm id on PIV, see docs) */
    TOKEN_KEY__COUNT
};
const char *token_key_alg_name(enum token_key_alg alg);              /* NULL if out of range */
/* TOKEN_OK and *out set when `name` is one of the names above. */
token_err token_key_alg_from_name(const char *name, enum token_key_alg *out);

/* The retired-key slot a new key pair is generated in before it replaces a
 * slot's key, so the slot keeps a matching certificate until the swap. */
#define TOKEN_STAGING_SLOT 0x95

/*
 * The public key (SubjectPublicKeyInfo DER, caller frees with free()) of the
 * key in `slot`, from the card's key metadata (GET METADATA, YubiKey 5.3+
 * and the virtual token). TOKEN_E_NOT_SUPPORTED when the card cannot tell;
 * TOKEN_E_NO_OBJECT when the slot holds no key. Costs no PIN try.
 */
token_err token_service_slot_public_key(struct token_service *svc, const char *id, uint8_t slot,
                                        uint8_t **spki, size_t *spki_len);

/*
 * Generates a key pair of `alg` in `slot` (normally TOKEN_STAGING_SLOT),
 * after authenticating with the management key through `relay`; returns its
 * public key as SubjectPublicKeyInfo DER (caller frees with free()).
 * TOKEN_E_NOT_SUPPORTED when the card refuses the algorithm.
 */
token_err token_service_generate_key(struct token_service *svc, const char *id, uint8_t slot,
                                     enum token_key_alg alg, const struct token_mgmt_relay *relay,
                                     uint8_t **spki, size_t *spki_len);

/*
 * Builds a PKCS#10 request for the key in `slot` whose public key is `spki`
 * and has the card sign it after verifying `pin` (the same policy check,
 * pacing and last-try guard as token_service_verify_pin, `flags` likewise;
 * `tries_left` as there). The subject is `subject_der` (a DER Name, may be
 * NULL: then CN=<token id>); SM2 keys are signed with SM3 and the default
 * GM/T 0009 user id, RSA with SHA-256 PKCS#1 v1.5, EC with ECDSA-SHA256/384.
 * The request's own signature is checked before it is returned (caller
 * frees *csr with free()).
 */
token_err token_service_sign_csr(struct token_service *svc, const char *id, uint8_t slot,
                                 const char *pin, unsigned flags, const uint8_t *spki,
                                 size_t spki_len, const uint8_t *subject_der, size_t subject_len,
                                 uint8_t **csr, size_t *csr_len, int *tries_left);

/*
 * Writes certificate `der` into `slot`'s object (key kept), then reads it
 * back: TOKEN_E_WRITE_FAILED unless it reads back byte for byte. Refuses
 * with TOKEN_E_KEY_MISMATCH, before authenticating, when the card can say
 * the slot's public key (metadata) or the slot holds a certificate, and the
 * new certificate's key is not that key. The token's cached snapshot is
 * refreshed and TOKEN_EV_CERTS_CHANGED sent.
 */
token_err token_service_write_cert(struct token_service *svc, const char *id, uint8_t slot,
                                   const uint8_t *der, size_t der_len,
                                   const struct token_mgmt_relay *relay);

/*
 * Replaces `slot`'s key pair with the one generated in `staged_slot`, whose
 * certificate is `der`, in one transaction: for the key management slot 9D
 * the old key and certificate first move to the next free retired slot and
 * the key history counts them (SP 800-73-4 §3.3.2); then the staged key
 * moves into `slot` (MOVE KEY, YubiKey 5.7 and the virtual token) and the
 * certificate is written and read back. TOKEN_E_KEY_MISMATCH before anything
 * is written when `der`'s key is not the staged key. The window in which
 * `slot`'s key and certificate disagree is the few APDUs between the move
 * and the write; token_service_slot_state tells the caller's recovery where
 * an interrupted install stopped. TOKEN_E_NOT_SUPPORTED without MOVE KEY.
 */
token_err token_service_install_key(struct token_service *svc, const char *id,
                                    uint8_t staged_slot, uint8_t slot, const uint8_t *der,
                                    size_t der_len, const struct token_mgmt_relay *relay);

/* Where a slot stands against a given certificate, for recovery. */
struct token_slot_state {
    bool has_key;              /* metadata says a key is there (false when unknown) */
    bool key_known;            /* the card could say whether, and which */
    bool key_matches;          /* the key is the given certificate's key */
    bool cert_present;         /* the slot's certificate object holds a certificate */
    bool cert_is_given;        /* ... and it is the given one, byte for byte */
    bool cert_matches_key;     /* the object's certificate has the slot's key (when key_known) */
};
token_err token_service_slot_state(struct token_service *svc, const char *id, uint8_t slot,
                                   const uint8_t *der, size_t der_len,
                                   struct token_slot_state *out);

/* --- certificate writes by certificate id (SKF) ------------------------------
 *
 * A token whose certificates have no PIV slot (token_cert.slot 0; an SKF
 * key's "<container>.sign" and "<container>.enc") has no management key and
 * no staging slot: a write is authorised by the user's PIN, the token's own
 * rule. Each call that takes `pin` verifies it first with the same policy
 * check, pacing and last-try guard as token_service_verify_pin (`flags` and
 * `tries_left` likewise; a wrong PIN costs one try and changes nothing) and
 * leaves the security state reset. A token says it can with
 * TOKEN_CAP_CERT_WRITE, as a PIV card does; otherwise TOKEN_E_NOT_SUPPORTED.
 */

/* The public key (SubjectPublicKeyInfo DER, caller frees) of certificate
 * `cert_id`'s key pair, read from the token; no PIN. TOKEN_E_NO_OBJECT when
 * there is no such key, TOKEN_E_INVALID_ARG for an id the token has no place for. */
token_err token_service_cert_key(struct token_service *svc, const char *id, const char *cert_id,
                                 uint8_t **spki, size_t *spki_len);

/*
 * A new key pair of `alg` replaces `cert_id`'s in place (SKF: a signing
 * certificate's container, SM2 only: no staging place exists, the
 * certificate stays until token_service_import_cert replaces it), and a
 * PKCS#10 request for it (subject as token_service_sign_csr) is signed by
 * the new key; both under one PIN check. Returns the key's SPKI and the
 * request (caller frees both). TOKEN_E_NOT_SUPPORTED before the PIN for an
 * encryption certificate or another algorithm. `key_replaced` says, on
 * success and on failure alike, whether `cert_id`'s key may have changed:
 * false only when the token layer knows the call stopped before the key
 * pair was made (the request judged, the PIN refused, the container not
 * found); a failure after that (the request's signature, the token pulled
 * mid-call) leaves a key its certificate does not match.
 */
token_err token_service_new_key_csr(struct token_service *svc, const char *id,
                                    const char *cert_id, const char *pin, unsigned flags,
                                    enum token_key_alg alg, const uint8_t *subject_der,
                                    size_t subject_len, uint8_t **spki, size_t *spki_len,
                                    uint8_t **csr, size_t *csr_len, int *tries_left,
                                    bool *key_replaced);

/*
 * Writes certificate `der` as `cert_id` and reads it back: TOKEN_E_WRITE_FAILED
 * unless it reads back byte for byte. TOKEN_E_KEY_MISMATCH, before the PIN,
 * when its key is not the token's key for `cert_id`. The cached snapshot is
 * refreshed and TOKEN_EV_CERTS_CHANGED sent.
 */
token_err token_service_import_cert(struct token_service *svc, const char *id,
                                    const char *cert_id, const char *pin, unsigned flags,
                                    const uint8_t *der, size_t der_len, int *tries_left);

/* Where `cert_id` stands against `der` (may be NULL), for recovery; no PIN. */
token_err token_service_cert_state(struct token_service *svc, const char *id,
                                   const char *cert_id, const uint8_t *der, size_t der_len,
                                   struct token_slot_state *out);

/*
 * An observer of logical exchanges for support diagnostics: the header, the
 * lengths and the status word of each apdu_transmit() call, never its data
 * (which may hold a PIN or a PUK).
 */
struct apdu_summary {
    uint8_t cla, ins, p1, p2;
    size_t lc, le, rsp_len;
    uint16_t sw;            /* 0 when err is set */
    token_err err;
    uint64_t duration_us;
};

/* Called on the thread that talks to the card; must not block. */
typedef void (*apdu_recorder_fn)(const struct apdu_summary *s);

/* NULL turns recording off (the default). */
void apdu_set_recorder(apdu_recorder_fn fn);

/* The name of an instruction the layer sends ("VERIFY"), or NULL. */
const char *apdu_ins_name(uint8_t ins);

#endif
