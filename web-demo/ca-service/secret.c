/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/secret.c — randomness and secret hygiene (see secret.h).
 */
#include "secret.h"

#include <jansson.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca.h"

#define DECIMAL_BASE      10
/* The largest multiple of 10 that fits a byte: bytes at or above it are
 * thrown away, so that every digit is equally likely. */
#define DIGIT_BYTE_LIMIT  250
#define DIGIT_BATCH       32
#define HEX_PER_BYTE      2
#define BUF_GROWTH        2

bool secret_random_id(const char *prefix, char *out, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char bytes[CA_ID_RANDOM_BYTES];
    size_t plen = strlen(prefix), i;

    if (plen + sizeof bytes * HEX_PER_BYTE + 1 > size || RAND_bytes(bytes, sizeof bytes) != 1)
        return false;
    memcpy(out, prefix, plen);
    for (i = 0; i < sizeof bytes; i++) {
        out[plen + HEX_PER_BYTE * i] = hex[bytes[i] >> 4];
        out[plen + HEX_PER_BYTE * i + 1] = hex[bytes[i] & 0x0F];
    }
    out[plen + sizeof bytes * HEX_PER_BYTE] = '\0';
    OPENSSL_cleanse(bytes, sizeof bytes);
    return true;
}

bool secret_random_digits(char *out, size_t n)
{
    unsigned char batch[DIGIT_BATCH];
    size_t got = 0;

    while (got < n) {
        if (RAND_bytes(batch, sizeof batch) != 1) {
            OPENSSL_cleanse(batch, sizeof batch);
            return false;
        }
        for (size_t i = 0; i < sizeof batch && got < n; i++)
            if (batch[i] < DIGIT_BYTE_LIMIT)
                out[got++] = (char)('0' + batch[i] % DECIMAL_BASE);
    }
    out[n] = '\0';
    OPENSSL_cleanse(batch, sizeof batch);
    return true;
}

bool secret_equal(const char *a, const char *b)
{
    size_t n = strlen(a);

    return n == strlen(b) && CRYPTO_memcmp(a, b, n) == 0;
}

void secret_wipe(void *p, size_t n)
{
    if (p)
        OPENSSL_cleanse(p, n);
}

void secret_free(void *p)
{
    if (!p)
        return;
    OPENSSL_cleanse(p, malloc_usable_size(p));
    free(p);
}

bool secret_buf_append(char **buf, size_t *len, size_t *cap, const void *data, size_t n)
{
    size_t want = *len + n + 1, grown_cap;
    char *grown;

    if (want > *cap) {
        grown_cap = *cap * BUF_GROWTH > want ? *cap * BUF_GROWTH : want;
        if (!(grown = malloc(grown_cap)))
            return false;
        if (*len)
            memcpy(grown, *buf, *len);
        secret_free(*buf);
        *buf = grown;
        *cap = grown_cap;
    }
    if (n)
        memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
    return true;
}

void secret_json_allocator(void)
{
    json_set_alloc_funcs(malloc, secret_free);
}
