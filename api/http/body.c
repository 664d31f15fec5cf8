/* SPDX-License-Identifier: MIT */
/*
 * api/http/body.c — POST bodies checked against a handler's field list.
 *
 * The error never quotes the body: the text jansson gives for a syntax error
 * does ("near '123456'"), and the body may hold a PIN, so that text is wiped
 * unread. Only a field's name goes back to the client.
 */
#include "api/http/body.h"

#include <string.h>

static bool refuse(struct body_error *err, const char *field, enum problem_reason why)
{
    size_t len = field ? strlen(field) : 0;

    /* A field name is not a secret, and naming it is the point of the error. */
    if (len > BODY_FIELD_NAME_MAX)
        len = 0;
    memcpy(err->field, field ? field : "", len);
    err->field[len] = '\0';
    err->reason = why;
    return false;
}

static const struct body_field *find_field(const struct body_field *fields, size_t n,
                                           const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(fields[i].name, name) == 0)
            return &fields[i];
    return NULL;
}

/* Stores one member through its field; false on a wrong type. */
static bool take_member(const struct body_field *f, json_t *v, struct body_error *err)
{
    if (f->type == BODY_STRING) {
        if (!json_is_string(v))
            return refuse(err, f->name, REASON_NOT_STRING);
        *f->string_out = json_string_value(v);
        return true;
    }
    if (!json_is_boolean(v))
        return refuse(err, f->name, REASON_NOT_BOOLEAN);
    *f->bool_out = json_is_true(v);
    return true;
}

static bool take_members(json_t *root, const struct body_field *fields, size_t n,
                         struct body_error *err)
{
    const char *key;
    json_t *v;

    json_object_foreach(root, key, v) {
        const struct body_field *f = find_field(fields, n, key);

        if (!f)
            return refuse(err, key, REASON_UNKNOWN_FIELD);
        if (!take_member(f, v, err))
            return false;
    }
    for (size_t i = 0; i < n; i++)
        if (fields[i].required && !json_object_get(root, fields[i].name))
            return refuse(err, fields[i].name, REASON_MISSING);
    return true;
}

json_t *body_parse(const char *text, size_t len, const struct body_field *fields, size_t n,
                   struct body_error *err)
{
    json_error_t parse_error;
    json_t *root;

    root = json_loadb(text ? text : "", text ? len : 0, JSON_REJECT_DUPLICATES, &parse_error);
    explicit_bzero(&parse_error, sizeof parse_error);   /* its text quotes the body */
    if (!root) {
        refuse(err, "body", REASON_NOT_JSON);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        refuse(err, "body", REASON_NOT_OBJECT);
        return NULL;
    }
    if (!take_members(root, fields, n, err)) {
        json_decref(root);
        return NULL;
    }
    return root;
}
