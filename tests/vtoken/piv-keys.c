/* SPDX-License-Identifier: MIT */
/*
 * tests/vtoken/piv-keys.c — the key slots' life: GENERATE ASYMMETRIC KEY
 * PAIR (SP 800-73-4 part 2 §3.3.2) and Yubico's MOVE KEY (5.7) and GET
 * METADATA (5.3). Generating and moving need the management key; each
 * change is saved before the card answers, and undone in memory if the
 * save fails, so the card never says one thing and keeps another.
 */
#include <string.h>

#include "tests/vtoken/iso7816.h"
#include "tests/vtoken/keys.h"
#include "tests/vtoken/piv-internal.h"
#include "tests/vtoken/tlv.h"

#define P1_GENERATE               0x00
#define P1_METADATA               0x00
#define P1_MOVE_DELETE            0xFF   /* MOVE KEY to "nowhere": delete */

/* GET METADATA tags (Yubico PIV extensions). */
#define TAG_MD_ALGORITHM          0x01
#define TAG_MD_POLICY             0x02
#define TAG_MD_ORIGIN             0x03
#define TAG_MD_PUBLIC_KEY         0x04
#define TAG_MD_IS_DEFAULT         0x05
#define TAG_MD_RETRIES            0x06
#define MD_ALG_PIN_PUK            0xFF
#define MD_PIN_POLICY_DEFAULT     0x00   /* for 9B: no PIN policy */
#define MD_TRUE                   0x01
#define MD_FALSE                  0x00
#define SINGLE_BYTE_VALUE_LEN     1

/* The state of one slot's key, to put back when a save fails. */
struct key_backup {
    struct vt_buf key;
    struct vt_key_info info;
};

static int backup_key(const struct vt_state *st, int slot, struct key_backup *b)
{
    b->info = st->key_info[slot];
    return vt_buf_set(&b->key, st->key[slot].data, st->key[slot].len);
}

static void restore_key(struct vt_state *st, int slot, struct key_backup *b)
{
    vt_buf_free(&st->key[slot]);
    st->key[slot] = b->key;
    st->key_info[slot] = b->info;
    b->key = (struct vt_buf){0};
}

/* --- GENERATE -------------------------------------------------------------------- */

struct generate_request {
    uint8_t alg;
    struct vt_key_info info;
};

static int parse_generate(const struct apdu_cmd *cmd, int slot, struct generate_request *req)
{
    struct vt_tlv control, t;
    const uint8_t *p, *end;
    bool has_alg = false;

    req->info = vt_key_info_default(slot, VT_KEY_ORIGIN_GENERATED);
    if (!cmd->has_data || vt_tlv_whole(cmd->data, cmd->lc, TAG_GEN_CONTROL, &control) < 0)
        return -1;
    for (p = control.value, end = control.value + control.len; p < end;) {
        if (vt_tlv_next(&p, end, &t) < 0 || t.len != SINGLE_BYTE_VALUE_LEN)
            return -1;
        if (t.tag == TAG_GEN_ALGORITHM) {
            req->alg = t.value[0];
            has_alg = true;
        } else if (t.tag == TAG_YK_PIN_POLICY && t.value[0] >= VT_PIN_POLICY_NEVER &&
                   t.value[0] <= VT_PIN_POLICY_ALWAYS) {
            req->info.pin_policy = t.value[0];
        } else if (t.tag == TAG_YK_TOUCH_POLICY && t.value[0] >= VT_TOUCH_POLICY_NEVER &&
                   t.value[0] <= VT_TOUCH_POLICY_CACHED) {
            req->info.touch_policy = t.value[0];
        } else {
            return -1;
        }
    }
    return has_alg ? 0 : -1;
}

/* 7F49 { 81 modulus 82 exponent } or 7F49 { 86 point } of the slot's key. */
static uint16_t answer_public_key(const struct vt_buf *pkcs8, uint32_t outer_tag,
                                  struct vt_buf *out)
{
    EVP_PKEY *key = vt_key_load(pkcs8);
    VT_AUTO_BUF inner = {0};
    int rc;

    rc = key ? vt_key_public_tlvs(key, &inner) : -1;
    EVP_PKEY_free(key);
    if (rc < 0)
        return SW_MEMORY_FAILURE;
    return vt_piv_built(vt_tlv_append(out, outer_tag, inner.data, inner.len));
}

uint16_t vt_piv_generate(struct piv_app *app, const struct apdu_cmd *cmd, struct vt_buf *out)
{
    struct vt_state *st = app->state;
    struct key_backup old = {0};
    struct generate_request req;
    int slot = vt_slot_by_key_ref(cmd->p2);
    uint16_t sw;

    if (!app->mgmt_authenticated)
        return SW_SECURITY_STATUS;
    if (cmd->p1 != P1_GENERATE || slot < 0)
        return SW_INCORRECT_P1P2;
    if (parse_generate(cmd, slot, &req) < 0 || !vt_key_alg_can_generate(req.alg))
        return SW_WRONG_DATA;
    if (backup_key(st, slot, &old) < 0)
        return SW_MEMORY_FAILURE;
    if (vt_key_generate(req.alg, &st->key[slot]) < 0) {
        restore_key(st, slot, &old);
        return SW_MEMORY_FAILURE;
    }
    st->key_info[slot] = req.info;
    sw = vt_piv_save(app);
    if (sw != SW_OK) {
        restore_key(st, slot, &old);
        return sw;
    }
    vt_buf_free(&old.key);
    return answer_public_key(&st->key[slot], TAG_PUBLIC_KEY, out);
}

/* --- MOVE KEY ---------------------------------------------------------------------- */

uint16_t vt_piv_move_key(struct piv_app *app, const struct apdu_cmd *cmd, struct vt_buf *out)
{
    struct vt_state *st = app->state;
    int src = vt_slot_by_key_ref(cmd->p2);
    bool delete = cmd->p1 == P1_MOVE_DELETE;
    int dest = delete ? -1 : vt_slot_by_key_ref(cmd->p1);
    struct key_backup old_src = {0}, old_dest = {0};
    uint16_t sw;

    (void)out;
    if (!app->mgmt_authenticated)
        return SW_SECURITY_STATUS;
    if (src < 0 || (!delete && (dest < 0 || dest == src)))
        return SW_INCORRECT_P1P2;
    if (!st->key[src].len)
        return SW_REFERENCE_NOT_FOUND;
    if (backup_key(st, src, &old_src) < 0 || (!delete && backup_key(st, dest, &old_dest) < 0)) {
        vt_buf_free(&old_src.key);
        return SW_MEMORY_FAILURE;
    }
    /* Whatever the destination held is replaced, as on a YubiKey. */
    if (!delete) {
        vt_buf_free(&st->key[dest]);
        st->key[dest] = st->key[src];
        st->key_info[dest] = st->key_info[src];
        st->key[src] = (struct vt_buf){0};
    }
    vt_buf_free(&st->key[src]);
    memset(&st->key_info[src], 0, sizeof st->key_info[src]);
    sw = vt_piv_save(app);
    if (sw != SW_OK) {
        restore_key(st, src, &old_src);
        if (!delete)
            restore_key(st, dest, &old_dest);
    }
    vt_buf_free(&old_src.key);
    vt_buf_free(&old_dest.key);
    return sw;
}

/* --- GET METADATA ---------------------------------------------------------------- */

static int md_byte(struct vt_buf *out, uint32_t tag, uint8_t value)
{
    return vt_tlv_append(out, tag, &value, 1);
}

static int md_pair(struct vt_buf *out, uint32_t tag, uint8_t a, uint8_t b)
{
    const uint8_t v[] = { a, b };

    return vt_tlv_append(out, tag, v, sizeof v);
}

static uint16_t management_key_metadata(const struct vt_state *st, struct vt_buf *out)
{
    const struct vt_mgmt_alg *alg = vt_mgmt_alg_by_id(st->mgmt_alg);
    bool is_default = alg && alg->id == PIV_MGMT_ALG_3DES &&
                      CRYPTO_memcmp(st->mgmt_key, vt_mgmt_default_key,
                                    VT_MGMT_DEFAULT_KEY_LEN) == 0;

    if (!alg)
        return SW_MEMORY_FAILURE;
    return vt_piv_built(md_byte(out, TAG_MD_ALGORITHM, alg->id) < 0 ||
                        md_pair(out, TAG_MD_POLICY, MD_PIN_POLICY_DEFAULT,
                                VT_TOUCH_POLICY_NEVER) < 0 ||
                        md_byte(out, TAG_MD_IS_DEFAULT, is_default ? MD_TRUE : MD_FALSE) < 0
                        ? -1 : 0);
}

/* PIN and PUK: algorithm FF, whether the value is still the default
 * (123456 / 12345678), retry limit and tries left. */
static uint16_t reference_metadata(const struct vt_state *st, uint8_t key_ref,
                                   struct vt_buf *out)
{
    static const char default_pin[] = "123456", default_puk[] = "12345678";
    bool pin = key_ref == KEY_REF_PIN;
    uint8_t def[VT_REF_DATA_LEN];
    bool is_default;

    vt_ref_data_from_text(pin ? default_pin : default_puk, def);
    is_default = CRYPTO_memcmp(def, pin ? st->pin : st->puk, VT_REF_DATA_LEN) == 0;
    return vt_piv_built(
        md_byte(out, TAG_MD_ALGORITHM, MD_ALG_PIN_PUK) < 0 ||
        md_byte(out, TAG_MD_IS_DEFAULT, is_default ? MD_TRUE : MD_FALSE) < 0 ||
        md_pair(out, TAG_MD_RETRIES, (uint8_t)(pin ? st->pin_retries : st->puk_retries),
                (uint8_t)(pin ? st->pin_tries_left : st->puk_tries_left)) < 0 ? -1 : 0);
}

static uint16_t slot_key_metadata(const struct vt_state *st, int slot, struct vt_buf *out)
{
    const struct vt_key_info *info = &st->key_info[slot];
    EVP_PKEY *key = vt_key_load(&st->key[slot]);
    VT_AUTO_BUF pub = {0};
    int alg = vt_key_alg(key);
    int rc;

    rc = alg < 0 || vt_key_public_tlvs(key, &pub) < 0 ||
         md_byte(out, TAG_MD_ALGORITHM, (uint8_t)alg) < 0 ||
         md_pair(out, TAG_MD_POLICY, info->pin_policy, info->touch_policy) < 0 ||
         md_byte(out, TAG_MD_ORIGIN, info->origin) < 0 ||
         vt_tlv_append(out, TAG_MD_PUBLIC_KEY, pub.data, pub.len) < 0 ? -1 : 0;
    EVP_PKEY_free(key);
    return vt_piv_built(rc);
}

uint16_t vt_piv_get_metadata(struct piv_app *app, const struct apdu_cmd *cmd,
                             struct vt_buf *out)
{
    int slot = vt_slot_by_key_ref(cmd->p2);

    if (cmd->p1 != P1_METADATA)
        return SW_INCORRECT_P1P2;
    if (cmd->p2 == KEY_REF_MANAGEMENT)
        return management_key_metadata(app->state, out);
    if (cmd->p2 == KEY_REF_PIN || cmd->p2 == KEY_REF_PUK)
        return reference_metadata(app->state, cmd->p2, out);
    if (slot < 0 || !app->state->key[slot].len)
        return SW_REFERENCE_NOT_FOUND;
    return slot_key_metadata(app->state, slot, out);
}
