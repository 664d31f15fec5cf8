/* SPDX-License-Identifier: MIT */
/*
 * api/env/env_repair.c — the repair (POST /v1/environment/repair answers it,
 * api/v1/environment_api.c): does what can safely be done from here and says
 * what it did, step by step; for what only an administrator can do it gives
 * the exact command.
 *
 * The steps, in order:
 *   restart-pcscd  only when pcscd is unreachable or its unit has failed:
 *                  through systemd over D-Bus when a system bus has systemd
 *                  on it, else with the configured pcscd-restart-command
 *                  (posix_spawn, a fixed argv from the config file), else a
 *                  command for the administrator;
 *   rescan         the token service looks at pcscd again and re-reads every
 *                  token, dropping what it had cached;
 *   then a fresh report, and from what it still finds wrong: install-ccid,
 *   install-pcscd, sync-clock — commands for the administrator.
 * Nothing the request sends reaches any of this: the body must be empty or {}.
 */
#include "api/env/environment.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/env/env_pcsc.h"
#include "api/env/env_run.h"
#include "api/env/env_spawn.h"
#include "api/env/env_systemd.h"
#include "api/base/log.h"
#include "api/base/timeutil.h"

#define STEPS_MAX             8
#define HOOK_TIMEOUT_MS       20000   /* a pcscd restart that takes longer has failed */
#define RESCAN_WAIT_MS        5000    /* pcscd may take a moment to come back */
#define ARGV_TEXT_SEPARATOR   " "

#define CMD_RESTART_PCSCD     "sudo systemctl restart pcscd.socket pcscd.service"
#define CMD_RESTART_SERVICE   "sudo systemctl restart pcscd.service"
#define CMD_INSTALL_CCID      "sudo apt-get install libccid"
#define CMD_INSTALL_PCSCD     "sudo apt-get install pcscd"
#define CMD_SYNC_CLOCK        "sudo timedatectl set-ntp true"

enum step_state {
    STEP_DONE,
    STEP_SKIPPED,
    STEP_FAILED,
    STEP_MANUAL,          /* needs an administrator: see its command */
    STEP_STATE__COUNT
};

static const char *const step_state_names[STEP_STATE__COUNT] = {
    [STEP_DONE] = "done",
    [STEP_SKIPPED] = "skipped",
    [STEP_FAILED] = "failed",
    [STEP_MANUAL] = "manual",
};

struct step {
    const char *id;
    enum step_state state;
    struct env_words message;
    const char *command;               /* static; NULL when none */
    json_t *details;                   /* owned */
};

struct steps {
    struct step items[STEPS_MAX];
    size_t n;
};

static struct step *step_add(struct steps *list, const char *id)
{
    struct step *s;

    if (list->n >= STEPS_MAX)
        return NULL;
    s = &list->items[list->n++];
    memset(s, 0, sizeof *s);
    s->id = id;
    s->details = json_object();
    return s;
}

static void step_say(struct step *s, enum step_state state, enum env_msg msg,
                     const char *command)
{
    s->state = state;
    env_words_set(&s->message, msg);
    s->command = command;
}

static void steps_free(struct steps *list)
{
    for (size_t i = 0; i < list->n; i++)
        json_decref(list->items[i].details);
    list->n = 0;
}

/* --- restart-pcscd ---------------------------------------------------------- */

/* Returns false when there turned out to be no systemd to ask. */
static bool restart_with_systemd(struct step *s, const struct env_config *cfg)
{
    char error[ENV_BUS_ERROR_MAX];
    enum env_restart how = env_systemd_restart_pcscd(cfg->timeout_ms, error, sizeof error);

    switch (how) {
    case ENV_RESTART_NO_SYSTEMD:
        return false;
    case ENV_RESTART_DONE:
        step_say(s, STEP_DONE, ENV_REPAIR_PCSCD_SYSTEMD, NULL);
        break;
    case ENV_RESTART_DENIED:
        step_say(s, STEP_FAILED, ENV_REPAIR_PCSCD_DENIED, CMD_RESTART_SERVICE);
        break;
    case ENV_RESTART_FAILED:
        step_say(s, STEP_FAILED, ENV_REPAIR_PCSCD_SYSTEMD_FAILED, CMD_RESTART_SERVICE);
        break;
    }
    env_words_arg(&s->message, "error", "%s", error);
    json_object_set_new(s->details, "via", json_string("systemd"));
    json_object_set_new(s->details, "error", error[0] ? json_string(error) : json_null());
    return true;
}

static void argv_text(char *const *argv, char *buf, size_t size)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; argv[i] && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ARGV_TEXT_SEPARATOR : "",
                                 argv[i]);
}

static json_t *argv_json(char *const *argv)
{
    json_t *a = json_array();

    for (size_t i = 0; a && argv[i]; i++)
        json_array_append_new(a, json_string(argv[i]));
    return a;
}

static void say_hook_result(struct step *s, const struct env_spawn_result *res)
{
    switch (res->how) {
    case ENV_SPAWN_EXITED:
        if (res->status == 0) {
            step_say(s, STEP_DONE, ENV_REPAIR_PCSCD_HOOK, NULL);
        } else {
            step_say(s, STEP_FAILED, ENV_REPAIR_PCSCD_HOOK_EXIT, CMD_RESTART_PCSCD);
            env_words_arg(&s->message, "code", "%d", res->status);
        }
        json_object_set_new(s->details, "exitStatus", json_integer(res->status));
        break;
    case ENV_SPAWN_SIGNALLED:
        step_say(s, STEP_FAILED, ENV_REPAIR_PCSCD_HOOK_SIGNAL, CMD_RESTART_PCSCD);
        env_words_arg(&s->message, "signal", "%d", res->status);
        json_object_set_new(s->details, "signal", json_integer(res->status));
        break;
    case ENV_SPAWN_TIMED_OUT:
        step_say(s, STEP_FAILED, ENV_REPAIR_PCSCD_HOOK_TIMEOUT, CMD_RESTART_PCSCD);
        env_words_arg(&s->message, "ms", "%d", HOOK_TIMEOUT_MS);
        break;
    case ENV_SPAWN_FAILED:
        step_say(s, STEP_FAILED, ENV_REPAIR_PCSCD_HOOK_SPAWN, CMD_RESTART_PCSCD);
        env_words_arg(&s->message, "error", "%s", strerror(res->status));
        break;
    }
}

static void log_hook_result(const struct env_spawn_result *res, const char *request_id)
{
    const struct log_fields f = { .request_id = request_id };

    switch (res->how) {
    case ENV_SPAWN_EXITED:
        log_msg(res->status == 0 ? LOG_NOTICE : LOG_WARNING, &f,
                "repair: pcscd-restart-command exited with status %d after %ld ms",
                res->status, res->elapsed_ms);
        break;
    case ENV_SPAWN_SIGNALLED:
        log_msg(LOG_WARNING, &f, "repair: pcscd-restart-command killed by signal %d",
                res->status);
        break;
    case ENV_SPAWN_TIMED_OUT:
        log_msg(LOG_WARNING, &f, "repair: pcscd-restart-command killed after %d ms",
                HOOK_TIMEOUT_MS);
        break;
    case ENV_SPAWN_FAILED:
        log_msg(LOG_WARNING, &f, "repair: pcscd-restart-command did not start: %s",
                strerror(res->status));
        break;
    }
}

static void restart_with_hook(struct step *s, char *const *argv, const char *request_id)
{
    struct env_spawn_result res;
    char command[ENV_ARG_MAX];

    argv_text(argv, command, sizeof command);
    log_msg(LOG_NOTICE, &(struct log_fields){ .request_id = request_id },
            "repair: running pcscd-restart-command %s", command);
    env_spawn_run(argv, HOOK_TIMEOUT_MS, &res);
    say_hook_result(s, &res);
    env_words_arg(&s->message, "command", "%s", command);
    json_object_set_new(s->details, "via", json_string("pcscd-restart-command"));
    json_object_set_new(s->details, "command", argv_json(argv));
    json_object_set_new(s->details, "elapsedMs", json_integer(res.elapsed_ms));
    log_hook_result(&res, request_id);
}

static bool pcscd_reachable(struct token_service *svc)
{
    struct token_status st = { 0 };

    return token_service_status(svc, &st) == TOKEN_OK && st.pcsc_available;
}

static void restart_step(struct environment *env, const struct env_config *cfg,
                         const char *request_id, struct steps *list)
{
    struct step *s = step_add(list, "restart-pcscd");
    struct env_systemd sd;
    bool unit_failed;

    if (!s)
        return;
    env_systemd_query(cfg->timeout_ms, &sd);
    unit_failed = sd.queried && env_systemd_pcscd_failed(&sd);
    json_object_set_new(s->details, "systemd", json_boolean(sd.systemd));
    if (pcscd_reachable(environment_tokens(env)) && !unit_failed) {
        step_say(s, STEP_SKIPPED, ENV_REPAIR_PCSCD_RUNNING, NULL);
        return;
    }
    if (sd.systemd && restart_with_systemd(s, cfg))
        return;
    if (cfg->restart_argv) {
        restart_with_hook(s, cfg->restart_argv, request_id);
        return;
    }
    step_say(s, STEP_MANUAL, ENV_REPAIR_PCSCD_MANUAL, CMD_RESTART_PCSCD);
}

/* --- rescan ------------------------------------------------------------------- */

static void rescan_step(struct token_service *svc, struct steps *list)
{
    struct step *s = step_add(list, "rescan");
    struct token_status st = { 0 };

    if (!s)
        return;
    if (token_service_rescan(svc, RESCAN_WAIT_MS) != TOKEN_OK ||
        token_service_status(svc, &st) != TOKEN_OK) {
        step_say(s, STEP_FAILED, ENV_REPAIR_RESCAN_FAILED, NULL);
        env_words_arg(&s->message, "ms", "%d", RESCAN_WAIT_MS);
        return;
    }
    step_say(s, STEP_DONE, ENV_REPAIR_RESCAN_DONE, NULL);
    env_words_arg(&s->message, "readers", "%zu", st.n_readers);
    env_words_arg(&s->message, "tokens", "%zu", st.n_tokens);
    json_object_set_new(s->details, "readerCount", json_integer((json_int_t)st.n_readers));
    json_object_set_new(s->details, "tokenCount", json_integer((json_int_t)st.n_tokens));
}

/* --- what only an administrator can do ------------------------------------------ */

static bool check_says(const struct env_report *rep, const char *id, enum env_msg found)
{
    const struct env_check *c = env_report_find(rep, id);

    return c && c->found.msg == found;
}

static void manual_steps(const struct env_report *rep, struct steps *list)
{
    const struct env_check *clock = env_report_find(rep, "clock.skew");
    struct step *s;

    if (check_says(rep, "pcsc.drivers", ENV_DRIVERS_NO_CCID) &&
        (s = step_add(list, "install-ccid")))
        step_say(s, STEP_MANUAL, ENV_REPAIR_INSTALL_CCID, CMD_INSTALL_CCID);
    if (check_says(rep, "pcsc.systemd", ENV_SYSTEMD_MISSING) &&
        (s = step_add(list, "install-pcscd")))
        step_say(s, STEP_MANUAL, ENV_REPAIR_INSTALL_PCSCD, CMD_INSTALL_PCSCD);
    if (clock && clock->state != ENV_OK &&
        (clock->found.msg == ENV_CLOCK_AHEAD || clock->found.msg == ENV_CLOCK_BEHIND) &&
        (s = step_add(list, "sync-clock"))) {
        step_say(s, STEP_MANUAL, ENV_REPAIR_SYNC_CLOCK, CMD_SYNC_CLOCK);
        env_words_arg(&s->message, "skew", "%lld",
                      llabs(json_integer_value(json_object_get(clock->details, "skewSeconds"))));
    }
}

/* --- the answer ------------------------------------------------------------------ */

static json_t *step_json(const struct step *s, enum api_lang lang)
{
    char *message = env_text_render(&s->message, lang);
    json_t *v = json_pack("{s:s, s:s, s:o, s:o, s:O}", "id", s->id, "state",
                          step_state_names[s->state], "message",
                          message ? json_string(message) : json_null(), "command",
                          s->command ? json_string(s->command) : json_null(), "details",
                          s->details);

    free(message);
    return v;
}

static json_t *repair_body(const struct steps *list, json_t *report, enum api_lang lang)
{
    json_t *steps = json_array();

    for (size_t i = 0; steps && i < list->n; i++) {
        if (json_array_append_new(steps, step_json(&list->items[i], lang))) {
            json_decref(steps);
            steps = NULL;
        }
    }
    if (!steps || !report) {
        json_decref(steps);
        json_decref(report);
        return NULL;
    }
    return json_pack("{s:O, s:o, s:o}", "state", json_object_get(report, "state"), "steps",
                     steps, "environment", report);
}

json_t *environment_repair(struct environment *env, const struct env_config *cfg,
                           enum api_lang lang, const char *request_id)
{
    struct steps list = { .n = 0 };
    struct env_report rep = { 0 };
    struct timespec t0;
    time_t checked_at;
    json_t *body = NULL;
    int rc;

    environment_repair_lock(env);
    restart_step(env, cfg, request_id, &list);
    rescan_step(environment_tokens(env), &list);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    checked_at = time(NULL);
    rc = env_collect(env, cfg, &rep);
    if (rc == 0)
        manual_steps(&rep, &list);
    environment_repair_unlock(env);
    if (rc == 0) {
        body = repair_body(&list, env_report_body(&rep, lang, checked_at, ms_since(&t0),
                                                  cfg->timeout_ms),
                           lang);
        env_report_free(&rep);
    }
    steps_free(&list);
    return body;
}
