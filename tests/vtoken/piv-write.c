/* SPDX-License-Identifier: MIT */
/*
 * tests/vtoken/piv-write.c — PUT DATA (SP 800-73-4 part 2 §3.3.2):
 * `5C L TAG  53 L CONTENT`, usually chained, behind the management key.
 *
 * Certificate objects must read `70 DER [71 01 INFO] [FE 00]`: with CertInfo
 * 00 the DER must be an X.509 certificate (6A80 otherwise; a real card
 * stores any bytes, this one refuses what no reader could use), with 01
 * (gzip) the bytes are kept and served as given. Other PIV objects and
 * Yubico's 5FFFxx objects are kept as written; written CHUID, CCC and key
 * history replace the ones the card derives. `53 00` deletes an object.
 */
#include <string.h>

#include "tests/vtoken/iso7816.h"
#include "tests/vtoken/keys.h"
#include "tests/vtoken/piv-internal.h"
#include "tests/vtoken/tlv.h"

#define BYTE_BITS                 8
#define CERT_INFO_LEN             1

struct put_request {
    uint32_t tag;
    const uint8_t *content;
    size_t len;
};

static int parse_put(const struct apdu_cmd *cmd, struct put_request *req)
{
    const uint8_t *p = cmd->data, *end = cmd->data + cmd->lc;
    struct vt_tlv tag_list, data;

    if (!cmd->has_data || vt_tlv_next(&p, end, &tag_list) < 0 ||
        tag_list.tag != TAG_TAG_LIST || tag_list.len == 0 ||
        tag_list.len > TAG_TAG_LIST_MAX_LEN || vt_tlv_next(&p, end, &data) < 0 ||
        data.tag != TAG_DATA || p != end)
        return -1;
    req->tag = 0;
    for (size_t i = 0; i < tag_list.len; i++)
        req->tag = req->tag << BYTE_BITS | tag_list.value[i];
    req->content = data.value;
    req->len = data.len;
    return 0;
}

struct cert_object {
    struct vt_tlv der;
    uint8_t info;
};

/* 70 DER, then optionally 71 01 INFO and FE 00, in that order. */
static int parse_cert_object(const struct put_request *req, struct cert_object *c)
{
    const uint8_t *p = req->content, *end = req->content + req->len;
    struct vt_tlv t;

    c->info = VT_CERT_INFO_PLAIN;
    if (vt_tlv_next(&p, end, &c->der) < 0 || c->der.tag != TAG_CERTIFICATE || c->der.len == 0)
        return -1;
    if (p < end && *p == TAG_CERT_INFO) {
        if (vt_tlv_next(&p, end, &t) < 0 || t.len != CERT_INFO_LEN ||
            (t.value[0] != VT_CERT_INFO_PLAIN && t.value[0] != VT_CERT_INFO_GZIP))
            return -1;
        c->info = t.value[0];
    }
    if (p < end && (vt_tlv_next(&p, end, &t) < 0 || t.tag != TAG_ERROR_DETECTION || t.len != 0))
        return -1;
    if (p != end)
        return -1;
    if (c->info == VT_CERT_INFO_PLAIN) {
        struct vt_buf der = { (uint8_t *)c->der.value, c->der.len, c->der.len };
        X509 *cert = vt_cert_decode(&der, VT_CERT_INFO_PLAIN);

        if (!cert)
            return -1;
        X509_free(cert);
    }
    return 0;
}

static uint16_t put_certificate(struct piv_app *app, int slot, const struct put_request *req)
{
    struct vt_state *st = app->state;
    VT_AUTO_BUF old = {0};
    uint8_t old_info = st->cert_info[slot];
    struct cert_object c;
    uint16_t sw;

    if (req->len && parse_cert_object(req, &c) < 0)
        return SW_WRONG_DATA;
    if (vt_buf_set(&old, st->cert[slot].data, st->cert[slot].len) < 0)
        return SW_MEMORY_FAILURE;
    if (req->len == 0) {
        vt_buf_free(&st->cert[slot]);
        st->cert_info[slot] = VT_CERT_INFO_PLAIN;
        sw = vt_piv_save(app);
    } else if (vt_buf_set(&st->cert[slot], c.der.value, c.der.len) < 0) {
        sw = SW_MEMORY_FAILURE;
    } else {
        st->cert_info[slot] = c.info;
        sw = vt_piv_save(app);
    }
    if (sw != SW_OK) {
        vt_buf_free(&st->cert[slot]);
        st->cert[slot] = old;
        old = (struct vt_buf){0};
        st->cert_info[slot] = old_info;
    }
    return sw;
}

/* The key history's content: C1 01 n, C2 01 n, optional F3 URL, FE 00. */
static bool key_history_ok(const struct put_request *req)
{
    static const uint32_t order[] = {
        TAG_KEYS_ON_CARD_CERTS, TAG_KEYS_OFF_CARD_CERTS, TAG_OFF_CARD_URL, TAG_ERROR_DETECTION,
    };
    const uint8_t *p = req->content, *end = req->content + req->len;
    size_t next = 0;
    struct vt_tlv t;

    while (p < end) {
        if (vt_tlv_next(&p, end, &t) < 0)
            return false;
        while (next < sizeof order / sizeof order[0] && order[next] != t.tag)
            next++;
        if (next == sizeof order / sizeof order[0])
            return false;
        if ((t.tag == TAG_KEYS_ON_CARD_CERTS || t.tag == TAG_KEYS_OFF_CARD_CERTS) &&
            t.len != 1)
            return false;
        next++;
    }
    return true;
}

static uint16_t put_object(struct piv_app *app, const struct put_request *req)
{
    struct vt_state *st = app->state;
    const struct vt_object *o = vt_state_object_const(st, req->tag);
    VT_AUTO_BUF old = {0};
    uint16_t sw;

    if (req->tag == OBJ_KEY_HISTORY && req->len && !key_history_ok(req))
        return SW_WRONG_DATA;
    if (o && vt_buf_set(&old, o->value.data, o->value.len) < 0)
        return SW_MEMORY_FAILURE;
    if (vt_state_set_object(st, req->tag, req->content, req->len) < 0)
        return SW_NOT_ENOUGH_MEMORY;
    sw = vt_piv_save(app);
    if (sw != SW_OK && vt_state_set_object(st, req->tag, old.data, old.len) < 0)
        vt_state_set_object(st, req->tag, NULL, 0);
    return sw;
}

uint16_t vt_piv_put_data(struct piv_app *app, const struct apdu_cmd *cmd, struct vt_buf *out)
{
    struct put_request req;
    int slot;

    (void)out;
    if (!app->mgmt_authenticated)
        return SW_SECURITY_STATUS;
    if (cmd->p1 != P1_DATA_OBJECT || cmd->p2 != P2_DATA_OBJECT)
        return SW_INCORRECT_P1P2;
    if (parse_put(cmd, &req) < 0)
        return SW_WRONG_DATA;
    if (req.len > PIV_OBJECT_MAX)
        return SW_NOT_ENOUGH_MEMORY;
    slot = vt_slot_by_object_tag(req.tag);
    if (slot >= 0)
        return put_certificate(app, slot, &req);
    if (!vt_object_tag_storable(req.tag))
        return SW_FILE_NOT_FOUND;
    return put_object(app, &req);
}
