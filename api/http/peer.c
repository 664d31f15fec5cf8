/* SPDX-License-Identifier: MIT */
/*
 * api/http/peer.c — the front's side of the peer check: identifying the peer
 * of each connection (api/peer/sockdiag.h) and judging it by the policy
 * (api/peer/peerpolicy.h) when it opens, and refusing its requests when it
 * is not allowed.
 *
 * The verdict is taken once, when the connection opens, and holds for the
 * connection's life: an event stream opened by the user at the desk keeps
 * running if they switch sessions, as a terminal they opened would. A
 * connection whose peer cannot be identified is refused like a stranger,
 * never let through.
 */
#include "api/http/peer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "api/http/admission.h"
#include "api/base/log.h"
#include "api/peer/peerpolicy.h"
#include "api/peer/sockdiag.h"


static const struct peer nobody = { .why = "connection not recorded" };

/* --- identifying ------------------------------------------------------- */

static int connection_fd(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

    return info ? info->connect_fd : -1;
}

static int tcp_peer_uid(struct MHD_Connection *conn, uid_t *uid)
{
    struct sockaddr_storage ours, theirs;
    socklen_t ours_len = sizeof ours, theirs_len = sizeof theirs;
    int fd = connection_fd(conn);

    if (fd < 0 || getsockname(fd, (struct sockaddr *)&ours, &ours_len) < 0 ||
        getpeername(fd, (struct sockaddr *)&theirs, &theirs_len) < 0)
        return -1;
    return sockdiag_tcp_owner((struct sockaddr *)&theirs, (struct sockaddr *)&ours, uid);
}

/* SO_PEERCRED's uid and gid, and SO_PEERGROUPS' supplementary groups: the
 * client's credentials when it connected, as the kernel recorded them. */
static int unix_peer_creds(int fd, struct peer_creds *c, gid_t *groups, size_t max)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    socklen_t groups_len = (socklen_t)(max * sizeof *groups);

    if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return -1;
    c->uid = cred.uid;
    c->gid = cred.gid;
    c->groups = groups;
    c->n_groups = 0;
    /* More groups than fit (ERANGE) leaves the primary group to decide. */
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &groups_len) == 0)
        c->n_groups = groups_len / sizeof *groups;
    return 0;
}

/* --- judging ----------------------------------------------------------- */

static struct peer_verdict policy_verdict(struct api_context *ctx, uid_t uid)
{
    struct peer_verdict v;

    pthread_rwlock_rdlock(&ctx->settings_lock);
    v = peer_policy_check(ctx->peer_policy, uid);
    pthread_rwlock_unlock(&ctx->settings_lock);
    return v;
}

/* The UID found at accept (api/http/admission.h) saves asking the kernel again. */
static void judge_tcp(struct api_context *ctx, struct MHD_Connection *conn, struct peer *p)
{
    struct peer_verdict v;

    if (!admission_ticket_uid(p->ticket, &p->uid) && tcp_peer_uid(conn, &p->uid) < 0) {
        p->why = "peer not identified";
        log_msg(LOG_NOTICE, NULL, "connection refused: its peer cannot be identified (%s)",
                strerror(errno));
        return;
    }
    p->identified = true;
    v = policy_verdict(ctx, p->uid);
    p->allowed = v.allowed;
    p->why = v.why;
    log_msg(v.allowed ? LOG_DEBUG : LOG_NOTICE, NULL, "connection from uid %u %s: %s",
            (unsigned)p->uid, v.allowed ? "allowed" : "refused", v.why);
}

static void judge_support(struct api_context *ctx, struct MHD_Connection *conn, struct peer *p)
{
    gid_t groups[PEER_GROUPS_MAX];
    struct peer_creds creds;

    if (unix_peer_creds(connection_fd(conn), &creds, groups, PEER_GROUPS_MAX) < 0) {
        p->why = "peer not identified";
        log_msg(LOG_NOTICE, NULL, "support connection refused: no peer credentials (%s)",
                strerror(errno));
        return;
    }
    p->identified = true;
    p->uid = creds.uid;
    p->allowed = peer_support_allowed(&creds, ctx->support_group_exists, ctx->support_gid);
    p->why = p->allowed ? "root or in the support group" : "not root nor in the support group";
    log_msg(p->allowed ? LOG_DEBUG : LOG_NOTICE, NULL, "support connection from uid %u %s: %s",
            (unsigned)p->uid, p->allowed ? "allowed" : "refused", p->why);
}

typedef void (*judge_fn)(struct api_context *ctx, struct MHD_Connection *conn, struct peer *p);

static void on_connection(struct api_context *ctx, enum peer_transport transport, judge_fn judge,
                          struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct peer *p;

    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        p = *socket_context;
        if (p)
            admission_leave(p->ticket);
        free(p);
        *socket_context = NULL;
        return;
    }
    p = calloc(1, sizeof *p);
    *socket_context = p;
    if (!p)
        return;   /* refused (peer_of_request); its reservation goes at the next accept */
    p->transport = transport;
    p->ticket = admission_enter(ctx->admission, connection_fd(conn));
    judge(ctx, conn, p);
}

/*
 * Before libmicrohttpd gives the connection anything: a peer nobody can
 * identify, and an account holding its share of connections already, are
 * closed here. A peer the policy refuses has a share too, of a couple of
 * connections: enough for the portal to learn why (PEER_NOT_ALLOWED), too
 * few to matter; each is closed after that answer.
 */
enum MHD_Result peer_accept_tcp(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    const struct peer_listener *l = cls;
    struct peer_verdict v;
    uid_t uid;

    (void)addrlen;
    if (sockdiag_tcp_owner(addr, (const struct sockaddr *)&l->ours, &uid) < 0) {
        log_msg(LOG_NOTICE, NULL, "connection refused: its peer cannot be identified (%s)",
                strerror(errno));
        return MHD_NO;
    }
    v = policy_verdict(l->ctx, uid);
    if (admission_reserve(l->ctx->admission, uid, v.allowed))
        return MHD_YES;
    if (v.allowed)
        log_msg(LOG_NOTICE, NULL,
                "connection from uid %u refused: it holds max-connections-per-user already",
                (unsigned)uid);
    else
        log_msg(LOG_NOTICE, NULL, "connection from uid %u refused at accept: %s", (unsigned)uid,
                v.why);
    return MHD_NO;
}

void peer_on_tcp_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                            enum MHD_ConnectionNotificationCode code)
{
    on_connection(cls, PEER_TCP, judge_tcp, conn, socket_context, code);
}

void peer_on_support_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                                enum MHD_ConnectionNotificationCode code)
{
    on_connection(cls, PEER_SUPPORT, judge_support, conn, socket_context, code);
}

/* --- requests ---------------------------------------------------------- */

const struct peer *peer_of_request(const struct request *r)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return info && info->socket_context ? info->socket_context : &nobody;
}

/* The portal's page may read why it was refused (nothing but the problem
 * body, which names no one), so that it can tell the user instead of
 * spinning; a preflight still gets no Allow-Methods, so it grants nothing. */
static void let_allowed_origin_read(struct request *r)
{
    struct api_context *ctx = r->ctx;

    pthread_rwlock_rdlock(&ctx->settings_lock);
    r->origin_allowed = origin_list_contains(ctx->origins, r->origin);
    pthread_rwlock_unlock(&ctx->settings_lock);
}

bool peer_refuse_request(struct request *r)
{
    const struct peer *p = peer_of_request(r);

    if (!p->allowed) {
        struct problem refusal = problem_of(API_PEER_NOT_ALLOWED);

        let_allowed_origin_read(r);
        /* Its slot goes back at once, for the next refused attempt. */
        respond_problem_header(r, &refusal, "Connection", "close");
        return true;
    }
    if (p->transport == PEER_SUPPORT && request_from_browser(r)) {
        respond_code(r, API_ORIGIN_FORBIDDEN);
        return true;
    }
    return false;
}

json_t *peer_policy_json(struct api_context *ctx)
{
    json_t *policy;

    pthread_rwlock_rdlock(&ctx->settings_lock);
    policy = peer_policy_describe(ctx->peer_policy);
    pthread_rwlock_unlock(&ctx->settings_lock);
    return policy;
}

const struct guard_hosts *peer_hosts(const struct request *r)
{
    return peer_of_request(r)->transport == PEER_SUPPORT ? &r->ctx->support_hosts
                                                         : &r->ctx->hosts;
}

const struct route *peer_routes(const struct request *r, size_t *n)
{
    const struct route_table *t = peer_of_request(r)->transport == PEER_SUPPORT
                                      ? &r->ctx->routes_support
                                      : &r->ctx->routes_web;

    *n = t->n;
    return t->routes;
}
