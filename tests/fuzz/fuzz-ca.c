/* SPDX-License-Identifier: MIT */
/*
 * fuzz-ca — the CA unlock service's answers as the unlock client
 * (api/ca/ca_client.c) reads them. A small HTTP server on loopback, in a thread
 * of the fuzzer (tests/fuzz/ca-server.h), answers the client's one request
 * with the input; the client runs unchanged, libcurl and all, so what is
 * fuzzed is exactly what a broken or hostile service can send.
 *
 * Input: one byte picks the protocol call, one the HTTP status, one the
 * Content-Type; the rest is the answer's body.
 *
 * Properties (api/ca/ca_client.h): a 5xx, or a 2xx that is not a JSON object,
 * is CA_E_UNAVAILABLE; a request, a PUK pair or a refusal handed on holds
 * only values that passed their checks.
 */
#include <strings.h>

#include "tests/fuzz/ca-server.h"

#define PUK_MAX           16
#define REQUEST_ID        "rq-0123456789abcdef"
#define ROTATION_ID       "rot-0123456789abcdef"

enum call {
    CALL_OPEN,
    CALL_GET,
    CALL_SMS,
    CALL_VERIFY_SMS,
    CALL_VERIFY_UNLOCK,
    CALL_AUTHORIZE,
    CALL_CONFIRM,
    CALL_RECONCILE,
    CALL__COUNT
};

static bool printable(const char *s, size_t max)
{
    return s[0] && strlen(s) <= max && fuzz_text_is_one_line(s);
}

static void check_request(const struct ca_request *r)
{
    FUZZ_ASSERT(ca_id_valid(r->id) && (unsigned)r->state < CA_STATE__COUNT);
    FUZZ_ASSERT(strspn(r->masked_phone, "0123456789*") == strlen(r->masked_phone));
    /* Schemes are case-insensitive (RFC 3986): "htTp://" is an http link. */
    FUZZ_ASSERT(!r->payment_url || strncasecmp(r->payment_url, "http", strlen("http")) == 0);
    FUZZ_ASSERT(!r->review_url || strncasecmp(r->review_url, "http", strlen("http")) == 0);
}

static void check_pair(const struct ca_puk_pair *p, bool same_rotation)
{
    FUZZ_ASSERT(ca_id_valid(p->rotation_id));
    FUZZ_ASSERT(!same_rotation || strcmp(p->rotation_id, ROTATION_ID) == 0);
    FUZZ_ASSERT(printable(p->puk, PUK_MAX) && printable(p->next_puk, PUK_MAX));
    FUZZ_ASSERT(p->mechanism == CA_MECH_REMOTE ? !p->puk[0] && !p->next_puk[0]
                                               : strcmp(p->puk, p->next_puk) != 0);
}

/* An SKF token offering both its mechanisms, and PIV's beside: every answer shape is reached. */
static const struct ca_offer every_mechanism = {
    .interface = "SKF",
    .mechanisms = CA_MECH_BIT(CA_MECH_PUK) | CA_MECH_BIT(CA_MECH_ADMIN_PIN) |
                  CA_MECH_BIT(CA_MECH_REMOTE),
};

static ca_err run_call(struct ca_client *c, enum call call, struct ca_refusal *why)
{
    struct ca_request req = { 0 };
    struct ca_puk_pair pair = { 0 };
    struct ca_sms_sent sms = { 0 };
    ca_err err = CA_E_UNAVAILABLE;

    switch (call) {
    case CALL_OPEN:
        err = ca_open_request(c, "piv-068cc87c16b10c9d677a827d878476d8", "0A1B", "CN=CA",
                              &every_mechanism, 0, &req, why);
        break;
    case CALL_GET:
        err = ca_get_request(c, REQUEST_ID, &req, why);
        break;
    case CALL_SMS:
        err = ca_send_sms(c, REQUEST_ID, "13800138000", &sms, why);
        break;
    case CALL_VERIFY_SMS:
    case CALL_VERIFY_UNLOCK:
        err = ca_verify(c, REQUEST_ID, call == CALL_VERIFY_SMS ? CA_CODE_SMS : CA_CODE_UNLOCK,
                        "123456", &req, why);
        break;
    case CALL_AUTHORIZE:
    case CALL_RECONCILE:
        err = call == CALL_AUTHORIZE ? ca_authorize(c, REQUEST_ID, &every_mechanism, &pair, why)
                                     : ca_reconcile(c, ROTATION_ID, &pair, why);
        if (err == CA_OK)
            check_pair(&pair, call == CALL_RECONCILE);
        break;
    case CALL_CONFIRM:
        err = ca_confirm(c, ROTATION_ID, CA_ROTATION_ROTATED, true, why);
        break;
    case CALL__COUNT:
        break;
    }
    if (err == CA_OK && (call == CALL_OPEN || call == CALL_GET || call == CALL_VERIFY_SMS ||
                         call == CALL_VERIFY_UNLOCK))
        check_request(&req);
    ca_request_clear(&req);
    ca_puk_pair_wipe(&pair);
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
