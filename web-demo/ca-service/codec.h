/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/codec.h — binary values in text: standard base64 with
 * padding (how the certificate protocol carries challenges, requests and
 * certificates) and hex (how the seed carries management keys). Strict on
 * input: anything but the canonical form is refused.
 */
#ifndef UKEY_CA_CODEC_H
#define UKEY_CA_CODEC_H

#include <stdbool.h>
#include <stddef.h>

/* Base64 of data as a malloc'd NUL-terminated string; NULL when out of memory. */
char *codec_base64(const void *data, size_t len);

/*
 * Decodes base64 text (padded, no white space) into a malloc'd buffer of at
 * most max bytes; *out NULL and false when it is not base64 or is longer.
 */
bool codec_unbase64(const char *text, size_t max, unsigned char **out, size_t *len);

/* Hex digits (either case) into out[size]: true only when exactly size bytes. */
bool codec_unhex(const char *text, unsigned char *out, size_t size);

#endif
