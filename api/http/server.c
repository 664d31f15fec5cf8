/* SPDX-License-Identifier: MIT */
/*
 * api/http/server.c — libmicrohttpd daemons (one per listening socket: it takes
 * one socket each), the life of a request through them, and the front's
 * start, settings and stop. What the handlers use (the token service, the
 * event hub, the workflows, the route tables) is built by the wiring
 * (api/app.c) and handed in through the context (api/http/request.h).
 *
 * A request goes: peer (api/http/peer.h: who is on the other end, judged when
 * the connection opened) → Host guard → Origin guard → fetch-metadata guard
 * → router (404, 405 + Allow, OPTIONS and CORS preflight) → for JSON routes the
 * Content-Type and size guards and the body → the handler. Nothing before
 * the handler touches a token, so a refused request has no side effect.
 *
 * Threads: each daemon polls with epoll in a small pool of threads. Handlers
 * that may wait run on the offload pools instead (one for the card, one for
 * the CA service, so a hanging CA never delays a card read); event streams
 * suspend their connection instead of holding a thread.
 *
 * Slots: a peer is judged when its connection is accepted, and a refused
 * one is closed there; an account holds at most max-connections-per-user
 * connections, and a connection that does not send a whole request in time
 * is closed (api/http/admission.h).
 */
#include "api/http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/http/admission.h"
#include "api/http/gate.h"
#include "api/base/json.h"
#include "api/base/log.h"
#include "api/http/offload.h"
#include "api/http/peer.h"
#include "api/http/request.h"
#include "api/base/timeutil.h"

/*
 * Each connection's buffer holds the raw request, PIN included, and
 * libmicrohttpd frees it without wiping. Above 32 KiB it maps the buffer
 * with mmap and unmaps it afterwards, so the bytes go back to the kernel
 * instead of lingering in the heap. Only just above: a busy keep-alive
 * connection keeps most of its buffer resident (measured: 51 of 64 KiB), so
 * this size times the connections is most of ukeyd's memory under load.
 */
#define SERVER_CONNECTION_MEMORY (36 * 1024)

#define MAX_LISTENERS          GUARD_PORTS_MAX
#define PREFLIGHT_MAX_AGE_S    "600"
#define PREFLIGHT_HEADERS      "Content-Type, Accept-Language, Last-Event-ID"
#define HEADER_ALLOW           "Allow"
#define HEADER_ALLOW_PRIVATE_NETWORK "Access-Control-Allow-Private-Network"
#define SHUTDOWN_GRACE_MS      5000
#define SHUTDOWN_POLL_MS       20
#define LOG_MESSAGE_MAX        512
/* A request read in full within this of the connection's accept: curl and
 * browsers send theirs in one go, a drip of bytes holding a slot does not. */
#define HEADER_DEADLINE_S      5
/* A refused account may hold this many connections, each to be told why
 * (the portal shows it) and closed; any more are closed at accept. */
#define REFUSED_PEER_CONNECTIONS_MAX 2
#define HEADER_CONNECTION      "Connection"
#define CONNECTION_CLOSE       "close"

struct http_server {
    struct api_context ctx;
    struct MHD_Daemon *daemons[MAX_LISTENERS];
    struct peer_listener listeners[MAX_LISTENERS];   /* their accept policies' */
    size_t n_daemons;
    struct MHD_Daemon *support;        /* on the support socket, NULL without one */
    struct http_limits limits;
    struct offload *offload;           /* where handlers that wait for a card run */
    struct offload *ca_offload;        /* where handlers that wait for the CA run */
    atomic_uint in_flight;             /* requests past their headers, not yet completed */
};

/* --- request life ------------------------------------------------------ */

static void *on_request_begins(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct http_server *server = cls;
    struct request *r = calloc(1, sizeof *r);

    (void)uri;   /* may carry a query string: never logged, the path is */
    if (!r)
        return NULL;
    r->ctx = &server->ctx;
    r->conn = conn;
    r->queued = MHD_YES;
    clock_gettime(CLOCK_MONOTONIC, &r->started);
    snprintf(r->id, sizeof r->id, "%08x-%lu", server->ctx.instance_tag,
             atomic_fetch_add(&server->ctx.next_request, 1) + 1);
    return r;
}

static void request_free(struct request *r)
{
    if (r->deferred)
        MHD_destroy_response(r->deferred);
    wipe_free(r->body, r->body ? GUARD_BODY_MAX : 0);
    free(r->path);
    free(r->origin);
    free(r);
}

static const char *termination_name(enum MHD_RequestTerminationCode toe)
{
    switch (toe) {
    case MHD_REQUEST_TERMINATED_COMPLETED_OK:
        return NULL;
    case MHD_REQUEST_TERMINATED_WITH_ERROR:
        return "error";
    case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED:
        return "timeout";
    case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN:
        return "shutdown";
    case MHD_REQUEST_TERMINATED_READ_ERROR:
        return "read error";
    case MHD_REQUEST_TERMINATED_CLIENT_ABORT:
        return "client went away";
    }
    return "unknown";
}

/* -1 for a peer nobody could identify. */
static int peer_uid_or_unknown(const struct peer *p)
{
    return p->identified ? (int)p->uid : -1;
}

static void log_request(const struct request *r, enum MHD_RequestTerminationCode toe)
{
    const char *how = termination_name(toe);
    struct log_fields f = { .token_id = route_param(&r->match, "id"), .origin = r->origin,
                            .request_id = r->id };

    if (!r->seen) {
        log_msg(LOG_DEBUG, &f, "connection ended before a request (%s)", how ? how : "ok");
        return;
    }
    log_msg(LOG_INFO, &f, "%s %s %u%s%s %ldms uid=%d%s%s", r->method, r->path ? r->path : "?",
            r->status, r->code != API_OK ? " " : "", r->code != API_OK ? api_code_name(r->code) : "",
            ms_since(&r->started), peer_uid_or_unknown(peer_of_request(r)), how ? " " : "",
            how ? how : "");
}

static void on_request_ends(void *cls, struct MHD_Connection *conn, void **con_cls,
                            enum MHD_RequestTerminationCode toe)
{
    struct http_server *server = cls;
    struct request *r = *con_cls;

    (void)conn;
    if (!r)
        return;
    if (r->seen)
        atomic_fetch_sub(&server->in_flight, 1);
    admission_request_done(peer_of_request(r)->ticket);
    log_request(r, toe);
    request_free(r);
    *con_cls = NULL;
}

/* --- what the request says about its sender ---------------------------- */

static bool read_sender(struct request *r)
{
    const char *origin = request_header(r, MHD_HTTP_HEADER_ORIGIN);
    struct api_context *ctx = r->ctx;
    enum api_lang fallback;

    if (origin && !(r->origin = strdup(origin)))
        return false;
    pthread_rwlock_rdlock(&ctx->settings_lock);
    fallback = ctx->language;
    pthread_rwlock_unlock(&ctx->settings_lock);
    r->lang = lang_negotiate(request_header(r, MHD_HTTP_HEADER_ACCEPT_LANGUAGE), fallback);
    /* curl and scripts send neither Origin nor fetch metadata, and people
     * read what they get: indent it for them. */
    r->pretty = !request_from_browser(r);
    return true;
}

/* --- guards and routing ------------------------------------------------ */

static void refuse(struct request *r, enum api_code code)
{
    struct problem p = problem_of(code);

    if (code == API_METHOD_NOT_ALLOWED)
        respond_problem_header(r, &p, HEADER_ALLOW, r->match.allow);
    else
        respond_problem(r, &p);
    if (code == API_HOST_FORBIDDEN || code == API_ORIGIN_FORBIDDEN)
        log_msg(LOG_NOTICE, &(struct log_fields){ .origin = r->origin, .request_id = r->id },
                "refused %s %s: %s", r->method, r->path, api_code_name(code));
}

static void answer_options(struct request *r)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);

    if (!resp) {
        respond_code(r, API_INTERNAL);
        return;
    }
    MHD_add_response_header(resp, HEADER_ALLOW, r->match.allow);
    /* Only an allow-listed Origin gets this far with one (the gate). */
    if (r->origin_allowed) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_METHODS,
                                r->match.allow);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_HEADERS,
                                PREFLIGHT_HEADERS);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_MAX_AGE,
                                PREFLIGHT_MAX_AGE_S);
        MHD_add_response_header(resp, HEADER_ALLOW_PRIVATE_NETWORK, "true");
    }
    respond_with(r, MHD_HTTP_NO_CONTENT, resp);
}

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    struct gate_request *in = cls;

    (void)kind;
    (void)value;
    if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
        in->n_host++;
    else if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
        in->n_content_length++;
    else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
        in->transfer_encoding = true;
    if (key[strcspn(key, " \t")] != '\0')
        in->name_with_space = true;
    return MHD_YES;
}

/* Where the next request on this connection starts is unknown: answer,
 * then close it instead of reading on. */
static void refuse_framing(struct request *r, enum api_code code)
{
    struct problem p = problem_of(code);

    respond_problem_header(r, &p, HEADER_CONNECTION, CONNECTION_CLOSE);
    log_msg(LOG_NOTICE, &(struct log_fields){ .origin = r->origin, .request_id = r->id },
            "refused %s %s: ambiguous framing (Host, Content-Length, Transfer-Encoding)",
            r->method, r->path);
}

/* Runs the gate (api/http/gate.h) over the request's headers; false when it has
 * refused the request, which is answered then. */
static bool pass_gate(struct request *r)
{
    struct api_context *ctx = r->ctx;
    struct gate_request in = {
        .method = r->method,
        .path = r->path,
        .host = request_header(r, MHD_HTTP_HEADER_HOST),
        .origin = r->origin,
        .sec_fetch_site = request_header(r, "Sec-Fetch-Site"),
        .content_type = request_header(r, MHD_HTTP_HEADER_CONTENT_TYPE),
        .content_length = request_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH),
    };
    struct gate_rules rules = { .hosts = peer_hosts(r) };
    struct gate_verdict v;

    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, count_framing, &in);
    rules.routes = peer_routes(r, &rules.n_routes);
    pthread_rwlock_rdlock(&ctx->settings_lock);
    rules.origins = ctx->origins;
    gate_evaluate(&in, &rules, &v);
    pthread_rwlock_unlock(&ctx->settings_lock);
    r->origin_allowed = v.origin_allowed;
    r->options = v.options;
    r->match = v.match;
    if (v.code == API_OK)
        return true;
    if (v.close)
        refuse_framing(r, v.code);
    else
        refuse(r, v.code);
    return false;
}

/*
 * The first call sees the headers only. A refusal is answered at once, and
 * libmicrohttpd then closes the connection without reading a body; a request
 * that passes is answered when it is complete (finish_request), which keeps
 * the connection alive for the next one.
 */
static enum MHD_Result begin_request(struct http_server *server, struct request *r,
                                     const char *url, const char *method)
{
    r->seen = true;
    atomic_fetch_add(&server->in_flight, 1);
    r->method = method;
    if (!(r->path = strdup(url)) || !read_sender(r)) {
        respond_code(r, API_INTERNAL);
        return r->queued;
    }
    /* Before any guard or route: a refused peer learns nothing of either. */
    if (peer_refuse_request(r))
        return r->queued;
    pass_gate(r);
    return r->queued;
}

/* Keeps the body in one buffer of the largest size allowed, so that it is
 * never copied by realloc (which would leave an unwiped copy behind). */
static void take_body(struct request *r, const char *data, size_t size)
{
    if (r->body_problem != API_OK)
        return;
    if (size > GUARD_BODY_MAX - r->body_len) {
        r->body_problem = API_PAYLOAD_TOO_LARGE;
        return;
    }
    if (!r->body && !(r->body = malloc(GUARD_BODY_MAX))) {
        r->body_problem = API_INTERNAL;
        return;
    }
    memcpy(r->body + r->body_len, data, size);
    r->body_len += size;
}

/* A handler waiting for the CA service, which may hang for its whole timeout,
 * never holds a thread that card reads need. */
static struct offload *route_pool(struct http_server *server, const struct route *route)
{
    return route->flags & ROUTE_WAITS_CA ? server->ca_offload : server->offload;
}

static void finish_request(struct http_server *server, struct request *r)
{
    if (r->options)
        answer_options(r);
    else if (r->body_problem != API_OK)
        refuse(r, r->body_problem);
    else if (!(r->match.route->flags & (ROUTE_WAITS | ROUTE_WAITS_CA)) ||
             !offload_submit(route_pool(server, r->match.route), r))
        r->match.route->handler(r);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    struct request *r = *con_cls;

    (void)conn;
    (void)version;
    if (!r)
        return MHD_NO;
    if (!r->seen) {
        enum MHD_Result result = begin_request(cls, r, url, method);

        if (r->answered)   /* refused: nothing more is read */
            admission_request_read(peer_of_request(r)->ticket);
        return result;
    }
    if (r->offloaded)
        return offload_answer(r);   /* called again after the resume */
    if (*upload_data_size) {
        if (!r->answered)
            take_body(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    admission_request_read(peer_of_request(r)->ticket);
    if (!r->answered)
        finish_request(cls, r);
    return r->queued;
}

/* --- start, reload, stop ----------------------------------------------- */

/* libmicrohttpd's own messages; its format strings are its own. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void on_mhd_message(void *cls, const char *fmt, va_list ap)
{
    char text[LOG_MESSAGE_MAX];

    (void)cls;
    vsnprintf(text, sizeof text, fmt, ap);
    text[strcspn(text, "\n")] = '\0';
    log_msg(LOG_WARNING, NULL, "http: %s", text);
}
#pragma GCC diagnostic pop

/* Adds the socket's address and port to the names the Host guard accepts. */
static int learn_listener(struct guard_hosts *hosts, int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char addr[INET6_ADDRSTRLEN], name[GUARD_HOST_NAME_MAX];
    uint16_t port;

    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;

        inet_ntop(AF_INET, &in->sin_addr, addr, sizeof addr);
        snprintf(name, sizeof name, "%s", addr);
        port = ntohs(in->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;

        inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof addr);
        snprintf(name, sizeof name, "[%s]", addr);
        port = ntohs(in6->sin6_port);
    } else {
        errno = EAFNOSUPPORT;
        return -1;
    }
    return guard_hosts_add_name(hosts, name) && guard_hosts_add_port(hosts, port) ? 0 : -1;
}

/*
 * libmicrohttpd 0.9.75 takes epoll events in batches of 128 and, when a
 * batch comes back full, waits for more with the full timeout before it
 * serves any: a thread with 128 ready connections stalls for seconds
 * (measured: 110 requests/s at exactly 128 connections on one thread,
 * 31000 at 127). So no thread is given that many connections; the room left
 * is for the listening socket and the wake-up pipe, which count as events.
 */
#define MHD_EPOLL_BATCH          128
#define MHD_EPOLL_OTHER_EVENTS   8
#define CONNECTIONS_PER_THREAD_MAX (MHD_EPOLL_BATCH - MHD_EPOLL_OTHER_EVENTS)

static unsigned pool_threads(const struct http_limits *limits)
{
    unsigned need = (limits->max_connections + CONNECTIONS_PER_THREAD_MAX - 1) /
                    CONNECTIONS_PER_THREAD_MAX;

    return limits->threads > need ? limits->threads : need;
}

/* `accept_policy` NULL: every connection is accepted (the support socket,
 * whose peer is judged from its credentials once connected). */
static struct MHD_Daemon *start_daemon(struct http_server *server, int fd,
                                       const struct http_limits *limits,
                                       MHD_NotifyConnectionCallback on_connection,
                                       struct peer_listener *accept_policy)
{
    int own_fd = dup(fd);   /* libmicrohttpd closes what it is given; the caller keeps fd */
    struct MHD_Daemon *d;

    if (own_fd < 0)
        return NULL;
    d = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0,
        accept_policy ? peer_accept_tcp : NULL, accept_policy, on_access, server,
        /* First, so that libmicrohttpd's messages about the options are ours too. */
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_message, NULL, MHD_OPTION_LISTEN_SOCKET, own_fd,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SERVER_CONNECTION_MEMORY,
        MHD_OPTION_THREAD_POOL_SIZE, pool_threads(limits), MHD_OPTION_CONNECTION_LIMIT,
        limits->max_connections, MHD_OPTION_CONNECTION_TIMEOUT, limits->connection_timeout_s,
        MHD_OPTION_URI_LOG_CALLBACK, on_request_begins, server, MHD_OPTION_NOTIFY_COMPLETED,
        on_request_ends, server, MHD_OPTION_NOTIFY_CONNECTION, on_connection, &server->ctx,
        MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_END);
    if (!d)
        close(own_fd);
    return d;
}

int http_server_apply(struct http_server *server, const struct http_settings *settings)
{
    struct api_context *ctx = &server->ctx;
    struct origin_list *fresh = origin_list_new(settings->origins, settings->n_origins);
    struct peer_policy *policy = peer_policy_new(&settings->peer, &peer_probes_system);
    struct origin_list *old;
    struct peer_policy *old_policy;
    json_t *old_view;

    if (!fresh || !policy) {
        origin_list_free(fresh);
        peer_policy_free(policy);
        return -1;
    }
    pthread_rwlock_wrlock(&ctx->settings_lock);
    old = ctx->origins;
    ctx->origins = fresh;
    ctx->language = settings->language;
    old_policy = ctx->peer_policy;
    ctx->peer_policy = policy;
    old_view = ctx->config_view;
    ctx->config_view = json_incref(settings->config_view);
    pthread_rwlock_unlock(&ctx->settings_lock);
    origin_list_free(old);
    peer_policy_free(old_policy);
    json_decref(old_view);
    peer_policy_log(policy);
    return 0;
}

void http_server_free(struct http_server *server)
{
    if (!server)
        return;
    /* Before the daemons: their jobs end by resuming their connections. */
    offload_free(server->offload);
    offload_free(server->ca_offload);
    for (size_t i = 0; i < server->n_daemons; i++)
        MHD_stop_daemon(server->daemons[i]);
    if (server->support)
        MHD_stop_daemon(server->support);
    /* After the daemons: every connection has left it. */
    admission_free(server->ctx.admission);
    origin_list_free(server->ctx.origins);
    peer_policy_free(server->ctx.peer_policy);
    json_decref(server->ctx.config_view);
    pthread_rwlock_destroy(&server->ctx.settings_lock);
    free(server);
}

int http_server_listen(struct http_server *server, const int *fds, size_t n_fds)
{
    const struct http_limits *limits = &server->limits;

    if (n_fds == 0 || n_fds > MAX_LISTENERS) {
        log_msg(LOG_ERR, NULL, "between 1 and %d listening sockets are needed, not %zu",
                MAX_LISTENERS, n_fds);
        return -1;
    }
    for (size_t i = 0; i < n_fds; i++) {
        if (learn_listener(&server->ctx.hosts, fds[i]) < 0) {
            log_msg(LOG_ERR, NULL, "listening socket %d: cannot tell its address: %m", fds[i]);
            return -1;
        }
    }
    for (size_t i = 0; i < n_fds; i++) {
        struct peer_listener *l = &server->listeners[i];
        socklen_t len = sizeof l->ours;

        l->ctx = &server->ctx;
        if (getsockname(fds[i], (struct sockaddr *)&l->ours, &len) < 0) {
            log_msg(LOG_ERR, NULL, "listening socket %d: cannot tell its address: %m", fds[i]);
            return -1;
        }
        server->daemons[i] = start_daemon(server, fds[i], limits, peer_on_tcp_connection, l);
        if (!server->daemons[i]) {
            log_msg(LOG_ERR, NULL, "cannot start the HTTP server on socket %d", fds[i]);
            return -1;
        }
        server->n_daemons++;
    }
    return 0;
}

struct http_server *http_server_new(struct token_service *svc, const struct http_limits *limits)
{
    const struct admission_limits admission_limits = {
        .per_uid_max = limits->max_connections_per_user,
        .refused_uid_max = REFUSED_PEER_CONNECTIONS_MAX,
        .header_deadline_ms = (limits->connection_timeout_s < HEADER_DEADLINE_S
                                   ? limits->connection_timeout_s
                                   : HEADER_DEADLINE_S) * MS_PER_SEC,
        .idle_ms = limits->connection_timeout_s * MS_PER_SEC,
    };
    struct http_server *server = calloc(1, sizeof *server);

    if (!server || pthread_rwlock_init(&server->ctx.settings_lock, NULL)) {
        free(server);
        return NULL;
    }
    server->ctx.svc = svc;
    server->limits = *limits;
    clock_gettime(CLOCK_MONOTONIC, &server->ctx.started);
    if (getrandom(&server->ctx.instance_tag, sizeof server->ctx.instance_tag, 0) < 0)
        server->ctx.instance_tag = (unsigned)getpid();
    guard_hosts_init(&server->ctx.hosts);
    if (!(server->offload = offload_new(limits->threads)) ||
        !(server->ca_offload = offload_new(limits->threads)) ||
        !(server->ctx.admission = admission_new(&admission_limits))) {
        http_server_free(server);
        return NULL;
    }
    return server;
}

struct api_context *http_server_context(struct http_server *server)
{
    return &server->ctx;
}

int http_server_add_support(struct http_server *server, int fd, bool group_exists,
                            gid_t support_gid)
{
    server->ctx.support_group_exists = group_exists;
    server->ctx.support_gid = support_gid;
    guard_hosts_init(&server->ctx.support_hosts);
    server->ctx.support_hosts.any = true;
    server->support = start_daemon(server, fd, &server->limits, peer_on_support_connection, NULL);
    if (!server->support) {
        log_msg(LOG_ERR, NULL, "cannot start the HTTP server on the support socket");
        return -1;
    }
    return 0;
}

static void sleep_ms(long ms)
{
    struct timespec t = { .tv_sec = ms / MS_PER_SEC, .tv_nsec = (ms % MS_PER_SEC) * NS_PER_MS };

    nanosleep(&t, NULL);
}

static void stop_accepting(struct MHD_Daemon *d)
{
    int fd = MHD_quiesce_daemon(d);

    if (fd >= 0)
        close(fd);
}

void http_server_quiesce(struct http_server *server)
{
    for (size_t i = 0; i < server->n_daemons; i++)
        stop_accepting(server->daemons[i]);
    if (server->support)
        stop_accepting(server->support);
}

void http_server_drain(struct http_server *server)
{
    long waited = 0;

    /* Handlers still running finish anyway (stopping joins their threads);
     * the wait lets their answers reach the clients before the connections
     * close. */
    while (atomic_load(&server->in_flight) > 0 && waited < SHUTDOWN_GRACE_MS) {
        sleep_ms(SHUTDOWN_POLL_MS);
        waited += SHUTDOWN_POLL_MS;
    }
    if (atomic_load(&server->in_flight) > 0)
        log_msg(LOG_WARNING, NULL, "stopping with %u requests still open",
                atomic_load(&server->in_flight));
}
