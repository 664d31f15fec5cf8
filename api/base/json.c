/* SPDX-License-Identifier: MIT */
/*
 * api/base/json.c — the wiping allocator for jansson and JSON rendering.
 *
 * jansson frees without telling the size, so every block carries a header
 * with its size; free zeroes the whole user part before handing it back.
 * The header is padded to max_align_t so the user part stays aligned.
 */
#include "api/base/json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define JSON_PRETTY_INDENT 2

union block_header {
    size_t size;
    max_align_t align;
};

static void *wiping_malloc(size_t size)
{
    union block_header *h;

    if (size > SIZE_MAX - sizeof *h)
        return NULL;
    h = malloc(sizeof *h + size);
    if (!h)
        return NULL;
    h->size = size;
    return h + 1;
}

static void wiping_free(void *p)
{
    union block_header *h;

    if (!p)
        return;
    h = (union block_header *)p - 1;
    explicit_bzero(p, h->size);
    free(h);
}

void json_wipe_install(void)
{
    json_set_alloc_funcs(wiping_malloc, wiping_free);
}

bool json_wipe_installed(void)
{
    json_malloc_t m;
    json_free_t f;

    json_get_alloc_funcs(&m, &f);
    return m == wiping_malloc && f == wiping_free;
}

char *json_text(const json_t *v, bool pretty, size_t *len)
{
    size_t flags = JSON_ENCODE_ANY | (pretty ? JSON_INDENT(JSON_PRETTY_INDENT) : JSON_COMPACT);
    char *body = json_dumps(v, flags);
    size_t n;
    char *text;
    json_malloc_t alloc;
    json_free_t release;

    if (!body)
        return NULL;
    /* Allocate through jansson's functions so json_text_free fits both. */
    json_get_alloc_funcs(&alloc, &release);
    n = strlen(body);
    text = alloc(n + 2);
    if (text) {
        memcpy(text, body, n);
        text[n] = '\n';
        text[n + 1] = '\0';
        *len = n + 1;
    }
    release(body);
    return text;
}

void json_text_free(char *text)
{
    json_malloc_t alloc;
    json_free_t release;

    json_get_alloc_funcs(&alloc, &release);
    release(text);
}

void wipe_free(void *p, size_t len)
{
    if (!p)
        return;
    explicit_bzero(p, len);
    free(p);
}

json_t *json_string_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *json_text_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

json_t *json_string_array(char *const *items, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < n; i++) {
        if (json_array_append_new(a, json_string(items[i]))) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}
