/* SPDX-License-Identifier: MIT */
/* Tests for token/pcsc/atr.c: historical bytes and the model name users see. */
#include <stdint.h>
#include <stdlib.h>

#include "tests/tap.h"
#include "token/pcsc/atr.h"

static void check_model(const uint8_t *atr, size_t len, const char *want, const char *name)
{
    char *m = atr_model_name(atr, len, "PIV card");

    TAP_EQ_STR(m, want, name);
    free(m);
}

int main(void)
{
    /* a YubiKey 4: TD1 and TD2 present, eight historical bytes "Yubikey4", TCK */
    static const uint8_t yk4[] = {0x3B, 0xF8, 0x13, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x15, 0x59,
                                  0x75, 0x62, 0x69, 0x6B, 0x65, 0x79, 0x34, 0xD4};
    /* no interface bytes, three non-printable historical bytes */
    static const uint8_t plain[] = {0x3B, 0x03, 0x01, 0x02, 0x03};
    /* T0 promises 15 historical bytes that are not there */
    static const uint8_t cut[] = {0x3B, 0x8F, 0x80, 0x01, 0x41, 0x42};
    const uint8_t *h = NULL;

    TAP_EQ_INT(atr_historical_bytes(yk4, sizeof(yk4), &h), 8, "YubiKey ATR has 8 historical bytes");
    tap_ok(h == yk4 + 9, "they start after TA1 TB1 TC1 TD1 TD2 TA3");
    check_model(yk4, sizeof(yk4), "YubiKey", "a YubiKey is named as such");
    TAP_EQ_INT(atr_historical_bytes(plain, sizeof(plain), &h), 3, "ATR without interface bytes");
    check_model(plain, sizeof(plain), "PIV card", "unprintable historical bytes fall back");
    TAP_EQ_INT(atr_historical_bytes(cut, sizeof(cut), &h), 0, "a cut ATR has no historical bytes");
    check_model(cut, sizeof(cut), "PIV card", "and falls back to the generic name");
    TAP_EQ_INT(atr_historical_bytes(NULL, 0, &h), 0, "no ATR");
    return tap_done();
}
