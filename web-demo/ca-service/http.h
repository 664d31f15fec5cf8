/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/http.h — the service's HTTP side on libmicrohttpd:
 * the server's start and stop, one request's life (route, body with a size
 * limit, guards, handler, answer, log line), and the helpers handlers use to
 * read bodies and to answer with JSON, problem+json, HTML or bytes.
 *
 * libmicrohttpd runs one polling thread and every handler on it, one
 * request at a time: the database needs no locking of its own.
 */
#ifndef UKEY_CA_HTTP_H
#define UKEY_CA_HTTP_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "ca.h"
#include "problem.h"

#define HTTP_MAX_CAPTURES  2

enum {
    HTTP_OK = 200,
    HTTP_CREATED = 201,
    HTTP_ACCEPTED = 202,
    HTTP_SEE_OTHER = 303,
};

struct route;

struct http_req {
    struct ca *ca;
    struct MHD_Connection *conn;
    const char *method;
    const char *path;                       /* MHD's, percent-decoded, no query */
    const struct route *route;              /* NULL when no route has this path and method */
    char *captures[HTTP_MAX_CAPTURES];      /* the route's {} segments */
    char *body;                             /* NUL-terminated; wiped when freed */
    size_t body_len, body_cap, body_max;
    bool body_too_large;
    /* the answer */
    struct MHD_Response *resp;
    unsigned status;
    const char *outcome;                    /* problem code for the log, or NULL */
};

typedef void (*route_handler)(struct http_req *r);

#define ROUTE_PROTOCOL  0x1u   /* the unlock protocol: server to server, never a browser */
#define ROUTE_UPLOAD    0x2u   /* takes a file: larger body limit */

struct route {
    const char *method;        /* "GET" answers HEAD too */
    const char *pattern;       /* "/unlock/v1/requests/{}/sms": {} is one id segment */
    route_handler handler;
    unsigned flags;
};

struct http_server;

/* A listening socket on addr; *port_out gets its port (addr may ask for 0). -1 on error. */
int http_listen(const struct sockaddr *addr, socklen_t len, unsigned *port_out);
/* Serves on the listening socket, which it then owns. */
bool http_start(struct ca *ca, int listen_fd, struct http_server **out);
/* Stops accepting, finishes the request in hand, frees. */
void http_stop(struct http_server *srv);

/* --- reading ------------------------------------------------------------- */

const char *req_header(const struct http_req *r, const char *name);
const char *req_query(const struct http_req *r, const char *name);
/* Whether the client asked for JSON (Accept or Content-Type), not a page. */
bool req_wants_json(const struct http_req *r);
/* Whether Content-Type is this media type (parameters ignored). */
bool req_content_type_is(const struct http_req *r, const char *media_type);

/* The body as a JSON object; on NULL *p says why (415, 400). */
json_t *req_json_object(const struct http_req *r, struct ca_problem *p);

/* A body member that is a string of 1..max-1 bytes; NULL and *p set to
 * BAD_REQUEST naming it when it is not. */
const char *req_member_string(json_t *body, const char *name, size_t max, struct ca_problem *p);

/* Feeds an urlencoded or multipart body to `field` (libmicrohttpd's post
 * processor); false when the body is neither or is malformed. */
bool req_form(struct http_req *r, MHD_PostDataIterator field, void *ctx);

/* --- answering (each takes what it is given) ------------------------------ */

void reply_json(struct http_req *r, unsigned status, json_t *body);
/* reply_json for pages people read (the demo's outbox and queues): UTF-8 as
 * it is, indented, "charset=utf-8". */
void reply_json_readable(struct http_req *r, unsigned status, json_t *body);
void reply_problem(struct http_req *r, const struct ca_problem *p);
/* out (always taken) with status when p is CA_OK, else the problem. */
void reply_outcome(struct http_req *r, unsigned status, const struct ca_problem *p, json_t *out);
void reply_html(struct http_req *r, unsigned status, char *html, size_t len);
void reply_bytes(struct http_req *r, const char *content_type, void *data, size_t len);
void reply_redirect(struct http_req *r, const char *location);
/* A file already open: the answer reads it and closes it. */
void reply_fd(struct http_req *r, const char *content_type, int fd, size_t size);

#endif
