/* SPDX-License-Identifier: MIT */
/*
 * tests/vtoken/piv-auth.c — GENERAL AUTHENTICATE (SP 800-73-4 part 2
 * §3.2.4): the management key's external and mutual authentication against
 * key reference 9B, and signatures with the slot keys.
 *
 *   external: 7C 02 81 00 → 7C { 81 CHALLENGE };  7C { 82 ENC(CHALLENGE) } → 9000/6982
 *   mutual:   7C 02 80 00 → 7C { 80 ENC(WITNESS) };
 *             7C { 80 WITNESS 81 CHALLENGE } → 7C { 82 ENC(CHALLENGE) } / 6982
 *   sign:     7C { 82 00 81 DATA } → 7C { 82 SIGNATURE }
 *
 * A challenge or witness is used once: a wrong answer, a new request or
 * anything that ends the session (SELECT, reset) forgets it.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "tests/vtoken/iso7816.h"
#include "tests/vtoken/keys.h"
#include "tests/vtoken/log.h"
#include "tests/vtoken/piv-internal.h"
#include "tests/vtoken/tlv.h"

/* The parts of a dynamic authentication template, each present or not. */
struct dyn_auth {
    struct vt_tlv witness, challenge, response, exponentiation;
    bool has_witness, has_challenge, has_response, has_exponentiation;
};

static int parse_dyn_auth(const struct apdu_cmd *cmd, struct dyn_auth *d)
{
    struct vt_tlv outer, t;
    const uint8_t *p, *end;

    memset(d, 0, sizeof *d);
    if (!cmd->has_data || vt_tlv_whole(cmd->data, cmd->lc, TAG_DYN_AUTH, &outer) < 0)
        return -1;
    for (p = outer.value, end = outer.value + outer.len; p < end;) {
        struct vt_tlv *slot;
        bool *seen;

        if (vt_tlv_next(&p, end, &t) < 0)
            return -1;
        switch (t.tag) {
        case TAG_DYN_WITNESS:        slot = &d->witness; seen = &d->has_witness; break;
        case TAG_DYN_CHALLENGE:      slot = &d->challenge; seen = &d->has_challenge; break;
        case TAG_DYN_RESPONSE:       slot = &d->response; seen = &d->has_response; break;
        case TAG_DYN_EXPONENTIATION: slot = &d->exponentiation; seen = &d->has_exponentiation; break;
        default:                     return -1;
        }
        if (*seen)
            return -1;
        *seen = true;
        *slot = t;
    }
    return 0;
}

/* Answers 7C { tag value }. */
static uint16_t answer_dyn_auth(struct vt_buf *out, uint32_t tag, const uint8_t *value,
                                size_t len)
{
    VT_AUTO_BUF inner = {0};

    if (vt_tlv_append(&inner, tag, value, len) < 0)
        return SW_MEMORY_FAILURE;
    return vt_piv_built(vt_tlv_append(out, TAG_DYN_AUTH, inner.data, inner.len));
}

/* --- management key ------------------------------------------------------------ */

static void forget_step(struct piv_app *app)
{
    app->mgmt_step = MGMT_STEP_NONE;
    OPENSSL_cleanse(app->mgmt_expect, sizeof app->mgmt_expect);
}

/* Sends a fresh random block, plain (external) or encrypted (mutual). */
static uint16_t send_random_block(struct piv_app *app, const struct vt_mgmt_alg *alg,
                                  enum piv_mgmt_step step, uint32_t tag, struct vt_buf *out)
{
    uint8_t sent[VT_MGMT_BLOCK_MAX];
    uint16_t sw;

    if (RAND_bytes(app->mgmt_expect, (int)alg->block_len) != 1)
        return SW_MEMORY_FAILURE;
    if (step == MGMT_STEP_WITNESS) {
        if (vt_mgmt_encrypt_block(alg->id, app->state->mgmt_key, app->mgmt_expect, sent) < 0)
            return SW_MEMORY_FAILURE;
    } else {
        memcpy(sent, app->mgmt_expect, alg->block_len);
    }
    app->mgmt_step = step;
    sw = answer_dyn_auth(out, tag, sent, alg->block_len);
    OPENSSL_cleanse(sent, sizeof sent);
    return sw;
}

/* External authentication, second step: RESPONSE = ENC(challenge)? */
static uint16_t check_response(struct piv_app *app, const struct vt_mgmt_alg *alg,
                               const struct vt_tlv *response)
{
    uint8_t want[VT_MGMT_BLOCK_MAX];
    bool ok;

    if (app->mgmt_step != MGMT_STEP_RESPONSE)
        return SW_CONDITIONS_NOT_SATISFIED;
    ok = response->len == alg->block_len &&
         vt_mgmt_encrypt_block(alg->id, app->state->mgmt_key, app->mgmt_expect, want) == 0 &&
         CRYPTO_memcmp(want, response->value, alg->block_len) == 0;
    OPENSSL_cleanse(want, sizeof want);
    forget_step(app);
    app->mgmt_authenticated = ok;
    return ok ? SW_OK : SW_SECURITY_STATUS;
}

/* Mutual authentication, second step: the client shows it could decrypt
 * our witness, and we encrypt its challenge in return. */
static uint16_t check_witness(struct piv_app *app, const struct vt_mgmt_alg *alg,
                              const struct dyn_auth *d, struct vt_buf *out)
{
    uint8_t reply[VT_MGMT_BLOCK_MAX];
    bool ok;
    uint16_t sw;

    if (app->mgmt_step != MGMT_STEP_WITNESS)
        return SW_CONDITIONS_NOT_SATISFIED;
    ok = d->witness.len == alg->block_len &&
         CRYPTO_memcmp(app->mgmt_expect, d->witness.value, alg->block_len) == 0;
    forget_step(app);
    if (!ok)
        return SW_SECURITY_STATUS;
    if (d->challenge.len != alg->block_len)
        return SW_WRONG_DATA;
    if (vt_mgmt_encrypt_block(alg->id, app->state->mgmt_key, d->challenge.value, reply) < 0)
        return SW_MEMORY_FAILURE;
    sw = answer_dyn_auth(out, TAG_DYN_RESPONSE, reply, alg->block_len);
    OPENSSL_cleanse(reply, sizeof reply);
    app->mgmt_authenticated = sw == SW_OK;
    return sw;
}

static uint16_t authenticate_management_key(struct piv_app *app, const struct apdu_cmd *cmd,
                                            struct vt_buf *out)
{
    const struct vt_mgmt_alg *alg = vt_mgmt_alg_by_id(app->state->mgmt_alg);
    struct dyn_auth d;
    bool empty_response;

    /* Any attempt starts from "not authenticated". */
    app->mgmt_authenticated = false;
    if (!alg || cmd->p1 != alg->id)
        return SW_INCORRECT_P1P2;
    if (parse_dyn_auth(cmd, &d) < 0 || d.has_exponentiation)
        return SW_WRONG_DATA;
    empty_response = d.has_response && d.response.len == 0;
    if (d.has_challenge && d.challenge.len == 0 && !d.has_witness && !d.has_response)
        return send_random_block(app, alg, MGMT_STEP_RESPONSE, TAG_DYN_CHALLENGE, out);
    if (d.has_response && d.response.len > 0 && !d.has_witness && !d.has_challenge)
        return check_response(app, alg, &d.response);
    if (d.has_witness && d.witness.len == 0 && !d.has_challenge && !d.has_response)
        return send_random_block(app, alg, MGMT_STEP_WITNESS, TAG_DYN_WITNESS, out);
    if (d.has_witness && d.witness.len > 0 && d.has_challenge && (!d.has_response || empty_response))
        return check_witness(app, alg, &d, out);
    return SW_WRONG_DATA;
}

/* --- signing with a slot key ------------------------------------------------------- */

/* PIN policy: never (9E by default), once per session, or always (9C by
 * default: a VERIFY before every signature). */
static bool pin_allows(struct piv_app *app, const struct vt_key_info *info)
{
    if (info->pin_policy == VT_PIN_POLICY_NEVER)
        return true;
    if (info->pin_policy == VT_PIN_POLICY_ALWAYS)
        return app->pin_verified && app->pin_fresh;
    return app->pin_verified;
}

static uint16_t sign_with_slot_key(struct piv_app *app, const struct apdu_cmd *cmd,
                                   struct vt_buf *out)
{
    int slot = vt_slot_by_key_ref(cmd->p2);
    VT_AUTO_BUF sig = {0};
    struct dyn_auth d;
    EVP_PKEY *key;
    enum vt_sign_result result;
    const struct vt_key_info *info;

    if (slot < 0 || !app->state->key[slot].len) {
        /* Without a verified PIN a card says so before looking further,
         * except for the card authentication key, which needs none. */
        if (cmd->p2 != KEY_REF_CARD_AUTH && !app->pin_verified)
            return SW_SECURITY_STATUS;
        return SW_REFERENCE_NOT_FOUND;
    }
    info = &app->state->key_info[slot];
    if (!pin_allows(app, info))
        return SW_SECURITY_STATUS;
    if (parse_dyn_auth(cmd, &d) < 0 || !d.has_challenge || !d.has_response ||
        d.response.len != 0 || d.has_witness)
        return d.has_exponentiation ? SW_FUNCTION_NOT_SUPPORTED : SW_WRONG_DATA;
    key = vt_key_load(&app->state->key[slot]);
    if (!key)
        return SW_MEMORY_FAILURE;
    if (vt_key_alg(key) != cmd->p1) {
        EVP_PKEY_free(key);
        return SW_WRONG_DATA;
    }
    result = vt_key_sign(key, cmd->p1, d.challenge.value, d.challenge.len, &sig);
    EVP_PKEY_free(key);
    if (result == VT_SIGN_BAD_INPUT)
        return SW_WRONG_DATA;
    if (result != VT_SIGN_OK)
        return SW_MEMORY_FAILURE;
    if (info->pin_policy == VT_PIN_POLICY_ALWAYS)
        app->pin_fresh = false;
    return answer_dyn_auth(out, TAG_DYN_RESPONSE, sig.data, sig.len);
}

uint16_t vt_piv_general_authenticate(struct piv_app *app, const struct apdu_cmd *cmd,
                                     struct vt_buf *out)
{
    if (cmd->p2 == KEY_REF_MANAGEMENT)
        return authenticate_management_key(app, cmd, out);
    return sign_with_slot_key(app, cmd, out);
}
