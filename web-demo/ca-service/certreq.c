/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/certreq.c — filing certificate requests, their fee,
 * materials, the staff's decisions, and the views of a person and of the
 * staff (see certreq.h).
 */
#include "certreq.h"

#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "pairs.h"
#include "log.h"
#include "payment.h"
#include "portal_session.h"
#include "secret.h"
#include "text.h"
#include "tokens.h"

#define DETAIL_CHARS_MAX   64           /* X.520 upper bound of O, OU and CN */
#define EMAIL_CHARS_MAX    128          /* PKCS #9 emailAddress upper bound */
#define NUMBER_TRIES       8            /* ten random digits: a clash is rare */
#define LIST_MAX           100
#define URL_MAX            512
#define STATE_NAME_MAX     24
#define KIND_NAME_MAX      16
#define ALG_NAME_MAX       16
#define UTF8_CONTINUATION_MASK 0xC0
#define UTF8_CONTINUATION      0x80
#define ASCII_DEL          0x7F
#define DEFAULT_NEW_KEY    KEY_ALG_EC_P256   /* a first issue on a token with no certificate */

static const char *const kind_names[CK__COUNT] = {
    [CK_CHANGE] = "change",
    [CK_RENEWAL] = "renewal",
    [CK_REINSTALL] = "reinstall",
    [CK_ISSUE] = "issue",
};

static const char *const state_names[CR__COUNT] = {
    [CR_AWAITING_PAYMENT] = "awaiting-payment",
    [CR_SUBMITTED] = "submitted",
    [CR_UNDER_REVIEW] = "under-review",
    [CR_APPROVED] = "approved",
    [CR_ISSUED] = "issued",
    [CR_REJECTED] = "rejected",
    [CR_DONE] = "done",
    [CR_EXPIRED] = "expired",
};

static const char *const slots[] = { "9a", "9c", "9d", "9e" };

const char *cr_kind_name(enum cr_kind kind)
{
    return (unsigned)kind < CK__COUNT ? kind_names[kind] : "change";
}

const char *cr_state_name(enum cr_state state)
{
    return (unsigned)state < CR__COUNT ? state_names[state] : "expired";
}

const char *cr_person_state(enum cr_state state)
{
    return state == CR_ISSUED ? state_names[CR_APPROVED] : cr_state_name(state);
}

bool cr_new_key(enum cr_kind kind)
{
    return kind == CK_RENEWAL || kind == CK_ISSUE;
}

static bool index_of(const char *name, const char *const *names, unsigned n, unsigned *out)
{
    for (unsigned i = 0; name && i < n; i++)
        if (names[i] && strcmp(name, names[i]) == 0) {
            *out = i;
            return true;
        }
    return false;
}

#define SKF_CERT_ID_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-"

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);

    return n > k && strcmp(s + n - k, suffix) == 0;
}

#define SKF_SIGN_SUFFIX   ".sign"
#define SKF_ENC_SUFFIX    ".enc"

bool cr_slot_valid(const char *slot)
{
    unsigned ignored;
    size_t n = slot ? strlen(slot) : 0;

    if (index_of(slot, slots, sizeof slots / sizeof slots[0], &ignored))
        return true;
    return n > 0 && n < CR_SLOT_MAX && strspn(slot, SKF_CERT_ID_CHARS) == n &&
           (ends_with(slot, SKF_SIGN_SUFFIX) || ends_with(slot, SKF_ENC_SUFFIX));
}

/* --- details ------------------------------------------------------------------ */

/* Characters of UTF-8 text (jansson has checked it is UTF-8); -1 on a control. */
static long utf8_chars(const char *s)
{
    long n = 0;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < ' ' || *p == ASCII_DEL)
            return -1;
        if ((*p & UTF8_CONTINUATION_MASK) != UTF8_CONTINUATION)
            n++;
    }
    return n;
}

static bool text_value_ok(const char *s)
{
    long n = s ? utf8_chars(s) : 0;

    return !s || (n >= 1 && n <= DETAIL_CHARS_MAX);
}

static bool email_value_ok(const char *s)
{
    const char *at;

    if (!s)
        return true;
    at = strchr(s, '@');
    for (const char *p = s; *p; p++)
        if (*p <= ' ' || (unsigned char)*p >= ASCII_DEL)
            return false;
    return strlen(s) <= EMAIL_CHARS_MAX && at && at != s && at[1] && !strchr(at + 1, '@');
}

const char *certreq_bad_detail(const struct subject_details *d)
{
    if (!text_value_ok(d->organization))
        return "details.organization";
    if (!text_value_ok(d->organizational_unit))
        return "details.organizationalUnit";
    if (!text_value_ok(d->common_name))
        return "details.commonName";
    if (!email_value_ok(d->email))
        return "details.email";
    return NULL;
}

static bool details_empty(const struct subject_details *d)
{
    return !d->organization && !d->organizational_unit && !d->common_name && !d->email;
}

static char *details_json(const struct subject_details *d)
{
    json_auto_t *o = json_object();

    if (!o || (d->organization && json_object_set_new(o, "organization",
                                                      json_string(d->organization))) ||
        (d->organizational_unit && json_object_set_new(o, "organizationalUnit",
                                                       json_string(d->organizational_unit))) ||
        (d->common_name && json_object_set_new(o, "commonName", json_string(d->common_name))) ||
        (d->email && json_object_set_new(o, "email", json_string(d->email))))
        return NULL;
    return json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
}

/* --- the token's certificates on record ---------------------------------------- */

enum ca_code certreq_slot_cert(sqlite3 *db, const char *token_id, const char *slot, X509 **out)
{
    DB_STMT *st = db_prepare(db, "SELECT der FROM slot_certificates WHERE token_id = ? "
                                 "AND slot = ?", "ss", token_id, slot);
    bool failed = false;

    *out = NULL;
    if (!st)
        return CA_INTERNAL;
    if (!db_row(st, &failed))
        return failed ? CA_INTERNAL : CA_OK;
    *out = cert_parse(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
    return *out ? CA_OK : CA_INTERNAL;
}

/* The token's first certificate by slot (a first issue copies its subject)
 * and whether any of them has an SM2 key (then every new key must be SM2). */
static enum ca_code token_certs(sqlite3 *db, const char *token_id, X509 **first, bool *sm2)
{
    DB_STMT *st = db_prepare(db, "SELECT der FROM slot_certificates WHERE token_id = ? "
                                 "ORDER BY slot", "s", token_id);
    bool failed = false;

    *first = NULL;
    *sm2 = false;
    if (!st)
        return CA_INTERNAL;
    while (db_row(st, &failed)) {
        X509 *x = cert_parse(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));

        if (!x)
            continue;
        *sm2 = *sm2 || key_alg_of(X509_get0_pubkey(x)) == KEY_ALG_SM2;
        if (!*first)
            *first = x;
        else
            X509_free(x);
    }
    return failed ? CA_INTERNAL : CA_OK;
}

/* --- filing ----------------------------------------------------------------------- */

/* What filing works out before anything is stored. */
struct filing_plan {
    enum cr_kind kind;
    X509 *old;                          /* the slot's certificate, or NULL */
    X509 *first;                        /* the token's first certificate, or NULL */
    bool sm2_token;
    struct cert_request *r;
    unsigned char *subject_der;
    size_t subject_len;
};

static void plan_free(struct filing_plan *p)
{
    X509_free(p->old);
    X509_free(p->first);
    free(p->subject_der);
}

/* The certificate named must be the slot's one on record (as unlock/v1
 * matches: the answer does not say which part did not fit). */
static struct ca_problem check_old_cert(struct filing_plan *p, const struct cert_filing *f)
{
    char given[CA_SERIAL_MAX], held[CA_SERIAL_MAX];
    struct cert_facts facts;

    if (p->kind == CK_ISSUE)
        return p->old ? ca_bad_field("kind") : ca_ok();
    /* A reinstall is filed when the certificate is gone from the token, so
     * the person may have no serial to give: the record names it. */
    if (!f->cert_serial && p->kind != CK_REINSTALL)
        return ca_bad_field("certSerial");
    if (f->cert_serial && !text_canonical_serial(f->cert_serial, given, sizeof given))
        return ca_bad_field("certSerial");
    if (!p->old)
        return ca_fail(CA_TOKEN_UNKNOWN);
    if (!cert_facts_of(p->old, &facts) ||
        !text_canonical_serial(facts.serial, held, sizeof held))
        return ca_fail(CA_INTERNAL);
    if (f->cert_serial && strcmp(given, held) != 0)
        return ca_fail(CA_TOKEN_UNKNOWN);
    snprintf(p->r->old_serial, sizeof p->r->old_serial, "%s", facts.serial);
    return ca_ok();
}

/* keep: the old key's type. new: the one asked for, else the old key's,
 * else the token's kind of key; an SM2 token gets SM2 keys only. */
static struct ca_problem choose_key_alg(struct filing_plan *p, const struct cert_filing *f)
{
    enum key_alg old = p->old ? key_alg_of(X509_get0_pubkey(p->old)) : KEY_ALG_NONE;
    enum key_alg alg;

    if (!cr_new_key(p->kind)) {
        p->r->key_alg = old;
        return old != KEY_ALG_NONE ? ca_ok() : ca_bad_field("slot");
    }
    if (f->key_algorithm)
        alg = key_alg_from_name(f->key_algorithm);
    else if (old != KEY_ALG_NONE)
        alg = old;
    else if (p->sm2_token)
        alg = KEY_ALG_SM2;
    else
        alg = p->first ? key_alg_of(X509_get0_pubkey(p->first)) : DEFAULT_NEW_KEY;
    if (alg == KEY_ALG_NONE)
        alg = DEFAULT_NEW_KEY;
    if ((f->key_algorithm && key_alg_from_name(f->key_algorithm) == KEY_ALG_NONE) ||
        (p->sm2_token && alg != KEY_ALG_SM2))
        return ca_bad_field("keyAlgorithm");
    p->r->key_alg = alg;
    return ca_ok();
}

/* The new certificate's subject: the slot's old one (or the token's first,
 * for a first issue) with the details applied; the owner as CN when there
 * is nothing else to go by. */
static struct ca_problem build_subject(struct filing_plan *p, const struct cert_filing *f,
                                       const struct token_rec *t)
{
    struct subject_details d = p->kind == CK_CHANGE || p->kind == CK_ISSUE
                                   ? f->details : (struct subject_details){ 0 };
    X509 *base = p->old ? p->old : p->first;

    if (!base && !d.common_name)
        d.common_name = t->owner;
    if (!subject_build(base ? X509_get_subject_name(base) : NULL, &d, &p->subject_der,
                       &p->subject_len, p->r->subject, sizeof p->r->subject))
        return ca_bad_field("details");
    return ca_ok();
}

/* One open request per slot: two actions on one slot would undo each other. */
static struct ca_problem check_no_open_request(sqlite3 *db, const struct cert_request *r)
{
    DB_STMT *st = db_prepare(db, "SELECT state FROM cert_requests WHERE token_id = ? AND slot = ? "
                                 "AND state IN ('awaiting-payment', 'submitted', 'under-review', "
                                 "'approved', 'issued') AND NOT (state = 'approved' AND "
                                 "expires_at <= ?) LIMIT 1", "sst", r->token_id, r->slot,
                             time(NULL));
    bool failed = false;
    char state[STATE_NAME_MAX];
    unsigned s;
    struct ca_problem p;

    if (!st)
        return ca_fail(CA_INTERNAL);
    if (!db_row(st, &failed))
        return failed ? ca_fail(CA_INTERNAL) : ca_ok();
    db_text(st, 0, state, sizeof state);
    p = ca_fail(CA_STATE_CONFLICT);
    p.state = index_of(state, state_names, CR__COUNT, &s) ? cr_person_state((enum cr_state)s)
                                                         : "submitted";
    return p;
}

/* Charged kinds wait for payment; free ones are submitted at once. */
static enum ca_code choose_start(sqlite3 *db, struct cert_request *r)
{
    DB_STMT *st = db_prepare(db, "SELECT amount_cents, currency FROM cert_fees "
                                 "WHERE token_id = ? AND kind = ?", "ss", r->token_id,
                             cr_kind_name(r->kind));
    char currency[CA_CURRENCY_MAX];
    bool failed = false;
    long cents;

    r->state = CR_SUBMITTED;
    if (!st)
        return CA_INTERNAL;
    if (!db_row(st, &failed))
        return failed ? CA_INTERNAL : CA_OK;
    cents = (long)sqlite3_column_int64(st, 0);
    db_text(st, 1, currency, sizeof currency);
    if (cents == 0)
        return CA_OK;
    r->state = CR_AWAITING_PAYMENT;
    return order_new_for_cert(db, r->token_id, cents, currency, r->order_id);
}

/* "C" and ten random digits, not yet taken. */
static enum ca_code new_number(sqlite3 *db, char number[CR_NUMBER_MAX])
{
    char digits[CR_NUMBER_DIGITS + 1];

    for (int i = 0; i < NUMBER_TRIES; i++) {
        DB_STMT *st = NULL;
        bool failed = false;

        if (!secret_random_digits(digits, CR_NUMBER_DIGITS))
            return CA_INTERNAL;
        snprintf(number, CR_NUMBER_MAX, "%s%s", CR_NUMBER_PREFIX, digits);
        if (!(st = db_prepare(db, "SELECT 1 FROM cert_requests WHERE number = ?", "s", number)))
            return CA_INTERNAL;
        if (!db_row(st, &failed))
            return failed ? CA_INTERNAL : CA_OK;
    }
    return CA_INTERNAL;
}

static enum ca_code insert_request(sqlite3 *db, const struct filing_plan *p,
                                   const struct subject_details *d)
{
    struct cert_request *r = p->r;
    static const struct subject_details none = { 0 };
    /* renewal and reinstall keep the subject: nothing asked for is kept */
    char *details = details_json(p->kind == CK_CHANGE || p->kind == CK_ISSUE ? d : &none);
    time_t now = time(NULL);
    enum ca_code code = CA_INTERNAL;

    r->created_at = r->updated_at = now;
    if (details && new_number(db, r->number) == CA_OK &&
        secret_random_id(CR_ACTION_ID_PREFIX, r->action_id, sizeof r->action_id) &&
        db_exec(db, "INSERT INTO cert_requests (number, action_id, token_id, kind, slot, "
                    "old_serial, details, subject, subject_der, key_policy, key_algorithm, state, "
                    "order_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                    "?, ?, ?)", "ssss" "ssss" "b" "sss" "s" "tt",
                r->number, r->action_id, r->token_id, cr_kind_name(r->kind), r->slot,
                r->old_serial[0] ? r->old_serial : NULL, details, r->subject, p->subject_der,
                p->subject_len, cr_new_key(r->kind) ? "new" : "keep", key_alg_name(r->key_alg),
                cr_state_name(r->state), r->order_id[0] ? r->order_id : NULL, now, now) == 1)
        code = CA_OK;
    free(details);
    return code;
}

static struct ca_problem plan_and_store(struct ca *ca, const struct cert_filing *f,
                                        struct filing_plan *p, struct token_rec *t)
{
    struct ca_problem pr;
    enum ca_code code;

    if ((code = token_load(ca->db, f->token_id, t)) != CA_OK ||
        (code = certreq_slot_cert(ca->db, t->id, f->slot, &p->old)) != CA_OK ||
        (code = token_certs(ca->db, t->id, &p->first, &p->sm2_token)) != CA_OK)
        return ca_fail(code);
    snprintf(p->r->token_id, sizeof p->r->token_id, "%s", t->id);
    snprintf(p->r->slot, sizeof p->r->slot, "%s", f->slot);
    p->r->kind = p->kind;
    if ((pr = check_old_cert(p, f)).code != CA_OK || (pr = choose_key_alg(p, f)).code != CA_OK ||
        (pr = build_subject(p, f, t)).code != CA_OK ||
        (pr = check_no_open_request(ca->db, p->r)).code != CA_OK ||
        (pr = pair_check_free(ca->db, p->r)).code != CA_OK)
        return pr;
    if ((code = choose_start(ca->db, p->r)) != CA_OK ||
        (code = insert_request(ca->db, p, &f->details)) != CA_OK ||
        (code = pair_file(ca->db, p->r)) != CA_OK ||
        (code = portal_session_bind(ca->db, f->session_id, p->r->number)) != CA_OK)
        return ca_fail(code);
    return ca_ok();
}

struct ca_problem certreq_file(struct ca *ca, const struct cert_filing *f,
                               struct cert_request *out)
{
    struct filing_plan plan = { .r = out };
    struct token_rec t;
    DB_TX tx = { 0 };
    struct ca_problem p;
    unsigned kind;
    const char *bad;

    memset(out, 0, sizeof *out);
    if (!index_of(f->kind, kind_names, CK__COUNT, &kind))
        return ca_bad_field("kind");
    plan.kind = (enum cr_kind)kind;
    if (!cr_slot_valid(f->slot))
        return ca_bad_field("slot");
    /* An SKF key's encryption key pair comes from the CA's key management
     * centre, enveloped (GM/T 0016 SKF_ImportECCKeyPair), which the reference
     * does not run: its certificate is changed or reinstalled, its key kept. */
    if (cr_new_key(plan.kind) && ends_with(f->slot, SKF_ENC_SUFFIX))
        return ca_bad_field("kind");
    if ((bad = certreq_bad_detail(&f->details)))
        return ca_bad_field(bad);
    if (plan.kind == CK_CHANGE && details_empty(&f->details))
        return ca_bad_field("details");
    if (!db_tx_begin(&tx, ca->db))
        return ca_fail(CA_INTERNAL);
    p = plan_and_store(ca, f, &plan, &t);
    plan_free(&plan);
    if (p.code == CA_OK && !db_tx_commit(&tx))
        p = ca_fail(CA_INTERNAL);
    if (p.code == CA_OK)
        ca_log("cert request %.4s… (%s, slot %s) filed for %.12s…: %s", out->number,
               cr_kind_name(out->kind), out->slot, out->token_id, cr_state_name(out->state));
    return p;
}

/* --- loading -------------------------------------------------------------------------- */

#define REQUEST_COLUMNS \
    "SELECT number, action_id, token_id, kind, slot, old_serial, subject, key_algorithm, " \
    "state, order_id, mgmt_answers, issued_serial, created_at, updated_at, expires_at " \
    "FROM cert_requests "

static void read_request(sqlite3_stmt *st, struct cert_request *r)
{
    char kind[KIND_NAME_MAX], state[STATE_NAME_MAX], alg[ALG_NAME_MAX];
    unsigned i;

    db_text(st, 0, r->number, sizeof r->number);
    db_text(st, 1, r->action_id, sizeof r->action_id);
    db_text(st, 2, r->token_id, sizeof r->token_id);
    db_text(st, 3, kind, sizeof kind);
    r->kind = index_of(kind, kind_names, CK__COUNT, &i) ? (enum cr_kind)i : CK_CHANGE;
    db_text(st, 4, r->slot, sizeof r->slot);
    db_text(st, 5, r->old_serial, sizeof r->old_serial);
    db_text(st, 6, r->subject, sizeof r->subject);
    db_text(st, 7, alg, sizeof alg);
    r->key_alg = key_alg_from_name(alg);
    db_text(st, 8, state, sizeof state);
    r->state = index_of(state, state_names, CR__COUNT, &i) ? (enum cr_state)i : CR_EXPIRED;
    db_text(st, 9, r->order_id, sizeof r->order_id);
    r->mgmt_answers = sqlite3_column_int(st, 10);
    db_text(st, 11, r->issued_serial, sizeof r->issued_serial);
    r->created_at = (time_t)sqlite3_column_int64(st, 12);
    r->updated_at = (time_t)sqlite3_column_int64(st, 13);
    r->expires_at = (time_t)sqlite3_column_int64(st, 14);
}

/* An approved action that was not issued in time expires; an issued one
 * never does: ukeyd may hold its certificate half-written. */
static struct ca_problem apply_expiry(sqlite3 *db, struct cert_request *r)
{
    time_t now = time(NULL);

    if (r->state != CR_APPROVED || now < r->expires_at)
        return ca_ok();
    r->state = CR_EXPIRED;
    r->updated_at = now;
    return db_exec(db, "UPDATE cert_requests SET state = 'expired', updated_at = ? "
                       "WHERE number = ? AND state = 'approved'", "ts", now, r->number) >= 0
               ? ca_ok() : ca_fail(CA_INTERNAL);
}

/* The one row of a REQUEST_COLUMNS query (NULL: it could not be made). */
static struct ca_problem load_row(struct ca *ca, sqlite3_stmt *st, enum ca_code unknown,
                                  struct cert_request *out)
{
    bool failed = false;

    memset(out, 0, sizeof *out);
    if (!st)
        return ca_fail(CA_INTERNAL);
    if (!db_row(st, &failed))
        return ca_fail(failed ? CA_INTERNAL : unknown);
    read_request(st, out);
    return apply_expiry(ca->db, out);
}

static struct ca_problem load_where(struct ca *ca, const char *sql, const char *key,
                                    enum ca_code unknown, struct cert_request *out)
{
    DB_STMT *st = db_prepare(ca->db, sql, "s", key);

    return load_row(ca, st, unknown, out);
}

struct ca_problem certreq_load(struct ca *ca, const char *number, struct cert_request *out)
{
    return load_where(ca, REQUEST_COLUMNS "WHERE number = ?", number, CA_REQUEST_UNKNOWN, out);
}

struct ca_problem certreq_load_action(struct ca *ca, const char *action_id,
                                      struct cert_request *out)
{
    return load_where(ca, REQUEST_COLUMNS "WHERE action_id = ?", action_id, CA_ACTION_UNKNOWN,
                      out);
}

struct ca_problem certreq_load_in_session(struct ca *ca, const char *number,
                                          const char *session_id, struct cert_request *out)
{
    DB_STMT *st = db_prepare(ca->db, REQUEST_COLUMNS "WHERE number = ? AND number IN "
                                     "(SELECT number FROM portal_session_requests "
                                     "WHERE session_id = ?)", "ss", number, session_id);

    return load_row(ca, st, CA_REQUEST_UNKNOWN, out);
}

/* --- views ------------------------------------------------------------------------------ */

static json_t *fee_view(sqlite3 *db, const struct cert_request *r)
{
    char amount[CA_AMOUNT_MAX];
    struct order o;

    if (!r->order_id[0])
        return json_null();
    if (order_load(db, r->order_id, &o) != CA_OK)
        return NULL;
    text_format_amount(o.amount_cents, amount, sizeof amount);
    return json_pack("{s:s, s:s, s:b}", "amount", amount, "currency", o.currency, "paid", o.paid);
}

static json_t *payment_url(struct ca *ca, const struct cert_request *r)
{
    char url[URL_MAX];

    if (!r->order_id[0])
        return json_null();
    snprintf(url, sizeof url, "%s/pay/%s", ca->public_url, r->order_id);
    return json_string(url);
}

/* The stored columns a view needs beside the struct: details and reason. */
static json_t *stored_details(sqlite3 *db, const char *number, json_t **reason)
{
    DB_STMT *st = db_prepare(db, "SELECT details, reason FROM cert_requests WHERE number = ?",
                             "s", number);
    bool failed = false;
    json_t *details;

    *reason = NULL;
    if (!st || !db_row(st, &failed))
        return NULL;
    details = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
    *reason = sqlite3_column_type(st, 1) == SQLITE_NULL
                  ? json_null() : json_string((const char *)sqlite3_column_text(st, 1));
    return details;
}

json_t *certreq_person_view(struct ca *ca, const struct cert_request *r)
{
    char created[CA_TIME_MAX], updated[CA_TIME_MAX];
    json_t *reason = NULL, *details = stored_details(ca->db, r->number, &reason);

    if (!details || !reason) {
        json_decref(details);
        json_decref(reason);
        return NULL;
    }
    text_format_time(r->created_at, created, sizeof created);
    text_format_time(r->updated_at, updated, sizeof updated);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:s, s:o, s:s, s:s}",
                     "number", r->number, "tokenId", r->token_id, "kind", cr_kind_name(r->kind),
                     "slot", r->slot, "state", cr_person_state(r->state), "reason", reason,
                     "fee", fee_view(ca->db, r), "paymentUrl", payment_url(ca, r),
                     "createdAt", created, "updatedAt", updated, "details", details,
                     "subject", r->subject, "keyAlgorithm", key_alg_name(r->key_alg));
}

/* Each row of a REQUEST_COLUMNS query, viewed by `view` into a list. */
static json_t *list_of(struct ca *ca, sqlite3_stmt *st,
                       json_t *(*view)(struct ca *, const struct cert_request *))
{
    json_t *list = json_array();
    struct cert_request r;
    bool failed = false;

    if (!st || !list)
        goto fail;
    while (db_row(st, &failed)) {
        memset(&r, 0, sizeof r);
        read_request(st, &r);
        if (apply_expiry(ca->db, &r).code != CA_OK || json_array_append_new(list, view(ca, &r)))
            goto fail;
    }
    if (!failed)
        return list;
fail:
    json_decref(list);
    return NULL;
}

json_t *certreq_token_list(struct ca *ca, const char *token_id, const char *session_id,
                           enum ca_code *code)
{
    struct token_rec t;
    DB_STMT *st = NULL;
    json_t *list;

    if ((*code = token_load(ca->db, token_id, &t)) != CA_OK)
        return NULL;
    st = db_prepare(ca->db, REQUEST_COLUMNS "WHERE token_id = ? AND number IN "
                                            "(SELECT number FROM portal_session_requests "
                                            "WHERE session_id = ?) ORDER BY created_at DESC, "
                                            "rowid DESC LIMIT ?", "ssi", token_id, session_id,
                    LIST_MAX);
    list = list_of(ca, st, certreq_person_view);
    *code = list ? CA_OK : CA_INTERNAL;
    return list ? json_pack("{s:o}", "requests", list) : NULL;
}

static json_t *materials_of(sqlite3 *db, const char *number)
{
    DB_STMT *st = db_prepare(db, "SELECT id, kind, filename, content_type, size FROM "
                                 "cert_materials WHERE number = ? ORDER BY id", "s", number);

    return material_list(st);
}

/* The person's view plus what the staff decides by; never the action id. */
static json_t *staff_view(struct ca *ca, const struct cert_request *r)
{
    json_t *v = certreq_person_view(ca, r);
    struct token_rec t;

    if (!v || token_load(ca->db, r->token_id, &t) != CA_OK ||
        json_object_update_new(v, json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}",
                                            "serviceState", cr_state_name(r->state),
                                            "owner", t.owner,
                                            "keyPolicy", cr_new_key(r->kind) ? "new" : "keep",
                                            "oldSerial", r->old_serial[0]
                                                ? json_string(r->old_serial) : json_null(),
                                            "issuedSerial", r->issued_serial[0]
                                                ? json_string(r->issued_serial) : json_null(),
                                            "materials", materials_of(ca->db, r->number)))) {
        json_decref(v);
        return NULL;
    }
    return v;
}

json_t *certreq_staff_list(struct ca *ca)
{
    DB_STMT *st = db_prepare(ca->db, REQUEST_COLUMNS "ORDER BY created_at DESC, rowid DESC "
                                                     "LIMIT ?", "i", LIST_MAX);
    json_t *list = list_of(ca, st, staff_view);

    return list ? json_pack("{s:b, s:o}", "demo", 1, "requests", list) : NULL;
}

/* --- materials ------------------------------------------------------------------------- */

static bool accepts_materials(enum cr_state s)
{
    return s == CR_AWAITING_PAYMENT || s == CR_SUBMITTED || s == CR_UNDER_REVIEW;
}

static struct ca_problem state_conflict(const struct cert_request *r)
{
    struct ca_problem p = ca_fail(CA_STATE_CONFLICT);

    p.state = cr_person_state(r->state);
    return p;
}

struct ca_problem certreq_add_material(struct ca *ca, const char *number,
                                       const struct material *m)
{
    struct cert_request r;
    DB_TX tx = { 0 };
    struct ca_problem p;

    if (!db_tx_begin(&tx, ca->db))
        return ca_fail(CA_INTERNAL);
    if ((p = certreq_load(ca, number, &r)).code != CA_OK)
        return p;
    if (!accepts_materials(r.state))
        return state_conflict(&r);
    if (db_exec(ca->db, "INSERT INTO cert_materials (number, kind, filename, content_type, size, "
                        "data, uploaded_at) VALUES (?, ?, ?, ?, ?, ?, ?)", "ssssl" "bt",
                number, m->kind, m->filename, m->content_type, (long)m->len, m->data, m->len,
                time(NULL)) != 1 ||
        db_exec(ca->db, "UPDATE cert_requests SET updated_at = ? WHERE number = ?", "ts",
                time(NULL), number) != 1 ||
        !db_tx_commit(&tx))
        return ca_fail(CA_INTERNAL);
    ca_log("cert request %.4s… material %s (%zu bytes)", number, m->kind, m->len);
    return ca_ok();
}

struct ca_problem certreq_material(sqlite3 *db, const char *number, long material_id,
                                   struct stored_material *out)
{
    DB_STMT *st = db_prepare(db, "SELECT content_type, data FROM cert_materials WHERE number = ? "
                                 "AND id = ?", "sl", number, material_id);

    return material_fetch(st, out);
}

/* --- the staff's decisions ------------------------------------------------------------------ */

static bool decision_allowed(enum cr_decision d, enum cr_state s)
{
    switch (d) {
    case CR_DECIDE_REVIEW: return s == CR_SUBMITTED || s == CR_UNDER_REVIEW;
    case CR_DECIDE_APPROVE: return s == CR_SUBMITTED || s == CR_UNDER_REVIEW;
    case CR_DECIDE_REJECT: return accepts_materials(s);
    }
    return false;
}

/* The states the staff may decide from, repeated in each UPDATE's WHERE so
 * that two staff members' clicks (or a payment racing a rejection) cannot
 * both win; decision_allowed says the same for the answer. */
#define DECIDABLE  "('submitted', 'under-review')"
#define REJECTABLE "('awaiting-payment', 'submitted', 'under-review')"

static bool store_decision(struct ca *ca, const struct cert_request *r, enum cr_decision d,
                           const char *reason)
{
    time_t now = time(NULL);

    switch (d) {
    case CR_DECIDE_REVIEW:
        return db_exec(ca->db, "UPDATE cert_requests SET state = 'under-review', updated_at = ? "
                               "WHERE number = ? AND state IN " DECIDABLE,
                       "ts", now, r->number) == 1;
    case CR_DECIDE_APPROVE:
        return db_exec(ca->db, "UPDATE cert_requests SET state = 'approved', updated_at = ?, "
                               "expires_at = ? WHERE number = ? AND state IN " DECIDABLE,
                       "tts", now, now + ca->t.cert_action_ttl_s, r->number) == 1;
    case CR_DECIDE_REJECT:
        return db_exec(ca->db, "UPDATE cert_requests SET state = 'rejected', reason = ?, "
                               "updated_at = ? WHERE number = ? AND state IN " REJECTABLE,
                       "sts", reason, now, r->number) == 1;
    }
    return false;
}

struct ca_problem certreq_decide(struct ca *ca, const char *number, enum cr_decision d,
                                 const char *reason)
{
    static const char *const done[] = { "under review", "approved", "rejected" };
    struct cert_request r;
    DB_TX tx = { 0 };
    struct ca_problem p;

    if (d == CR_DECIDE_REJECT && (!reason || !*reason || strlen(reason) > REVIEW_REASON_MAX))
        return ca_bad_field("reason");
    if (!db_tx_begin(&tx, ca->db))
        return ca_fail(CA_INTERNAL);
    if ((p = certreq_load(ca, number, &r)).code != CA_OK)
        return p;
    if (!decision_allowed(d, r.state))
        return state_conflict(&r);
    if (!store_decision(ca, &r, d, reason) || !db_tx_commit(&tx))
        return ca_fail(CA_INTERNAL);
    ca_log("cert request %.4s… %s", number, done[d]);
    return ca_ok();
}
