/* SPDX-License-Identifier: MIT */
/*
 * token/pcsc/piv.c — the PIV card edge (NIST SP 800-73-4, part 2): application
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

#include "token/pcsc/atr.h"
#include "token/pcsc/edge.h"
#include "token/spki.h"
#include "token/pcsc/tlv.h"

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

/* Certificate writes: SP 800-73-4 part 2 and the YubiKey extensions (5.3, 5.7). */
#define PIV_INS_GENERAL_AUTHENTICATE 0x87
#define PIV_INS_GENERATE_KEY_PAIR  0x47
#define PIV_INS_PUT_DATA           0xDB
#define PIV_INS_YK_MOVE_KEY        0xF6
#define PIV_INS_YK_GET_METADATA    0xF7
#define PIV_PUT_DATA_P1            0x3F
#define PIV_PUT_DATA_P2            0xFF
#define PIV_KEY_REF_MGMT           0x9B
#define PIV_KEY_REF_KEY_MGMT       0x9D   /* the slot whose old keys the key history keeps */
#define PIV_TAG_DYN_AUTH           0x7C   /* dynamic authentication template */
#define PIV_TAG_DYN_CHALLENGE      0x81
#define PIV_TAG_DYN_RESPONSE       0x82
#define PIV_TAG_GEN_CONTROL        0xAC   /* control reference template of GENERATE */
#define PIV_TAG_GEN_ALG            0x80
#define PIV_TAG_PUBLIC_KEY         0x7F49
#define PIV_TAG_RSA_MODULUS        0x81
#define PIV_TAG_RSA_EXPONENT       0x82
#define PIV_TAG_EC_POINT           0x86
#define PIV_TAG_META_ALG           0x01
#define PIV_TAG_META_PUBLIC_KEY    0x04
#define PIV_TAG_META_RETRIES       0x06   /* PIN and PUK: the retry limit, then the tries left */
#define PIV_META_RETRIES_LEN       2
#define PIV_TAG_KH_OFF_CARD_CERTS  0xC2
#define PIV_TAG_KH_OFF_CARD_URL    0xF3
#define PIV_TAG_ERROR_DETECTION    0xFE
#define PIV_CERTINFO_UNCOMPRESSED  0x00
#define PIV_KH_URL_MAX             118    /* SP 800-73-4 part 1, table 19 */
#define PIV_OBJECT_TAG_LEN         3      /* the 5FC1xx object tags */
#define PIV_TLV_SHORT_HEADER       2      /* a one-byte tag and a one-byte length */
#define PIV_TAG_LIST_LEN           (PIV_TLV_SHORT_HEADER + PIV_OBJECT_TAG_LEN)
/* 71 01 00 and FE 00 after a certificate */
#define PIV_CERT_OBJECT_TRAILER    (PIV_TLV_SHORT_HEADER + 1 + PIV_TLV_SHORT_HEADER)
/* C1 01 n, C2 01 n, F3 L URL, FE 00 (the URL's length fits one byte) */
#define PIV_KH_OBJECT_MAX          (4 * PIV_TLV_SHORT_HEADER + 2 + PIV_KH_URL_MAX)

/* Key algorithm identifiers (SP 800-78-4 table 5, YubiKey's RSA-3072/4096). */
#define PIV_ALG_RSA1024            0x06
#define PIV_ALG_RSA2048            0x07
#define PIV_ALG_RSA3072            0x05
#define PIV_ALG_RSA4096            0x16
#define PIV_ALG_ECC_P256           0x11
#define PIV_ALG_ECC_P384           0x14
/* No PIV identifier exists for SM2 (real SM2 tokens speak GM/T 0016); the
 * virtual token and ukeyd agree on this one from the vendor range. */
#define PIV_ALG_SM2_VENDOR         0xF0

#define PIV_MGMT_BLOCK_3DES        8
#define PIV_MGMT_BLOCK_AES         16
#define PIV_MGMT_BLOCK_MAX         PIV_MGMT_BLOCK_AES

/* PKCS#1 v1.5 signature block (RFC 8017 9.2): 00 01 FF.. 00 DigestInfo */
#define PKCS1_BLOCK_LEAD           0x00
#define PKCS1_BLOCK_TYPE_SIGN      0x01
#define PKCS1_PAD_BYTE             0xFF
#define PKCS1_SEPARATOR            0x00
#define PKCS1_MIN_PAD              8
#define PKCS1_OVERHEAD             (3 + PKCS1_MIN_PAD)
#define PIV_RSA_MAX_BYTES          512

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
/* 5C 03 TAG: which object GET DATA and PUT DATA speak of. */
static size_t piv_tag_list(uint32_t tag, uint8_t list[PIV_TAG_LIST_LEN])
{
    uint8_t tagbytes[PIV_OBJECT_TAG_LEN] = {(uint8_t)(tag >> 16), (uint8_t)(tag >> 8),
                                            (uint8_t)tag};

    return tlv_put(list, PIV_TAG_LIST_LEN, PIV_TAG_TAG_LIST, tagbytes, sizeof(tagbytes));
}

static token_err piv_get_data(const struct apdu_transport *t, uint32_t tag,
                              struct apdu_response *rsp, struct tlv *value)
{
    uint8_t list[PIV_TAG_LIST_LEN];
    struct apdu cmd = {ISO_CLA, ISO_INS_GET_DATA_ODD, PIV_GET_DATA_P1, PIV_GET_DATA_P2,
                       list, 0, APDU_LE_ANY};
    token_err err;

    cmd.lc = piv_tag_list(tag, list);
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

static bool all_zero(const uint8_t *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static token_err piv_read_guid(const struct apdu_transport *t, uint8_t guid[PIV_GUID_LEN],
                               bool *have)
{
    _cleanup_rsp_ struct apdu_response rsp = {0};
    struct tlv chuid, g;
    token_err err;

    *have = false;
    err = piv_get_data(t, PIV_TAG_CHUID, &rsp, &chuid);
    if (err == TOKEN_E_NO_OBJECT || err == TOKEN_E_MALFORMED)
        return TOKEN_OK;
    if (err)
        return err;
    if (tlv_find(chuid.value, chuid.len, PIV_TAG_CHUID_GUID, &g) == TOKEN_OK &&
        g.len == PIV_GUID_LEN && !all_zero(g.value, PIV_GUID_LEN)) {
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
    /* some PIV implementations answer the serial command with zeros: that
     * names no card, and two of them would share one id */
    if (have_serial && all_zero(serial, sizeof(serial)))
        have_serial = false;

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

/* The key history object (SP 800-73-4 part 1, 3.3.2); all zero when absent. */
struct piv_key_history {
    uint8_t on_card;             /* retired keys whose certificates are on the card */
    uint8_t off_card;
    uint8_t url[PIV_KH_URL_MAX]; /* where the off-card certificates are */
    size_t url_len;
};

static uint8_t piv_kh_count(const struct tlv *kh, uint32_t tag)
{
    struct tlv v;

    if (tlv_find(kh->value, kh->len, tag, &v) == TOKEN_OK && v.len == 1)
        return v.value[0];
    return 0;
}

static token_err piv_read_key_history(const struct apdu_transport *t, struct piv_key_history *out)
{
    _cleanup_rsp_ struct apdu_response rsp = {0};
    struct tlv kh, url;
    token_err err;

    memset(out, 0, sizeof(*out));
    err = piv_get_data(t, PIV_TAG_KEY_HISTORY, &rsp, &kh);
    if (err == TOKEN_E_NO_OBJECT || err == TOKEN_E_MALFORMED)
        return TOKEN_OK;
    if (err)
        return err;
    out->on_card = piv_kh_count(&kh, PIV_TAG_KH_ON_CARD_CERTS);
    out->off_card = piv_kh_count(&kh, PIV_TAG_KH_OFF_CARD_CERTS);
    if (tlv_find(kh.value, kh.len, PIV_TAG_KH_OFF_CARD_URL, &url) == TOKEN_OK &&
        url.len <= sizeof(out->url)) {
        memcpy(out->url, url.value, url.len);
        out->url_len = url.len;
    }
    return TOKEN_OK;
}

/* How many retired slots hold certificates; 0 when the card has no key history. */
static token_err piv_retired_cert_count(const struct apdu_transport *t, size_t *count)
{
    struct piv_key_history kh;
    token_err err = piv_read_key_history(t, &kh);

    *count = kh.on_card > PIV_RETIRED_SLOTS ? PIV_RETIRED_SLOTS : kh.on_card;
    return err;
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
    c->id = slot->name;   /* the slot is the certificate's URL-safe id: "9a" */
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
    token_err err = piv_reference_cmd(t, ISO_INS_CHANGE_REF_DATA, PIV_KEY_REF_PUK, old_puk,
                                      new_puk, true, puk_tries_left);

    /* both values are PUKs: a malformed one is the PUK's fault */
    return err == TOKEN_E_PIN_POLICY ? TOKEN_E_PUK_POLICY : err;
}

/*
 * The PUK's tries left, read with GET METADATA of key reference 81 (YubiKey
 * 5.3 and later, the virtual token). SP 800-73-4 has no way to read the PUK
 * counter without spending a try (VERIFY takes only the PIN references), so
 * a card without the extension answers TOKEN_E_NOT_SUPPORTED.
 */
static token_err piv_puk_state(const struct apdu_transport *t, int *tries_left, bool *blocked)
{
    _cleanup_rsp_ struct apdu_response rsp = {0};
    struct apdu cmd = {ISO_CLA, PIV_INS_YK_GET_METADATA, 0x00, PIV_KEY_REF_PUK, NULL, 0,
                       APDU_LE_ANY};
    struct tlv retries;
    token_err err = apdu_transmit(t, &cmd, &rsp);

    if (err)
        return err;
    if (rsp.sw == SW_INS_NOT_SUPPORTED || rsp.sw == SW_CLA_NOT_SUPPORTED ||
        rsp.sw == SW_FUNC_NOT_SUPPORTED || rsp.sw == SW_INCORRECT_P1P2 ||
        rsp.sw == SW_REF_DATA_NOT_FOUND)
        return TOKEN_E_NOT_SUPPORTED;
    if (rsp.sw != SW_OK)
        return TOKEN_E_CARD_ERROR;
    if (tlv_find(rsp.data, rsp.len, PIV_TAG_META_RETRIES, &retries) != TOKEN_OK ||
        retries.len != PIV_META_RETRIES_LEN)
        return TOKEN_E_MALFORMED;
    *tries_left = retries.value[1];
    *blocked = retries.value[1] == 0;
    return TOKEN_OK;
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

/* ---- certificate writes -------------------------------------------------- */

static const struct piv_slot *piv_slot_by_ref(uint8_t key_ref)
{
    size_t i;

    for (i = 0; i < ARRAY_SIZE(piv_primary_slots); i++)
        if (piv_primary_slots[i].key_ref == key_ref)
            return &piv_primary_slots[i];
    for (i = 0; i < ARRAY_SIZE(piv_retired_slots); i++)
        if (piv_retired_slots[i].key_ref == key_ref)
            return &piv_retired_slots[i];
    return NULL;
}

struct piv_key_alg {
    uint8_t id;
    int token_alg;           /* enum token_key_alg; -1 for keys ukeyd does not generate */
    const char *curve;       /* SPKI_CURVE_*; NULL for RSA */
    size_t key_bytes;        /* RSA: modulus bytes */
};

static const struct piv_key_alg piv_key_algs[] = {
    {PIV_ALG_RSA2048, TOKEN_KEY_RSA2048, NULL, 256},
    {PIV_ALG_ECC_P256, TOKEN_KEY_EC_P256, SPKI_CURVE_P256, 0},
    {PIV_ALG_ECC_P384, TOKEN_KEY_EC_P384, SPKI_CURVE_P384, 0},
    {PIV_ALG_SM2_VENDOR, TOKEN_KEY_SM2, SPKI_CURVE_SM2, 0},
    {PIV_ALG_RSA1024, -1, NULL, 128},
    {PIV_ALG_RSA3072, -1, NULL, 384},
    {PIV_ALG_RSA4096, -1, NULL, 512},
};

static const struct piv_key_alg *piv_key_alg_by_id(uint8_t id)
{
    size_t i;

    for (i = 0; i < ARRAY_SIZE(piv_key_algs); i++)
        if (piv_key_algs[i].id == id)
            return &piv_key_algs[i];
    return NULL;
}

static const struct piv_key_alg *piv_key_alg_of(enum token_key_alg alg)
{
    size_t i;

    for (i = 0; i < ARRAY_SIZE(piv_key_algs); i++)
        if (piv_key_algs[i].token_alg == (int)alg)
            return &piv_key_algs[i];
    return NULL;
}

/* What the status word of a write-side command says, beyond the command's own. */
static token_err piv_write_sw(uint16_t sw)
{
    switch (sw) {
    case SW_OK:                return TOKEN_OK;
    case SW_NOT_ENOUGH_MEMORY: return TOKEN_E_NO_SPACE;
    case SW_SECURITY_STATUS:   return TOKEN_E_SECURITY_STATUS;
    case SW_REF_DATA_NOT_FOUND: return TOKEN_E_NO_OBJECT;
    case SW_INS_NOT_SUPPORTED:
    case SW_CLA_NOT_SUPPORTED: return TOKEN_E_NOT_SUPPORTED;
    default:                   return TOKEN_E_CARD_ERROR;
    }
}

/* A key's public part as the card hands it out (81/82 or 86 TLVs) → SPKI. */
static token_err piv_spki_from_tlvs(const struct piv_key_alg *ka, const uint8_t *p, size_t len,
                                    uint8_t **spki, size_t *spki_len)
{
    struct tlv n, e, point;

    if (ka->curve) {
        if (tlv_find(p, len, PIV_TAG_EC_POINT, &point) != TOKEN_OK)
            return TOKEN_E_MALFORMED;
        return spki_from_ec_point(ka->curve, point.value, point.len, spki, spki_len);
    }
    if (tlv_find(p, len, PIV_TAG_RSA_MODULUS, &n) != TOKEN_OK ||
        tlv_find(p, len, PIV_TAG_RSA_EXPONENT, &e) != TOKEN_OK)
        return TOKEN_E_MALFORMED;
    while (n.len > ka->key_bytes && n.value[0] == 0) {   /* a sign byte some cards add */
        n.value++;
        n.len--;
    }
    /* A modulus of key_bytes with its top bit clear is a shorter key than the algorithm's. */
    if (n.len != ka->key_bytes || !(n.value[0] & 0x80))
        return TOKEN_E_MALFORMED;
    return spki_from_rsa(n.value, n.len, e.value, e.len, spki, spki_len);
}

/* GENERAL AUTHENTICATE with a dynamic authentication template around `inner`. */
static token_err piv_dyn_auth(const struct apdu_transport *t, uint8_t alg, uint8_t key_ref,
                              const uint8_t *inner, size_t inner_len, struct apdu_response *rsp)
{
    size_t cap = inner_len + tlv_header_size(PIV_TAG_DYN_AUTH, inner_len), n;
    uint8_t *buf = malloc(cap);
    struct apdu cmd = {ISO_CLA, PIV_INS_GENERAL_AUTHENTICATE, alg, key_ref, buf, 0, APDU_LE_ANY};
    token_err err;

    if (!buf)
        return TOKEN_E_NO_MEMORY;
    n = tlv_put(buf, cap, PIV_TAG_DYN_AUTH, inner, inner_len);
    cmd.lc = n;
    err = n ? apdu_transmit(t, &cmd, rsp) : TOKEN_E_INVALID_ARG;
    OPENSSL_cleanse(buf, cap);
    free(buf);
    return err;
}

/* The `tag` element of the card's dynamic authentication template. */
static token_err piv_dyn_auth_field(const struct apdu_response *rsp, uint32_t tag, struct tlv *out)
{
    struct tlv tmpl;

    if (tlv_find(rsp->data, rsp->len, PIV_TAG_DYN_AUTH, &tmpl) != TOKEN_OK ||
        tlv_find(tmpl.value, tmpl.len, tag, out) != TOKEN_OK)
        return TOKEN_E_MALFORMED;
    return TOKEN_OK;
}

static size_t piv_mgmt_block_len(uint8_t alg)
{
    switch (alg) {
    case TOKEN_MGMT_ALG_3DES:   return PIV_MGMT_BLOCK_3DES;
    case TOKEN_MGMT_ALG_AES128:
    case TOKEN_MGMT_ALG_AES192:
    case TOKEN_MGMT_ALG_AES256: return PIV_MGMT_BLOCK_AES;
    default:                    return 0;
    }
}

/* Step one of external authentication: the card's challenge, one cipher block. */
static token_err piv_mgmt_challenge(const struct apdu_transport *t, uint8_t alg,
                                    uint8_t challenge[PIV_MGMT_BLOCK_MAX], size_t block)
{
    _cleanup_rsp_ struct apdu_response rsp = {0};
    uint8_t ask[PIV_TLV_SHORT_HEADER];
    size_t n = tlv_put(ask, sizeof(ask), PIV_TAG_DYN_CHALLENGE, NULL, 0);
    struct tlv c;
    token_err err = piv_dyn_auth(t, alg, PIV_KEY_REF_MGMT, ask, n, &rsp);

    if (err)
        return err;
    /* Not the algorithm of the card's key (a card does not say whether it
     * lacks the algorithm or its key is of another): either way the key
     * holder's record does not open this card. */
    if (rsp.sw == SW_INCORRECT_P1P2 || rsp.sw == SW_WRONG_DATA)
        return TOKEN_E_MGMT_AUTH_FAILED;
    if ((err = piv_write_sw(rsp.sw)))
        return err;
    if (piv_dyn_auth_field(&rsp, PIV_TAG_DYN_CHALLENGE, &c) || c.len != block)
        return TOKEN_E_MALFORMED;
    memcpy(challenge, c.value, block);
    return TOKEN_OK;
}

/* Step two: the key holder's answer; the card says whether it was right. */
static token_err piv_mgmt_answer(const struct apdu_transport *t, uint8_t alg,
                                 const uint8_t *response, size_t block)
{
    _cleanup_rsp_ struct apdu_response rsp = {0};
    uint8_t inner[PIV_TLV_SHORT_HEADER + PIV_MGMT_BLOCK_MAX];
    size_t n = tlv_put(inner, sizeof(inner), PIV_TAG_DYN_RESPONSE, response, block);
    token_err err = piv_dyn_auth(t, alg, PIV_KEY_REF_MGMT, inner, n, &rsp);

    OPENSSL_cleanse(inner, sizeof(inner));
    if (err)
        return err;
    switch (rsp.sw) {
    case SW_OK:
        return TOKEN_OK;
    case SW_SECURITY_STATUS:
    case SW_AUTH_BLOCKED:
    case SW_WRONG_DATA:
        return TOKEN_E_MGMT_AUTH_FAILED;
    default:
        return piv_write_sw(rsp.sw);
    }
}

static token_err piv_mgmt_auth(const struct apdu_transport *t, const struct token_mgmt_relay *relay)
{
    uint8_t challenge[PIV_MGMT_BLOCK_MAX], response[PIV_MGMT_BLOCK_MAX];
    size_t block = relay ? piv_mgmt_block_len(relay->algorithm) : 0;
    token_err err;

    if (!block || !relay->respond)
        return TOKEN_E_INVALID_ARG;
    err = piv_mgmt_challenge(t, relay->algorithm, challenge, block);
    if (!err) {
        err = relay->respond(relay->userdata, relay->algorithm, challenge, block, response);
        if (err && err != TOKEN_E_NO_MEMORY)
            err = TOKEN_E_RELAY_FAILED;
    }
    if (!err)
        err = piv_mgmt_answer(t, relay->algorithm, response, block);
    OPENSSL_cleanse(challenge, sizeof(challenge));
    OPENSSL_cleanse(response, sizeof(response));
    return err;
}

static token_err piv_key_public(const struct apdu_transport *t, uint8_t slot, uint8_t **spki,
                                size_t *spki_len)
{
    _cleanup_rsp_ struct apdu_response rsp = {0};
    struct apdu cmd = {ISO_CLA, PIV_INS_YK_GET_METADATA, 0x00, slot, NULL, 0, APDU_LE_ANY};
    const struct piv_key_alg *ka;
    struct tlv alg, pub;
    token_err err;

    if (!piv_slot_by_ref(slot))
        return TOKEN_E_INVALID_ARG;
    if ((err = apdu_transmit(t, &cmd, &rsp)))
        return err;
    if (rsp.sw == SW_FUNC_NOT_SUPPORTED)
        return TOKEN_E_NOT_SUPPORTED;
    if ((err = piv_write_sw(rsp.sw)))
        return err;
    if (tlv_find(rsp.data, rsp.len, PIV_TAG_META_ALG, &alg) != TOKEN_OK || alg.len != 1 ||
        tlv_find(rsp.data, rsp.len, PIV_TAG_META_PUBLIC_KEY, &pub) != TOKEN_OK)
        return TOKEN_E_MALFORMED;
    ka = piv_key_alg_by_id(alg.value[0]);
    if (!ka)
        return TOKEN_E_NOT_SUPPORTED;
    return piv_spki_from_tlvs(ka, pub.value, pub.len, spki, spki_len);
}

static token_err piv_generate(const struct apdu_transport *t, uint8_t slot, enum token_key_alg alg,
                              uint8_t **spki, size_t *spki_len)
{
    _cleanup_rsp_ struct apdu_response rsp = {0};
    const struct piv_key_alg *ka = piv_key_alg_of(alg);
    uint8_t alg_tlv[PIV_TLV_SHORT_HEADER + 1], control[2 * PIV_TLV_SHORT_HEADER + 1];
    struct apdu cmd = {ISO_CLA, PIV_INS_GENERATE_KEY_PAIR, 0x00, slot, control, 0, APDU_LE_ANY};
    struct tlv pub;
    token_err err;

    if (!ka || !piv_slot_by_ref(slot))
        return TOKEN_E_INVALID_ARG;
    cmd.lc = tlv_put(control, sizeof(control), PIV_TAG_GEN_CONTROL, alg_tlv,
                     tlv_put(alg_tlv, sizeof(alg_tlv), PIV_TAG_GEN_ALG, &ka->id, 1));
    if ((err = apdu_transmit(t, &cmd, &rsp)))
        return err;
    if (rsp.sw == SW_WRONG_DATA || rsp.sw == SW_INCORRECT_P1P2 || rsp.sw == SW_FUNC_NOT_SUPPORTED)
        return TOKEN_E_NOT_SUPPORTED;   /* the card does not make keys of this algorithm */
    if ((err = piv_write_sw(rsp.sw)))
        return err;
    if (tlv_find(rsp.data, rsp.len, PIV_TAG_PUBLIC_KEY, &pub) != TOKEN_OK)
        return TOKEN_E_MALFORMED;
    return piv_spki_from_tlvs(ka, pub.value, pub.len, spki, spki_len);
}

/* 00 01 FF..FF 00 DigestInfo, as long as the modulus. */
static token_err piv_pkcs1_block(const uint8_t *digest_info, size_t len, uint8_t *block,
                                 size_t block_len)
{
    size_t pad;

    if (len + PKCS1_OVERHEAD > block_len)
        return TOKEN_E_INVALID_ARG;
    pad = block_len - len - 3;
    block[0] = PKCS1_BLOCK_LEAD;
    block[1] = PKCS1_BLOCK_TYPE_SIGN;
    memset(block + 2, PKCS1_PAD_BYTE, pad);
    block[2 + pad] = PKCS1_SEPARATOR;
    memcpy(block + 3 + pad, digest_info, len);
    return TOKEN_OK;
}

static token_err piv_sign_sw(uint16_t sw)
{
    if (sw == SW_WRONG_DATA)
        return TOKEN_E_KEY_MISMATCH;   /* the slot's key is of another algorithm */
    return piv_write_sw(sw);
}

/* GENERAL AUTHENTICATE: 7C { 82 00, 81 data } → 7C { 82 signature } */
static token_err piv_sign_data(const struct apdu_transport *t, uint8_t alg, uint8_t slot,
                               const uint8_t *data, size_t len, uint8_t **sig, size_t *sig_len)
{
    _cleanup_rsp_ struct apdu_response rsp = {0};
    size_t cap = PIV_TLV_SHORT_HEADER + tlv_header_size(PIV_TAG_DYN_CHALLENGE, len) + len, n;
    uint8_t *inner = malloc(cap);
    struct tlv s;
    token_err err;

    if (!inner)
        return TOKEN_E_NO_MEMORY;
    n = tlv_put(inner, cap, PIV_TAG_DYN_RESPONSE, NULL, 0);
    n += tlv_put(inner + n, cap - n, PIV_TAG_DYN_CHALLENGE, data, len);
    err = piv_dyn_auth(t, alg, slot, inner, n, &rsp);
    free(inner);
    if (err || (err = piv_sign_sw(rsp.sw)))
        return err;
    if (piv_dyn_auth_field(&rsp, PIV_TAG_DYN_RESPONSE, &s) || s.len == 0)
        return TOKEN_E_MALFORMED;
    *sig = malloc(s.len);
    if (!*sig)
        return TOKEN_E_NO_MEMORY;
    memcpy(*sig, s.value, s.len);
    *sig_len = s.len;
    return TOKEN_OK;
}

static token_err piv_sign(const struct apdu_transport *t, uint8_t slot, enum token_key_alg alg,
                          const uint8_t *in, size_t in_len, uint8_t **sig, size_t *sig_len)
{
    const struct piv_key_alg *ka = piv_key_alg_of(alg);
    uint8_t block[PIV_RSA_MAX_BYTES];
    token_err err;

    if (!ka || !piv_slot_by_ref(slot) || !in || in_len == 0)
        return TOKEN_E_INVALID_ARG;
    if (ka->curve)
        return piv_sign_data(t, ka->id, slot, in, in_len, sig, sig_len);
    err = piv_pkcs1_block(in, in_len, block, ka->key_bytes);
    if (!err)
        err = piv_sign_data(t, ka->id, slot, block, ka->key_bytes, sig, sig_len);
    OPENSSL_cleanse(block, sizeof(block));
    return err;
}

static token_err piv_read_cert(const struct apdu_transport *t, uint8_t slot, uint8_t **der,
                               size_t *der_len)
{
    _cleanup_rsp_ struct apdu_response rsp = {0};
    const struct piv_slot *s = piv_slot_by_ref(slot);
    struct tlv obj;
    token_err err;

    if (!s)
        return TOKEN_E_INVALID_ARG;
    if ((err = piv_get_data(t, s->object, &rsp, &obj)))
        return err;
    if (obj.len == 0)
        return TOKEN_E_NO_OBJECT;   /* an emptied object */
    return piv_cert_from_object(&obj, der, der_len);
}

/* PUT DATA: 5C tag, 53 { content } — chained by the APDU layer when long. */
static token_err piv_put_object(const struct apdu_transport *t, uint32_t tag,
                                const uint8_t *content, size_t len)
{
    _cleanup_rsp_ struct apdu_response rsp = {0};
    size_t cap = PIV_TAG_LIST_LEN + tlv_header_size(PIV_TAG_DATA, len) + len, n;
    uint8_t *buf = malloc(cap);
    struct apdu cmd = {ISO_CLA, PIV_INS_PUT_DATA, PIV_PUT_DATA_P1, PIV_PUT_DATA_P2, buf, 0, 0};
    token_err err;

    if (!buf)
        return TOKEN_E_NO_MEMORY;
    n = piv_tag_list(tag, buf);
    n += tlv_put(buf + n, cap - n, PIV_TAG_DATA, content, len);
    cmd.lc = n;
    err = apdu_transmit(t, &cmd, &rsp);
    free(buf);
    return err ? err : piv_write_sw(rsp.sw);
}

/* 70 cert, 71 uncompressed, FE (no error detection code) */
static token_err piv_write_cert(const struct apdu_transport *t, uint8_t slot, const uint8_t *der,
                                size_t der_len)
{
    static const uint8_t info = PIV_CERTINFO_UNCOMPRESSED;
    const struct piv_slot *s = piv_slot_by_ref(slot);
    size_t cap = tlv_header_size(PIV_TAG_CERT, der_len) + der_len + PIV_CERT_OBJECT_TRAILER, n;
    uint8_t *content;
    token_err err;

    if (!s || (!der && der_len))
        return TOKEN_E_INVALID_ARG;
    if (der_len > PIV_CERT_MAX)
        return TOKEN_E_NO_SPACE;
    if (!der)
        return piv_put_object(t, s->object, NULL, 0);
    content = malloc(cap);
    if (!content)
        return TOKEN_E_NO_MEMORY;
    n = tlv_put(content, cap, PIV_TAG_CERT, der, der_len);
    n += tlv_put(content + n, cap - n, PIV_TAG_CERT_INFO, &info, 1);
    n += tlv_put(content + n, cap - n, PIV_TAG_ERROR_DETECTION, NULL, 0);
    err = piv_put_object(t, s->object, content, n);
    free(content);
    return err;
}

static token_err piv_write_key_history(const struct apdu_transport *t,
                                       const struct piv_key_history *kh)
{
    uint8_t content[PIV_KH_OBJECT_MAX];
    size_t n;

    n = tlv_put(content, sizeof(content), PIV_TAG_KH_ON_CARD_CERTS, &kh->on_card, 1);
    n += tlv_put(content + n, sizeof(content) - n, PIV_TAG_KH_OFF_CARD_CERTS, &kh->off_card, 1);
    if (kh->url_len)
        n += tlv_put(content + n, sizeof(content) - n, PIV_TAG_KH_OFF_CARD_URL, kh->url,
                     kh->url_len);
    n += tlv_put(content + n, sizeof(content) - n, PIV_TAG_ERROR_DETECTION, NULL, 0);
    return piv_put_object(t, PIV_TAG_KEY_HISTORY, content, n);
}

static token_err piv_move_key(const struct apdu_transport *t, uint8_t from, uint8_t to)
{
    _cleanup_rsp_ struct apdu_response rsp = {0};
    struct apdu cmd = {ISO_CLA, PIV_INS_YK_MOVE_KEY, to, from, NULL, 0, 0};
    token_err err;

    if (!piv_slot_by_ref(from) || !piv_slot_by_ref(to) || from == to)
        return TOKEN_E_INVALID_ARG;
    if ((err = apdu_transmit(t, &cmd, &rsp)))
        return err;
    return rsp.sw == SW_INCORRECT_P1P2 ? TOKEN_E_INVALID_ARG : piv_write_sw(rsp.sw);
}

/* Whether `slot` holds a key, by its metadata. */
static token_err piv_has_key(const struct apdu_transport *t, uint8_t slot, bool *has)
{
    uint8_t *spki = NULL;
    size_t len = 0;
    token_err err = piv_key_public(t, slot, &spki, &len);

    free(spki);
    *has = err == TOKEN_OK;
    return err == TOKEN_E_NO_OBJECT ? TOKEN_OK : err;
}

/* The retired slot's object gets a copy of `slot`'s certificate (or nothing, emptied). */
static token_err piv_copy_cert(const struct apdu_transport *t, uint8_t slot, uint8_t to)
{
    uint8_t *der = NULL;
    size_t len = 0;
    token_err err = piv_read_cert(t, slot, &der, &len);

    if (err == TOKEN_E_NO_OBJECT || err == TOKEN_E_MALFORMED)
        err = piv_write_cert(t, to, NULL, 0);
    else if (!err)
        err = piv_write_cert(t, to, der, len);
    free(der);
    return err;
}

/*
 * Certificate first (invisible beyond the count), then the key, then the
 * count. Interrupted after the move, `slot` is left without a key and the
 * next retirement finishes the count instead (piv_retire_key).
 */
static token_err piv_retire_into(const struct apdu_transport *t, uint8_t slot,
                                 struct piv_key_history *kh, const struct piv_slot *target)
{
    bool taken;
    token_err err = piv_has_key(t, target->key_ref, &taken);

    if (err)
        return err;
    if (taken)
        return TOKEN_E_NO_SPACE;   /* a key the key history does not count: never overwrite it */
    if ((err = piv_copy_cert(t, slot, target->key_ref)) ||
        (err = piv_move_key(t, slot, target->key_ref)))
        return err;
    kh->on_card++;
    return piv_write_key_history(t, kh);
}

static token_err piv_retire_key(const struct apdu_transport *t, uint8_t slot, uint8_t *retired_to)
{
    struct piv_key_history kh;
    const struct piv_slot *target;
    bool slot_has_key, target_has_key;
    token_err err;

    *retired_to = 0;
    if (slot != PIV_KEY_REF_KEY_MGMT)
        return TOKEN_OK;
    if ((err = piv_read_key_history(t, &kh)))
        return err;
    /* the last retired slot stages new keys: it never keeps an old one */
    if (kh.on_card >= PIV_RETIRED_SLOTS ||
        piv_retired_slots[kh.on_card].key_ref == TOKEN_STAGING_SLOT)
        return TOKEN_E_NO_SPACE;
    target = &piv_retired_slots[kh.on_card];
    if ((err = piv_has_key(t, slot, &slot_has_key)))
        return err;
    if (slot_has_key)
        err = piv_retire_into(t, slot, &kh, target);
    else if (!(err = piv_has_key(t, target->key_ref, &target_has_key)) && target_has_key) {
        kh.on_card++;   /* an earlier retirement moved the key but was cut off before counting it */
        err = piv_write_key_history(t, &kh);
    } else
        return err;
    if (!err)
        *retired_to = target->key_ref;
    return err;
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
    .unlock_state = piv_puk_state,
    .logout = piv_logout,
    .mgmt_auth = piv_mgmt_auth,
    .key_public = piv_key_public,
    .generate = piv_generate,
    .sign = piv_sign,
    .read_cert = piv_read_cert,
    .write_cert = piv_write_cert,
    .move_key = piv_move_key,
    .retire_key = piv_retire_key,
};
