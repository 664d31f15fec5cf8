/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/codec.c — base64 and hex (see codec.h), on OpenSSL's
 * block coder, with the checks it leaves out (padding, length).
 */
#include "codec.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "secret.h"

#define B64_GROUP_CHARS   4
#define B64_GROUP_BYTES   3
#define B64_PAD           '='
#define HEX_PER_BYTE      2
#define NIBBLE_BITS       4
#define HEX_LETTER_VALUE  10          /* what 'a' stands for */

char *codec_base64(const void *data, size_t len)
{
    size_t chars = (len + B64_GROUP_BYTES - 1) / B64_GROUP_BYTES * B64_GROUP_CHARS;
    char *out;

    if (len > (size_t)INT32_MAX || !(out = malloc(chars + 1)))
        return NULL;
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    out[chars] = '\0';
    return out;
}

static bool base64_shape_ok(const char *text, size_t n)
{
    size_t pad = 0;

    if (n == 0 || n % B64_GROUP_CHARS != 0)
        return false;
    while (pad < 2 && text[n - 1 - pad] == B64_PAD)
        pad++;
    for (size_t i = 0; i < n - pad; i++)
        if (!isalnum((unsigned char)text[i]) && text[i] != '+' && text[i] != '/')
            return false;
    return true;
}

bool codec_unbase64(const char *text, size_t max, unsigned char **out, size_t *len)
{
    size_t n = text ? strlen(text) : 0, pad = 0, bytes;
    unsigned char *buf;
    int got;

    *out = NULL;
    *len = 0;
    if (!base64_shape_ok(text, n) || n > (size_t)INT32_MAX)
        return false;
    while (pad < 2 && text[n - 1 - pad] == B64_PAD)
        pad++;
    bytes = n / B64_GROUP_CHARS * B64_GROUP_BYTES - pad;
    if (bytes > max || !(buf = malloc(n / B64_GROUP_CHARS * B64_GROUP_BYTES + 1)))
        return false;
    got = EVP_DecodeBlock(buf, (const unsigned char *)text, (int)n);
    if (got < 0 || (size_t)got != bytes + pad) {
        secret_free(buf);
        return false;
    }
    *out = buf;
    *len = bytes;
    return true;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + HEX_LETTER_VALUE : -1;
}

bool codec_unhex(const char *text, unsigned char *out, size_t size)
{
    if (!text || strlen(text) != size * HEX_PER_BYTE)
        return false;
    for (size_t i = 0; i < size; i++) {
        int hi = hex_value(text[HEX_PER_BYTE * i]), lo = hex_value(text[HEX_PER_BYTE * i + 1]);

        if (hi < 0 || lo < 0) {
            secret_wipe(out, size);
            return false;
        }
        out[i] = (unsigned char)(hi << NIBBLE_BITS | lo);
    }
    return true;
}
