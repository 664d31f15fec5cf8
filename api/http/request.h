/* SPDX-License-Identifier: MIT */
/*
 * api/http/request.h — what a handler sees of one HTTP request, and the ways it
 * answers: JSON, a problem, raw bytes, or a stream.
 *
 * A handler must answer exactly once, through one of the respond_* calls;
 * they add the headers every response carries (request id, no-store, nosniff,
 * Vary: Origin and, for an allow-listed Origin, the CORS headers).
 */
#ifndef UKEYD_API_REQUEST_H
#define UKEYD_API_REQUEST_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "api/http/body.h"
#include "api/http/guard.h"
#include "api/render/lang.h"
#include "api/render/problem.h"
#include "api/http/router.h"
#include "token/token.h"

#define REQUEST_ID_MAX 24

struct events_hub;
struct unlock_service;
struct certwrite;
struct recovery_worker;
struct peer_policy;
struct environment;
struct admission;

/* A route table as the wiring hands it to the front (api/v1/routes.h). */
struct route_table {
    const struct route *routes;
    size_t n;
};

/* State shared by every request of one server. */
struct api_context {
    struct token_service *svc;
    struct route_table routes_web;     /* the browser-facing port's */
    struct route_table routes_support; /* the support socket's: all of them */
    struct events_hub *hub;
    struct unlock_service *unlock;     /* the remote unlock (api/unlock/unlock.h) */
    struct certwrite *certwrite;       /* certificate writes, NULL when off (api/certwrite/) */
    struct recovery_worker *recovery;  /* finishes both journals (api/base/recovery.h) */
    struct environment *environment;   /* the environment check (api/env/environment.h) */
    struct admission *admission;       /* per-UID caps, request deadlines (api/http/admission.h) */
    struct timespec started;           /* CLOCK_MONOTONIC */
    struct guard_hosts hosts;          /* fixed once listening */
    struct guard_hosts support_hosts;  /* the support socket's: any Host (api/http/peer.h) */
    bool support_group_exists;         /* fixed at start, like support_gid */
    gid_t support_gid;
    unsigned instance_tag;             /* random: tells this run's request ids apart */
    atomic_ulong next_request;
    /* What a reload can change, read under the lock. */
    pthread_rwlock_t settings_lock;
    struct origin_list *origins;
    enum api_lang language;
    struct peer_policy *peer_policy;   /* api/peer/peerpolicy.h */
    json_t *config_view;               /* the effective configuration, for diagnostics */
};

struct request {
    struct api_context *ctx;
    struct MHD_Connection *conn;
    char id[REQUEST_ID_MAX];
    struct timespec started;
    const char *method;                /* libmicrohttpd's, valid while the request lives */
    char *path;                        /* copy, for the completion log line */
    char *origin;                      /* copy of the Origin header, NULL when none */
    bool origin_allowed;
    bool pretty;                       /* curl and friends: indent JSON */
    enum api_lang lang;
    bool seen;                         /* the access handler has run once */
    bool options;                      /* OPTIONS on a known path: Allow / CORS preflight */
    bool answered;
    bool offloaded;                    /* its handler runs on an offload pool (http/offload.h) */
    struct MHD_Response *deferred;     /* its answer, queued when the connection resumes */
    enum MHD_Result queued;            /* what MHD_queue_response said */
    unsigned status;
    enum api_code code;                /* of a problem answer; API_OK otherwise */
    struct route_match match;
    char *body;                        /* POST body, wiped on free */
    size_t body_len;
    enum api_code body_problem;        /* API_OK, or why the body is refused */
};

/* Takes `v` (may be NULL: answers INTERNAL). */
void respond_json(struct request *r, unsigned status, json_t *v);
void respond_problem(struct request *r, const struct problem *p);
/* The same with one more header (e.g. Allow for METHOD_NOT_ALLOWED). */
void respond_problem_header(struct request *r, const struct problem *p, const char *header,
                            const char *value);
void respond_code(struct request *r, enum api_code code);
/* JSON text already rendered (e.g. cached): takes `text`, which must come from malloc. */
void respond_json_text(struct request *r, unsigned status, char *text, size_t len);
void respond_bytes(struct request *r, unsigned status, const char *content_type,
                   const void *data, size_t len);
/* Queues `resp` (and destroys the caller's reference) with the common headers. */
void respond_with(struct request *r, unsigned status, struct MHD_Response *resp);

/* BAD_REQUEST naming the body's `field` (may be NULL) and why it is refused. */
void respond_bad_field(struct request *r, const char *field, enum problem_reason why);

/* A route parameter ("id", "slot"); never NULL for the route's own names. */
const char *request_param(const struct request *r, const char *name);
struct token_service *request_tokens(const struct request *r);

/* A request header, or NULL. */
const char *request_header(const struct request *r, const char *name);

/* Whether a browser sent it: an Origin header or fetch metadata (Sec-Fetch-*),
 * which curl and scripts never send. No browser can reach the support
 * socket, so one seen there came through something that forwards it. */
bool request_from_browser(const struct request *r);

/*
 * The JSON body of a POST, checked field by field (body_parse, api/http/body.h:
 * struct body_field lives there). On failure answers BAD_REQUEST naming the
 * field and returns NULL. The returned value owns the strings stored through
 * the fields; json_decref wipes them.
 */
json_t *request_body_fields(struct request *r, const struct body_field *fields, size_t n);

#endif
