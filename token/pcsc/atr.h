/* SPDX-License-Identifier: MIT */
/*
 * token/pcsc/atr.h — reading an Answer-To-Reset (ISO 7816-3) far enough to find
 * its historical bytes, and naming the token model they identify.
 */
#ifndef UKEYD_TOKEN_PCSC_ATR_H
#define UKEYD_TOKEN_PCSC_ATR_H

#include <stddef.h>
#include <stdint.h>

/* Points *hist into atr at the historical bytes; returns their count, 0 when malformed. */
size_t atr_historical_bytes(const uint8_t *atr, size_t len, const uint8_t **hist);

/* A new string naming the model ("YubiKey", the card's own printable name,
 * or `fallback`); NULL only when out of memory. */
char *atr_model_name(const uint8_t *atr, size_t len, const char *fallback);

#endif
