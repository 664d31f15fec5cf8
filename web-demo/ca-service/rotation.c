/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/rotation.c — handing out PUK pairs, and settling them
 * (see rotation.h). Every change here is one transaction: the token's PUK,
 * its pending PUK, the rotation and its requests move together or not at
 * all. PUK values are wiped from the stack after use and never logged.
 */
#include "rotation.h"

#include <string.h>

#include <openssl/crypto.h>

#include "codec.h"
#include "db.h"
#include "log.h"
#include "payment.h"
#include "secret.h"
#include "unblock.h"

#define ROTATION_STATE_MAX  16

/* The token's unlock secret (PUK or admin PIN) and, while a rotation is
 * pending, the next one: a remote-challenge rotation's is the same secret. */
struct puk_pair {
    char puk[CA_SECRET_MAX + 1];
    char next[CA_SECRET_MAX + 1];
    char rotation_id[CA_ID_MAX];      /* "" when nothing is pending */
    enum mechanism mechanism;         /* the pending rotation's */
};

/* The members that carry each handed-out mechanism's secrets. */
static const char *const secret_members[MECH__COUNT][2] = {
    [MECH_PUK] = { "puk", "nextPuk" },
    [MECH_ADMIN_PIN] = { "adminPin", "nextAdminPin" },
};

static void wipe_pair(struct puk_pair *p)
{
    secret_wipe(p, sizeof *p);
}
#define PUK_PAIR __attribute__((cleanup(wipe_pair))) struct puk_pair

static bool load_pair(sqlite3 *db, const char *token_id, struct puk_pair *out)
{
    DB_STMT *st = db_prepare(db, "SELECT t.puk, t.pending_puk, t.pending_rotation, r.mechanism "
                                 "FROM tokens t LEFT JOIN rotations r "
                                 "ON r.id = t.pending_rotation WHERE t.id = ?", "s", token_id);
    bool failed = false;

    if (!st || !db_row(st, &failed))
        return false;
    db_text(st, 0, out->puk, sizeof out->puk);
    db_text(st, 1, out->next, sizeof out->next);
    db_text(st, 2, out->rotation_id, sizeof out->rotation_id);
    if (!mechanism_of_name((const char *)sqlite3_column_text(st, 3), &out->mechanism))
        out->mechanism = MECH_PUK;
    return true;
}

/* A fresh secret, never the one the token has now (confirming would be
 * moot); none for a remote-challenge rotation, whose secret stays here. */
static bool fresh_secret(struct puk_pair *pair)
{
    size_t digits = pair->mechanism == MECH_ADMIN_PIN ? CA_ADMIN_PIN_DIGITS : CA_PUK_DIGITS;

    if (pair->mechanism == MECH_REMOTE) {
        memcpy(pair->next, pair->puk, sizeof pair->next);
        return true;
    }
    do {
        if (!secret_random_digits(pair->next, digits))
            return false;
    } while (strcmp(pair->next, pair->puk) == 0);
    return true;
}

static bool start_rotation(sqlite3 *db, const char *token_id, enum mechanism mechanism,
                           struct puk_pair *pair)
{
    pair->mechanism = mechanism;
    if (!fresh_secret(pair) ||
        !secret_random_id("rot-", pair->rotation_id, sizeof pair->rotation_id))
        return false;
    return db_exec(db, "UPDATE tokens SET pending_puk = ?, pending_rotation = ? WHERE id = ? "
                       "AND pending_rotation IS NULL", "sss", pair->next, pair->rotation_id,
                   token_id) == 1 &&
           db_exec(db, "INSERT INTO rotations (id, token_id, state, created_at, mechanism) "
                       "VALUES (?, ?, 'pending', ?, ?)", "ssts", pair->rotation_id, token_id,
                   time(NULL), mechanism_name(mechanism)) == 1;
}

static json_t *pair_json(const struct puk_pair *pair)
{
    const char *const *names = secret_members[pair->mechanism];
    json_t *v = json_pack("{s:s, s:s}", "rotationId", pair->rotation_id, "mechanism",
                          mechanism_name(pair->mechanism));

    if (v && pair->mechanism != MECH_REMOTE &&
        (json_object_set_new(v, names[0], json_string(pair->puk)) ||
         json_object_set_new(v, names[1], json_string(pair->next)))) {
        json_decref(v);
        return NULL;
    }
    return v;
}

static struct ca_problem hand_out_pair(struct ca *ca, const struct unlock_request *r,
                                       json_t **out)
{
    PUK_PAIR pair = { 0 };
    bool resumed;

    if (!load_pair(ca->db, r->token_id, &pair))
        return ca_fail(CA_INTERNAL);
    /* a pending rotation is answered again, whichever mechanism it has */
    resumed = pair.rotation_id[0] != '\0';
    if (!resumed && !start_rotation(ca->db, r->token_id, r->mechanism, &pair))
        return ca_fail(CA_INTERNAL);
    if (db_exec(ca->db, "UPDATE requests SET rotation_id = ? WHERE id = ?", "ss",
                pair.rotation_id, r->id) != 1 ||
        !(*out = pair_json(&pair)) ||
        json_object_set_new(*out, "resumed", json_boolean(resumed)))
        return ca_fail(CA_INTERNAL);
    ca_log("request %.12s… authorised by %s, rotation %.12s… %s", r->id,
           mechanism_name(pair.mechanism), pair.rotation_id, resumed ? "resumed" : "pending");
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

struct ca_problem rotation_authorize(struct ca *ca, struct unlock_request *r, unsigned offered,
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
    if (offered && (p = request_reoffer(ca, r, offered)).code != CA_OK)
        return p;
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
    enum mechanism mechanism;
};

static enum ca_code load_rotation(sqlite3 *db, const char *id, struct rotation_rec *out)
{
    DB_STMT *st = db_prepare(db, "SELECT token_id, state, mechanism FROM rotations WHERE id = ?",
                             "s", id);
    bool failed = false;

    if (!st)
        return CA_INTERNAL;
    if (!db_row(st, &failed))
        return failed ? CA_INTERNAL : CA_ROTATION_UNKNOWN;
    db_text(st, 0, out->token_id, sizeof out->token_id);
    db_text(st, 1, out->state, sizeof out->state);
    if (!mechanism_of_name((const char *)sqlite3_column_text(st, 2), &out->mechanism))
        out->mechanism = MECH_PUK;
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

/* The card kept its PUK: the fresh one is dropped. A remote-challenge
 * rotation never changes the secret, so "unchanged" is its only result, and
 * with the PIN set its requests are done. */
static bool settle_unchanged(sqlite3 *db, const struct rotation_rec *rot, const char *id,
                             bool pin_reset)
{
    return db_exec(db, "UPDATE tokens SET pending_puk = NULL, pending_rotation = NULL "
                       "WHERE id = ? AND pending_rotation = ?", "ss", rot->token_id, id) == 1 &&
           (rot->mechanism == MECH_REMOTE && pin_reset ? complete_requests(db, id)
                                                       : release_requests(db, id));
}

static struct ca_problem settle(sqlite3 *db, const char *id, const char *result, bool pin_reset)
{
    struct rotation_rec rot;
    enum ca_code code = load_rotation(db, id, &rot);
    bool rotated = strcmp(result, "rotated") == 0;

    if (code != CA_OK)
        return ca_fail(code);
    if (rotated && rot.mechanism == MECH_REMOTE)
        return ca_bad_field("result");
    if (!is_pending(&rot))   /* a repeated confirmation: fine if it says the same */
        return strcmp(rot.state, result) == 0 ? ca_ok() : settled_as(CA_ROTATION_CONFLICT, &rot);
    if (!(rotated ? settle_rotated(db, id, rot.token_id, pin_reset)
                  : settle_unchanged(db, &rot, id, pin_reset)) ||
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
    if (strcmp(problem, "puk-incorrect") != 0 && strcmp(problem, "puk-unfit") != 0 &&
        strcmp(problem, "answer-incorrect") != 0)
        return ca_bad_field("cardRefused");
    if ((code = load_rotation(ca->db, rotation_id, &rot)) != CA_OK)
        return ca_fail(code);
    if (!record_report(ca->db, rotation_id, rot.token_id, problem, puk_tries_left) ||
        !(*out = json_pack("{s:s, s:b}", "rotationId", rotation_id, "recorded", 1)))
        return ca_fail(CA_INTERNAL);
    ca_log("rotation %.12s… of %s: the client's token refused the secret on record (%s); "
           "no more unlocks for this token until support checks its record", rotation_id,
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

/* Upper-case hex of the answer; false when out of room. */
static bool answer_hex(const uint8_t *answer, size_t len, char *out, size_t size)
{
    return OPENSSL_buf2hexstr_ex(out, size, NULL, answer, len, '\0') == 1;
}

struct ca_problem rotation_answer(struct ca *ca, const char *rotation_id, const char *challenge_hex,
                                  const char *pin, json_t **out)
{
    uint8_t challenge[UNBLOCK_CHALLENGE_MAX], answer[UNBLOCK_ANSWER_MAX];
    char hex[2 * UNBLOCK_ANSWER_MAX + 1];
    size_t clen = strlen(challenge_hex) / 2, alen = 0;
    struct rotation_rec rot;
    PUK_PAIR pair = { 0 };
    enum ca_code code = load_rotation(ca->db, rotation_id, &rot);
    bool ok;

    *out = NULL;
    if (clen == 0 || clen > sizeof challenge || strlen(challenge_hex) != 2 * clen ||
        !codec_unhex(challenge_hex, challenge, clen))
        return ca_bad_field("challenge");
    if (code != CA_OK)
        return ca_fail(code);
    if (!is_pending(&rot))
        return settled_as(CA_ROTATION_CLOSED, &rot);
    if (rot.mechanism != MECH_REMOTE)
        return ca_fail(CA_MECHANISM_UNSUPPORTED);
    if (!load_pair(ca->db, rot.token_id, &pair) || strcmp(pair.rotation_id, rotation_id) != 0)
        return ca_fail(CA_INTERNAL);
    ok = unblock_answer(pair.puk, challenge, clen, pin, answer, &alen) &&
         answer_hex(answer, alen, hex, sizeof hex) &&
         (*out = json_pack("{s:s, s:s}", "rotationId", rotation_id, "answer", hex)) != NULL;
    secret_wipe(answer, sizeof answer);
    secret_wipe(hex, sizeof hex);
    if (!ok)
        return ca_fail(CA_INTERNAL);
    ca_log("rotation %.12s… of %s: the token's challenge answered", rotation_id, rot.token_id);
    return ca_ok();
}
