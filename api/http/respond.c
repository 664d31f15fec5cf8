/* SPDX-License-Identifier: MIT */
/*
 * api/http/respond.c — building and queueing responses, and reading a request's
 * parameters, headers and JSON body for handlers.
 *
 * Problem bodies never echo request input except a field's name (the body
 * is checked by api/http/body.c, which keeps it that way).
 */
#include "api/http/request.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/base/json.h"
#include "api/base/log.h"

#define MEDIA_JSON        "application/json"
#define MEDIA_PROBLEM     "application/problem+json"
#define HEADER_REQUEST_ID "X-Request-Id"
#define FETCH_METADATA_PREFIX "Sec-Fetch-"

static void add_common_headers(struct request *r, struct MHD_Response *resp)
{
    MHD_add_response_header(resp, HEADER_REQUEST_ID, r->id);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Origin");
    if (r->origin_allowed) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, r->origin);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_EXPOSE_HEADERS,
                                HEADER_REQUEST_ID);
    }
}

void respond_with(struct request *r, unsigned status, struct MHD_Response *resp)
{
    if (r->answered) {
        log_msg(LOG_ERR, &(struct log_fields){ .request_id = r->id },
                "second answer to one request (status %u) dropped", status);
        MHD_destroy_response(resp);
        return;
    }
    add_common_headers(r, resp);
    r->answered = true;
    r->status = status;
    if (r->offloaded) {
        /* On a pool thread, the connection suspended: api/http/offload.c queues it. */
        r->deferred = resp;
        return;
    }
    r->queued = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
}

/* The last resort when even building a response fails: no body at all. */
static void respond_bare(struct request *r, unsigned status)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);

    if (!resp) {
        r->answered = true;
        r->status = status;
        r->queued = MHD_NO;
        return;
    }
    respond_with(r, status, resp);
}

void respond_bytes(struct request *r, unsigned status, const char *content_type,
                   const void *data, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);

    if (!resp) {
        respond_bare(r, MHD_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    respond_with(r, status, resp);
}

void respond_json_text(struct request *r, unsigned status, char *text, size_t len)
{
    struct MHD_Response *resp =
        text ? MHD_create_response_from_buffer_with_free_callback(len, text, free) : NULL;

    if (!resp) {
        free(text);
        respond_bare(r, MHD_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, MEDIA_JSON "; charset=utf-8");
    respond_with(r, status, resp);
}

/* One more response header, or none when name is NULL. */
struct extra_header {
    const char *name;
    const char *value;
};

static void respond_text(struct request *r, unsigned status, const char *type, json_t *v,
                         bool with_language, struct extra_header extra)
{
    size_t len = 0;
    char *text = v ? json_text(v, r->pretty, &len) : NULL;
    struct MHD_Response *resp;

    json_decref(v);
    if (!text) {
        respond_bare(r, MHD_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }
    resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_COPY);
    json_text_free(text);
    if (!resp) {
        respond_bare(r, MHD_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (with_language)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_LANGUAGE, lang_tag(r->lang));
    if (extra.name)
        MHD_add_response_header(resp, extra.name, extra.value);
    respond_with(r, status, resp);
}

void respond_json(struct request *r, unsigned status, json_t *v)
{
    if (!v) {
        respond_code(r, API_INTERNAL);
        return;
    }
    respond_text(r, status, MEDIA_JSON "; charset=utf-8", v, false, (struct extra_header){ 0 });
}

void respond_problem_header(struct request *r, const struct problem *p, const char *header,
                            const char *value)
{
    if (!r->answered)
        r->code = p->code;   /* for the log line and the diagnostics */
    respond_text(r, api_code_status(p->code), MEDIA_PROBLEM "; charset=utf-8",
                 problem_body(p, r->lang, r->id), true,
                 (struct extra_header){ .name = header, .value = value });
}

void respond_problem(struct request *r, const struct problem *p)
{
    respond_problem_header(r, p, NULL, NULL);
}

void respond_code(struct request *r, enum api_code code)
{
    struct problem p = problem_of(code);

    respond_problem(r, &p);
}

const char *request_param(const struct request *r, const char *name)
{
    return route_param(&r->match, name);
}

struct token_service *request_tokens(const struct request *r)
{
    return r->ctx->svc;
}

const char *request_header(const struct request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

static enum MHD_Result find_fetch_metadata(void *cls, enum MHD_ValueKind kind, const char *key,
                                           const char *value)
{
    bool *found = cls;

    (void)kind;
    (void)value;
    if (strncasecmp(key, FETCH_METADATA_PREFIX, strlen(FETCH_METADATA_PREFIX)) == 0) {
        *found = true;
        return MHD_NO;
    }
    return MHD_YES;
}


bool request_from_browser(const struct request *r)
{
    bool found = request_header(r, MHD_HTTP_HEADER_ORIGIN) != NULL;

    if (!found)
        MHD_get_connection_values(r->conn, MHD_HEADER_KIND, find_fetch_metadata, &found);
    return found;
}

void respond_bad_field(struct request *r, const char *field, enum problem_reason why)
{
    struct problem p = problem_of(API_BAD_REQUEST);

    p.field = field;
    p.reason = why;
    respond_problem(r, &p);
}

json_t *request_body_fields(struct request *r, const struct body_field *fields, size_t n)
{
    struct body_error err = { .reason = REASON_NONE };
    json_t *root = body_parse(r->body, r->body_len, fields, n, &err);

    if (!root)
        respond_bad_field(r, err.field[0] ? err.field : NULL, err.reason);
    return root;
}
