/* SPDX-License-Identifier: MIT */
/*
 * tests/vtoken/iso7816.h — the ISO 7816-4 status words and instruction bytes
 * the virtual token speaks, each named once.
 */
#ifndef UKEYD_VTOKEN_ISO7816_H
#define UKEYD_VTOKEN_ISO7816_H

enum iso_sw {
    SW_OK                        = 0x9000,
    SW_BYTES_REMAINING           = 0x6100,   /* | count, 00 meaning 256 or more */
    SW_VERIFY_FAILED_TRIES_LEFT  = 0x63C0,   /* | tries left */
    SW_MEMORY_FAILURE            = 0x6581,
    SW_WRONG_LENGTH              = 0x6700,
    SW_LOGICAL_CHANNEL_UNSUPPORTED = 0x6881,
    SW_SECURE_MESSAGING_UNSUPPORTED = 0x6882,
    SW_LAST_COMMAND_EXPECTED     = 0x6883,
    SW_SECURITY_STATUS           = 0x6982,
    SW_AUTH_METHOD_BLOCKED       = 0x6983,
    SW_CONDITIONS_NOT_SATISFIED  = 0x6985,
    SW_WRONG_DATA                = 0x6A80,
    SW_FUNCTION_NOT_SUPPORTED    = 0x6A81,
    SW_FILE_NOT_FOUND            = 0x6A82,
    SW_NOT_ENOUGH_MEMORY         = 0x6A84,
    SW_INCORRECT_P1P2            = 0x6A86,
    SW_REFERENCE_NOT_FOUND       = 0x6A88,
    SW_INS_NOT_SUPPORTED         = 0x6D00,
    SW_CLA_NOT_SUPPORTED         = 0x6E00,
};

#define SW_LOW_BYTE_MASK   0x00FF
#define SW_TRIES_MASK      0x000F

enum iso_ins {
    INS_VERIFY               = 0x20,
    INS_CHANGE_REFERENCE     = 0x24,
    INS_RESET_RETRY_COUNTER  = 0x2C,
    INS_GENERATE_KEY_PAIR    = 0x47,
    INS_GENERAL_AUTHENTICATE = 0x87,
    INS_SELECT               = 0xA4,
    INS_GET_RESPONSE         = 0xC0,
    INS_GET_DATA             = 0xCB,
    INS_PUT_DATA             = 0xDB,
    /* Yubico's vendor instructions inside the PIV application. */
    INS_YK_MOVE_KEY          = 0xF6,
    INS_YK_GET_METADATA      = 0xF7,
    INS_YK_GET_SERIAL        = 0xF8,
    INS_YK_GET_VERSION       = 0xFD,
};

/* CLA bits (ISO 7816-4 §5.4.1, first inter-industry class). */
#define CLA_CHAINING           0x10
#define CLA_SECURE_MESSAGING   0x0C
#define CLA_LOGICAL_CHANNEL    0x03
#define CLA_PROPRIETARY        0x80

#endif
