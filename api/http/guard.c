/* SPDX-License-Identifier: MIT */
/*
 * api/http/guard.c — request guards against web pages: Host, Origin, fetch
 * metadata, Content-Type and size.
 *
 * All comparisons are exact (no suffix or prefix matching): "localhost.evil"
 * is not "localhost", "https://portal.example.cn.evil" is not the portal.
 */
#include "api/http/guard.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PORT_DIGITS_MAX   5
#define PORT_MAX          65535
#define DECIMAL_BASE      10
#define MEDIA_TYPE_JSON   "application/json"

static const char *const loopback_names[] = { "localhost", "127.0.0.1", "[::1]" };

/* Fetch metadata values that mean the browser itself vouches for the request:
 * the page is ours ("same-origin") or the user typed the URL ("none"). */
static const char *const fetch_sites_trusted[] = { "same-origin", "none" };

void guard_hosts_init(struct guard_hosts *h)
{
    memset(h, 0, sizeof *h);
    for (size_t i = 0; i < sizeof loopback_names / sizeof loopback_names[0]; i++)
        guard_hosts_add_name(h, loopback_names[i]);
}

static bool host_name_known(const struct guard_hosts *h, const char *name, size_t len)
{
    for (size_t i = 0; i < h->n_names; i++)
        if (strlen(h->names[i]) == len && strncasecmp(h->names[i], name, len) == 0)
            return true;
    return false;
}

bool guard_hosts_add_name(struct guard_hosts *h, const char *name)
{
    size_t len = strlen(name);

    if (host_name_known(h, name, len))
        return true;
    if (h->n_names >= GUARD_HOSTS_MAX || len >= GUARD_HOST_NAME_MAX)
        return false;
    memcpy(h->names[h->n_names++], name, len + 1);
    return true;
}

bool guard_hosts_add_port(struct guard_hosts *h, uint16_t port)
{
    for (size_t i = 0; i < h->n_ports; i++)
        if (h->ports[i] == port)
            return true;
    if (h->n_ports >= GUARD_PORTS_MAX)
        return false;
    h->ports[h->n_ports++] = port;
    return true;
}

static bool port_known(const struct guard_hosts *h, const char *digits)
{
    size_t len = strlen(digits);
    unsigned long port;

    if (len == 0 || len > PORT_DIGITS_MAX || strspn(digits, "0123456789") != len)
        return false;
    port = strtoul(digits, NULL, DECIMAL_BASE);
    for (size_t i = 0; i < h->n_ports; i++)
        if (port <= PORT_MAX && h->ports[i] == port)
            return true;
    return false;
}

/* Where the port's ':' is: after the ']' of an IPv6 literal, else the last one. */
static const char *port_separator(const char *host)
{
    if (host[0] == '[') {
        const char *close = strchr(host, ']');

        return close && close[1] == ':' ? close + 1 : NULL;
    }
    return strrchr(host, ':');
}

enum api_code guard_check_host(const char *host, const struct guard_hosts *h)
{
    const char *colon;
    size_t name_len;

    if (h->any)
        return API_OK;
    if (!host || !*host)
        return API_HOST_FORBIDDEN;
    colon = port_separator(host);
    name_len = colon ? (size_t)(colon - host) : strlen(host);
    if (!host_name_known(h, host, name_len))
        return API_HOST_FORBIDDEN;
    /* No port means port 80 (browsers omit only the default): not ours. */
    if (!colon || !port_known(h, colon + 1))
        return API_MISDIRECTED_REQUEST;
    return API_OK;
}

bool origin_list_contains(const struct origin_list *list, const char *origin)
{
    if (!list || !origin)
        return false;
    for (size_t i = 0; i < list->n; i++)
        if (strcmp(list->origins[i], origin) == 0)
            return true;
    return false;
}

enum api_code guard_check_origin(const char *origin, const struct origin_list *allowed)
{
    if (!origin)
        return API_OK;
    return origin_list_contains(allowed, origin) ? API_OK : API_ORIGIN_FORBIDDEN;
}

enum api_code guard_check_fetch_site(const char *sec_fetch_site, bool origin_allowed)
{
    if (!sec_fetch_site || origin_allowed)
        return API_OK;
    for (size_t i = 0; i < sizeof fetch_sites_trusted / sizeof fetch_sites_trusted[0]; i++)
        if (strcasecmp(sec_fetch_site, fetch_sites_trusted[i]) == 0)
            return API_OK;
    return API_ORIGIN_FORBIDDEN;
}

enum api_code guard_check_content_type(const char *content_type)
{
    size_t type_len;

    if (!content_type)
        return API_UNSUPPORTED_MEDIA_TYPE;
    content_type += strspn(content_type, " \t");
    type_len = strcspn(content_type, " \t;");
    if (type_len != strlen(MEDIA_TYPE_JSON) ||
        strncasecmp(content_type, MEDIA_TYPE_JSON, type_len) != 0)
        return API_UNSUPPORTED_MEDIA_TYPE;
    return API_OK;
}

enum api_code guard_check_content_length(const char *content_length)
{
    char *end;
    unsigned long long n;

    if (!content_length)
        return API_OK;
    n = strtoull(content_length, &end, DECIMAL_BASE);
    /* libmicrohttpd has already refused a malformed value; be strict anyway. */
    if (end == content_length || *end != '\0' || content_length[0] == '-')
        return API_BAD_REQUEST;
    return n > GUARD_BODY_MAX ? API_PAYLOAD_TOO_LARGE : API_OK;
}

static bool origin_host_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

static bool origin_host_valid(const char *host, size_t len, const char **why)
{
    if (len == 0) {
        *why = "has no host name";
        return false;
    }
    if (host[0] == '[') {
        if (host[len - 1] != ']' || strspn(host + 1, "0123456789abcdef:") != len - 2) {
            *why = "has a malformed IPv6 address (lower-case hex in brackets)";
            return false;
        }
        return true;
    }
    for (size_t i = 0; i < len; i++) {
        if (!origin_host_char_ok(host[i])) {
            *why = "must be lower case, with only letters, digits, '.' and '-' in the host "
                   "name, and no path (not even a trailing '/')";
            return false;
        }
    }
    return true;
}

static bool origin_port_valid(const char *port, const char **why)
{
    size_t len = strlen(port);

    if (len == 0 || len > PORT_DIGITS_MAX || strspn(port, "0123456789") != len ||
        strtoul(port, NULL, DECIMAL_BASE) > PORT_MAX || port[0] == '0') {
        *why = "has a port that is not a number from 1 to 65535";
        return false;
    }
    return true;
}

static bool origin_host_is_loopback(const char *host, size_t len)
{
    static const char *const loopback[] = {"localhost", "[::1]"};
    size_t i;

    for (i = 0; i < sizeof loopback / sizeof loopback[0]; i++)
        if (len == strlen(loopback[i]) && strncmp(host, loopback[i], len) == 0)
            return true;
    /* 127.0.0.0/8, written as a dotted quad */
    return len >= strlen("127.0.0.1") && strncmp(host, "127.", strlen("127.")) == 0 &&
           strspn(host, "0123456789.") >= len;
}

bool guard_origin_valid(const char *origin, const char **why)
{
    const char *host, *port;
    size_t host_len;

    if (strncmp(origin, "https://", strlen("https://")) == 0)
        host = origin + strlen("https://");
    else if (strncmp(origin, "http://", strlen("http://")) == 0)
        host = origin + strlen("http://");
    else {
        *why = "must start with https:// or http:// (lower case)";
        return false;
    }
    if (strlen(origin) >= GUARD_ORIGIN_MAX) {
        *why = "is too long";
        return false;
    }
    port = host[0] == '[' ? port_separator(host) : strchr(host, ':');
    host_len = port ? (size_t)(port - host) : strlen(host);
    if (!origin_host_valid(host, host_len, why))
        return false;
    if (host == origin + strlen("http://") && !origin_host_is_loopback(host, host_len)) {
        /* anyone on the network path can rewrite a plain-http page and,
         * through it, drive the token: only this machine's pages may be http */
        *why = "uses http:// for a host other than this machine (a portal must be https://)";
        return false;
    }
    return !port || origin_port_valid(port + 1, why);
}

struct origin_list *origin_list_new(const char *const *origins, size_t n)
{
    struct origin_list *list = calloc(1, sizeof *list + n * sizeof list->origins[0]);

    if (!list)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        list->origins[i] = strdup(origins[i]);
        if (!list->origins[i]) {
            origin_list_free(list);
            return NULL;
        }
        list->n = i + 1;
    }
    return list;
}

void origin_list_free(struct origin_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->n; i++)
        free(list->origins[i]);
    free(list);
}
