/* SPDX-License-Identifier: MIT */
/*
 * api/certwrite/certwrite_journal.c — certificate-write records on disk, and the
 * recovery rules that read them.
 *
 * Record (format 1), the file ACTION_ID.json:
 *   {"format":1, "step":"installing", "tokenId":"piv-…", "caUrl":"https://…",
 *    "actionId":"act-…", "number":"C…", "kind":"renewal", "slot":"9a",
 *    "keyPolicy":"new", "keyAlgorithm":"SM2", "managementKeyAlgorithm":"AES-128",
 *    "oldSerial":"…"|null, "stagedKey":"<b64 SPKI>", "csr":"<b64 DER>",
 *    "certificate":"<b64 DER>", "serial":"…"}
 * with stagedKey and csr from `signed` on (new keys only), certificate and
 * serial from `writing` / `installing` on. A record missing what its step
 * needs is not read (and left alone, logged), as is a torn or foreign file.
 *
 * Format 2 is format 1 and the other half of a pair, with the certificate:
 *   "partners": [{"slot":"9d", "certificate":"<b64 DER>", "serial":"…"}]
 * (an SKF key's "slot" is a certificate id, "<container>.enc", as the action's is)
 * A record without partners is written as format 1, so a ukeyd of before
 * pairs still finishes it; one with partners is format 2, which such a ukeyd
 * leaves alone rather than finish half of.
 */
#include "api/certwrite/certwrite_journal.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/base/b64.h"
#include "api/base/journal_dir.h"
#include "api/base/log.h"

#define RECORD_FORMAT_SINGLE  1
#define RECORD_FORMAT_PAIR    2
#define SPKI_MAX        1024

struct cert_journal {
    struct journal_dir *dir;
};

static const char *const step_names[CERT_STEP__COUNT] = {
    [CERT_STEP_GENERATING] = "generating",
    [CERT_STEP_SIGNED] = "signed",
    [CERT_STEP_WRITING] = "writing",
    [CERT_STEP_INSTALLING] = "installing",
    [CERT_STEP_CONFIRMING] = "confirming",
};

const char *cert_step_name(enum cert_step step)
{
    return (unsigned)step < CERT_STEP__COUNT ? step_names[step] : "unknown";
}

static bool step_of_name(const char *name, enum cert_step *out)
{
    int s = journal_name_index(name, step_names, CERT_STEP__COUNT);

    *out = (enum cert_step)s;
    return s >= 0;
}

void cert_record_clear(struct cert_record *rec)
{
    free(rec->staged_spki);
    free(rec->csr);
    free(rec->cert);
    for (size_t i = 0; i < rec->n_partners && i < CERT_PARTNERS_MAX; i++)
        free(rec->partners[i].cert);
    OPENSSL_cleanse(rec, sizeof *rec);
}

bool cert_record_slot_has_new(const struct cert_record *rec)
{
    return rec->step >= CERT_STEP_WRITING;
}

/* --- open, write, remove -------------------------------------------------------- */

int cert_journal_open(const char *state_dir, struct cert_journal **out, char *why,
                      size_t why_size)
{
    struct cert_journal *j = calloc(1, sizeof *j);

    *out = NULL;
    if (!j) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    if (journal_dir_open(state_dir, CERT_JOURNAL_SUBDIR, &j->dir, why, why_size) < 0) {
        free(j);
        return -1;
    }
    *out = j;
    return 0;
}

void cert_journal_close(struct cert_journal *j)
{
    if (!j)
        return;
    journal_dir_close(j->dir);
    free(j);
}

/* Sets `name` to the base64 of `data` when there is data. */
static int set_b64(json_t *v, const char *name, const uint8_t *data, size_t len)
{
    char *text;
    int rc;

    if (!data)
        return 0;
    if (!(text = b64_encode(data, len)))
        return -1;
    rc = json_object_set_new(v, name, json_string(text));
    free(text);
    return rc;
}

static json_t *partner_to_json(const struct cert_partner *p)
{
    json_t *v = json_pack("{s:s, s:s}", "slot", p->cert_id, "serial", p->serial);

    if (v && set_b64(v, "certificate", p->cert, p->cert_len)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

/* "partners", when the record has any. */
static int set_partners(json_t *v, const struct cert_record *rec)
{
    json_t *list;

    if (!rec->n_partners)
        return 0;
    if (!(list = json_array()))
        return -1;
    for (size_t i = 0; i < rec->n_partners; i++) {
        if (json_array_append_new(list, partner_to_json(&rec->partners[i]))) {
            json_decref(list);
            return -1;
        }
    }
    return json_object_set_new(v, "partners", list);
}

static json_t *record_to_json(const struct cert_record *rec)
{
    const struct ca_action *a = &rec->action;
    json_t *v = json_pack(
        "{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "format",
        rec->n_partners ? RECORD_FORMAT_PAIR : RECORD_FORMAT_SINGLE,
        "step", cert_step_name(rec->step), "tokenId", rec->token_id, "caUrl", rec->ca_url,
        "actionId", a->id, "number", a->number, "kind", ca_action_kind_name(a->kind), "slot",
        ca_action_slot(a), "keyPolicy", ca_key_policy_name(a->key_policy), "keyAlgorithm",
        token_key_alg_name(a->key_alg), "managementKeyAlgorithm", ca_mgmt_alg_name(a->mgmt_alg),
        "oldSerial", a->old_serial[0] ? json_string(a->old_serial) : json_null());

    if (v && (set_b64(v, "stagedKey", rec->staged_spki, rec->staged_spki_len) ||
              set_b64(v, "csr", rec->csr, rec->csr_len) ||
              set_b64(v, "certificate", rec->cert, rec->cert_len) ||
              (rec->serial[0] && json_object_set_new(v, "serial", json_string(rec->serial))) ||
              set_partners(v, rec))) {
        json_decref(v);
        return NULL;
    }
    return v;
}

int cert_journal_write(struct cert_journal *j, const struct cert_record *rec)
{
    json_t *v;
    int rc;

    if (!ca_action_id_valid(rec->action.id))
        return -1;
    v = record_to_json(rec);
    rc = v ? journal_dir_write(j->dir, rec->action.id, v) : -1;
    json_decref(v);
    if (rc < 0)
        log_msg(LOG_ERR, &(struct log_fields){ .token_id = rec->token_id },
                "certificate journal: cannot record step %s: %m", cert_step_name(rec->step));
    return rc;
}

int cert_journal_remove(struct cert_journal *j, const char *action_id)
{
    if (!ca_action_id_valid(action_id))
        return -1;
    if (journal_dir_remove(j->dir, action_id) < 0) {
        log_msg(LOG_ERR, NULL, "certificate journal: cannot delete a record: %m");
        return -1;
    }
    return 0;
}

/* --- read ------------------------------------------------------------------------- */

static bool read_b64(json_t *v, const char *name, size_t max, uint8_t **out, size_t *len)
{
    const char *text = json_string_value(json_object_get(v, name));

    return !text || b64_decode(text, max, out, len);
}

static bool action_from_json(json_t *v, struct ca_action *a)
{
    const char *id, *number, *kind, *slot, *policy, *key_alg, *mgmt;
    json_t *old_serial;

    if (json_unpack(v, "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "actionId", &id, "number",
                    &number, "kind", &kind, "slot", &slot, "keyPolicy", &policy, "keyAlgorithm",
                    &key_alg, "managementKeyAlgorithm", &mgmt, "oldSerial", &old_serial) ||
        !ca_action_id_valid(id) || !ca_action_number_valid(number) ||
        !ca_action_kind_of_name(kind, &a->kind) || !ca_action_set_slot(a, slot) ||
        (strcmp(policy, "keep") != 0 && strcmp(policy, "new") != 0) ||
        token_key_alg_from_name(key_alg, &a->key_alg) != TOKEN_OK || !ca_mgmt_alg_of_name(mgmt, &a->mgmt_alg))
        return false;
    if (!json_is_null(old_serial) &&
        !journal_copy_text(json_string_value(old_serial), a->old_serial, sizeof a->old_serial))
        return false;
    a->key_policy = strcmp(policy, "new") == 0 ? CA_KEY_NEW : CA_KEY_KEEP;
    a->state = CA_ACTION_APPROVED;
    snprintf(a->id, sizeof a->id, "%s", id);
    snprintf(a->number, sizeof a->number, "%s", number);
    return true;
}

/* "partners" of a format 2 record: each in a slot of its own, not the
 * action's, on the same kind of token (PIV slots both, or SKF ids both). */
static bool read_partners(json_t *v, struct cert_record *rec)
{
    json_t *list = json_object_get(v, "partners"), *item;
    size_t i;

    if (!list)
        return true;
    if (!json_is_array(list) || json_array_size(list) > CERT_PARTNERS_MAX)
        return false;
    json_array_foreach(list, i, item) {
        struct cert_partner *p = &rec->partners[i];
        const char *slot = json_string_value(json_object_get(item, "slot"));
        const char *serial = json_string_value(json_object_get(item, "serial"));

        rec->n_partners = i + 1;
        if (!ca_slot_or_cert_id(slot, &p->slot) || !p->slot != !rec->action.slot ||
            strcmp(slot, ca_action_slot(&rec->action)) == 0 ||
            !journal_copy_text(slot, p->cert_id, sizeof p->cert_id) ||
            !journal_copy_text(serial, p->serial, sizeof p->serial) ||
            !read_b64(item, "certificate", CA_CERT_DER_MAX, &p->cert, &p->cert_len) || !p->cert)
            return false;
    }
    return true;
}

/* What each step must carry to be acted upon. */
static bool complete_for_step(const struct cert_record *rec)
{
    bool is_new = rec->action.key_policy == CA_KEY_NEW;

    switch (rec->step) {
    case CERT_STEP_GENERATING:
        return is_new;
    case CERT_STEP_SIGNED:
        return is_new && rec->staged_spki && rec->csr;
    case CERT_STEP_WRITING:
        return !is_new && rec->cert && rec->serial[0];
    case CERT_STEP_INSTALLING:
        return is_new && rec->cert && rec->serial[0];
    case CERT_STEP_CONFIRMING:
        return rec->cert && rec->serial[0];
    case CERT_STEP__COUNT:
        break;
    }
    return false;
}

static bool record_from_json(json_t *v, struct cert_record *rec)
{
    const char *step, *token, *url, *serial = NULL;
    int format = 0;

    *rec = (struct cert_record){ 0 };
    if (!v ||
        json_unpack(v, "{s:i, s:s, s:s, s:s, s?s}", "format", &format, "step", &step, "tokenId",
                    &token, "caUrl", &url, "serial", &serial) ||
        (format != RECORD_FORMAT_SINGLE && format != RECORD_FORMAT_PAIR) ||
        !step_of_name(step, &rec->step) ||
        !journal_copy_text(token, rec->token_id, sizeof rec->token_id) ||
        !journal_copy_text(url, rec->ca_url, sizeof rec->ca_url) ||
        !action_from_json(v, &rec->action) ||
        (serial && !journal_copy_text(serial, rec->serial, sizeof rec->serial)))
        return false;
    if (!read_b64(v, "stagedKey", SPKI_MAX, &rec->staged_spki, &rec->staged_spki_len) ||
        !read_b64(v, "csr", CA_CSR_DER_MAX, &rec->csr, &rec->csr_len) ||
        !read_b64(v, "certificate", CA_CERT_DER_MAX, &rec->cert, &rec->cert_len) ||
        (format == RECORD_FORMAT_PAIR && !read_partners(v, rec)) ||
        (rec->n_partners && !rec->cert) || !complete_for_step(rec)) {
        cert_record_clear(rec);
        return false;
    }
    return true;
}

/* A record is read only when its file is named after its action. */
static bool parse_record(const char *id, json_t *v, void *item)
{
    struct cert_record *rec = item;

    return record_from_json(v, rec) && strcmp(rec->action.id, id) == 0;
}

static void discard_record(void *item)
{
    cert_record_clear(item);
}

static const struct journal_reader reader = {
    .label = "certificate journal", .item_size = sizeof(struct cert_record),
    .parse = parse_record, .discard = discard_record,
};

void cert_records_free(struct cert_record *recs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cert_record_clear(&recs[i]);
    free(recs);
}

int cert_journal_list(struct cert_journal *j, struct cert_record **out, size_t *n)
{
    void *items;
    int rc = journal_dir_list(j->dir, &reader, &items, n);

    *out = items;
    return rc;
}

/* --- recovery rules ------------------------------------------------------------- */

static const char *const plan_names[] = {
    [CERT_PLAN_CONFIRM] = "confirm",
    [CERT_PLAN_WRITE] = "write",
    [CERT_PLAN_INSTALL] = "install",
    [CERT_PLAN_ISSUE] = "issue",
    [CERT_PLAN_WAIT_FOR_USER] = "wait-for-user",
    [CERT_PLAN_LOST] = "lost",
};

const char *cert_plan_name(enum cert_plan plan)
{
    return (unsigned)plan < sizeof plan_names / sizeof plan_names[0] ? plan_names[plan] : "?";
}

/* An install stopped somewhere between the staged key's move and the read-back. */
static enum cert_plan plan_install(const struct token_slot_state *slot,
                                   const struct token_slot_state *staged)
{
    if (slot->cert_is_given && (slot->key_matches || !slot->key_known))
        return CERT_PLAN_CONFIRM;
    if (slot->key_known && slot->key_matches)
        return CERT_PLAN_WRITE;           /* moved, not (fully) written */
    if (staged->key_matches || !staged->key_known)
        return CERT_PLAN_INSTALL;         /* not moved yet (or the card cannot tell) */
    return CERT_PLAN_LOST;
}

enum cert_plan certwrite_plan(const struct cert_record *rec, const struct token_slot_state *slot,
                              const struct token_slot_state *staged)
{
    switch (rec->step) {
    case CERT_STEP_GENERATING:
        return CERT_PLAN_WAIT_FOR_USER;
    case CERT_STEP_SIGNED:
        return CERT_PLAN_ISSUE;
    case CERT_STEP_WRITING:
        return slot->cert_is_given ? CERT_PLAN_CONFIRM : CERT_PLAN_WRITE;
    case CERT_STEP_INSTALLING:
        return plan_install(slot, staged);
    case CERT_STEP_CONFIRMING:
    case CERT_STEP__COUNT:
        break;
    }
    return CERT_PLAN_CONFIRM;
}
