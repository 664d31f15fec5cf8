/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/portal_session.c — the portal's session cookie and
 * the binding of requests to it (see portal_session.h). Only ids the
 * service made count: a cookie a browser invents opens nothing, so no one
 * can pick a session for someone else in advance.
 */
#include "portal_session.h"

#include <stdio.h>
#include <time.h>

#include "db.h"
#include "secret.h"
#include "text.h"

/* Path /portal/ holds the portal's API (and nothing a page renders from
 * uploads); no Max-Age: it ends with the browser's session. No Secure: the
 * demo speaks plain HTTP on loopback (a real CA's portal adds it). */
#define COOKIE_ATTRIBUTES "; Path=/portal/; HttpOnly; SameSite=Strict"
#define COOKIE_MAX        (sizeof PORTAL_SESSION_COOKIE + CA_ID_MAX + sizeof COOKIE_ATTRIBUTES)

static bool session_exists(sqlite3 *db, const char *id, enum ca_code *code)
{
    DB_STMT *st = db_prepare(db, "SELECT 1 FROM portal_sessions WHERE id = ?", "s", id);
    bool failed = false, found;

    if (!st) {
        *code = CA_INTERNAL;
        return false;
    }
    found = db_row(st, &failed);
    *code = failed ? CA_INTERNAL : CA_OK;
    return found;
}

enum ca_code portal_session_of(struct http_req *r, char id[CA_ID_MAX])
{
    const char *cookie = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND,
                                                     PORTAL_SESSION_COOKIE);
    enum ca_code code = CA_OK;

    id[0] = '\0';
    if (!cookie || !text_is_id(cookie, CA_ID_MAX))
        return CA_OK;
    if (session_exists(r->ca->db, cookie, &code))
        snprintf(id, CA_ID_MAX, "%s", cookie);
    return code;
}

enum ca_code portal_session_open(struct http_req *r, char id[CA_ID_MAX], bool *fresh)
{
    enum ca_code code = portal_session_of(r, id);

    *fresh = false;
    if (code != CA_OK || id[0])
        return code;
    if (!secret_random_id(PORTAL_SESSION_PREFIX, id, CA_ID_MAX) ||
        db_exec(r->ca->db, "INSERT INTO portal_sessions (id, created_at) VALUES (?, ?)", "st",
                id, time(NULL)) != 1)
        return CA_INTERNAL;
    *fresh = true;
    return CA_OK;
}

void portal_session_send_cookie(struct http_req *r, const char *id)
{
    char cookie[COOKIE_MAX];

    snprintf(cookie, sizeof cookie, "%s=%s%s", PORTAL_SESSION_COOKIE, id, COOKIE_ATTRIBUTES);
    if (r->resp)
        MHD_add_response_header(r->resp, MHD_HTTP_HEADER_SET_COOKIE, cookie);
}

enum ca_code portal_session_bind(sqlite3 *db, const char *id, const char *number)
{
    return db_exec(db, "INSERT INTO portal_session_requests (number, session_id) VALUES (?, ?)",
                   "ss", number, id) == 1 ? CA_OK : CA_INTERNAL;
}
