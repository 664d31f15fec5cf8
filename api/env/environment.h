/* SPDX-License-Identifier: MIT */
/*
 * api/env/environment.h — the environment check and repair as the rest of
 * ukeyd sees them: their settings, which a reload may change, the worker
 * threads of checks in flight, which must be gone before the token service
 * is, and the two reports (GET /v1/environment, POST /v1/environment/repair
 * answer them: api/v1/environment_api.c). Nothing here knows HTTP.
 */
#ifndef UKEYD_API_ENVIRONMENT_H
#define UKEYD_API_ENVIRONMENT_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

#include "api/render/lang.h"
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

/* The settings as one check or repair uses them, owned. */
struct env_config {
    char *ca_service_url;
    char *ca_bundle;
    char *drivers_dir;
    char **restart_argv;                 /* NULL-terminated, NULL when none */
    unsigned timeout_ms;
    char **origins;                      /* the allow-list, for the browser check */
    size_t n_origins;
};

/* A snapshot of the environment's settings, without origins. 0, or -1 when
 * out of memory. */
int env_config_take(struct environment *env, struct env_config *out);
/* Adds the server's allow-list (copied). 0, or -1 when out of memory. */
int env_config_add_origins(struct env_config *c, const char *const *origins, size_t n);
void env_config_free(struct env_config *c);

/* The report, in `lang`, its duration counted from `started` (CLOCK_MONOTONIC);
 * NULL when out of memory. */
json_t *environment_check(struct environment *env, const struct env_config *cfg,
                          enum api_lang lang, const struct timespec *started);
/* Repairs what it safely can, then reports (steps and a fresh report); one
 * repair at a time. `request_id` is for the log. NULL when out of memory. */
json_t *environment_repair(struct environment *env, const struct env_config *cfg,
                           enum api_lang lang, const char *request_id);

#endif
