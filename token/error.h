/* SPDX-License-Identifier: MIT */
/*
 * token/error.h — the token layer's one error enum.
 *
 * Every function of token/ returns a token_err. The API layer maps each value
 * to one stable API code in exactly one place; nothing above this layer looks
 * at PC/SC return codes or status words.
 */
#ifndef UKEYD_TOKEN_ERROR_H
#define UKEYD_TOKEN_ERROR_H

typedef enum token_err {
    TOKEN_OK = 0,
    TOKEN_E_NO_MEMORY,
    TOKEN_E_INVALID_ARG,        /* caller passed something unusable */
    TOKEN_E_PCSC_UNAVAILABLE,   /* pcscd not reachable (not running, restarting) */
    TOKEN_E_READER_NOT_FOUND,   /* the reader went away */
    TOKEN_E_TOKEN_NOT_FOUND,    /* no card, or no token with that id */
    TOKEN_E_TOKEN_REMOVED,      /* the card was pulled before or during the operation */
    TOKEN_E_TOKEN_BUSY,         /* another process holds the card exclusively */
    TOKEN_E_CARD_UNSUPPORTED,   /* no card-edge driver recognises the card */
    TOKEN_E_CARD_ERROR,         /* unexpected status word from the card */
    TOKEN_E_MALFORMED,          /* card data or DER that does not parse */
    TOKEN_E_NO_OBJECT,          /* the requested data object is not on the card */
    TOKEN_E_PIN_INCORRECT,      /* wrong PIN; tries left reported beside */
    TOKEN_E_PIN_BLOCKED,        /* PIN retry counter at zero */
    TOKEN_E_PIN_LAST_TRY,       /* refused: the attempt would spend the last try */
    TOKEN_E_PUK_INCORRECT,      /* wrong PUK; tries left reported beside */
    TOKEN_E_PUK_BLOCKED,        /* PUK retry counter at zero: only the CA can help */
    TOKEN_E_PIN_POLICY,         /* PIN/PUK does not meet the card edge's length/charset */
    TOKEN_E_SECURITY_STATUS,    /* the card wants a verified PIN first */
    TOKEN_E_TIMEOUT,
    TOKEN_E_INTERNAL,
    /* Certificate writes (the CA holds the management key). */
    TOKEN_E_MGMT_AUTH_FAILED,   /* the card refused the key holder's answer to its challenge */
    TOKEN_E_RELAY_FAILED,       /* the caller's relay to the key holder gave up; it knows why */
    TOKEN_E_NOT_SUPPORTED,      /* the card lacks the command or the algorithm */
    TOKEN_E_KEY_MISMATCH,       /* a certificate's public key is not the slot's key */
    TOKEN_E_WRITE_FAILED,       /* an object read back differently from what was written */
    TOKEN_E_NO_SPACE,           /* the card has no room for the object */
    /* Unlock secrets (PIV PUK; later an SKF admin PIN, a PKCS#11 SO PIN). */
    TOKEN_E_PUK_LAST_TRY,       /* refused: the attempt would spend the PUK's last try */
    TOKEN_E_PUK_POLICY,         /* a PUK does not meet the card edge's PUK rules */
    TOKEN_E__COUNT
} token_err;

/* Stable upper-case name without prefix, e.g. "PIN_BLOCKED"; never NULL. */
const char *token_err_name(token_err err);

#endif
