/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/seed.c — the seed file into the tokens and
 * certificates tables, all or nothing (see seed.h).
 */
#include "seed.h"

#include <jansson.h>
#include <string.h>

#include "ca.h"
#include "db.h"
#include "log.h"
#include "text.h"
#include "tokens.h"

#define PUK_MIN_DIGITS     6           /* PIV allows 6 to 8 */
#define DEFAULT_CURRENCY   "CNY"

static bool bounded(const char *s, size_t max)
{
    return s && *s && strlen(s) < max;
}

static bool seed_fee(json_t *fee, struct token_seed *t, const char *where)
{
    const char *amount = NULL, *currency = DEFAULT_CURRENCY;
    json_error_t err;

    t->fee_cents = 0;
    t->currency = DEFAULT_CURRENCY;
    if (!fee || json_is_null(fee))
        return true;
    if (json_unpack_ex(fee, &err, 0, "{s:s, s?s}", "amount", &amount, "currency", &currency) ||
        (t->fee_cents = text_parse_amount(amount)) < 0 || !bounded(currency, CA_CURRENCY_MAX)) {
        ca_log("seed: %s: fee must be {\"amount\": \"30.00\", \"currency\": \"CNY\"}", where);
        return false;
    }
    t->currency = currency;
    return true;
}

static bool seed_certificates(sqlite3 *db, const char *id, json_t *certs)
{
    size_t i;
    json_t *c;

    if (!json_is_array(certs) || json_array_size(certs) == 0) {
        ca_log("seed: %s: certificates must be a non-empty array", id);
        return false;
    }
    json_array_foreach(certs, i, c) {
        const char *serial = NULL, *issuer = NULL;
        json_error_t err;

        if (json_unpack_ex(c, &err, 0, "{s:s, s:s}", "serial", &serial, "issuer", &issuer) ||
            !bounded(issuer, CA_ISSUER_MAX) || !token_add_certificate(db, id, serial, issuer)) {
            ca_log("seed: %s: certificate %zu needs a hex serial and an issuer", id, i);
            return false;
        }
    }
    return true;
}

static bool token_fields_valid(const struct token_seed *t)
{
    return bounded(t->id, CA_TOKEN_ID_MAX) && bounded(t->owner, CA_OWNER_MAX) &&
           text_is_digits(t->phone, CA_PHONE_MIN_DIGITS, CA_PHONE_MAX_DIGITS) &&
           text_is_digits(t->puk, PUK_MIN_DIGITS, CA_PUK_DIGITS);
}

/* One token: 1 added, 0 on record already, -1 refused. */
static int seed_token(sqlite3 *db, json_t *tok, size_t index)
{
    struct token_seed t = { 0 };
    json_t *fee = NULL, *certs = NULL;
    json_error_t err;
    char where[sizeof "token 18446744073709551615"];
    int added;

    snprintf(where, sizeof where, "token %zu", index);
    if (json_unpack_ex(tok, &err, 0, "{s:s, s:s, s:s, s:s, s?o, s:o}", "tokenId", &t.id,
                       "owner", &t.owner, "phone", &t.phone, "puk", &t.puk, "fee", &fee,
                       "certificates", &certs) ||
        !token_fields_valid(&t)) {
        ca_log("seed: %s: needs tokenId, owner, phone (digits), puk (6-8 digits), "
               "certificates", where);
        return -1;
    }
    if (!seed_fee(fee, &t, where) || (added = token_add(db, &t)) < 0 ||
        !seed_certificates(db, t.id, certs))
        return -1;
    return added;
}

static bool seed_tokens(sqlite3 *db, json_t *tokens, const char *path)
{
    size_t i, added = 0;
    json_t *tok;

    json_array_foreach(tokens, i, tok) {
        int r = seed_token(db, tok, i);

        if (r < 0)
            return false;
        added += (size_t)r;
    }
    ca_log("seed %s: %zu tokens, %zu new", path, json_array_size(tokens), added);
    return true;
}

bool seed_load(sqlite3 *db, const char *path)
{
    json_auto_t *root = NULL;
    DB_TX tx = { 0 };
    json_t *tokens;
    json_error_t err;

    root = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        ca_log("seed %s: line %d: %s", path, err.line, err.text);
        return false;
    }
    tokens = json_object_get(root, "tokens");
    if (!json_is_array(tokens)) {
        ca_log("seed %s: needs a \"tokens\" array", path);
        return false;
    }
    return db_tx_begin(&tx, db) && seed_tokens(db, tokens, path) && db_tx_commit(&tx);
}
