/* SPDX-License-Identifier: MIT */
/*
 * daemon/configview.c — struct config → JSON for support diagnostics.
 *
 * Keys are the file's own ("pin-pacing-ms"), so what support reads can be
 * held against docs/configuration.md and the administrator's file line by
 * line. Unset optional keys are null rather than absent.
 */
#include "daemon/configview.h"

#include <stdio.h>
#include <string.h>

#include "api/base/json.h"
#include "api/base/log.h"
#include "api/unlock/unlock.h"

#define URL_TEXT_MAX  512
#define SCHEME_END    "://"

void config_redact_url(const char *url, char *out, size_t size)
{
    const char *scheme_end = strstr(url, SCHEME_END);
    const char *host = scheme_end ? scheme_end + strlen(SCHEME_END) : url;
    size_t authority = strcspn(host, "/?#");
    const char *at = memchr(host, '@', authority);
    size_t keep_scheme = (size_t)(host - url);
    const char *rest = at ? at + 1 : host;

    snprintf(out, size, "%.*s%.*s", (int)keep_scheme, url, (int)strcspn(rest, "?#"), rest);
}

static json_t *redacted_url(const char *url)
{
    char text[URL_TEXT_MAX];

    if (!url)
        return json_null();
    config_redact_url(url, text, sizeof text);
    return json_string(text);
}

static json_t *string_or(const char *s, const char *fallback)
{
    return s ? json_string(s) : fallback ? json_string(fallback) : json_null();
}

static json_t *support_socket(const struct config *c)
{
    if (c->support_socket && !c->support_socket[0])
        return json_string("none");
    return string_or(c->support_socket, CONFIG_DEFAULT_SUPPORT_SOCKET);
}

static json_t *unlock_and_environment(const struct config *c)
{
    return json_pack("{s:o, s:o, s:I, s:I, s:I, s:I, s:o, s:o}", "ca-roots",
                     string_or(c->ca_roots, NULL), "state-directory",
                     string_or(c->state_directory, UNLOCK_DEFAULT_STATE_DIRECTORY),
                     "ca-connect-timeout", (json_int_t)c->ca_connect_timeout_s, "ca-timeout",
                     (json_int_t)c->ca_timeout_s, "unlock-session-timeout",
                     (json_int_t)c->unlock_session_timeout_s, "environment-timeout-ms",
                     (json_int_t)c->environment_timeout_ms, "pcsc-drivers-dir",
                     string_or(c->pcsc_drivers_dir, NULL), "pcscd-restart-command",
                     json_string_array(c->pcscd_restart_argv, c->n_pcscd_restart_argv));
}

static json_t *peer_and_support(const struct config *c)
{
    return json_pack("{s:s, s:o, s:o, s:o}", "peer-policy", peer_mode_name(c->peer_mode),
                     "peer-users", json_string_array(c->peer_users, c->n_peer_users),
                     "support-socket", support_socket(c), "support-group",
                     string_or(c->support_group, CONFIG_DEFAULT_SUPPORT_GROUP));
}

/* Each skf-library line as {path, profile}; a line without a profile shows
 * null, which the provider reads as the standard's values. */
static json_t *skf_library_lines(const struct config *c)
{
    json_t *lines = json_array();

    for (size_t i = 0; lines && i < c->n_skf_libraries; i++)
        if (json_array_append_new(lines, json_pack("{s:s, s:o}", "path", c->skf_libraries[i].path,
                                                   "profile",
                                                   string_or(c->skf_libraries[i].profile,
                                                             NULL))) < 0) {
            json_decref(lines);
            return NULL;
        }
    return lines;
}

static json_t *skf_keys(const struct config *c)
{
    return json_pack("{s:o, s:b, s:o}", "skf-library", skf_library_lines(c), "skf-discover",
                     c->skf_discover, "skf-helper", string_or(c->skf_helper, UKEYD_SKF_HELPER));
}

json_t *config_view(const struct config *c)
{
    json_t *view = json_pack(
        "{s:o, s:o, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:o, s:o}", "origins",
        json_string_array(c->origins, c->n_origins), "listen",
        json_string_array(c->listen, c->n_listen),
        "language", lang_tag(c->language), "pin-pacing-ms", (json_int_t)c->pin_pacing_ms,
        "max-connections", (json_int_t)c->max_connections, "max-connections-per-user",
        (json_int_t)c->max_connections_per_user, "max-sse-clients",
        (json_int_t)c->max_sse_clients, "connection-timeout", (json_int_t)c->connection_timeout_s,
        "worker-threads", (json_int_t)c->worker_threads, "sse-heartbeat",
        (json_int_t)c->sse_heartbeat_s, "log-level", log_level_name(c->log_level),
        "ca-service-url", redacted_url(c->ca_service_url), "ca-bundle",
        string_or(c->ca_bundle, NULL));

    if (view && (json_object_update_new(view, unlock_and_environment(c)) < 0 ||
                 json_object_update_new(view, peer_and_support(c)) < 0 ||
                 json_object_update_new(view, skf_keys(c)) < 0)) {
        json_decref(view);
        return NULL;
    }
    return view;
}
