/* SPDX-License-Identifier: MIT */
/*
 * api/v1/environment_api.c — GET /v1/environment and POST
 * /v1/environment/repair: the request's side of the environment check and
 * repair (api/env/environment.h), which know nothing of HTTP. The browser
 * check needs the server's allow-list, which only the front holds.
 */
#include <pthread.h>

#include "api/env/environment.h"
#include "api/http/guard.h"
#include "api/v1/handlers.h"

/* The settings now, with the allow-list as the request's server has it now. */
static int take_config(struct request *r, struct env_config *cfg)
{
    struct api_context *ctx = r->ctx;
    const struct origin_list *list;
    int rc;

    if (env_config_take(ctx->environment, cfg) < 0)
        return -1;
    pthread_rwlock_rdlock(&ctx->settings_lock);
    list = ctx->origins;
    rc = list ? env_config_add_origins(cfg, (const char *const *)list->origins, list->n) : 0;
    pthread_rwlock_unlock(&ctx->settings_lock);
    if (rc < 0)
        env_config_free(cfg);
    return rc;
}

void handle_environment(struct request *r)
{
    struct env_config cfg;

    if (take_config(r, &cfg) < 0) {
        respond_code(r, API_INTERNAL);
        return;
    }
    respond_json(r, MHD_HTTP_OK, environment_check(r->ctx->environment, &cfg, r->lang,
                                                   &r->started));
    env_config_free(&cfg);
}

/* The body may be empty or {}: a repair takes no input at all. */
static bool body_is_empty(struct request *r)
{
    json_t *body;

    if (r->body_len == 0)
        return true;
    body = request_body_fields(r, NULL, 0);
    json_decref(body);
    return body != NULL;
}

void handle_environment_repair(struct request *r)
{
    struct env_config cfg;

    if (!body_is_empty(r))
        return;
    if (take_config(r, &cfg) < 0) {
        respond_code(r, API_INTERNAL);
        return;
    }
    respond_json(r, MHD_HTTP_OK, environment_repair(r->ctx->environment, &cfg, r->lang, r->id));
    env_config_free(&cfg);
}
