/* SPDX-License-Identifier: MIT */
/*
 * token/pcsc/tlv.h — BER-TLV as smart cards use it (ISO 7816-4 annex D): tags of
 * up to three bytes, definite lengths of up to three bytes. Every length read
 * is checked against the bytes actually there; nothing here allocates.
 */
#ifndef UKEYD_TOKEN_PCSC_TLV_H
#define UKEYD_TOKEN_PCSC_TLV_H

#include <stddef.h>
#include <stdint.h>

#include "token/error.h"

struct tlv {
    uint32_t tag;           /* tag bytes big-endian, e.g. 0x5FC102 */
    const uint8_t *value;   /* points into the parsed buffer */
    size_t len;
};

/*
 * Reads the TLV at the start of *buf and advances *buf and *len past it.
 * TOKEN_E_MALFORMED when the tag or length is cut short, uses the indefinite
 * form, or claims more bytes than remain.
 */
token_err tlv_next(const uint8_t **buf, size_t *len, struct tlv *out);

/* Finds `tag` among the sibling TLVs in buf (no descent); TOKEN_E_NO_OBJECT when absent. */
token_err tlv_find(const uint8_t *buf, size_t len, uint32_t tag, struct tlv *out);

/* Bytes needed to encode `tag` and a length of `len`. */
size_t tlv_header_size(uint32_t tag, size_t len);

/*
 * Writes tag, length and value at out[0..cap). Returns the bytes written, or 0
 * when they do not fit or len is beyond what three length bytes can say.
 */
size_t tlv_put(uint8_t *out, size_t cap, uint32_t tag, const uint8_t *value, size_t len);

#endif
