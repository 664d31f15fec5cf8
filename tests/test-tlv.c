/* SPDX-License-Identifier: MIT */
/* Tests for token/pcsc/tlv.c: BER-TLV as cards send it, and as nobody should. */
#include <stdint.h>
#include <string.h>

#include "tests/tap.h"
#include "token/pcsc/tlv.h"

static void test_short_and_multibyte_tags(void)
{
    /* 53 03 {5C 01 7E} then 5F C1 02 00 */
    static const uint8_t buf[] = {0x53, 0x03, 0x5C, 0x01, 0x7E, 0x5F, 0xC1, 0x02, 0x00};
    const uint8_t *p = buf;
    size_t len = sizeof(buf);
    struct tlv t;

    TAP_EQ_INT(tlv_next(&p, &len, &t), TOKEN_OK, "first TLV parses");
    TAP_EQ_INT(t.tag, 0x53, "one-byte tag");
    TAP_EQ_INT(t.len, 3, "its length");
    TAP_EQ_INT(tlv_next(&p, &len, &t), TOKEN_OK, "three-byte tag parses");
    TAP_EQ_INT(t.tag, 0x5FC102, "three-byte tag value");
    TAP_EQ_INT(t.len, 0, "empty value");
    TAP_EQ_INT(len, 0, "all bytes consumed");
}

static void test_long_lengths(void)
{
    uint8_t buf[4 + 300];
    const uint8_t *p = buf;
    size_t len = sizeof(buf);
    struct tlv t;

    buf[0] = 0x70;
    buf[1] = 0x82;
    buf[2] = 0x01;
    buf[3] = 0x2C;   /* 300 */
    memset(buf + 4, 0xAB, 300);
    TAP_EQ_INT(tlv_next(&p, &len, &t), TOKEN_OK, "two-byte long-form length");
    TAP_EQ_INT(t.len, 300, "length 300");
    tap_ok(t.value == buf + 4, "value points after the header");

    buf[1] = 0x81;
    buf[2] = 0x80;
    p = buf;
    len = 3 + 0x80;
    TAP_EQ_INT(tlv_next(&p, &len, &t), TOKEN_OK, "one-byte long-form length");
    TAP_EQ_INT(t.len, 0x80, "length 128");
}

static void test_malformed(void)
{
    static const struct {
        const char *name;
        uint8_t bytes[8];
        size_t len;
    } cases[] = {
        {"empty buffer", {0}, 0},
        {"tag without length", {0x53}, 1},
        {"multi-byte tag cut short", {0x5F}, 1},
        {"multi-byte tag cut in the middle", {0x5F, 0xC1}, 2},
        {"tag longer than three bytes", {0x5F, 0xC1, 0x82, 0x01, 0x00}, 5},
        {"length claims more than there is", {0x53, 0x05, 0x00, 0x00}, 4},
        {"long-form length cut short", {0x53, 0x82, 0x01}, 3},
        {"indefinite length", {0x53, 0x80, 0x00, 0x00}, 4},
        {"four length bytes", {0x53, 0x84, 0x00, 0x00, 0x00, 0x01, 0x00}, 7},
        {"huge long-form length", {0x53, 0x83, 0xFF, 0xFF, 0xFF, 0x00}, 6},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const uint8_t *p = cases[i].bytes;
        size_t len = cases[i].len;
        struct tlv t;

        TAP_EQ_INT(tlv_next(&p, &len, &t), TOKEN_E_MALFORMED, cases[i].name);
    }
}

static void test_find(void)
{
    static const uint8_t buf[] = {0x4F, 0x01, 0xAA, 0x70, 0x02, 0x01, 0x02, 0x71, 0x01, 0x00};
    static const uint8_t broken[] = {0x4F, 0x01, 0xAA, 0x70, 0x09, 0x01};
    struct tlv t;

    TAP_EQ_INT(tlv_find(buf, sizeof(buf), 0x71, &t), TOKEN_OK, "find a later sibling");
    tap_ok(t.len == 1 && t.value[0] == 0x00, "found sibling's value");
    TAP_EQ_INT(tlv_find(buf, sizeof(buf), 0x99, &t), TOKEN_E_NO_OBJECT, "absent tag");
    TAP_EQ_INT(tlv_find(broken, sizeof(broken), 0x71, &t), TOKEN_E_MALFORMED,
               "a broken sibling before the tag is an error, not a miss");
}

static void test_put_round_trip(void)
{
    uint8_t value[1000], out[1010];
    size_t sizes[] = {0, 1, 127, 128, 255, 256, 1000}, i;

    memset(value, 0x5A, sizeof(value));
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t n = tlv_put(out, sizeof(out), 0x5FC105, value, sizes[i]);
        const uint8_t *p = out;
        size_t len = n;
        struct tlv t;

        tap_ok(n == tlv_header_size(0x5FC105, sizes[i]) + sizes[i] &&
                   tlv_next(&p, &len, &t) == TOKEN_OK && t.tag == 0x5FC105 &&
                   t.len == sizes[i] && len == 0,
               "put then parse, value of %zu bytes", sizes[i]);
    }
    TAP_EQ_INT(tlv_put(out, 4, 0x53, value, 10), 0, "put refuses what does not fit");
}

/* Every prefix and every single-byte corruption of a valid object must parse or fail cleanly. */
static void test_mutations_never_overrun(void)
{
    uint8_t buf[64], copy[64];
    size_t n = 0, i, bad = 0;
    int b;

    n += tlv_put(buf + n, sizeof(buf) - n, 0x53, (const uint8_t *)"\x70\x03\x01\x02\x03\x71\x01\x00", 8);
    n += tlv_put(buf + n, sizeof(buf) - n, 0x5FC102, (const uint8_t *)"\x34\x02\xAB\xCD", 4);
    for (i = 0; i < n; i++) {
        for (b = 0; b < 256; b++) {
            const uint8_t *p = copy;
            size_t len = n;
            struct tlv t;

            memcpy(copy, buf, n);
            copy[i] = (uint8_t)b;
            while (len > 0 && tlv_next(&p, &len, &t) == TOKEN_OK)
                if (t.value + t.len > copy + n)
                    bad++;
        }
    }
    TAP_EQ_INT(bad, 0, "no value ever reaches past the buffer under byte mutations");
}

int main(void)
{
    test_short_and_multibyte_tags();
    test_long_lengths();
    test_malformed();
    test_find();
    test_put_round_trip();
    test_mutations_never_overrun();
    return tap_done();
}
