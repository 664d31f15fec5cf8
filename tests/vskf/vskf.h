/* SPDX-License-Identifier: MIT */
/*
 * tests/vskf/vskf.h — the inside of the virtual SKF token: what a device
 * remembers (its state file), what it forgets when pulled (its "RAM" file,
 * present only while plugged), where these live under $VSKF_DIR, the
 * run-time quirk profile, the handle table and the SM2/SM3/SM4 helpers.
 * docs/virtual-skf.md describes the files and the behaviour.
 */
#ifndef UKEYD_VSKF_VSKF_H
#define UKEYD_VSKF_VSKF_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "tests/vskf/skf.h"

#define VSKF_DIR_ENV        "VSKF_DIR"
#define VSKF_QUIRKS_ENV     "VSKF_QUIRKS"
#define VSKF_QUIRKS_FILE    "quirks"
#define VSKF_STATE_SUFFIX   ".skf"
#define VSKF_RAM_SUFFIX     ".present"
#define VSKF_LOCK_SUFFIX    ".lock"
#define VSKF_EXCL_SUFFIX    ".excl"

#define VSKF_DEV_NAME_MAX    63
#define VSKF_APP_NAME_MAX    32
#define VSKF_CON_NAME_MAX    MAX_CONTAINER_NAME_SIZE
#define VSKF_FILE_NAME_MAX   MAX_FILE_NAME_SIZE
/* DEVINFO's fixed fields, less the terminating NUL. */
#define VSKF_LABEL_MAX        31
#define VSKF_SERIAL_MAX       31
#define VSKF_MANUFACTURER_MAX 63
#define VSKF_ISSUER_MAX       63

#define VSKF_PIN_MIN         6
#define VSKF_PIN_MAX         16
#define VSKF_TRIES_MAX       15
#define VSKF_APPS_MAX        4
#define VSKF_CONTAINERS_MAX  8
#define VSKF_FILES_MAX       16
#define VSKF_CERT_MAX        8192
#define VSKF_FILE_SIZE_MAX   32768
#define VSKF_TOTAL_SPACE     (128u * 1024u)
#define VSKF_SM4_KEY_LEN     16
#define VSKF_SM4_BLOCK       16
#define VSKF_CHALLENGE_MAX   VSKF_SM4_BLOCK
#define VSKF_SESSION_LEN     8
#define VSKF_SM2_BITS        256
#define VSKF_SM2_COORD_LEN   32
#define VSKF_SM3_LEN         32
#define VSKF_RANDOM_MAX      1024

/* Factory defaults: what a device provisioned without options holds. */
#define VSKF_DEFAULT_USER_PIN   "123456"
#define VSKF_DEFAULT_ADMIN_PIN  "12345678"
#define VSKF_DEFAULT_TRIES      6
#define VSKF_DEFAULT_ADMIN_TRIES 10
/* The device authentication key many vendors ship: "1234567812345678". */
#define VSKF_DEFAULT_DEV_AUTH_KEY "1234567812345678"

struct vskf_bytes {
    uint8_t *data;
    size_t len;
};

struct vskf_pin {
    char value[VSKF_PIN_MAX + 1];
    uint32_t max_tries;
    uint32_t tries_left;
    bool is_default;       /* never changed since it was set at issue */
};

struct vskf_file {
    char name[VSKF_FILE_NAME_MAX + 1];
    uint32_t read_rights;
    uint32_t write_rights;
    struct vskf_bytes data;   /* its size is the file's size */
};

struct vskf_container {
    char name[VSKF_CON_NAME_MAX + 1];
    struct vskf_bytes sign_key;    /* PKCS#8 DER */
    struct vskf_bytes sign_cert;   /* X.509 DER */
    struct vskf_bytes enc_key;
    struct vskf_bytes enc_cert;
};

struct vskf_app {
    char name[VSKF_APP_NAME_MAX + 1];
    struct vskf_pin admin;
    struct vskf_pin user;
    uint32_t create_rights;
    size_t n_files;
    struct vskf_file files[VSKF_FILES_MAX];
    size_t n_containers;
    struct vskf_container containers[VSKF_CONTAINERS_MAX];
};

/* The non-volatile memory of one device. */
struct vskf_state {
    char label[VSKF_LABEL_MAX + 1];
    char serial[VSKF_SERIAL_MAX + 1];
    char manufacturer[VSKF_MANUFACTURER_MAX + 1];
    char issuer[VSKF_ISSUER_MAX + 1];
    char usb_id[16];              /* informational, "vvvv:pppp" */
    uint8_t hw_version[2];
    uint8_t fw_version[2];
    uint32_t total_space;
    uint8_t dev_auth_key[VSKF_SM4_KEY_LEN];
    size_t n_apps;
    struct vskf_app apps[VSKF_APPS_MAX];
};

enum vskf_role {
    VSKF_ROLE_NONE = 0,
    VSKF_ROLE_USER,
    VSKF_ROLE_ADMIN,
};

/* The volatile memory of a plugged device: gone with the power. Shared by
 * every process, as a real device's security state is. */
struct vskf_ram {
    uint8_t session[VSKF_SESSION_LEN];   /* new at every plug */
    bool dev_authed;
    size_t challenge_len;                /* 0: no challenge pending */
    uint8_t challenge[VSKF_CHALLENGE_MAX];
    struct {
        char app[VSKF_APP_NAME_MAX + 1];
        enum vskf_role role;
    } logins[VSKF_APPS_MAX];
};

/* --- bytes ---------------------------------------------------------------- */
int vskf_bytes_set(struct vskf_bytes *b, const void *data, size_t len);
void vskf_bytes_free(struct vskf_bytes *b);
void vskf_hex_encode(const uint8_t *data, size_t len, char *out);
int vskf_hex_decode(const char *hex, struct vskf_bytes *out);
/* Copies a NUL-terminated string; -1 when it does not fit. */
int vskf_strlcpy(char *dst, const char *src, size_t size);

/* --- files of a device (state.c) ------------------------------------------ */
struct vskf_paths {
    char state[PATH_MAX];
    char ram[PATH_MAX];
    char lock[PATH_MAX];
    char excl[PATH_MAX];
};

bool vskf_dev_name_valid(const char *name);
int vskf_paths_for(const char *dir, const char *name, struct vskf_paths *p);
/* Exclusive flock on the device's lock file (created if missing): every
 * change is made under it, across processes. Returns the fd or -1. */
int vskf_lock(const char *lock_path);
void vskf_unlock(int fd);

void vskf_state_init(struct vskf_state *st);
void vskf_state_free(struct vskf_state *st);
/* 0, or -1 with the reason (naming file and line) in err. */
int vskf_state_load(const char *path, struct vskf_state *st, char *err, size_t err_len);
int vskf_state_save(const char *path, const struct vskf_state *st, char *err, size_t err_len);
/* 0 loaded, 1 absent (device unplugged), -1 damaged. */
int vskf_ram_load(const char *path, struct vskf_ram *ram);
int vskf_ram_save(const char *path, const struct vskf_ram *ram);
/* Writes data to path atomically: temp file, fsync, rename, fsync of dir. */
int vskf_write_atomic(const char *path, const void *data, size_t len, bool durable);

struct vskf_app *vskf_find_app(struct vskf_state *st, const char *name);
struct vskf_container *vskf_find_container(struct vskf_app *app, const char *name);
struct vskf_file *vskf_find_file(struct vskf_app *app, const char *name);
void vskf_app_free(struct vskf_app *app);
void vskf_container_free(struct vskf_container *con);
size_t vskf_used_space(const struct vskf_state *st);

enum vskf_role vskf_ram_role(const struct vskf_ram *ram, const char *app);
void vskf_ram_set_role(struct vskf_ram *ram, const char *app, enum vskf_role role);

/* --- quirks (quirks.c) ------------------------------------------------------ */
enum {
    VSKF_Q_SIZE_QUERY_TOO_SMALL = 1u << 0,
    VSKF_Q_SM2_ALT_ID           = 1u << 1,
    VSKF_Q_PIN_TYPES_SWAPPED    = 1u << 2,
    VSKF_Q_NO_WAIT_EVENT        = 1u << 3,
    VSKF_Q_WAIT_AT_ONCE         = 1u << 4,
    VSKF_Q_GLOBAL_DEVICE        = 1u << 5,
    VSKF_Q_NATURAL_DEVINFO      = 1u << 6,
    VSKF_Q_CHALLENGE_LOST_ON_CLOSE = 1u << 7,
};
/* Parses a comma-, space- or newline-separated list; -1 names the first
 * unknown word in bad. */
int vskf_quirks_parse(const char *text, unsigned *out, char *bad, size_t bad_len);
/* The profile in force now: $VSKF_QUIRKS plus $VSKF_DIR/quirks, read at
 * every call so a test can switch it between calls. */
unsigned vskf_quirks(void);
bool vskf_quirk(unsigned q);

/* --- crypto (crypto.c) ------------------------------------------------------ */
int vskf_random(uint8_t *out, size_t len);
int vskf_sm4_ecb(const uint8_t key[VSKF_SM4_KEY_LEN], const uint8_t *in, size_t len,
                 uint8_t *out, bool encrypt);
/* CBC-MAC with SM4 over data padded with 80 00.. to whole blocks (always at
 * least one pad byte), starting from iv; the full last block. */
int vskf_sm4_cbc_mac(const uint8_t key[VSKF_SM4_KEY_LEN], const uint8_t iv[VSKF_SM4_BLOCK],
                     const uint8_t *data, size_t len, uint8_t mac[VSKF_SM4_BLOCK]);
EVP_PKEY *vskf_key_load(const struct vskf_bytes *pkcs8);
int vskf_key_store(EVP_PKEY *key, struct vskf_bytes *pkcs8);
EVP_PKEY *vskf_sm2_generate(void);
bool vskf_key_is_sm2(const EVP_PKEY *key);
int vskf_key_to_blob(const EVP_PKEY *key, ECCPUBLICKEYBLOB *blob);
EVP_PKEY *vskf_key_from_blob(const ECCPUBLICKEYBLOB *blob);
EVP_PKEY *vskf_sm2_from_private(const uint8_t *d, size_t len);
int vskf_sign_digest(EVP_PKEY *key, const uint8_t *digest, size_t len, ECCSIGNATUREBLOB *sig);
/* 1 good, 0 bad signature, -1 error. */
int vskf_verify_digest(EVP_PKEY *key, const uint8_t *digest, size_t len,
                       const ECCSIGNATUREBLOB *sig);
/* SM2 decryption of an ECCCIPHERBLOB whose Cipher holds cipher_len bytes. */
int vskf_sm2_decrypt_blob(EVP_PKEY *key, const ECCCIPHERBLOB *blob, uint8_t *out,
                          size_t *out_len);
/* 1 when the certificate's public key is the key's, 0 not, -1 error. */
int vskf_cert_matches_key(const struct vskf_bytes *cert, const struct vskf_bytes *key);

/* --- remote unblock (unblock.c): the scheme of docs/virtual-skf.md --------- */
#define VSKF_UNBLOCK_MAC_LEN 4
#define VSKF_UNBLOCK_MAX     (2 * VSKF_SM4_BLOCK + VSKF_UNBLOCK_MAC_LEN)
/* The CA's side: the answer for a challenge. 0, or -1 on bad input. */
int vskf_unblock_answer(const char *admin_pin, const char *new_pin, const uint8_t *challenge,
                        size_t challenge_len, uint8_t *out, size_t *out_len);
enum vskf_unblock_result {
    VSKF_UNBLOCK_OK,
    VSKF_UNBLOCK_MALFORMED,   /* not even the shape of an answer: costs nothing */
    VSKF_UNBLOCK_WRONG,       /* wrong admin PIN or challenge: costs a try */
    VSKF_UNBLOCK_ERROR,
};
/* The token's side: opens an answer; on OK, new_pin holds the new user PIN. */
enum vskf_unblock_result vskf_unblock_open(const char *admin_pin, const uint8_t *challenge,
                                           size_t challenge_len, const uint8_t *answer,
                                           size_t answer_len,
                                           char new_pin[VSKF_PIN_MAX + 1]);

#endif
