/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/http.c — libmicrohttpd daemon, request life, body
 * and answer helpers (see http.h).
 *
 * A request goes: route (or 404/405) → browser guard on protocol routes →
 * body size → handler. The guard refuses anything that carries Origin or
 * fetch metadata: the protocol is spoken by ukeyd, server to server, and a
 * web page must not be able to drive it — least of all /authorize, which
 * answers with PUKs.
 */
#include "http.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "files.h"
#include "log.h"
#include "pages.h"
#include "review.h"
#include "routes.h"
#include "secret.h"

#define JSON_BODY_MAX          (16 * 1024)
#define UPLOAD_OVERHEAD_MAX    (64 * 1024)     /* multipart headers and the other fields */
#define POST_BUFFER_SIZE       (64 * 1024)
#define CONNECTION_LIMIT       64
#define CONNECTION_TIMEOUT_S   30
#define ALLOW_MAX              64
#define HTTP_STATUS_MIN_ERROR  400
#define LISTEN_BACKLOG         64
#define JSON_READABLE_INDENT   2

struct http_server {
    struct ca *ca;
    struct MHD_Daemon *daemon;
};

/* --- answering ---------------------------------------------------------------- */

/* Bodies carry PUKs and codes: wiped before the memory goes back. */
static void free_wiped(void *p)
{
    secret_free(p);
}

static void add_common_headers(struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
}

static void set_answer(struct http_req *r, unsigned status, struct MHD_Response *resp,
                       const char *content_type)
{
    if (r->resp)
        MHD_destroy_response(r->resp);
    r->resp = resp;
    r->status = status;
    if (!resp)
        return;
    add_common_headers(resp);
    if (content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
}

static struct MHD_Response *buffer_response(char *data, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback(len, data, free_wiped);

    if (!resp)
        secret_free(data);
    return resp;
}

static void reply_dump(struct http_req *r, unsigned status, json_t *body, const char *ctype)
{
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;

    json_decref(body);
    set_answer(r, status, text ? buffer_response(text, strlen(text)) : NULL, ctype);
}

void reply_json(struct http_req *r, unsigned status, json_t *body)
{
    reply_dump(r, status, body, "application/json");
}

/* People open these in a browser tab or curl them: Chinese text as UTF-8,
 * never \uXXXX escapes, indented, and the charset said. */
void reply_json_readable(struct http_req *r, unsigned status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_INDENT(JSON_READABLE_INDENT)) : NULL;

    json_decref(body);
    set_answer(r, status, text ? buffer_response(text, strlen(text)) : NULL,
               "application/json; charset=utf-8");
}

void reply_problem(struct http_req *r, const struct ca_problem *p)
{
    char retry[sizeof "9223372036854775807"];

    r->outcome = ca_code_name(p->code);
    reply_dump(r, ca_code_status(p->code), ca_problem_body(p), "application/problem+json");
    if (r->resp && p->retry_after != CA_NO_COUNT) {
        snprintf(retry, sizeof retry, "%ld", p->retry_after);
        MHD_add_response_header(r->resp, MHD_HTTP_HEADER_RETRY_AFTER, retry);
    }
}

void reply_outcome(struct http_req *r, unsigned status, const struct ca_problem *p, json_t *out)
{
    struct ca_problem internal = ca_fail(CA_INTERNAL);

    if (p->code != CA_OK) {
        json_decref(out);               /* a caller's partial answer is not sent */
        reply_problem(r, p);
    } else if (!out)
        reply_problem(r, &internal);
    else
        reply_json(r, status, out);
}

void reply_html(struct http_req *r, unsigned status, char *html, size_t len)
{
    set_answer(r, status, html ? buffer_response(html, len) : NULL, "text/html; charset=utf-8");
    if (r->resp)
        MHD_add_response_header(r->resp, "Content-Security-Policy",
                                "default-src 'none'; style-src 'unsafe-inline'; "
                                "form-action 'self'; frame-ancestors 'self'");
}

void reply_bytes(struct http_req *r, const char *content_type, void *data, size_t len)
{
    set_answer(r, HTTP_OK, buffer_response(data, len), content_type);
    if (r->resp) {
        /* uploaded by anyone: never rendered in the service's origin */
        MHD_add_response_header(r->resp, "Content-Disposition", "attachment");
        MHD_add_response_header(r->resp, "Content-Security-Policy", "sandbox");
    }
}

void reply_redirect(struct http_req *r, const char *location)
{
    set_answer(r, HTTP_SEE_OTHER,
               MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT), NULL);
    if (r->resp)
        MHD_add_response_header(r->resp, MHD_HTTP_HEADER_LOCATION, location);
}

void reply_fd(struct http_req *r, const char *content_type, int fd, size_t size)
{
    struct MHD_Response *resp = MHD_create_response_from_fd(size, fd);

    if (!resp)
        close(fd);
    set_answer(r, HTTP_OK, resp, content_type);
}

/* --- reading ------------------------------------------------------------------ */

const char *req_header(const struct http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *req_query(const struct http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

bool req_content_type_is(const struct http_req *r, const char *media_type)
{
    const char *ct = req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    size_t n = strlen(media_type);

    return ct && strncasecmp(ct, media_type, n) == 0 &&
           (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

bool req_wants_json(const struct http_req *r)
{
    const char *accept = req_header(r, MHD_HTTP_HEADER_ACCEPT);

    return req_content_type_is(r, "application/json") ||
           (accept && strcasestr(accept, "application/json"));
}

json_t *req_json_object(const struct http_req *r, struct ca_problem *p)
{
    json_error_t err;
    json_t *body;

    if (!req_content_type_is(r, "application/json")) {
        *p = ca_fail(CA_UNSUPPORTED_MEDIA_TYPE);
        return NULL;
    }
    body = json_loadb(r->body ? r->body : "", r->body_len, JSON_REJECT_DUPLICATES, &err);
    if (!json_is_object(body)) {
        json_decref(body);
        *p = ca_fail(CA_BAD_REQUEST);
        return NULL;
    }
    return body;
}

const char *req_member_string(json_t *body, const char *name, size_t max, struct ca_problem *p)
{
    const char *s = json_string_value(json_object_get(body, name));

    if (!s || !*s || strlen(s) >= max) {
        *p = ca_bad_field(name);
        return NULL;
    }
    return s;
}

bool req_form(struct http_req *r, MHD_PostDataIterator field, void *ctx)
{
    struct MHD_PostProcessor *pp = MHD_create_post_processor(r->conn, POST_BUFFER_SIZE, field,
                                                             ctx);
    enum MHD_Result fed;

    if (!pp)
        return false;
    fed = r->body_len ? MHD_post_process(pp, r->body, r->body_len) : MHD_YES;
    return MHD_destroy_post_processor(pp) == MHD_YES && fed == MHD_YES;
}

/* --- a request's life ----------------------------------------------------------- */

static void req_free(struct http_req *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < HTTP_MAX_CAPTURES; i++)
        free(r->captures[i]);
    secret_free(r->body);
    if (r->resp)
        MHD_destroy_response(r->resp);
    free(r);
}

static struct http_req *req_new(struct http_server *srv, struct MHD_Connection *conn,
                                const char *url, const char *method)
{
    struct http_req *r = calloc(1, sizeof *r);

    if (!r)
        return NULL;
    r->ca = srv->ca;
    r->conn = conn;
    r->method = method;
    r->path = url;
    if (!routes_find(method, url, &r->route, r->captures)) {
        req_free(r);
        return NULL;
    }
    r->body_max = r->route && (r->route->flags & ROUTE_UPLOAD)
                      ? MATERIAL_MAX_BYTES + UPLOAD_OVERHEAD_MAX : JSON_BODY_MAX;
    return r;
}

/* Keeps the body up to the limit; past it only notes that it was too large. */
static void req_take_body(struct http_req *r, const char *data, size_t size)
{
    if (r->body_too_large || size > r->body_max - r->body_len ||
        !secret_buf_append(&r->body, &r->body_len, &r->body_cap, data, size))
        r->body_too_large = true;
}

static bool from_a_browser(const struct http_req *r)
{
    return req_header(r, MHD_HTTP_HEADER_ORIGIN) || req_header(r, "Sec-Fetch-Site") ||
           req_header(r, "Sec-Fetch-Mode");
}

/*
 * The service listens on loopback only, so a Host naming anything else came
 * from a page that rebound its own name to 127.0.0.1 (DNS rebinding) and
 * must not read the outbox or the review queue. No Host (HTTP/1.0) is no
 * browser.
 */
static bool host_is_loopback(const struct http_req *r)
{
    static const char *const names[] = {"localhost", "[::1]"};
    const char *host = req_header(r, MHD_HTTP_HEADER_HOST);
    size_t len, i;

    if (!host)
        return true;
    len = host[0] == '[' ? strcspn(host, "]") + 1 : strcspn(host, ":");
    if (len > strlen(host))
        return false;
    for (i = 0; i < sizeof names / sizeof names[0]; i++)
        if (len == strlen(names[i]) && strncasecmp(host, names[i], len) == 0)
            return true;
    return len > strlen("127.") && strncmp(host, "127.", strlen("127.")) == 0 &&
           strspn(host, "0123456789.") == len;
}

static void reply_no_route(struct http_req *r)
{
    char allow[ALLOW_MAX];
    struct ca_problem p = ca_fail(CA_METHOD_NOT_ALLOWED);

    if (routes_allowed(r->path, allow, sizeof allow)) {
        reply_problem(r, &p);
        if (r->resp)
            MHD_add_response_header(r->resp, MHD_HTTP_HEADER_ALLOW, allow);
        return;
    }
    if (strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0) {
        if (r->ca->static_dir && files_serve(r, r->ca->static_dir))
            return;
        if (!r->ca->static_dir && strcmp(r->path, "/") == 0) {
            page_index(r);
            return;
        }
    }
    p = ca_fail(CA_NOT_FOUND);
    reply_problem(r, &p);
}

static void dispatch(struct http_req *r)
{
    struct ca_problem p = ca_ok();

    if (!host_is_loopback(r))
        p = ca_fail(CA_HOST_FORBIDDEN);
    else if (!r->route)
        reply_no_route(r);
    else if ((r->route->flags & ROUTE_PROTOCOL) && from_a_browser(r))
        p = ca_fail(CA_ORIGIN_FORBIDDEN);
    else if (r->body_too_large)
        p = ca_fail(CA_PAYLOAD_TOO_LARGE);
    else
        r->route->handler(r);
    if (p.code != CA_OK)
        reply_problem(r, &p);
    if (!r->resp) {
        p = ca_fail(CA_INTERNAL);
        reply_problem(r, &p);
    }
}

static void log_request(const struct http_req *r)
{
    /* the route's pattern, never the path: paths carry ids, queries phones */
    const char *what = r->route ? r->route->pattern : "(no route)";

    if (r->status >= HTTP_STATUS_MIN_ERROR || strcmp(r->method, "GET") != 0 || r->route)
        ca_log("%s %s -> %u%s%s", r->method, what, r->status, r->outcome ? " " : "",
               r->outcome ? r->outcome : "");
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_size, void **con_cls)
{
    struct http_req *r = *con_cls;
    enum MHD_Result queued;

    (void)version;
    if (!r) {
        *con_cls = req_new(cls, conn, url, method);
        return *con_cls ? MHD_YES : MHD_NO;
    }
    if (*upload_size) {
        req_take_body(r, upload_data, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    dispatch(r);
    log_request(r);
    if (!r->resp)
        return MHD_NO;
    queued = MHD_queue_response(conn, r->status, r->resp);
    MHD_destroy_response(r->resp);
    r->resp = NULL;
    return queued;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode why)
{
    (void)cls;
    (void)conn;
    (void)why;
    req_free(*con_cls);
    *con_cls = NULL;
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
    char line[ALLOW_MAX * 4];

    (void)cls;
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    ca_log("http: %s", line);
}

int http_listen(const struct sockaddr *addr, socklen_t len, unsigned *port_out)
{
    struct sockaddr_storage bound;
    socklen_t bound_len = sizeof bound;
    int one = 1;
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, addr, len) != 0 || listen(fd, LISTEN_BACKLOG) != 0 ||
        getsockname(fd, (struct sockaddr *)&bound, &bound_len) != 0) {
        ca_log("cannot listen: %s", strerror(errno));
        close(fd);
        return -1;
    }
    *port_out = ntohs(bound.ss_family == AF_INET6
                          ? ((const struct sockaddr_in6 *)&bound)->sin6_port
                          : ((const struct sockaddr_in *)&bound)->sin_port);
    return fd;
}

bool http_start(struct ca *ca, int listen_fd, struct http_server **out)
{
    struct http_server *srv = calloc(1, sizeof *srv);

    if (!srv) {
        close(listen_fd);
        return false;
    }
    srv->ca = ca;
    srv->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0,
                                   NULL, NULL, on_access, srv,
                                   MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, srv,
                                   MHD_OPTION_LISTEN_SOCKET, listen_fd,
                                   MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
                                   MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTION_LIMIT,
                                   MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
                                   MHD_OPTION_END);
    if (!srv->daemon) {
        close(listen_fd);
        free(srv);
        return false;
    }
    *out = srv;
    return true;
}

void http_stop(struct http_server *srv)
{
    if (!srv)
        return;
    if (srv->daemon)
        MHD_stop_daemon(srv->daemon);
    free(srv);
}
