/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/unblock.c — the remote-unblock answer (see unblock.h)
 * on OpenSSL's SHA-1 and SM4. Every intermediate (key, blocks) is wiped.
 */
#include "unblock.h"

#include <string.h>

#include <openssl/evp.h>

#include "secret.h"

#define SM4_BLOCK        16
#define SM4_KEY_LEN      16
#define SHA1_LEN         20
#define LENGTH_PREFIX    2           /* LE16 of the PIN's length */
#define PAD_MARK         0x80        /* ISO/IEC 9797-1 padding method 2 */
#define MAC_LEN          4
#define BYTE_BITS        8
#define BLOCK_BUF        (2 * SM4_BLOCK)

static bool derive_key(const char *admin_pin, uint8_t key[SM4_KEY_LEN])
{
    uint8_t padded[SM4_KEY_LEN] = { 0 };
    uint8_t digest[SHA1_LEN];
    unsigned int len = 0;
    size_t n = strlen(admin_pin);
    bool ok = n <= sizeof padded;

    if (ok) {
        memcpy(padded, admin_pin, n);
        ok = EVP_Digest(padded, sizeof padded, digest, &len, EVP_sha1(), NULL) == 1 &&
             len == SHA1_LEN;
    }
    if (ok)
        memcpy(key, digest, SM4_KEY_LEN);
    secret_wipe(padded, sizeof padded);
    secret_wipe(digest, sizeof digest);
    return ok;
}

/* SM4 over whole blocks, no padding of OpenSSL's: ECB with no IV, or CBC with one. */
static bool sm4(const EVP_CIPHER *mode, const uint8_t key[SM4_KEY_LEN], const uint8_t *iv,
                const uint8_t *in, size_t len, uint8_t *out)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0;
    bool ok = ctx && EVP_EncryptInit_ex(ctx, mode, NULL, key, iv) == 1 &&
              EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
              EVP_EncryptUpdate(ctx, out, &n, in, (int)len) == 1 && (size_t)n == len;

    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

/* `len` bytes of `data`, 80, then zeros to whole blocks; the padded length. */
static size_t pad_method2(const uint8_t *data, size_t len, size_t offset,
                          uint8_t out[BLOCK_BUF])
{
    size_t total = ((offset + len) / SM4_BLOCK + 1) * SM4_BLOCK;

    memset(out, 0, BLOCK_BUF);
    memcpy(out + offset, data, len);
    out[offset + len] = PAD_MARK;
    return total;
}

bool unblock_answer(const char *admin_pin, const uint8_t *challenge, size_t challenge_len,
                    const char *pin, uint8_t out[UNBLOCK_ANSWER_MAX], size_t *out_len)
{
    uint8_t key[SM4_KEY_LEN], iv[SM4_BLOCK] = { 0 };
    uint8_t block[BLOCK_BUF], chain[BLOCK_BUF];
    size_t n = strlen(pin), blen, mlen;
    bool ok = false;

    if (n < UNBLOCK_PIN_MIN || n > UNBLOCK_PIN_MAX || challenge_len == 0 ||
        challenge_len > UNBLOCK_CHALLENGE_MAX || !derive_key(admin_pin, key))
        return false;
    memcpy(iv, challenge, challenge_len);
    blen = pad_method2((const uint8_t *)pin, n, LENGTH_PREFIX, block);
    block[0] = (uint8_t)(n & 0xFF);
    block[1] = (uint8_t)(n >> BYTE_BITS);
    if (!sm4(EVP_sm4_ecb(), key, NULL, block, blen, out))
        goto out;
    /* the CBC-MAC is the last block of the CBC encryption */
    mlen = pad_method2((const uint8_t *)pin, n, 0, block);
    if (!sm4(EVP_sm4_cbc(), key, iv, block, mlen, chain))
        goto out;
    memcpy(out + blen, chain + mlen - SM4_BLOCK, MAC_LEN);
    *out_len = blen + MAC_LEN;
    ok = true;
out:
    secret_wipe(key, sizeof key);
    secret_wipe(block, sizeof block);
    secret_wipe(chain, sizeof chain);
    return ok;
}
