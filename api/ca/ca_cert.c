/* SPDX-License-Identifier: MIT */
/*
 * api/ca/ca_cert.c — the cert/v1 calls on the shared exchange of api/ca/ca_http.h,
 * and the checks of every answer: an ACTION whose every member has its
 * protocol form, base64 that decodes to no more than a certificate, a
 * management-auth answer exactly one cipher block long.
 */
#include "api/ca/ca_cert.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/base/b64.h"
#include "api/ca/ca_http.h"
#include "api/base/scoped.h"

#define HEX_LOWER       "0123456789abcdef"
#define HEX_UPPER       "0123456789ABCDEF"
#define DIGITS          "0123456789"
#define TIME_CHARS      DIGITS "TZ:.+-"
#define ACTIONS_MAX     64          /* more than any token has open at once */
#define DES_BLOCK       8
#define AES_BLOCK       16
#define PIV_SLOT_KEY_MANAGEMENT 0x9D  /* the encryption certificate's slot */

#define N_ITEMS(a) (sizeof (a) / sizeof (a)[0])


/* --- names ------------------------------------------------------------------ */

static const char *const kind_names[CA_KIND__COUNT] = {
    [CA_KIND_CHANGE] = "change",
    [CA_KIND_RENEWAL] = "renewal",
    [CA_KIND_REINSTALL] = "reinstall",
    [CA_KIND_ISSUE] = "issue",
};

static const char *const state_names[CA_ACTION__COUNT] = {
    [CA_ACTION_APPROVED] = "approved",
    [CA_ACTION_ISSUED] = "issued",
    [CA_ACTION_DONE] = "done",
    [CA_ACTION_EXPIRED] = "expired",
};

static const struct {
    uint8_t alg;
    const char *name;
    size_t block;
} mgmt_algs[] = {
    { TOKEN_MGMT_ALG_3DES, "3DES", DES_BLOCK },
    { TOKEN_MGMT_ALG_AES128, "AES-128", AES_BLOCK },
    { TOKEN_MGMT_ALG_AES192, "AES-192", AES_BLOCK },
    { TOKEN_MGMT_ALG_AES256, "AES-256", AES_BLOCK },
};

static const struct {
    uint8_t slot;
    const char *name;
} slots[] = {
    { 0x9A, "9a" },
    { 0x9C, "9c" },
    { 0x9D, "9d" },
    { 0x9E, "9e" },
};

static const char *const role_names[] = {
    [CA_ROLE_SIGNING] = "signing",
    [CA_ROLE_ENCRYPTION] = "encryption",
};

const char *ca_cert_role_name(enum ca_cert_role role)
{
    return (unsigned)role < N_ITEMS(role_names) ? role_names[role] : "signing";
}

const char *ca_action_kind_name(enum ca_action_kind kind)
{
    return (unsigned)kind < CA_KIND__COUNT ? kind_names[kind] : NULL;
}

const char *ca_action_state_name(enum ca_action_state state)
{
    return (unsigned)state < CA_ACTION__COUNT ? state_names[state] : NULL;
}

const char *ca_key_policy_name(enum ca_key_policy policy)
{
    return policy == CA_KEY_NEW ? "new" : "keep";
}

const char *ca_mgmt_alg_name(uint8_t alg)
{
    for (size_t i = 0; i < N_ITEMS(mgmt_algs); i++)
        if (mgmt_algs[i].alg == alg)
            return mgmt_algs[i].name;
    return NULL;
}

static size_t mgmt_block(uint8_t alg)
{
    for (size_t i = 0; i < N_ITEMS(mgmt_algs); i++)
        if (mgmt_algs[i].alg == alg)
            return mgmt_algs[i].block;
    return 0;
}

bool ca_mgmt_alg_of_name(const char *name, uint8_t *out)
{
    for (size_t i = 0; i < N_ITEMS(mgmt_algs); i++) {
        if (strcmp(name, mgmt_algs[i].name) == 0) {
            *out = mgmt_algs[i].alg;
            return true;
        }
    }
    return false;
}

static bool index_of_name(const char *name, const char *const *names, int count, int *out)
{
    for (int i = 0; i < count; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = i;
            return true;
        }
    }
    return false;
}

bool ca_cert_state_known(const char *name)
{
    int ignored;

    return index_of_name(name, state_names, CA_ACTION__COUNT, &ignored);
}

static const struct ca_protocol cert_v1 = {
    .prefix = CA_CERT_PREFIX, .service = "certificate service", .state_known = ca_cert_state_known,
};

bool ca_action_kind_of_name(const char *name, enum ca_action_kind *kind)
{
    int index;

    if (!name || !index_of_name(name, kind_names, CA_KIND__COUNT, &index))
        return false;
    *kind = (enum ca_action_kind)index;
    return true;
}

const char *ca_slot_name(uint8_t slot)
{
    for (size_t i = 0; i < N_ITEMS(slots); i++)
        if (slots[i].slot == slot)
            return slots[i].name;
    return "";
}

bool ca_slot_of_name(const char *name, uint8_t *slot)
{
    for (size_t i = 0; i < N_ITEMS(slots); i++) {
        if (name && strcmp(name, slots[i].name) == 0) {
            *slot = slots[i].slot;
            return true;
        }
    }
    return false;
}

#define CERT_ID_CHARS   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-"
#define CERT_ID_SIGN    ".sign"
#define CERT_ID_ENC     ".enc"

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);

    return n > k && strcmp(s + n - k, suffix) == 0;
}

bool ca_cert_id_valid(const char *name)
{
    return name && ca_chars_in(name, CERT_ID_CHARS, CA_CERT_ID_MAX) &&
           (ends_with(name, CERT_ID_SIGN) || ends_with(name, CERT_ID_ENC));
}

/* The role a certificate has when the service does not say: PIV's key
 * management slot, and an SKF key's <container>.enc, hold the encryption one. */
static enum ca_cert_role role_of_cert_id(uint8_t slot, const char *cert_id)
{
    if (slot)
        return slot == PIV_SLOT_KEY_MANAGEMENT ? CA_ROLE_ENCRYPTION : CA_ROLE_SIGNING;
    return ends_with(cert_id, CERT_ID_ENC) ? CA_ROLE_ENCRYPTION : CA_ROLE_SIGNING;
}

bool ca_slot_or_cert_id(const char *name, uint8_t *slot)
{
    if (ca_slot_of_name(name, slot))
        return true;
    *slot = 0;
    return ca_cert_id_valid(name);
}

bool ca_action_set_slot(struct ca_action *a, const char *name)
{
    if (!ca_slot_or_cert_id(name, &a->slot))
        return false;
    snprintf(a->cert_id, sizeof a->cert_id, "%s", name);
    return true;
}

const char *ca_action_slot(const struct ca_action *a)
{
    return a->slot ? ca_slot_name(a->slot) : a->cert_id;
}

/* --- forms ------------------------------------------------------------------- */

bool ca_action_id_valid(const char *id)
{
    size_t prefix = strlen(CA_ACTION_ID_PREFIX);

    return id && strlen(id) == CA_ACTION_ID_LEN && strncmp(id, CA_ACTION_ID_PREFIX, prefix) == 0 &&
           ca_chars_in(id + prefix, HEX_LOWER, CA_ACTION_ID_HEX);
}

bool ca_action_number_valid(const char *number)
{
    return number && strlen(number) == CA_NUMBER_LEN && number[0] == CA_NUMBER_PREFIX &&
           ca_chars_in(number + 1, DIGITS, CA_NUMBER_DIGITS);
}

/* Display text a page may show: UTF-8 (jansson checked it), no control characters. */
static bool subject_valid(const char *s)
{
    if (strlen(s) > CA_SUBJECT_MAX)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < ' ' || *p == 0x7F)
            return false;
    return true;
}

/* --- answers ------------------------------------------------------------------ */

static bool read_old_serial(json_t *v, char *out, size_t size)
{
    const char *s = json_string_value(v);

    out[0] = '\0';
    if (json_is_null(v))
        return true;
    if (!s || !ca_chars_in(s, HEX_UPPER, CA_SERIAL_MAX))
        return false;
    snprintf(out, size, "%s", s);
    return true;
}

/* One member of an action's `certificates`: {slot, role?, oldSerial}. */
static bool read_action_cert(json_t *v, struct ca_action_cert *out)
{
    const char *slot = NULL, *role = NULL;
    json_t *old_serial = NULL;
    int index;

    if (json_unpack(v, "{s:s, s?s, s:o}", "slot", &slot, "role", &role, "oldSerial",
                    &old_serial) ||
        !ca_slot_or_cert_id(slot, &out->slot) ||
        !read_old_serial(old_serial, out->old_serial, sizeof out->old_serial))
        return false;
    snprintf(out->cert_id, sizeof out->cert_id, "%s", slot);
    out->role = role_of_cert_id(out->slot, out->cert_id);
    if (role) {
        if (!index_of_name(role, role_names, (int)N_ITEMS(role_names), &index))
            return false;
        out->role = (enum ca_cert_role)index;
    }
    return true;
}

/* `certificates` (optional): the action's own slot first, then the other
 * half of a pair in another slot. Without it the action has its own alone. */
static bool read_action_certs(json_t *list, struct ca_action *a)
{
    json_t *item;
    size_t i;

    a->certs[0] = (struct ca_action_cert){ .slot = a->slot,
                                           .role = role_of_cert_id(a->slot, a->cert_id) };
    snprintf(a->certs[0].cert_id, sizeof a->certs[0].cert_id, "%s", a->cert_id);
    snprintf(a->certs[0].old_serial, sizeof a->certs[0].old_serial, "%s", a->old_serial);
    a->n_certs = 1;
    if (!list)
        return true;
    if (!json_is_array(list) || json_array_size(list) < 1 ||
        json_array_size(list) > CA_ACTION_CERTS_MAX)
        return false;
    json_array_foreach(list, i, item) {
        if (!read_action_cert(item, &a->certs[i]))
            return false;
        for (size_t j = 0; j < i; j++)
            if (strcmp(a->certs[j].cert_id, a->certs[i].cert_id) == 0)
                return false;
        /* a pair lives on one token: PIV slots both, or SKF ids both */
        if (!a->certs[i].slot != !a->slot)
            return false;
    }
    a->n_certs = json_array_size(list);
    return strcmp(a->certs[0].cert_id, a->cert_id) == 0 &&
           strcmp(a->certs[0].old_serial, a->old_serial) == 0;
}

static ca_err read_action(const struct ca_call *call, json_t *root, struct ca_action *out)
{
    const char *id, *number, *kind, *state, *slot, *policy, *key_alg, *mgmt, *subject, *expires;
    json_t *old_serial;
    json_error_t jerr;
    int index;

    *out = (struct ca_action){ 0 };
    if (json_unpack_ex(root, &jerr, 0,
                       "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s}", "actionId", &id,
                       "number", &number, "kind", &kind, "state", &state, "slot", &slot,
                       "keyPolicy", &policy, "keyAlgorithm", &key_alg, "managementKeyAlgorithm",
                       &mgmt, "subject", &subject, "oldSerial", &old_serial, "expiresAt", &expires))
        return ca_shape_error(call, &jerr, NULL);
    if (!ca_action_id_valid(id))
        return ca_shape_error(call, NULL, "actionId");
    if (!ca_action_number_valid(number))
        return ca_shape_error(call, NULL, "number");
    if (!ca_action_kind_of_name(kind, &out->kind))
        return ca_shape_error(call, NULL, "kind");
    if (!index_of_name(state, state_names, CA_ACTION__COUNT, &index))
        return ca_shape_error(call, NULL, "state");
    out->state = (enum ca_action_state)index;
    if (!ca_action_set_slot(out, slot))
        return ca_shape_error(call, NULL, "slot");
    if (strcmp(policy, "keep") != 0 && strcmp(policy, "new") != 0)
        return ca_shape_error(call, NULL, "keyPolicy");
    out->key_policy = strcmp(policy, "new") == 0 ? CA_KEY_NEW : CA_KEY_KEEP;
    if (token_key_alg_from_name(key_alg, &out->key_alg) != TOKEN_OK)
        return ca_shape_error(call, NULL, "keyAlgorithm");
    if (!ca_mgmt_alg_of_name(mgmt, &out->mgmt_alg))
        return ca_shape_error(call, NULL, "managementKeyAlgorithm");
    if (!subject_valid(subject))
        return ca_shape_error(call, NULL, "subject");
    if (!read_old_serial(old_serial, out->old_serial, sizeof out->old_serial))
        return ca_shape_error(call, NULL, "oldSerial");
    if (!ca_chars_in(expires, TIME_CHARS, CA_TIME_MAX))
        return ca_shape_error(call, NULL, "expiresAt");
    if (!read_action_certs(json_object_get(root, "certificates"), out))
        return ca_shape_error(call, NULL, "certificates");
    snprintf(out->id, sizeof out->id, "%s", id);
    snprintf(out->number, sizeof out->number, "%s", number);
    snprintf(out->subject, sizeof out->subject, "%s", subject);
    snprintf(out->expires_at, sizeof out->expires_at, "%s", expires);
    return CA_OK;
}

static ca_err read_actions(const struct ca_call *call, json_t *root, struct ca_action **out,
                           size_t *n_out)
{
    json_t *list = json_object_get(root, "actions"), *item;
    struct ca_action *actions;
    size_t i, n;
    ca_err err;

    if (!json_is_array(list) || json_array_size(list) > ACTIONS_MAX)
        return ca_shape_error(call, NULL, "actions");
    n = json_array_size(list);
    actions = calloc(n ? n : 1, sizeof *actions);
    if (!actions)
        return CA_E_NO_MEMORY;
    json_array_foreach(list, i, item) {
        err = read_action(call, item, &actions[i]);
        if (err != CA_OK) {
            OPENSSL_cleanse(actions, n * sizeof *actions);
            free(actions);
            return err;
        }
    }
    *out = actions;
    *n_out = n;
    return CA_OK;
}

void ca_issued_clear(struct ca_issued *is)
{
    free(is->der);
    for (size_t i = 0; i < is->n_chain; i++)
        free(is->chain[i]);
    *is = (struct ca_issued){ 0 };
}

static ca_err read_issued(const struct ca_call *call, json_t *root, struct ca_issued *out)
{
    const char *cert;
    json_t *chain, *item;
    json_error_t jerr;
    size_t i;

    *out = (struct ca_issued){ 0 };
    if (json_unpack_ex(root, &jerr, 0, "{s:s, s:o}", "certificate", &cert, "chain", &chain))
        return ca_shape_error(call, &jerr, NULL);
    if (!b64_decode(cert, CA_CERT_DER_MAX, &out->der, &out->der_len))
        return ca_shape_error(call, NULL, "certificate");
    if (!json_is_array(chain) || json_array_size(chain) > CA_CHAIN_MAX) {
        ca_issued_clear(out);
        return ca_shape_error(call, NULL, "chain");
    }
    json_array_foreach(chain, i, item) {
        const char *text = json_string_value(item);

        if (!text || !b64_decode(text, CA_CERT_DER_MAX, &out->chain[i], &out->chain_len[i])) {
            ca_issued_clear(out);
            return ca_shape_error(call, NULL, "chain");
        }
        out->n_chain = i + 1;
    }
    return CA_OK;
}

/* The answer's `certificates` (a pair's): each {slot, certificate, chain}
 * in a slot of its own, at most CA_ACTION_CERTS_MAX. Without the member the
 * top-level certificate is the one. */
static ca_err read_issued_all(const struct ca_call *call, json_t *root,
                              struct ca_issued out[CA_ACTION_CERTS_MAX], size_t *n)
{
    json_t *list = json_object_get(root, "certificates"), *item;
    ca_err err;
    size_t i;

    *n = 0;
    if (!list) {
        err = read_issued(call, root, &out[0]);
        *n = err == CA_OK ? 1 : 0;
        return err;
    }
    if (!json_is_array(list) || json_array_size(list) < 1 ||
        json_array_size(list) > CA_ACTION_CERTS_MAX)
        return ca_shape_error(call, NULL, "certificates");
    json_array_foreach(list, i, item) {
        const char *name = json_string_value(json_object_get(item, "slot"));
        uint8_t slot = 0;

        if (!ca_slot_or_cert_id(name, &slot))
            return ca_shape_error(call, NULL, "certificates");
        for (size_t j = 0; j < *n; j++)
            if (strcmp(out[j].cert_id, name) == 0)
                return ca_shape_error(call, NULL, "certificates");
        if ((err = read_issued(call, item, &out[i])) != CA_OK)
            return err;
        snprintf(out[i].cert_id, sizeof out[i].cert_id, "%s", name);
        *n = i + 1;
    }
    return CA_OK;
}

/* --- the calls ------------------------------------------------------------------ */

static json_t *presented_json(const struct ca_presented_cert *certs, size_t n)
{
    json_t *list = json_array();

    for (size_t i = 0; list && i < n; i++) {
        if (json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "slot", certs[i].slot,
                                                  "serial", certs[i].serial, "issuer",
                                                  certs[i].issuer))) {
            json_decref(list);
            return NULL;
        }
    }
    return list;
}

ca_err ca_cert_query(const struct ca_client *c, const char *token_id,
                     const struct ca_presented_cert *certs, size_t n_certs,
                     struct ca_action **out, size_t *n_out, struct ca_refusal *why)
{
    SCOPED_JSON *body = json_pack("{s:s, s:o}", "tokenId", token_id, "certificates",
                                  presented_json(certs, n_certs));
    struct ca_call call = { .protocol = &cert_v1, .what = "POST /actions/query",
                            .path = "/actions/query", .body = body, .post = true };
    SCOPED_JSON *root = NULL;
    ca_err err;

    ca_refusal_reset(why);
    *out = NULL;
    *n_out = 0;
    if (!body)
        return CA_E_NO_MEMORY;
    err = ca_exchange(c, &call, &root, why);
    return err ? err : read_actions(&call, root, out, n_out);
}

ca_err ca_cert_get(const struct ca_client *c, const char *action_id, struct ca_action *out,
                   struct ca_refusal *why)
{
    struct ca_call call = { .protocol = &cert_v1, .what = "GET /actions/{id}" };
    SCOPED_JSON *root = NULL;
    ca_err err;

    ca_refusal_reset(why);
    if (!ca_action_id_valid(action_id))
        return CA_E_ACTION_UNKNOWN;
    snprintf(call.path, sizeof call.path, "/actions/%s", action_id);
    err = ca_exchange(c, &call, &root, why);
    if (err)
        return err;
    err = read_action(&call, root, out);
    /* The service answers for the action asked about, or it is of no use. */
    if (err == CA_OK && strcmp(out->id, action_id) != 0)
        return ca_shape_error(&call, NULL, "actionId");
    return err;
}

ca_err ca_cert_management_auth(const struct ca_client *c, const char *action_id, uint8_t alg,
                               const uint8_t *challenge, size_t len, uint8_t *response,
                               struct ca_refusal *why)
{
    char *challenge_b64 = NULL;
    SCOPED_JSON *body = NULL;
    struct ca_call call = { .protocol = &cert_v1, .what = "POST /actions/{id}/management-auth",
                            .post = true };
    SCOPED_JSON *root = NULL;
    uint8_t *answer = NULL;
    size_t answer_len = 0;
    const char *text;
    ca_err err;

    ca_refusal_reset(why);
    if (!ca_action_id_valid(action_id))
        return CA_E_ACTION_UNKNOWN;
    if (!ca_mgmt_alg_name(alg) || len != mgmt_block(alg))
        return CA_E_BAD_REQUEST;
    if (!(challenge_b64 = b64_encode(challenge, len)))
        return CA_E_NO_MEMORY;
    body = json_pack("{s:s, s:s}", "algorithm", ca_mgmt_alg_name(alg), "challenge", challenge_b64);
    free(challenge_b64);
    if (!body)
        return CA_E_NO_MEMORY;
    call.body = body;
    snprintf(call.path, sizeof call.path, "/actions/%s/management-auth", action_id);
    err = ca_exchange(c, &call, &root, why);
    if (err)
        return err;
    text = json_string_value(json_object_get(root, "response"));
    if (!text || !b64_decode(text, CA_MGMT_BLOCK_MAX, &answer, &answer_len) || answer_len != len) {
        free(answer);
        return ca_shape_error(&call, NULL, "response");
    }
    memcpy(response, answer, len);
    OPENSSL_cleanse(answer, answer_len);
    free(answer);
    return CA_OK;
}

ca_err ca_cert_issue_all(const struct ca_client *c, const char *action_id, const uint8_t *csr,
                         size_t csr_len, struct ca_issued out[CA_ACTION_CERTS_MAX], size_t *n,
                         struct ca_refusal *why)
{
    char *csr_b64 = NULL;
    SCOPED_JSON *body = NULL;
    struct ca_call call = { .protocol = &cert_v1, .what = "POST /actions/{id}/issue",
                            .post = true };
    SCOPED_JSON *root = NULL;
    ca_err err;

    ca_refusal_reset(why);
    for (size_t i = 0; i < CA_ACTION_CERTS_MAX; i++)
        out[i] = (struct ca_issued){ 0 };
    *n = 0;
    if (!ca_action_id_valid(action_id))
        return CA_E_ACTION_UNKNOWN;
    if (csr && !(csr_b64 = b64_encode(csr, csr_len)))
        return CA_E_NO_MEMORY;
    body = csr_b64 ? json_pack("{s:s}", "csr", csr_b64) : json_object();
    free(csr_b64);
    if (!body)
        return CA_E_NO_MEMORY;
    call.body = body;
    snprintf(call.path, sizeof call.path, "/actions/%s/issue", action_id);
    err = ca_exchange(c, &call, &root, why);
    return err ? err : read_issued_all(&call, root, out, n);
}

ca_err ca_cert_issue(const struct ca_client *c, const char *action_id, const uint8_t *csr,
                     size_t csr_len, struct ca_issued *out, struct ca_refusal *why)
{
    struct ca_issued all[CA_ACTION_CERTS_MAX];
    size_t n = 0;
    ca_err err = ca_cert_issue_all(c, action_id, csr, csr_len, all, &n, why);

    *out = all[0];
    for (size_t i = 1; i < n; i++)
        ca_issued_clear(&all[i]);
    return err;
}

static ca_err confirm_body(const struct ca_client *c, const char *action_id, json_t *body,
                           struct ca_refusal *why);

/* [{slot, serial}…] of every slot written (a pair's two); NULL when out of memory. */
static json_t *written_json(const struct ca_written *written, size_t n)
{
    json_t *list = json_array();

    for (size_t i = 0; list && i < n; i++) {
        if (json_array_append_new(list, json_pack("{s:s, s:s}", "slot", written[i].slot,
                                                  "serial", written[i].serial))) {
            json_decref(list);
            return NULL;
        }
    }
    return list;
}

ca_err ca_cert_confirm(const struct ca_client *c, const char *action_id, const char *serial,
                       struct ca_refusal *why)
{
    SCOPED_JSON *body = json_pack("{s:s}", "serial", serial);

    return confirm_body(c, action_id, body, why);
}

ca_err ca_cert_confirm_all(const struct ca_client *c, const char *action_id,
                           const struct ca_written *written, size_t n, struct ca_refusal *why)
{
    /* `serial` for a service of before pairs, `certificates` for all of them. */
    SCOPED_JSON *body = n ? json_pack("{s:s, s:o}", "serial", written[0].serial,
                                      "certificates", written_json(written, n))
                          : NULL;

    return confirm_body(c, action_id, body, why);
}

static ca_err confirm_body(const struct ca_client *c, const char *action_id, json_t *body,
                           struct ca_refusal *why)
{
    struct ca_call call = { .protocol = &cert_v1, .what = "POST /actions/{id}/confirm",
                            .body = body, .post = true };
    SCOPED_JSON *root = NULL;
    const char *state;
    ca_err err;

    ca_refusal_reset(why);
    if (!body)
        return CA_E_NO_MEMORY;
    if (!ca_action_id_valid(action_id))
        return CA_E_ACTION_UNKNOWN;
    snprintf(call.path, sizeof call.path, "/actions/%s/confirm", action_id);
    err = ca_exchange(c, &call, &root, why);
    if (err)
        return err;
    state = json_string_value(json_object_get(root, "state"));
    if (!state || strcmp(state, state_names[CA_ACTION_DONE]) != 0)
        return ca_shape_error(&call, NULL, "state");
    return CA_OK;
}
