/* SPDX-License-Identifier: MIT */
/*
 * api/unlock/unlock_session.h — ukeyd's unlock sessions: what the portal holds
 * (a random session id of ukeyd's own) mapped to what only ukeyd may hold
 * (the CA's request id, a bearer capability that leads to the PUK).
 *
 * A session belongs to one token, and a token has at most one: opening
 * another replaces it. The table is bounded; a session expires after a time
 * without use or a total life, and then answers "expired" until its slot is
 * needed again. Callers get copies, so a session may be replaced while a
 * request still works with what it read.
 */
#ifndef UKEYD_API_UNLOCK_SESSION_H
#define UKEYD_API_UNLOCK_SESSION_H

#include <stddef.h>

#include "api/ca/ca_client.h"
#include "api/unlock/unlock_journal.h"

#define UNLOCK_SID_PREFIX "uls-"
#define UNLOCK_SID_BYTES  16
#define UNLOCK_SID_MAX    (sizeof UNLOCK_SID_PREFIX - 1 + 2 * UNLOCK_SID_BYTES)

struct unlock_session {
    char sid[UNLOCK_SID_MAX + 1];
    char token_id[JOURNAL_TOKEN_ID_MAX + 1];
    char request_id[CA_ID_MAX + 1];
};

enum session_found {
    SESSION_FOUND,
    SESSION_NOT_FOUND,
    SESSION_EXPIRED,
};

struct session_table;

struct session_table *session_table_new(size_t max, unsigned idle_s, unsigned life_s);
void session_table_free(struct session_table *t);

/* A new session (replacing the token's previous one); 0, or -1 (no memory, no randomness). */
int session_open(struct session_table *t, const char *token_id, const char *request_id,
                 struct unlock_session *out);
/* Finds a live session and counts this as a use. */
enum session_found session_find(struct session_table *t, const char *sid,
                                struct unlock_session *out);
/* The CA says the session's request has expired: so is the session. */
void session_expire(struct session_table *t, const char *sid);

#endif
