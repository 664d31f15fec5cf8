/* SPDX-License-Identifier: MIT */
/*
 * api/v1/status.c — GET /v1/status and GET /v1/readers: what support staff ask
 * for first. Status answers even when pcscd is down (that is news to report,
 * not an error); the reader list cannot.
 */
#include "api/v1/handlers.h"
#include "api/http/peer.h"
#include "api/render/render.h"

static unsigned long uptime_seconds(const struct api_context *ctx)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (unsigned long)(now.tv_sec - ctx->started.tv_sec);
}

/* Which local accounts may connect (api/peer/peerpolicy.h), so that a portal or
 * support can tell "refused by policy" from "not running". */
static json_t *with_peer_policy(struct api_context *ctx, json_t *status)
{
    if (!status)
        return NULL;
    if (json_object_set_new(status, "peerPolicy", peer_policy_json(ctx)) < 0) {
        json_decref(status);
        return NULL;
    }
    return status;
}

void handle_status(struct request *r)
{
    struct token_status st = { 0 };
    token_err err = token_service_status(request_tokens(r), &st);

    if (err == TOKEN_E_PCSC_UNAVAILABLE)
        st = (struct token_status){ .pcsc_available = false };
    else if (err != TOKEN_OK) {
        respond_token_error(r, err, -1);
        return;
    }
    respond_json(r, MHD_HTTP_OK,
                 with_peer_policy(r->ctx, render_status(&st, uptime_seconds(r->ctx))));
}

void handle_readers(struct request *r)
{
    struct token_reader *readers = NULL;
    size_t n = 0;
    token_err err = token_service_readers(request_tokens(r), &readers, &n);

    if (err != TOKEN_OK) {
        respond_token_error(r, err, -1);
        return;
    }
    respond_json(r, MHD_HTTP_OK, render_readers(readers, n));
    token_readers_free(readers, n);
}
