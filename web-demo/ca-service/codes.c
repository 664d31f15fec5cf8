/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/codes.c — issuing and checking SMS and unlock codes
 * (see codes.h). Both kinds share one table layout and one checking rule;
 * only whose code it is differs (the request's or the token's).
 */
#include "codes.h"

#include <string.h>

#include "db.h"
#include "log.h"
#include "secret.h"

struct code_sql {
    const char *latest;      /* the newest code not superseded: (key) */
    const char *update;      /* (wrong_attempts, state, id) */
};

static const struct code_sql code_sql[] = {
    [CODE_SMS] = {
        "SELECT id, code, expires_at, wrong_attempts, state FROM sms_codes "
        "WHERE request_id = ? AND state <> 'superseded' ORDER BY id DESC LIMIT 1",
        "UPDATE sms_codes SET wrong_attempts = ?, state = ? WHERE id = ?",
    },
    [CODE_UNLOCK] = {
        "SELECT id, code, expires_at, wrong_attempts, state FROM unlock_codes "
        "WHERE token_id = ? AND state <> 'superseded' ORDER BY id DESC LIMIT 1",
        "UPDATE unlock_codes SET wrong_attempts = ?, state = ? WHERE id = ?",
    },
};

struct code_row {
    long id;
    char code[CA_CODE_DIGITS + 1];
    time_t expires_at;
    int wrong_attempts;
    char state[sizeof "superseded"];
};

bool codes_issue_sms(sqlite3 *db, const char *request_id, long ttl_s,
                     char code[CA_CODE_DIGITS + 1])
{
    time_t now = time(NULL);

    return secret_random_digits(code, CA_CODE_DIGITS) &&
           db_exec(db, "UPDATE sms_codes SET state = 'superseded' WHERE request_id = ? "
                       "AND state = 'active'", "s", request_id) >= 0 &&
           db_exec(db, "INSERT INTO sms_codes (request_id, code, issued_at, expires_at, state) "
                       "VALUES (?, ?, ?, ?, 'active')", "sstt", request_id, code, now,
                   now + ttl_s) == 1;
}

bool codes_issue_unlock(sqlite3 *db, const char *review_id, const char *request_id,
                        const char *token_id, long ttl_s, char code[CA_CODE_DIGITS + 1],
                        time_t *expires_at)
{
    time_t now = time(NULL);

    *expires_at = now + ttl_s;
    return secret_random_digits(code, CA_CODE_DIGITS) &&
           db_exec(db, "UPDATE unlock_codes SET state = 'superseded' WHERE token_id = ? "
                       "AND state = 'active'", "s", token_id) >= 0 &&
           db_exec(db, "INSERT INTO unlock_codes (review_id, request_id, token_id, code, "
                       "issued_at, expires_at, state) VALUES (?, ?, ?, ?, ?, ?, 'active')",
                   "ssss" "tt", review_id, request_id, token_id, code, now, *expires_at) == 1;
}

/* CA_OK with the row, CA_CODE_NOT_ISSUED, or CA_INTERNAL. */
static enum ca_code latest_code(sqlite3 *db, enum code_kind kind, const char *key,
                                struct code_row *row)
{
    DB_STMT *st = db_prepare(db, code_sql[kind].latest, "s", key);
    bool failed = false;

    if (!st)
        return CA_INTERNAL;
    if (!db_row(st, &failed))
        return failed ? CA_INTERNAL : CA_CODE_NOT_ISSUED;
    row->id = (long)sqlite3_column_int64(st, 0);
    db_text(st, 1, row->code, sizeof row->code);
    row->expires_at = (time_t)sqlite3_column_int64(st, 2);
    row->wrong_attempts = sqlite3_column_int(st, 3);
    db_text(st, 4, row->state, sizeof row->state);
    return CA_OK;
}

static bool update_code(sqlite3 *db, enum code_kind kind, const struct code_row *row)
{
    return db_exec(db, code_sql[kind].update, "isl", row->wrong_attempts, row->state,
                   row->id) == 1;
}

static struct ca_problem attempts_problem(enum ca_code code, int wrong_attempts)
{
    struct ca_problem p = ca_fail(code);

    p.attempts_left = CA_CODE_ATTEMPTS - wrong_attempts;
    return p;
}

/* What the stored code says before the given one is even looked at. */
static struct ca_problem code_usable(const struct code_row *row)
{
    if (strcmp(row->state, "burnt") == 0)
        return attempts_problem(CA_TOO_MANY_ATTEMPTS, CA_CODE_ATTEMPTS);
    if (strcmp(row->state, "active") != 0)
        return ca_fail(CA_CODE_NOT_ISSUED);
    if (time(NULL) >= row->expires_at)
        return ca_fail(CA_CODE_EXPIRED);
    return ca_ok();
}

/* Counts a wrong try; the last allowed one burns the code. */
static struct ca_problem wrong_try(sqlite3 *db, enum code_kind kind, struct code_row *row)
{
    row->wrong_attempts++;
    if (row->wrong_attempts >= CA_CODE_ATTEMPTS)
        snprintf(row->state, sizeof row->state, "burnt");
    if (!update_code(db, kind, row))
        return ca_fail(CA_INTERNAL);
    return attempts_problem(row->wrong_attempts >= CA_CODE_ATTEMPTS ? CA_TOO_MANY_ATTEMPTS
                                                                    : CA_CODE_INCORRECT,
                            row->wrong_attempts);
}

static struct ca_problem right_code(sqlite3 *db, enum code_kind kind, struct code_row *row,
                                    const struct unlock_request *r)
{
    snprintf(row->state, sizeof row->state, "used");
    if (!update_code(db, kind, row) || !request_set_state(db, r->id, RS_AUTHORIZED))
        return ca_fail(CA_INTERNAL);
    ca_log("request %.12s… authorised by %s code", r->id, kind == CODE_SMS ? "SMS" : "unlock");
    return ca_ok();
}

static struct ca_problem check_code(sqlite3 *db, const struct unlock_request *r,
                                    enum code_kind kind, const char *given)
{
    struct code_row row;
    struct ca_problem p;
    enum ca_code code = latest_code(db, kind, kind == CODE_SMS ? r->id : r->token_id, &row);

    if (code != CA_OK)
        return ca_fail(code);
    p = code_usable(&row);
    if (p.code == CA_OK)
        p = secret_equal(given, row.code) ? right_code(db, kind, &row, r)
                                          : wrong_try(db, kind, &row);
    secret_wipe(row.code, sizeof row.code);
    return p;
}

struct ca_problem codes_verify(struct ca *ca, const struct unlock_request *r, enum code_kind kind,
                               const char *given)
{
    DB_TX tx = { 0 };
    struct ca_problem p;

    if (!db_tx_begin(&tx, ca->db))
        return ca_fail(CA_INTERNAL);
    p = check_code(ca->db, r, kind, given);
    /* a wrong try is committed too: that is what makes the limit hold */
    if (p.code != CA_INTERNAL && !db_tx_commit(&tx))
        return ca_fail(CA_INTERNAL);
    return p;
}
