/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/routes.c — the route table and path matching
 * (see routes.h). A {} segment matches one id: [A-Za-z0-9-], as the
 * service's random ids and request numbers ("C2026…") are; anything else is no match, so handlers only
 * ever see well-formed ids.
 */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "text.h"

#define CAPTURE "{}"

static const struct route table[] = {
    { "GET",  "/unlock/v1/health", api_health, ROUTE_PROTOCOL },
    { "POST", "/unlock/v1/requests", api_open, ROUTE_PROTOCOL },
    { "GET",  "/unlock/v1/requests/{}", api_get, ROUTE_PROTOCOL },
    { "POST", "/unlock/v1/requests/{}/sms", api_sms, ROUTE_PROTOCOL },
    { "POST", "/unlock/v1/requests/{}/verify", api_verify, ROUTE_PROTOCOL },
    { "POST", "/unlock/v1/requests/{}/authorize", api_authorize, ROUTE_PROTOCOL },
    { "POST", "/unlock/v1/rotations/{}/confirm", api_confirm, ROUTE_PROTOCOL },
    { "POST", "/unlock/v1/rotations/{}/reconcile", api_reconcile, ROUTE_PROTOCOL },
    { "POST", "/unlock/v1/rotations/{}/report", api_report, ROUTE_PROTOCOL },
    { "POST", "/unlock/v1/rotations/{}/answer", api_answer, ROUTE_PROTOCOL },

    { "POST", "/cert/v1/actions/query", api_cert_query, ROUTE_PROTOCOL },
    { "GET",  "/cert/v1/actions/{}", api_cert_get, ROUTE_PROTOCOL },
    { "POST", "/cert/v1/actions/{}/management-auth", api_cert_mgmt_auth, ROUTE_PROTOCOL },
    { "POST", "/cert/v1/actions/{}/issue", api_cert_issue, ROUTE_PROTOCOL },
    { "POST", "/cert/v1/actions/{}/confirm", api_cert_confirm, ROUTE_PROTOCOL },

    { "GET",  "/portal/config.json", portal_config, 0 },
    { "POST", "/portal/api/cert-requests", portal_cert_file, 0 },
    { "POST", "/portal/api/cert-requests/{}/materials", portal_cert_material, ROUTE_UPLOAD },
    { "GET",  "/portal/api/tokens/{}/cert-requests", portal_token_cert_requests, 0 },

    { "GET",  "/pay/{}", page_pay, 0 },
    { "POST", "/pay/{}", page_pay_submit, 0 },
    { "GET",  "/review/{}", page_review, 0 },
    { "POST", "/review/{}/materials", page_review_upload, ROUTE_UPLOAD },
    { "GET",  "/demo/admin/reviews", page_admin_reviews, 0 },
    { "POST", "/demo/admin/reviews/{}/approve", page_admin_approve, 0 },
    { "POST", "/demo/admin/reviews/{}/reject", page_admin_reject, 0 },
    { "GET",  "/demo/admin/cert-reviews", page_admin_cert_reviews, 0 },
    { "POST", "/demo/admin/cert-reviews/{}/review", page_admin_cert_review, 0 },
    { "POST", "/demo/admin/cert-reviews/{}/approve", page_admin_cert_approve, 0 },
    { "POST", "/demo/admin/cert-reviews/{}/reject", page_admin_cert_reject, 0 },

    { "GET",  "/demo/api/orders/{}", demo_order, 0 },
    { "POST", "/demo/api/orders/{}/pay", demo_pay, 0 },
    { "GET",  "/demo/api/outbox", demo_outbox, 0 },
    { "GET",  "/demo/api/reviews", demo_reviews, 0 },
    { "POST", "/demo/api/reviews/{}/approve", demo_approve, 0 },
    { "POST", "/demo/api/reviews/{}/reject", demo_reject, 0 },
    { "GET",  "/demo/api/reviews/{}/materials/{}", demo_material, 0 },
    { "GET",  "/demo/api/cert-requests", demo_cert_requests, 0 },
    { "POST", "/demo/api/cert-requests/{}/review", demo_cert_review, 0 },
    { "POST", "/demo/api/cert-requests/{}/approve", demo_cert_approve, 0 },
    { "POST", "/demo/api/cert-requests/{}/reject", demo_cert_reject, 0 },
    { "GET",  "/demo/api/cert-requests/{}/materials/{}", demo_cert_material, 0 },
};

#define N_ROUTES (sizeof table / sizeof table[0])

/* The length of the path segment at p (up to '/' or the end). */
static size_t segment_len(const char *p)
{
    return strcspn(p, "/");
}

/* Whether path fits pattern; the {} segments' offsets and lengths in path. */
static bool path_fits(const char *pattern, const char *path, size_t at[HTTP_MAX_CAPTURES],
                      size_t len[HTTP_MAX_CAPTURES])
{
    const char *p = pattern, *s = path;
    size_t n = 0;

    while (*p && *s) {
        if (strncmp(p, CAPTURE, strlen(CAPTURE)) == 0) {
            size_t l = segment_len(s);

            if (l == 0 || l >= CA_ID_MAX || n == HTTP_MAX_CAPTURES)
                return false;
            at[n] = (size_t)(s - path);
            len[n++] = l;
            p += strlen(CAPTURE);
            s += l;
        } else if (*p++ != *s++) {
            return false;
        }
    }
    return *p == '\0' && *s == '\0';
}

static bool method_fits(const struct route *rt, const char *method)
{
    return strcmp(rt->method, method) == 0 ||
           (strcmp(rt->method, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

static bool captures_are_ids(const char *path, const size_t at[], const size_t len[], size_t n)
{
    char id[CA_ID_MAX];

    for (size_t i = 0; i < n; i++) {
        memcpy(id, path + at[i], len[i]);
        id[len[i]] = '\0';
        if (!text_is_id(id, sizeof id))
            return false;
    }
    return true;
}

static size_t count_captures(const char *pattern)
{
    size_t n = 0;

    for (const char *p = strstr(pattern, CAPTURE); p; p = strstr(p + 1, CAPTURE))
        n++;
    return n;
}

static bool copy_captures(const char *path, const struct route *rt,
                          const size_t at[], const size_t len[], char *captures[])
{
    size_t n = count_captures(rt->pattern);

    for (size_t i = 0; i < n; i++)
        if (!(captures[i] = strndup(path + at[i], len[i])))
            return false;
    return true;
}

/* The route whose pattern this path fits, with any method. */
static const struct route *route_of_path(const char *path, size_t start, size_t at[],
                                         size_t len[])
{
    for (size_t i = start; i < N_ROUTES; i++)
        if (path_fits(table[i].pattern, path, at, len) &&
            captures_are_ids(path, at, len, count_captures(table[i].pattern)))
            return &table[i];
    return NULL;
}

bool routes_find(const char *method, const char *path, const struct route **route,
                 char *captures[HTTP_MAX_CAPTURES])
{
    size_t at[HTTP_MAX_CAPTURES], len[HTTP_MAX_CAPTURES];

    *route = NULL;
    for (const struct route *rt = route_of_path(path, 0, at, len); rt;
         rt = route_of_path(path, (size_t)(rt - table) + 1, at, len)) {
        if (method_fits(rt, method)) {
            *route = rt;
            return copy_captures(path, rt, at, len, captures);
        }
    }
    return true;
}

bool routes_allowed(const char *path, char *out, size_t size)
{
    size_t at[HTTP_MAX_CAPTURES], len[HTTP_MAX_CAPTURES], used = 0;

    out[0] = '\0';
    for (const struct route *rt = route_of_path(path, 0, at, len); rt;
         rt = route_of_path(path, (size_t)(rt - table) + 1, at, len))
        used += (size_t)snprintf(out + used, used < size ? size - used : 0, "%s%s",
                                 used ? ", " : "", rt->method);
    return used > 0 && used < size;
}
