/* SPDX-License-Identifier: MIT */
/*
 * tests/vtoken/piv.c — the PIV application: its ATR, the data objects it
 * serves (built from the state on every read), and PIN/PUK handling with
 * retry counters, as NIST SP 800-73-4 part 2 and a YubiKey 5 behave.
 */
#include "tests/vtoken/piv.h"

#include <string.h>

#include <openssl/crypto.h>

#include "tests/vtoken/iso7816.h"
#include "tests/vtoken/keys.h"
#include "tests/vtoken/log.h"
#include "tests/vtoken/piv-internal.h"
#include "tests/vtoken/tlv.h"

/* --- ATR ------------------------------------------------------------------ */

/* TS=3B direct convention; T0=F8: TA1..TD1 follow, 8 historical bytes;
 * TA1=13 (Fi/Di), TB1=00, TC1=00 (no extra guard time), TD1=81 (TD2 follows,
 * T=1), TD2=31 (TA3, TB3 follow, T=1), TA3=FE (IFSC 254), TB3=15 (BWI/CWI).
 * The same interface bytes as a YubiKey 5, with our own name. */
static const uint8_t atr_interface_bytes[] = {
    0x3B, 0xF8, 0x13, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x15,
};
static const char atr_historical_bytes[] = "vPIVukey";
#define ATR_TS_LEN 1

size_t vt_piv_build_atr(uint8_t out[PIV_ATR_MAX])
{
    size_t n = 0;
    uint8_t tck = 0;

    memcpy(out, atr_interface_bytes, sizeof atr_interface_bytes);
    n += sizeof atr_interface_bytes;
    memcpy(out + n, atr_historical_bytes, sizeof atr_historical_bytes - 1);
    n += sizeof atr_historical_bytes - 1;
    /* TCK: XOR of every byte from T0 to the last historical byte, so that
     * the XOR of T0..TCK is zero (ISO 7816-3 §8.2.5; required with T=1). */
    for (size_t i = ATR_TS_LEN; i < n; i++)
        tck ^= out[i];
    out[n++] = tck;
    return n;
}

/* --- constants of SP 800-73-4 ---------------------------------------------- */

static const uint8_t piv_aid[] = {
    0xA0, 0x00, 0x00, 0x03, 0x08,                 /* RID of NIST */
    0x00, 0x00, 0x10, 0x00, 0x01, 0x00,           /* PIX: PIV card application v1 */
};
#define PIV_RID_LEN               5

#define P1_SELECT_BY_NAME         0x04
#define P2_SELECT_NO_RESPONSE     0x0C
#define P1_VERIFY                 0x00
#define P1_VERIFY_RESET_STATUS    0xFF
#define P1_REFERENCE_DATA         0x00

/* Application property template (part 2 §3.1.1). */
#define TAG_APT                   0x61
#define TAG_AID                   0x4F
#define TAG_ALLOCATION_AUTHORITY  0x79
#define TAG_LABEL                 0x50
#define TAG_ALGORITHMS            0xAC
#define TAG_ALGORITHM_ID          0x80
#define TAG_OBJECT_ID             0x06
/* The algorithm list closes with "06 01 00" (part 2 table 3). */
#define ALGORITHMS_LIST_END       0x00
#define TAG_LIST_HEADER_LEN       2   /* 5C and its one-byte length */

#define TAG_PIN_USAGE_POLICY      0x5F2F
/* Byte 1: the PIV application PIN satisfies access rules; byte 2: no
 * global PIN preference. */
static const uint8_t pin_usage_policy[] = { 0x40, 0x00 };

#define TAG_FASCN                 0x30
#define TAG_GUID                  0x34
#define TAG_EXPIRY                0x35
#define TAG_ISSUER_SIGNATURE      0x3E
/* The FASC-N SP 800-73-4 prescribes for non-federal issuers: agency,
 * system and credential numbers all nines, BCD with odd parity. */
static const uint8_t non_federal_fascn[] = {
    0xD4, 0xE7, 0x39, 0xDA, 0x73, 0x9C, 0xED, 0x39, 0xCE, 0x73, 0x9D, 0x83, 0x68,
    0x58, 0x21, 0x08, 0x42, 0x10, 0x84, 0x21, 0xC8, 0x42, 0x10, 0xC3, 0xEB,
};
static const char chuid_expiry[] = "20991231";

/* Card capability container (part 1 table 8). */
#define TAG_CCC_CARD_ID           0xF0
#define TAG_CCC_CONTAINER_VERSION 0xF1
#define TAG_CCC_GRAMMAR_VERSION   0xF2
#define TAG_CCC_APPS_URL          0xF3
#define TAG_CCC_PKCS15            0xF4
#define TAG_CCC_DATA_MODEL        0xF5
#define TAG_CCC_ACCESS_RULES      0xF6
#define TAG_CCC_CARD_APDUS        0xF7
#define TAG_CCC_REDIRECTION       0xFA
#define TAG_CCC_CAPABILITY_TUPLES 0xFB
#define TAG_CCC_STATUS_TUPLES     0xFC
#define TAG_CCC_NEXT_CCC          0xFD
#define CCC_VERSION_2_1           0x21
#define CCC_DATA_MODEL_PIV        0x10
#define CCC_NO_PKCS15             0x00
static const uint8_t gsc_rid[] = { 0xA0, 0x00, 0x00, 0x01, 0x16 };
#define CCC_MANUFACTURER_UNKNOWN  0xFF
#define CCC_CARD_TYPE_JAVACARD    0x02
#define CCC_CARD_ID_LEN           14

#define REF_DATA_PAIR_LEN         (2 * VT_REF_DATA_LEN)
#define BYTE_BITS                 8
#define SERIAL_LEN                4

/* --- helpers ---------------------------------------------------------------- */

static int tlv_byte(struct vt_buf *out, uint32_t tag, uint8_t value)
{
    return vt_tlv_append(out, tag, &value, 1);
}

static int tlv_empty(struct vt_buf *out, uint32_t tag)
{
    return vt_tlv_append(out, tag, NULL, 0);
}

/* Wraps `inner` as `tag L inner` onto out. */
static int tlv_wrap(struct vt_buf *out, uint32_t tag, const struct vt_buf *inner)
{
    return vt_tlv_append(out, tag, inner->data, inner->len);
}

uint16_t vt_piv_built(int rc)
{
    return rc < 0 ? SW_MEMORY_FAILURE : SW_OK;
}

static uint16_t built(int rc)
{
    return vt_piv_built(rc);
}

/* --- SELECT ------------------------------------------------------------------ */

static int build_algorithms(struct vt_buf *out)
{
    VT_AUTO_BUF algs = {0};

    if (tlv_byte(&algs, TAG_ALGORITHM_ID, PIV_ALG_RSA_2048) < 0 ||
        tlv_byte(&algs, TAG_ALGORITHM_ID, PIV_ALG_ECC_P256) < 0 ||
        tlv_byte(&algs, TAG_ALGORITHM_ID, PIV_ALG_ECC_P384) < 0 ||
        tlv_byte(&algs, TAG_OBJECT_ID, ALGORITHMS_LIST_END) < 0)
        return -1;
    return tlv_wrap(out, TAG_ALGORITHMS, &algs);
}

static int build_property_template(const struct piv_app *app, struct vt_buf *out)
{
    VT_AUTO_BUF apt = {0};
    VT_AUTO_BUF authority = {0};

    if (vt_tlv_append(&apt, TAG_AID, piv_aid + PIV_RID_LEN, sizeof piv_aid - PIV_RID_LEN) < 0 ||
        vt_tlv_append(&authority, TAG_AID, piv_aid, PIV_RID_LEN) < 0 ||
        tlv_wrap(&apt, TAG_ALLOCATION_AUTHORITY, &authority) < 0 ||
        vt_tlv_append(&apt, TAG_LABEL, app->state->model, strlen(app->state->model)) < 0 ||
        build_algorithms(&apt) < 0)
        return -1;
    return tlv_wrap(out, TAG_APT, &apt);
}

/* Partial selection: any leading part of the PIV AID from the RID on. */
static bool names_piv(const struct apdu_cmd *cmd)
{
    return cmd->lc >= PIV_RID_LEN && cmd->lc <= sizeof piv_aid &&
           memcmp(cmd->data, piv_aid, cmd->lc) == 0;
}

static uint16_t piv_select(struct piv_app *app, const struct apdu_cmd *cmd, struct vt_buf *out)
{
    /* Other applications' AIDs and file IDs: not on this card. What was
     * selected stays selected, as ISO 7816-4 says for a failed SELECT. */
    if (cmd->p1 != P1_SELECT_BY_NAME || !names_piv(cmd))
        return SW_FILE_NOT_FOUND;
    app->selected = true;
    /* Selecting again ends a management key session (YubiKey behaviour). */
    app->mgmt_authenticated = false;
    app->mgmt_step = MGMT_STEP_NONE;
    if (cmd->p2 == P2_SELECT_NO_RESPONSE)
        return SW_OK;
    return built(build_property_template(app, out));
}

/* --- data objects ------------------------------------------------------------ */

static int build_discovery(struct vt_buf *out)
{
    VT_AUTO_BUF inner = {0};

    if (vt_tlv_append(&inner, TAG_AID, piv_aid, sizeof piv_aid) < 0 ||
        vt_tlv_append(&inner, TAG_PIN_USAGE_POLICY, pin_usage_policy,
                      sizeof pin_usage_policy) < 0)
        return -1;
    return tlv_wrap(out, OBJ_DISCOVERY, &inner);
}

static int build_chuid(const struct vt_state *st, struct vt_buf *out)
{
    VT_AUTO_BUF inner = {0};

    if (vt_tlv_append(&inner, TAG_FASCN, non_federal_fascn, sizeof non_federal_fascn) < 0 ||
        vt_tlv_append(&inner, TAG_GUID, st->guid, VT_GUID_LEN) < 0 ||
        vt_tlv_append(&inner, TAG_EXPIRY, chuid_expiry, sizeof chuid_expiry - 1) < 0 ||
        tlv_empty(&inner, TAG_ISSUER_SIGNATURE) < 0 ||
        tlv_empty(&inner, TAG_ERROR_DETECTION) < 0)
        return -1;
    return tlv_wrap(out, TAG_DATA, &inner);
}

static int build_ccc_card_id(const struct vt_state *st, struct vt_buf *out)
{
    VT_AUTO_BUF id = {0};

    /* The card identifier is GSC-RID, manufacturer, card type and a card
     * number, which we take from the GUID so each token differs. */
    if (vt_buf_append(&id, gsc_rid, sizeof gsc_rid) < 0 ||
        vt_buf_append_byte(&id, CCC_MANUFACTURER_UNKNOWN) < 0 ||
        vt_buf_append_byte(&id, CCC_CARD_TYPE_JAVACARD) < 0 ||
        vt_buf_append(&id, st->guid, CCC_CARD_ID_LEN) < 0)
        return -1;
    return tlv_wrap(out, TAG_CCC_CARD_ID, &id);
}

static int append_empty_tags(struct vt_buf *out, const uint32_t *tags, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (tlv_empty(out, tags[i]) < 0)
            return -1;
    return 0;
}

static int build_ccc(const struct vt_state *st, struct vt_buf *out)
{
    static const uint32_t trailing_empty[] = {
        TAG_CCC_ACCESS_RULES, TAG_CCC_CARD_APDUS, TAG_CCC_REDIRECTION,
        TAG_CCC_CAPABILITY_TUPLES, TAG_CCC_STATUS_TUPLES, TAG_CCC_NEXT_CCC,
        TAG_ERROR_DETECTION,
    };
    VT_AUTO_BUF inner = {0};

    if (build_ccc_card_id(st, &inner) < 0 ||
        tlv_byte(&inner, TAG_CCC_CONTAINER_VERSION, CCC_VERSION_2_1) < 0 ||
        tlv_byte(&inner, TAG_CCC_GRAMMAR_VERSION, CCC_VERSION_2_1) < 0 ||
        tlv_empty(&inner, TAG_CCC_APPS_URL) < 0 ||
        tlv_byte(&inner, TAG_CCC_PKCS15, CCC_NO_PKCS15) < 0 ||
        tlv_byte(&inner, TAG_CCC_DATA_MODEL, CCC_DATA_MODEL_PIV) < 0 ||
        append_empty_tags(&inner, trailing_empty,
                          sizeof trailing_empty / sizeof trailing_empty[0]) < 0)
        return -1;
    return tlv_wrap(out, TAG_DATA, &inner);
}

/* Counts the retired slots holding a certificate. Clients such as OpenSC
 * take this as "retired slots 82.. up to this many are in use". */
static int build_key_history(const struct vt_state *st, struct vt_buf *out)
{
    VT_AUTO_BUF inner = {0};
    uint8_t on_card = 0;

    for (int i = 0; i < VT_SLOT_COUNT; i++)
        if (vt_slot_is_retired(i) && st->cert[i].len)
            on_card++;
    if (tlv_byte(&inner, TAG_KEYS_ON_CARD_CERTS, on_card) < 0 ||
        tlv_byte(&inner, TAG_KEYS_OFF_CARD_CERTS, 0) < 0 ||
        tlv_empty(&inner, TAG_ERROR_DETECTION) < 0)
        return -1;
    return tlv_wrap(out, TAG_DATA, &inner);
}

static int build_certificate(const struct vt_buf *der, uint8_t cert_info, struct vt_buf *out)
{
    VT_AUTO_BUF inner = {0};

    if (vt_tlv_append(&inner, TAG_CERTIFICATE, der->data, der->len) < 0 ||
        tlv_byte(&inner, TAG_CERT_INFO, cert_info) < 0 ||
        tlv_empty(&inner, TAG_ERROR_DETECTION) < 0)
        return -1;
    return tlv_wrap(out, TAG_DATA, &inner);
}

static uint16_t build_object(const struct vt_state *st, uint32_t tag, struct vt_buf *out)
{
    const struct vt_object *written = vt_state_object_const(st, tag);
    int slot;

    /* What a client wrote is served as written, even where the card would
     * otherwise derive the object (CHUID, CCC, key history). */
    if (written)
        return built(vt_tlv_append(out, TAG_DATA, written->value.data, written->value.len));
    switch (tag) {
    case OBJ_DISCOVERY:
        return built(build_discovery(out));
    case OBJ_CHUID:
        return built(build_chuid(st, out));
    case OBJ_CCC:
        return built(build_ccc(st, out));
    case OBJ_KEY_HISTORY:
        return built(build_key_history(st, out));
    default:
        slot = vt_slot_by_object_tag(tag);
        if (slot < 0 || st->cert[slot].len == 0)
            return SW_FILE_NOT_FOUND;
        return built(build_certificate(&st->cert[slot], st->cert_info[slot], out));
    }
}

static uint16_t piv_get_data(struct piv_app *app, const struct apdu_cmd *cmd, struct vt_buf *out)
{
    uint32_t tag = 0;
    size_t tag_len;

    if (cmd->p1 != P1_DATA_OBJECT || cmd->p2 != P2_DATA_OBJECT)
        return SW_INCORRECT_P1P2;
    if (cmd->lc < TAG_LIST_HEADER_LEN || cmd->data[0] != TAG_TAG_LIST)
        return SW_WRONG_DATA;
    tag_len = cmd->data[1];
    if (tag_len == 0 || tag_len > TAG_TAG_LIST_MAX_LEN ||
        cmd->lc != TAG_LIST_HEADER_LEN + tag_len)
        return SW_WRONG_DATA;
    for (size_t i = 0; i < tag_len; i++)
        tag = tag << BYTE_BITS | cmd->data[TAG_LIST_HEADER_LEN + i];
    return build_object(app->state, tag, out);
}

/* --- PIN and PUK --------------------------------------------------------------- */

struct piv_ref {
    uint8_t *value;
    unsigned *tries_left;
    unsigned limit;
};

static struct piv_ref reference_for(struct vt_state *st, uint8_t key_ref)
{
    if (key_ref == KEY_REF_PIN)
        return (struct piv_ref){ st->pin, &st->pin_tries_left, st->pin_retries };
    return (struct piv_ref){ st->puk, &st->puk_tries_left, st->puk_retries };
}

static uint16_t tries_left_sw(unsigned tries_left)
{
    if (tries_left == 0)
        return SW_AUTH_METHOD_BLOCKED;
    return (uint16_t)(SW_VERIFY_FAILED_TRIES_LEFT | (tries_left & SW_TRIES_MASK));
}

uint16_t vt_piv_save(const struct piv_app *app)
{
    if (vt_state_save(app->state_path, app->state) < 0) {
        vt_warn("state not saved: answering 6581 (memory failure)");
        return SW_MEMORY_FAILURE;
    }
    return SW_OK;
}

/* Compares a candidate with PIN or PUK as the card does: the counter goes
 * down on a mismatch (and is saved before the answer), back to the limit on
 * a match; a blocked reference is not compared at all. */
static uint16_t try_reference(struct piv_app *app, struct piv_ref ref, const uint8_t *candidate)
{
    if (*ref.tries_left == 0)
        return SW_AUTH_METHOD_BLOCKED;
    if (CRYPTO_memcmp(candidate, ref.value, VT_REF_DATA_LEN) == 0) {
        if (*ref.tries_left == ref.limit)
            return SW_OK;
        *ref.tries_left = ref.limit;
        return vt_piv_save(app);
    }
    (*ref.tries_left)--;
    if (vt_piv_save(app) != SW_OK)
        return SW_MEMORY_FAILURE;
    return tries_left_sw(*ref.tries_left);
}

static uint16_t pin_status(const struct piv_app *app)
{
    const struct vt_state *st = app->state;

    if (st->pin_tries_left == 0)
        return SW_AUTH_METHOD_BLOCKED;
    return app->pin_verified ? SW_OK : tries_left_sw(st->pin_tries_left);
}

static uint16_t piv_verify(struct piv_app *app, const struct apdu_cmd *cmd, struct vt_buf *out)
{
    uint16_t sw;

    (void)out;
    if (cmd->p2 != KEY_REF_PIN)
        return SW_REFERENCE_NOT_FOUND;
    if (cmd->p1 == P1_VERIFY_RESET_STATUS) {
        if (cmd->has_data)
            return SW_WRONG_DATA;
        /* VERIFY P1=FF drops every security status, the management
         * key's included (YubiKey 5). */
        app->pin_verified = false;
        app->pin_fresh = false;
        app->mgmt_authenticated = false;
        return SW_OK;
    }
    if (cmd->p1 != P1_VERIFY)
        return SW_INCORRECT_P1P2;
    /* No data: "am I verified, and how many tries are left" — free. */
    if (!cmd->has_data)
        return pin_status(app);
    if (cmd->lc != VT_REF_DATA_LEN || !vt_ref_data_well_formed(cmd->data))
        return SW_WRONG_DATA;
    sw = try_reference(app, reference_for(app->state, KEY_REF_PIN), cmd->data);
    app->pin_verified = app->pin_fresh = sw == SW_OK;
    return sw;
}

static bool ref_data_pair_ok(const struct apdu_cmd *cmd)
{
    return cmd->lc == REF_DATA_PAIR_LEN && vt_ref_data_well_formed(cmd->data) &&
           vt_ref_data_well_formed(cmd->data + VT_REF_DATA_LEN);
}

/* Sets a new value after a successful check, restoring the full counter. */
static uint16_t replace_reference(struct piv_app *app, struct piv_ref ref, const uint8_t *value)
{
    memcpy(ref.value, value, VT_REF_DATA_LEN);
    *ref.tries_left = ref.limit;
    return vt_piv_save(app);
}

static uint16_t piv_change_reference(struct piv_app *app, const struct apdu_cmd *cmd,
                                     struct vt_buf *out)
{
    struct piv_ref ref;
    uint16_t sw;

    (void)out;
    if (cmd->p1 != P1_REFERENCE_DATA)
        return SW_INCORRECT_P1P2;
    if (cmd->p2 != KEY_REF_PIN && cmd->p2 != KEY_REF_PUK)
        return SW_REFERENCE_NOT_FOUND;
    if (!ref_data_pair_ok(cmd))
        return SW_WRONG_DATA;
    ref = reference_for(app->state, cmd->p2);
    sw = try_reference(app, ref, cmd->data);
    if (cmd->p2 == KEY_REF_PIN)
        app->pin_verified = false;
    if (sw != SW_OK)
        return sw;
    sw = replace_reference(app, ref, cmd->data + VT_REF_DATA_LEN);
    /* SP 800-73-4 §3.2.2: a successful change leaves the reference verified. */
    if (cmd->p2 == KEY_REF_PIN)
        app->pin_verified = app->pin_fresh = sw == SW_OK;
    return sw;
}

static uint16_t piv_reset_retry_counter(struct piv_app *app, const struct apdu_cmd *cmd,
                                        struct vt_buf *out)
{
    uint16_t sw;

    (void)out;
    if (cmd->p1 != P1_REFERENCE_DATA)
        return SW_INCORRECT_P1P2;
    if (cmd->p2 != KEY_REF_PIN)
        return SW_REFERENCE_NOT_FOUND;
    if (!ref_data_pair_ok(cmd))
        return SW_WRONG_DATA;
    sw = try_reference(app, reference_for(app->state, KEY_REF_PUK), cmd->data);
    if (sw != SW_OK)
        return sw;
    app->pin_verified = false;
    return replace_reference(app, reference_for(app->state, KEY_REF_PIN),
                             cmd->data + VT_REF_DATA_LEN);
}

/* --- Yubico vendor instructions -------------------------------------------- */

static uint16_t piv_get_version(struct piv_app *app, const struct apdu_cmd *cmd,
                                struct vt_buf *out)
{
    (void)cmd;
    return built(vt_buf_append(out, app->state->version, VT_VERSION_LEN));
}

static uint16_t piv_get_serial(struct piv_app *app, const struct apdu_cmd *cmd,
                               struct vt_buf *out)
{
    uint8_t be[SERIAL_LEN];
    uint32_t serial = app->state->serial;

    (void)cmd;
    for (int i = SERIAL_LEN - 1; i >= 0; i--, serial >>= BYTE_BITS)
        be[i] = (uint8_t)serial;
    return built(vt_buf_append(out, be, sizeof be));
}

/* --- dispatch ----------------------------------------------------------------- */

typedef uint16_t (*piv_command_fn)(struct piv_app *app, const struct apdu_cmd *cmd,
                                   struct vt_buf *out);

static const struct {
    uint8_t ins;
    piv_command_fn run;
} piv_commands[] = {
    { INS_SELECT,               piv_select },
    { INS_GET_DATA,             piv_get_data },
    { INS_VERIFY,               piv_verify },
    { INS_CHANGE_REFERENCE,     piv_change_reference },
    { INS_RESET_RETRY_COUNTER,  piv_reset_retry_counter },
    { INS_GENERAL_AUTHENTICATE, vt_piv_general_authenticate },
    { INS_GENERATE_KEY_PAIR,    vt_piv_generate },
    { INS_PUT_DATA,             vt_piv_put_data },
    { INS_YK_GET_VERSION,       piv_get_version },
    { INS_YK_GET_SERIAL,        piv_get_serial },
    { INS_YK_GET_METADATA,      vt_piv_get_metadata },
    { INS_YK_MOVE_KEY,          vt_piv_move_key },
};

uint16_t vt_piv_handle(void *opaque, const struct apdu_cmd *cmd, struct vt_buf *out)
{
    struct piv_app *app = opaque;

    if (cmd->ins != INS_SELECT && !app->selected)
        return SW_INS_NOT_SUPPORTED;
    for (size_t i = 0; i < sizeof piv_commands / sizeof piv_commands[0]; i++)
        if (piv_commands[i].ins == cmd->ins)
            return piv_commands[i].run(app, cmd, out);
    return SW_INS_NOT_SUPPORTED;
}

void vt_piv_power_cycle(struct piv_app *app)
{
    app->selected = false;
    app->pin_verified = false;
    app->pin_fresh = false;
    app->mgmt_authenticated = false;
    app->mgmt_step = MGMT_STEP_NONE;
    OPENSSL_cleanse(app->mgmt_expect, sizeof app->mgmt_expect);
}
