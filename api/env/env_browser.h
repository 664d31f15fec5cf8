/* SPDX-License-Identifier: MIT */
/*
 * api/env/env_browser.h — the browser-access check: which portal origins may
 * call ukeyd, and the note every user of a current browser needs about its
 * local-network permission prompt (Chrome's Local Network Access, Firefox's
 * equivalent), with the enterprise policies that pre-allow a portal.
 */
#ifndef UKEYD_API_ENV_BROWSER_H
#define UKEYD_API_ENV_BROWSER_H

#include <stdbool.h>
#include <stddef.h>

#include "api/env/env_check.h"

/* Whether a browser lets a page of `origin` call a loopback service at all:
 * https, or http from this machine itself. */
bool env_origin_secure(const char *origin);

/* Adds browser.local-network for the configured allow-list. */
void env_browser_check(struct env_report *r, char *const *origins, size_t n);

#endif
