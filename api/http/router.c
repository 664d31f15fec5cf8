/* SPDX-License-Identifier: MIT */
/*
 * api/http/router.c — segment-by-segment matching of paths against route patterns.
 *
 * Tables are small (a dozen routes), so a linear scan in table order is both
 * the simplest and fast enough; the first route whose pattern and method fit
 * wins. HEAD fits every GET route (RFC 9110 9.3.2): the handler answers as
 * for GET, and libmicrohttpd sends the headers, Content-Length included,
 * without the body.
 */
#include "api/http/router.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define ROUTE_OPTIONS "OPTIONS"
#define ROUTE_GET     "GET"
#define ROUTE_HEAD    "HEAD"

struct segment {
    const char *start;
    size_t len;
};

/* Takes the next "/seg" from *cursor; false at the end or on a missing '/'. */
static bool next_segment(const char **cursor, struct segment *seg)
{
    const char *p = *cursor;

    if (*p != '/')
        return false;
    p++;
    seg->start = p;
    seg->len = strcspn(p, "/");
    *cursor = p + seg->len;
    return true;
}

/* URL-safe without escaping (RFC 3986 unreserved): token ids, PIV slots, and
 * SKF certificate ids ("<container>.sign", other bytes written "~xx"). */
static bool param_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == '~';
}

static bool param_value_ok(const char *v, size_t len)
{
    if (len == 0 || len > ROUTE_PARAM_LEN_MAX)
        return false;
    if (v[0] == '.' && (len == 1 || (len == 2 && v[1] == '.')))
        return false;            /* a dot segment: a path, never a name */
    for (size_t i = 0; i < len; i++)
        if (!param_char_ok(v[i]))
            return false;
    return true;
}

static bool add_param(struct route_match *m, const char *name, size_t name_len,
                      const char *value, size_t value_len)
{
    struct route_param *p;

    if (m->n_params >= ROUTE_PARAMS_MAX || name_len > ROUTE_PARAM_NAME_MAX)
        return false;
    p = &m->params[m->n_params++];
    memcpy(p->name, name, name_len);
    p->name[name_len] = '\0';
    memcpy(p->value, value, value_len);
    p->value[value_len] = '\0';
    return true;
}

/* "{name}suffix" against one path segment. */
static bool match_param_segment(const struct segment *pat, const struct segment *seg,
                                struct route_match *m)
{
    const char *close = memchr(pat->start, '}', pat->len);
    size_t name_len, suffix_len, value_len;
    const char *suffix;

    if (!close)
        return false;
    name_len = (size_t)(close - pat->start - 1);
    suffix = close + 1;
    suffix_len = pat->len - name_len - 2;
    if (seg->len <= suffix_len)
        return false;
    value_len = seg->len - suffix_len;
    if (memcmp(seg->start + value_len, suffix, suffix_len) != 0)
        return false;
    if (!param_value_ok(seg->start, value_len))
        return false;
    return add_param(m, pat->start + 1, name_len, seg->start, value_len);
}

static bool match_segment(const struct segment *pat, const struct segment *seg,
                          struct route_match *m)
{
    if (pat->len > 0 && pat->start[0] == '{')
        return match_param_segment(pat, seg, m);
    return pat->len == seg->len && memcmp(pat->start, seg->start, seg->len) == 0;
}

/* Whether `path` fits `pattern`; fills m's parameters as it goes. */
static bool match_path(const char *pattern, const char *path, struct route_match *m)
{
    struct segment pat, seg;

    m->n_params = 0;
    for (;;) {
        bool more_pat = next_segment(&pattern, &pat);
        bool more_path = next_segment(&path, &seg);

        if (!more_pat || !more_path)
            return !more_pat && !more_path && *pattern == '\0' && *path == '\0';
        if (!match_segment(&pat, &seg, m))
            return false;
    }
}

static void allow_add(char *allow, const char *method)
{
    size_t used = strlen(allow);
    char *p = allow;

    /* Each method once, however many routes share the path. */
    while ((p = strstr(p, method))) {
        size_t n = strlen(method);

        if ((p == allow || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0'))
            return;
        p += n;
    }
    snprintf(allow + used, ROUTE_ALLOW_MAX - used, "%s%s", used ? ", " : "", method);
}

/* Whether a route declared for `route_method` serves a request's `method`. */
static bool method_fits(const char *route_method, const char *method)
{
    if (strcmp(route_method, method) == 0)
        return true;
    return strcmp(method, ROUTE_HEAD) == 0 && strcmp(route_method, ROUTE_GET) == 0;
}

enum route_result router_match(const struct route *table, size_t n, const char *method,
                               const char *path, struct route_match *m)
{
    bool path_known = false;
    struct route_match scratch = { 0 };

    memset(m, 0, sizeof *m);
    for (size_t i = 0; i < n; i++) {
        if (!match_path(table[i].pattern, path, &scratch))
            continue;
        path_known = true;
        allow_add(m->allow, table[i].method);
        if (strcmp(table[i].method, ROUTE_GET) == 0)
            allow_add(m->allow, ROUTE_HEAD);
        if (method_fits(table[i].method, method)) {
            *m = scratch;
            m->route = &table[i];
            return ROUTE_FOUND;
        }
    }
    if (!path_known)
        return ROUTE_NOT_FOUND;
    allow_add(m->allow, ROUTE_OPTIONS);
    return ROUTE_METHOD_NOT_ALLOWED;
}

const char *route_param(const struct route_match *m, const char *name)
{
    for (size_t i = 0; i < m->n_params; i++)
        if (strcmp(m->params[i].name, name) == 0)
            return m->params[i].value;
    return NULL;
}
