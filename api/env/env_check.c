/* SPDX-License-Identifier: MIT */
/*
 * api/env/env_check.c — the environment report's checks, their aggregation and
 * their JSON.
 */
#include "api/env/env_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const state_names[ENV_STATE__COUNT] = {
    [ENV_OK] = "ok",
    [ENV_WARN] = "warn",
    [ENV_FAIL] = "fail",
};

const char *env_state_name(enum env_state s)
{
    return (unsigned)s < ENV_STATE__COUNT ? state_names[s] : state_names[ENV_FAIL];
}

struct env_check *env_report_add(struct env_report *r, const char *category, const char *id,
                                 enum env_msg title)
{
    struct env_check **grown = realloc(r->checks, (r->n + 1) * sizeof *grown);
    struct env_check *c;

    if (!grown)
        return NULL;
    r->checks = grown;
    c = calloc(1, sizeof *c);
    if (!c || !(c->details = json_object())) {
        free(c);
        return NULL;
    }
    snprintf(c->id, sizeof c->id, "%s", id);
    c->category = category;
    c->state = ENV_OK;
    env_words_set(&c->title, title);
    r->checks[r->n++] = c;
    return c;
}

void env_report_free(struct env_report *r)
{
    for (size_t i = 0; i < r->n; i++) {
        json_decref(r->checks[i]->details);
        free(r->checks[i]);
    }
    free(r->checks);
    r->checks = NULL;
    r->n = 0;
}

void env_check_say(struct env_check *c, enum env_state state, enum env_msg found,
                   enum env_msg hint)
{
    c->state = state;
    env_words_set(&c->found, found);
    env_words_set(&c->hint, hint);
}

void env_check_detail(struct env_check *c, const char *key, json_t *value)
{
    if (value)
        json_object_set_new(c->details, key, value);
}

enum env_state env_report_state(const struct env_report *r)
{
    enum env_state worst = ENV_OK;

    for (size_t i = 0; i < r->n; i++)
        if (r->checks[i]->state > worst)
            worst = r->checks[i]->state;
    return worst;
}

size_t env_report_count(const struct env_report *r, enum env_state s)
{
    size_t n = 0;

    for (size_t i = 0; i < r->n; i++)
        n += r->checks[i]->state == s;
    return n;
}

const struct env_check *env_report_find(const struct env_report *r, const char *id)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->checks[i]->id, id) == 0)
            return r->checks[i];
    return NULL;
}

/* The sentence as a JSON string, or null when there is none. */
static json_t *words_json(const struct env_words *w, enum api_lang lang)
{
    char *text = env_text_render(w, lang);
    json_t *v;

    if (!text)
        return json_null();
    v = json_string(text);
    free(text);
    return v;
}

json_t *env_check_json(const struct env_check *c, enum api_lang lang)
{
    return json_pack("{s:s, s:s, s:o, s:s, s:o, s:o, s:O}", "id", c->id, "category",
                     c->category, "title", words_json(&c->title, lang), "state",
                     env_state_name(c->state), "found", words_json(&c->found, lang), "hint",
                     words_json(&c->hint, lang), "details", c->details);
}

static json_t *summary_json(const struct env_report *r)
{
    return json_pack("{s:I, s:I, s:I}", "ok", (json_int_t)env_report_count(r, ENV_OK), "warn",
                     (json_int_t)env_report_count(r, ENV_WARN), "fail",
                     (json_int_t)env_report_count(r, ENV_FAIL));
}

json_t *env_report_json(const struct env_report *r, enum api_lang lang)
{
    json_t *checks = json_array();

    for (size_t i = 0; checks && i < r->n; i++) {
        if (json_array_append_new(checks, env_check_json(r->checks[i], lang))) {
            json_decref(checks);
            return NULL;
        }
    }
    return checks ? json_pack("{s:s, s:o, s:o}", "state", env_state_name(env_report_state(r)),
                              "summary", summary_json(r), "checks", checks)
                  : NULL;
}
