/* SPDX-License-Identifier: MIT */
/*
 * api/env/env_probe.c — the CA service probe (libcurl) and the
 * network.ca-service check.
 *
 * One request answers every network question at once, so the check costs
 * the CA service one GET. It never follows redirects, speaks only http and
 * https, and sends neither an Origin nor cookies: the protocol refuses
 * browser-looking requests (docs/unlock-protocol.md).
 */
#include "api/env/env_probe.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/base/curl.h"
#include "api/env/env_clock.h"
#include "api/base/timeutil.h"

#define PROBE_BODY_MAX     4096      /* a health answer is a few dozen bytes */
#define PROBE_USER_AGENT   "ukeyd/" UKEYD_VERSION " (environment check)"
#define HTTP_OK            200
#define DECIMAL_BASE       10
#define VERSION_CHARS      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.+-~"

struct probe_body {
    char data[PROBE_BODY_MAX];
    size_t len;
};

static const char *const outcome_names[] = {
    [PROBE_NOT_RUN] = "not-run",
    [PROBE_ANSWERED] = "answered",
    [PROBE_DNS_FAILED] = "dns-failed",
    [PROBE_CONNECT_FAILED] = "connect-failed",
    [PROBE_CONNECT_TIMEOUT] = "connect-timeout",
    [PROBE_TLS_FAILED] = "tls-failed",
    [PROBE_NO_ANSWER] = "no-answer",
    [PROBE_ERROR] = "error",
};

int env_probe_global_init(void)
{
    return httpc_global_init();
}

void env_probe_global_cleanup(void)
{
    httpc_global_cleanup();
}

/* Keeps the first PROBE_BODY_MAX bytes and drops the rest without failing:
 * only the start of a health answer matters. */
static size_t keep_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct probe_body *b = userdata;
    size_t n = size * nmemb, room = sizeof b->data - 1 - b->len;
    size_t take = n < room ? n : room;

    memcpy(b->data + b->len, data, take);
    b->len += take;
    b->data[b->len] = '\0';
    return n;
}

/* Host, port and scheme of the configured URL, as libcurl reads it. */
static bool read_url_parts(const char *base_url, struct env_probe *out)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL, *scheme = NULL;
    bool ok;

    ok = u && curl_url_set(u, CURLUPART_URL, base_url, 0) == CURLUE_OK &&
         curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
         curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
         curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK;
    if (ok) {
        snprintf(out->host, sizeof out->host, "%s", host);
        out->port = strtol(port, NULL, DECIMAL_BASE);
        out->https = strcmp(scheme, "https") == 0;
    }
    curl_free(host);
    curl_free(port);
    curl_free(scheme);
    curl_url_cleanup(u);
    return ok;
}

static void health_url(const char *base_url, char *buf, size_t size)
{
    size_t len = strlen(base_url);

    while (len > 0 && base_url[len - 1] == '/')
        len--;
    snprintf(buf, size, "%.*s%s", (int)len, base_url, ENV_HEALTH_PATH);
}

static bool set_options(CURL *h, const struct env_probe *p, const char *ca_bundle,
                        struct probe_body *body, char *error)
{
    const struct httpc_request rq = {
        .url = p->url, .ca_bundle = ca_bundle, .connect_timeout_ms = p->timeout_ms,
        .timeout_ms = p->timeout_ms, .user_agent = PROBE_USER_AGENT, .write = keep_body,
        .write_data = body, .errbuf = error,
    };

    return httpc_setup(h, &rq);
}

/* Milliseconds from the start to a stage, -1 when it was not reached. */
static long stage_ms(CURL *h, CURLINFO what)
{
    curl_off_t us = 0;

    if (curl_easy_getinfo(h, what, &us) != CURLE_OK || us <= 0)
        return -1;
    return (long)(us / US_PER_MS);
}

static void read_timings(CURL *h, struct env_probe *p)
{
    char *ip = NULL;

    p->dns_ms = stage_ms(h, CURLINFO_NAMELOOKUP_TIME_T);
    p->connect_ms = stage_ms(h, CURLINFO_CONNECT_TIME_T);
    p->tls_ms = p->https ? stage_ms(h, CURLINFO_APPCONNECT_TIME_T) : -1;
    p->total_ms = stage_ms(h, CURLINFO_TOTAL_TIME_T);
    if (curl_easy_getinfo(h, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK && ip)
        snprintf(p->address, sizeof p->address, "%s", ip);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &p->http_status);
}

static enum env_probe_outcome outcome_of(CURLcode code, const struct env_probe *p)
{
    switch (code) {
    case CURLE_OK:
        return PROBE_ANSWERED;
    case CURLE_COULDNT_RESOLVE_HOST:
        return PROBE_DNS_FAILED;
    case CURLE_COULDNT_CONNECT:
        return PROBE_CONNECT_FAILED;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        return PROBE_TLS_FAILED;
    case CURLE_OPERATION_TIMEDOUT:
        if (p->connect_ms >= 0)
            return PROBE_NO_ANSWER;
        return p->address[0] ? PROBE_CONNECT_TIMEOUT : PROBE_DNS_FAILED;
    default:
        return PROBE_ERROR;
    }
}

/* The service's clock from its Date header, against ours around the call. */
static void read_date(CURL *h, struct env_probe *p, const struct timespec *sent,
                      const struct timespec *received)
{
    struct curl_header *date = NULL;
    time_t t;

    if (curl_easy_header(h, "Date", 0, CURLH_HEADER, -1, &date) != CURLHE_OK)
        return;
    t = curl_getdate(date->value, NULL);
    if (t < 0)
        return;
    p->have_date = true;
    p->skew_s = env_clock_skew(t, sent, received);
}

/* "ukeydLatest" of a health answer; ignored unless it looks like a version. */
static void read_latest(const struct probe_body *body, struct env_probe *p)
{
    json_t *root = json_loadb(body->data, body->len, 0, NULL);
    const char *v = json_string_value(json_object_get(root, ENV_LATEST_MEMBER));

    if (v && v[0] && strlen(v) < sizeof p->latest && strspn(v, VERSION_CHARS) == strlen(v))
        snprintf(p->latest, sizeof p->latest, "%s", v);
    json_decref(root);
}

void env_probe_run(const char *base_url, const char *ca_bundle, unsigned timeout_ms,
                   struct env_probe *out)
{
    struct probe_body body = { .len = 0 };
    char error[CURL_ERROR_SIZE] = "";
    struct timespec sent, received;
    CURL *h;
    CURLcode code;

    memset(out, 0, sizeof *out);
    out->timeout_ms = timeout_ms;
    out->dns_ms = out->connect_ms = out->tls_ms = out->total_ms = -1;
    health_url(base_url, out->url, sizeof out->url);
    h = curl_easy_init();
    if (!h || !read_url_parts(base_url, out)) {
        out->outcome = PROBE_ERROR;
        snprintf(out->error, sizeof out->error, "%s", h ? "bad URL" : "out of memory");
        curl_easy_cleanup(h);
        return;
    }
    if (!set_options(h, out, ca_bundle, &body, error)) {
        out->outcome = PROBE_ERROR;
        snprintf(out->error, sizeof out->error, "%s", "libcurl refused an option");
        curl_easy_cleanup(h);
        return;
    }
    clock_gettime(CLOCK_REALTIME, &sent);
    code = curl_easy_perform(h);
    clock_gettime(CLOCK_REALTIME, &received);
    read_timings(h, out);
    out->outcome = outcome_of(code, out);
    snprintf(out->error, sizeof out->error, "%s", error[0] ? error : curl_easy_strerror(code));
    if (code == CURLE_OK) {
        out->error[0] = '\0';
        read_date(h, out, &sent, &received);
        if (out->http_status == HTTP_OK)
            read_latest(&body, out);
    }
    curl_easy_cleanup(h);
}

/* --- the check ---------------------------------------------------------- */

static json_t *tls_state(const struct env_probe *p)
{
    if (!p->https)
        return json_string("none");
    if (p->outcome == PROBE_TLS_FAILED)
        return json_string("failed");
    return p->tls_ms >= 0 ? json_string("verified") : json_null();
}

static json_t *ms_or_null(long ms)
{
    return ms >= 0 ? json_integer(ms) : json_null();
}

static void add_probe_details(struct env_check *c, const struct env_probe *p)
{
    bool connected = p->outcome == PROBE_ANSWERED || p->outcome == PROBE_NO_ANSWER ||
                     p->outcome == PROBE_TLS_FAILED;

    env_check_detail(c, "url", json_string(p->url));
    env_check_detail(c, "host", json_string(p->host));
    env_check_detail(c, "port", json_integer(p->port));
    env_check_detail(c, "scheme", json_string(p->https ? "https" : "http"));
    env_check_detail(c, "outcome", json_string(outcome_names[p->outcome]));
    env_check_detail(c, "resolved", json_boolean(p->outcome != PROBE_DNS_FAILED &&
                                                 (p->address[0] || p->dns_ms >= 0)));
    env_check_detail(c, "address", p->address[0] ? json_string(p->address) : json_null());
    env_check_detail(c, "connected", json_boolean(connected));
    env_check_detail(c, "tls", tls_state(p));
    env_check_detail(c, "httpStatus", p->http_status ? json_integer(p->http_status)
                                                      : json_null());
    env_check_detail(c, "error", p->error[0] ? json_string(p->error) : json_null());
    env_check_detail(c, "timingsMs",
                     json_pack("{s:o, s:o, s:o, s:o}", "dns", ms_or_null(p->dns_ms), "connect",
                               ms_or_null(p->connect_ms), "tls", ms_or_null(p->tls_ms),
                               "total", ms_or_null(p->total_ms)));
    env_check_detail(c, "timeoutMs", json_integer(p->timeout_ms));
}

static void say_answered(struct env_check *c, const struct env_probe *p)
{
    if (p->http_status != HTTP_OK) {
        env_check_say(c, ENV_WARN, ENV_NET_HTTP, ENV_NET_HINT_NO_ANSWER);
        env_words_arg(&c->found, "status", "%ld", p->http_status);
    } else if (p->total_ms > ENV_PROBE_SLOW_MS) {
        env_check_say(c, ENV_WARN, ENV_NET_SLOW, ENV_NET_HINT_SLOW);
    } else {
        env_check_say(c, ENV_OK, p->https ? ENV_NET_OK_TLS : ENV_NET_OK_PLAIN, ENV_MSG_NONE);
    }
}

static void say_outcome(struct env_check *c, const struct env_probe *p)
{
    switch (p->outcome) {
    case PROBE_ANSWERED:
        say_answered(c, p);
        break;
    case PROBE_DNS_FAILED:
        env_check_say(c, ENV_FAIL, ENV_NET_DNS, ENV_NET_HINT_DNS);
        break;
    case PROBE_CONNECT_FAILED:
        env_check_say(c, ENV_FAIL, ENV_NET_CONNECT, ENV_NET_HINT_CONNECT);
        break;
    case PROBE_CONNECT_TIMEOUT:
        env_check_say(c, ENV_FAIL, ENV_NET_CONNECT_TIMEOUT, ENV_NET_HINT_CONNECT);
        break;
    case PROBE_TLS_FAILED:
        env_check_say(c, ENV_FAIL, ENV_NET_TLS, ENV_NET_HINT_TLS);
        break;
    case PROBE_NO_ANSWER:
        env_check_say(c, ENV_FAIL, ENV_NET_NO_ANSWER, ENV_NET_HINT_NO_ANSWER);
        break;
    case PROBE_NOT_RUN:
    case PROBE_ERROR:
        env_check_say(c, ENV_FAIL, ENV_NET_ERROR, ENV_NET_HINT_CONNECT);
        break;
    }
}

/* Every sentence of the check takes its values from this one set. */
static void fill_words(struct env_words *w, const struct env_probe *p)
{
    env_words_arg(w, "host", "%s", p->host);
    env_words_arg(w, "address", "%s", p->address[0] ? p->address : p->host);
    env_words_arg(w, "port", "%ld", p->port);
    env_words_arg(w, "rtt", "%ld", p->total_ms);
    env_words_arg(w, "ms", "%u", p->timeout_ms);
    env_words_arg(w, "error", "%s", p->error);
}

void env_network_check(struct env_report *r, bool configured, const struct env_probe *p,
                       unsigned timeout_ms)
{
    struct env_check *c = env_report_add(r, "network", "network.ca-service", ENV_NET_TITLE);

    if (!c)
        return;
    env_check_detail(c, "configured", json_boolean(configured));
    if (!configured) {
        env_check_say(c, ENV_WARN, ENV_NET_UNCONFIGURED, ENV_NET_HINT_CONFIGURE);
        return;
    }
    if (!p) {
        env_check_say(c, ENV_WARN, ENV_TIMED_OUT, ENV_HINT_TIMED_OUT);
        env_words_arg(&c->found, "ms", "%u", timeout_ms);
        return;
    }
    say_outcome(c, p);
    fill_words(&c->found, p);
    env_words_arg(&c->hint, "host", "%s", p->host);
    env_words_arg(&c->hint, "url", "%s", p->url);
    add_probe_details(c, p);
}
