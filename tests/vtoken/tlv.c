/* SPDX-License-Identifier: MIT */
/*
 * tests/vtoken/tlv.c — BER-TLV tag and length encoding (ISO 7816-4 §5.2).
 */
#include "tests/vtoken/tlv.h"

#define BER_LEN_SHORT_MAX    0x7F
#define BER_LEN_LONG_FORM    0x80   /* | number of length bytes that follow */
#define BER_LEN_MAX_BYTES    3
#define BYTE_BITS            8
#define BYTE_MASK            0xFFu
#define BER_TAG_MULTI_BYTE   0x1F   /* low five bits of a first tag byte: more follow */
#define BER_TAG_MORE         0x80   /* in a later tag byte: another follows */
#define BER_TAG_MAX_BYTES    3
#define BER_LEN_BYTES_MASK   0x7F

static size_t bytes_needed(uint32_t v)
{
    size_t n = 1;

    while (n < sizeof v && (v >> (BYTE_BITS * n)) != 0)
        n++;
    return n;
}

static int append_big_endian(struct vt_buf *out, uint32_t v, size_t n)
{
    for (size_t i = n; i > 0; i--)
        if (vt_buf_append_byte(out, (uint8_t)((v >> (BYTE_BITS * (i - 1))) & BYTE_MASK)) < 0)
            return -1;
    return 0;
}

static int append_length(struct vt_buf *out, size_t len)
{
    size_t n;

    if (len <= BER_LEN_SHORT_MAX)
        return vt_buf_append_byte(out, (uint8_t)len);
    n = bytes_needed((uint32_t)len);
    if (len > UINT32_MAX || n > BER_LEN_MAX_BYTES)
        return -1;
    if (vt_buf_append_byte(out, (uint8_t)(BER_LEN_LONG_FORM | n)) < 0)
        return -1;
    return append_big_endian(out, (uint32_t)len, n);
}

int vt_tlv_append(struct vt_buf *out, uint32_t tag, const void *value, size_t len)
{
    if (append_big_endian(out, tag, bytes_needed(tag)) < 0 || append_length(out, len) < 0)
        return -1;
    return vt_buf_append(out, value, len);
}

static int read_tag(const uint8_t **p, const uint8_t *end, uint32_t *tag)
{
    const uint8_t *q = *p;
    size_t n = 1;

    if (q >= end)
        return -1;
    *tag = *q++;
    if ((*tag & BER_TAG_MULTI_BYTE) == BER_TAG_MULTI_BYTE) {
        do {
            if (q >= end || ++n > BER_TAG_MAX_BYTES)
                return -1;
            *tag = *tag << BYTE_BITS | *q;
        } while (*q++ & BER_TAG_MORE);
    }
    *p = q;
    return 0;
}

static int read_length(const uint8_t **p, const uint8_t *end, size_t *len)
{
    const uint8_t *q = *p;
    size_t n;

    if (q >= end)
        return -1;
    if (*q <= BER_LEN_SHORT_MAX) {
        *len = *q;
        *p = q + 1;
        return 0;
    }
    n = *q++ & BER_LEN_BYTES_MASK;
    if (n == 0 || n > BER_LEN_MAX_BYTES || (size_t)(end - q) < n)
        return -1;
    *len = 0;
    while (n--)
        *len = *len << BYTE_BITS | *q++;
    *p = q;
    return 0;
}

int vt_tlv_next(const uint8_t **p, const uint8_t *end, struct vt_tlv *t)
{
    const uint8_t *q = *p;

    if (read_tag(&q, end, &t->tag) < 0 || read_length(&q, end, &t->len) < 0 ||
        (size_t)(end - q) < t->len)
        return -1;
    t->value = q;
    *p = q + t->len;
    return 0;
}

int vt_tlv_whole(const uint8_t *data, size_t len, uint32_t tag, struct vt_tlv *t)
{
    const uint8_t *p = data;

    if (!data || vt_tlv_next(&p, data + len, t) < 0 || p != data + len || t->tag != tag)
        return -1;
    return 0;
}
