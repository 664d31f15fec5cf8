/* SPDX-License-Identifier: MIT */
/*
 * api/app.h — the API layer as daemon/ drives it, its one door: started on
 * listening sockets the caller made (or systemd passed), reloaded with new
 * settings while connections stay open, stopped after the requests in flight
 * have finished. api/app.c is the wiring: the one place that builds,
 * reloads and stops the subsystems (docs/architecture.md).
 */
#ifndef UKEYD_API_APP_H
#define UKEYD_API_APP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "api/env/environment.h"
#include "api/http/server.h"
#include "api/render/lang.h"
#include "api/peer/peerpolicy.h"
#include "api/unlock/unlock.h"
#include "token/token.h"

struct api_server;

/* Fixed for the life of a server. */
struct api_limits {
    struct http_limits front;      /* connections, threads (api/http/server.h) */
    unsigned max_streams;          /* concurrent GET /v1/events, all sockets together */
    unsigned heartbeat_s;          /* SSE heartbeat comment interval */
    const struct unlock_config *unlock; /* the remote unlock (api/unlock/unlock.h); start only */
};

/* What SIGHUP can change. Strings are copied. */
struct api_settings {
    struct http_settings front;    /* origins, language, peer policy, configuration view */
    struct environment_settings environment;  /* GET /v1/environment and its repair */
};

/* Listening sockets must be bound to loopback addresses (the caller checks)
 * and already listening; the caller keeps them (the server uses duplicates).
 * json_wipe_install() must have run. Returns 0, or -1 after logging why. */
int api_server_start(struct token_service *svc, const int *fds, size_t n_fds,
                     const struct api_limits *limits, const struct api_settings *settings,
                     struct api_server **out);

/* Serves the API, plus the support-only routes, on a listening AF_UNIX
 * socket the caller made and keeps: only root, or members of the support
 * group when `group_exists`, get answers (SO_PEERCRED). Returns 0, or -1
 * after logging why. */
int api_server_add_support(struct api_server *server, int fd, bool group_exists,
                           gid_t support_gid);

/* Returns 0, or -1 (out of memory: the old settings stay). */
int api_server_reload(struct api_server *server, const struct api_settings *settings);

/* Stops accepting, ends event streams, lets requests in flight finish, frees. */
void api_server_stop(struct api_server *server);

#endif
