/* SPDX-License-Identifier: MIT */
/*
 * token/pcsc/apdu.h — ISO 7816-4 command/response framing between a card-edge
 * driver and a transport (PC/SC in the daemon, a scripted card in unit tests).
 *
 * apdu_transmit() sends one logical command and returns one logical response:
 * it splits long command data with command chaining, follows 61xx with GET
 * RESPONSE, and re-sends once with the length the card asks for on 6Cxx.
 * Status words the layer reacts to are named here, once.
 */
#ifndef UKEYD_TOKEN_PCSC_APDU_H
#define UKEYD_TOKEN_PCSC_APDU_H

#include <stddef.h>
#include <stdint.h>

#include "token/error.h"

/* ISO 7816-4 status words and status-word classes */
#define SW_OK                       0x9000
#define SW1_MORE_DATA               0x61    /* 61xx: xx more bytes with GET RESPONSE */
#define SW1_WRONG_LE                0x6C    /* 6Cxx: re-send with Le = xx */
#define SW1_WARNING_COUNTER         0x63    /* 63Cx: verification failed, x tries left */
#define SW2_COUNTER_MASK_HI         0xC0
#define SW_WRONG_LENGTH             0x6700
#define SW_SECURITY_STATUS          0x6982
#define SW_AUTH_BLOCKED             0x6983
#define SW_CONDITIONS_NOT_SATISFIED 0x6985
#define SW_WRONG_DATA               0x6A80
#define SW_FUNC_NOT_SUPPORTED       0x6A81
#define SW_FILE_NOT_FOUND           0x6A82
#define SW_NOT_ENOUGH_MEMORY        0x6A84
#define SW_INCORRECT_P1P2           0x6A86
#define SW_REF_DATA_NOT_FOUND       0x6A88
#define SW_INS_NOT_SUPPORTED        0x6D00
#define SW_CLA_NOT_SUPPORTED        0x6E00

#define ISO_CLA                     0x00
#define ISO_CLA_CHAINING            0x10    /* more command data follows in the next APDU */
#define ISO_INS_SELECT              0xA4
#define ISO_INS_VERIFY              0x20
#define ISO_INS_CHANGE_REF_DATA     0x24
#define ISO_INS_RESET_RETRY_COUNTER 0x2C
#define ISO_INS_GET_RESPONSE        0xC0
#define ISO_INS_GET_DATA_ODD        0xCB

#define APDU_SHORT_MAX_LC           255
#define APDU_SHORT_MAX_LE           256
/* Ask for everything the card has (Le = 00 in a short APDU). */
#define APDU_LE_ANY                 APDU_SHORT_MAX_LE
/* A transport buffer large enough for any short response plus SW. */
#define APDU_RESPONSE_BUF           (APDU_SHORT_MAX_LE + 2)
/* No card object we read is near this; a card that keeps sending more is broken. */
#define APDU_RESPONSE_MAX           (64 * 1024)

/*
 * Sends one raw APDU and receives one raw response (data || SW1 SW2).
 * *rsp_len holds the buffer size on entry and the response length on return.
 */
struct apdu_transport {
    token_err (*transmit)(void *ctx, const uint8_t *cmd, size_t cmd_len,
                          uint8_t *rsp, size_t *rsp_len);
    void *ctx;
};

struct apdu {
    uint8_t cla, ins, p1, p2;
    const uint8_t *data;    /* may be NULL when lc == 0 */
    size_t lc;
    size_t le;              /* 0: no response data expected; APDU_LE_ANY: all there is */
};

struct apdu_response {
    uint8_t *data;          /* heap, NULL when empty; free with apdu_response_clear */
    size_t len;
    uint16_t sw;
};

/*
 * A transport error (card gone, pcscd gone) is returned as is; any status word,
 * error or not, is a successful exchange and lands in rsp->sw. On error rsp is
 * left empty.
 */
token_err apdu_transmit(const struct apdu_transport *t, const struct apdu *cmd,
                        struct apdu_response *rsp);

/* Wipes and frees the response data (it may have held a key or a secret). */
void apdu_response_clear(struct apdu_response *rsp);

/* 63Cx → x, else -1 */
int apdu_sw_tries_left(uint16_t sw);

/* The observer of exchanges for support diagnostics (struct apdu_summary,
 * apdu_set_recorder) is declared in token/token.h: the API layer uses it. */

#endif
