/* SPDX-License-Identifier: MIT */
/*
 * fuzz-tlv — BER-TLV as token/pcsc/tlv.c reads it from card answers: every
 * sibling, and the children of constructed ones, as the PIV driver descends
 * into 53 / 70 / 7E templates.
 *
 * Properties: a TLV read lies wholly inside the input and the cursor moves by
 * exactly its size; writing it back with tlv_put and reading that again gives
 * the same tag and value; tlv_find finds what the walk found first.
 */
#include "tests/fuzz/fuzz.h"
#include "token/pcsc/tlv.h"

#define DEPTH_MAX          8
#define CONSTRUCTED_BIT    0x20u    /* in the first tag byte */
#define TLV_HEADER_MAX     7        /* three tag bytes, four length bytes */

static unsigned first_tag_byte(uint32_t tag)
{
    while (tag > 0xFF)
        tag >>= 8;
    return tag;
}

static void check_round_trip(const struct tlv *t)
{
    size_t cap = t->len + TLV_HEADER_MAX;
    uint8_t *out = malloc(cap);
    const uint8_t *p = out;
    size_t left, n;
    struct tlv again;

    FUZZ_ASSERT(out != NULL);
    n = tlv_put(out, cap, t->tag, t->value, t->len);
    FUZZ_ASSERT(n == tlv_header_size(t->tag, t->len) + t->len);
    left = n;
    FUZZ_ASSERT(tlv_next(&p, &left, &again) == TOKEN_OK);
    FUZZ_ASSERT(left == 0 && again.tag == t->tag && again.len == t->len);
    FUZZ_ASSERT(t->len == 0 || memcmp(again.value, t->value, t->len) == 0);
    free(out);
}

static void walk(const uint8_t *buf, size_t len, int depth)
{
    const uint8_t *p = buf, *end = buf + len;
    size_t left = len;
    bool first = true;
    struct tlv t, found;

    while (left > 0) {
        const uint8_t *before = p;

        if (tlv_next(&p, &left, &t) != TOKEN_OK)
            return;
        FUZZ_ASSERT(t.value >= before && t.value + t.len == p && p <= end);
        FUZZ_ASSERT((size_t)(end - p) == left);
        check_round_trip(&t);
        if (first) {
            FUZZ_ASSERT(tlv_find(buf, len, t.tag, &found) == TOKEN_OK);
            FUZZ_ASSERT(found.value == t.value && found.len == t.len);
            first = false;
        }
        if ((first_tag_byte(t.tag) & CONSTRUCTED_BIT) && depth < DEPTH_MAX)
            walk(t.value, t.len, depth + 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t piv_tags[] = { 0x53, 0x70, 0x71, 0x7E, 0x5FC102, 0x34, 0xC1 };
    struct tlv t;

    walk(data, size, 0);
    for (size_t i = 0; i < sizeof piv_tags / sizeof piv_tags[0]; i++)
        if (tlv_find(data, size, piv_tags[i], &t) == TOKEN_OK)
            FUZZ_ASSERT(t.tag == piv_tags[i] && t.value >= data && t.value + t.len <= data + size);
    return 0;
}
