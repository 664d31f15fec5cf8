/* SPDX-License-Identifier: MIT */
/*
 * tests/vtoken/piv-internal.h — what the parts of the PIV application share:
 * the data object and key reference numbers of SP 800-73-4, answer helpers,
 * and the instruction handlers that live outside piv.c (piv-auth.c: GENERAL
 * AUTHENTICATE; piv-keys.c: GENERATE, MOVE KEY, GET METADATA; piv-write.c:
 * PUT DATA).
 */
#ifndef UKEYD_VTOKEN_PIV_INTERNAL_H
#define UKEYD_VTOKEN_PIV_INTERNAL_H

#include "tests/vtoken/piv.h"

#define KEY_REF_PIN               0x80
#define KEY_REF_PUK               0x81
#define KEY_REF_MANAGEMENT        0x9B
#define KEY_REF_CARD_AUTH         0x9E

/* GET DATA / PUT DATA and the containers (part 1 appendix A). */
#define P1_DATA_OBJECT            0x3F
#define P2_DATA_OBJECT            0xFF
#define TAG_TAG_LIST              0x5C
#define TAG_DATA                  0x53
#define TAG_ERROR_DETECTION       0xFE
#define TAG_TAG_LIST_MAX_LEN      3

#define OBJ_DISCOVERY             0x7E
#define OBJ_CHUID                 0x5FC102
#define OBJ_CCC                   0x5FC107
#define OBJ_KEY_HISTORY           0x5FC10C

#define TAG_CERTIFICATE           0x70
#define TAG_CERT_INFO             0x71
#define TAG_KEYS_ON_CARD_CERTS    0xC1
#define TAG_KEYS_OFF_CARD_CERTS   0xC2
#define TAG_OFF_CARD_URL          0xF3

/* GENERAL AUTHENTICATE's dynamic authentication template (part 2 §3.2.4). */
#define TAG_DYN_AUTH              0x7C
#define TAG_DYN_WITNESS           0x80
#define TAG_DYN_CHALLENGE         0x81
#define TAG_DYN_RESPONSE          0x82
#define TAG_DYN_EXPONENTIATION    0x85

/* GENERATE's control template and answer (part 2 §3.3.2). */
#define TAG_GEN_CONTROL           0xAC
#define TAG_GEN_ALGORITHM         0x80
#define TAG_YK_PIN_POLICY         0xAA
#define TAG_YK_TOUCH_POLICY       0xAB
#define TAG_PUBLIC_KEY            0x7F49

/* What a card keeps for one data object at most: a YubiKey 5 holds about
 * 3 KB per object, and a PIV certificate is well below that. */
#define PIV_OBJECT_MAX            3072

/* 9000, or 6581 when building the answer ran out of memory. */
uint16_t vt_piv_built(int rc);
/* Writes the state file; 9000, or 6581 (logged) when that failed. */
uint16_t vt_piv_save(const struct piv_app *app);

uint16_t vt_piv_general_authenticate(struct piv_app *app, const struct apdu_cmd *cmd,
                                     struct vt_buf *out);
uint16_t vt_piv_generate(struct piv_app *app, const struct apdu_cmd *cmd, struct vt_buf *out);
uint16_t vt_piv_move_key(struct piv_app *app, const struct apdu_cmd *cmd, struct vt_buf *out);
uint16_t vt_piv_get_metadata(struct piv_app *app, const struct apdu_cmd *cmd,
                             struct vt_buf *out);
uint16_t vt_piv_put_data(struct piv_app *app, const struct apdu_cmd *cmd, struct vt_buf *out);

#endif
