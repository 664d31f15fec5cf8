/* SPDX-License-Identifier: MIT */
/*
 * api/base/b64.c — base64 on OpenSSL's block coder, which neither checks padding
 * nor accounts for it in the length it returns: both are done here.
 */
#include "api/base/b64.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define B64_QUANTUM   4
#define B64_BYTES     3
#define B64_PAD       '='
#define B64_ALPHABET  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

char *b64_encode(const uint8_t *data, size_t len)
{
    size_t out_len = (len + B64_BYTES - 1) / B64_BYTES * B64_QUANTUM;
    char *out;

    if (len > INT32_MAX / 2 || !(out = malloc(out_len + 1)))
        return NULL;
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    out[out_len] = '\0';
    return out;
}

/* Padding only at the end, at most two, and the rest from the alphabet. */
static bool well_formed(const char *text, size_t n, size_t *pad)
{
    *pad = 0;
    if (n == 0 || n % B64_QUANTUM != 0)
        return false;
    while (*pad < 2 && text[n - 1 - *pad] == B64_PAD)
        (*pad)++;
    return strspn(text, B64_ALPHABET) == n - *pad;
}

bool b64_decode(const char *text, size_t max, uint8_t **out, size_t *out_len)
{
    size_t n = strlen(text), pad, len;
    uint8_t *buf;
    int got;

    *out = NULL;
    *out_len = 0;
    if (n > INT32_MAX / 2 || !well_formed(text, n, &pad))
        return false;
    len = n / B64_QUANTUM * B64_BYTES - pad;
    if (len > max || !(buf = malloc(n / B64_QUANTUM * B64_BYTES)))
        return false;
    got = EVP_DecodeBlock(buf, (const unsigned char *)text, (int)n);
    if (got < 0 || (size_t)got != len + pad) {
        free(buf);
        return false;
    }
    *out = buf;
    *out_len = len;
    return true;
}
