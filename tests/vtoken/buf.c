/* SPDX-License-Identifier: MIT */
/*
 * tests/vtoken/buf.c — growable byte buffers that wipe what they held, and
 * hex conversion for the state file.
 */
#include "tests/vtoken/buf.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define VT_BUF_MIN_CAP 64

static int vt_buf_reserve(struct vt_buf *b, size_t extra)
{
    size_t need, cap;
    uint8_t *p;

    if (extra > SIZE_MAX - b->len)
        return -1;
    need = b->len + extra;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : VT_BUF_MIN_CAP;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    /* Not realloc: the old block may hold a secret and must be wiped first. */
    p = malloc(cap);
    if (!p)
        return -1;
    if (b->data) {
        memcpy(p, b->data, b->len);
        OPENSSL_cleanse(b->data, b->cap);
        free(b->data);
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int vt_buf_append(struct vt_buf *b, const void *data, size_t len)
{
    if (len == 0)
        return 0;
    if (vt_buf_reserve(b, len) < 0)
        return -1;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

int vt_buf_append_byte(struct vt_buf *b, uint8_t byte)
{
    return vt_buf_append(b, &byte, 1);
}

int vt_buf_resize(struct vt_buf *b, size_t len)
{
    if (len > b->len) {
        if (vt_buf_reserve(b, len - b->len) < 0)
            return -1;
        memset(b->data + b->len, 0, len - b->len);
    }
    b->len = len;
    return 0;
}

void vt_buf_clear(struct vt_buf *b)
{
    if (b->data)
        OPENSSL_cleanse(b->data, b->cap);
    b->len = 0;
}

void vt_buf_free(struct vt_buf *b)
{
    vt_buf_clear(b);
    free(b->data);
    b->data = NULL;
    b->cap = 0;
}

void vt_buf_cleanup(struct vt_buf *b)
{
    vt_buf_free(b);
}

int vt_buf_set(struct vt_buf *b, const void *data, size_t len)
{
    vt_buf_clear(b);
    return vt_buf_append(b, data, len);
}

void vt_hex_encode(const uint8_t *data, size_t len, char *out)
{
    static const char digits[] = "0123456789ABCDEF";

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 0x0F];
    }
    out[2 * len] = '\0';
}

static int hex_digit_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int hex_pair_value(const char *pair)
{
    int hi = hex_digit_value(pair[0]);
    int lo = hex_digit_value(pair[1]);

    if (hi < 0 || lo < 0)
        return -1;
    return hi << 4 | lo;
}

int vt_hex_decode(const char *hex, size_t hex_len, struct vt_buf *b)
{
    if (hex_len % 2 != 0)
        return -1;
    vt_buf_clear(b);
    if (vt_buf_reserve(b, hex_len / 2) < 0)
        return -1;
    for (size_t i = 0; i < hex_len; i += 2) {
        int v = hex_pair_value(hex + i);

        if (v < 0) {
            vt_buf_clear(b);
            return -1;
        }
        b->data[b->len++] = (uint8_t)v;
    }
    return 0;
}

int vt_hex_decode_fixed(const char *hex, uint8_t *out, size_t len)
{
    if (strlen(hex) != 2 * len)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int v = hex_pair_value(hex + 2 * i);

        if (v < 0)
            return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}
