/* SPDX-License-Identifier: MIT */
/*
 * api/base/curl.c — the shared libcurl set-up (api/base/curl.h).
 */
#include "api/base/curl.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#define HTTPC_PROTOCOLS      "http,https"
#define IPV4_LOOPBACK_NET    127
#define VERIFY_HOST_NAME     2L         /* libcurl: the certificate must name the host */

int httpc_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void httpc_global_cleanup(void)
{
    curl_global_cleanup();
}

bool httpc_host_is_loopback(const char *host)
{
    struct in_addr v4;
    struct in6_addr v6;
    char bare[INET6_ADDRSTRLEN + 2];
    size_t n = strlen(host);

    if (inet_pton(AF_INET, host, &v4) == 1)
        return ((const unsigned char *)&v4.s_addr)[0] == IPV4_LOOPBACK_NET;
    if (n < 2 || n - 2 >= sizeof bare || host[0] != '[' || host[n - 1] != ']')
        return false;
    memcpy(bare, host + 1, n - 2);
    bare[n - 2] = '\0';
    return inet_pton(AF_INET6, bare, &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

/* CURLOPT_PROTOCOLS_STR replaced the bit mask in libcurl 7.85, which deprecates
 * the mask; older distributions (UOS, Kylin) have only the mask. */
static bool allow_http_only(CURL *h)
{
#if LIBCURL_VERSION_NUM >= CURL_VERSION_BITS(7, 85, 0)
    return curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, HTTPC_PROTOCOLS) == CURLE_OK;
#else
    return curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) ==
           CURLE_OK;
#endif
}

/* Plain http to this machine: the URL's scheme and host say so. */
static bool plain_loopback(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    bool yes = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
               curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
               curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
               strcmp(scheme, "http") == 0 && httpc_host_is_loopback(host);

    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return yes;
}

bool httpc_setup(CURL *h, const struct httpc_request *rq)
{
    bool ok = curl_easy_setopt(h, CURLOPT_URL, rq->url) == CURLE_OK && allow_http_only(h) &&
              curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)rq->connect_timeout_ms) ==
                  CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)rq->timeout_ms) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, VERIFY_HOST_NAME) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_USERAGENT, rq->user_agent) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, rq->write) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_WRITEDATA, rq->write_data) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_ERRORBUFFER, rq->errbuf) == CURLE_OK;

    if (ok && rq->ca_bundle)
        ok = curl_easy_setopt(h, CURLOPT_CAINFO, rq->ca_bundle) == CURLE_OK;
    /* A service on this machine is never reached through a proxy from the environment. */
    if (ok && plain_loopback(rq->url))
        ok = curl_easy_setopt(h, CURLOPT_PROXY, "") == CURLE_OK;
    return ok;
}
