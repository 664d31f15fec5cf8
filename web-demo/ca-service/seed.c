/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/seed.c — the seed file into the tokens and
 * certificates tables, all or nothing (see seed.h).
 */
#include "seed.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ca.h"
#include "certreq.h"
#include "codec.h"
#include "db.h"
#include "issuing.h"
#include "log.h"
#include "mechanism.h"
#include "mgmt.h"
#include "secret.h"
#include "text.h"
#include "tokens.h"

#define PUK_MIN_DIGITS     6           /* PIV allows 6 to 8 */
#define ADMIN_PIN_MIN_DIGITS 6         /* GM/T 0016 keys take 6 to 16 */
#define DEFAULT_CURRENCY   "CNY"
#define CERT_DER_MAX       (16 * 1024)

static const char *const cert_kinds[] = { "change", "renewal", "reinstall", "issue" };

static bool one_of(const char *s, const char *const *set, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(s, set[i]) == 0)
            return true;
    return false;
}

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

/* The certificate itself (base64 DER), which must be the one the serial names. */
static bool seed_slot_certificate(sqlite3 *db, const char *id, const char *slot,
                                  const char *serial, const char *der_b64)
{
    unsigned char *der = NULL;
    size_t len = 0;
    char given[CA_SERIAL_MAX], held[CA_SERIAL_MAX];
    struct cert_facts facts;
    X509 *x = NULL;
    bool ok = cr_slot_valid(slot) &&
              codec_unbase64(der_b64, CERT_DER_MAX, &der, &len) && (x = cert_parse(der, len)) &&
              cert_facts_of(x, &facts) && text_canonical_serial(serial, given, sizeof given) &&
              text_canonical_serial(facts.serial, held, sizeof held) && strcmp(given, held) == 0 &&
              token_set_slot_certificate(db, id, slot, serial, der, len, false);

    X509_free(x);
    free(der);
    return ok;
}

static bool seed_certificates(sqlite3 *db, const char *id, json_t *certs)
{
    size_t i;
    json_t *c;

    /* empty for a blank token: its first certificate comes with an `issue` */
    if (!json_is_array(certs)) {
        ca_log("seed: %s: certificates must be an array", id);
        return false;
    }
    json_array_foreach(certs, i, c) {
        const char *serial = NULL, *issuer = NULL, *slot = NULL, *der = NULL;
        json_error_t err;

        if (json_unpack_ex(c, &err, 0, "{s:s, s:s, s?s, s?s}", "serial", &serial, "issuer",
                           &issuer, "slot", &slot, "der", &der) ||
            !bounded(issuer, CA_ISSUER_MAX) || !token_add_certificate(db, id, serial, issuer)) {
            ca_log("seed: %s: certificate %zu needs a hex serial and an issuer", id, i);
            return false;
        }
        if ((slot || der) && !(slot && der && seed_slot_certificate(db, id, slot, serial, der))) {
            ca_log("seed: %s: certificate %zu: slot (9a, 9c, 9d, 9e, or an SKF key's "
                   "\"<container>.sign\" / \".enc\") and der (base64 of that very "
                   "certificate) go together", id, i);
            return false;
        }
    }
    return true;
}

/* {"algorithm": "AES-128", "key": "hex"}; none: the PIV default key. */
static bool seed_management_key(sqlite3 *db, const char *id, json_t *mk)
{
    const char *alg = MGMT_DEFAULT_ALG, *key = MGMT_DEFAULT_KEY;
    json_error_t err;

    if (mk && !json_is_null(mk) &&
        json_unpack_ex(mk, &err, JSON_STRICT, "{s:s, s:s}", "algorithm", &alg, "key", &key))
        alg = NULL;
    if (!alg || !mgmt_seed(db, id, alg, key)) {
        ca_log("seed: %s: managementKey must be {\"algorithm\": \"3DES|AES-128|AES-192|AES-256\", "
               "\"key\": \"hex of that key's length\"}", id);
        return false;
    }
    return true;
}

/* {"change": "50.00", "renewal": …, "currency": "CNY"}: a kind not named is free. */
static bool seed_cert_fees(sqlite3 *db, const char *id, json_t *fees)
{
    const char *currency = DEFAULT_CURRENCY, *key;
    json_t *v;

    if (!fees || json_is_null(fees))
        return true;
    if (!json_is_object(fees))
        goto bad;
    if (json_object_get(fees, "currency") &&
        !bounded(currency = json_string_value(json_object_get(fees, "currency")),
                 CA_CURRENCY_MAX))
        goto bad;
    json_object_foreach(fees, key, v) {
        long cents;

        if (strcmp(key, "currency") == 0)
            continue;
        if (!one_of(key, cert_kinds, sizeof cert_kinds / sizeof cert_kinds[0]) ||
            (cents = text_parse_amount(json_string_value(v))) < 0 ||
            db_exec(db, "INSERT OR IGNORE INTO cert_fees (token_id, kind, amount_cents, currency) "
                        "VALUES (?, ?, ?, ?)", "ssls", id, key, cents, currency) < 0)
            goto bad;
    }
    return true;
bad:
    ca_log("seed: %s: certFees must be {\"change\"|\"renewal\"|\"reinstall\"|\"issue\": "
           "\"50.00\", \"currency\": \"CNY\"}", id);
    return false;
}

/* A PIV token's PUK, or an SKF token's admin PIN, with an optional
 * mechanism its unlocks must use (else the service chooses). */
static bool unlock_fields_valid(struct token_seed *t, const char *admin_pin)
{
    enum mechanism m;

    if (t->unlock_mechanism && !mechanism_of_name(t->unlock_mechanism, &m))
        return false;
    if (admin_pin) {
        t->puk = admin_pin;
        t->interface = "SKF";
        return text_is_digits(admin_pin, ADMIN_PIN_MIN_DIGITS, CA_SECRET_MAX);
    }
    t->interface = "PIV";
    return text_is_digits(t->puk, PUK_MIN_DIGITS, CA_PUK_DIGITS);
}

static bool token_fields_valid(const struct token_seed *t)
{
    return bounded(t->id, CA_TOKEN_ID_MAX) && bounded(t->owner, CA_OWNER_MAX) &&
           text_is_digits(t->phone, CA_PHONE_MIN_DIGITS, CA_PHONE_MAX_DIGITS);
}

/* One token: 1 added, 0 on record already, -1 refused. */
static int seed_token(sqlite3 *db, json_t *tok, size_t index)
{
    struct token_seed t = { 0 };
    const char *admin_pin = NULL;
    json_t *fee = NULL, *certs = NULL, *mgmt_key = NULL, *cert_fees = NULL;
    json_error_t err;
    char where[sizeof "token 18446744073709551615"];
    int added;

    snprintf(where, sizeof where, "token %zu", index);
    if (json_unpack_ex(tok, &err, 0, "{s:s, s:s, s:s, s?s, s?s, s?s, s?o, s:o, s?o, s?o}",
                       "tokenId", &t.id, "owner", &t.owner, "phone", &t.phone, "puk", &t.puk,
                       "adminPin", &admin_pin, "unlockMechanism", &t.unlock_mechanism, "fee",
                       &fee, "certificates", &certs, "managementKey", &mgmt_key, "certFees",
                       &cert_fees) ||
        !token_fields_valid(&t) || !t.puk == !admin_pin || !unlock_fields_valid(&t, admin_pin)) {
        ca_log("seed: %s: needs tokenId, owner, phone (digits), certificates, and either puk "
               "(PIV, 6-8 digits) or adminPin (SKF, 6-16 digits); unlockMechanism, if given, "
               "puk, admin-pin or remote-challenge", where);
        return -1;
    }
    if (!seed_fee(fee, &t, where) || (added = token_add(db, &t)) < 0 ||
        !seed_certificates(db, t.id, certs) || !seed_management_key(db, t.id, mgmt_key) ||
        !seed_cert_fees(db, t.id, cert_fees))
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
