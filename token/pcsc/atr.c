/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "token/pcsc/atr.h"

#define ATR_T0_INDEX          1
#define ATR_HIST_COUNT_MASK   0x0F
#define ATR_TA_PRESENT        0x10
#define ATR_TB_PRESENT        0x20
#define ATR_TC_PRESENT        0x40
#define ATR_TD_PRESENT        0x80
#define ATR_MIN_NAME_LEN      4

size_t atr_historical_bytes(const uint8_t *atr, size_t len, const uint8_t **hist)
{
    size_t pos = ATR_T0_INDEX, k;
    uint8_t y;

    if (!atr || len < 2)
        return 0;
    k = atr[ATR_T0_INDEX] & ATR_HIST_COUNT_MASK;
    y = atr[ATR_T0_INDEX];
    pos++;
    /* walk the interface bytes: each TDi says which of TA/TB/TC/TD(i+1) follow */
    for (;;) {
        pos += !!(y & ATR_TA_PRESENT) + !!(y & ATR_TB_PRESENT) + !!(y & ATR_TC_PRESENT);
        if (!(y & ATR_TD_PRESENT))
            break;
        if (pos >= len)
            return 0;
        y = atr[pos++];
    }
    if (pos + k > len)
        return 0;
    *hist = atr + pos;
    return k;
}

struct known_model {
    const char *marker;   /* printable text in the historical bytes */
    const char *model;
};

static const struct known_model known_models[] = {
    {"Yubikey", "YubiKey"},
    {"YubiKey", "YubiKey"},
    {"vPIVukey", "ukeyd virtual PIV token"},
};

/* The longest run of printable ASCII in the historical bytes, if long enough. */
static char *atr_printable_run(const uint8_t *h, size_t k)
{
    size_t best = 0, best_at = 0, run = 0, i;

    for (i = 0; i < k; i++) {
        run = isprint(h[i]) ? run + 1 : 0;
        if (run > best) {
            best = run;
            best_at = i + 1 - run;
        }
    }
    if (best < ATR_MIN_NAME_LEN)
        return NULL;
    return strndup((const char *)h + best_at, best);
}

char *atr_model_name(const uint8_t *atr, size_t len, const char *fallback)
{
    const uint8_t *h = NULL;
    size_t k = atr_historical_bytes(atr, len, &h), i;
    char *run = k ? atr_printable_run(h, k) : NULL;

    if (run) {
        for (i = 0; i < sizeof(known_models) / sizeof(known_models[0]); i++) {
            if (strstr(run, known_models[i].marker)) {
                free(run);
                return strdup(known_models[i].model);
            }
        }
        return run;
    }
    return strdup(fallback);
}
