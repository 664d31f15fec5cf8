/* SPDX-License-Identifier: MIT */
/*
 * api/env/env_probe.h — one bounded look at the CA service: GET
 * <ca-service-url>/unlock/v1/health with libcurl. It tells whether the
 * service's name resolves, whether TCP connects, whether TLS verifies (https),
 * the round trip, the service's clock (Date header) and the newest ukeyd it
 * announces ("ukeydLatest" in the health answer); and the network check made
 * of all that.
 */
#ifndef UKEYD_API_ENV_PROBE_H
#define UKEYD_API_ENV_PROBE_H

#include <stdbool.h>
#include <time.h>

#include "api/env/env_check.h"

#define ENV_HEALTH_PATH     "/unlock/v1/health"
#define ENV_LATEST_MEMBER   "ukeydLatest"
#define ENV_PROBE_URL_MAX   512
#define ENV_PROBE_HOST_MAX  256
#define ENV_PROBE_ADDR_MAX  64
#define ENV_PROBE_ERROR_MAX 256     /* libcurl's CURL_ERROR_SIZE */
#define ENV_VERSION_MAX     32
#define ENV_PROBE_SLOW_MS   1000    /* a round trip slower than this is a warning */

enum env_probe_outcome {
    PROBE_NOT_RUN = 0,              /* no CA service configured, or not finished */
    PROBE_ANSWERED,                 /* an HTTP answer came, of any status */
    PROBE_DNS_FAILED,
    PROBE_CONNECT_FAILED,           /* refused or unreachable */
    PROBE_CONNECT_TIMEOUT,
    PROBE_TLS_FAILED,
    PROBE_NO_ANSWER,                /* connected, then nothing within the time */
    PROBE_ERROR,                    /* anything else libcurl reports */
};

struct env_probe {
    enum env_probe_outcome outcome;
    char url[ENV_PROBE_URL_MAX];    /* the health URL asked */
    char host[ENV_PROBE_HOST_MAX];
    long port;
    bool https;
    char address[ENV_PROBE_ADDR_MAX];   /* the address connected to, "" when none */
    char error[ENV_PROBE_ERROR_MAX];    /* libcurl's words when it failed */
    unsigned timeout_ms;
    long http_status;
    long dns_ms, connect_ms, tls_ms, total_ms;  /* -1 when that stage was not reached */
    bool have_date;
    long skew_s;                    /* this clock minus the service's (env_clock_skew) */
    char latest[ENV_VERSION_MAX];   /* "" when not announced */
};

/* Once per process, before threads use the probe; returns 0 or -1. */
int env_probe_global_init(void);
void env_probe_global_cleanup(void);

/* Runs the probe, within `timeout_ms` in all. `ca_bundle` may be NULL. */
void env_probe_run(const char *base_url, const char *ca_bundle, unsigned timeout_ms,
                   struct env_probe *out);

/* Adds network.ca-service; `p` is NULL when the probe did not finish in
 * time, `configured` false when there is no ca-service-url. */
void env_network_check(struct env_report *r, bool configured, const struct env_probe *p,
                       unsigned timeout_ms);

#endif
