/* SPDX-License-Identifier: MIT */
/*
 * tests/vtoken/mgmt.c — management key algorithms and their one-block ECB
 * operations through OpenSSL's EVP interface.
 */
#include "tests/vtoken/mgmt.h"

#include <stdbool.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "tests/vtoken/buf.h"

#define DES_BLOCK_LEN  8
#define AES_BLOCK_LEN  16

static const struct vt_mgmt_alg algs[] = {
    { PIV_MGMT_ALG_3DES,   "3DES",    24, DES_BLOCK_LEN },
    { PIV_MGMT_ALG_AES128, "AES-128", 16, AES_BLOCK_LEN },
    { PIV_MGMT_ALG_AES192, "AES-192", 24, AES_BLOCK_LEN },
    { PIV_MGMT_ALG_AES256, "AES-256", 32, AES_BLOCK_LEN },
};
#define ALG_COUNT (sizeof algs / sizeof algs[0])

const uint8_t vt_mgmt_default_key[VT_MGMT_DEFAULT_KEY_LEN] = {
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
};

const struct vt_mgmt_alg *vt_mgmt_alg_by_id(uint8_t id)
{
    for (size_t i = 0; i < ALG_COUNT; i++)
        if (algs[i].id == id)
            return &algs[i];
    return NULL;
}

const struct vt_mgmt_alg *vt_mgmt_alg_by_name(const char *name)
{
    for (size_t i = 0; i < ALG_COUNT; i++)
        if (strcmp(algs[i].name, name) == 0)
            return &algs[i];
    return NULL;
}

int vt_mgmt_parse(const char *text, uint8_t *id, uint8_t key[VT_MGMT_KEY_MAX], size_t *len)
{
    const char *colon = strchr(text, ':');
    char name[sizeof "AES-128"];
    const struct vt_mgmt_alg *alg;
    size_t n = colon ? (size_t)(colon - text) : 0;

    if (!colon || n == 0 || n >= sizeof name)
        return -1;
    memcpy(name, text, n);
    name[n] = '\0';
    alg = vt_mgmt_alg_by_name(name);
    if (!alg || vt_hex_decode_fixed(colon + 1, key, alg->key_len) < 0)
        return -1;
    *id = alg->id;
    *len = alg->key_len;
    return 0;
}

static const EVP_CIPHER *cipher_for(uint8_t alg_id)
{
    switch (alg_id) {
    case PIV_MGMT_ALG_3DES:   return EVP_des_ede3_ecb();
    case PIV_MGMT_ALG_AES128: return EVP_aes_128_ecb();
    case PIV_MGMT_ALG_AES192: return EVP_aes_192_ecb();
    case PIV_MGMT_ALG_AES256: return EVP_aes_256_ecb();
    default:                  return NULL;
    }
}

static int ecb_block(uint8_t alg_id, const uint8_t *key, const uint8_t *in, uint8_t *out,
                     bool encrypt)
{
    const struct vt_mgmt_alg *alg = vt_mgmt_alg_by_id(alg_id);
    const EVP_CIPHER *cipher = cipher_for(alg_id);
    EVP_CIPHER_CTX *ctx;
    int n = 0, ok;

    if (!alg || !cipher)
        return -1;
    ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        return -1;
    ok = EVP_CipherInit_ex(ctx, cipher, NULL, key, NULL, encrypt ? 1 : 0) == 1 &&
         EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
         EVP_CipherUpdate(ctx, out, &n, in, (int)alg->block_len) == 1 &&
         (size_t)n == alg->block_len;
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : -1;
}

int vt_mgmt_encrypt_block(uint8_t alg_id, const uint8_t *key, const uint8_t *in, uint8_t *out)
{
    return ecb_block(alg_id, key, in, out, true);
}

int vt_mgmt_decrypt_block(uint8_t alg_id, const uint8_t *key, const uint8_t *in, uint8_t *out)
{
    return ecb_block(alg_id, key, in, out, false);
}
