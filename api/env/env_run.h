/* SPDX-License-Identifier: MIT */
/*
 * api/env/env_run.h — inside the environment feature: the concurrent
 * collection of one report (shared by the check and the repair), and the
 * report's body.
 */
#ifndef UKEYD_API_ENV_RUN_H
#define UKEYD_API_ENV_RUN_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

#include "api/env/env_check.h"
#include "api/env/environment.h"

struct token_service *environment_tokens(const struct environment *env);
/* Serialises repairs: at most one restarts pcscd at a time. */
void environment_repair_lock(struct environment *env);
void environment_repair_unlock(struct environment *env);

/* One report: the slow checks run on threads of their own, and whatever has
 * not finished by the deadline (timeout_ms from now, less a margin for the
 * answer) is reported as timed out. Returns 0, or -1 when out of memory. */
int env_collect(struct environment *env, const struct env_config *cfg, struct env_report *out);

/* The report's body: env_report_json plus version, time and duration. */
json_t *env_report_body(const struct env_report *rep, enum api_lang lang, time_t checked_at,
                        long elapsed_ms, unsigned timeout_ms);

#endif
