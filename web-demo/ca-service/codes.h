/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/codes.h — the two kinds of 6-digit identity codes and
 * their rules: SMS codes (one request's, short-lived) and unlock codes
 * (issued by support on review approval, the token's, valid for a day,
 * single use). A new code supersedes the older one of its kind; a code is
 * burnt after CA_CODE_ATTEMPTS wrong tries.
 */
#ifndef UKEY_CA_CODES_H
#define UKEY_CA_CODES_H

#include <sqlite3.h>
#include <stdbool.h>
#include <time.h>

#include "ca.h"
#include "problem.h"
#include "requests.h"

enum code_kind { CODE_SMS, CODE_UNLOCK };

bool codes_issue_sms(sqlite3 *db, const char *request_id, long ttl_s,
                     char code[CA_CODE_DIGITS + 1]);
bool codes_issue_unlock(sqlite3 *db, const char *review_id, const char *request_id,
                        const char *token_id, long ttl_s, char code[CA_CODE_DIGITS + 1],
                        time_t *expires_at);

/*
 * Checks `given` against the request's SMS code or its token's unlock code;
 * a match uses the code up and authorises the request. Wrong tries count
 * even when the answer is a refusal.
 */
struct ca_problem codes_verify(struct ca *ca, const struct unlock_request *r, enum code_kind kind,
                               const char *given);

#endif
