/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/ca.h — what every part of the reference CA service
 * (ukey-ca: unlock and certificates) shares: the service context (database, timings, public
 * URL) and the size limits of the things it stores.
 *
 * The service runs every handler on libmicrohttpd's one polling thread, so
 * the context and its SQLite connection are used by one thread at a time.
 */
#ifndef UKEY_CA_CA_H
#define UKEY_CA_CA_H

#include <sqlite3.h>
#include <stdbool.h>
#include <time.h>

/* Random identifiers: a prefix and 128 bits as 32 hex digits. */
#define CA_ID_RANDOM_BYTES   16
#define CA_ID_MAX            48          /* "rot-" + 32 hex + NUL, with room */
#define CA_TOKEN_ID_MAX      80          /* "piv-" + 32 hex, or "piv-sn-<serial>" */
#define CA_SERIAL_MAX        80          /* hex of a 20-octet serial, with room */
#define CA_ISSUER_MAX        1024
#define CA_OWNER_MAX         256
#define CA_PHONE_MIN_DIGITS  5
#define CA_PHONE_MAX_DIGITS  20
#define CA_PHONE_MAX         (CA_PHONE_MAX_DIGITS + 1)
#define CA_CURRENCY_MAX      8
#define CA_AMOUNT_MAX        24          /* "12345678.90" */
#define CA_TIME_MAX          24          /* "2025-01-31T23:59:59Z" */

#define CA_CODE_DIGITS       6           /* SMS and unlock codes */
#define CA_PUK_DIGITS        8           /* PIV PUK: 8 digits */
#define CA_ADMIN_PIN_DIGITS  12          /* a fresh SKF admin PIN (the token takes 6 to 16) */
#define CA_SECRET_MAX        16          /* the longest unlock secret on record (PUK, admin PIN) */
#define CA_CODE_ATTEMPTS     5           /* wrong tries before a code is burnt */

#define CA_SMS_PER_WINDOW    5           /* SMS per token per window */
#define CA_SMS_WINDOW_S      3600
#define CA_PHONE_MISMATCH_MAX 5          /* wrong phone numbers per token per window */

struct ca_timings {
    long sms_resend_s;          /* least time between two SMS to one token */
    long sms_code_ttl_s;        /* an SMS code's life */
    long unlock_code_ttl_s;     /* an unlock code's life, from approval */
    long request_ttl_s;         /* an unlock request's life, from opening */
    long cert_action_ttl_s;     /* an approved certificate action's life, until issued */
};

struct issuers;                 /* issuing.h: the CAs that sign */

struct ca {
    sqlite3 *db;
    struct ca_timings t;
    const char *public_url;     /* "http://127.0.0.1:17991", no trailing slash */
    const char *static_dir;     /* NULL when no static files are served */
    const struct issuers *issuers;  /* NULL when none was given: nothing is issued */
    unsigned ukeyd_port;        /* where the portal's page finds ukeyd, on 127.0.0.1 */
    const char *hotline;        /* the support number the page shows; NULL: none */
    const char *portal_min_ukeyd;  /* the oldest ukeyd the page accepts; NULL: its own */
};

#endif
