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
