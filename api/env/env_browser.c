/* SPDX-License-Identifier: MIT */
/*
 * api/env/env_browser.c — the browser.local-network check.
 *
 * Browsers only let secure pages reach loopback: an http:// portal on the
 * internet is blocked before its request is sent, whatever ukeyd allows.
 */
#include "api/env/env_browser.h"

#include <stdio.h>
#include <string.h>

#define HTTPS_PREFIX "https://"
#define LIST_SEPARATOR " "

static const char *const loopback_http[] = { "http://127.", "http://localhost", "http://[::1]" };

/* "http://localhost" also matches "http://localhost.example.cn": the host
 * must end where the prefix does, or continue with a port. */
static bool is_loopback_http(const char *origin)
{
    for (size_t i = 0; i < sizeof loopback_http / sizeof loopback_http[0]; i++) {
        size_t n = strlen(loopback_http[i]);

        if (strncmp(origin, loopback_http[i], n) != 0)
            continue;
        if (loopback_http[i][n - 1] == '.' || origin[n] == '\0' || origin[n] == ':')
            return true;
    }
    return false;
}

bool env_origin_secure(const char *origin)
{
    return strncmp(origin, HTTPS_PREFIX, strlen(HTTPS_PREFIX)) == 0 || is_loopback_http(origin);
}

static void join_origins(struct env_words *w, char *const *origins, size_t n)
{
    char text[ENV_ARG_MAX] = "";
    size_t used = 0;

    for (size_t i = 0; i < n && used < sizeof text; i++)
        used += (size_t)snprintf(text + used, sizeof text - used, "%s%s",
                                 i ? LIST_SEPARATOR : "", origins[i]);
    env_words_arg(w, "origins", "%s", text);
}

static json_t *origins_json(char *const *origins, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_pack("{s:s, s:b}", "origin", origins[i], "secure",
                                           env_origin_secure(origins[i])));
    return a;
}

static const char *first_insecure(char *const *origins, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!env_origin_secure(origins[i]))
            return origins[i];
    return NULL;
}

void env_browser_check(struct env_report *r, char *const *origins, size_t n)
{
    struct env_check *c = env_report_add(r, "browser", "browser.local-network",
                                         ENV_BROWSER_TITLE);
    const char *insecure = first_insecure(origins, n);

    if (!c)
        return;
    if (n == 0) {
        env_check_say(c, ENV_WARN, ENV_BROWSER_NONE, ENV_BROWSER_HINT_NONE);
    } else if (insecure) {
        env_check_say(c, ENV_WARN, ENV_BROWSER_INSECURE, ENV_BROWSER_HINT_INSECURE);
        env_words_arg(&c->found, "origin", "%s", insecure);
    } else {
        /* Nothing is wrong, but every user meets the prompt: the hint says
         * what to click, and how an administrator avoids it. */
        env_check_say(c, ENV_OK, ENV_BROWSER_OK, ENV_BROWSER_HINT_LNA);
        env_words_arg(&c->found, "count", "%zu", n);
        join_origins(&c->found, origins, n);
    }
    env_check_detail(c, "origins", origins_json(origins, n));
    env_check_detail(c, "chromePolicies", json_pack("[s, s]", "LocalNetworkAccessAllowedForUrls",
                                                    "LoopbackNetworkAllowedForUrls"));
    env_check_detail(c, "firefoxPolicy", json_string("LocalNetworkAccess"));
}
