/* SPDX-License-Identifier: MIT */
/*
 * api/http/server.h — the HTTP front (libmicrohttpd) as the wiring
 * (api/app.c) drives it: made, given its context (route tables, event hub,
 * workflows), listening on sockets the caller made, its settings replaced
 * while connections stay open, then quiesced, drained and freed. It knows
 * nothing of PINs or the CA: handlers do.
 */
#ifndef UKEYD_API_HTTP_SERVER_H
#define UKEYD_API_HTTP_SERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "api/http/request.h"
#include "api/peer/peerpolicy.h"
#include "api/render/lang.h"
#include "token/token.h"

struct http_server;

/* Fixed for the life of a server. */
struct http_limits {
    unsigned max_connections;      /* per listening socket */
    unsigned max_connections_per_user; /* TCP connections one UID holds, all sockets together */
    unsigned connection_timeout_s; /* idle time before a connection is closed */
    unsigned threads;              /* worker threads per listening socket */
};

/* What a reload can change in the front. Strings are copied. */
struct http_settings {
    const char *const *origins;
    size_t n_origins;
    enum api_lang language;        /* when Accept-Language names neither language */
    struct peer_policy_config peer; /* who may connect; names are resolved at each load */
    json_t *config_view;           /* the effective configuration for support diagnostics,
                                    * or NULL; the server takes its own reference */
};

/* NULL when out of memory. The context's workflows and route tables are the
 * caller's to fill (http_server_context) before listening. */
struct http_server *http_server_new(struct token_service *svc, const struct http_limits *limits);
struct api_context *http_server_context(struct http_server *server);

/* Returns 0, or -1 (out of memory: the old settings stay). */
int http_server_apply(struct http_server *server, const struct http_settings *settings);

/* Listening sockets bound to loopback and listening; the caller keeps them
 * (the server uses duplicates). 0, or -1 after logging why. */
int http_server_listen(struct http_server *server, const int *fds, size_t n_fds);
/* The support socket (AF_UNIX): only root, or members of the support group
 * when `group_exists`, get answers (SO_PEERCRED). 0, or -1 after logging why. */
int http_server_add_support(struct http_server *server, int fd, bool group_exists,
                            gid_t support_gid);

/* Stops accepting connections. */
void http_server_quiesce(struct http_server *server);
/* Waits a while for the requests in flight to be answered. */
void http_server_drain(struct http_server *server);
/* Stops the daemons (joining their threads) and frees; NULL is fine. */
void http_server_free(struct http_server *server);

#endif
