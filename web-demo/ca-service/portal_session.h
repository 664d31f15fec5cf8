/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/portal_session.h — the portal's session: the browser
 * that filed a certificate request, named by a cookie the service issues
 * (random, HttpOnly, SameSite=Strict, under /portal/). A request is bound to
 * the session it was filed in; the personal centre, its materials upload and
 * every other read by number answer only in that session, and as if the
 * request did not exist anywhere else. Request numbers are short and
 * guessable; the session is what stands for the token's holder, as a real
 * CA's login does.
 */
#ifndef UKEY_CA_PORTAL_SESSION_H
#define UKEY_CA_PORTAL_SESSION_H

#include <sqlite3.h>
#include <stdbool.h>

#include "ca.h"
#include "http.h"
#include "problem.h"

#define PORTAL_SESSION_COOKIE "ukey-ca-portal"
#define PORTAL_SESSION_PREFIX "ps-"

/* The session the request's cookie names, when this service issued it;
 * id "" (and CA_OK) when it names none. */
enum ca_code portal_session_of(struct http_req *r, char id[CA_ID_MAX]);

/* The request's session, or a new one (*fresh then true). */
enum ca_code portal_session_open(struct http_req *r, char id[CA_ID_MAX], bool *fresh);

/* Gives a new session's cookie to the browser, on the answer already made. */
void portal_session_send_cookie(struct http_req *r, const char *id);

/* Binds a request just filed to the session (in the filing's transaction). */
enum ca_code portal_session_bind(sqlite3 *db, const char *id, const char *number);

#endif
