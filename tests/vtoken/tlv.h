/* SPDX-License-Identifier: MIT */
/*
 * tests/vtoken/tlv.h — BER-TLV encoding of the card's answers, and the
 * strict reading of what clients send in GENERAL AUTHENTICATE, GENERATE and
 * PUT DATA (a malformed length is refused, never read past).
 */
#ifndef UKEYD_VTOKEN_TLV_H
#define UKEYD_VTOKEN_TLV_H

#include <stddef.h>
#include <stdint.h>

#include "tests/vtoken/buf.h"

/* Appends tag, BER length and value. The tag is written big-endian in as
 * many bytes as it needs (0x53 → 53, 0x5FC102 → 5F C1 02). -1 on no memory
 * or a value longer than a three-byte length can say. */
int vt_tlv_append(struct vt_buf *out, uint32_t tag, const void *value, size_t len);

struct vt_tlv {
    uint32_t tag;          /* as written: 0x7C, 0x5FC10C, 0x7F49 */
    const uint8_t *value;
    size_t len;
};

/* Reads the TLV at *p (before end) and moves *p past it. Tags of up to
 * three bytes, lengths in one to three bytes. 0, or -1 when malformed. */
int vt_tlv_next(const uint8_t **p, const uint8_t *end, struct vt_tlv *t);

/* The data is exactly one TLV with this tag: 0, else -1. */
int vt_tlv_whole(const uint8_t *data, size_t len, uint32_t tag, struct vt_tlv *t);

#endif
