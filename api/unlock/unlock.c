/* SPDX-License-Identifier: MIT */
/*
 * api/unlock/unlock.c — the unlock service's life: configuration, the
 * rotation journal, the rotation lock, and its recovery job.
 *
 * One rotation lock serialises every card-and-journal step (`complete` and
 * recovery alike): the journal then never has two writers, and a recovery
 * never races the `complete` whose record it reads. Only PUK rotations take
 * it; opening sessions, SMS and verification do not.
 *
 * The recovery worker (api/base/recovery.h, run by the wiring) calls
 * unlock_recover_all; a `complete` that left a record wakes it.
 */
#include "api/unlock/unlock.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/base/log.h"

#define SESSIONS_MAX         32
#define SESSION_LIFE_S       86400      /* as long as the CA's requests live by default */
#define WHY_MAX              320

struct unlock_service {
    struct token_service *svc;
    struct session_table *sessions;
    bool enabled;
    const struct ca_client *ca;          /* the wiring's */
    struct recovery_worker *recovery;    /* the wiring's */
    struct journal *journal;
    struct rotation_env env;
    pthread_mutex_t rotation_lock;
};

/* --- set-up ------------------------------------------------------------------------ */

/* The journal; false (logged) when the unlock must stay off. */
static bool set_up_rotation(struct unlock_service *u, const struct unlock_config *cfg,
                            const struct unlock_deps *deps)
{
    char why[WHY_MAX];

    if (journal_open(cfg->state_directory, &u->journal, why, sizeof why) < 0) {
        log_msg(LOG_ERR, NULL, "remote unlock off: state directory: %s", why);
        return false;
    }
    u->env = (struct rotation_env){ .svc = u->svc, .journal = u->journal, .ca = deps->ca,
                                    .ca_cfg = ca_client_config_of(deps->ca),
                                    .crash_after = deps->crash_after };
    return true;
}

int unlock_service_new(struct token_service *svc, const struct unlock_config *cfg,
                       const struct unlock_deps *deps, struct unlock_service **out)
{
    struct unlock_service *u = calloc(1, sizeof *u);

    *out = NULL;
    if (!u)
        return -1;
    u->svc = svc;
    u->ca = deps->ca;
    u->recovery = deps->recovery;
    pthread_mutex_init(&u->rotation_lock, NULL);
    if (!(u->sessions = session_table_new(SESSIONS_MAX, cfg->session_idle_s, SESSION_LIFE_S))) {
        unlock_service_free(u);
        return -1;
    }
    if (deps->ca && set_up_rotation(u, cfg, deps)) {
        u->enabled = true;
        log_msg(LOG_INFO, NULL, "remote unlock on: service %s", ca_client_base_url(u->ca));
    }
    *out = u;
    return 0;
}

void unlock_service_free(struct unlock_service *u)
{
    if (!u)
        return;
    journal_close(u->journal);
    session_table_free(u->sessions);
    pthread_mutex_destroy(&u->rotation_lock);
    free(u);
}

/* --- for the handlers ------------------------------------------------------------- */

bool unlock_enabled(const struct unlock_service *u)
{
    return u && u->enabled;
}

const struct ca_client *unlock_ca(const struct unlock_service *u)
{
    return u->ca;
}

struct session_table *unlock_sessions(struct unlock_service *u)
{
    return u->sessions;
}

void unlock_retry_soon(struct unlock_service *u)
{
    if (u && u->enabled)
        recovery_worker_wake(u->recovery);
}

enum recovery_result unlock_recover_all(void *arg)
{
    struct unlock_service *u = arg;
    enum recovery_result r;

    pthread_mutex_lock(&u->rotation_lock);
    r = rotation_recover(&u->env, NULL);
    pthread_mutex_unlock(&u->rotation_lock);
    return r;
}

/* A failure here needs no wake-up: a record that exists was either seen to
 * fail by the worker, which retries on its own schedule, or left by a
 * `complete`, which woke it. */
void unlock_recover_token(struct unlock_service *u, const char *token_id)
{
    pthread_mutex_lock(&u->rotation_lock);
    rotation_recover(&u->env, token_id);
    pthread_mutex_unlock(&u->rotation_lock);
}

int unlock_complete(struct unlock_service *u, const char *token_id, const char *request_id,
                    const char *new_pin, int *pin_tries, struct unlock_error *e)
{
    bool left_pending = false;
    int rc;

    pthread_mutex_lock(&u->rotation_lock);
    rc = rotation_complete(&u->env, token_id, request_id, new_pin, pin_tries, e, &left_pending);
    pthread_mutex_unlock(&u->rotation_lock);
    if (left_pending)
        recovery_worker_wake(u->recovery);
    return rc;
}
