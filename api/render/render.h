/* SPDX-License-Identifier: MIT */
/*
 * api/render/render.h — the JSON shapes of the API's resources, built from what the
 * token layer hands out. docs/openapi.yaml has one schema for each.
 *
 * Every function returns a new value, or NULL when out of memory.
 */
#ifndef UKEYD_API_RENDER_H
#define UKEYD_API_RENDER_H

#include <jansson.h>

#include "token/token.h"

json_t *render_status(const struct token_status *st, unsigned long uptime_s);
json_t *render_readers(const struct token_reader *readers, size_t n);
json_t *render_pin(const struct token_pin_info *pin);
json_t *render_certificate(const struct token_cert *cert);
json_t *render_certificates(const struct token_snapshot *s);
json_t *render_token(const struct token_snapshot *s);
json_t *render_tokens(struct token_snapshot *const *list, size_t n);

/* The certificate of `slot` ("9a", any case), or NULL. */
const struct token_cert *render_find_cert(const struct token_snapshot *s, const char *slot);

#endif
