/* SPDX-License-Identifier: MIT */
/*
 * api/server.h — the HTTP server of the API as daemon/ drives it: started on
 * listening sockets the caller made (or systemd passed), reloaded with new
 * settings while connections stay open, stopped after the requests in flight
 * have finished.
 */
#ifndef UKEYD_API_SERVER_H
#define UKEYD_API_SERVER_H

#include <stddef.h>

#include "api/lang.h"
#include "token/token.h"

struct api_server;

/* Fixed for the life of a server. */
struct api_limits {
    unsigned max_connections;      /* per listening socket */
    unsigned max_streams;          /* concurrent GET /v1/events, all sockets together */
    unsigned connection_timeout_s; /* idle time before a connection is closed */
    unsigned threads;              /* worker threads per listening socket */
    unsigned heartbeat_s;          /* SSE heartbeat comment interval */
};

/* What SIGHUP can change. Strings are copied. */
struct api_settings {
    const char *const *origins;
    size_t n_origins;
    enum api_lang language;        /* when Accept-Language names neither language */
};

/* Listening sockets must be bound to loopback addresses (the caller checks)
 * and already listening; the caller keeps them (the server uses duplicates).
 * json_wipe_install() must have run. Returns 0, or -1 after logging why. */
int api_server_start(struct token_service *svc, const int *fds, size_t n_fds,
                     const struct api_limits *limits, const struct api_settings *settings,
                     struct api_server **out);

/* Returns 0, or -1 (out of memory: the old settings stay). */
int api_server_reload(struct api_server *server, const struct api_settings *settings);

/* Stops accepting, ends event streams, lets requests in flight finish, frees. */
void api_server_stop(struct api_server *server);

#endif
