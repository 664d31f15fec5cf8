/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/review.h — the forgotten-phone path: materials the
 * user uploads (business licence for a company certificate, ID copy for a
 * personal one), the manual review queue, and the unlock code support reads
 * out to the user on approval.
 */
#ifndef UKEY_CA_REVIEW_H
#define UKEY_CA_REVIEW_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

#include "ca.h"
#include "problem.h"

#define MATERIAL_MAX_BYTES     (2 * 1024 * 1024)
#define MATERIAL_NAME_MAX      255
#define MATERIAL_TYPE_MAX      128
#define REVIEW_REASON_MAX      500

struct material {
    const char *kind;            /* "business-licence" or "id-copy" */
    const char *filename;
    const char *content_type;
    const void *data;
    size_t len;
};

/* Which material field is wrong, or NULL. */
const char *material_bad_field(const struct material *m);

/* Adds a material to the request's pending review (opening one if need be). */
struct ca_problem review_add_material(struct ca *ca, const char *ticket,
                                      const struct material *m);

struct review_decision {
    char unlock_code[CA_CODE_DIGITS + 1];   /* approval only */
    time_t expires_at;
};

struct ca_problem review_approve(struct ca *ca, const char *review_id,
                                 struct review_decision *out);
struct ca_problem review_reject(struct ca *ca, const char *review_id, const char *reason);

/* The queue, newest first, with the live unlock code of approved reviews. */
json_t *review_list(sqlite3 *db);

/* One uploaded file; *data is malloc'd and the caller's. */
struct stored_material {
    char content_type[MATERIAL_TYPE_MAX];
    void *data;
    size_t len;
};
struct ca_problem review_material(sqlite3 *db, const char *review_id, long material_id,
                                  struct stored_material *out);

/* Shared by both kinds of request: the rows of a prepared (and bound)
 * SELECT id, kind, filename, content_type, size as a JSON list, and one
 * row of SELECT content_type, data (CA_NOT_FOUND when none). */
json_t *material_list(sqlite3_stmt *st);
struct ca_problem material_fetch(sqlite3_stmt *st, struct stored_material *out);

#endif
