/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/rotation.c — handing out PUK pairs, and settling them
 * (see rotation.h). Every change here is one transaction: the token's PUK,
 * its pending PUK, the rotation and its requests move together or not at
 * all. PUK values are wiped from the stack after use and never logged.
 */
#include "rotation.h"

#include <string.h>

#include "db.h"
#include "log.h"
#include "payment.h"
#include "secret.h"

#define ROTATION_STATE_MAX  16

struct puk_pair {
    char puk[CA_PUK_DIGITS + 1];
    char next[CA_PUK_DIGITS + 1];
    char rotation_id[CA_ID_MAX];      /* "" when nothing is pending */
};

static void wipe_pair(struct puk_pair *p)
{
    secret_wipe(p, sizeof *p);
}
#define PUK_PAIR __attribute__((cleanup(wipe_pair))) struct puk_pair

static bool load_pair(sqlite3 *db, const char *token_id, struct puk_pair *out)
{
    DB_STMT *st = db_prepare(db, "SELECT puk, pending_puk, pending_rotation FROM tokens "
                                 "WHERE id = ?", "s", token_id);
    bool failed = false;

    if (!st || !db_row(st, &failed))
        return false;
    db_text(st, 0, out->puk, sizeof out->puk);
    db_text(st, 1, out->next, sizeof out->next);
    db_text(st, 2, out->rotation_id, sizeof out->rotation_id);
    return true;
}

/* A fresh PUK, never the one the card has now: confirming would be moot. */
static bool start_rotation(sqlite3 *db, const char *token_id, struct puk_pair *pair)
{
    do {
        if (!secret_random_digits(pair->next, CA_PUK_DIGITS))
            return false;
    } while (strcmp(pair->next, pair->puk) == 0);
    if (!secret_random_id("rot-", pair->rotation_id, sizeof pair->rotation_id))
        return false;
    return db_exec(db, "UPDATE tokens SET pending_puk = ?, pending_rotation = ? WHERE id = ? "
                       "AND pending_rotation IS NULL", "sss", pair->next, pair->rotation_id,
                   token_id) == 1 &&
           db_exec(db, "INSERT INTO rotations (id, token_id, state, created_at) "
                       "VALUES (?, ?, 'pending', ?)", "sst", pair->rotation_id, token_id,
                   time(NULL)) == 1;
}

static json_t *pair_json(const struct puk_pair *pair)
{
    return json_pack("{s:s, s:s, s:s}", "rotationId", pair->rotation_id, "puk", pair->puk,
                     "nextPuk", pair->next);
}

static struct ca_problem hand_out_pair(struct ca *ca, const struct unlock_request *r,
                                       json_t **out)
{
    PUK_PAIR pair = { 0 };
    bool resumed;

    if (!load_pair(ca->db, r->token_id, &pair))
        return ca_fail(CA_INTERNAL);
    resumed = pair.rotation_id[0] != '\0';
    if (!resumed && !start_rotation(ca->db, r->token_id, &pair))
        return ca_fail(CA_INTERNAL);
    if (db_exec(ca->db, "UPDATE requests SET rotation_id = ? WHERE id = ?", "ss",
                pair.rotation_id, r->id) != 1 ||
        !(*out = pair_json(&pair)) ||
        json_object_set_new(*out, "resumed", json_boolean(resumed)))
        return ca_fail(CA_INTERNAL);
    ca_log("request %.12s… PUK pair handed out, rotation %.12s… %s", r->id, pair.rotation_id,
           resumed ? "resumed" : "pending");
    return ca_ok();
}

/* Whether a card refused this token's PUK on record and support has not looked yet. */
static enum ca_code puk_record_disputed(sqlite3 *db, const char *token_id)
{
    DB_STMT *st = db_prepare(db, "SELECT 1 FROM puk_reports WHERE token_id = ? "
                                 "AND resolved_at IS NULL", "s", token_id);
    bool failed = false;

    if (!st)
        return CA_INTERNAL;
    if (db_row(st, &failed))
        return CA_PUK_RECORD_MISMATCH;
    return failed ? CA_INTERNAL : CA_OK;
}

struct ca_problem rotation_authorize(struct ca *ca, const struct unlock_request *r,
                                     json_t **out)
{
    DB_TX tx = { 0 };
    struct ca_problem p;
    enum ca_code code;

    *out = NULL;
    if (r->state == RS_EXPIRED)
        return ca_fail(CA_REQUEST_EXPIRED);
    if (r->state != RS_AUTHORIZED)
        return request_state_conflict(r);
    if (!db_tx_begin(&tx, ca->db))
        return ca_fail(CA_INTERNAL);
    if ((code = puk_record_disputed(ca->db, r->token_id)) != CA_OK)
        return ca_fail(code);
    p = hand_out_pair(ca, r, out);
    if (p.code == CA_OK && db_tx_commit(&tx))
        return p;
    json_decref(*out);
    *out = NULL;
    return p.code != CA_OK ? p : ca_fail(CA_INTERNAL);
}

/* --- settling ------------------------------------------------------------- */

struct rotation_rec {
    char token_id[CA_TOKEN_ID_MAX];
    char state[ROTATION_STATE_MAX];
};

static enum ca_code load_rotation(sqlite3 *db, const char *id, struct rotation_rec *out)
{
    DB_STMT *st = db_prepare(db, "SELECT token_id, state FROM rotations WHERE id = ?", "s", id);
    bool failed = false;

    if (!st)
        return CA_INTERNAL;
    if (!db_row(st, &failed))
        return failed ? CA_INTERNAL : CA_ROTATION_UNKNOWN;
    db_text(st, 0, out->token_id, sizeof out->token_id);
    db_text(st, 1, out->state, sizeof out->state);
    return CA_OK;
}

static bool is_pending(const struct rotation_rec *rot)
{
    return strcmp(rot->state, "pending") == 0;
}

static struct ca_problem settled_as(enum ca_code code, const struct rotation_rec *rot)
{
    struct ca_problem p = ca_fail(code);

    p.result = strcmp(rot->state, "rotated") == 0 ? "rotated" : "unchanged";
    return p;
}

/* The requests the rotation served are done, their fees spent. */
static bool complete_requests(sqlite3 *db, const char *id)
{
    return orders_consume_for_rotation(db, id) &&
           db_exec(db, "UPDATE requests SET state = 'completed' WHERE rotation_id = ?", "s",
                   id) >= 0;
}

/* The requests stay authorised and may ask for a new pair. */
static bool release_requests(sqlite3 *db, const char *id)
{
    return db_exec(db, "UPDATE requests SET rotation_id = NULL WHERE rotation_id = ?", "s",
                   id) >= 0;
}

/* The card took the new PUK: it becomes the PUK, the old one is gone. */
static bool settle_rotated(sqlite3 *db, const char *id, const char *token_id, bool pin_reset)
{
    return db_exec(db, "UPDATE tokens SET puk = pending_puk, pending_puk = NULL, "
                       "pending_rotation = NULL WHERE id = ? AND pending_rotation = ?", "ss",
                   token_id, id) == 1 &&
           (pin_reset ? complete_requests(db, id) : release_requests(db, id));
}

/* The card kept its PUK: the fresh one is dropped. */
static bool settle_unchanged(sqlite3 *db, const char *id, const char *token_id)
{
    return db_exec(db, "UPDATE tokens SET pending_puk = NULL, pending_rotation = NULL "
                       "WHERE id = ? AND pending_rotation = ?", "ss", token_id, id) == 1 &&
           release_requests(db, id);
}

static struct ca_problem settle(sqlite3 *db, const char *id, const char *result, bool pin_reset)
{
    struct rotation_rec rot;
    enum ca_code code = load_rotation(db, id, &rot);
    bool rotated = strcmp(result, "rotated") == 0;

    if (code != CA_OK)
        return ca_fail(code);
    if (!is_pending(&rot))   /* a repeated confirmation: fine if it says the same */
        return strcmp(rot.state, result) == 0 ? ca_ok() : settled_as(CA_ROTATION_CONFLICT, &rot);
    if (!(rotated ? settle_rotated(db, id, rot.token_id, pin_reset)
                  : settle_unchanged(db, id, rot.token_id)) ||
        db_exec(db, "UPDATE rotations SET state = ?, settled_at = ? WHERE id = ?", "sts", result,
                time(NULL), id) != 1)
        return ca_fail(CA_INTERNAL);
    ca_log("rotation %.12s… of %s confirmed: %s%s", id, rot.token_id, result,
           pin_reset ? "" : " (PIN not reset: request stays authorised)");
    return ca_ok();
}

struct ca_problem rotation_confirm(struct ca *ca, const char *rotation_id, const char *result,
                                   bool pin_reset, json_t **out)
{
    DB_TX tx = { 0 };
    struct ca_problem p;

    *out = NULL;
    if (strcmp(result, "rotated") != 0 && strcmp(result, "unchanged") != 0)
        return ca_bad_field("result");
    if (!db_tx_begin(&tx, ca->db))
        return ca_fail(CA_INTERNAL);
    if ((p = settle(ca->db, rotation_id, result, pin_reset)).code != CA_OK)
        return p;
    if (!db_tx_commit(&tx) ||
        !(*out = json_pack("{s:s, s:s}", "rotationId", rotation_id, "result", result)))
        return ca_fail(CA_INTERNAL);
    return ca_ok();
}

/* A repeated report (a client that lost the answer) is recorded once. */
static bool record_report(sqlite3 *db, const char *rotation_id, const char *token_id,
                          const char *problem, int puk_tries_left)
{
    if (puk_tries_left < 0)
        return db_exec(db, "INSERT OR IGNORE INTO puk_reports (rotation_id, token_id, problem, "
                           "reported_at) VALUES (?, ?, ?, ?)", "ssst", rotation_id, token_id,
                       problem, time(NULL)) >= 0;
    return db_exec(db, "INSERT OR IGNORE INTO puk_reports (rotation_id, token_id, problem, "
                       "puk_tries_left, reported_at) VALUES (?, ?, ?, ?, ?)", "sssit",
                   rotation_id, token_id, problem, puk_tries_left, time(NULL)) >= 0;
}

struct ca_problem rotation_report(struct ca *ca, const char *rotation_id, const char *problem,
                                  int puk_tries_left, json_t **out)
{
    struct rotation_rec rot;
    enum ca_code code;

    *out = NULL;
    if (strcmp(problem, "puk-incorrect") != 0 && strcmp(problem, "puk-unfit") != 0)
        return ca_bad_field("cardRefused");
    if ((code = load_rotation(ca->db, rotation_id, &rot)) != CA_OK)
        return ca_fail(code);
    if (!record_report(ca->db, rotation_id, rot.token_id, problem, puk_tries_left) ||
        !(*out = json_pack("{s:s, s:b}", "rotationId", rotation_id, "recorded", 1)))
        return ca_fail(CA_INTERNAL);
    ca_log("rotation %.12s… of %s: the client's card refused the PUK on record (%s); "
           "no more PUK pairs for this token until support checks its record", rotation_id,
           rot.token_id, problem);
    return ca_ok();
}

struct ca_problem rotation_reconcile(struct ca *ca, const char *rotation_id, json_t **out)
{
    struct rotation_rec rot;
    PUK_PAIR pair = { 0 };
    enum ca_code code = load_rotation(ca->db, rotation_id, &rot);

    *out = NULL;
    if (code != CA_OK)
        return ca_fail(code);
    if (!is_pending(&rot))
        return settled_as(CA_ROTATION_CLOSED, &rot);
    if (!load_pair(ca->db, rot.token_id, &pair) || strcmp(pair.rotation_id, rotation_id) != 0 ||
        !(*out = pair_json(&pair)))
        return ca_fail(CA_INTERNAL);
    return ca_ok();
}
