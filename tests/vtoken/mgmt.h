/* SPDX-License-Identifier: MIT */
/*
 * tests/vtoken/mgmt.h — the PIV card management key (key reference 9B):
 * its algorithms (3DES and AES, SP 800-78-4 table 6-1 ids), their names in
 * the state file and on the command line, and the one-block ECB operations
 * GENERAL AUTHENTICATE needs. Nothing here keeps a key: the state does.
 */
#ifndef UKEYD_VTOKEN_MGMT_H
#define UKEYD_VTOKEN_MGMT_H

#include <stddef.h>
#include <stdint.h>

#define PIV_MGMT_ALG_3DES     0x03
#define PIV_MGMT_ALG_AES128   0x08
#define PIV_MGMT_ALG_AES192   0x0A
#define PIV_MGMT_ALG_AES256   0x0C

#define VT_MGMT_KEY_MAX       32
#define VT_MGMT_BLOCK_MAX     16

struct vt_mgmt_alg {
    uint8_t id;
    const char *name;      /* "3DES", "AES-128", ... */
    size_t key_len;
    size_t block_len;
};

const struct vt_mgmt_alg *vt_mgmt_alg_by_id(uint8_t id);
const struct vt_mgmt_alg *vt_mgmt_alg_by_name(const char *name);

/* The key every PIV card ships with and yubico-piv-tool assumes:
 * 3DES 0102030405060708 three times. */
extern const uint8_t vt_mgmt_default_key[];
#define VT_MGMT_DEFAULT_KEY_LEN 24

/*
 * Parses "ALG:HEX" (ALG as vt_mgmt_alg names it, HEX the key in either
 * case). Fills id/key/len; -1 on anything else. For 3DES, a key whose
 * three parts are equal (single DES in disguise) is still accepted, as the
 * PIV default key shows it must be.
 */
int vt_mgmt_parse(const char *text, uint8_t *id, uint8_t key[VT_MGMT_KEY_MAX], size_t *len);

/* One block in, one block out, ECB, no padding. 0, or -1 on an OpenSSL error. */
int vt_mgmt_encrypt_block(uint8_t alg_id, const uint8_t *key, const uint8_t *in, uint8_t *out);
int vt_mgmt_decrypt_block(uint8_t alg_id, const uint8_t *key, const uint8_t *in, uint8_t *out);

#endif
