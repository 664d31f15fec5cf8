/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/form.c — form fields from the post processor, and
 * the one material upload both review paths share, with the check of its
 * type by content (see form.h). A field may arrive in several pieces; each
 * is appended.
 */
#include "form.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "review.h"
#include "secret.h"

#define MATERIAL_KIND_MAX 32

struct form {
    struct form_field *fields;
    size_t n;
};

static struct form_field *field_named(struct form *form, const char *key)
{
    for (size_t i = 0; key && i < form->n; i++)
        if (strcmp(form->fields[i].name, key) == 0)
            return &form->fields[i];
    return NULL;
}

static bool append(struct form_field *f, const char *data, size_t size)
{
    if (f->overflow || size > f->cap - f->len) {
        f->overflow = true;
        return true;
    }
    return secret_buf_append(&f->data, &f->len, &f->alloc, data, size);
}

static enum MHD_Result on_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *filename, const char *content_type,
                                const char *transfer_encoding, const char *data, uint64_t off,
                                size_t size)
{
    struct form_field *f = field_named(cls, key);

    (void)kind;
    (void)transfer_encoding;
    /* a new part under a name already filled: the first one counts */
    if (f && off == 0 && f->len > 0)
        f->complete = true;
    if (!f || f->complete)
        return MHD_YES;
    if (filename && !f->filename[0])
        snprintf(f->filename, sizeof f->filename, "%s", filename);
    if (content_type && !f->content_type[0])
        snprintf(f->content_type, sizeof f->content_type, "%s", content_type);
    return append(f, data, size) ? MHD_YES : MHD_NO;
}

bool form_read(struct http_req *r, struct form_field *fields, size_t n)
{
    struct form form = { fields, n };

    return req_form(r, on_field, &form);
}

const char *form_text(const struct form_field *f)
{
    return f->data ? f->data : "";
}

void form_free(struct form_field *fields, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        secret_free(fields[i].data);
        fields[i].data = NULL;
    }
}

enum { UP_KIND, UP_FILE, UP__COUNT };

/*
 * The types the upload forms ask for (accept="image/png,image/jpeg,
 * application/pdf"), told by the file's first bytes, never by its name or the
 * type the browser claims: anything else (an HTML page, an SVG with script)
 * would be stored for the staff to open.
 */
static const unsigned char PNG_SIGNATURE[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n' };
static const unsigned char JPEG_SOI_MARKER[] = { 0xFF, 0xD8, 0xFF };   /* SOI, then a marker */
static const unsigned char PDF_HEADER[] = { '%', 'P', 'D', 'F', '-' };

static const struct {
    const unsigned char *magic;
    size_t len;
    const char *type;
} material_types[] = {
    { PNG_SIGNATURE, sizeof PNG_SIGNATURE, "image/png" },
    { JPEG_SOI_MARKER, sizeof JPEG_SOI_MARKER, "image/jpeg" },
    { PDF_HEADER, sizeof PDF_HEADER, "application/pdf" },
};

/* The material's type by its content; NULL when it is none of the above. */
static const char *material_type_of(const void *data, size_t len)
{
    for (size_t i = 0; data && i < sizeof material_types / sizeof material_types[0]; i++)
        if (len >= material_types[i].len &&
            memcmp(data, material_types[i].magic, material_types[i].len) == 0)
            return material_types[i].type;
    return NULL;
}

struct ca_problem form_store_material(struct http_req *r, material_store store, const char *key)
{
    struct form_field f[UP__COUNT] = {
        [UP_KIND] = { .name = "kind", .cap = MATERIAL_KIND_MAX },
        [UP_FILE] = { .name = "file", .cap = MATERIAL_MAX_BYTES },
    };
    struct material m;
    struct ca_problem p = ca_ok();
    const char *bad, *type;

    if (!req_content_type_is(r, "multipart/form-data") || !form_read(r, f, UP__COUNT)) {
        form_free(f, UP__COUNT);
        return ca_fail(CA_UNSUPPORTED_MEDIA_TYPE);
    }
    /* stored under the type its bytes show, whatever the browser said */
    type = material_type_of(f[UP_FILE].data, f[UP_FILE].len);
    m = (struct material){ form_text(&f[UP_KIND]), f[UP_FILE].filename,
                           type ? type : f[UP_FILE].content_type, f[UP_FILE].data,
                           f[UP_FILE].len };
    if (f[UP_FILE].overflow)
        p = ca_fail(CA_PAYLOAD_TOO_LARGE);
    else if ((bad = material_bad_field(&m)))
        p = ca_bad_field(bad);
    else if (!type) {
        p = ca_fail(CA_FILE_TYPE_UNSUPPORTED);
        p.field = "file";
    } else {
        p = store(r->ca, key, &m);
    }
    form_free(f, UP__COUNT);
    return p;
}
