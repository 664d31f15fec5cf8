/* SPDX-License-Identifier: MIT */
/*
 * token/piv.c — the PIV card edge (NIST SP 800-73-4, part 2): application
 * selection, data objects (CHUID, key history, certificates), PIN and PUK
 * reference data, plus the serial and version that common tokens add.
 *
 * A cold read costs the fewest APDUs the card edge allows: the key history
 * object says how many retired certificates there are, so empty retired
 * slots are not probed one by one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "token/atr.h"
#include "token/edge.h"
#include "token/tlv.h"

static const uint8_t piv_aid[] = {0xA0, 0x00, 0x00, 0x03, 0x08};

#define PIV_INS_GET_VERSION        0xFD   /* common token extension (YubiKey and alike) */
#define PIV_INS_GET_SERIAL         0xF8
#define PIV_SELECT_BY_AID          0x04
#define PIV_GET_DATA_P1            0x3F
#define PIV_GET_DATA_P2            0xFF
#define PIV_VERIFY_P1_LOGOUT       0xFF
#define PIV_KEY_REF_PIN            0x80
#define PIV_KEY_REF_PUK            0x81
#define PIV_PIN_BLOCK_LEN          8      /* PIN and PUK travel padded to 8 bytes */
#define PIV_PIN_PAD                0xFF

#define PIV_TAG_TAG_LIST           0x5C
#define PIV_TAG_DATA               0x53
#define PIV_TAG_CHUID              0x5FC102
#define PIV_TAG_KEY_HISTORY        0x5FC10C
#define PIV_TAG_CHUID_GUID         0x34
#define PIV_TAG_CERT               0x70
#define PIV_TAG_CERT_INFO          0x71
#define PIV_TAG_KH_ON_CARD_CERTS   0xC1
#define PIV_CERTINFO_COMPRESSED    0x01   /* gzip, per SP 800-73-4 part 1, table 10 */
#define PIV_GUID_LEN               16
#define PIV_SERIAL_LEN             4
#define PIV_VERSION_LEN            3
#define PIV_RETIRED_SLOTS          20
#define PIV_CERT_MAX               (16 * 1024)   /* inflated certificate bound */

struct piv_slot {
    uint8_t key_ref;
    uint32_t object;
    const char *name;
    const char *label;
};

static const struct piv_slot piv_primary_slots[] = {
    {0x9A, 0x5FC105, "9a", "PIV Authentication"},
    {0x9C, 0x5FC10A, "9c", "Digital Signature"},
    {0x9D, 0x5FC10B, "9d", "Key Management"},
    {0x9E, 0x5FC101, "9e", "Card Authentication"},
};

static const struct piv_slot piv_retired_slots[PIV_RETIRED_SLOTS] = {
    {0x82, 0x5FC10D, "82", "Retired Key Management 1"},
    {0x83, 0x5FC10E, "83", "Retired Key Management 2"},
    {0x84, 0x5FC10F, "84", "Retired Key Management 3"},
    {0x85, 0x5FC110, "85", "Retired Key Management 4"},
    {0x86, 0x5FC111, "86", "Retired Key Management 5"},
    {0x87, 0x5FC112, "87", "Retired Key Management 6"},
    {0x88, 0x5FC113, "88", "Retired Key Management 7"},
    {0x89, 0x5FC114, "89", "Retired Key Management 8"},
    {0x8A, 0x5FC115, "8a", "Retired Key Management 9"},
    {0x8B, 0x5FC116, "8b", "Retired Key Management 10"},
    {0x8C, 0x5FC117, "8c", "Retired Key Management 11"},
    {0x8D, 0x5FC118, "8d", "Retired Key Management 12"},
    {0x8E, 0x5FC119, "8e", "Retired Key Management 13"},
    {0x8F, 0x5FC11A, "8f", "Retired Key Management 14"},
    {0x90, 0x5FC11B, "90", "Retired Key Management 15"},
    {0x91, 0x5FC11C, "91", "Retired Key Management 16"},
    {0x92, 0x5FC11D, "92", "Retired Key Management 17"},
    {0x93, 0x5FC11E, "93", "Retired Key Management 18"},
    {0x94, 0x5FC11F, "94", "Retired Key Management 19"},
    {0x95, 0x5FC120, "95", "Retired Key Management 20"},
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static void apdu_response_clearp(struct apdu_response *r)
{
    apdu_response_clear(r);
}
#define _cleanup_rsp_ __attribute__((cleanup(apdu_response_clearp)))

static token_err piv_select(const struct apdu_transport *t)
{
    _cleanup_rsp_ struct apdu_response rsp = {0};
    struct apdu cmd = {ISO_CLA, ISO_INS_SELECT, PIV_SELECT_BY_AID, 0x00,
                       piv_aid, sizeof(piv_aid), APDU_LE_ANY};
    token_err err = apdu_transmit(t, &cmd, &rsp);

    if (err)
        return err;
    return rsp.sw == SW_OK ? TOKEN_OK : TOKEN_E_CARD_UNSUPPORTED;
}

/*
 * GET DATA of one object; *value points into rsp at the content of the
 * object's 53 template. TOKEN_E_NO_OBJECT when the card does not have it.
 */
static token_err piv_get_data(const struct apdu_transport *t, uint32_t tag,
                              struct apdu_response *rsp, struct tlv *value)
{
    uint8_t list[5];
    size_t n = 0;
    struct apdu cmd = {ISO_CLA, ISO_INS_GET_DATA_ODD, PIV_GET_DATA_P1, PIV_GET_DATA_P2,
                       list, 0, APDU_LE_ANY};
    uint8_t tagbytes[3] = {(uint8_t)(tag >> 16), (uint8_t)(tag >> 8), (uint8_t)tag};
    token_err err;

    n = tlv_put(list, sizeof(list), PIV_TAG_TAG_LIST, tagbytes, sizeof(tagbytes));
    cmd.lc = n;
    err = apdu_transmit(t, &cmd, rsp);
    if (err)
        return err;
    if (rsp->sw == SW_FILE_NOT_FOUND)
        return TOKEN_E_NO_OBJECT;
    if (rsp->sw == SW_SECURITY_STATUS)
        return TOKEN_E_SECURITY_STATUS;
    if (rsp->sw != SW_OK)
        return TOKEN_E_CARD_ERROR;
    return tlv_find(rsp->data, rsp->len, PIV_TAG_DATA, value) == TOKEN_OK ? TOKEN_OK
                                                                          : TOKEN_E_MALFORMED;
}

static char *hex_string(const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char *s = malloc(2 * n + 1);
    size_t i;

    if (!s)
        return NULL;
    for (i = 0; i < n; i++) {
        s[2 * i] = digits[p[i] >> 4];
        s[2 * i + 1] = digits[p[i] & 0x0F];
    }
    s[2 * n] = '\0';
    return s;
}

/* A simple card-edge extension: a reply of exactly `len` bytes, or nothing. */
static token_err piv_vendor_read(const struct apdu_transport *t, uint8_t ins, uint8_t *out,
                                 size_t len, bool *have)
{
    _cleanup_rsp_ struct apdu_response rsp = {0};
    struct apdu cmd = {ISO_CLA, ins, 0x00, 0x00, NULL, 0, APDU_LE_ANY};
    token_err err = apdu_transmit(t, &cmd, &rsp);

    *have = false;
    if (err)
        return err;
    if (rsp.sw == SW_OK && rsp.len == len) {
        memcpy(out, rsp.data, len);
        *have = true;
    }
    return TOKEN_OK;
}

static token_err piv_read_guid(const struct apdu_transport *t, uint8_t guid[PIV_GUID_LEN],
                               bool *have)
{
    _cleanup_rsp_ struct apdu_response rsp = {0};
    struct tlv chuid, g;
    static const uint8_t zero[PIV_GUID_LEN];
    token_err err;

    *have = false;
    err = piv_get_data(t, PIV_TAG_CHUID, &rsp, &chuid);
    if (err == TOKEN_E_NO_OBJECT || err == TOKEN_E_MALFORMED)
        return TOKEN_OK;
    if (err)
        return err;
    if (tlv_find(chuid.value, chuid.len, PIV_TAG_CHUID_GUID, &g) == TOKEN_OK &&
        g.len == PIV_GUID_LEN && memcmp(g.value, zero, PIV_GUID_LEN) != 0) {
        memcpy(guid, g.value, PIV_GUID_LEN);
        *have = true;
    }
    return TOKEN_OK;
}

static token_err piv_identify(const struct apdu_transport *t, const uint8_t *atr, size_t atr_len,
                              struct edge_identity *out)
{
    uint8_t guid[PIV_GUID_LEN], serial[PIV_SERIAL_LEN], version[PIV_VERSION_LEN];
    bool have_guid, have_serial, have_version;
    char buf[64];
    token_err err;

    memset(out, 0, sizeof(*out));
    err = piv_read_guid(t, guid, &have_guid);
    if (!err)
        err = piv_vendor_read(t, PIV_INS_GET_SERIAL, serial, sizeof(serial), &have_serial);
    if (!err)
        err = piv_vendor_read(t, PIV_INS_GET_VERSION, version, sizeof(version), &have_version);
    if (err)
        return err;

    if (have_serial) {
        snprintf(buf, sizeof(buf), "%u",
                 (unsigned)serial[0] << 24 | (unsigned)serial[1] << 16 |
                 (unsigned)serial[2] << 8 | serial[3]);
        out->serial = strdup(buf);
        if (!out->serial)
            goto oom;
    }
    if (have_version) {
        snprintf(buf, sizeof(buf), "%u.%u.%u", version[0], version[1], version[2]);
        out->version = strdup(buf);
        if (!out->version)
            goto oom;
    }
    if (have_guid) {
        char *hex = hex_string(guid, sizeof(guid));

        if (!hex || asprintf(&out->id, "piv-%s", hex) < 0)
            out->id = NULL;
        free(hex);
    } else if (have_serial) {
        if (asprintf(&out->id, "piv-sn-%s", out->serial) < 0)
            out->id = NULL;
    } else {
        /* neither a GUID nor a serial: nothing stable to call it by */
        edge_identity_clear(out);
        return TOKEN_E_CARD_UNSUPPORTED;
    }
    out->model = atr_model_name(atr, atr_len, "PIV card");
    if (!out->id || !out->model)
        goto oom;
    return TOKEN_OK;
oom:
    edge_identity_clear(out);
    return TOKEN_E_NO_MEMORY;
}

static token_err piv_inflate(const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len)
{
    z_stream zs = {0};
    uint8_t *buf = malloc(PIV_CERT_MAX);
    int zr;

    if (!buf)
        return TOKEN_E_NO_MEMORY;
    /* 15 + 32: a window of 32 KiB, and accept a gzip or zlib header */
    if (inflateInit2(&zs, 15 + 32) != Z_OK) {
        free(buf);
        return TOKEN_E_NO_MEMORY;
    }
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)in_len;
    zs.next_out = buf;
    zs.avail_out = PIV_CERT_MAX;
    zr = inflate(&zs, Z_FINISH);
    *out_len = PIV_CERT_MAX - zs.avail_out;
    inflateEnd(&zs);
    if (zr != Z_STREAM_END) {
        free(buf);
        return TOKEN_E_MALFORMED;
    }
    *out = buf;
    return TOKEN_OK;
}

/* The certificate inside a certificate object, inflated when the card compressed it. */
static token_err piv_cert_from_object(const struct tlv *obj, uint8_t **der, size_t *der_len)
{
    struct tlv cert, info;
    bool compressed = false;

    if (tlv_find(obj->value, obj->len, PIV_TAG_CERT, &cert) != TOKEN_OK || cert.len == 0)
        return TOKEN_E_MALFORMED;
    if (tlv_find(obj->value, obj->len, PIV_TAG_CERT_INFO, &info) == TOKEN_OK && info.len >= 1)
        compressed = info.value[0] & PIV_CERTINFO_COMPRESSED;
    if (compressed)
        return piv_inflate(cert.value, cert.len, der, der_len);
    *der = malloc(cert.len);
    if (!*der)
        return TOKEN_E_NO_MEMORY;
    memcpy(*der, cert.value, cert.len);
    *der_len = cert.len;
    return TOKEN_OK;
}

/* How many retired slots hold certificates; 0 when the card has no key history. */
static token_err piv_retired_cert_count(const struct apdu_transport *t, size_t *count)
{
    _cleanup_rsp_ struct apdu_response rsp = {0};
    struct tlv kh, on_card;
    token_err err;

    *count = 0;
    err = piv_get_data(t, PIV_TAG_KEY_HISTORY, &rsp, &kh);
    if (err == TOKEN_E_NO_OBJECT || err == TOKEN_E_MALFORMED)
        return TOKEN_OK;
    if (err)
        return err;
    if (tlv_find(kh.value, kh.len, PIV_TAG_KH_ON_CARD_CERTS, &on_card) == TOKEN_OK &&
        on_card.len == 1)
        *count = on_card.value[0] > PIV_RETIRED_SLOTS ? PIV_RETIRED_SLOTS : on_card.value[0];
    return TOKEN_OK;
}

struct cert_list {
    struct token_cert *v;
    size_t n;
};

static token_err piv_read_slot(const struct apdu_transport *t, const struct piv_slot *slot,
                               struct cert_list *list)
{
    _cleanup_rsp_ struct apdu_response rsp = {0};
    struct token_cert *c;
    struct tlv obj;
    token_err err;

    err = piv_get_data(t, slot->object, &rsp, &obj);
    if (err == TOKEN_E_NO_OBJECT)
        return TOKEN_OK;
    if (err)
        return err;
    c = realloc(list->v, (list->n + 1) * sizeof(*c));
    if (!c)
        return TOKEN_E_NO_MEMORY;
    list->v = c;
    c = &list->v[list->n];
    memset(c, 0, sizeof(*c));
    err = piv_cert_from_object(&obj, &c->der, &c->der_len);
    if (err == TOKEN_E_MALFORMED)
        return TOKEN_OK;   /* an unreadable object is skipped, not fatal to the token */
    if (err)
        return err;
    c->slot = slot->key_ref;
    c->slot_name = slot->name;
    c->slot_label = slot->label;
    list->n++;
    return TOKEN_OK;
}

static token_err piv_read_certs(const struct apdu_transport *t, struct token_cert **certs,
                                size_t *n)
{
    struct cert_list list = {0};
    size_t retired = 0, i;
    token_err err = TOKEN_OK;

    for (i = 0; i < ARRAY_SIZE(piv_primary_slots) && !err; i++)
        err = piv_read_slot(t, &piv_primary_slots[i], &list);
    if (!err)
        err = piv_retired_cert_count(t, &retired);
    for (i = 0; i < retired && !err; i++)
        err = piv_read_slot(t, &piv_retired_slots[i], &list);
    if (err) {
        token_certs_free(list.v, list.n);
        return err;
    }
    *certs = list.v;
    *n = list.n;
    return TOKEN_OK;
}

/* PIN or PUK as the card wants it: the bytes, then FF up to eight. */
static void piv_pad(uint8_t out[PIV_PIN_BLOCK_LEN], const char *secret)
{
    size_t len = strlen(secret);

    memset(out, PIV_PIN_PAD, PIV_PIN_BLOCK_LEN);
    memcpy(out, secret, len < PIV_PIN_BLOCK_LEN ? len : PIV_PIN_BLOCK_LEN);
}

/* What a status word of a PIN/PUK command means; the puk flag picks the error names. */
static token_err piv_reference_sw(uint16_t sw, bool puk, int *tries_left)
{
    int tries = apdu_sw_tries_left(sw);

    if (tries_left)
        *tries_left = tries;
    if (sw == SW_OK)
        return TOKEN_OK;
    if (tries == 0 || sw == SW_AUTH_BLOCKED) {
        if (tries_left)
            *tries_left = 0;
        return puk ? TOKEN_E_PUK_BLOCKED : TOKEN_E_PIN_BLOCKED;
    }
    if (tries > 0)
        return puk ? TOKEN_E_PUK_INCORRECT : TOKEN_E_PIN_INCORRECT;
    if (sw == SW_WRONG_DATA || sw == SW_WRONG_LENGTH)
        return TOKEN_E_PIN_POLICY;
    if (sw == SW_SECURITY_STATUS)
        return TOKEN_E_SECURITY_STATUS;
    return TOKEN_E_CARD_ERROR;
}

/* Sends a reference-data command whose data is one or two padded secrets. */
static token_err piv_reference_cmd(const struct apdu_transport *t, uint8_t ins, uint8_t p2,
                                   const char *first, const char *second, bool puk,
                                   int *tries_left)
{
    _cleanup_rsp_ struct apdu_response rsp = {0};
    uint8_t data[2 * PIV_PIN_BLOCK_LEN];
    struct apdu cmd = {ISO_CLA, ins, 0x00, p2, data, PIV_PIN_BLOCK_LEN, 0};
    token_err err;

    piv_pad(data, first);
    if (second) {
        piv_pad(data + PIV_PIN_BLOCK_LEN, second);
        cmd.lc = sizeof(data);
    }
    err = apdu_transmit(t, &cmd, &rsp);
    OPENSSL_cleanse(data, sizeof(data));
    if (err)
        return err;
    return piv_reference_sw(rsp.sw, puk, tries_left);
}

static token_err piv_pin_state(const struct apdu_transport *t, int *tries_left, bool *blocked)
{
    _cleanup_rsp_ struct apdu_response rsp = {0};
    struct apdu cmd = {ISO_CLA, ISO_INS_VERIFY, 0x00, PIV_KEY_REF_PIN, NULL, 0, 0};
    token_err err = apdu_transmit(t, &cmd, &rsp);

    if (err)
        return err;
    *blocked = false;
    *tries_left = -1;
    if (rsp.sw == SW_OK)
        return TOKEN_OK;    /* verified right now: the card does not say the count */
    err = piv_reference_sw(rsp.sw, false, tries_left);
    if (err == TOKEN_E_PIN_BLOCKED) {
        *blocked = true;
        return TOKEN_OK;
    }
    return err == TOKEN_E_PIN_INCORRECT ? TOKEN_OK : err;
}

static token_err piv_verify_pin(const struct apdu_transport *t, const char *pin, int *tries_left)
{
    return piv_reference_cmd(t, ISO_INS_VERIFY, PIV_KEY_REF_PIN, pin, NULL, false, tries_left);
}

static token_err piv_change_pin(const struct apdu_transport *t, const char *old_pin,
                                const char *new_pin, int *tries_left)
{
    return piv_reference_cmd(t, ISO_INS_CHANGE_REF_DATA, PIV_KEY_REF_PIN, old_pin, new_pin,
                             false, tries_left);
}

static token_err piv_unblock_pin(const struct apdu_transport *t, const char *puk,
                                 const char *new_pin, int *puk_tries_left)
{
    return piv_reference_cmd(t, ISO_INS_RESET_RETRY_COUNTER, PIV_KEY_REF_PIN, puk, new_pin,
                             true, puk_tries_left);
}

static token_err piv_change_puk(const struct apdu_transport *t, const char *old_puk,
                                const char *new_puk, int *puk_tries_left)
{
    return piv_reference_cmd(t, ISO_INS_CHANGE_REF_DATA, PIV_KEY_REF_PUK, old_puk, new_puk,
                             true, puk_tries_left);
}

static token_err piv_logout(const struct apdu_transport *t)
{
    _cleanup_rsp_ struct apdu_response rsp = {0};
    struct apdu cmd = {ISO_CLA, ISO_INS_VERIFY, PIV_VERIFY_P1_LOGOUT, PIV_KEY_REF_PIN,
                       NULL, 0, 0};
    token_err err = apdu_transmit(t, &cmd, &rsp);

    if (err)
        return err;
    return rsp.sw == SW_OK ? TOKEN_OK : TOKEN_E_CARD_ERROR;
}

const struct card_edge piv_edge = {
    .name = "PIV",
    /* SP 800-73-4 asks for 6–8 digits, but tokens in the field accept any
     * printable ASCII and users have set such PINs: refusing them would lock
     * those users out of their own token. */
    .pin_policy = {6, 8, "ascii"},
    .puk_policy = {6, 8, "ascii"},
    .select = piv_select,
    .identify = piv_identify,
    .read_certs = piv_read_certs,
    .pin_state = piv_pin_state,
    .verify_pin = piv_verify_pin,
    .change_pin = piv_change_pin,
    .unblock_pin = piv_unblock_pin,
    .change_puk = piv_change_puk,
    .logout = piv_logout,
};
