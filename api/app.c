/* SPDX-License-Identifier: MIT */
/*
 * api/app.c — the wiring: the one place that builds, reloads and stops the
 * API layer's subsystems, in order. It makes the CA client both workflows
 * talk to, the unlock service, the certificate writes, the one recovery
 * worker that finishes what either journal left, the event hub and the
 * environment check; hands them and the v1 route tables to the HTTP front
 * (api/http/server.h) through its context; and stops them the other way
 * round once the front has let its requests finish.
 */
#include "api/app.h"

#include <stdlib.h>
#include <string.h>

#include "api/base/json.h"
#include "api/base/log.h"
#include "api/base/recovery.h"
#include "api/certwrite/certwrite.h"
#include "api/env/environment.h"
#include "api/http/events.h"
#include "api/http/server.h"
#include "api/render/rendercache.h"
#include "api/v1/diag.h"
#include "api/v1/routes.h"
#include "api/base/timeutil.h"

#define WHY_MAX    320

struct api_server {
    struct http_server *http;
    struct token_service *svc;
    struct environment *environment;
    struct events_hub *hub;
    /* The CA workflows. */
    bool curl_ready;
    struct ca_client *ca;                /* NULL: no CA service, or a bad one (logged) */
    char *crash_after;                   /* the test hook's step, or NULL */
    struct unlock_service *unlock;
    struct certwrite *certwrite;         /* NULL when off */
    struct recovery_worker *recovery;
    unsigned subscription;               /* token events that wake the recovery */
};

/* --- the CA workflows --------------------------------------------------------------- */

static int read_crash_hook(struct api_server *a)
{
    const char *crash = getenv(UNLOCK_CRASH_ENV);

    if (!crash || !*crash)
        return 0;
    if (!(a->crash_after = strdup(crash)))
        return -1;
    log_msg(LOG_WARNING, NULL, "test hook " UNLOCK_CRASH_ENV "=%s is set: ukeyd kills (or, "
            "with stop:, stops) itself at that unlock step (never set it outside tests)", a->crash_after);
    return 0;
}

/* The CA service's client; none (logged) leaves the workflows off. -1 only
 * when libcurl cannot start. */
static int open_ca(struct api_server *a, const struct unlock_config *cfg)
{
    const struct ca_client_config ccfg = {
        .base_url = cfg->ca_service_url, .ca_bundle = cfg->ca_bundle,
        .connect_timeout_ms = cfg->connect_timeout_s * MS_PER_SEC,
        .timeout_ms = cfg->timeout_s * MS_PER_SEC,
    };
    char why[WHY_MAX];

    if (!cfg->ca_service_url) {
        log_msg(LOG_INFO, NULL, "remote unlock off: no ca-service-url configured");
        return 0;
    }
    if (ca_client_global_init() < 0)
        return -1;
    a->curl_ready = true;
    if (!ca_url_check(cfg->ca_service_url, why, sizeof why)) {
        log_msg(LOG_ERR, NULL, "remote unlock off: ca-service-url %s", why);
        return 0;
    }
    if (ca_client_new(&ccfg, &a->ca) != CA_OK)
        a->ca = NULL;
    return 0;
}

/* Certificate writes run where the unlock runs, on the same client. */
static int start_certwrite(struct api_server *a, const struct unlock_config *cfg)
{
    const char *crash = a->crash_after && strncmp(a->crash_after, CERTWRITE_CRASH_PREFIX,
                                                  strlen(CERTWRITE_CRASH_PREFIX)) == 0
                            ? a->crash_after
                            : NULL;
    const struct certwrite_config cw = {
        .svc = a->svc, .ca = a->ca, .ca_cfg = ca_client_config_of(a->ca),
        .state_directory = cfg->state_directory, .ca_roots = cfg->ca_roots, .crash_after = crash,
    };

    return certwrite_new(&cw, &a->certwrite);
}

static void on_token_event(const struct token_event *ev, void *userdata)
{
    if (ev->kind == TOKEN_EV_TOKEN_INSERTED || ev->kind == TOKEN_EV_PCSC_BACK)
        recovery_worker_wake(userdata);
}

/* The one recovery worker, for both journals; woken by token events. */
static int start_recovery(struct api_server *a)
{
    if (recovery_worker_add(a->recovery, unlock_recover_all, a->unlock) < 0 ||
        recovery_worker_add(a->recovery, certwrite_recover_all, a->certwrite) < 0 ||
        !(a->subscription = token_service_subscribe(a->svc, on_token_event, a->recovery)))
        return -1;
    return recovery_worker_start(a->recovery);
}

/* The remote unlock and the certificate writes; without a configuration
 * they are off and say so. */
static int start_workflows(struct api_server *a, const struct unlock_config *given)
{
    static const struct unlock_config off = { .session_idle_s = UNLOCK_DEFAULT_SESSION_IDLE_S };
    const struct unlock_config *cfg = given ? given : &off;
    struct unlock_deps deps;

    if (read_crash_hook(a) < 0 || !(a->recovery = recovery_worker_new()) || open_ca(a, cfg) < 0)
        return -1;
    deps = (struct unlock_deps){ .ca = a->ca, .recovery = a->recovery,
                                 .crash_after = a->crash_after };
    if (unlock_service_new(a->svc, cfg, &deps, &a->unlock) < 0)
        return -1;
    if (!unlock_enabled(a->unlock))
        return 0;
    if (start_certwrite(a, cfg) < 0)
        return -1;
    return start_recovery(a);
}

static void stop_workflows(struct api_server *a)
{
    if (a->subscription)
        token_service_unsubscribe(a->svc, a->subscription);
    /* After the pass in hand: no job runs once the services go. */
    recovery_worker_free(a->recovery);
    certwrite_free(a->certwrite);
    unlock_service_free(a->unlock);
    ca_client_free(a->ca);
    if (a->curl_ready)
        ca_client_global_cleanup();
    free(a->crash_after);
}

/* --- start, reload, stop -------------------------------------------------------------- */

static int apply_settings(struct api_server *a, const struct api_settings *settings)
{
    if (environment_configure(a->environment, &settings->environment) < 0)
        return -1;
    return http_server_apply(a->http, &settings->front);
}

static void app_free(struct api_server *a)
{
    /* The front first: its daemons stop, and no handler uses the rest. */
    http_server_free(a->http);
    stop_workflows(a);
    /* Waits for environment checks still running on their own threads. */
    environment_free(a->environment);
    events_hub_free(a->hub);
    free(a);
}

/* What the handlers reach through the front's context. */
static void hand_to_front(struct api_server *a)
{
    struct api_context *ctx = http_server_context(a->http);

    ctx->routes_web.routes = api_routes_web(&ctx->routes_web.n);
    ctx->routes_support.routes = api_routes(&ctx->routes_support.n);
    ctx->hub = a->hub;
    ctx->environment = a->environment;
    ctx->unlock = a->unlock;
    ctx->certwrite = a->certwrite;
    ctx->recovery = a->recovery;
}

int api_server_start(struct token_service *svc, const int *fds, size_t n_fds,
                     const struct api_limits *limits, const struct api_settings *settings,
                     struct api_server **out)
{
    struct api_server *a;

    *out = NULL;
    if (!json_wipe_installed()) {
        /* Installing it now could free blocks jansson took from malloc. */
        log_msg(LOG_ERR, NULL, "json_wipe_install() must run before the server starts");
        return -1;
    }
    if (!(a = calloc(1, sizeof *a)))
        return -1;
    a->svc = svc;
    diag_start();   /* before the settings, whose peer policy line support wants to see */
    if (!(a->http = http_server_new(svc, &limits->front)) ||
        !(a->environment = environment_new(svc)) || apply_settings(a, settings) < 0 ||
        !(a->hub = events_hub_new(svc, limits->max_streams, limits->heartbeat_s)) ||
        start_workflows(a, limits->unlock) < 0) {
        app_free(a);
        return -1;
    }
    hand_to_front(a);
    if (http_server_listen(a->http, fds, n_fds) < 0) {
        app_free(a);
        return -1;
    }
    *out = a;
    return 0;
}

int api_server_add_support(struct api_server *a, int fd, bool group_exists, gid_t support_gid)
{
    return http_server_add_support(a->http, fd, group_exists, support_gid);
}

int api_server_reload(struct api_server *a, const struct api_settings *settings)
{
    return apply_settings(a, settings);
}

void api_server_stop(struct api_server *a)
{
    if (!a)
        return;
    http_server_quiesce(a->http);
    /* Streams end by themselves once the hub is closing. */
    events_hub_close_streams(a->hub);
    http_server_drain(a->http);
    app_free(a);
    rendercache_clear();   /* its snapshot references go before the token service does */
}
