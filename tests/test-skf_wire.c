/* SPDX-License-Identifier: MIT */
/*
 * test-skf_wire — the SKF helper protocol's frames (token/skf/wire.c): what
 * the encoder writes parses back to the same fields, and the parser refuses
 * every malformed frame, for the reason it should.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tests/tap.h"
#include "token/skf/wire.h"

static uint8_t buf[SKF_WIRE_FRAME_MAX + 16];

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static size_t request(unsigned op, uint32_t id)
{
    struct skf_wire_out w;

    skf_wire_begin(&w, buf, sizeof buf, SKF_KIND_REQUEST, op, id);
    skf_wire_str(&w, SKF_TAG_DEVICE, "USB Key 1");
    skf_wire_str(&w, SKF_TAG_APP, "DEFAULT_APP");
    skf_wire_u32(&w, SKF_TAG_PIN_ROLE, 1);
    skf_wire_str(&w, SKF_TAG_PIN, "123456");
    return skf_wire_end(&w);
}

static void test_round_trip(void)
{
    static struct skf_frame f;
    size_t n = request(SKF_OP_VERIFY_PIN, 77);
    char s[64];
    uint32_t v = 0;

    tap_ok(n > 0, "a VERIFY_PIN request encodes");
    TAP_EQ_INT(skf_wire_parse(buf, n, &f), SKF_WIRE_OK, "and parses");
    TAP_EQ_INT(f.kind, SKF_KIND_REQUEST, "kind request");
    TAP_EQ_INT(f.op, SKF_OP_VERIFY_PIN, "op kept");
    TAP_EQ_INT(f.id, 77, "id kept");
    TAP_EQ_INT(f.nfields, 4, "four fields");
    tap_ok(skf_frame_str(&f, SKF_TAG_DEVICE, s, sizeof s) && strcmp(s, "USB Key 1") == 0, "device name back");
    tap_ok(skf_frame_str(&f, SKF_TAG_PIN, s, sizeof s) && strcmp(s, "123456") == 0, "PIN back");
    tap_ok(skf_frame_u32(&f, SKF_TAG_PIN_ROLE, &v) && v == 1, "role back");
    tap_ok(!skf_frame_str(&f, SKF_TAG_DEVICE, s, 5), "a string is not cut to fit a small buffer");
    tap_ok(!skf_frame_u32(&f, SKF_TAG_TRIES_LEFT, &v), "an absent field is absent");
}

static void test_lists_and_bytes(void)
{
    static struct skf_frame f;
    static uint8_t cert[SKF_WIRE_BYTES_MAX];
    const struct skf_field *fl;
    struct skf_wire_out w;
    size_t n, cursor = 0, names = 0;

    for (size_t i = 0; i < sizeof cert; i++)
        cert[i] = (uint8_t)(i * 7);
    skf_wire_begin(&w, buf, sizeof buf, SKF_KIND_RESPONSE, SKF_OP_EXPORT_CERT, 5);
    skf_wire_u32(&w, SKF_TAG_STATUS, 0);
    skf_wire_bytes(&w, SKF_TAG_CERT, cert, sizeof cert);
    n = skf_wire_end(&w);
    tap_ok(n > 0 && skf_wire_parse(buf, n, &f) == SKF_WIRE_OK, "a response with the largest certificate round-trips");
    fl = skf_frame_get(&f, SKF_TAG_CERT);
    tap_ok(fl && fl->len == sizeof cert && memcmp(fl->val, cert, sizeof cert) == 0, "its bytes intact");

    skf_wire_begin(&w, buf, sizeof buf, SKF_KIND_RESPONSE, SKF_OP_LIST_DEVICES, 6);
    skf_wire_u32(&w, SKF_TAG_STATUS, 0);
    skf_wire_str(&w, SKF_TAG_NAME, "key A");
    skf_wire_str(&w, SKF_TAG_NAME, "");
    skf_wire_str(&w, SKF_TAG_NAME, "key C 龙脉");
    n = skf_wire_end(&w);
    tap_ok(n > 0 && skf_wire_parse(buf, n, &f) == SKF_WIRE_OK, "a list of names round-trips");
    while ((fl = skf_frame_next(&f, SKF_TAG_NAME, &cursor)))
        names++;
    TAP_EQ_INT(names, 3, "every NAME walked, the empty one too");

    skf_wire_begin(&w, buf, sizeof buf, SKF_KIND_EVENT, SKF_OP_DEVICE_EVENT, 0);
    skf_wire_str(&w, SKF_TAG_DEVICE, "key A");
    skf_wire_u32(&w, SKF_TAG_EVENT, SKF_EVENT_REMOVED);
    n = skf_wire_end(&w);
    tap_ok(n > 0 && skf_wire_parse(buf, n, &f) == SKF_WIRE_OK && f.kind == SKF_KIND_EVENT, "an event round-trips");
}

static void test_encoder_limits(void)
{
    static char long_str[SKF_WIRE_STR_MAX + 2];
    static uint8_t big[SKF_WIRE_BYTES_MAX + 1];
    uint8_t small[20];
    struct skf_wire_out w;

    memset(long_str, 'x', SKF_WIRE_STR_MAX + 1);
    skf_wire_begin(&w, buf, sizeof buf, SKF_KIND_REQUEST, SKF_OP_LIST_APPS, 1);
    skf_wire_str(&w, SKF_TAG_DEVICE, long_str);
    TAP_EQ_INT(skf_wire_end(&w), 0, "the encoder refuses a string over the limit");
    skf_wire_begin(&w, buf, sizeof buf, SKF_KIND_RESPONSE, SKF_OP_EXPORT_CERT, 1);
    skf_wire_bytes(&w, SKF_TAG_CERT, big, sizeof big);
    TAP_EQ_INT(skf_wire_end(&w), 0, "and bytes over the limit");
    skf_wire_begin(&w, buf, sizeof buf, SKF_KIND_REQUEST, SKF_OP_LIST_APPS, 1);
    skf_wire_u32(&w, SKF_TAG_DEVICE, 1);
    TAP_EQ_INT(skf_wire_end(&w), 0, "and a field of the wrong type for its tag");
    skf_wire_begin(&w, small, sizeof small, SKF_KIND_REQUEST, SKF_OP_LIST_APPS, 1);
    skf_wire_str(&w, SKF_TAG_DEVICE, "a name longer than the buffer");
    TAP_EQ_INT(skf_wire_end(&w), 0, "and a frame that overflows its buffer");
}

/* A base frame to break: a LIST_APPS request with one DEVICE field. */
static size_t base(void)
{
    struct skf_wire_out w;

    skf_wire_begin(&w, buf, sizeof buf, SKF_KIND_REQUEST, SKF_OP_LIST_APPS, 9);
    skf_wire_str(&w, SKF_TAG_DEVICE, "dev");
    return skf_wire_end(&w);
}

#define FIELD0 (SKF_WIRE_PREFIX_LEN + SKF_WIRE_HEADER_LEN)

static void refuse(size_t n, enum skf_wire_err want, const char *what)
{
    static struct skf_frame f;
    enum skf_wire_err got = skf_wire_parse(buf, n, &f);

    tap_ok(got == want, "refused: %s (%s; want %s)", what, skf_wire_err_name(got), skf_wire_err_name(want));
}

/* Appends a raw field and fixes the length prefix. */
static size_t append_raw(size_t n, uint8_t tag, uint8_t type, uint32_t len, const void *val, size_t val_len)
{
    buf[n] = tag;
    buf[n + 1] = type;
    be32(buf + n + 2, len);
    memcpy(buf + n + SKF_WIRE_FIELD_HEADER, val, val_len);
    n += SKF_WIRE_FIELD_HEADER + val_len;
    be32(buf, (uint32_t)(n - SKF_WIRE_PREFIX_LEN));
    return n;
}

static void test_malformed(void)
{
    size_t total, n = base();
    uint8_t four[4] = { 0 };

    refuse(0, SKF_WIRE_E_SHORT, "nothing");
    refuse(SKF_WIRE_PREFIX_LEN + SKF_WIRE_HEADER_LEN - 1, SKF_WIRE_E_SHORT, "less than a header");
    refuse(n - 1, SKF_WIRE_E_SHORT, "one byte fewer than the prefix says");
    refuse(n + 1, SKF_WIRE_E_TOO_LONG, "one byte more than the prefix says");
    be32(buf, SKF_WIRE_HEADER_LEN - 1);
    refuse(n, SKF_WIRE_E_SHORT, "a prefix shorter than a header");
    be32(buf, SKF_WIRE_FRAME_MAX);
    tap_ok(skf_wire_frame_size(buf, &total) == SKF_WIRE_E_TOO_LONG, "a prefix beyond the maximum frame is refused before reading on");
    be32(buf, UINT32_MAX);
    refuse(n, SKF_WIRE_E_TOO_LONG, "a prefix of 4 GiB");

    n = base(); buf[4] = SKF_WIRE_VERSION + 1;
    refuse(n, SKF_WIRE_E_VERSION, "another version");
    n = base(); buf[5] = 0;
    refuse(n, SKF_WIRE_E_KIND, "kind 0");
    n = base(); buf[5] = SKF_KIND_EVENT + 1;
    refuse(n, SKF_WIRE_E_KIND, "kind beyond EVENT");
    n = base(); buf[7] = 0;
    refuse(n, SKF_WIRE_E_OP, "op 0");
    n = base(); buf[7] = SKF_OP__END;
    refuse(n, SKF_WIRE_E_OP, "an unknown op");
    n = base(); buf[7] = SKF_OP_DEVICE_EVENT;
    refuse(n, SKF_WIRE_E_OP, "an event op in a request");
    n = base(); buf[5] = SKF_KIND_EVENT;
    refuse(n, SKF_WIRE_E_OP, "a request op in an event");

    n = base();
    be32(buf, (uint32_t)(n - SKF_WIRE_PREFIX_LEN + 3));
    buf[n] = buf[n + 1] = buf[n + 2] = 0;
    refuse(n + 3, SKF_WIRE_E_FIELD_TRUNCATED, "a field header cut short");
    n = base(); be32(buf + FIELD0 + 2, 4);
    refuse(n, SKF_WIRE_E_FIELD_TRUNCATED, "a field longer than the frame");
    n = base(); be32(buf + FIELD0 + 2, UINT32_MAX);
    refuse(n, SKF_WIRE_E_FIELD_TRUNCATED, "a field length of 4 GiB");
    n = base(); buf[FIELD0] = 0;
    refuse(n, SKF_WIRE_E_TAG, "tag 0");
    n = base(); buf[FIELD0] = SKF_TAG__END;
    refuse(n, SKF_WIRE_E_TAG, "an unknown tag");
    n = base(); buf[FIELD0 + 1] = SKF_T_BYTES;
    refuse(n, SKF_WIRE_E_TYPE, "a type that is not the tag's");
    n = base(); buf[FIELD0 + 1] = 0;
    refuse(n, SKF_WIRE_E_TYPE, "type 0");
    n = base(); buf[FIELD0 + SKF_WIRE_FIELD_HEADER + 1] = '\0';
    refuse(n, SKF_WIRE_E_VALUE, "a string holding a NUL");
    n = append_raw(base(), SKF_TAG_PIN_ROLE, SKF_T_U32, 3, four, 3);
    refuse(n, SKF_WIRE_E_VALUE, "a u32 of 3 bytes");
    n = append_raw(base(), SKF_TAG_PIN_ROLE, SKF_T_U32, 4, four, 4);
    n = append_raw(n, SKF_TAG_PIN_ROLE, SKF_T_U32, 4, four, 4);
    refuse(n, SKF_WIRE_E_DUPLICATE, "a field repeated that may not be");
    {
        static char s[SKF_WIRE_STR_MAX + 1];

        memset(s, 'y', sizeof s);
        n = append_raw(base(), SKF_TAG_APP, SKF_T_STR, sizeof s, s, sizeof s);
        refuse(n, SKF_WIRE_E_VALUE, "a string one byte over the limit");
    }
    n = base();
    for (int i = 0; i < SKF_WIRE_FIELDS_MAX; i++)
        n = append_raw(n, SKF_TAG_NAME, SKF_T_STR, 1, "n", 1);
    refuse(n, SKF_WIRE_E_TOO_MANY_FIELDS, "more fields than the maximum");
}

/* The certificate writes' messages: the ops are requests (never events), a
 * point, a digest and a signature travel as bytes, and each op has a name. */
static void test_write_ops(void)
{
    static const unsigned ops[] = { SKF_OP_EXPORT_PUBLIC_KEY, SKF_OP_GEN_SIGN_KEY,
                                    SKF_OP_SIGN_DIGEST, SKF_OP_IMPORT_CERT };
    static struct skf_frame f;
    uint8_t point[2 * SKF_EC_COORD_LEN], digest[SKF_SM3_LEN];
    const struct skf_field *fl;
    struct skf_wire_out w;
    uint32_t sign = 0;
    size_t n;

    for (size_t i = 0; i < sizeof point; i++)
        point[i] = (uint8_t)(0xA0 ^ i);
    memset(digest, 0x5A, sizeof digest);
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        n = request(ops[i], 30 + (uint32_t)i);
        tap_ok(n > 0 && skf_wire_parse(buf, n, &f) == SKF_WIRE_OK && f.op == ops[i],
               "a %s request parses", skf_wire_op_name(ops[i]));
        buf[5] = SKF_KIND_EVENT;
        TAP_EQ_INT(skf_wire_parse(buf, n, &f), SKF_WIRE_E_OP, "…but never as an event");
    }
    skf_wire_begin(&w, buf, sizeof buf, SKF_KIND_REQUEST, SKF_OP_SIGN_DIGEST, 8);
    skf_wire_str(&w, SKF_TAG_CONTAINER, "DEMO_SM2");
    skf_wire_str(&w, SKF_TAG_PIN, "123456");
    skf_wire_bytes(&w, SKF_TAG_DIGEST, digest, sizeof digest);
    n = skf_wire_end(&w);
    tap_ok(n > 0 && skf_wire_parse(buf, n, &f) == SKF_WIRE_OK, "a SIGN_DIGEST request round-trips");
    fl = skf_frame_get(&f, SKF_TAG_DIGEST);
    tap_ok(fl && fl->len == sizeof digest && memcmp(fl->val, digest, sizeof digest) == 0,
           "…its digest intact");
    skf_wire_begin(&w, buf, sizeof buf, SKF_KIND_RESPONSE, SKF_OP_GEN_SIGN_KEY, 9);
    skf_wire_u32(&w, SKF_TAG_STATUS, 0);
    skf_wire_bytes(&w, SKF_TAG_EC_POINT, point, sizeof point);
    n = skf_wire_end(&w);
    fl = n && skf_wire_parse(buf, n, &f) == SKF_WIRE_OK ? skf_frame_get(&f, SKF_TAG_EC_POINT) : NULL;
    tap_ok(fl && fl->len == sizeof point && memcmp(fl->val, point, sizeof point) == 0,
           "a GEN_SIGN_KEY answer carries the point intact");
    skf_wire_begin(&w, buf, sizeof buf, SKF_KIND_REQUEST, SKF_OP_IMPORT_CERT, 10);
    skf_wire_u32(&w, SKF_TAG_SIGN, 0);
    skf_wire_bytes(&w, SKF_TAG_CERT, point, sizeof point);
    n = skf_wire_end(&w);
    tap_ok(n > 0 && skf_wire_parse(buf, n, &f) == SKF_WIRE_OK &&
           skf_frame_u32(&f, SKF_TAG_SIGN, &sign) && sign == 0,
           "an IMPORT_CERT request names the encryption certificate");
    TAP_EQ_INT(skf_wire_tag_type(SKF_TAG_SIGNATURE), SKF_T_BYTES, "a signature is bytes");
    TAP_EQ_INT(skf_wire_tag_type(SKF_TAG_EC_POINT), SKF_T_BYTES, "a point is bytes");
    tap_ok(strcmp(skf_wire_op_name(SKF_OP_IMPORT_CERT), "IMPORT_CERT") == 0, "ops have names");
}

/* FILE_HEADS (op 21) and its FILE_HEAD tag (43) are retired: a frame that
 * names either is refused, so neither number can come to mean something
 * else to one side only. */
#define RETIRED_OP_FILE_HEADS  21
#define RETIRED_TAG_FILE_HEAD  43
#define FRAME_OP_OFFSET        (SKF_WIRE_PREFIX_LEN + 2)   /* after version and kind */

static void test_retired(void)
{
    static struct skf_frame f;
    struct skf_wire_out w;
    size_t n = request(SKF_OP_READ_DEVICE, 40);

    tap_ok(n > 0 && skf_wire_parse(buf, n, &f) == SKF_WIRE_OK, "a READ_DEVICE request parses");
    buf[FRAME_OP_OFFSET] = 0;
    buf[FRAME_OP_OFFSET + 1] = RETIRED_OP_FILE_HEADS;
    TAP_EQ_INT(skf_wire_parse(buf, n, &f), SKF_WIRE_E_OP, "…the same as op 21, FILE_HEADS, retired: refused");
    TAP_EQ_STR(skf_wire_op_name(RETIRED_OP_FILE_HEADS), "UNKNOWN", "…and it has no name");
    skf_wire_begin(&w, buf, sizeof buf, SKF_KIND_RESPONSE, SKF_OP_READ_DEVICE, 40);
    skf_wire_u32(&w, SKF_TAG_SEALS, 2);
    n = skf_wire_end(&w);
    tap_ok(n > 0 && skf_wire_parse(buf, n, &f) == SKF_WIRE_OK, "an answer with SEALS parses");
    buf[SKF_WIRE_PREFIX_LEN + SKF_WIRE_HEADER_LEN] = RETIRED_TAG_FILE_HEAD;
    TAP_EQ_INT(skf_wire_parse(buf, n, &f), SKF_WIRE_E_TAG, "…the same field as tag 43, FILE_HEAD, retired: refused");
    TAP_EQ_INT(skf_wire_tag_type(RETIRED_TAG_FILE_HEAD), 0, "…and it has no type");
}

/* An answer of READ_DEVICE's shape: the device's fields, then `n` entries
 * of (container, type, certificate) as `shape` says: 's' signing, 'e'
 * encryption, 't' a container without its type, 'o' the type before the
 * container, '0' an empty certificate, 'l' a name too long for a container. */
static size_t read_answer(const char *shape)
{
    static const uint8_t der[] = { 0x30, 0x03, 0x02, 0x01, 0x05 };
    char long_name[SKF_WIRE_NAME_MAX + 2];
    struct skf_wire_out w;

    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    skf_wire_begin(&w, buf, sizeof buf, SKF_KIND_RESPONSE, SKF_OP_READ_DEVICE, 50);
    skf_wire_str(&w, SKF_TAG_SERIAL, "SN-1");
    for (const char *c = shape; *c; c++) {
        char name[16];

        snprintf(name, sizeof name, "C%d", (int)(c - shape) / 2);
        if (*c == 'o')
            skf_wire_u32(&w, SKF_TAG_ENTRY_TYPE, 2);
        skf_wire_str(&w, SKF_TAG_ENTRY_CONTAINER, *c == 'l' ? long_name : name);
        if (*c != 't' && *c != 'o')
            skf_wire_u32(&w, SKF_TAG_ENTRY_TYPE, 2);
        skf_wire_bytes(&w, *c == 'e' ? SKF_TAG_ENC_CERT : SKF_TAG_SIGN_CERT, der, *c == '0' ? 0 : sizeof der);
    }
    skf_wire_u32(&w, SKF_TAG_SEALS, 3);
    skf_wire_u32(&w, SKF_TAG_RESUME, 6);
    skf_wire_u32(&w, SKF_TAG_STATUS, 0);
    return skf_wire_end(&w);
}

/* What skf_frame_next_cert makes of an answer: the entries it gave before
 * the end (return 0) or a refusal (return -1 counted as -1). */
static int walk_certs(const char *shape, char *kinds, size_t cap)
{
    static struct skf_frame f;
    struct skf_cert_entry ce;
    size_t n = read_answer(shape), cursor = 0, k = 0;
    int got;

    kinds[0] = '\0';
    if (n == 0 || skf_wire_parse(buf, n, &f) != SKF_WIRE_OK)
        return -2;
    while ((got = skf_frame_next_cert(&f, &cursor, &ce)) == 1 && k + 1 < cap) {
        kinds[k++] = ce.sign ? 's' : 'e';
        kinds[k] = '\0';
        if (ce.container_type != 2 || ce.der_len != 5 || ce.container_len != 2 || ce.container[0] != 'C')
            return -3;
    }
    return got;
}

/* READ_DEVICE: a device's certificates as triples in order, the other
 * fields around them left alone; a triple broken or emptied is refused. */
static void test_read_device(void)
{
    static struct skf_frame f;
    char kinds[32];
    uint32_t resume = 0, seals = 0;
    size_t n;

    n = request(SKF_OP_READ_DEVICE, 49);
    tap_ok(n > 0 && skf_wire_parse(buf, n, &f) == SKF_WIRE_OK && f.op == SKF_OP_READ_DEVICE,
           "a READ_DEVICE request parses");
    TAP_EQ_INT(walk_certs("seese", kinds, sizeof kinds), 0, "an answer of five certificates walks to its end");
    TAP_EQ_STR(kinds, "seese", "…each in order, signing and encryption told apart");
    n = read_answer("se");
    tap_ok(skf_wire_parse(buf, n, &f) == SKF_WIRE_OK && skf_frame_u32(&f, SKF_TAG_RESUME, &resume) &&
               resume == 6, "…the slot to resume from beside them");
    tap_ok(skf_frame_u32(&f, SKF_TAG_SEALS, &seals) && seals == 3, "…and the seal count");
    TAP_EQ_INT(walk_certs("", kinds, sizeof kinds), 0, "an answer without certificates: none");
    TAP_EQ_INT(walk_certs("st", kinds, sizeof kinds), -1, "a container without its type: refused");
    TAP_EQ_STR(kinds, "s", "…after the whole entry before it");
    TAP_EQ_INT(walk_certs("o", kinds, sizeof kinds), -1, "a type before its container: refused");
    TAP_EQ_INT(walk_certs("s0", kinds, sizeof kinds), -1, "an empty certificate: refused");
    TAP_EQ_INT(walk_certs("l", kinds, sizeof kinds), -1, "a container name over SKF_WIRE_NAME_MAX: refused");
    tap_ok(strcmp(skf_wire_op_name(SKF_OP_READ_DEVICE), "READ_DEVICE") == 0, "READ_DEVICE has its name");
}

int main(void)
{
    test_round_trip();
    test_lists_and_bytes();
    test_encoder_limits();
    test_malformed();
    test_write_ops();
    test_retired();
    test_read_device();
    return tap_done();
}
