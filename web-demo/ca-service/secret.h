/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/secret.h — everything random and everything secret:
 * identifiers and codes from OpenSSL's CSPRNG, comparison that does not leak
 * timing, and memory that is wiped before it is given back.
 */
#ifndef UKEY_CA_SECRET_H
#define UKEY_CA_SECRET_H

#include <stdbool.h>
#include <stddef.h>

/* prefix + 128 random bits as lower-case hex, e.g. "req-3f9c…". */
bool secret_random_id(const char *prefix, char *out, size_t size);

/* n uniformly random decimal digits and a NUL into out[n + 1]. */
bool secret_random_digits(char *out, size_t n);

/* Equal length and equal content, in time that depends on the length only. */
bool secret_equal(const char *a, const char *b);

/* Wipes a block from malloc (its whole usable size), then frees it. */
void secret_free(void *p);

/* Zeroes a buffer the compiler may not optimise away. */
void secret_wipe(void *p, size_t n);

/*
 * A growing buffer whose old blocks are wiped as it moves (realloc would
 * leave them as they were): *buf stays NUL-terminated. False when out of
 * memory, the buffer unchanged.
 */
bool secret_buf_append(char **buf, size_t *len, size_t *cap, const void *data, size_t n);

/* Makes jansson wipe every block it frees: JSON bodies carry PUKs and codes. */
void secret_json_allocator(void);

#endif
