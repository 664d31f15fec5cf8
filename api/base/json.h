/* SPDX-License-Identifier: MIT */
/*
 * api/base/json.h — jansson as ukeyd uses it: an allocator that wipes every block
 * on free (PINs parsed from request bodies live in jansson strings), and the
 * rendering of values into response text, pretty for people, compact for pages.
 */
#ifndef UKEYD_API_JSON_H
#define UKEYD_API_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Installs the wiping allocator. Call once, before any thread uses jansson. */
void json_wipe_install(void);
bool json_wipe_installed(void);

/* Renders `v`; the text ends with a newline. Free with json_text_free(). */
char *json_text(const json_t *v, bool pretty, size_t *len);
void json_text_free(char *text);

/* Zeroes and frees a buffer that held secrets (e.g. a raw request body). */
void wipe_free(void *p, size_t len);

/* A JSON string, or null for a missing (NULL) string. */
json_t *json_string_or_null(const char *s);
/* The same where an empty string also means "none" (fixed-size fields). */
json_t *json_text_or_null(const char *s);

/* An array of the `n` strings; NULL when out of memory. */
json_t *json_string_array(char *const *items, size_t n);

/* Scoped JSON values: SCOPED_JSON (api/base/scoped.h). */

#endif
