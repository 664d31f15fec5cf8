/* SPDX-License-Identifier: MIT */
/*
 * api/http/peer.h — the account on the other end of each connection: found once
 * when the connection opens (netlink socket diagnostics on the TCP port,
 * SO_PEERCRED on the support socket), judged by the peer policy or the
 * support rule, and kept in libmicrohttpd's socket context until it closes.
 *
 * On the TCP port the peer is found at accept (peer_accept_tcp), where a
 * refused account past its couple of connections is closed before it holds
 * a slot. Every request is checked against the verdict before any guard or
 * handler runs. The transport also decides which Host names and which
 * routes (the tables the wiring hands in) a request gets.
 */
#ifndef UKEYD_API_PEER_H
#define UKEYD_API_PEER_H

#include <microhttpd.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "api/http/request.h"

struct admission_ticket;

enum peer_transport {
    PEER_TCP,                   /* the browser-facing loopback port */
    PEER_SUPPORT,               /* the support socket (AF_UNIX) */
};

struct peer {
    enum peer_transport transport;
    bool identified;
    uid_t uid;                  /* when identified */
    bool allowed;
    const char *why;            /* static English, for the log */
    struct admission_ticket *ticket;   /* api/http/admission.h; NULL when out of memory */
};

/* What the accept policy of one TCP listening socket needs: the socket's
 * own address completes the 4-tuple the kernel is asked about. */
struct peer_listener {
    struct api_context *ctx;
    struct sockaddr_storage ours;
};

/* libmicrohttpd's MHD_AcceptPolicyCallback for the TCP sockets; cls is a
 * struct peer_listener. Refuses, before the connection holds anything, a
 * peer nobody can identify and an account holding its share already
 * (api/http/admission.h): max-connections-per-user, or a couple for an account
 * the policy refuses. */
enum MHD_Result peer_accept_tcp(void *cls, const struct sockaddr *addr, socklen_t addrlen);

/* libmicrohttpd's MHD_OPTION_NOTIFY_CONNECTION callbacks; cls is the
 * server's struct api_context. */
void peer_on_tcp_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                            enum MHD_ConnectionNotificationCode code);
void peer_on_support_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                                enum MHD_ConnectionNotificationCode code);

/* The connection's peer; never NULL once a request has begun (a connection
 * whose peer could not even be recorded is one nobody is allowed on). */
const struct peer *peer_of_request(const struct request *r);

/* Answers 403 PEER_NOT_ALLOWED for a refused peer, and ORIGIN_FORBIDDEN for
 * a browser's request on the support socket (Origin or Sec-Fetch-*).
 * Returns true when the request has been answered so. */
bool peer_refuse_request(struct request *r);

/* The peer policy in force, as peer_policy_describe() shows it, for
 * GET /v1/status and the diagnostics (and the environment check); NULL
 * when out of memory. */
json_t *peer_policy_json(struct api_context *ctx);

/* What the Host guard accepts and which routes exist, for this transport:
 * support-only routes are not even found on the TCP port. */
const struct guard_hosts *peer_hosts(const struct request *r);
const struct route *peer_routes(const struct request *r, size_t *n);

#endif
