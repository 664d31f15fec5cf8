/* SPDX-License-Identifier: MIT */
/*
 * api/respond.c — building and queueing responses, and reading a request's
 * parameters, headers and JSON body for handlers.
 *
 * Problem bodies never echo request input except a field's name: the text
 * jansson gives for a syntax error quotes the body ("near '123456'"), so only
 * the line and column of the error are reported.
 */
#include "api/request.h"

#include <string.h>

#include "api/errmap.h"
#include "api/json.h"
#include "api/log.h"

#define MEDIA_JSON        "application/json"
#define MEDIA_PROBLEM     "application/problem+json"
#define HEADER_REQUEST_ID "X-Request-Id"
#define BODY_FIELD_NAME_MAX 32

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

void respond_token_error(struct request *r, token_err err, int tries_left)
{
    struct problem p = problem_of(errmap_token(err));

    if (api_code_has_tries(p.code))
        p.tries_left = tries_left >= 0 ? tries_left : PROBLEM_TRIES_UNKNOWN;
    if (p.code == API_INTERNAL || p.code == API_CARD_ERROR)
        log_msg(LOG_WARNING, &(struct log_fields){ .request_id = r->id },
                "token layer: %s", token_err_name(err));
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

struct token_snapshot *request_token(struct request *r)
{
    struct token_snapshot *s = NULL;
    token_err err = token_service_get(request_tokens(r), request_param(r, "id"), &s);

    if (err != TOKEN_OK) {
        respond_token_error(r, err, -1);
        return NULL;
    }
    return s;
}

void snapshot_release(struct token_snapshot **s)
{
    if (*s)
        token_snapshot_unref(*s);
    *s = NULL;
}

const char *request_header(const struct request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

static void respond_bad_field(struct request *r, const char *field, enum problem_reason why)
{
    struct problem p = problem_of(API_BAD_REQUEST);

    p.field = field;
    p.reason = why;
    respond_problem(r, &p);
}

static const struct body_field *find_field(const struct body_field *fields, size_t n,
                                           const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(fields[i].name, name) == 0)
            return &fields[i];
    return NULL;
}

/* Stores one member through its field; false (answered) on a wrong type. */
static bool take_member(struct request *r, const struct body_field *f, json_t *v)
{
    if (f->type == BODY_STRING) {
        if (!json_is_string(v)) {
            respond_bad_field(r, f->name, REASON_NOT_STRING);
            return false;
        }
        *f->string_out = json_string_value(v);
        return true;
    }
    if (!json_is_boolean(v)) {
        respond_bad_field(r, f->name, REASON_NOT_BOOLEAN);
        return false;
    }
    *f->bool_out = json_is_true(v);
    return true;
}

static bool take_members(struct request *r, json_t *root, const struct body_field *fields,
                         size_t n)
{
    const char *key;
    json_t *v;

    json_object_foreach(root, key, v) {
        const struct body_field *f = find_field(fields, n, key);

        if (!f) {
            /* The name is the client's text, but a field name is not a secret
             * and naming it is the whole point of the error; a long one is
             * not a name anybody typed. */
            respond_bad_field(r, strlen(key) <= BODY_FIELD_NAME_MAX ? key : NULL,
                              REASON_UNKNOWN_FIELD);
            return false;
        }
        if (!take_member(r, f, v))
            return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (fields[i].required && !json_object_get(root, fields[i].name)) {
            respond_bad_field(r, fields[i].name, REASON_MISSING);
            return false;
        }
    }
    return true;
}

json_t *request_body_fields(struct request *r, const struct body_field *fields, size_t n)
{
    json_error_t err;
    json_t *root;

    root = json_loadb(r->body ? r->body : "", r->body_len, JSON_REJECT_DUPLICATES, &err);
    explicit_bzero(&err, sizeof err);   /* err.text quotes the body */
    if (!root) {
        respond_bad_field(r, "body", REASON_NOT_JSON);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        respond_bad_field(r, "body", REASON_NOT_OBJECT);
        return NULL;
    }
    if (!take_members(r, root, fields, n)) {
        json_decref(root);
        return NULL;
    }
    return root;
}
