/* SPDX-License-Identifier: MIT */
/*
 * Tests for token/pcsc/piv.c against a table-driven card: the cases real tokens
 * produce but the virtual token does not (gzip-compressed certificates, retired
 * slots named by the key history, cards without a GUID or serial, broken
 * objects), and for the certificate-write commands every status word and
 * malformed answer a card can give (management-key authentication, GENERATE,
 * signing, PUT DATA, key metadata, MOVE KEY, the key history of 9D). The PIV
 * flows themselves run against the virtual token in test-service and
 * test-certwrite.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <zlib.h>

#include "tests/tap.h"
#include "token/pcsc/edge.h"
#include "token/spki.h"
#include "token/pcsc/tlv.h"

#define INS_GA       0x87
#define INS_GENERATE 0x47
#define INS_PUT_DATA 0xDB
#define INS_MOVE     0xF6
#define INS_METADATA 0xF7
#define MAX_SCRIPT   16
#define MAX_LOG      32
#define BIG          4096

/* A reply the card gives to the next command with that INS, in order. */
struct scripted {
    uint8_t ins;
    uint8_t data[1200];
    size_t len;
    uint16_t sw;
};

/* A command as the card saw it, chained parts joined. */
struct logged {
    uint8_t ins, p1, p2;
    uint8_t data[BIG];
    size_t len;
    unsigned chunks;
};

struct object {
    uint32_t tag;
    uint8_t *data;      /* content of the 53 template */
    size_t len;
};

static struct {
    struct object obj[32];
    size_t n;
    bool has_serial;
    bool zero_serial;   /* answers the serial command with zeros, as some cards do */
    uint8_t *pending;   /* response still to deliver with GET RESPONSE */
    size_t pending_len;
    unsigned get_data_count;
    struct scripted script[MAX_SCRIPT];
    size_t n_script, next_script;
    struct logged log[MAX_LOG];
    size_t n_log;
    uint8_t chain[BIG];  /* command data of a chain in progress */
    size_t chain_len;
    unsigned chain_chunks;
} card;

static void card_reset(void)
{
    size_t i;

    for (i = 0; i < card.n; i++)
        free(card.obj[i].data);
    free(card.pending);
    memset(&card, 0, sizeof(card));
}

static struct object *card_find(uint32_t tag)
{
    size_t i;

    for (i = 0; i < card.n; i++)
        if (card.obj[i].tag == tag)
            return &card.obj[i];
    return NULL;
}

static void card_put(uint32_t tag, const uint8_t *data, size_t len)
{
    struct object *o = card_find(tag);

    if (o)
        free(o->data);
    else
        o = &card.obj[card.n++];

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

static void script(uint8_t ins, const uint8_t *data, size_t len, uint16_t sw)
{
    struct scripted *r = &card.script[card.n_script++];

    r->ins = ins;
    if (len)
        memcpy(r->data, data, len);
    r->len = len;
    r->sw = sw;
}

static token_err reply_scripted(struct scripted *r, uint8_t *rsp, size_t *rsp_len)
{
    card.next_script++;
    if (r->sw != 0x9000)
        return reply(rsp, rsp_len, r->data, r->len, r->sw);
    free(card.pending);
    card.pending = malloc(r->len + 1);
    memcpy(card.pending, r->data, r->len);
    card.pending_len = r->len;
    return reply_pending(rsp, rsp_len);
}

/* PUT DATA: 5C tag 53 content — the object is replaced, "53 00" removes it. */
static token_err put_data(const struct logged *c, uint8_t *rsp, size_t *rsp_len)
{
    const uint8_t *p = c->data;
    size_t len = c->len;
    struct tlv tag, content;
    struct object *o;

    if (tlv_next(&p, &len, &tag) || tag.len != 3 || tlv_next(&p, &len, &content) || len)
        return reply(rsp, rsp_len, NULL, 0, SW_WRONG_DATA);
    card_put((uint32_t)(tag.value[0] << 16 | tag.value[1] << 8 | tag.value[2]), content.value,
             content.len);
    if (content.len == 0 && (o = card_find((uint32_t)(tag.value[0] << 16 | tag.value[1] << 8 |
                                                      tag.value[2])))) {
        free(o->data);
        *o = card.obj[--card.n];
    }
    return reply(rsp, rsp_len, NULL, 0, SW_OK);
}

/* Joins chained command data; true when the command is complete. */
static bool take_command(const uint8_t *cmd, size_t cmd_len, struct logged *out)
{
    size_t lc = cmd_len > 5 ? cmd[4] : 0;

    memcpy(card.chain + card.chain_len, cmd + 5, lc);
    card.chain_len += lc;
    card.chain_chunks++;
    if (cmd[0] & ISO_CLA_CHAINING)
        return false;
    memset(out, 0, sizeof(*out));
    out->ins = cmd[1];
    out->p1 = cmd[2];
    out->p2 = cmd[3];
    memcpy(out->data, card.chain, card.chain_len);
    out->len = card.chain_len;
    out->chunks = card.chain_chunks;
    card.chain_len = 0;
    card.chain_chunks = 0;
    return true;
}

static size_t count_ins(uint8_t ins)
{
    size_t i, n = 0;

    for (i = 0; i < card.n_log; i++)
        n += card.log[i].ins == ins;
    return n;
}

static const struct logged *last_ins(uint8_t ins)
{
    size_t i;

    for (i = card.n_log; i-- > 0;)
        if (card.log[i].ins == ins)
            return &card.log[i];
    return NULL;
}

static token_err table_card(void *ctx, const uint8_t *cmd, size_t cmd_len, uint8_t *rsp,
                            size_t *rsp_len)
{
    static const uint8_t serial[] = {0x00, 0x98, 0x96, 0x81};   /* 10000001 */
    static const uint8_t zero_serial[sizeof(serial)];
    struct logged c;
    size_t i;

    (void)ctx;
    if (cmd[1] != ISO_INS_GET_RESPONSE) {
        if (!take_command(cmd, cmd_len, &c))
            return reply(rsp, rsp_len, NULL, 0, SW_OK);
        if (card.n_log < MAX_LOG)
            card.log[card.n_log++] = c;
        if (card.next_script < card.n_script && card.script[card.next_script].ins == c.ins)
            return reply_scripted(&card.script[card.next_script], rsp, rsp_len);
        if (c.ins == INS_PUT_DATA)
            return put_data(&c, rsp, rsp_len);
    }
    switch (cmd[1]) {
    case ISO_INS_SELECT:
        return reply(rsp, rsp_len, NULL, 0, SW_OK);
    case ISO_INS_GET_RESPONSE:
        return reply_pending(rsp, rsp_len);
    case 0xF8:
        if (card.zero_serial)
            return reply(rsp, rsp_len, zero_serial, sizeof(zero_serial), SW_OK);
        return card.has_serial ? reply(rsp, rsp_len, serial, sizeof(serial), SW_OK)
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

    /* a serial of zeros names no card: two of them must not share piv-sn-0 */
    card_reset();
    card.zero_serial = true;
    card_put(0x5FC102, chuid, n);
    TAP_EQ_INT(piv_edge.identify(&transport, atr, sizeof(atr), &id), TOKEN_OK,
               "a card with a GUID whose serial reads as zeros");
    TAP_EQ_STR(id.id, "piv-00112233445566778899aabbccddeeff", "is named by its GUID");
    tap_ok(id.serial == NULL, "and reported without a serial, not \"0\" (%s)",
           id.serial ? id.serial : "none");
    edge_identity_clear(&id);

    card_reset();
    card.zero_serial = true;
    memset(&id, 0, sizeof(id));
    TAP_EQ_INT(piv_edge.identify(&transport, atr, sizeof(atr), &id), TOKEN_E_CARD_UNSUPPORTED,
               "without a GUID, a serial of zeros is no name either: the card is not taken");
    tap_ok(id.id == NULL, "and is never called piv-sn-0 (%s)", id.id ? id.id : "no id");
}

static void test_pin_policy(void)
{
    TAP_EQ_INT(edge_check_pin_policy(&piv_edge.pin_policy, "123456"), TOKEN_OK, "6 digits");
    TAP_EQ_INT(edge_check_pin_policy(&piv_edge.pin_policy, "abc12345"), TOKEN_OK,
               "8 printable characters");
    TAP_EQ_INT(edge_check_pin_policy(&piv_edge.pin_policy, "12345"), TOKEN_E_PIN_POLICY, "5 is short");
    TAP_EQ_INT(edge_check_pin_policy(&piv_edge.pin_policy, NULL), TOKEN_E_PIN_POLICY, "NULL");
}


/* ---- certificate writes ---- */

static const struct apdu_transport *const T = &transport;

struct test_relay {
    unsigned calls;
    uint8_t algorithm;
    uint8_t challenge[16];
    size_t len;
    token_err result;
};

/* The key holder's side: here the answer is the challenge with every bit
 * flipped; the card edge only carries it, the card judges it. */
static token_err relay_respond(void *ud, uint8_t algorithm, const uint8_t *challenge, size_t len,
                               uint8_t *response)
{
    struct test_relay *r = ud;
    size_t i;

    r->calls++;
    r->algorithm = algorithm;
    r->len = len;
    memcpy(r->challenge, challenge, len);
    for (i = 0; i < len; i++)
        response[i] = (uint8_t)~challenge[i];
    return r->result;
}

static size_t dyn_auth(uint8_t *out, size_t cap, uint32_t tag, const uint8_t *v, size_t len)
{
    uint8_t inner[600];
    size_t n = tlv_put(inner, sizeof(inner), tag, v, len);

    return tlv_put(out, cap, 0x7C, inner, n);
}

static void test_mgmt_auth(void)
{
    static const uint8_t chal8[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    static const uint8_t chal16[16] = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};
    static const struct {
        const char *what;
        uint8_t alg;
        const uint8_t *chal;
        size_t chal_len;
        uint16_t chal_sw;
        bool garbage;          /* the challenge answer is no template */
        token_err relay_result;
        uint16_t answer_sw;
        token_err want;
        unsigned want_ga, want_relay;
    } cases[] = {
        {"3DES key, right answer", 0x03, chal8, 8, 0x9000, false, TOKEN_OK, 0x9000, TOKEN_OK, 2, 1},
        {"AES-128 key, right answer", 0x08, chal16, 16, 0x9000, false, TOKEN_OK, 0x9000, TOKEN_OK, 2, 1},
        {"the card refuses the answer", 0x03, chal8, 8, 0x9000, false, TOKEN_OK, 0x6982,
         TOKEN_E_MGMT_AUTH_FAILED, 2, 1},
        {"answer with wrong data", 0x08, chal16, 16, 0x9000, false, TOKEN_OK, 0x6A80,
         TOKEN_E_MGMT_AUTH_FAILED, 2, 1},
        {"not the card's algorithm", 0x0C, chal16, 16, 0x6A86, false, TOKEN_OK, 0,
         TOKEN_E_MGMT_AUTH_FAILED, 1, 0},
        {"the relay gives up", 0x03, chal8, 8, 0x9000, false, TOKEN_E_RELAY_FAILED, 0,
         TOKEN_E_RELAY_FAILED, 1, 1},
        {"the relay fails otherwise", 0x03, chal8, 8, 0x9000, false, TOKEN_E_INTERNAL, 0,
         TOKEN_E_RELAY_FAILED, 1, 1},
        {"an 8-byte challenge for an AES key", 0x08, chal8, 8, 0x9000, false, TOKEN_OK, 0,
         TOKEN_E_MALFORMED, 1, 0},
        {"a challenge that is no template", 0x03, chal8, 8, 0x9000, true, TOKEN_OK, 0,
         TOKEN_E_MALFORMED, 1, 0},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct test_relay r = {.result = cases[i].relay_result};
        struct token_mgmt_relay relay = {cases[i].alg, relay_respond, &r};
        uint8_t buf[64];
        size_t n = cases[i].garbage ? tlv_put(buf, sizeof(buf), 0x81, cases[i].chal,
                                              cases[i].chal_len)
                                    : dyn_auth(buf, sizeof(buf), 0x81, cases[i].chal,
                                               cases[i].chal_len);
        const struct logged *ga;

        card_reset();
        script(INS_GA, buf, cases[i].chal_sw == 0x9000 ? n : 0, cases[i].chal_sw);
        script(INS_GA, NULL, 0, cases[i].answer_sw);
        TAP_EQ_INT(piv_edge.mgmt_auth(T, &relay), cases[i].want, cases[i].what);
        TAP_EQ_INT(count_ins(INS_GA), cases[i].want_ga, "  GENERAL AUTHENTICATE commands sent");
        TAP_EQ_INT(r.calls, cases[i].want_relay, "  relay consulted");
        ga = &card.log[0];
        tap_ok(ga->p1 == cases[i].alg && ga->p2 == 0x9B && ga->len == 4 &&
                   memcmp(ga->data, "\x7C\x02\x81\x00", 4) == 0,
               "  asks for a challenge: 87 %02X 9B 7C 02 81 00", cases[i].alg);
        if (r.calls)
            tap_ok(r.len == cases[i].chal_len && memcmp(r.challenge, cases[i].chal, r.len) == 0 &&
                       r.algorithm == cases[i].alg,
                   "  the relay gets the card's challenge and the algorithm");
        if (cases[i].want_ga == 2) {
            uint8_t want[2 + 2 + 16];
            size_t k, wn;

            for (k = 0; k < cases[i].chal_len; k++)
                buf[k] = (uint8_t)~cases[i].chal[k];
            wn = dyn_auth(want, sizeof(want), 0x82, buf, cases[i].chal_len);
            ga = &card.log[1];
            tap_ok(ga->len == wn && memcmp(ga->data, want, wn) == 0,
                   "  the card gets the relay's answer: 7C { 82 answer }");
        }
    }
}

/* ---- keys as a card hands them out ---- */

static EVP_PKEY *key_of(const char *type, const char *param)
{
    if (strcmp(type, "RSA") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    if (strcmp(type, "SM2") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "SM2");
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", param);
}

static size_t der_of(EVP_PKEY *k, uint8_t *out)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(k, &der);

    memcpy(out, der, (size_t)n);
    OPENSSL_free(der);
    return (size_t)n;
}

/* 81 modulus 82 exponent, or 86 point: the inside of 7F49 and of metadata tag 04. */
static size_t raw_public(EVP_PKEY *k, uint8_t *out, size_t cap)
{
    uint8_t a[600], b[16];
    size_t n = 0;
    BIGNUM *bn_n = NULL, *bn_e = NULL;

    if (EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &bn_n)) {
        EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &bn_e);
        BN_bn2binpad(bn_n, a, 256);
        n = tlv_put(out, cap, 0x81, a, 256);
        n += tlv_put(out + n, cap - n, 0x82, b, (size_t)BN_bn2bin(bn_e, b));
        BN_free(bn_n);
        BN_free(bn_e);
        return n;
    }
    EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, a, sizeof(a), &n);
    return tlv_put(out, cap, 0x86, a, n);
}

static void test_generate(void)
{
    static const struct {
        const char *type, *param;
        enum token_key_alg alg;
        uint8_t piv_alg;
    } keys[] = {
        {"RSA", NULL, TOKEN_KEY_RSA2048, 0x07},
        {"EC", "P-256", TOKEN_KEY_EC_P256, 0x11},
        {"EC", "P-384", TOKEN_KEY_EC_P384, 0x14},
        {"SM2", NULL, TOKEN_KEY_SM2, 0xF0},
    };
    size_t i;

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        EVP_PKEY *k = key_of(keys[i].type, keys[i].param);
        uint8_t raw[600], answer[700], want[600], *spki = NULL;
        size_t raw_len = raw_public(k, raw, sizeof(raw)), want_len = der_of(k, want), spki_len = 0;
        const char *name = token_key_alg_name(keys[i].alg);
        enum token_key_alg seen;

        card_reset();
        script(INS_GENERATE, answer, tlv_put(answer, sizeof(answer), 0x7F49, raw, raw_len), 0x9000);
        TAP_EQ_INT(piv_edge.generate(T, 0x95, keys[i].alg, &spki, &spki_len), TOKEN_OK, name);
        tap_ok(spki_len == want_len && memcmp(spki, want, want_len) == 0,
               "  %s: the SubjectPublicKeyInfo is the generated key", name);
        tap_ok(spki_key_alg(spki, spki_len, &seen) == TOKEN_OK && seen == keys[i].alg,
               "  and is recognised as %s", name);
        tap_ok(card.log[0].p2 == 0x95 && card.log[0].len == 5 &&
                   memcmp(card.log[0].data, "\xAC\x03\x80\x01", 4) == 0 &&
                   card.log[0].data[4] == keys[i].piv_alg,
               "  47 00 95 AC 03 80 01 %02X", keys[i].piv_alg);
        free(spki);
        EVP_PKEY_free(k);
    }
}

static void test_generate_malformed(void)
{
    EVP_PKEY *ec = key_of("EC", "P-256"), *rsa = key_of("RSA", NULL);
    uint8_t raw[600], answer[700], *spki = NULL;
    size_t raw_len, n, spki_len = 0;
    static const struct {
        uint16_t sw;
        token_err want;
        const char *what;
    } refusals[] = {
        {0x6A80, TOKEN_E_NOT_SUPPORTED, "algorithm refused (6A80)"},
        {0x6A86, TOKEN_E_NOT_SUPPORTED, "algorithm refused (6A86)"},
        {0x6982, TOKEN_E_SECURITY_STATUS, "not authenticated (6982)"},
        {0x6A84, TOKEN_E_NO_SPACE, "no room (6A84)"},
        {0x6D00, TOKEN_E_NOT_SUPPORTED, "no GENERATE (6D00)"},
        {0x6F00, TOKEN_E_CARD_ERROR, "anything else (6F00)"},
    };
    size_t i;

    for (i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
        card_reset();
        script(INS_GENERATE, NULL, 0, refusals[i].sw);
        TAP_EQ_INT(piv_edge.generate(T, 0x95, TOKEN_KEY_EC_P256, &spki, &spki_len),
                   refusals[i].want, refusals[i].what);
    }

    raw_len = raw_public(ec, raw, sizeof(raw));
    raw[raw_len - 1] ^= 0x01;   /* no longer on the curve */
    card_reset();
    script(INS_GENERATE, answer, tlv_put(answer, sizeof(answer), 0x7F49, raw, raw_len), 0x9000);
    TAP_EQ_INT(piv_edge.generate(T, 0x95, TOKEN_KEY_EC_P256, &spki, &spki_len), TOKEN_E_MALFORMED,
               "a point off the curve");
    raw[raw_len - 1] ^= 0x01;
    card_reset();
    script(INS_GENERATE, answer, tlv_put(answer, sizeof(answer), 0x7F49, raw, raw_len), 0x9000);
    TAP_EQ_INT(piv_edge.generate(T, 0x95, TOKEN_KEY_EC_P384, &spki, &spki_len), TOKEN_E_MALFORMED,
               "a P-256 point for a P-384 key");
    card_reset();
    script(INS_GENERATE, raw, raw_len, 0x9000);
    TAP_EQ_INT(piv_edge.generate(T, 0x95, TOKEN_KEY_EC_P256, &spki, &spki_len), TOKEN_E_MALFORMED,
               "a point without its 7F49 template");
    card_reset();
    n = tlv_put(answer, sizeof(answer), 0x7F49, raw, raw_len);
    script(INS_GENERATE, answer, n - 5, 0x9000);
    TAP_EQ_INT(piv_edge.generate(T, 0x95, TOKEN_KEY_EC_P256, &spki, &spki_len), TOKEN_E_MALFORMED,
               "a template cut short");
    card_reset();
    script(INS_GENERATE, answer, n, 0x9000);
    TAP_EQ_INT(piv_edge.generate(T, 0x95, TOKEN_KEY_RSA2048, &spki, &spki_len), TOKEN_E_MALFORMED,
               "an EC point where an RSA key was asked for");

    raw_len = raw_public(rsa, raw, sizeof(raw));
    memmove(raw + 4, raw + 5, raw_len - 5);   /* a 255-byte modulus */
    raw[3] = 0xFF;
    card_reset();
    script(INS_GENERATE, answer, tlv_put(answer, sizeof(answer), 0x7F49, raw, raw_len - 1), 0x9000);
    TAP_EQ_INT(piv_edge.generate(T, 0x95, TOKEN_KEY_RSA2048, &spki, &spki_len), TOKEN_E_MALFORMED,
               "an RSA-2048 key with a 255-byte modulus");
    tap_ok(spki == NULL, "no key comes out of a malformed answer");
    TAP_EQ_INT(piv_edge.generate(T, 0x42, TOKEN_KEY_RSA2048, &spki, &spki_len), TOKEN_E_INVALID_ARG,
               "a slot PIV does not have");
    EVP_PKEY_free(ec);
    EVP_PKEY_free(rsa);
}

static void test_sign(void)
{
    uint8_t digest_info[51], sigbuf[300], answer[400], *sig = NULL;
    size_t sig_len = 0, i;
    const struct logged *ga;

    for (i = 0; i < sizeof(digest_info); i++)
        digest_info[i] = (uint8_t)(0xA0 + i);
    for (i = 0; i < 256; i++)
        sigbuf[i] = (uint8_t)i;
    card_reset();
    script(INS_GA, answer, dyn_auth(answer, sizeof(answer), 0x82, sigbuf, 256), 0x9000);
    TAP_EQ_INT(piv_edge.sign(T, 0x9A, TOKEN_KEY_RSA2048, digest_info, sizeof(digest_info), &sig,
                             &sig_len), TOKEN_OK, "RSA-2048 signature");
    tap_ok(sig_len == 256 && memcmp(sig, sigbuf, 256) == 0, "the card's signature, unwrapped");
    free(sig);
    sig = NULL;
    ga = last_ins(INS_GA);
    tap_ok(ga && ga->p1 == 0x07 && ga->p2 == 0x9A && ga->chunks == 2,
           "87 07 9A, chained over two commands (%u)", ga ? ga->chunks : 0);
    tap_ok(ga && ga->len == 266 && memcmp(ga->data, "\x7C\x82\x01\x06\x82\x00\x81\x82\x01\x00", 10) == 0,
           "7C { 82 00, 81 256 bytes }");
    if (ga) {
        const uint8_t *b = ga->data + 10;
        bool pad = b[0] == 0x00 && b[1] == 0x01 && b[256 - 52] == 0x00;

        for (i = 2; i < 256 - 52; i++)
            pad = pad && b[i] == 0xFF;
        tap_ok(pad && memcmp(b + 256 - 51, digest_info, 51) == 0,
               "the block is 00 01 FF..FF 00 DigestInfo (PKCS#1 v1.5)");
    }

    card_reset();
    script(INS_GA, answer, dyn_auth(answer, sizeof(answer), 0x82, sigbuf, 70), 0x9000);
    TAP_EQ_INT(piv_edge.sign(T, 0x9C, TOKEN_KEY_SM2, digest_info, 32, &sig, &sig_len), TOKEN_OK,
               "SM2 signature of e");
    ga = last_ins(INS_GA);
    tap_ok(ga && ga->p1 == 0xF0 && ga->p2 == 0x9C && ga->chunks == 1 && ga->len == 2 + 2 + 2 + 32 &&
               memcmp(ga->data, "\x7C\x24\x82\x00\x81\x20", 6) == 0 &&
               memcmp(ga->data + 6, digest_info, 32) == 0,
           "87 F0 9C 7C 24 { 82 00, 81 20 e }, e as it is");
    free(sig);
    sig = NULL;

    {
        static const struct {
            uint16_t sw;
            token_err want;
            const char *what;
        } refusals[] = {
            {0x6982, TOKEN_E_SECURITY_STATUS, "PIN not verified (6982)"},
            {0x6A80, TOKEN_E_KEY_MISMATCH, "the slot's key is of another algorithm (6A80)"},
            {0x6A88, TOKEN_E_NO_OBJECT, "no key in the slot (6A88)"},
        };

        for (i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
            card_reset();
            script(INS_GA, NULL, 0, refusals[i].sw);
            TAP_EQ_INT(piv_edge.sign(T, 0x9A, TOKEN_KEY_EC_P256, digest_info, 32, &sig, &sig_len),
                       refusals[i].want, refusals[i].what);
        }
    }
    card_reset();
    script(INS_GA, answer, dyn_auth(answer, sizeof(answer), 0x81, sigbuf, 64), 0x9000);
    TAP_EQ_INT(piv_edge.sign(T, 0x9A, TOKEN_KEY_EC_P256, digest_info, 32, &sig, &sig_len),
               TOKEN_E_MALFORMED, "an answer without the signature element");
    card_reset();
    TAP_EQ_INT(piv_edge.sign(T, 0x9A, TOKEN_KEY_RSA2048, sigbuf, 250, &sig, &sig_len),
               TOKEN_E_INVALID_ARG, "a DigestInfo too long for the modulus");
    TAP_EQ_INT(card.n_log, 0, "is refused before the card");
    tap_ok(sig == NULL, "no signature comes out of a refusal");
}

static void test_put_data(void)
{
    uint8_t cert[1200], *back = NULL;
    size_t back_len = 0, i;
    const struct logged *put;
    struct object *o;

    for (i = 0; i < sizeof(cert); i++)
        cert[i] = (uint8_t)(i * 7);
    card_reset();
    TAP_EQ_INT(piv_edge.write_cert(T, 0x9D, cert, sizeof(cert)), TOKEN_OK, "certificate written");
    put = last_ins(INS_PUT_DATA);
    tap_ok(put && put->p1 == 0x3F && put->p2 == 0xFF && put->chunks == 5,
           "DB 3F FF, chained (%u commands)", put ? put->chunks : 0);
    tap_ok(put && memcmp(put->data, "\x5C\x03\x5F\xC1\x0B\x53\x82\x04\xB9\x70\x82\x04\xB0", 13) == 0,
           "5C 03 5FC10B 53 { 70 cert ...");
    o = card_find(0x5FC10B);
    tap_ok(o && o->len == 4 + 1200 + 3 + 2 &&
               memcmp(o->data + 4 + 1200, "\x71\x01\x00\xFE\x00", 5) == 0,
           "... 71 01 00 (uncompressed), FE 00 }");
    TAP_EQ_INT(piv_edge.read_cert(T, 0x9D, &back, &back_len), TOKEN_OK, "and read back");
    tap_ok(back_len == sizeof(cert) && memcmp(back, cert, sizeof(cert)) == 0, "byte for byte");
    free(back);
    back = NULL;
    TAP_EQ_INT(piv_edge.write_cert(T, 0x9D, NULL, 0), TOKEN_OK, "the object emptied");
    put = last_ins(INS_PUT_DATA);
    tap_ok(put && put->len == 7 && memcmp(put->data, "\x5C\x03\x5F\xC1\x0B\x53\x00", 7) == 0,
           "with 53 00");
    TAP_EQ_INT(piv_edge.read_cert(T, 0x9D, &back, &back_len), TOKEN_E_NO_OBJECT,
               "an emptied object holds no certificate");

    card_reset();
    script(INS_PUT_DATA, NULL, 0, 0x6A84);
    TAP_EQ_INT(piv_edge.write_cert(T, 0x9A, cert, sizeof(cert)), TOKEN_E_NO_SPACE,
               "no room on the card (6A84)");
    card_reset();
    script(INS_PUT_DATA, NULL, 0, 0x6982);
    TAP_EQ_INT(piv_edge.write_cert(T, 0x9A, cert, sizeof(cert)), TOKEN_E_SECURITY_STATUS,
               "not authenticated (6982)");
    TAP_EQ_INT(piv_edge.write_cert(T, 0x42, cert, sizeof(cert)), TOKEN_E_INVALID_ARG,
               "a slot PIV does not have");
}

static void test_metadata(void)
{
    EVP_PKEY *k = key_of("SM2", NULL);
    uint8_t raw[200], meta[300], want[200], *spki = NULL;
    size_t raw_len = raw_public(k, raw, sizeof(raw)), want_len = der_of(k, want), n, spki_len = 0;
    static const struct {
        uint16_t sw;
        token_err want;
        const char *what;
    } refusals[] = {
        {0x6D00, TOKEN_E_NOT_SUPPORTED, "no GET METADATA (6D00, YubiKey before 5.3)"},
        {0x6E00, TOKEN_E_NOT_SUPPORTED, "class not supported (6E00)"},
        {0x6A81, TOKEN_E_NOT_SUPPORTED, "function not supported (6A81)"},
        {0x6A88, TOKEN_E_NO_OBJECT, "no key in the slot (6A88)"},
    };
    size_t i;

    n = tlv_put(meta, sizeof(meta), 0x01, (const uint8_t *)"\xF0", 1);
    n += tlv_put(meta + n, sizeof(meta) - n, 0x02, (const uint8_t *)"\x01\x01", 2);
    n += tlv_put(meta + n, sizeof(meta) - n, 0x03, (const uint8_t *)"\x01", 1);
    n += tlv_put(meta + n, sizeof(meta) - n, 0x04, raw, raw_len);
    card_reset();
    script(INS_METADATA, meta, n, 0x9000);
    TAP_EQ_INT(piv_edge.key_public(T, 0x9A, &spki, &spki_len), TOKEN_OK, "key metadata read");
    tap_ok(spki_len == want_len && memcmp(spki, want, want_len) == 0,
           "the slot's SM2 public key as SubjectPublicKeyInfo");
    tap_ok(card.log[0].p1 == 0x00 && card.log[0].p2 == 0x9A && card.log[0].len == 0, "F7 00 9A");
    free(spki);
    spki = NULL;
    for (i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
        card_reset();
        script(INS_METADATA, NULL, 0, refusals[i].sw);
        TAP_EQ_INT(piv_edge.key_public(T, 0x9C, &spki, &spki_len), refusals[i].want,
                   refusals[i].what);
    }
    card_reset();
    meta[2] = 0xE0;   /* Ed25519 */
    script(INS_METADATA, meta, n, 0x9000);
    TAP_EQ_INT(piv_edge.key_public(T, 0x9A, &spki, &spki_len), TOKEN_E_NOT_SUPPORTED,
               "a key algorithm ukeyd does not know");
    card_reset();
    meta[2] = 0xF0;
    script(INS_METADATA, meta, n - raw_len - 2, 0x9000);
    TAP_EQ_INT(piv_edge.key_public(T, 0x9A, &spki, &spki_len), TOKEN_E_MALFORMED,
               "metadata without the public key");
    EVP_PKEY_free(k);
}

static void test_move(void)
{
    static const struct {
        uint16_t sw;
        token_err want;
        const char *what;
    } answers[] = {
        {0x9000, TOKEN_OK, "key moved"},
        {0x6A88, TOKEN_E_NO_OBJECT, "no key in the source (6A88)"},
        {0x6A86, TOKEN_E_INVALID_ARG, "bad slots (6A86)"},
        {0x6D00, TOKEN_E_NOT_SUPPORTED, "no MOVE KEY (6D00, YubiKey before 5.7)"},
        {0x6982, TOKEN_E_SECURITY_STATUS, "not authenticated (6982)"},
    };
    size_t i;

    for (i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
        card_reset();
        script(INS_MOVE, NULL, 0, answers[i].sw);
        TAP_EQ_INT(piv_edge.move_key(T, 0x95, 0x9A), answers[i].want, answers[i].what);
    }
    tap_ok(card.log[0].p1 == 0x9A && card.log[0].p2 == 0x95 && card.log[0].len == 0,
           "F6 DEST SRC without data");
    card_reset();
    TAP_EQ_INT(piv_edge.move_key(T, 0x9A, 0x9A), TOKEN_E_INVALID_ARG, "a key onto itself");
    TAP_EQ_INT(card.n_log, 0, "is refused before the card");
}

static void put_key_history(uint8_t on_card)
{
    uint8_t kh[16];
    size_t n = tlv_put(kh, sizeof(kh), 0xC1, &on_card, 1);

    n += tlv_put(kh + n, sizeof(kh) - n, 0xC2, (const uint8_t *)"\x00", 1);
    card_put(0x5FC10C, kh, n);
}

static void script_metadata(bool has_key)
{
    static uint8_t meta[128];
    static size_t n;

    if (!n) {
        EVP_PKEY *k = key_of("EC", "P-256");
        uint8_t raw[100];
        size_t raw_len = raw_public(k, raw, sizeof(raw));

        n = tlv_put(meta, sizeof(meta), 0x01, (const uint8_t *)"\x11", 1);
        n += tlv_put(meta + n, sizeof(meta) - n, 0x04, raw, raw_len);
        EVP_PKEY_free(k);
    }
    script(INS_METADATA, meta, has_key ? n : 0, has_key ? 0x9000 : 0x6A88);
}

static void test_retire(void)
{
    uint8_t obj[64], old_cert[20], retired = 0xEE;
    struct object *o;
    const struct logged *mv;

    memset(old_cert, 0x5A, sizeof(old_cert));
    card_reset();
    put_key_history(1);
    card_put(0x5FC10B, obj, cert_object(obj, sizeof(obj), old_cert, sizeof(old_cert), 0x00));
    script_metadata(true);    /* 9D holds a key */
    script_metadata(false);   /* 83 is free */
    script(INS_MOVE, NULL, 0, 0x9000);
    TAP_EQ_INT(piv_edge.retire_key(T, 0x9D, &retired), TOKEN_OK, "9D's key retired");
    TAP_EQ_INT(retired, 0x83, "into the slot after the one the key history counts");
    mv = last_ins(INS_MOVE);
    tap_ok(mv && mv->p1 == 0x83 && mv->p2 == 0x9D, "MOVE KEY 9D to 83");
    o = card_find(0x5FC10E);
    tap_ok(o && o->len >= 22 && memcmp(o->data + 2, old_cert, sizeof(old_cert)) == 0,
           "the old certificate copied to 83's object");
    o = card_find(0x5FC10C);
    tap_ok(o && o->len >= 3 && o->data[0] == 0xC1 && o->data[2] == 2 &&
               memcmp(o->data + 3, "\xC2\x01\x00\xFE\x00", 5) == 0,
           "the key history counts two on-card retired keys, keeps the off-card count");
    tap_ok(card.n_log == 7 && card.log[4].ins == INS_PUT_DATA && card.log[5].ins == INS_MOVE &&
               card.log[6].ins == INS_PUT_DATA,
           "certificate copy, then the move, then the count");

    card_reset();
    put_key_history(1);
    script_metadata(true);
    script_metadata(true);    /* 83 holds a key nobody counted */
    TAP_EQ_INT(piv_edge.retire_key(T, 0x9D, &retired), TOKEN_E_NO_SPACE,
               "a key the key history does not count is never overwritten");
    TAP_EQ_INT(count_ins(INS_MOVE) + count_ins(INS_PUT_DATA), 0, "and nothing is written");

    card_reset();
    put_key_history(19);
    TAP_EQ_INT(piv_edge.retire_key(T, 0x9D, &retired), TOKEN_E_NO_SPACE,
               "19 retired keys: the next slot is the staging slot");

    card_reset();
    put_key_history(2);
    script_metadata(false);   /* 9D empty: an earlier retirement was cut off */
    script_metadata(true);    /* 84 holds the moved key */
    TAP_EQ_INT(piv_edge.retire_key(T, 0x9D, &retired), TOKEN_OK, "a cut-off retirement");
    TAP_EQ_INT(retired, 0x84, "is finished");
    o = card_find(0x5FC10C);
    tap_ok(o && o->data[2] == 3 && count_ins(INS_MOVE) == 0,
           "by counting the key, without moving anything");

    card_reset();
    script_metadata(false);
    script_metadata(false);
    TAP_EQ_INT(piv_edge.retire_key(T, 0x9D, &retired), TOKEN_OK, "9D without a key");
    tap_ok(retired == 0 && count_ins(INS_PUT_DATA) == 0, "has nothing to retire");

    card_reset();
    TAP_EQ_INT(piv_edge.retire_key(T, 0x9A, &retired), TOKEN_OK, "9A");
    tap_ok(retired == 0 && card.n_log == 0, "keeps no history: no command at all");
}

int main(void)
{
    test_compressed_and_retired();
    test_broken_objects();
    test_identity();
    test_pin_policy();
    test_mgmt_auth();
    test_generate();
    test_generate_malformed();
    test_sign();
    test_put_data();
    test_metadata();
    test_move();
    test_retire();
    card_reset();
    return tap_done();
}
