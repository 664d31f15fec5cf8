/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/problem.c — the one table of the protocol's error
 * codes (see problem.h).
 */
#include "problem.h"

#include <ctype.h>
#include <stdio.h>

#define PROBLEM_TYPE_PREFIX "urn:ukeyd:unlock:problem:"
#define PROBLEM_TYPE_MAX    96

/* HTTP statuses by name: a reader of this table should not need an RFC. */
enum {
    HTTP_BAD_REQUEST = 400,
    HTTP_PAYMENT_REQUIRED = 402,
    HTTP_FORBIDDEN = 403,
    HTTP_NOT_FOUND = 404,
    HTTP_METHOD_NOT_ALLOWED = 405,
    HTTP_CONFLICT = 409,
    HTTP_GONE = 410,
    HTTP_PAYLOAD_TOO_LARGE = 413,
    HTTP_UNSUPPORTED_MEDIA_TYPE = 415,
    HTTP_TOO_MANY_REQUESTS = 429,
    HTTP_INTERNAL_SERVER_ERROR = 500,
};

struct code_info {
    const char *name;
    unsigned status;
    const char *title;
};

static const struct code_info codes[CA_CODE__COUNT] = {
    [CA_OK] = { "OK", 200, "OK" },
    [CA_BAD_REQUEST] = { "BAD_REQUEST", HTTP_BAD_REQUEST,
                         "The request body is not what this endpoint takes" },
    [CA_UNSUPPORTED_MEDIA_TYPE] = { "UNSUPPORTED_MEDIA_TYPE", HTTP_UNSUPPORTED_MEDIA_TYPE,
                                    "Send application/json" },
    [CA_PAYLOAD_TOO_LARGE] = { "PAYLOAD_TOO_LARGE", HTTP_PAYLOAD_TOO_LARGE,
                               "The request body is too large" },
    [CA_NOT_FOUND] = { "NOT_FOUND", HTTP_NOT_FOUND, "No such resource" },
    [CA_METHOD_NOT_ALLOWED] = { "METHOD_NOT_ALLOWED", HTTP_METHOD_NOT_ALLOWED,
                                "Method not allowed here" },
    [CA_ORIGIN_FORBIDDEN] = { "ORIGIN_FORBIDDEN", HTTP_FORBIDDEN,
                              "The protocol is not for browsers" },
    [CA_HOST_FORBIDDEN] = { "HOST_FORBIDDEN", HTTP_FORBIDDEN,
                            "The Host names no address of this service" },
    [CA_TOKEN_UNKNOWN] = { "TOKEN_UNKNOWN", HTTP_NOT_FOUND,
                           "No such token and certificate on record" },
    [CA_REQUEST_UNKNOWN] = { "REQUEST_UNKNOWN", HTTP_NOT_FOUND, "No such request" },
    [CA_REQUEST_EXPIRED] = { "REQUEST_EXPIRED", HTTP_GONE,
                             "The unlock request has expired: open a new one" },
    [CA_STATE_CONFLICT] = { "STATE_CONFLICT", HTTP_CONFLICT,
                            "Not possible in the request's current state" },
    [CA_PAYMENT_REQUIRED] = { "PAYMENT_REQUIRED", HTTP_PAYMENT_REQUIRED,
                              "The unlock fee has not been paid" },
    [CA_PHONE_MISMATCH] = { "PHONE_MISMATCH", HTTP_FORBIDDEN,
                            "The phone number is not the one registered" },
    [CA_RATE_LIMITED] = { "RATE_LIMITED", HTTP_TOO_MANY_REQUESTS, "Too soon: try again later" },
    [CA_CODE_NOT_ISSUED] = { "CODE_NOT_ISSUED", HTTP_CONFLICT,
                             "No code of that kind has been issued for this request" },
    [CA_CODE_INCORRECT] = { "CODE_INCORRECT", HTTP_FORBIDDEN, "The code is not correct" },
    [CA_CODE_EXPIRED] = { "CODE_EXPIRED", HTTP_GONE, "The code has expired" },
    [CA_TOO_MANY_ATTEMPTS] = { "TOO_MANY_ATTEMPTS", HTTP_TOO_MANY_REQUESTS,
                               "Too many wrong codes: this code no longer works" },
    [CA_ROTATION_UNKNOWN] = { "ROTATION_UNKNOWN", HTTP_NOT_FOUND, "No such PUK rotation" },
    [CA_ROTATION_CLOSED] = { "ROTATION_CLOSED", HTTP_GONE,
                             "The PUK rotation has been confirmed already" },
    [CA_ROTATION_CONFLICT] = { "ROTATION_CONFLICT", HTTP_CONFLICT,
                               "The PUK rotation was confirmed with the other result" },
    [CA_PUK_RECORD_MISMATCH] = { "PUK_RECORD_MISMATCH", HTTP_CONFLICT,
                                 "A token refused the PUK on record: support must check it" },
    [CA_MECHANISM_UNSUPPORTED] = { "MECHANISM_UNSUPPORTED", HTTP_CONFLICT,
                                   "This service can unlock the token by none of the "
                                   "mechanisms offered" },
    [CA_ORDER_UNKNOWN] = { "ORDER_UNKNOWN", HTTP_NOT_FOUND, "No such order" },
    [CA_REVIEW_UNKNOWN] = { "REVIEW_UNKNOWN", HTTP_NOT_FOUND, "No such review" },
    [CA_ACTION_UNKNOWN] = { "ACTION_UNKNOWN", HTTP_NOT_FOUND, "No such certificate action" },
    [CA_FILE_TYPE_UNSUPPORTED] = { "FILE_TYPE_UNSUPPORTED", HTTP_UNSUPPORTED_MEDIA_TYPE,
                                   "Only a JPEG, PNG or PDF file is accepted" },
    [CA_INTERNAL] = { "INTERNAL", HTTP_INTERNAL_SERVER_ERROR, "Internal error" },
};

static const struct code_info *info_of(enum ca_code code)
{
    return (unsigned)code < CA_CODE__COUNT ? &codes[code] : &codes[CA_INTERNAL];
}

const char *ca_code_name(enum ca_code code)
{
    return info_of(code)->name;
}

unsigned ca_code_status(enum ca_code code)
{
    return info_of(code)->status;
}

/* "CODE_INCORRECT" -> "urn:ukeyd:unlock:problem:code-incorrect" */
static void type_uri(const char *name, char *out, size_t size)
{
    size_t used = (size_t)snprintf(out, size, "%s", PROBLEM_TYPE_PREFIX);

    for (; *name && used + 1 < size; name++)
        out[used++] = *name == '_' ? '-' : (char)tolower((unsigned char)*name);
    out[used] = '\0';
}

static int add_extensions(json_t *body, const struct ca_problem *p)
{
    if (p->field && json_object_set_new(body, "field", json_string(p->field)))
        return -1;
    if (p->state && json_object_set_new(body, "state", json_string(p->state)))
        return -1;
    if (p->result && json_object_set_new(body, "result", json_string(p->result)))
        return -1;
    if (p->attempts_left != CA_NO_COUNT &&
        json_object_set_new(body, "attemptsLeft", json_integer(p->attempts_left)))
        return -1;
    if (p->retry_after != CA_NO_COUNT &&
        json_object_set_new(body, "retryAfter", json_integer(p->retry_after)))
        return -1;
    return 0;
}

json_t *ca_problem_body(const struct ca_problem *p)
{
    const struct code_info *info = info_of(p->code);
    char type[PROBLEM_TYPE_MAX];
    json_t *body;

    type_uri(info->name, type, sizeof type);
    body = json_pack("{s:s, s:s, s:i, s:s}", "type", type, "title", info->title, "status",
                     (int)info->status, "code", info->name);
    if (body && add_extensions(body, p)) {
        json_decref(body);
        return NULL;
    }
    return body;
}
