/* SPDX-License-Identifier: MIT */
/*
 * api/http/body.h — the JSON body of a POST, checked field by field against the
 * handler's list: every listed field has its type, every required one is
 * there, nothing unlisted is.
 *
 * Pure (no request, no response), so that api/http/respond.c answers with what it
 * finds and the fuzz target (tests/fuzz/fuzz-body.c) runs the very same code.
 */
#ifndef UKEYD_API_BODY_H
#define UKEYD_API_BODY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "api/render/problem.h"

/* Longer unknown names are not named back: nobody typed them. */
#define BODY_FIELD_NAME_MAX 32

enum body_field_type {
    BODY_STRING,
    BODY_BOOL,
};

struct body_field {
    const char *name;
    enum body_field_type type;
    bool required;
    const char **string_out;           /* BODY_STRING */
    bool *bool_out;                    /* BODY_BOOL; left alone when absent */
};

/* Why a body was refused: the field at fault ("body" for the whole), or ""
 * when it cannot be named, and the reason for BAD_REQUEST. */
struct body_error {
    char field[BODY_FIELD_NAME_MAX + 1];
    enum problem_reason reason;
};

/*
 * Parses `len` bytes of `text` (need not be NUL-terminated). Returns the
 * object, which owns the strings stored through the fields (json_decref wipes
 * them, with the wiping allocator installed), or NULL with *err filled in.
 */
json_t *body_parse(const char *text, size_t len, const struct body_field *fields, size_t n,
                   struct body_error *err);

#endif
