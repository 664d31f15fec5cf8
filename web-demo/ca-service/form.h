/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/form.h — collects the fields of an HTML form post
 * (urlencoded or multipart, parsed by libmicrohttpd's post processor) into
 * named, size-limited buffers. Fields not asked for are ignored.
 */
#ifndef UKEY_CA_FORM_H
#define UKEY_CA_FORM_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

#define FORM_FILENAME_MAX 256
#define FORM_TYPE_MAX     128

struct form_field {
    const char *name;
    size_t cap;                              /* the most bytes it may hold */
    char *data;                              /* NUL-terminated; NULL when absent */
    size_t len, alloc;
    bool overflow;                           /* more than cap arrived */
    bool complete;                           /* a second part of that name: ignored */
    char filename[FORM_FILENAME_MAX];        /* file parts only */
    char content_type[FORM_TYPE_MAX];
};

/* Parses the request's form body into fields[n]; false when it is no form. */
bool form_read(struct http_req *r, struct form_field *fields, size_t n);

/* The field's text, "" when absent. */
const char *form_text(const struct form_field *f);

/* Frees (and wipes) the fields' buffers. */
void form_free(struct form_field *fields, size_t n);

struct material;
typedef struct ca_problem (*material_store)(struct ca *ca, const char *key,
                                            const struct material *m);

/*
 * A multipart upload of one material (fields `kind` and `file`), checked
 * (kind, size, name, and a JPEG, PNG or PDF by its first bytes), then given
 * to store with key (a review ticket, a certificate request's number) and
 * the type its content shows. UNSUPPORTED_MEDIA_TYPE when it is no multipart
 * form, PAYLOAD_TOO_LARGE, BAD_REQUEST with the field, FILE_TYPE_UNSUPPORTED
 * (field file) for any other kind of file.
 */
struct ca_problem form_store_material(struct http_req *r, material_store store, const char *key);

#endif
