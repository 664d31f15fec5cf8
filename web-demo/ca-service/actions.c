/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/actions.c — listing, management-key answers, issuing
 * and confirming certificate actions (see actions.h). Every change is one
 * transaction with the checks that allowed it.
 */
#include "actions.h"

#include <stdlib.h>
#include <string.h>

#include "certreq.h"
#include "codec.h"
#include "db.h"
#include "issuing.h"
#include "log.h"
#include "mgmt.h"
#include "pairs.h"
#include "payment.h"
#include "secret.h"
#include "text.h"
#include "tokens.h"

#define CSR_MAX_BYTES  8192              /* an RSA-2048 request is about 1 KiB */

/* --- what the protocol sees ------------------------------------------------- */

/* Before approval (and after a rejection) a request is no action at all. */
static bool visible(enum cr_state s)
{
    return s == CR_APPROVED || s == CR_ISSUED || s == CR_DONE || s == CR_EXPIRED;
}

static bool open_state(enum cr_state s)
{
    return s == CR_APPROVED || s == CR_ISSUED;
}

static struct ca_problem state_conflict(const struct cert_request *r)
{
    struct ca_problem p = ca_fail(CA_STATE_CONFLICT);

    p.state = cr_state_name(r->state);
    return p;
}

static struct ca_problem load_action(struct ca *ca, const char *id, struct cert_request *r)
{
    struct ca_problem p = certreq_load_action(ca, id, r);

    if (p.code == CA_OK && !visible(r->state))
        return ca_fail(CA_ACTION_UNKNOWN);
    return p;
}

/* The action must be approved or issued for anything but confirm and GET. */
static struct ca_problem load_open_action(struct ca *ca, const char *id, struct cert_request *r)
{
    struct ca_problem p = load_action(ca, id, r);

    if (p.code == CA_OK && !open_state(r->state))
        return state_conflict(r);
    return p;
}

static json_t *action_view(struct ca *ca, const struct cert_request *r)
{
    char mgmt[MGMT_ALG_MAX], expires[CA_TIME_MAX];

    if (mgmt_algorithm(ca->db, r->token_id, mgmt) != CA_OK)
        return NULL;
    text_format_time(r->expires_at, expires, sizeof expires);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:o*}",
                     "actionId", r->action_id, "number", r->number,
                     "kind", cr_kind_name(r->kind), "state", cr_state_name(r->state),
                     "slot", r->slot, "keyPolicy", cr_new_key(r->kind) ? "new" : "keep",
                     "keyAlgorithm", key_alg_name(r->key_alg),
                     "managementKeyAlgorithm", mgmt, "subject", r->subject,
                     "oldSerial", r->old_serial[0] ? json_string(r->old_serial) : json_null(),
                     "expiresAt", expires, "certificates", pair_action_certificates(ca->db, r));
}

/* The ids first, then each loaded (which applies expiry) and viewed. */
static json_t *open_action_ids(sqlite3 *db, const char *token_id)
{
    DB_STMT *st = db_prepare(db, "SELECT action_id FROM cert_requests WHERE token_id = ? AND "
                                 "state IN ('approved', 'issued') ORDER BY created_at, rowid",
                             "s", token_id);
    json_t *ids = json_array();
    bool failed = false;

    if (!st || !ids)
        goto fail;
    while (db_row(st, &failed))
        if (json_array_append_new(ids, json_string((const char *)sqlite3_column_text(st, 0))))
            goto fail;
    if (!failed)
        return ids;
fail:
    json_decref(ids);
    return NULL;
}

struct ca_problem actions_for_token(struct ca *ca, const char *token_id, json_t **out)
{
    json_auto_t *ids = NULL;
    json_t *list = NULL, *id;
    struct cert_request r;
    struct token_rec t;
    enum ca_code code;
    size_t i;

    *out = NULL;
    if ((code = token_load(ca->db, token_id, &t)) != CA_OK)
        return ca_fail(code);
    if (!(ids = open_action_ids(ca->db, t.id)) || !(list = json_array()))
        goto fail;
    json_array_foreach(ids, i, id) {
        if (load_action(ca, json_string_value(id), &r).code != CA_OK)
            goto fail;
        if (open_state(r.state) && json_array_append_new(list, action_view(ca, &r)))
            goto fail;
    }
    *out = json_pack("{s:o}", "actions", list);
    return *out ? ca_ok() : ca_fail(CA_INTERNAL);
fail:
    json_decref(list);
    return ca_fail(CA_INTERNAL);
}

struct ca_problem action_get(struct ca *ca, const char *action_id, json_t **out)
{
    struct cert_request r;
    struct ca_problem p = load_action(ca, action_id, &r);

    *out = NULL;
    if (p.code != CA_OK)
        return p;
    *out = action_view(ca, &r);
    return *out ? ca_ok() : ca_fail(CA_INTERNAL);
}

/* --- management-auth ----------------------------------------------------------- */

/* 429 once the action's answers are used up; the count is the doc's bound. */
static struct ca_problem answers_left(const struct cert_request *r)
{
    struct ca_problem p = ca_fail(CA_TOO_MANY_ATTEMPTS);

    if (r->mgmt_answers < ACTION_MGMT_ANSWERS_MAX)
        return ca_ok();
    p.attempts_left = 0;
    return p;
}

/* Counts one answer. The WHERE repeats the checks that allowed it, so two
 * concurrent calls cannot both take the last answer or answer for an
 * action that was just confirmed done. */
static bool count_answer(sqlite3 *db, const struct cert_request *r)
{
    return db_exec(db, "UPDATE cert_requests SET mgmt_answers = mgmt_answers + 1 "
                       "WHERE number = ? AND state IN ('approved', 'issued') "
                       "AND mgmt_answers < ?", "si", r->number, ACTION_MGMT_ANSWERS_MAX) == 1;
}

static struct ca_problem answer_challenge(struct ca *ca, const char *action_id,
                                          const char *algorithm, const unsigned char *challenge,
                                          size_t len, json_t **out)
{
    unsigned char response[MGMT_BLOCK_MAX];
    size_t response_len = 0;
    struct cert_request r;
    DB_TX tx = { 0 };
    struct ca_problem p;
    char *b64 = NULL;

    if (!db_tx_begin(&tx, ca->db))
        return ca_fail(CA_INTERNAL);
    if ((p = load_open_action(ca, action_id, &r)).code != CA_OK ||
        (p = answers_left(&r)).code != CA_OK)
        return p;
    p = mgmt_answer(ca->db, r.token_id, algorithm, challenge, len, response, &response_len);
    if (p.code == CA_OK && (!count_answer(ca->db, &r) ||
                            !(b64 = codec_base64(response, response_len)) ||
                            !(*out = json_pack("{s:s}", "response", b64)) || !db_tx_commit(&tx)))
        p = ca_fail(CA_INTERNAL);
    secret_wipe(response, sizeof response);
    secret_free(b64);
    if (p.code != CA_OK) {
        json_decref(*out);
        *out = NULL;
        return p;
    }
    ca_log("action %.12s… management-auth answered (%d of %d)", action_id, r.mgmt_answers + 1,
           ACTION_MGMT_ANSWERS_MAX);
    return p;
}

struct ca_problem action_management_auth(struct ca *ca, const char *action_id,
                                         const char *algorithm, const char *challenge_b64,
                                         json_t **out)
{
    unsigned char *challenge = NULL;
    size_t len = 0;
    struct ca_problem p;

    *out = NULL;
    if (!mgmt_alg_known(algorithm))
        return ca_bad_field("algorithm");
    if (!codec_unbase64(challenge_b64, MGMT_BLOCK_MAX, &challenge, &len))
        return ca_bad_field("challenge");
    p = answer_challenge(ca, action_id, algorithm, challenge, len, out);
    secret_free(challenge);
    return p;
}

/* --- issue ------------------------------------------------------------------------ */

/* A blob column of the request; *der malloc'd, NULL when the column is NULL. */
static enum ca_code request_blob(sqlite3 *db, const char *column_sql, const char *number,
                                 unsigned char **der, size_t *len)
{
    DB_STMT *st = db_prepare(db, column_sql, "s", number);
    bool failed = false;
    int n;

    *der = NULL;
    *len = 0;
    if (!st || !db_row(st, &failed))
        return CA_INTERNAL;
    if (sqlite3_column_type(st, 0) == SQLITE_NULL)
        return CA_OK;
    n = sqlite3_column_bytes(st, 0);
    if (n <= 0 || !(*der = malloc((size_t)n)))
        return CA_INTERNAL;
    memcpy(*der, sqlite3_column_blob(st, 0), (size_t)n);
    *len = (size_t)n;
    return CA_OK;
}

/* What the certificate is issued for, and what the issue works from. */
struct issue_work {
    struct cert_request r;
    X509 *old;                           /* the slot's certificate on record */
    X509 *issued;                        /* the action's certificate so far */
    unsigned char *issued_der;
    size_t issued_len;
    EVP_PKEY *key;                       /* the subject key to certify */
};

/* {certificate, chain, certificates}: the request's own certificate at the
 * top (as before pairs) and first in `certificates`, its partners after it. */
static json_t *issued_view(struct ca *ca, const struct issue_work *w, const struct issuer *is)
{
    json_t *view = pair_cert_view(w->issued_der, w->issued_len, is);
    json_t *list = json_array();
    json_t *own = view ? json_deep_copy(view) : NULL;
    bool ok = view && list && own &&
              !json_object_set_new(own, "slot", json_string(w->r.slot)) &&
              !json_object_set_new(own, "role", json_string(pair_role(w->r.slot)));

    if (!ok)
        json_decref(own);
    else
        ok = !json_array_append_new(list, own);   /* takes `own` whatever it answers */
    ok = ok && pair_issued_views(ca, &w->r, list) &&
         !json_object_set_new(view, "certificates", json_incref(list));
    json_decref(list);
    if (!ok) {
        json_decref(view);
        return NULL;
    }
    return view;
}

static void work_free(struct issue_work *w)
{
    X509_free(w->old);
    X509_free(w->issued);
    free(w->issued_der);
    EVP_PKEY_free(w->key);
}

static struct ca_problem csr_key(const char *csr_b64, enum key_alg want, EVP_PKEY **key)
{
    unsigned char *der = NULL;
    size_t len = 0;
    enum csr_check c;

    if (!csr_b64 || !codec_unbase64(csr_b64, CSR_MAX_BYTES, &der, &len))
        return ca_bad_field("csr");
    c = csr_check(der, len, want, key);
    free(der);
    return c == CSR_OK ? ca_ok() : ca_bad_field("csr");
}

/* The key to certify: the slot's recorded one (keep) or the request's (new). */
static struct ca_problem choose_key(struct issue_work *w, const char *csr_b64)
{
    struct ca_problem p;

    if (!cr_new_key(w->r.kind)) {
        if (!w->old || !(w->key = X509_get_pubkey(w->old)))
            return ca_fail(CA_INTERNAL);
        return ca_ok();
    }
    p = csr_key(csr_b64, w->r.key_alg, &w->key);
    /* a new-key action that certifies the old key again renews nothing */
    if (p.code == CA_OK && w->old && EVP_PKEY_eq(X509_get0_pubkey(w->old), w->key) == 1)
        return ca_bad_field("csr");
    return p;
}

/* Asked again for what was issued already: a keep action, or the same key. */
static bool already_issued(const struct issue_work *w)
{
    return w->issued && (!cr_new_key(w->r.kind) ||
                         EVP_PKEY_eq(X509_get0_pubkey(w->issued), w->key) == 1);
}

static struct ca_problem issue_new(struct ca *ca, struct issue_work *w, const struct issuer *is)
{
    unsigned char *subject = NULL, *der = NULL;
    size_t subject_len = 0, len = 0;
    struct cert_facts facts;
    char canon[CA_SERIAL_MAX];
    struct ca_problem p = ca_fail(CA_INTERNAL);
    struct issue_order o = { .issuer = is, .key = w->key, .old = w->old, .slot = w->r.slot };

    if (request_blob(ca->db, "SELECT subject_der FROM cert_requests WHERE number = ?",
                     w->r.number, &subject, &subject_len) != CA_OK || !subject)
        goto out;
    o.subject_der = subject;
    o.subject_len = subject_len;
    if (!cert_issue(&o, &der, &len, &facts) ||
        !text_canonical_serial(facts.serial, canon, sizeof canon) ||
        db_exec(ca->db, "UPDATE cert_requests SET state = 'issued', issued_der = ?, "
                        "issued_serial = ?, updated_at = ? WHERE number = ? "
                        "AND state IN ('approved', 'issued')", "bsts",
                der, len, canon, time(NULL), w->r.number) != 1)
        goto out;
    free(w->issued_der);
    w->issued_der = der;
    w->issued_len = len;
    der = NULL;
    p = ca_ok();
out:
    free(subject);
    free(der);
    return p;
}

static struct ca_problem issue_in_tx(struct ca *ca, const char *action_id, const char *csr_b64,
                                     struct issue_work *w, const struct issuer **is)
{
    struct ca_problem p = load_open_action(ca, action_id, &w->r);
    enum ca_code code;

    if (p.code != CA_OK)
        return p;
    if ((code = certreq_slot_cert(ca->db, w->r.token_id, w->r.slot, &w->old)) != CA_OK ||
        (code = request_blob(ca->db, "SELECT issued_der FROM cert_requests WHERE number = ?",
                             w->r.number, &w->issued_der, &w->issued_len)) != CA_OK)
        return ca_fail(code);
    if (w->issued_der && !(w->issued = cert_parse(w->issued_der, w->issued_len)))
        return ca_fail(CA_INTERNAL);
    if ((p = choose_key(w, csr_b64)).code != CA_OK)
        return p;
    *is = issuers_pick(ca->issuers, w->old, w->r.key_alg);
    if (!already_issued(w)) {
        if (!*is) {
            ca_log("action %.12s…: no issuing CA for %s keys (--issuer)", action_id,
                   key_alg_name(w->r.key_alg));
            return ca_fail(CA_INTERNAL);
        }
        if ((p = issue_new(ca, w, *is)).code != CA_OK)
            return p;
    }
    /* The pair is issued together, in the same transaction, or not at all. */
    return pair_issue(ca, &w->r);
}

struct ca_problem action_issue(struct ca *ca, const char *action_id, const char *csr_b64,
                               json_t **out)
{
    struct issue_work w = { 0 };
    const struct issuer *is = NULL;
    DB_TX tx = { 0 };
    struct ca_problem p;

    *out = NULL;
    if (!db_tx_begin(&tx, ca->db))
        return ca_fail(CA_INTERNAL);
    p = issue_in_tx(ca, action_id, csr_b64, &w, &is);
    if (p.code == CA_OK && (!db_tx_commit(&tx) ||
                            !(*out = issued_view(ca, &w, is))))
        p = ca_fail(CA_INTERNAL);
    if (p.code == CA_OK)
        ca_log("action %.12s… issued (%s, slot %s)", action_id, cr_kind_name(w.r.kind),
               w.r.slot);
    work_free(&w);
    return p;
}

/* --- confirm ----------------------------------------------------------------------- */

/* The slot now holds the certificate: the next keep action works from it,
 * and unlock/v1 knows it. The order is used up. */
static bool record_written(sqlite3 *db, const struct cert_request *r)
{
    unsigned char *der = NULL;
    size_t len = 0;
    struct cert_facts facts;
    X509 *x = NULL;
    bool ok = request_blob(db, "SELECT issued_der FROM cert_requests WHERE number = ?",
                           r->number, &der, &len) == CA_OK && der &&
              (x = cert_parse(der, len)) && cert_facts_of(x, &facts) &&
              token_set_slot_certificate(db, r->token_id, r->slot, facts.serial, der, len, true) &&
              token_add_certificate(db, r->token_id, facts.serial, facts.issuer) &&
              pair_record_written(db, r) && (!r->order_id[0] || order_consume(db, r->order_id)) &&
              db_exec(db, "UPDATE cert_requests SET state = 'done', updated_at = ? "
                          "WHERE number = ? AND state = 'issued'", "ts", time(NULL),
                      r->number) == 1;

    X509_free(x);
    free(der);
    return ok;
}

struct ca_problem action_confirm(struct ca *ca, const char *action_id, const char *serial,
                                 json_t *certificates, json_t **out)
{
    char canon[CA_SERIAL_MAX];
    struct cert_request r;
    DB_TX tx = { 0 };
    struct ca_problem p;

    *out = NULL;
    if (!text_canonical_serial(serial, canon, sizeof canon))
        return ca_bad_field("serial");
    if (!db_tx_begin(&tx, ca->db))
        return ca_fail(CA_INTERNAL);
    if ((p = load_action(ca, action_id, &r)).code != CA_OK)
        return p;
    if (r.state != CR_ISSUED && r.state != CR_DONE)
        return state_conflict(&r);
    if (strcmp(canon, r.issued_serial) != 0)
        return ca_bad_field("serial");
    if ((p = pair_check_confirmed(ca->db, &r, certificates)).code != CA_OK)
        return p;
    if (r.state == CR_ISSUED && (!record_written(ca->db, &r) || !db_tx_commit(&tx)))
        return ca_fail(CA_INTERNAL);
    if (r.state == CR_ISSUED)
        ca_log("action %.12s… confirmed: done", action_id);
    *out = json_pack("{s:s}", "state", cr_state_name(CR_DONE));
    return *out ? ca_ok() : ca_fail(CA_INTERNAL);
}
