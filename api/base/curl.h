/* SPDX-License-Identifier: MIT */
/*
 * api/base/curl.h — the one libcurl set-up of every request ukeyd sends
 * (the CA client, api/ca/, and the environment's probe of the CA service,
 * api/env/env_probe.c), so that both follow the same rules: http and https
 * only, on old libcurl too; no signals; bounded time; TLS verified against
 * the given bundle or the system's store; no redirects; and plain http to a
 * loopback address never through a proxy the environment names.
 */
#ifndef UKEYD_API_BASE_CURL_H
#define UKEYD_API_BASE_CURL_H

#include <curl/curl.h>
#include <stdbool.h>

struct httpc_request {
    const char *url;
    const char *ca_bundle;               /* PEM file, or NULL for the system's trust store */
    unsigned connect_timeout_ms;
    unsigned timeout_ms;                 /* the whole exchange */
    const char *user_agent;
    curl_write_callback write;           /* the answer's body goes there */
    void *write_data;
    char *errbuf;                        /* CURL_ERROR_SIZE bytes */
};

/* curl_global_init / curl_global_cleanup, once per user. 0, or -1. */
int httpc_global_init(void);
void httpc_global_cleanup(void);

/* Sets the options on `h`; false when libcurl refused one. */
bool httpc_setup(CURL *h, const struct httpc_request *rq);

/* Whether `host` (as in a URL: an IPv6 literal in brackets) is a loopback
 * address literal: 127.0.0.0/8 or [::1]. Names are not: they may resolve
 * anywhere. */
bool httpc_host_is_loopback(const char *host);

#endif
