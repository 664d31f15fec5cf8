/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/review.c — materials, reviews and their decisions
 * (see review.h).
 */
#include "review.h"

#include <stdlib.h>
#include <string.h>

#include "codes.h"
#include "db.h"
#include "log.h"
#include "requests.h"
#include "secret.h"
#include "text.h"

#define REVIEW_LIST_MAX     100
#define REVIEW_STATE_MAX    16

/* --- uploading ------------------------------------------------------------ */

const char *material_bad_field(const struct material *m)
{
    if (!m->kind || (strcmp(m->kind, "business-licence") != 0 && strcmp(m->kind, "id-copy") != 0))
        return "kind";
    if (!m->data || m->len == 0 || m->len > MATERIAL_MAX_BYTES || !m->filename ||
        strlen(m->filename) > MATERIAL_NAME_MAX || !m->content_type ||
        strlen(m->content_type) >= MATERIAL_TYPE_MAX)
        return "file";
    return NULL;
}

/* The request's pending review, opened when there is none. */
static enum ca_code pending_review(sqlite3 *db, const struct unlock_request *r,
                                   char id[CA_ID_MAX])
{
    DB_STMT *st = db_prepare(db, "SELECT id FROM reviews WHERE request_id = ? "
                                 "AND state = 'pending'", "s", r->id);
    bool failed = false;

    if (!st)
        return CA_INTERNAL;
    if (db_row(st, &failed)) {
        db_text(st, 0, id, CA_ID_MAX);
        return CA_OK;
    }
    if (failed || !secret_random_id("rev-", id, CA_ID_MAX))
        return CA_INTERNAL;
    return db_exec(db, "INSERT INTO reviews (id, request_id, token_id, state, created_at) "
                       "VALUES (?, ?, ?, 'pending', ?)", "ssst", id, r->id, r->token_id,
                   time(NULL)) == 1 ? CA_OK : CA_INTERNAL;
}

static struct ca_problem store_material(sqlite3 *db, const struct unlock_request *r,
                                        const struct material *m)
{
    char review_id[CA_ID_MAX];
    enum ca_code code = pending_review(db, r, review_id);

    if (code != CA_OK)
        return ca_fail(code);
    if (db_exec(db, "INSERT INTO materials (review_id, kind, filename, content_type, size, data, "
                    "uploaded_at) VALUES (?, ?, ?, ?, ?, ?, ?)", "ssssl" "bt", review_id,
                m->kind, m->filename, m->content_type, (long)m->len, m->data, m->len,
                time(NULL)) != 1 ||
        !request_set_state(db, r->id, RS_REVIEW_PENDING))
        return ca_fail(CA_INTERNAL);
    ca_log("request %.12s… material %s (%zu bytes) for review %.12s…", r->id, m->kind, m->len,
           review_id);
    return ca_ok();
}

struct ca_problem review_add_material(struct ca *ca, const char *ticket,
                                      const struct material *m)
{
    struct unlock_request r;
    DB_TX tx = { 0 };
    struct ca_problem p = request_load_by_ticket(ca, ticket, &r);

    if (p.code != CA_OK || (p = request_in_identity_phase(&r)).code != CA_OK)
        return p;
    if (!db_tx_begin(&tx, ca->db))
        return ca_fail(CA_INTERNAL);
    if ((p = store_material(ca->db, &r, m)).code != CA_OK)
        return p;
    return db_tx_commit(&tx) ? ca_ok() : ca_fail(CA_INTERNAL);
}

/* --- deciding ------------------------------------------------------------- */

struct review_rec {
    char request_id[CA_ID_MAX];
    char token_id[CA_TOKEN_ID_MAX];
    char state[REVIEW_STATE_MAX];
};

static struct ca_problem load_pending_review(sqlite3 *db, const char *id, struct review_rec *out)
{
    DB_STMT *st = db_prepare(db, "SELECT request_id, token_id, state FROM reviews WHERE id = ?",
                             "s", id);
    bool failed = false;
    struct ca_problem p;

    if (!st)
        return ca_fail(CA_INTERNAL);
    if (!db_row(st, &failed))
        return ca_fail(failed ? CA_INTERNAL : CA_REVIEW_UNKNOWN);
    db_text(st, 0, out->request_id, sizeof out->request_id);
    db_text(st, 1, out->token_id, sizeof out->token_id);
    db_text(st, 2, out->state, sizeof out->state);
    if (strcmp(out->state, "pending") == 0)
        return ca_ok();
    p = ca_fail(CA_STATE_CONFLICT);
    p.state = strcmp(out->state, "approved") == 0 ? "approved" : "rejected";
    return p;
}

/* The request follows its review unless it has moved on (authorised, expired). */
static bool request_follows(sqlite3 *db, const char *request_id, enum req_state to)
{
    return db_exec(db, "UPDATE requests SET state = ? WHERE id = ? AND state = 'review-pending' "
                       "AND expires_at > ?", "sst", req_state_name(to), request_id,
                   time(NULL)) >= 0;
}

/* An approval's code must outlive the request that asked for it. */
static bool request_lasts_until(sqlite3 *db, const char *request_id, time_t until)
{
    return db_exec(db, "UPDATE requests SET expires_at = max(expires_at, ?) WHERE id = ? "
                       "AND state = 'review-approved'", "ts", until, request_id) >= 0;
}

static struct ca_problem approve(struct ca *ca, const char *id, struct review_decision *out)
{
    struct review_rec rv;
    struct ca_problem p = load_pending_review(ca->db, id, &rv);

    if (p.code != CA_OK)
        return p;
    if (!codes_issue_unlock(ca->db, id, rv.request_id, rv.token_id, ca->t.unlock_code_ttl_s,
                            out->unlock_code, &out->expires_at) ||
        db_exec(ca->db, "UPDATE reviews SET state = 'approved', decided_at = ? WHERE id = ?",
                "ts", time(NULL), id) != 1 ||
        !request_follows(ca->db, rv.request_id, RS_REVIEW_APPROVED) ||
        !request_lasts_until(ca->db, rv.request_id, out->expires_at))
        return ca_fail(CA_INTERNAL);
    return ca_ok();
}

struct ca_problem review_approve(struct ca *ca, const char *review_id,
                                 struct review_decision *out)
{
    DB_TX tx = { 0 };
    struct ca_problem p;

    memset(out, 0, sizeof *out);
    if (!db_tx_begin(&tx, ca->db))
        return ca_fail(CA_INTERNAL);
    if ((p = approve(ca, review_id, out)).code != CA_OK || !db_tx_commit(&tx)) {
        secret_wipe(out->unlock_code, sizeof out->unlock_code);
        return p.code != CA_OK ? p : ca_fail(CA_INTERNAL);
    }
    ca_log("review %.12s… approved, unlock code issued", review_id);
    return ca_ok();
}

struct ca_problem review_reject(struct ca *ca, const char *review_id, const char *reason)
{
    DB_TX tx = { 0 };
    struct review_rec rv;
    struct ca_problem p;

    if (!db_tx_begin(&tx, ca->db))
        return ca_fail(CA_INTERNAL);
    if ((p = load_pending_review(ca->db, review_id, &rv)).code != CA_OK)
        return p;
    if (db_exec(ca->db, "UPDATE reviews SET state = 'rejected', reason = ?, decided_at = ? "
                        "WHERE id = ?", "sts", reason, time(NULL), review_id) != 1 ||
        !request_follows(ca->db, rv.request_id, RS_REVIEW_REJECTED) || !db_tx_commit(&tx))
        return ca_fail(CA_INTERNAL);
    ca_log("review %.12s… rejected", review_id);
    return ca_ok();
}

/* --- the queue -------------------------------------------------------------- */

json_t *material_list(sqlite3_stmt *st)
{
    json_t *list = json_array();
    bool failed = false;

    if (!st || !list)
        goto fail;
    while (db_row(st, &failed))
        if (json_array_append_new(list, json_pack("{s:I, s:s, s:s, s:s, s:I}",
                "id", (json_int_t)sqlite3_column_int64(st, 0),
                "kind", (const char *)sqlite3_column_text(st, 1),
                "filename", (const char *)sqlite3_column_text(st, 2),
                "contentType", (const char *)sqlite3_column_text(st, 3),
                "size", (json_int_t)sqlite3_column_int64(st, 4))))
            goto fail;
    if (!failed)
        return list;
fail:
    json_decref(list);
    return NULL;
}

static json_t *materials_of(sqlite3 *db, const char *review_id)
{
    DB_STMT *st = db_prepare(db, "SELECT id, kind, filename, content_type, size FROM materials "
                                 "WHERE review_id = ? ORDER BY id", "s", review_id);

    return material_list(st);
}

/* Support reads the code to the user: null once used, burnt or expired. */
static json_t *live_unlock_code(sqlite3 *db, const char *review_id)
{
    DB_STMT *st = db_prepare(db, "SELECT code, expires_at FROM unlock_codes WHERE review_id = ? "
                                 "AND state = 'active' AND expires_at > ?", "st", review_id,
                             time(NULL));
    char when[CA_TIME_MAX];
    bool failed = false;

    if (!st)
        return NULL;
    if (!db_row(st, &failed))
        return failed ? NULL : json_null();
    text_format_time((time_t)sqlite3_column_int64(st, 1), when, sizeof when);
    return json_pack("{s:s, s:s}", "code", (const char *)sqlite3_column_text(st, 0),
                     "expiresAt", when);
}

static json_t *review_row(sqlite3 *db, sqlite3_stmt *st)
{
    const char *id = (const char *)sqlite3_column_text(st, 0);
    char when[CA_TIME_MAX];

    text_format_time((time_t)sqlite3_column_int64(st, 5), when, sizeof when);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s, s:o, s:o}",
                     "reviewId", id, "requestId", (const char *)sqlite3_column_text(st, 1),
                     "tokenId", (const char *)sqlite3_column_text(st, 2),
                     "owner", (const char *)sqlite3_column_text(st, 3),
                     "state", (const char *)sqlite3_column_text(st, 4),
                     "reason", (const char *)sqlite3_column_text(st, 6),
                     "createdAt", when,
                     "materials", materials_of(db, id),
                     "unlockCode", live_unlock_code(db, id));
}

json_t *review_list(sqlite3 *db)
{
    DB_STMT *st = db_prepare(db, "SELECT r.id, r.request_id, r.token_id, t.owner, r.state, "
                                 "r.created_at, r.reason FROM reviews r JOIN tokens t "
                                 "ON t.id = r.token_id ORDER BY r.created_at DESC, r.rowid DESC "
                                 "LIMIT ?", "i", REVIEW_LIST_MAX);
    json_t *list = json_array();
    bool failed = false;

    if (!st || !list)
        goto fail;
    while (db_row(st, &failed))
        if (json_array_append_new(list, review_row(db, st)))
            goto fail;
    if (failed)
        goto fail;
    return json_pack("{s:b, s:o}", "demo", 1, "reviews", list);
fail:
    json_decref(list);
    return NULL;
}

struct ca_problem material_fetch(sqlite3_stmt *st, struct stored_material *out)
{
    bool failed = false;
    int len;

    memset(out, 0, sizeof *out);
    if (!st)
        return ca_fail(CA_INTERNAL);
    if (!db_row(st, &failed))
        return ca_fail(failed ? CA_INTERNAL : CA_NOT_FOUND);
    db_text(st, 0, out->content_type, sizeof out->content_type);
    len = sqlite3_column_bytes(st, 1);
    out->data = malloc(len > 0 ? (size_t)len : 1);
    if (!out->data)
        return ca_fail(CA_INTERNAL);
    if (len > 0)
        memcpy(out->data, sqlite3_column_blob(st, 1), (size_t)len);
    out->len = (size_t)len;
    return ca_ok();
}

struct ca_problem review_material(sqlite3 *db, const char *review_id, long material_id,
                                  struct stored_material *out)
{
    DB_STMT *st = db_prepare(db, "SELECT content_type, data FROM materials WHERE review_id = ? "
                                 "AND id = ?", "sl", review_id, material_id);

    return material_fetch(st, out);
}
