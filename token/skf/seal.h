/* SPDX-License-Identifier: MIT */
/*
 * token/skf/seal.h — telling an electronic seal (电子印章) among the files of
 * an SKF application, from its first bytes.
 *
 * No public fact names seal files (vendors choose their own names), so a
 * file is a seal by its content: the DER of a seal as GM/T 0031-2014 and
 * GB/T 38540-2020 define it, SESeal ::= SEQUENCE { SES_SealInfo ::= SEQUENCE
 * { SES_Header ::= SEQUENCE { id IA5String "ES", version INTEGER, vid
 * IA5String }, ... }, ... }. Both versions open alike; these bytes are all
 * that is read, never the seal's picture or signature, nor is it verified.
 */
#ifndef UKEYD_TOKEN_SKF_SEAL_H
#define UKEYD_TOKEN_SKF_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Whether `head`, the first `len` bytes of a file, open a GM/T 0031 seal. */
bool skf_seal_recognised(const uint8_t *head, size_t len);

#endif
