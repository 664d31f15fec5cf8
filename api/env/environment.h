/* SPDX-License-Identifier: MIT */
/*
 * api/env/environment.h — the environment check and repair (GET
 * /v1/environment, POST /v1/environment/repair) as the server holds them:
 * their settings, which a reload may change, and the worker threads of
 * checks in flight, which must be gone before the token service is.
 */
#ifndef UKEYD_API_ENVIRONMENT_H
#define UKEYD_API_ENVIRONMENT_H

#include "token/token.h"

#define ENVIRONMENT_TIMEOUT_MS_DEFAULT 2500
#define ENVIRONMENT_TIMEOUT_MS_MIN     500
#define ENVIRONMENT_TIMEOUT_MS_MAX     10000

/* Strings are copied; NULL members mean "not configured". */
struct environment_settings {
    const char *ca_service_url;          /* the CA service to probe */
    const char *ca_bundle;               /* PEM file to verify it with; NULL: system CAs */
    const char *pcsc_drivers_dir;        /* NULL: pcsc-lite's usual directory */
    const char *const *pcscd_restart_argv;   /* NULL-terminated; the repair's hook */
    unsigned timeout_ms;                 /* bound on GET /v1/environment; 0: default */
};

struct environment;

/* NULL when out of memory. `svc` must outlive the environment. */
struct environment *environment_new(struct token_service *svc);
/* Returns 0, or -1 when out of memory (the old settings stay). */
int environment_configure(struct environment *env, const struct environment_settings *s);
/* Waits for checks still running on their threads (each is bounded), frees. */
void environment_free(struct environment *env);

#endif
