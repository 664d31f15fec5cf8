/* SPDX-License-Identifier: MIT */
/*
 * api/base/b64.h — standard base64 with padding (RFC 4648 §4), as cert/v1 and the
 * certificate journal carry DER: strict on input (no line breaks, no
 * whitespace, padding required), on OpenSSL's EVP_Encode/DecodeBlock.
 */
#ifndef UKEYD_API_B64_H
#define UKEYD_API_B64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A new NUL-terminated string (free with free()), or NULL when out of memory. */
char *b64_encode(const uint8_t *data, size_t len);
/* Decodes `text` into a new buffer of at most `max` bytes (free with free());
 * false for anything that is not exactly that. */
bool b64_decode(const char *text, size_t max, uint8_t **out, size_t *out_len);

#endif
