/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "token/pcsc/tlv.h"

#define TLV_TAG_MULTIBYTE_MASK  0x1Fu   /* low five bits all set: more tag bytes follow */
#define TLV_TAG_MORE_BIT        0x80u   /* in subsequent tag bytes: another byte follows */
#define TLV_TAG_MAX_BYTES       3
#define TLV_LEN_LONG_FORM       0x80u   /* bit 8 set: low bits count the length bytes */
#define TLV_LEN_MAX_BYTES       3
#define TLV_LEN_MAX             0xFFFFFFu

static token_err tlv_read_tag(const uint8_t **p, const uint8_t *end, uint32_t *tag)
{
    uint32_t t;
    int n = 1;

    if (*p >= end)
        return TOKEN_E_MALFORMED;
    t = *(*p)++;
    if ((t & TLV_TAG_MULTIBYTE_MASK) != TLV_TAG_MULTIBYTE_MASK) {
        *tag = t;
        return TOKEN_OK;
    }
    for (;;) {
        uint8_t b;

        if (*p >= end || n == TLV_TAG_MAX_BYTES)
            return TOKEN_E_MALFORMED;
        b = *(*p)++;
        t = (t << 8) | b;
        n++;
        if (!(b & TLV_TAG_MORE_BIT))
            break;
    }
    *tag = t;
    return TOKEN_OK;
}

static token_err tlv_read_len(const uint8_t **p, const uint8_t *end, size_t *len)
{
    uint8_t first;
    size_t n, v = 0;

    if (*p >= end)
        return TOKEN_E_MALFORMED;
    first = *(*p)++;
    if (!(first & TLV_LEN_LONG_FORM)) {
        *len = first;
        return TOKEN_OK;
    }
    n = first & ~TLV_LEN_LONG_FORM;
    /* n == 0 is the indefinite form, which cards do not use for data objects */
    if (n == 0 || n > TLV_LEN_MAX_BYTES || (size_t)(end - *p) < n)
        return TOKEN_E_MALFORMED;
    while (n--)
        v = (v << 8) | *(*p)++;
    *len = v;
    return TOKEN_OK;
}

token_err tlv_next(const uint8_t **buf, size_t *len, struct tlv *out)
{
    const uint8_t *p = *buf, *end;
    size_t vlen;
    token_err err;

    if (!buf || !*buf || !len || !out)
        return TOKEN_E_INVALID_ARG;
    end = p + *len;
    err = tlv_read_tag(&p, end, &out->tag);
    if (err)
        return err;
    err = tlv_read_len(&p, end, &vlen);
    if (err)
        return err;
    if ((size_t)(end - p) < vlen)
        return TOKEN_E_MALFORMED;
    out->value = p;
    out->len = vlen;
    *len -= (size_t)(p + vlen - *buf);
    *buf = p + vlen;
    return TOKEN_OK;
}

token_err tlv_find(const uint8_t *buf, size_t len, uint32_t tag, struct tlv *out)
{
    while (len > 0) {
        struct tlv t;
        token_err err = tlv_next(&buf, &len, &t);

        if (err)
            return err;
        if (t.tag == tag) {
            *out = t;
            return TOKEN_OK;
        }
    }
    return TOKEN_E_NO_OBJECT;
}

static size_t tlv_tag_size(uint32_t tag)
{
    if (tag > 0xFFFF)
        return 3;
    if (tag > 0xFF)
        return 2;
    return 1;
}

static size_t tlv_len_size(size_t len)
{
    if (len < TLV_LEN_LONG_FORM)
        return 1;
    if (len <= 0xFF)
        return 2;
    if (len <= 0xFFFF)
        return 3;
    return 4;
}

size_t tlv_header_size(uint32_t tag, size_t len)
{
    return tlv_tag_size(tag) + tlv_len_size(len);
}

size_t tlv_put(uint8_t *out, size_t cap, uint32_t tag, const uint8_t *value, size_t len)
{
    size_t ts = tlv_tag_size(tag), ls = tlv_len_size(len), i, pos = 0;

    if (len > TLV_LEN_MAX || ts + ls > cap || len > cap - ts - ls)
        return 0;
    for (i = ts; i-- > 0;)
        out[pos++] = (uint8_t)(tag >> (8 * i));
    if (ls > 1)
        out[pos++] = (uint8_t)(TLV_LEN_LONG_FORM | (ls - 1));
    for (i = ls > 1 ? ls - 1 : 1; i-- > 0;)
        out[pos++] = (uint8_t)(len >> (8 * i));
    if (len)
        memcpy(out + pos, value, len);
    return pos + len;
}
