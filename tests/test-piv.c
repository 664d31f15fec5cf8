/* SPDX-License-Identifier: MIT */
/*
 * Tests for token/piv.c against a table-driven card: the cases real tokens
 * produce but the virtual token does not (gzip-compressed certificates, retired
 * slots named by the key history, cards without a GUID or serial, broken
 * objects). The PIV flows themselves run against the virtual token in
 * test-service.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "tests/tap.h"
#include "token/edge.h"
#include "token/tlv.h"

struct object {
    uint32_t tag;
    uint8_t *data;      /* content of the 53 template */
    size_t len;
};

static struct {
    struct object obj[32];
    size_t n;
    bool has_serial;
    uint8_t *pending;   /* response still to deliver with GET RESPONSE */
    size_t pending_len;
    unsigned get_data_count;
} card;

static void card_reset(void)
{
    size_t i;

    for (i = 0; i < card.n; i++)
        free(card.obj[i].data);
    free(card.pending);
    memset(&card, 0, sizeof(card));
}

static void card_put(uint32_t tag, const uint8_t *data, size_t len)
{
    struct object *o = &card.obj[card.n++];

    o->tag = tag;
    o->data = malloc(len ? len : 1);
    memcpy(o->data, data, len);
    o->len = len;
}

static token_err reply(uint8_t *rsp, size_t *rsp_len, const uint8_t *data, size_t len, uint16_t sw)
{
    if (len)
        memcpy(rsp, data, len);
    rsp[len] = (uint8_t)(sw >> 8);
    rsp[len + 1] = (uint8_t)sw;
    *rsp_len = len + 2;
    return TOKEN_OK;
}

/* Sends up to 256 bytes of the pending response, 61xx while more remain. */
static token_err reply_pending(uint8_t *rsp, size_t *rsp_len)
{
    size_t n = card.pending_len > 256 ? 256 : card.pending_len, rest = card.pending_len - n;
    uint16_t sw = rest ? (uint16_t)(0x6100 | (rest > 255 ? 0 : rest)) : 0x9000;

    reply(rsp, rsp_len, card.pending, n, sw);
    memmove(card.pending, card.pending + n, rest);
    card.pending_len = rest;
    return TOKEN_OK;
}

static token_err table_card(void *ctx, const uint8_t *cmd, size_t cmd_len, uint8_t *rsp,
                            size_t *rsp_len)
{
    static const uint8_t serial[] = {0x00, 0x98, 0x96, 0x81};   /* 10000001 */
    size_t i;

    (void)ctx;
    switch (cmd[1]) {
    case ISO_INS_SELECT:
        return reply(rsp, rsp_len, NULL, 0, SW_OK);
    case ISO_INS_GET_RESPONSE:
        return reply_pending(rsp, rsp_len);
    case 0xF8:
        return card.has_serial ? reply(rsp, rsp_len, serial, 4, SW_OK)
                               : reply(rsp, rsp_len, NULL, 0, SW_INS_NOT_SUPPORTED);
    case ISO_INS_GET_DATA_ODD: {
        uint32_t tag = cmd_len >= 10 ? (uint32_t)(cmd[7] << 16 | cmd[8] << 8 | cmd[9]) : 0;

        card.get_data_count++;
        for (i = 0; i < card.n; i++) {
            if (card.obj[i].tag == tag) {
                size_t cap = card.obj[i].len + 8;

                free(card.pending);
                card.pending = malloc(cap);
                card.pending_len = tlv_put(card.pending, cap, 0x53, card.obj[i].data,
                                           card.obj[i].len);
                return reply_pending(rsp, rsp_len);
            }
        }
        return reply(rsp, rsp_len, NULL, 0, SW_FILE_NOT_FOUND);
    }
    default:
        return reply(rsp, rsp_len, NULL, 0, SW_INS_NOT_SUPPORTED);
    }
}

static const struct apdu_transport transport = {table_card, NULL};

/* A certificate object: 70 cert, 71 info. */
static size_t cert_object(uint8_t *out, size_t cap, const uint8_t *cert, size_t len, uint8_t info)
{
    size_t n = tlv_put(out, cap, 0x70, cert, len);

    n += tlv_put(out + n, cap - n, 0x71, &info, 1);
    return n;
}

static size_t gzip(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    z_stream zs = {0};
    size_t n;

    deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    deflate(&zs, Z_FINISH);
    n = cap - zs.avail_out;
    deflateEnd(&zs);
    return n;
}

static void test_compressed_and_retired(void)
{
    uint8_t cert[1200], packed[1400], obj[1500], kh[8];
    struct token_cert *certs = NULL;
    size_t n = 0, i, plen;

    card_reset();
    for (i = 0; i < sizeof(cert); i++)
        cert[i] = (uint8_t)(i % 13);    /* not a certificate: the driver does not parse it */
    plen = gzip(cert, sizeof(cert), packed, sizeof(packed));
    card_put(0x5FC105, obj, cert_object(obj, sizeof(obj), packed, plen, 0x01));
    card_put(0x5FC10D, obj, cert_object(obj, sizeof(obj), cert, 300, 0x00));
    card_put(0x5FC10E, obj, cert_object(obj, sizeof(obj), cert, 200, 0x00));
    card_put(0x5FC10F, obj, cert_object(obj, sizeof(obj), cert, 100, 0x00));  /* not announced */
    kh[0] = 0xC1; kh[1] = 1; kh[2] = 2;     /* two retired certificates on the card */
    kh[3] = 0xC2; kh[4] = 1; kh[5] = 0;
    card_put(0x5FC10C, kh, 6);

    TAP_EQ_INT(piv_edge.read_certs(&transport, &certs, &n), TOKEN_OK, "certificates read");
    TAP_EQ_INT(n, 3, "slot 9a and the two retired slots the key history names");
    tap_ok(n >= 1 && certs[0].slot == 0x9A && certs[0].der_len == sizeof(cert) &&
               memcmp(certs[0].der, cert, sizeof(cert)) == 0,
           "a gzip-compressed certificate comes out inflated");
    tap_ok(n >= 3 && certs[1].slot == 0x82 && certs[1].der_len == 300 && certs[2].slot == 0x83,
           "retired certificates in slot order");
    TAP_EQ_INT(card.get_data_count, 4 + 1 + 2,
               "one GET DATA per primary slot, the key history, and each named retired slot");
    token_certs_free(certs, n);
}

static void test_broken_objects(void)
{
    uint8_t obj[64], bomb[64];
    struct token_cert *certs = NULL;
    size_t n = 0;
    static const uint8_t junk[] = {0x70, 0x82, 0xFF};
    static const uint8_t not_gzip[] = {1, 2, 3, 4, 5, 6, 7, 8};

    card_reset();
    card_put(0x5FC105, junk, sizeof(junk));                                      /* bad TLV */
    card_put(0x5FC10A, obj, cert_object(obj, sizeof(obj), not_gzip, sizeof(not_gzip), 0x01));
    card_put(0x5FC10B, bomb, tlv_put(bomb, sizeof(bomb), 0x71, (const uint8_t *)"\x00", 1));
    TAP_EQ_INT(piv_edge.read_certs(&transport, &certs, &n), TOKEN_OK,
               "broken objects do not fail the whole token");
    TAP_EQ_INT(n, 0, "and none of them is reported as a certificate");
    token_certs_free(certs, n);
}

static void test_identity(void)
{
    static const uint8_t atr[] = {0x3B, 0x02, 0x41, 0x42};
    uint8_t chuid[32];
    struct edge_identity id;
    size_t n;

    card_reset();
    card.has_serial = true;
    TAP_EQ_INT(piv_edge.identify(&transport, atr, sizeof(atr), &id), TOKEN_OK,
               "a card without CHUID but with a serial");
    TAP_EQ_STR(id.id, "piv-sn-10000001", "is named by its serial");
    TAP_EQ_STR(id.serial, "10000001", "serial as printed on YubiKey-like tokens");
    edge_identity_clear(&id);

    card_reset();
    n = tlv_put(chuid, sizeof(chuid), 0x34,
                (const uint8_t *)"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff", 16);
    card_put(0x5FC102, chuid, n);
    TAP_EQ_INT(piv_edge.identify(&transport, atr, sizeof(atr), &id), TOKEN_OK, "a card with a GUID");
    TAP_EQ_STR(id.id, "piv-00112233445566778899aabbccddeeff", "is named by its GUID");
    tap_ok(id.serial == NULL, "and has no serial");
    TAP_EQ_STR(id.model, "PIV card", "a card with no name in its ATR is a PIV card");
    edge_identity_clear(&id);

    card_reset();
    TAP_EQ_INT(piv_edge.identify(&transport, atr, sizeof(atr), &id), TOKEN_E_CARD_UNSUPPORTED,
               "a card with nothing stable to name it by is not taken");
}

static void test_pin_policy(void)
{
    TAP_EQ_INT(edge_check_pin_policy(&piv_edge.pin_policy, "123456"), TOKEN_OK, "6 digits");
    TAP_EQ_INT(edge_check_pin_policy(&piv_edge.pin_policy, "abc12345"), TOKEN_OK,
               "8 printable characters");
    TAP_EQ_INT(edge_check_pin_policy(&piv_edge.pin_policy, "12345"), TOKEN_E_PIN_POLICY, "5 is short");
    TAP_EQ_INT(edge_check_pin_policy(&piv_edge.pin_policy, NULL), TOKEN_E_PIN_POLICY, "NULL");
}

int main(void)
{
    test_compressed_and_retired();
    test_broken_objects();
    test_identity();
    test_pin_policy();
    card_reset();
    return tap_done();
}
