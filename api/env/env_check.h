/* SPDX-License-Identifier: MIT */
/*
 * api/env/env_check.h — the environment report: a list of checks, each with a
 * state (ok, warn, fail), what was found, a fix hint and machine details;
 * the report's overall state; and its JSON in the request's language
 * (docs/openapi.yaml, schemas EnvironmentReport and EnvironmentCheck).
 */
#ifndef UKEYD_API_ENV_CHECK_H
#define UKEYD_API_ENV_CHECK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "api/env/env_text.h"
#include "api/render/lang.h"

/* In order of severity: the worst state of a report is its largest. */
enum env_state {
    ENV_OK,
    ENV_WARN,
    ENV_FAIL,
    ENV_STATE__COUNT
};

#define ENV_CHECK_ID_MAX 96

struct env_check {
    char id[ENV_CHECK_ID_MAX];      /* "pcsc.service", "token.piv-…" */
    const char *category;           /* static: "system", "clock", "network", "pcsc", ... */
    enum env_state state;
    struct env_words title;
    struct env_words found;         /* what was found */
    struct env_words hint;          /* what to do (or know); ENV_MSG_NONE when nothing */
    json_t *details;                /* machine fields, an object; owned */
};

struct env_report {
    struct env_check **checks;
    size_t n;
};

/* "ok", "warn", "fail". */
const char *env_state_name(enum env_state s);

/* Appends a check (state ok, empty details) and returns it, or NULL when out
 * of memory. The pointer stays valid as more checks are added. */
struct env_check *env_report_add(struct env_report *r, const char *category, const char *id,
                                 enum env_msg title);
void env_report_free(struct env_report *r);

/* Sets the state and the found/hint sentences (hint may be ENV_MSG_NONE);
 * their arguments are added afterwards with env_words_arg. */
void env_check_say(struct env_check *c, enum env_state state, enum env_msg found,
                   enum env_msg hint);
/* Sets details member `key` to `value` (taking it); ignores a NULL value. */
void env_check_detail(struct env_check *c, const char *key, json_t *value);

/* The worst state of all checks; ok for an empty report. */
enum env_state env_report_state(const struct env_report *r);
size_t env_report_count(const struct env_report *r, enum env_state s);
const struct env_check *env_report_find(const struct env_report *r, const char *id);

json_t *env_check_json(const struct env_check *c, enum api_lang lang);
/* {"state", "summary": {"ok","warn","fail"}, "checks": [...]}; NULL when out of memory. */
json_t *env_report_json(const struct env_report *r, enum api_lang lang);

#endif
