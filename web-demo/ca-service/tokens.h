/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/tokens.h — the CA's record of each token: owner,
 * registered phone, fee policy, and the certificates it holds. The PUK
 * columns of the same table belong to rotation.c alone; nothing here reads
 * them.
 */
#ifndef UKEY_CA_TOKENS_H
#define UKEY_CA_TOKENS_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

#include "ca.h"
#include "problem.h"

struct token_rec {
    char id[CA_TOKEN_ID_MAX];
    char owner[CA_OWNER_MAX];
    char phone[CA_PHONE_MAX];
    long fee_cents;                     /* 0: unlocks are free */
    char currency[CA_CURRENCY_MAX];
};

/* CA_OK, CA_TOKEN_UNKNOWN or CA_INTERNAL. */
enum ca_code token_load(sqlite3 *db, const char *id, struct token_rec *out);

/*
 * The token `id` when it holds the certificate (serial, issuer): serial in
 * any hex form (text_canonical_serial), issuer RFC 4514. CA_TOKEN_UNKNOWN
 * when either is not on record or they do not belong together.
 */
enum ca_code token_find(sqlite3 *db, const char *id, const char *serial, const char *issuer,
                        struct token_rec *out);

/* A token as the seed describes it; strings are validated by the caller. */
struct token_seed {
    const char *id, *owner, *phone, *currency;
    const char *puk;                    /* the unlock secret: PIV PUK or SKF admin PIN */
    const char *interface;              /* "PIV" or "SKF" */
    const char *unlock_mechanism;       /* a mechanism's name, or NULL: the service's choice */
    long fee_cents;
};

/* Adds the token unless its id is on record already (the database's PUK,
 * possibly rotated since, wins over the seed's). 1 added, 0 kept, -1 error. */
int token_add(sqlite3 *db, const struct token_seed *t);
/* Records that token `id` holds the certificate (serial, issuer). */
bool token_add_certificate(sqlite3 *db, const char *id, const char *serial, const char *issuer);

/*
 * Records the certificate (DER) in the token's slot: the seed's unless the
 * slot has one on record (replace false), or a certificate confirmed
 * written, which replaces it (replace true). serial in any hex form.
 */
bool token_set_slot_certificate(sqlite3 *db, const char *id, const char *slot,
                                const char *serial, const void *der, size_t len, bool replace);

#endif
