/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/tokens.c — token and certificate records (see tokens.h).
 */
#include "tokens.h"

#include "db.h"
#include "text.h"

enum ca_code token_load(sqlite3 *db, const char *id, struct token_rec *out)
{
    DB_STMT *st = db_prepare(db, "SELECT id, owner, phone, fee_cents, currency FROM tokens "
                                 "WHERE id = ?", "s", id);
    bool failed = false;

    if (!st)
        return CA_INTERNAL;
    if (!db_row(st, &failed))
        return failed ? CA_INTERNAL : CA_TOKEN_UNKNOWN;
    db_text(st, 0, out->id, sizeof out->id);
    db_text(st, 1, out->owner, sizeof out->owner);
    db_text(st, 2, out->phone, sizeof out->phone);
    out->fee_cents = (long)sqlite3_column_int64(st, 3);
    db_text(st, 4, out->currency, sizeof out->currency);
    return CA_OK;
}

/* Whether one of the token's certificates has this serial and issuer. */
static enum ca_code token_holds(sqlite3 *db, const char *id, const char *serial,
                                const char *issuer)
{
    DB_STMT *st = db_prepare(db, "SELECT issuer FROM certificates WHERE token_id = ? "
                                 "AND serial = ?", "ss", id, serial);
    bool failed = false;

    if (!st)
        return CA_INTERNAL;
    while (db_row(st, &failed))
        if (text_issuer_equal((const char *)sqlite3_column_text(st, 0), issuer))
            return CA_OK;
    return failed ? CA_INTERNAL : CA_TOKEN_UNKNOWN;
}

enum ca_code token_find(sqlite3 *db, const char *id, const char *serial, const char *issuer,
                        struct token_rec *out)
{
    char canon[CA_SERIAL_MAX];
    enum ca_code code;

    if (!text_canonical_serial(serial, canon, sizeof canon))
        return CA_TOKEN_UNKNOWN;
    code = token_holds(db, id, canon, issuer);
    return code != CA_OK ? code : token_load(db, id, out);
}

int token_add(sqlite3 *db, const struct token_seed *t)
{
    return db_exec(db, "INSERT OR IGNORE INTO tokens (id, owner, phone, puk, fee_cents, currency, "
                       "interface, unlock_mechanism) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", "ssssls" "ss",
                   t->id, t->owner, t->phone, t->puk, t->fee_cents, t->currency, t->interface,
                   t->unlock_mechanism);
}

bool token_add_certificate(sqlite3 *db, const char *id, const char *serial, const char *issuer)
{
    char canon[CA_SERIAL_MAX];

    return text_canonical_serial(serial, canon, sizeof canon) &&
           db_exec(db, "INSERT OR IGNORE INTO certificates (token_id, serial, issuer) "
                       "VALUES (?, ?, ?)", "sss", id, canon, issuer) >= 0;
}

bool token_set_slot_certificate(sqlite3 *db, const char *id, const char *slot,
                                const char *serial, const void *der, size_t len, bool replace)
{
    char canon[CA_SERIAL_MAX];

    if (!text_canonical_serial(serial, canon, sizeof canon))
        return false;
    return db_exec(db, replace ? "INSERT OR REPLACE INTO slot_certificates (token_id, slot, serial, "
                                 "der) VALUES (?, ?, ?, ?)"
                               : "INSERT OR IGNORE INTO slot_certificates (token_id, slot, serial, "
                                 "der) VALUES (?, ?, ?, ?)",
                   "sssb", id, slot, canon, der, len) >= 0;
}
