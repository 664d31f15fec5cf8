/* SPDX-License-Identifier: MIT */
/*
 * tests/vtoken/tlv.h — BER-TLV encoding, the only direction the card needs:
 * it builds its answers and never has to parse nested TLV from a client.
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

#endif
