/* SPDX-License-Identifier: MIT */
/*
 * api/render/rendercache.h — the rendered body of GET /v1/tokens, kept between
 * requests. Building it (jansson values for every certificate, then the
 * text) costs ten times what serving the bytes does, and a portal polls it;
 * yet it only changes when a token does (a new snapshot) or when a
 * certificate's daysLeft ticks over.
 *
 * The cache holds references to the snapshots it rendered, so a snapshot it
 * compares by address cannot be freed and its address reused meanwhile.
 */
#ifndef UKEYD_API_RENDERCACHE_H
#define UKEYD_API_RENDERCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "token/token.h"

/*
 * The text of render_tokens(list, n) (pretty or compact, ending in a
 * newline) as of `now`: a fresh copy to free(), or NULL when out of memory.
 */
char *rendercache_tokens(struct token_snapshot *const *list, size_t n, bool pretty, time_t now,
                         size_t *len);

/* Drops everything cached (the server stops, or a test wants a clean slate). */
void rendercache_clear(void);

#endif
