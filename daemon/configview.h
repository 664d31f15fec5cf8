/* SPDX-License-Identifier: MIT */
/*
 * daemon/configview.h — the effective configuration as support sees it in
 * GET /v1/diagnostics: every key under its name in the file, defaults
 * filled in, and nothing that could be a secret (a URL loses its user
 * information and query).
 */
#ifndef UKEYD_DAEMON_CONFIGVIEW_H
#define UKEYD_DAEMON_CONFIGVIEW_H

#include <jansson.h>

#include "daemon/config.h"

/* A new object, or NULL when out of memory. */
json_t *config_view(const struct config *c);

/* `url` without "user:password@" and without "?query" or "#fragment". */
void config_redact_url(const char *url, char *out, size_t size);

#endif
