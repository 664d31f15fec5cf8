/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/db.h — the service's SQLite database: opening it
 * (WAL, full sync, secure delete, foreign keys), its schema, and the few
 * helpers every query goes through. Every query is a prepared statement
 * with bound parameters; no SQL is ever built from data.
 */
#ifndef UKEY_CA_DB_H
#define UKEY_CA_DB_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

/* Opens (creating if need be) the database at path and its schema. */
bool db_open(const char *path, sqlite3 **out);
void db_close(sqlite3 *db);

/*
 * Prepares sql and binds its parameters, described one character each by
 * `types`: 's' const char * (NULL binds NULL), 'i' int, 'l' long,
 * 't' time_t, 'b' a blob as (const void *, size_t). NULL on error (logged).
 */
sqlite3_stmt *db_prepare(sqlite3 *db, const char *sql, const char *types, ...);

/* Runs a statement that returns no rows: the rows it changed, or -1. */
int db_exec(sqlite3 *db, const char *sql, const char *types, ...);

/* One step: true for a row, false when done or on error (*failed says which). */
bool db_row(sqlite3_stmt *st, bool *failed);

/* A column's text into out (truncated to fit; "" for NULL). */
void db_text(sqlite3_stmt *st, int col, char *out, size_t size);

void db_finalizep(sqlite3_stmt **st);
#define DB_STMT __attribute__((cleanup(db_finalizep))) sqlite3_stmt

/* A write transaction that rolls back unless committed before it goes out
 * of scope: declare with DB_TX, begin, then commit. */
struct db_tx {
    sqlite3 *db;
    bool open;
};
bool db_tx_begin(struct db_tx *tx, sqlite3 *db);
bool db_tx_commit(struct db_tx *tx);
void db_tx_end(struct db_tx *tx);
#define DB_TX __attribute__((cleanup(db_tx_end))) struct db_tx

#endif
