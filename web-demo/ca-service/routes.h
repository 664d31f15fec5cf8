/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/routes.h — the service's route table: every path it
 * answers, in one place, with the handler and the guards of each.
 */
#ifndef UKEY_CA_ROUTES_H
#define UKEY_CA_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

/*
 * The route for method and path (*route NULL when none), its {} segments
 * copied into captures. False only when out of memory.
 */
bool routes_find(const char *method, const char *path, const struct route **route,
                 char *captures[HTTP_MAX_CAPTURES]);

/* The methods some route takes on this path ("GET, POST"); false when none. */
bool routes_allowed(const char *path, char *out, size_t size);

#endif
