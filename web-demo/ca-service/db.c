/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/db.c — SQLite: pragmas, schema, statement helpers
 * (see db.h).
 *
 * The PUK records are the one thing this service must never lose or get
 * half-written, so the database runs with synchronous=FULL in WAL mode and
 * every multi-row change is one transaction; secure_delete overwrites the
 * pages of a PUK that was replaced instead of leaving it in free space.
 */
#include "db.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define SCHEMA_VERSION     2
#define SCHEMA_VERSION_V1  1        /* unlock only: orders had no purpose */
#define BUSY_TIMEOUT_MS    5000

static const char *const pragmas =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "PRAGMA secure_delete=ON;"
    "PRAGMA foreign_keys=ON;";

/* Times are Unix seconds (UTC). States are the protocol's words. */
static const char *const schema =
    "CREATE TABLE IF NOT EXISTS tokens ("
    "  id               TEXT PRIMARY KEY,"        /* 'piv-<CHUID GUID hex>' */
    "  owner            TEXT NOT NULL,"
    "  phone            TEXT NOT NULL,"           /* digits, as registered */
    /* The token's unlock secret: a PIV card's PUK, or an SKF key's admin PIN
     * (interface 'SKF'), which the remote-challenge mechanism never hands out. */
    "  puk              TEXT NOT NULL,"
    "  pending_puk      TEXT,"                    /* handed out, not yet confirmed; a
                                                     remote-challenge rotation: puk itself */
    "  interface        TEXT NOT NULL DEFAULT 'PIV',"   /* PIV | SKF */
    "  unlock_mechanism TEXT,"                    /* NULL: the service's preference */
    "  pending_rotation TEXT UNIQUE,"
    "  fee_cents        INTEGER NOT NULL DEFAULT 0,"   /* 0: unlocks are free */
    "  currency         TEXT NOT NULL DEFAULT 'CNY',"
    "  CHECK ((pending_puk IS NULL) = (pending_rotation IS NULL)));"
    "CREATE TABLE IF NOT EXISTS certificates ("
    "  token_id TEXT NOT NULL REFERENCES tokens(id),"
    "  serial   TEXT NOT NULL,"                   /* canonical upper-case hex */
    "  issuer   TEXT NOT NULL,"                   /* RFC 4514 */
    "  PRIMARY KEY (serial, issuer));"
    "CREATE TABLE IF NOT EXISTS orders ("
    "  id           TEXT PRIMARY KEY,"
    "  token_id     TEXT NOT NULL REFERENCES tokens(id),"
    "  amount_cents INTEGER NOT NULL,"
    "  currency     TEXT NOT NULL,"
    "  state        TEXT NOT NULL,"               /* unpaid | paid | consumed */
    "  created_at   INTEGER NOT NULL,"
    "  paid_at      INTEGER,"
    "  purpose      TEXT NOT NULL DEFAULT 'unlock');"   /* unlock | cert */
    "CREATE TABLE IF NOT EXISTS invoices ("
    "  order_id   TEXT PRIMARY KEY REFERENCES orders(id),"
    "  title      TEXT NOT NULL,"
    "  tax_number TEXT NOT NULL,"
    "  phone      TEXT NOT NULL,"
    "  email      TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS requests ("
    "  id            TEXT PRIMARY KEY,"
    "  token_id      TEXT NOT NULL REFERENCES tokens(id),"
    "  cert_serial   TEXT NOT NULL,"
    "  state         TEXT NOT NULL,"
    "  created_at    INTEGER NOT NULL,"
    "  expires_at    INTEGER NOT NULL,"
    "  order_id      TEXT REFERENCES orders(id),"
    "  review_ticket TEXT NOT NULL UNIQUE,"       /* the browser's handle, never the id */
    "  rotation_id   TEXT,"
    "  mechanism     TEXT NOT NULL DEFAULT 'puk');"   /* chosen from the client's offer */
    "CREATE INDEX IF NOT EXISTS requests_by_rotation ON requests(rotation_id);"
    "CREATE TABLE IF NOT EXISTS sms_codes ("
    "  id             INTEGER PRIMARY KEY,"
    "  request_id     TEXT NOT NULL REFERENCES requests(id),"
    "  code           TEXT NOT NULL,"
    "  issued_at      INTEGER NOT NULL,"
    "  expires_at     INTEGER NOT NULL,"
    "  wrong_attempts INTEGER NOT NULL DEFAULT 0,"
    "  state          TEXT NOT NULL);"            /* active | used | burnt | superseded */
    "CREATE TABLE IF NOT EXISTS outbox ("         /* demo: the SMS that were 'sent' */
    "  id       INTEGER PRIMARY KEY,"
    "  token_id TEXT NOT NULL REFERENCES tokens(id),"
    "  phone    TEXT NOT NULL,"
    "  text     TEXT NOT NULL,"
    "  code     TEXT NOT NULL,"
    "  sent_at  INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS outbox_by_token ON outbox(token_id, sent_at);"
    "CREATE TABLE IF NOT EXISTS phone_mismatches ("   /* for the wrong-number limit */
    "  id       INTEGER PRIMARY KEY,"
    "  token_id TEXT NOT NULL REFERENCES tokens(id),"
    "  at       INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS reviews ("
    "  id         TEXT PRIMARY KEY,"
    "  request_id TEXT NOT NULL REFERENCES requests(id),"
    "  token_id   TEXT NOT NULL REFERENCES tokens(id),"
    "  state      TEXT NOT NULL,"                 /* pending | approved | rejected */
    "  reason     TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  decided_at INTEGER);"
    "CREATE TABLE IF NOT EXISTS materials ("
    "  id           INTEGER PRIMARY KEY,"
    "  review_id    TEXT NOT NULL REFERENCES reviews(id),"
    "  kind         TEXT NOT NULL,"               /* business-licence | id-copy */
    "  filename     TEXT NOT NULL,"
    "  content_type TEXT NOT NULL,"
    "  size         INTEGER NOT NULL,"
    "  data         BLOB NOT NULL,"
    "  uploaded_at  INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS unlock_codes ("
    "  id             INTEGER PRIMARY KEY,"
    "  review_id      TEXT NOT NULL REFERENCES reviews(id),"
    "  request_id     TEXT NOT NULL REFERENCES requests(id),"
    "  token_id       TEXT NOT NULL REFERENCES tokens(id),"  /* any request of it may use it */
    "  code           TEXT NOT NULL,"
    "  issued_at      INTEGER NOT NULL,"
    "  expires_at     INTEGER NOT NULL,"
    "  wrong_attempts INTEGER NOT NULL DEFAULT 0,"
    "  state          TEXT NOT NULL);"            /* active | used | burnt | superseded */
    "CREATE TABLE IF NOT EXISTS rotations ("      /* no PUK here: they live on tokens */
    "  id         TEXT PRIMARY KEY,"
    "  token_id   TEXT NOT NULL REFERENCES tokens(id),"
    "  state      TEXT NOT NULL,"                 /* pending | rotated | unchanged */
    "  mechanism  TEXT NOT NULL DEFAULT 'puk',"   /* puk | admin-pin | remote-challenge */
    "  created_at INTEGER NOT NULL,"
    "  settled_at INTEGER);"
    /* A client's card refused the PUK on record (unlock/v1 report). While one
     * is open the token gets no PUK pair; a change of its PUK record (support
     * correcting it, or a confirmed rotation) closes it. */
    "CREATE TABLE IF NOT EXISTS puk_reports ("
    "  rotation_id    TEXT PRIMARY KEY REFERENCES rotations(id),"
    "  token_id       TEXT NOT NULL REFERENCES tokens(id),"
    "  problem        TEXT NOT NULL,"             /* puk-incorrect | puk-unfit */
    "  puk_tries_left INTEGER,"                   /* as the card said; NULL: unknown */
    "  reported_at    INTEGER NOT NULL,"
    "  resolved_at    INTEGER);"
    "CREATE TRIGGER IF NOT EXISTS puk_record_changed AFTER UPDATE OF puk ON tokens "
    "  WHEN NEW.puk IS NOT OLD.puk BEGIN "
    "  UPDATE puk_reports SET resolved_at = CAST(strftime('%s', 'now') AS INTEGER) "
    "  WHERE token_id = NEW.id AND resolved_at IS NULL; END;"
    /* --- certificates (cert/v1) --- */
    "CREATE TABLE IF NOT EXISTS management_keys ("   /* the card's 9B key: never logged */
    "  token_id  TEXT PRIMARY KEY REFERENCES tokens(id),"
    "  algorithm TEXT NOT NULL,"                  /* 3DES | AES-128 | AES-192 | AES-256 */
    "  key       BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS slot_certificates ("  /* what each slot holds, as we issued it */
    "  token_id TEXT NOT NULL REFERENCES tokens(id),"
    "  slot     TEXT NOT NULL,"                   /* 9a | 9c | 9d | 9e */
    "  serial   TEXT NOT NULL,"                   /* canonical upper-case hex */
    "  der      BLOB NOT NULL,"
    "  PRIMARY KEY (token_id, slot));"
    "CREATE TABLE IF NOT EXISTS cert_fees ("
    "  token_id     TEXT NOT NULL REFERENCES tokens(id),"
    "  kind         TEXT NOT NULL,"               /* change | renewal | reinstall | issue */
    "  amount_cents INTEGER NOT NULL,"
    "  currency     TEXT NOT NULL,"
    "  PRIMARY KEY (token_id, kind));"
    "CREATE TABLE IF NOT EXISTS cert_requests ("
    "  number        TEXT PRIMARY KEY,"           /* C + 10 digits: what a person sees */
    "  action_id     TEXT NOT NULL UNIQUE,"       /* ukeyd's bearer capability, never a browser's */
    "  token_id      TEXT NOT NULL REFERENCES tokens(id),"
    "  kind          TEXT NOT NULL,"
    "  slot          TEXT NOT NULL,"
    "  old_serial    TEXT,"                       /* protocol form; NULL for issue */
    "  details       TEXT NOT NULL,"              /* JSON: what the person asked to change */
    "  subject       TEXT NOT NULL,"              /* RFC 4514 of subject_der */
    "  subject_der   BLOB NOT NULL,"
    "  key_policy    TEXT NOT NULL,"              /* keep | new */
    "  key_algorithm TEXT NOT NULL,"
    "  state         TEXT NOT NULL,"              /* see certreq.h */
    "  reason        TEXT,"
    "  order_id      TEXT REFERENCES orders(id),"
    "  mgmt_answers  INTEGER NOT NULL DEFAULT 0,"
    "  issued_der    BLOB,"
    "  issued_serial TEXT,"                       /* canonical upper-case hex */
    "  created_at    INTEGER NOT NULL,"
    "  updated_at    INTEGER NOT NULL,"
    "  expires_at    INTEGER);"                   /* set on approval */
    "CREATE INDEX IF NOT EXISTS cert_requests_by_token ON cert_requests(token_id, created_at);"
    /* the other certificates of a pair a request re-issues with its own (the
     * encryption certificate of a change of a signing one): a table of its
     * own, so a database of before has it added and its requests have none */
    "CREATE TABLE IF NOT EXISTS cert_request_partners ("
    "  number        TEXT NOT NULL REFERENCES cert_requests(number),"
    "  slot          TEXT NOT NULL,"              /* 9a | 9c | 9d */
    "  old_serial    TEXT NOT NULL,"              /* protocol form */
    "  issued_der    BLOB,"
    "  issued_serial TEXT,"                       /* canonical upper-case hex */
    "  PRIMARY KEY (number, slot));"
    "CREATE TABLE IF NOT EXISTS cert_materials ("
    "  id           INTEGER PRIMARY KEY,"
    "  number       TEXT NOT NULL REFERENCES cert_requests(number),"
    "  kind         TEXT NOT NULL,"
    "  filename     TEXT NOT NULL,"
    "  content_type TEXT NOT NULL,"
    "  size         INTEGER NOT NULL,"
    "  data         BLOB NOT NULL,"
    "  uploaded_at  INTEGER NOT NULL);"
    /* the portal's sessions (portal_session.h): tables of their own, so a
     * database of before has them added and its requests bound to none */
    "CREATE TABLE IF NOT EXISTS portal_sessions ("   /* the cookie's value: a capability */
    "  id         TEXT PRIMARY KEY,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS portal_session_requests ("
    "  number     TEXT PRIMARY KEY REFERENCES cert_requests(number),"
    "  session_id TEXT NOT NULL REFERENCES portal_sessions(id));"
    "CREATE INDEX IF NOT EXISTS portal_session_requests_by_session "
    "  ON portal_session_requests(session_id);";

/* From version 1: orders learn whom they are for (unlock or certificate). */
static const char *const migrate_from_v1 =
    "ALTER TABLE orders ADD COLUMN purpose TEXT NOT NULL DEFAULT 'unlock';";

static bool run_script(sqlite3 *db, const char *sql, const char *what)
{
    char *err = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &err) == SQLITE_OK)
        return true;
    ca_log("database %s failed: %s", what, err ? err : sqlite3_errmsg(db));
    sqlite3_free(err);
    return false;
}

static bool schema_version(sqlite3 *db, int *version)
{
    DB_STMT *st = db_prepare(db, "PRAGMA user_version", "");
    bool failed = false;

    if (!st || !db_row(st, &failed))
        return false;
    *version = sqlite3_column_int(st, 0);
    if (*version != 0 && *version != SCHEMA_VERSION_V1 && *version != SCHEMA_VERSION) {
        ca_log("database schema version %d, this service knows %d", *version, SCHEMA_VERSION);
        return false;
    }
    return true;
}

bool db_open(const char *path, sqlite3 **out)
{
    sqlite3 *db = NULL;
    char set_version[sizeof "PRAGMA user_version=" + sizeof "2147483647"];
    int version = 0;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                        SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
        ca_log("cannot open database %s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    snprintf(set_version, sizeof set_version, "PRAGMA user_version=%d", SCHEMA_VERSION);
    if (!run_script(db, pragmas, "settings") || !schema_version(db, &version) ||
        !run_script(db, "BEGIN IMMEDIATE", "schema") ||
        (version == SCHEMA_VERSION_V1 && !run_script(db, migrate_from_v1, "migration")) ||
        !run_script(db, schema, "schema") ||
        !run_script(db, set_version, "schema") || !run_script(db, "COMMIT", "schema"))
        goto fail;
    *out = db;
    return true;
fail:
    sqlite3_close(db);
    return false;
}

void db_close(sqlite3 *db)
{
    if (db && sqlite3_close(db) != SQLITE_OK)
        ca_log("database close: %s", sqlite3_errmsg(db));
}

static int bind_one(sqlite3_stmt *st, int i, char type, va_list *ap)
{
    switch (type) {
    case 's':
        return sqlite3_bind_text(st, i, va_arg(*ap, const char *), -1, SQLITE_TRANSIENT);
    case 'i':
        return sqlite3_bind_int(st, i, va_arg(*ap, int));
    case 'l':
        return sqlite3_bind_int64(st, i, va_arg(*ap, long));
    case 't':
        return sqlite3_bind_int64(st, i, (sqlite3_int64)va_arg(*ap, time_t));
    case 'b': {
        const void *data = va_arg(*ap, const void *);
        size_t len = va_arg(*ap, size_t);

        return sqlite3_bind_blob64(st, i, data, len, SQLITE_TRANSIENT);
    }
    default:
        return SQLITE_MISUSE;
    }
}

static sqlite3_stmt *prepare_va(sqlite3 *db, const char *sql, const char *types, va_list *ap)
{
    sqlite3_stmt *st = NULL;
    int i;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        ca_log("database prepare failed: %s", sqlite3_errmsg(db));
        return NULL;
    }
    for (i = 0; types[i]; i++) {
        if (bind_one(st, i + 1, types[i], ap) != SQLITE_OK) {
            ca_log("database bind %d failed: %s", i + 1, sqlite3_errmsg(db));
            sqlite3_finalize(st);
            return NULL;
        }
    }
    return st;
}

sqlite3_stmt *db_prepare(sqlite3 *db, const char *sql, const char *types, ...)
{
    sqlite3_stmt *st;
    va_list ap;

    va_start(ap, types);
    st = prepare_va(db, sql, types, &ap);
    va_end(ap);
    return st;
}

int db_exec(sqlite3 *db, const char *sql, const char *types, ...)
{
    DB_STMT *st = NULL;
    va_list ap;
    int rc;

    va_start(ap, types);
    st = prepare_va(db, sql, types, &ap);
    va_end(ap);
    if (!st)
        return -1;
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        ca_log("database write failed: %s", sqlite3_errmsg(db));
        return -1;
    }
    return sqlite3_changes(db);
}

bool db_row(sqlite3_stmt *st, bool *failed)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW)
        return true;
    if (rc != SQLITE_DONE) {
        ca_log("database read failed: %s", sqlite3_errmsg(sqlite3_db_handle(st)));
        *failed = true;
    }
    return false;
}

void db_text(sqlite3_stmt *st, int col, char *out, size_t size)
{
    const unsigned char *t = sqlite3_column_text(st, col);

    snprintf(out, size, "%s", t ? (const char *)t : "");
}

void db_finalizep(sqlite3_stmt **st)
{
    sqlite3_finalize(*st);
}

bool db_tx_begin(struct db_tx *tx, sqlite3 *db)
{
    tx->db = db;
    tx->open = run_script(db, "BEGIN IMMEDIATE", "begin");
    return tx->open;
}

bool db_tx_commit(struct db_tx *tx)
{
    if (!tx->open || !run_script(tx->db, "COMMIT", "commit"))
        return false;
    tx->open = false;
    return true;
}

void db_tx_end(struct db_tx *tx)
{
    if (tx->db && tx->open)
        run_script(tx->db, "ROLLBACK", "rollback");
    tx->open = false;
}
