/* SPDX-License-Identifier: MIT */
/*
 * api/http/guard.h — the checks every request passes before a handler runs:
 * Host (DNS rebinding), Origin (allow-list), fetch metadata (cross-site
 * requests without an allowed Origin), Content-Type and body size of POSTs,
 * and the answer to a CORS preflight.
 *
 * Each check is a pure function of header values and the configuration, so
 * it can be tested without a server. Each returns API_OK to let the request
 * pass, or the API code to refuse it with.
 */
#ifndef UKEYD_API_GUARD_H
#define UKEYD_API_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/render/problem.h"

#define GUARD_BODY_MAX        (16 * 1024)
#define GUARD_HOSTS_MAX       16     /* the loopback names and one per listening socket */
#define GUARD_HOST_NAME_MAX   64
#define GUARD_PORTS_MAX       8
#define GUARD_ORIGIN_MAX      256

/* Where this server can be reached: names (without port) and ports. */
struct guard_hosts {
    char names[GUARD_HOSTS_MAX][GUARD_HOST_NAME_MAX];   /* "localhost", "127.0.0.1", "[::1]" */
    size_t n_names;
    uint16_t ports[GUARD_PORTS_MAX];
    size_t n_ports;
    bool any;          /* a Unix socket: no browser reaches it, so any Host passes */
};

/* An immutable allow-list of exact origins ("https://portal.example.cn"). */
struct origin_list {
    size_t n;
    char *origins[];
};

/* Adds the loopback names every server answers to. */
void guard_hosts_init(struct guard_hosts *h);
/* Adds a name (e.g. "127.0.0.2" or "[::1]") and a port; false when full. */
bool guard_hosts_add_name(struct guard_hosts *h, const char *name);
bool guard_hosts_add_port(struct guard_hosts *h, uint16_t port);

/* Host must be "<our name>:<our port>"; HOST_FORBIDDEN for a foreign name
 * (rebinding), MISDIRECTED_REQUEST for one of our names on another port. */
enum api_code guard_check_host(const char *host, const struct guard_hosts *h);

/* No Origin passes; otherwise it must be on the list, byte for byte. */
enum api_code guard_check_origin(const char *origin, const struct origin_list *allowed);
bool origin_list_contains(const struct origin_list *list, const char *origin);

/* Sec-Fetch-Site "cross-site" or "same-site" (or a value we do not know)
 * means a web page sent the request: only an allow-listed Origin excuses it. */
enum api_code guard_check_fetch_site(const char *sec_fetch_site, bool origin_allowed);

/* A JSON body must be declared as such ("application/json", any parameters). */
enum api_code guard_check_content_type(const char *content_type);

/* The declared Content-Length, when there is one, within GUARD_BODY_MAX. */
enum api_code guard_check_content_length(const char *content_length);

/* Whether `origin` is well-formed for the allow-list: "scheme://host[:port]"
 * with scheme http or https, lower case, no path, query or trailing slash.
 * On false, *why says what is wrong (static English text). */
bool guard_origin_valid(const char *origin, const char **why);

/* Allow-lists: built from strings (copied), freed whole. NULL on no memory. */
struct origin_list *origin_list_new(const char *const *origins, size_t n);
void origin_list_free(struct origin_list *list);

#endif
