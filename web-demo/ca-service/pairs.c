/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/pairs.c — the partners of a certificate request: which
 * slot pairs with which, and their issue and confirmation (see pairs.h).
 */
#include "pairs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "db.h"
#include "log.h"
#include "text.h"
#include "tokens.h"

#define SLOT_ENCRYPTION  "9d"
#define SKF_SIGNING_SUFFIX    ".sign"
#define SKF_ENCRYPTION_SUFFIX ".enc"
#define ROLE_SIGNING     "signing"
#define ROLE_ENCRYPTION  "encryption"

/* The signing slots an encryption certificate pairs with, in order of preference. */
static const char *const signing_slots[] = { "9a", "9c" };
#define N_SIGNING_SLOTS (sizeof signing_slots / sizeof signing_slots[0])

/* The length of `slot`'s container name when it ends with `suffix`, else 0. */
static size_t container_len(const char *slot, const char *suffix)
{
    size_t n = strlen(slot), k = strlen(suffix);

    return n > k && strcmp(slot + n - k, suffix) == 0 ? n - k : 0;
}

const char *pair_role(const char *slot)
{
    /* PIV's key management slot, or an SKF key's <container>.enc */
    return strcmp(slot, SLOT_ENCRYPTION) == 0 || container_len(slot, SKF_ENCRYPTION_SUFFIX)
               ? ROLE_ENCRYPTION : ROLE_SIGNING;
}

static bool is_signing_slot(const char *slot)
{
    for (size_t i = 0; i < N_SIGNING_SLOTS; i++)
        if (strcmp(slot, signing_slots[i]) == 0)
            return true;
    return false;
}

/* The slot's certificate serial on record, in the protocol's form (a sign
 * octet kept), into `serial`; false when there is none. */
static bool slot_serial(sqlite3 *db, const char *token_id, const char *slot, char *serial,
                        size_t size, bool *failed)
{
    X509 *x = NULL;
    struct cert_facts facts;
    bool found;

    *failed = certreq_slot_cert(db, token_id, slot, &x) != CA_OK;
    found = x && cert_facts_of(x, &facts);
    if (x && !found)
        *failed = true;
    if (found)
        snprintf(serial, size, "%s", facts.serial);
    X509_free(x);
    return found;
}

/* --- filing ------------------------------------------------------------------- */

/* An SKF key's <container>.sign pairs with <container>.enc of the same
 * container, and back: the other id into `slot`; false for a PIV slot (or an
 * id too long to turn). */
static bool skf_partner_id(const char *id, char slot[CR_SLOT_MAX])
{
    size_t n;

    if ((n = container_len(id, SKF_SIGNING_SUFFIX)))
        return snprintf(slot, CR_SLOT_MAX, "%.*s%s", (int)n, id, SKF_ENCRYPTION_SUFFIX) <
               CR_SLOT_MAX;
    if ((n = container_len(id, SKF_ENCRYPTION_SUFFIX)))
        return snprintf(slot, CR_SLOT_MAX, "%.*s%s", (int)n, id, SKF_SIGNING_SUFFIX) <
               CR_SLOT_MAX;
    return false;
}

/* The other half of `r`'s slot on record, into `slot` and `serial`; false when none. */
static bool partner_of(sqlite3 *db, const struct cert_request *r, char slot[CR_SLOT_MAX],
                       char *serial, size_t size, bool *failed)
{
    *failed = false;
    if (r->kind != CK_CHANGE)
        return false;
    if (skf_partner_id(r->slot, slot))
        return slot_serial(db, r->token_id, slot, serial, size, failed);
    if (is_signing_slot(r->slot)) {
        snprintf(slot, CR_SLOT_MAX, "%s", SLOT_ENCRYPTION);
        return slot_serial(db, r->token_id, SLOT_ENCRYPTION, serial, size, failed);
    }
    if (strcmp(r->slot, SLOT_ENCRYPTION) != 0)
        return false;
    for (size_t i = 0; i < N_SIGNING_SLOTS && !*failed; i++) {
        snprintf(slot, CR_SLOT_MAX, "%s", signing_slots[i]);
        if (slot_serial(db, r->token_id, signing_slots[i], serial, size, failed))
            return true;
    }
    return false;
}

enum ca_code pair_file(sqlite3 *db, const struct cert_request *r)
{
    char serial[CA_SERIAL_MAX], slot[CR_SLOT_MAX];
    bool failed = false;

    if (!partner_of(db, r, slot, serial, sizeof serial, &failed))
        return failed ? CA_INTERNAL : CA_OK;
    return db_exec(db, "INSERT INTO cert_request_partners (number, slot, old_serial) "
                       "VALUES (?, ?, ?)", "sss", r->number, slot, serial) == 1
               ? CA_OK : CA_INTERNAL;
}

/* Open as the one-open-request rule counts them: an approval past its time is not. */
#define OPEN_REQUEST \
    "r.state IN ('awaiting-payment', 'submitted', 'under-review', 'approved', 'issued') " \
    "AND NOT (r.state = 'approved' AND r.expires_at <= ?)"

/* 409 with the state a person sees of the open request that holds the slot. */
static struct ca_problem taken_by(const char *state)
{
    struct ca_problem p = ca_fail(CA_STATE_CONFLICT);

    p.state = cr_person_state(CR_SUBMITTED);
    for (unsigned s = 0; s < CR__COUNT; s++)
        if (strcmp(state, cr_state_name((enum cr_state)s)) == 0)
            p.state = cr_person_state((enum cr_state)s);
    return p;
}

/* An open request of the token that re-issues `slot`: as its own (own true)
 * or as its pair's other half. */
static struct ca_problem slot_free(sqlite3 *db, const char *token_id, const char *slot, bool own)
{
    DB_STMT *st = own ? db_prepare(db, "SELECT r.state FROM cert_requests r WHERE r.token_id = ? "
                                       "AND r.slot = ? AND " OPEN_REQUEST " LIMIT 1",
                                   "sst", token_id, slot, time(NULL))
                      : db_prepare(db, "SELECT r.state FROM cert_request_partners p JOIN "
                                       "cert_requests r ON r.number = p.number WHERE "
                                       "r.token_id = ? AND p.slot = ? AND " OPEN_REQUEST
                                       " LIMIT 1", "sst", token_id, slot, time(NULL));
    char state[CA_ID_MAX];
    bool failed = false;

    if (!st)
        return ca_fail(CA_INTERNAL);
    if (!db_row(st, &failed))
        return failed ? ca_fail(CA_INTERNAL) : ca_ok();
    db_text(st, 0, state, sizeof state);
    return taken_by(state);
}

struct ca_problem pair_check_free(sqlite3 *db, const struct cert_request *r)
{
    char serial[CA_SERIAL_MAX], partner[CR_SLOT_MAX];
    bool failed = false;
    struct ca_problem p = slot_free(db, r->token_id, r->slot, false);

    if (p.code != CA_OK)
        return p;
    if (!partner_of(db, r, partner, serial, sizeof serial, &failed))
        return failed ? ca_fail(CA_INTERNAL) : ca_ok();
    if ((p = slot_free(db, r->token_id, partner, true)).code != CA_OK)
        return p;
    return slot_free(db, r->token_id, partner, false);
}

/* --- what the action shows ------------------------------------------------------- */

static json_t *entry(const char *slot, const char *old_serial)
{
    return json_pack("{s:s, s:s, s:o}", "slot", slot, "role", pair_role(slot), "oldSerial",
                     old_serial && old_serial[0] ? json_string(old_serial) : json_null());
}

static sqlite3_stmt *partners_query(sqlite3 *db, const char *number)
{
    return db_prepare(db, "SELECT slot, old_serial, issued_der FROM cert_request_partners "
                          "WHERE number = ? ORDER BY slot", "s", number);
}

json_t *pair_action_certificates(sqlite3 *db, const struct cert_request *r)
{
    DB_STMT *st = partners_query(db, r->number);
    json_t *list = json_array();
    bool failed = !st;

    if (!list || json_array_append_new(list, entry(r->slot, r->old_serial)))
        failed = true;
    while (!failed && db_row(st, &failed)) {
        char slot[CR_SLOT_MAX], serial[CA_SERIAL_MAX];

        db_text(st, 0, slot, sizeof slot);
        db_text(st, 1, serial, sizeof serial);
        if (json_array_append_new(list, entry(slot, serial)))
            failed = true;
    }
    if (!failed)
        return list;
    json_decref(list);
    return NULL;
}

/* --- issue --------------------------------------------------------------------------- */

/* The request's approved subject (DER), malloc'd. */
static unsigned char *subject_of(sqlite3 *db, const char *number, size_t *len)
{
    DB_STMT *st = db_prepare(db, "SELECT subject_der FROM cert_requests WHERE number = ?", "s",
                             number);
    bool failed = false;
    unsigned char *der = NULL;
    int n;

    if (!st || !db_row(st, &failed) || (n = sqlite3_column_bytes(st, 0)) <= 0 ||
        !(der = malloc((size_t)n)))
        return NULL;
    memcpy(der, sqlite3_column_blob(st, 0), (size_t)n);
    *len = (size_t)n;
    return der;
}

/* One partner: its key on record re-certified with the request's subject. */
static struct ca_problem issue_partner(struct ca *ca, const struct cert_request *r,
                                       const char *slot, const unsigned char *subject,
                                       size_t subject_len)
{
    X509 *old = NULL;
    EVP_PKEY *key = NULL;
    unsigned char *der = NULL;
    size_t len = 0;
    struct cert_facts facts;
    char canon[CA_SERIAL_MAX];
    struct issue_order o = { .subject_der = subject, .subject_len = subject_len, .slot = slot };
    struct ca_problem p = ca_fail(CA_INTERNAL);

    if (certreq_slot_cert(ca->db, r->token_id, slot, &old) != CA_OK || !old ||
        !(key = X509_get_pubkey(old)))
        goto out;
    o.issuer = issuers_pick(ca->issuers, old, key_alg_of(key));
    o.key = key;
    o.old = old;
    if (!o.issuer) {
        ca_log("action %.12s…: no issuing CA for the %s certificate of the pair", r->action_id,
               slot);
        goto out;
    }
    if (cert_issue(&o, &der, &len, &facts) &&
        text_canonical_serial(facts.serial, canon, sizeof canon) &&
        db_exec(ca->db, "UPDATE cert_request_partners SET issued_der = ?, issued_serial = ? "
                        "WHERE number = ? AND slot = ? AND issued_der IS NULL", "bsss",
                der, len, canon, r->number, slot) == 1)
        p = ca_ok();
out:
    free(der);
    EVP_PKEY_free(key);
    X509_free(old);
    return p;
}

struct ca_problem pair_issue(struct ca *ca, const struct cert_request *r)
{
    DB_STMT *st = db_prepare(ca->db, "SELECT slot FROM cert_request_partners WHERE number = ? "
                                     "AND issued_der IS NULL ORDER BY slot", "s", r->number);
    char slots[PAIR_PARTNERS_MAX][CR_SLOT_MAX];
    size_t n = 0, subject_len = 0;
    unsigned char *subject = NULL;
    struct ca_problem p = ca_ok();
    bool failed = !st;

    while (!failed && n < PAIR_PARTNERS_MAX && db_row(st, &failed))
        db_text(st, 0, slots[n++], CR_SLOT_MAX);
    if (failed)
        return ca_fail(CA_INTERNAL);
    if (n && !(subject = subject_of(ca->db, r->number, &subject_len)))
        return ca_fail(CA_INTERNAL);
    for (size_t i = 0; i < n && p.code == CA_OK; i++)
        p = issue_partner(ca, r, slots[i], subject, subject_len);
    free(subject);
    return p;
}

json_t *pair_cert_view(const unsigned char *der, size_t len, const struct issuer *is)
{
    char *cert = codec_base64(der, len);
    json_t *chain = json_array(), *view = NULL;
    unsigned char *ca_der = NULL;
    size_t ca_len = 0;

    /* An intermediate CA travels with the certificate; a root never does. */
    if (cert && chain && is && issuer_chain_der(is, &ca_der, &ca_len) && ca_der) {
        char *b64 = codec_base64(ca_der, ca_len);

        if (!b64 || json_array_append_new(chain, json_string(b64))) {
            json_decref(chain);
            chain = NULL;
        }
        free(b64);
    }
    if (cert && chain)
        view = json_pack("{s:s, s:O}", "certificate", cert, "chain", chain);
    json_decref(chain);
    free(ca_der);
    free(cert);
    return view;
}

/* {slot, role, certificate, chain} of one issued partner. */
static json_t *partner_view(struct ca *ca, const char *slot, const unsigned char *der,
                            size_t len)
{
    X509 *x = cert_parse(der, len);
    const struct issuer *is = x ? issuers_pick(ca->issuers, x, key_alg_of(X509_get0_pubkey(x)))
                                : NULL;
    json_t *view = x ? pair_cert_view(der, len, is) : NULL;

    X509_free(x);
    if (view && (json_object_set_new(view, "slot", json_string(slot)) ||
                 json_object_set_new(view, "role", json_string(pair_role(slot))))) {
        json_decref(view);
        view = NULL;
    }
    return view;
}

bool pair_issued_views(struct ca *ca, const struct cert_request *r, json_t *list)
{
    DB_STMT *st = partners_query(ca->db, r->number);
    bool failed = !st;

    while (!failed && db_row(st, &failed)) {
        char slot[CR_SLOT_MAX];
        int n = sqlite3_column_bytes(st, 2);

        db_text(st, 0, slot, sizeof slot);
        if (sqlite3_column_type(st, 2) == SQLITE_NULL || n <= 0 ||
            json_array_append_new(list, partner_view(ca, slot, sqlite3_column_blob(st, 2),
                                                     (size_t)n)))
            failed = true;
    }
    return !failed;
}

/* --- confirm --------------------------------------------------------------------------- */

/* The serial `certificates` gives for `slot`, canonical; false when it gives none. */
static bool confirmed_serial(json_t *certificates, const char *slot, char *out, size_t size)
{
    json_t *c;
    size_t i;

    json_array_foreach(certificates, i, c) {
        const char *s = json_string_value(json_object_get(c, "slot"));
        const char *serial = json_string_value(json_object_get(c, "serial"));

        if (s && strcmp(s, slot) == 0)
            return serial && text_canonical_serial(serial, out, size);
    }
    return false;
}

struct ca_problem pair_check_confirmed(sqlite3 *db, const struct cert_request *r,
                                       json_t *certificates)
{
    DB_STMT *st = db_prepare(db, "SELECT slot, issued_serial FROM cert_request_partners "
                                 "WHERE number = ?", "s", r->number);
    bool failed = !st;

    while (!failed && db_row(st, &failed)) {
        char slot[CR_SLOT_MAX], issued[CA_SERIAL_MAX], given[CA_SERIAL_MAX];

        db_text(st, 0, slot, sizeof slot);
        db_text(st, 1, issued, sizeof issued);
        /* A client that wrote only one half cannot have the pair recorded done. */
        if (!json_is_array(certificates) ||
            !confirmed_serial(certificates, slot, given, sizeof given) ||
            strcmp(given, issued) != 0)
            return ca_bad_field("certificates");
    }
    return failed ? ca_fail(CA_INTERNAL) : ca_ok();
}

bool pair_record_written(sqlite3 *db, const struct cert_request *r)
{
    DB_STMT *st = partners_query(db, r->number);
    bool failed = !st;

    while (!failed && db_row(st, &failed)) {
        char slot[CR_SLOT_MAX];
        const void *der = sqlite3_column_blob(st, 2);
        size_t len = (size_t)sqlite3_column_bytes(st, 2);
        X509 *x = cert_parse(der, len);
        struct cert_facts facts;

        db_text(st, 0, slot, sizeof slot);
        if (!x || !cert_facts_of(x, &facts) ||
            !token_set_slot_certificate(db, r->token_id, slot, facts.serial, der, len, true) ||
            !token_add_certificate(db, r->token_id, facts.serial, facts.issuer))
            failed = true;
        X509_free(x);
    }
    return !failed;
}
