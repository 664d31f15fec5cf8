/* SPDX-License-Identifier: MIT */
/*
 * tests/vskf/unblock.c — the remote unblock of the Longmai GM3000 SDK's
 * vendor extension (SKF_GenRemoteUnblockRequest / SKF_RemoteUnblockPIN), as
 * its public header and sample describe it: the token gives a random
 * challenge; the CA, which keeps the admin PIN, answers with the new user
 * PIN encrypted and MACed under a key derived from the admin PIN:
 *
 *   K      = first 16 bytes of SHA-1(admin PIN, zero-padded to 16 bytes)
 *   block  = LE16(len(new PIN)) || new PIN || 80 || 00.. to the next whole
 *            16 bytes (always at least the 80)
 *   answer = SM4-ECB_K(block) || first 4 bytes of SM4-CBC-MAC_K(new PIN
 *            padded 80 00.., IV = challenge || 00.. to 16 bytes)
 *
 * Both sides live here: the CA's (vskf_unblock_answer, used by the CLI) and
 * the token's (vskf_unblock_open). docs/virtual-skf.md says which parts the
 * vendor published and which are this project's reading.
 */
#include "tests/vskf/vskf.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define SHA1_LEN          20
#define LENGTH_PREFIX     2
#define PAD_FIRST         0x80
#define BYTE_BITS         8

static int derive_key(const char *admin_pin, uint8_t key[VSKF_SM4_KEY_LEN])
{
    uint8_t padded[VSKF_PIN_MAX] = { 0 };
    uint8_t digest[SHA1_LEN];
    unsigned int len = 0;
    size_t n = strlen(admin_pin);
    int rc = -1;

    if (n > sizeof padded)
        return -1;
    memcpy(padded, admin_pin, n);
    if (EVP_Digest(padded, sizeof padded, digest, &len, EVP_sha1(), NULL) == 1 &&
        len == SHA1_LEN) {
        memcpy(key, digest, VSKF_SM4_KEY_LEN);
        rc = 0;
    }
    OPENSSL_cleanse(padded, sizeof padded);
    OPENSSL_cleanse(digest, sizeof digest);
    return rc;
}

static size_t block_len(size_t pin_len)
{
    return ((pin_len + LENGTH_PREFIX) / VSKF_SM4_BLOCK + 1) * VSKF_SM4_BLOCK;
}

static int mac4(const uint8_t key[VSKF_SM4_KEY_LEN], const uint8_t *challenge,
                size_t challenge_len, const char *pin, uint8_t out[VSKF_UNBLOCK_MAC_LEN])
{
    uint8_t iv[VSKF_SM4_BLOCK] = { 0 };
    uint8_t mac[VSKF_SM4_BLOCK];

    if (challenge_len > sizeof iv)
        return -1;
    memcpy(iv, challenge, challenge_len);
    if (vskf_sm4_cbc_mac(key, iv, (const uint8_t *)pin, strlen(pin), mac) < 0)
        return -1;
    memcpy(out, mac, VSKF_UNBLOCK_MAC_LEN);
    return 0;
}

int vskf_unblock_answer(const char *admin_pin, const char *new_pin, const uint8_t *challenge,
                        size_t challenge_len, uint8_t *out, size_t *out_len)
{
    uint8_t key[VSKF_SM4_KEY_LEN];
    uint8_t block[VSKF_UNBLOCK_MAX] = { 0 };
    size_t n = strlen(new_pin), blen = block_len(n);
    int rc = -1;

    if (n < VSKF_PIN_MIN || n > VSKF_PIN_MAX || *out_len < blen + VSKF_UNBLOCK_MAC_LEN ||
        derive_key(admin_pin, key) < 0)
        goto out;
    block[0] = (uint8_t)(n & 0xFF);
    block[1] = (uint8_t)(n >> BYTE_BITS);
    memcpy(block + LENGTH_PREFIX, new_pin, n);
    block[LENGTH_PREFIX + n] = PAD_FIRST;
    if (vskf_sm4_ecb(key, block, blen, out, true) < 0 ||
        mac4(key, challenge, challenge_len, new_pin, out + blen) < 0)
        goto out;
    *out_len = blen + VSKF_UNBLOCK_MAC_LEN;
    rc = 0;
out:
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(block, sizeof block);
    return rc;
}

/* The decrypted block must be exactly what the CA side builds. */
static bool block_well_formed(const uint8_t *block, size_t blen, size_t *pin_len)
{
    size_t n = (size_t)block[0] | (size_t)block[1] << BYTE_BITS;

    if (n < 1 || n > VSKF_PIN_MAX || block_len(n) != blen || block[LENGTH_PREFIX + n] != PAD_FIRST)
        return false;
    for (size_t i = LENGTH_PREFIX + n + 1; i < blen; i++)
        if (block[i])
            return false;
    for (size_t i = 0; i < n; i++)
        if (block[LENGTH_PREFIX + i] == '\0')
            return false;
    *pin_len = n;
    return true;
}

enum vskf_unblock_result vskf_unblock_open(const char *admin_pin, const uint8_t *challenge,
                                           size_t challenge_len, const uint8_t *answer,
                                           size_t answer_len,
                                           char new_pin[VSKF_PIN_MAX + 1])
{
    uint8_t key[VSKF_SM4_KEY_LEN];
    uint8_t block[VSKF_UNBLOCK_MAX];
    uint8_t mac[VSKF_UNBLOCK_MAC_LEN];
    size_t blen, pin_len;
    enum vskf_unblock_result result = VSKF_UNBLOCK_ERROR;

    if (answer_len < VSKF_SM4_BLOCK + VSKF_UNBLOCK_MAC_LEN || answer_len > VSKF_UNBLOCK_MAX ||
        (answer_len - VSKF_UNBLOCK_MAC_LEN) % VSKF_SM4_BLOCK)
        return VSKF_UNBLOCK_MALFORMED;
    blen = answer_len - VSKF_UNBLOCK_MAC_LEN;
    if (derive_key(admin_pin, key) < 0 || vskf_sm4_ecb(key, answer, blen, block, false) < 0)
        goto out;
    result = VSKF_UNBLOCK_WRONG;
    if (!block_well_formed(block, blen, &pin_len))
        goto out;
    memcpy(new_pin, block + LENGTH_PREFIX, pin_len);
    new_pin[pin_len] = '\0';
    if (mac4(key, challenge, challenge_len, new_pin, mac) < 0) {
        result = VSKF_UNBLOCK_ERROR;
        goto out;
    }
    if (CRYPTO_memcmp(mac, answer + blen, sizeof mac) != 0)
        goto out;
    result = VSKF_UNBLOCK_OK;
out:
    if (result != VSKF_UNBLOCK_OK)
        OPENSSL_cleanse(new_pin, VSKF_PIN_MAX + 1);
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(block, sizeof block);
    return result;
}
