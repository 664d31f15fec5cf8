/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/mgmt.c — management keys and the challenge answer
 * (see mgmt.h), on OpenSSL's ECB ciphers.
 */
#include "mgmt.h"

#include <openssl/evp.h>
#include <string.h>

#include "codec.h"
#include "db.h"
#include "secret.h"

#define MGMT_KEY_MAX     32             /* AES-256 */
#define DES3_KEY_LEN     24
#define DES_BLOCK_LEN    8
#define AES128_KEY_LEN   16
#define AES192_KEY_LEN   24
#define AES256_KEY_LEN   32
#define AES_BLOCK_LEN    16

struct mgmt_alg {
    const char *name;
    const EVP_CIPHER *(*cipher)(void);
    size_t key_len, block_len;
};

static const struct mgmt_alg algs[] = {
    { "3DES", EVP_des_ede3_ecb, DES3_KEY_LEN, DES_BLOCK_LEN },
    { "AES-128", EVP_aes_128_ecb, AES128_KEY_LEN, AES_BLOCK_LEN },
    { "AES-192", EVP_aes_192_ecb, AES192_KEY_LEN, AES_BLOCK_LEN },
    { "AES-256", EVP_aes_256_ecb, AES256_KEY_LEN, AES_BLOCK_LEN },
};

static const struct mgmt_alg *alg_named(const char *name)
{
    for (size_t i = 0; name && i < sizeof algs / sizeof algs[0]; i++)
        if (strcmp(algs[i].name, name) == 0)
            return &algs[i];
    return NULL;
}

bool mgmt_alg_known(const char *name)
{
    return alg_named(name) != NULL;
}

bool mgmt_seed(sqlite3 *db, const char *token_id, const char *alg, const char *key_hex)
{
    const struct mgmt_alg *a = alg_named(alg);
    unsigned char key[MGMT_KEY_MAX];
    bool ok;

    if (!a || !codec_unhex(key_hex, key, a->key_len))
        return false;
    ok = db_exec(db, "INSERT OR IGNORE INTO management_keys (token_id, algorithm, key) "
                     "VALUES (?, ?, ?)", "ssb", token_id, a->name, key, a->key_len) >= 0;
    secret_wipe(key, sizeof key);
    return ok;
}

enum ca_code mgmt_algorithm(sqlite3 *db, const char *token_id, char alg[MGMT_ALG_MAX])
{
    DB_STMT *st = db_prepare(db, "SELECT algorithm FROM management_keys WHERE token_id = ?", "s",
                             token_id);
    bool failed = false;

    if (!st)
        return CA_INTERNAL;
    if (!db_row(st, &failed))
        return failed ? CA_INTERNAL : CA_TOKEN_UNKNOWN;
    db_text(st, 0, alg, MGMT_ALG_MAX);
    return CA_OK;
}

/* The key's bytes into key[MGMT_KEY_MAX] (the caller wipes them). */
static enum ca_code load_key(sqlite3 *db, const char *token_id, const struct mgmt_alg **a,
                             unsigned char key[MGMT_KEY_MAX])
{
    DB_STMT *st = db_prepare(db, "SELECT algorithm, key FROM management_keys WHERE token_id = ?",
                             "s", token_id);
    bool failed = false;

    if (!st)
        return CA_INTERNAL;
    if (!db_row(st, &failed))
        return failed ? CA_INTERNAL : CA_TOKEN_UNKNOWN;
    *a = alg_named((const char *)sqlite3_column_text(st, 0));
    if (!*a || (size_t)sqlite3_column_bytes(st, 1) != (*a)->key_len)
        return CA_INTERNAL;
    memcpy(key, sqlite3_column_blob(st, 1), (*a)->key_len);
    return CA_OK;
}

static bool encrypt_block(const struct mgmt_alg *a, const unsigned char *key,
                          const unsigned char *in, unsigned char *out)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0;
    bool ok = ctx && EVP_EncryptInit_ex(ctx, a->cipher(), NULL, key, NULL) == 1 &&
              EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
              EVP_EncryptUpdate(ctx, out, &n, in, (int)a->block_len) == 1 &&
              (size_t)n == a->block_len;

    EVP_CIPHER_CTX_free(ctx);       /* clears the key schedule */
    return ok;
}

struct ca_problem mgmt_answer(sqlite3 *db, const char *token_id, const char *alg,
                              const unsigned char *challenge, size_t len,
                              unsigned char response[MGMT_BLOCK_MAX], size_t *response_len)
{
    unsigned char key[MGMT_KEY_MAX];
    const struct mgmt_alg *a = NULL;
    enum ca_code code = load_key(db, token_id, &a, key);
    struct ca_problem p = ca_ok();

    if (code != CA_OK)
        p = ca_fail(code == CA_TOKEN_UNKNOWN ? CA_INTERNAL : code);
    else if (!alg || strcmp(alg, a->name) != 0)
        p = ca_bad_field("algorithm");
    else if (len != a->block_len)
        p = ca_bad_field("challenge");
    else if (!encrypt_block(a, key, challenge, response))
        p = ca_fail(CA_INTERNAL);
    else
        *response_len = a->block_len;
    secret_wipe(key, sizeof key);
    return p;
}
