/* SPDX-License-Identifier: MIT */
/*
 * api/unlock/unlock.c — the unlock service's life: configuration, the rotation
 * lock, and the recovery worker.
 *
 * One rotation lock serialises every card-and-journal step (`complete` and
 * recovery alike): the journal then never has two writers, and a recovery
 * never races the `complete` whose record it reads. Only PUK rotations take
 * it; opening sessions, SMS and verification do not.
 *
 * The worker sleeps until it is woken (start-up, a token inserted, pcscd
 * back, a `complete` that left a record) or its back-off ends; it retries
 * while the CA service is unreachable, doubling the wait up to a limit.
 */
#include "api/unlock/unlock.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/base/log.h"

#define SESSIONS_MAX         32
#define SESSION_LIFE_S       86400      /* as long as the CA's requests live by default */
#define BACKOFF_FIRST_S      5
#define BACKOFF_MAX_S        300
#define MS_PER_S             1000
#define WHY_MAX              320

struct unlock_service {
    struct token_service *svc;
    struct session_table *sessions;
    bool enabled;
    struct ca_client *ca;
    char *ca_bundle;                     /* behind env.ca_cfg */
    char *crash_after;                   /* behind env.crash_after */
    struct journal *journal;
    struct rotation_env env;
    struct certwrite *certwrite;         /* NULL when off */
    bool curl_ready;
    pthread_mutex_t rotation_lock;

    pthread_mutex_t wake_lock;
    pthread_cond_t wake;                 /* CLOCK_MONOTONIC */
    bool wake_pending;
    bool stopping;
    pthread_t worker;
    bool worker_started;
    unsigned subscription;
};

/* --- the recovery worker -------------------------------------------------------- */

static void wake_worker(struct unlock_service *u)
{
    pthread_mutex_lock(&u->wake_lock);
    u->wake_pending = true;
    pthread_cond_signal(&u->wake);
    pthread_mutex_unlock(&u->wake_lock);
}

static void on_token_event(const struct token_event *ev, void *userdata)
{
    if (ev->kind == TOKEN_EV_TOKEN_INSERTED || ev->kind == TOKEN_EV_PCSC_BACK)
        wake_worker(userdata);
}

static struct timespec deadline_after(unsigned seconds)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += seconds;
    return t;
}

/* Waits for a wake-up, or for `backoff_s` when it is not 0; false when stopping. */
static bool wait_for_work(struct unlock_service *u, unsigned backoff_s)
{
    struct timespec deadline = deadline_after(backoff_s);
    bool timed_out = false, go;

    pthread_mutex_lock(&u->wake_lock);
    while (!u->stopping && !u->wake_pending && !timed_out) {
        if (backoff_s)
            timed_out = pthread_cond_timedwait(&u->wake, &u->wake_lock, &deadline) == ETIMEDOUT;
        else
            pthread_cond_wait(&u->wake, &u->wake_lock);
    }
    u->wake_pending = false;
    go = !u->stopping;
    pthread_mutex_unlock(&u->wake_lock);
    return go;
}

static unsigned next_backoff(unsigned backoff_s)
{
    if (backoff_s == 0)
        return BACKOFF_FIRST_S;
    return backoff_s >= BACKOFF_MAX_S / 2 ? BACKOFF_MAX_S : backoff_s * 2;
}

static enum recovery_result worse(enum recovery_result a, enum recovery_result b)
{
    return a > b ? a : b;
}

static void *recovery_worker(void *arg)
{
    struct unlock_service *u = arg;
    unsigned backoff_s = 0;
    enum recovery_result r;

    while (wait_for_work(u, backoff_s)) {
        pthread_mutex_lock(&u->rotation_lock);
        r = rotation_recover(&u->env, NULL);
        pthread_mutex_unlock(&u->rotation_lock);
        r = worse(r, certwrite_recover(u->certwrite, NULL));
        /* An absent token is waited for by its insertion, not by polling. */
        backoff_s = r == RECOVERY_SERVICE_DOWN || r == RECOVERY_FAILED ? next_backoff(backoff_s)
                                                                       : 0;
        if (backoff_s)
            log_msg(LOG_NOTICE, NULL, "unlock: a rotation is pending; retrying in %u s "
                    "(or a certificate write)", backoff_s);
    }
    return NULL;
}

static int start_worker(struct unlock_service *u)
{
    u->subscription = token_service_subscribe(u->svc, on_token_event, u);
    if (!u->subscription)
        return -1;
    u->wake_pending = true;              /* the start-up recovery */
    if (pthread_create(&u->worker, NULL, recovery_worker, u) != 0)
        return -1;
    u->worker_started = true;
    return 0;
}

/* --- set-up ------------------------------------------------------------------------ */

static int init_sync(struct unlock_service *u)
{
    pthread_condattr_t attr;
    int rc;

    if (pthread_condattr_init(&attr) != 0)
        return -1;
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0 &&
                 pthread_cond_init(&u->wake, &attr) == 0
             ? 0
             : -1;
    pthread_condattr_destroy(&attr);
    if (rc < 0)
        return -1;
    pthread_mutex_init(&u->wake_lock, NULL);
    pthread_mutex_init(&u->rotation_lock, NULL);
    return 0;
}

/* The certificate writes, on the same client; false only when out of memory. */
static bool set_up_certwrite(struct unlock_service *u, const struct unlock_config *cfg,
                             const struct ca_client_config *ccfg)
{
    const char *crash = u->crash_after && strncmp(u->crash_after, CERTWRITE_CRASH_PREFIX,
                                                  strlen(CERTWRITE_CRASH_PREFIX)) == 0
                            ? u->crash_after
                            : NULL;
    struct certwrite_config cw = { .svc = u->svc, .ca = u->ca, .ca_cfg = *ccfg,
                                   .state_directory = cfg->state_directory,
                                   .ca_roots = cfg->ca_roots, .crash_after = crash };

    return certwrite_new(&cw, &u->certwrite) == 0;
}

/* The CA client and the journal; false (logged) when the unlock must stay off. */
static bool set_up_rotation(struct unlock_service *u, const struct unlock_config *cfg)
{
    struct ca_client_config ccfg = { .base_url = cfg->ca_service_url, .ca_bundle = u->ca_bundle,
                                     .connect_timeout_ms = cfg->connect_timeout_s * MS_PER_S,
                                     .timeout_ms = cfg->timeout_s * MS_PER_S };
    char why[WHY_MAX];

    if (!ca_url_check(cfg->ca_service_url, why, sizeof why)) {
        log_msg(LOG_ERR, NULL, "remote unlock off: ca-service-url %s", why);
        return false;
    }
    if (ca_client_new(&ccfg, &u->ca) != CA_OK)
        return false;
    if (journal_open(cfg->state_directory, &u->journal, why, sizeof why) < 0) {
        log_msg(LOG_ERR, NULL, "remote unlock off: state directory: %s", why);
        return false;
    }
    ccfg.base_url = ca_client_base_url(u->ca);   /* the caller's string does not outlive us */
    u->env = (struct rotation_env){ .svc = u->svc, .journal = u->journal, .ca = u->ca,
                                    .ca_cfg = ccfg, .crash_after = u->crash_after };
    return set_up_certwrite(u, cfg, &ccfg);
}

static int copy_settings(struct unlock_service *u, const struct unlock_config *cfg)
{
    const char *crash = getenv(UNLOCK_CRASH_ENV);

    if (cfg->ca_bundle && !(u->ca_bundle = strdup(cfg->ca_bundle)))
        return -1;
    if (crash && *crash) {
        if (!(u->crash_after = strdup(crash)))
            return -1;
        log_msg(LOG_WARNING, NULL, "test hook " UNLOCK_CRASH_ENV "=%s is set: ukeyd kills itself "
                "at that unlock step (never set it outside tests)", u->crash_after);
    }
    return 0;
}

int unlock_service_new(struct token_service *svc, const struct unlock_config *cfg,
                       struct unlock_service **out)
{
    struct unlock_service *u = calloc(1, sizeof *u);

    *out = NULL;
    if (!u)
        return -1;
    u->svc = svc;
    if (init_sync(u) < 0) {
        free(u);
        return -1;
    }
    if (!(u->sessions = session_table_new(SESSIONS_MAX, cfg->session_idle_s, SESSION_LIFE_S)) ||
        copy_settings(u, cfg) < 0)
        goto fail;
    if (!cfg->ca_service_url) {
        log_msg(LOG_INFO, NULL, "remote unlock off: no ca-service-url configured");
        *out = u;
        return 0;
    }
    if (ca_client_global_init() < 0)
        goto fail;
    u->curl_ready = true;
    if (set_up_rotation(u, cfg)) {
        if (start_worker(u) < 0)
            goto fail;
        u->enabled = true;
        log_msg(LOG_INFO, NULL, "remote unlock on: service %s", ca_client_base_url(u->ca));
    }
    *out = u;
    return 0;
fail:
    unlock_service_free(u);
    return -1;
}

static void stop_worker(struct unlock_service *u)
{
    if (u->subscription)
        token_service_unsubscribe(u->svc, u->subscription);
    if (!u->worker_started)
        return;
    pthread_mutex_lock(&u->wake_lock);
    u->stopping = true;
    pthread_cond_signal(&u->wake);
    pthread_mutex_unlock(&u->wake_lock);
    pthread_join(u->worker, NULL);
}

void unlock_service_free(struct unlock_service *u)
{
    if (!u)
        return;
    stop_worker(u);
    certwrite_free(u->certwrite);
    journal_close(u->journal);
    ca_client_free(u->ca);
    if (u->curl_ready)
        ca_client_global_cleanup();
    session_table_free(u->sessions);
    free(u->ca_bundle);
    free(u->crash_after);
    pthread_cond_destroy(&u->wake);
    pthread_mutex_destroy(&u->wake_lock);
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

struct certwrite *unlock_certwrite(struct unlock_service *u)
{
    return u && u->enabled ? u->certwrite : NULL;
}

void unlock_retry_soon(struct unlock_service *u)
{
    if (u && u->enabled)
        wake_worker(u);
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
        wake_worker(u);
    return rc;
}
