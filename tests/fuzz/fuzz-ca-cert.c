/* SPDX-License-Identifier: MIT */
/*
 * fuzz-ca-cert — the CA certificate service's answers (cert/v1,
 * docs/cert-protocol.md) as api/ca/ca_cert.c reads them: query, get,
 * management-auth, issue, confirm. The same in-process HTTP server as
 * fuzz-ca (tests/fuzz/ca-server.h) answers with the input; the client runs
 * unchanged, libcurl and all.
 *
 * Input: one byte picks the call, one the HTTP status, one the
 * Content-Type; the rest is the answer's body.
 *
 * Properties (api/ca/ca_cert.h): the transport rules of fuzz-ca; every action
 * handed on has each member in its protocol form (and get's is the action
 * asked about); an issued certificate and chain are non-empty DER of at most
 * CA_CERT_DER_MAX bytes, no more than CA_CHAIN_MAX of them; a
 * management-auth answer is one block, written only on success.
 */
#include "api/ca/ca_cert.h"
#include "tests/fuzz/ca-server.h"

#define ACTION_ID   "act-0123456789abcdef0123456789abcdef"
#define TOKEN_ID    "piv-068cc87c16b10c9d677a827d878476d8"
#define AES_BLOCK   16
#define UNTOUCHED   0xA5

enum call {
    CALL_QUERY,
    CALL_GET,
    CALL_MGMT_AUTH,
    CALL_ISSUE,
    CALL_ISSUE_KEEP,
    CALL_CONFIRM,
    CALL__COUNT
};

static bool one_line_within(const char *s, size_t max)
{
    return strlen(s) <= max && fuzz_text_is_one_line(s);
}

static void check_action(const struct ca_action *a)
{
    struct ca_action again = { 0 };

    FUZZ_ASSERT(ca_action_id_valid(a->id) && ca_action_number_valid(a->number));
    FUZZ_ASSERT(ca_action_kind_name(a->kind) && ca_action_state_name(a->state));
    /* A PIV slot or an SKF certificate id, and spelled again the same. */
    FUZZ_ASSERT(ca_action_set_slot(&again, ca_action_slot(a)) && again.slot == a->slot &&
                strcmp(ca_action_slot(&again), ca_action_slot(a)) == 0);
    FUZZ_ASSERT(a->key_policy == CA_KEY_KEEP || a->key_policy == CA_KEY_NEW);
    FUZZ_ASSERT(token_key_alg_name(a->key_alg) && ca_mgmt_alg_name(a->mgmt_alg));
    FUZZ_ASSERT(one_line_within(a->subject, CA_SUBJECT_MAX));
    FUZZ_ASSERT(strspn(a->old_serial, "0123456789ABCDEF") == strlen(a->old_serial));
    FUZZ_ASSERT(a->expires_at[0] && one_line_within(a->expires_at, CA_TIME_MAX));
}

static void check_issued(const struct ca_issued *is)
{
    FUZZ_ASSERT(is->der && is->der_len > 0 && is->der_len <= CA_CERT_DER_MAX);
    FUZZ_ASSERT(is->n_chain <= CA_CHAIN_MAX);
    for (size_t i = 0; i < is->n_chain; i++)
        FUZZ_ASSERT(is->chain[i] && is->chain_len[i] > 0 && is->chain_len[i] <= CA_CERT_DER_MAX);
}

static ca_err run_call(const struct ca_client *c, enum call call, struct ca_refusal *why)
{
    static const uint8_t challenge[AES_BLOCK] = "0123456789abcde";
    static const uint8_t csr[] = { 0x30, 0x03, 0x02, 0x01, 0x00 };
    struct ca_presented_cert presented = { "9a", "184E831EDBC1E728", "CN=SM2 CA" };
    uint8_t response[AES_BLOCK * 2], untouched[sizeof response];
    struct ca_action *list = NULL, one;
    struct ca_issued is = { 0 };
    size_t n = 0;
    ca_err err = CA_E_UNAVAILABLE;

    switch (call) {
    case CALL_QUERY:
        err = ca_cert_query(c, TOKEN_ID, &presented, 1, &list, &n, why);
        FUZZ_ASSERT(err == CA_OK || (!list && n == 0));
        for (size_t i = 0; err == CA_OK && i < n; i++)
            check_action(&list[i]);
        free(list);
        break;
    case CALL_GET:
        err = ca_cert_get(c, ACTION_ID, &one, why);
        if (err == CA_OK) {
            check_action(&one);
            FUZZ_ASSERT(strcmp(one.id, ACTION_ID) == 0);
        }
        break;
    case CALL_MGMT_AUTH:
        memset(response, UNTOUCHED, sizeof response);
        memset(untouched, UNTOUCHED, sizeof untouched);
        err = ca_cert_management_auth(c, ACTION_ID, TOKEN_MGMT_ALG_AES128, challenge,
                                      sizeof challenge, response, why);
        /* One block and not a byte beyond it; nothing at all on a refusal. */
        FUZZ_ASSERT(memcmp(response + AES_BLOCK, untouched, AES_BLOCK) == 0);
        if (err != CA_OK)
            FUZZ_ASSERT(memcmp(response, untouched, AES_BLOCK) == 0);
        break;
    case CALL_ISSUE:
    case CALL_ISSUE_KEEP:
        err = ca_cert_issue(c, ACTION_ID, call == CALL_ISSUE ? csr : NULL, sizeof csr, &is, why);
        if (err == CA_OK)
            check_issued(&is);
        ca_issued_clear(&is);
        break;
    case CALL_CONFIRM:
        err = ca_cert_confirm(c, ACTION_ID, "5A0B", why);
        break;
    case CALL__COUNT:
        break;
    }
    return err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ca_client *c = setup();
    struct fuzz_input in = { data, size };
    enum call call = (enum call)(fuzz_byte(&in) % CALL__COUNT);
    int status = statuses[fuzz_byte(&in) % ARRAY_SIZE(statuses)];
    const char *type = media_types[fuzz_byte(&in) % ARRAY_SIZE(media_types)];
    struct ca_refusal why;
    ca_err err;

    set_answer(status, type, in.p, in.left);
    err = run_call(c, call, &why);
    check_transport_rules(status, type, err);
    if (err != CA_OK)
        check_refusal(err, &why);
    return 0;
}
