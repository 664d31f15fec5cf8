/* SPDX-License-Identifier: MIT */
/*
 * api/base/scoped.h — the one cleanup idiom of api/: a value declared with a
 * SCOPED_<THING> macro is released (freed, unreferenced or wiped) when it
 * leaves its scope, whichever return is taken, so an error path cannot
 * forget it. Each SCOPED_<THING> is defined next to its release function
 * with SCOPED(release); SCOPED_JSON is jansson's own json_auto_t.
 */
#ifndef UKEYD_API_BASE_SCOPED_H
#define UKEYD_API_BASE_SCOPED_H

#include <jansson.h>

#define SCOPED(release) __attribute__((cleanup(release)))

#define SCOPED_JSON json_auto_t

#endif
