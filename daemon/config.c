/* SPDX-License-Identifier: MIT */
/*
 * daemon/config.c — the configuration file, parsed by inih.
 *
 * The file is one [ukeyd] section (keys before any section header count as
 * in it). Every key is checked as it is read, and the first bad line stops
 * the load with a message naming the file, the line and the key, so an
 * administrator can fix it without reading code. inih does not tell its
 * handler the line number, so the file is fed to it through a reader that
 * counts lines.
 */
#include "daemon/config.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "api/env/environment.h"
#include "api/http/guard.h"
#include "api/base/log.h"
#include "api/unlock/unlock.h"
#include "daemon/listen.h"
#include "token/token.h"

#define CONFIG_SECTION        "ukeyd"
#define LINE_MAX_TEXT         200          /* inih's INI_MAX_LINE */
#define DECIMAL_BASE          10
#define LIST_SEPARATORS       " \t,"

#define DEFAULT_PIN_PACING_MS       1000
#define DEFAULT_MAX_CONNECTIONS     64
/* A quarter of the default: another account holding all of its share
 * leaves the person at the desk most of the server. A browser keeps six
 * connections to one server, streams included. */
#define DEFAULT_MAX_CONNECTIONS_PER_USER 16
#define DEFAULT_MAX_SSE_CLIENTS     16
#define DEFAULT_CONNECTION_TIMEOUT  30
#define DEFAULT_WORKER_THREADS      4
#define DEFAULT_SSE_HEARTBEAT       15

struct parse_state {
    FILE *file;
    struct config *cfg;
    int line;                  /* of the text inih is looking at */
    int error_line;            /* first error found by the handler, 0 when none */
    int long_line;             /* first line longer than inih takes, 0 when none */
    char message[CONFIG_ERROR_MAX];
};

struct number_key {
    const char *name;
    size_t offset;             /* of the unsigned in struct config */
    unsigned min, max;
};

static const struct number_key number_keys[] = {
    { "pin-pacing-ms", offsetof(struct config, pin_pacing_ms), 0, 60000 },
    { "max-connections", offsetof(struct config, max_connections), 1, 1024 },
    { "max-connections-per-user", offsetof(struct config, max_connections_per_user), 1, 1024 },
    { "max-sse-clients", offsetof(struct config, max_sse_clients), 1, 1024 },
    { "connection-timeout", offsetof(struct config, connection_timeout_s), 1, 3600 },
    { "worker-threads", offsetof(struct config, worker_threads), 1, 64 },
    { "sse-heartbeat", offsetof(struct config, sse_heartbeat_s), 1, 300 },
    { "ca-connect-timeout", offsetof(struct config, ca_connect_timeout_s), 1, 60 },
    { "ca-timeout", offsetof(struct config, ca_timeout_s), 1, 300 },
    { "unlock-session-timeout", offsetof(struct config, unlock_session_timeout_s), 1, 86400 },
    { "environment-timeout-ms", offsetof(struct config, environment_timeout_ms),
      ENVIRONMENT_TIMEOUT_MS_MIN, ENVIRONMENT_TIMEOUT_MS_MAX },
};

void config_defaults(struct config *c)
{
    memset(c, 0, sizeof *c);
    c->language = LANG_ZH_CN;
    c->pin_pacing_ms = DEFAULT_PIN_PACING_MS;
    c->max_connections = DEFAULT_MAX_CONNECTIONS;
    c->max_connections_per_user = DEFAULT_MAX_CONNECTIONS_PER_USER;
    c->max_sse_clients = DEFAULT_MAX_SSE_CLIENTS;
    c->connection_timeout_s = DEFAULT_CONNECTION_TIMEOUT;
    c->worker_threads = DEFAULT_WORKER_THREADS;
    c->sse_heartbeat_s = DEFAULT_SSE_HEARTBEAT;
    c->ca_connect_timeout_s = UNLOCK_DEFAULT_CONNECT_TIMEOUT_S;
    c->ca_timeout_s = UNLOCK_DEFAULT_TIMEOUT_S;
    c->unlock_session_timeout_s = UNLOCK_DEFAULT_SESSION_IDLE_S;
    c->log_level = LOG_INFO;
    c->environment_timeout_ms = ENVIRONMENT_TIMEOUT_MS_DEFAULT;
    c->skf_discover = true;
}

__attribute__((format(printf, 3, 4)))
static int fail(struct parse_state *st, const char *key, const char *fmt, ...)
{
    char what[CONFIG_ERROR_MAX / 2];
    va_list ap;

    if (st->error_line)
        return 0;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    st->error_line = st->line;
    snprintf(st->message, sizeof st->message, "%s: %s", key, what);
    return 0;
}

static int set_number(struct parse_state *st, const struct number_key *k, const char *value)
{
    char *end;
    unsigned long n;

    errno = 0;
    n = strtoul(value, &end, DECIMAL_BASE);
    if (errno || end == value || *end != '\0' || value[0] == '-' || n < k->min || n > k->max)
        return fail(st, k->name, "\"%s\" is not a whole number from %u to %u", value, k->min,
                    k->max);
    *(unsigned *)((char *)st->cfg + k->offset) = (unsigned)n;
    return 1;
}

static int add_origin(struct parse_state *st, const char *origin)
{
    struct config *c = st->cfg;
    const char *why = NULL;

    if (!guard_origin_valid(origin, &why))
        return fail(st, "origins", "\"%s\" %s", origin, why);
    for (size_t i = 0; i < c->n_origins; i++)
        if (strcmp(c->origins[i], origin) == 0)
            return 1;
    if (c->n_origins >= CONFIG_ORIGINS_MAX)
        return fail(st, "origins", "more than %d origins", CONFIG_ORIGINS_MAX);
    if (!(c->origins[c->n_origins] = strdup(origin)))
        return fail(st, "origins", "out of memory");
    c->n_origins++;
    return 1;
}

static int add_listen(struct parse_state *st, const char *spec)
{
    struct config *c = st->cfg;
    struct listen_addr addr;
    const char *why = NULL;

    if (listen_parse(spec, &addr, &why) < 0)
        return fail(st, "listen", "\"%s\" %s", spec, why);
    if (c->n_listen >= CONFIG_LISTEN_MAX)
        return fail(st, "listen", "more than %d addresses", CONFIG_LISTEN_MAX);
    if (!(c->listen[c->n_listen] = strdup(spec)))
        return fail(st, "listen", "out of memory");
    c->n_listen++;
    return 1;
}

/* Feeds each item of a whitespace- or comma-separated list to `add`. */
static int for_each_item(struct parse_state *st, const char *value,
                         int (*add)(struct parse_state *, const char *))
{
    char copy[LINE_MAX_TEXT + 1];
    char *save = NULL;

    snprintf(copy, sizeof copy, "%s", value);
    for (char *item = strtok_r(copy, LIST_SEPARATORS, &save); item;
         item = strtok_r(NULL, LIST_SEPARATORS, &save))
        if (!add(st, item))
            return 0;
    return 1;
}

/* The unlock service: HTTPS, or plain HTTP to a loopback address (tests, the
 * demo); libcurl's URL parser judges, as libcurl will connect. */
static int set_ca_service_url(struct parse_state *st, const char *value)
{
    char why[CA_WHY_MAX];

    if (!ca_url_check(value, why, sizeof why))
        return fail(st, "ca-service-url", "\"%s\" %s", value, why);
    free(st->cfg->ca_service_url);
    st->cfg->ca_service_url = strdup(value);
    return st->cfg->ca_service_url ? 1 : fail(st, "ca-service-url", "out of memory");
}

static int set_ca_bundle(struct parse_state *st, const char *value)
{
    if (value[0] != '/')
        return fail(st, "ca-bundle", "\"%s\" must be an absolute path", value);
    if (access(value, R_OK) != 0)
        return fail(st, "ca-bundle", "cannot read \"%s\": %s", value, strerror(errno));
    free(st->cfg->ca_bundle);
    st->cfg->ca_bundle = strdup(value);
    return st->cfg->ca_bundle ? 1 : fail(st, "ca-bundle", "out of memory");
}

/* The roots an issued certificate must chain to before ukeyd writes it;
 * read once at start, like the service URL. */
static int set_ca_roots(struct parse_state *st, const char *value)
{
    if (value[0] != '/')
        return fail(st, "ca-roots", "\"%s\" must be an absolute path", value);
    if (access(value, R_OK) != 0)
        return fail(st, "ca-roots", "cannot read \"%s\": %s", value, strerror(errno));
    free(st->cfg->ca_roots);
    st->cfg->ca_roots = strdup(value);
    return st->cfg->ca_roots ? 1 : fail(st, "ca-roots", "out of memory");
}

static int set_state_directory(struct parse_state *st, const char *value)
{
    if (value[0] != '/')
        return fail(st, "state-directory", "\"%s\" must be an absolute path", value);
    free(st->cfg->state_directory);
    st->cfg->state_directory = strdup(value);
    return st->cfg->state_directory ? 1 : fail(st, "state-directory", "out of memory");
}

static int set_language(struct parse_state *st, const char *value)
{
    int lang = lang_parse(value);

    if (lang < 0)
        return fail(st, "language", "\"%s\" is not zh-CN or en", value);
    st->cfg->language = (enum api_lang)lang;
    return 1;
}

static int set_log_level(struct parse_state *st, const char *value)
{
    int level = log_level_parse(value);

    if (level < 0)
        return fail(st, "log-level", "\"%s\" is not one of error, warning, notice, info, debug",
                    value);
    st->cfg->log_level = level;
    return 1;
}

static int set_peer_policy(struct parse_state *st, const char *value)
{
    int mode = peer_mode_parse(value);

    if (mode < 0)
        return fail(st, "peer-policy",
                    "\"%s\" is not one of auto, active-session, console, users, any-local",
                    value);
    st->cfg->peer_mode = (enum peer_mode)mode;
    return 1;
}

static int add_peer_user(struct parse_state *st, const char *item)
{
    struct config *c = st->cfg;
    const char *why = NULL;

    if (!peer_user_item_valid(item, &why))
        return fail(st, "peer-users", "\"%s\" %s", item, why);
    for (size_t i = 0; i < c->n_peer_users; i++)
        if (strcmp(c->peer_users[i], item) == 0)
            return 1;
    if (c->n_peer_users >= CONFIG_PEER_USERS_MAX)
        return fail(st, "peer-users", "more than %d users and groups", CONFIG_PEER_USERS_MAX);
    if (!(c->peer_users[c->n_peer_users] = strdup(item)))
        return fail(st, "peer-users", "out of memory");
    c->n_peer_users++;
    return 1;
}

static int set_support_socket(struct parse_state *st, const char *value)
{
    bool off = strcmp(value, "none") == 0;

    if (!off && value[0] != '/')
        return fail(st, "support-socket", "\"%s\" must be an absolute path, or none", value);
    if (strlen(value) >= sizeof(((struct sockaddr_un *)NULL)->sun_path))
        return fail(st, "support-socket", "\"%s\" is too long for a socket path", value);
    free(st->cfg->support_socket);
    st->cfg->support_socket = strdup(off ? "" : value);
    return st->cfg->support_socket ? 1 : fail(st, "support-socket", "out of memory");
}

static int set_support_group(struct parse_state *st, const char *value)
{
    const char *why = NULL;

    if (value[0] == '@' || !peer_user_item_valid(value, &why))
        return fail(st, "support-group", "\"%s\" %s", value,
                    why ? why : "is a group name, without '@'");
    free(st->cfg->support_group);
    st->cfg->support_group = strdup(value);
    return st->cfg->support_group ? 1 : fail(st, "support-group", "out of memory");
}

static void clear_restart_command(struct config *c)
{
    for (size_t i = 0; i < c->n_pcscd_restart_argv; i++)
        free(c->pcscd_restart_argv[i]);
    memset(c->pcscd_restart_argv, 0, sizeof c->pcscd_restart_argv);
    c->n_pcscd_restart_argv = 0;
}

/* An argv, split at blanks, run by posix_spawn without a shell: no quoting,
 * no variables, no redirections. The program must be an absolute path. */
static int set_restart_command(struct parse_state *st, const char *value)
{
    static const char key[] = "pcscd-restart-command";
    struct config *c = st->cfg;
    char copy[LINE_MAX_TEXT + 1];
    char *save = NULL;

    clear_restart_command(c);
    snprintf(copy, sizeof copy, "%s", value);
    for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        if (c->n_pcscd_restart_argv >= CONFIG_ARGV_MAX)
            return fail(st, key, "more than %d words", CONFIG_ARGV_MAX);
        if (!(c->pcscd_restart_argv[c->n_pcscd_restart_argv] = strdup(w)))
            return fail(st, key, "out of memory");
        c->n_pcscd_restart_argv++;
    }
    if (c->n_pcscd_restart_argv == 0)
        return 1;
    if (c->pcscd_restart_argv[0][0] != '/')
        return fail(st, key, "\"%s\" must be an absolute path", c->pcscd_restart_argv[0]);
    if (access(c->pcscd_restart_argv[0], X_OK) != 0)
        return fail(st, key, "cannot run \"%s\": %s", c->pcscd_restart_argv[0],
                    strerror(errno));
    return 1;
}

static int set_pcsc_drivers_dir(struct parse_state *st, const char *value)
{
    if (value[0] != '/')
        return fail(st, "pcsc-drivers-dir", "\"%s\" must be an absolute path", value);
    free(st->cfg->pcsc_drivers_dir);
    st->cfg->pcsc_drivers_dir = strdup(value);
    return st->cfg->pcsc_drivers_dir ? 1 : fail(st, "pcsc-drivers-dir", "out of memory");
}

/* `PATH [PROFILE]`: PATH as dlopen takes it, absolute or a bare file name
 * the dynamic linker looks up; whether it loads is --check-config's to say,
 * as a library that fails costs its own keys only. */
static int add_skf_library(struct parse_state *st, const char *value)
{
    static const char key[] = "skf-library";
    struct config *c = st->cfg;
    char copy[LINE_MAX_TEXT + 1];
    char *save = NULL, *path, *profile;

    snprintf(copy, sizeof copy, "%s", value);
    path = strtok_r(copy, " \t", &save);
    profile = path ? strtok_r(NULL, " \t", &save) : NULL;
    if (!path)
        return fail(st, key, "needs the library's path");
    if (profile && strtok_r(NULL, " \t", &save))
        return fail(st, key, "\"%s\" is not PATH [PROFILE]", value);
    if (path[0] != '/' && strchr(path, '/'))
        return fail(st, key, "\"%s\" must be an absolute path or a bare file name", path);
    if (profile && !token_skf_profile_exists(profile))
        return fail(st, key, "\"%s\" is not a known profile (see " CONFIG_MAN_PAGE ")",
                    profile);
    for (size_t i = 0; i < c->n_skf_libraries; i++)
        if (strcmp(c->skf_libraries[i].path, path) == 0)
            return fail(st, key, "\"%s\" is named twice", path);
    if (c->n_skf_libraries >= CONFIG_SKF_LIBRARIES_MAX)
        return fail(st, key, "more than %d libraries", CONFIG_SKF_LIBRARIES_MAX);
    if (!(c->skf_libraries[c->n_skf_libraries].path = strdup(path)))
        return fail(st, key, "out of memory");
    if (profile && !(c->skf_libraries[c->n_skf_libraries].profile = strdup(profile))) {
        free(c->skf_libraries[c->n_skf_libraries].path);
        c->skf_libraries[c->n_skf_libraries].path = NULL;
        return fail(st, key, "out of memory");
    }
    c->n_skf_libraries++;
    return 1;
}

static int set_skf_discover(struct parse_state *st, const char *value)
{
    if (strcmp(value, "yes") == 0)
        st->cfg->skf_discover = true;
    else if (strcmp(value, "no") == 0)
        st->cfg->skf_discover = false;
    else
        return fail(st, "skf-discover", "\"%s\" is not yes or no", value);
    return 1;
}

static int set_skf_helper(struct parse_state *st, const char *value)
{
    if (value[0] != '/')
        return fail(st, "skf-helper", "\"%s\" must be an absolute path", value);
    free(st->cfg->skf_helper);
    st->cfg->skf_helper = strdup(value);
    return st->cfg->skf_helper ? 1 : fail(st, "skf-helper", "out of memory");
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
    struct parse_state *st = user;

    if (section[0] && strcmp(section, CONFIG_SECTION) != 0)
        return fail(st, name, "is in section [%s]; ukeyd reads [" CONFIG_SECTION "] only",
                    section);
    for (size_t i = 0; i < sizeof number_keys / sizeof number_keys[0]; i++)
        if (strcmp(name, number_keys[i].name) == 0)
            return set_number(st, &number_keys[i], value);
    if (strcmp(name, "origins") == 0)
        return for_each_item(st, value, add_origin);
    if (strcmp(name, "listen") == 0)
        return for_each_item(st, value, add_listen);
    if (strcmp(name, "ca-service-url") == 0)
        return set_ca_service_url(st, value);
    if (strcmp(name, "ca-bundle") == 0)
        return set_ca_bundle(st, value);
    if (strcmp(name, "ca-roots") == 0)
        return set_ca_roots(st, value);
    if (strcmp(name, "state-directory") == 0)
        return set_state_directory(st, value);
    if (strcmp(name, "language") == 0)
        return set_language(st, value);
    if (strcmp(name, "log-level") == 0)
        return set_log_level(st, value);
    if (strcmp(name, "peer-policy") == 0)
        return set_peer_policy(st, value);
    if (strcmp(name, "peer-users") == 0)
        return for_each_item(st, value, add_peer_user);
    if (strcmp(name, "support-socket") == 0)
        return set_support_socket(st, value);
    if (strcmp(name, "support-group") == 0)
        return set_support_group(st, value);
    if (strcmp(name, "pcscd-restart-command") == 0)
        return set_restart_command(st, value);
    if (strcmp(name, "pcsc-drivers-dir") == 0)
        return set_pcsc_drivers_dir(st, value);
    if (strcmp(name, "skf-library") == 0)
        return add_skf_library(st, value);
    if (strcmp(name, "skf-discover") == 0)
        return set_skf_discover(st, value);
    if (strcmp(name, "skf-helper") == 0)
        return set_skf_helper(st, value);
    return fail(st, name, "unknown key (see " CONFIG_MAN_PAGE ")");
}

/* fgets for inih that counts lines and refuses lines inih would cut. */
static char *read_line(char *buf, int size, void *stream)
{
    struct parse_state *st = stream;
    int c;

    if (!fgets(buf, size, st->file))
        return NULL;
    st->line++;
    if (strchr(buf, '\n'))
        return buf;
    c = fgetc(st->file);
    if (c == EOF || c == '\n')
        return buf;            /* exactly as long as the buffer: it all fits */
    while ((c = fgetc(st->file)) != EOF && c != '\n')
        ;
    if (!st->long_line)
        st->long_line = st->line;
    buf[0] = '\0';
    return buf;
}

static void describe_failure(const struct parse_state *st, const char *path, int rc,
                             char *error, size_t size)
{
    if (st->long_line && (!st->error_line || st->long_line < st->error_line) &&
        (rc <= 0 || st->long_line <= rc))
        snprintf(error, size, "%s:%d: line longer than %d characters (repeat the key instead)",
                 path, st->long_line, LINE_MAX_TEXT - 1);
    else if (rc > 0 && rc == st->error_line)
        snprintf(error, size, "%s:%d: %s", path, rc, st->message);
    else if (rc > 0)
        snprintf(error, size, "%s:%d: not a \"key = value\" line nor a [section] header", path,
                 rc);
    else
        snprintf(error, size, "%s: out of memory", path);
}

/* The peer and support keys' part of copy_strings. */
static int copy_peer_strings(struct config *fresh, const struct config *c)
{
    size_t n_users = fresh->n_peer_users;

    fresh->n_peer_users = 0;
    fresh->support_socket = fresh->support_group = NULL;
    for (size_t i = 0; i < n_users; i++, fresh->n_peer_users++)
        if (!(fresh->peer_users[i] = strdup(c->peer_users[i])))
            return -1;
    if (c->support_socket && !(fresh->support_socket = strdup(c->support_socket)))
        return -1;
    if (c->support_group && !(fresh->support_group = strdup(c->support_group)))
        return -1;
    return 0;
}

/* The environment keys' part of copy_strings, in two halves: forgetting
 * c's pointers (which cannot fail) comes before anything that can. */
static void forget_environment_strings(struct config *fresh)
{
    fresh->pcsc_drivers_dir = NULL;
    memset(fresh->pcscd_restart_argv, 0, sizeof fresh->pcscd_restart_argv);
    fresh->n_pcscd_restart_argv = 0;
}

static int copy_environment_strings(struct config *fresh, const struct config *c)
{
    if (c->pcsc_drivers_dir && !(fresh->pcsc_drivers_dir = strdup(c->pcsc_drivers_dir)))
        return -1;
    for (size_t i = 0; i < c->n_pcscd_restart_argv; i++, fresh->n_pcscd_restart_argv++)
        if (!(fresh->pcscd_restart_argv[i] = strdup(c->pcscd_restart_argv[i])))
            return -1;
    return 0;
}

/* The SKF keys' part of copy_strings, in two halves like the environment's. */
static void forget_skf_strings(struct config *fresh)
{
    memset(fresh->skf_libraries, 0, sizeof fresh->skf_libraries);
    fresh->n_skf_libraries = 0;
    fresh->skf_helper = NULL;
}

static int copy_skf_strings(struct config *fresh, const struct config *c)
{
    for (size_t i = 0; i < c->n_skf_libraries; i++, fresh->n_skf_libraries++) {
        const struct config_skf_library *from = &c->skf_libraries[i];
        struct config_skf_library *to = &fresh->skf_libraries[i];

        if (!(to->path = strdup(from->path)) ||
            (from->profile && !(to->profile = strdup(from->profile)))) {
            fresh->n_skf_libraries++;   /* the half-copied entry is freed with the rest */
            return -1;
        }
    }
    if (c->skf_helper && !(fresh->skf_helper = strdup(c->skf_helper)))
        return -1;
    return 0;
}

/* Gives `fresh` (a shallow copy of c) its own strings, so a failed load
 * leaves c whole; on failure the copies made so far are fresh's to free. */
static int copy_strings(struct config *fresh, const struct config *c)
{
    size_t n_origins = fresh->n_origins, n_listen = fresh->n_listen;

    fresh->n_origins = fresh->n_listen = 0;
    fresh->ca_service_url = fresh->ca_bundle = fresh->ca_roots = fresh->state_directory = NULL;
    forget_environment_strings(fresh);
    forget_skf_strings(fresh);
    /* First: it also drops the shared peer pointers before anything can fail. */
    if (copy_peer_strings(fresh, c) < 0)
        return -1;
    for (size_t i = 0; i < n_origins; i++, fresh->n_origins++)
        if (!(fresh->origins[i] = strdup(c->origins[i])))
            return -1;
    for (size_t i = 0; i < n_listen; i++, fresh->n_listen++)
        if (!(fresh->listen[i] = strdup(c->listen[i])))
            return -1;
    if (c->ca_service_url && !(fresh->ca_service_url = strdup(c->ca_service_url)))
        return -1;
    if (c->ca_bundle && !(fresh->ca_bundle = strdup(c->ca_bundle)))
        return -1;
    if (c->ca_roots && !(fresh->ca_roots = strdup(c->ca_roots)))
        return -1;
    if (c->state_directory && !(fresh->state_directory = strdup(c->state_directory)))
        return -1;
    if (copy_skf_strings(fresh, c) < 0)
        return -1;
    return copy_environment_strings(fresh, c);
}

int config_load(struct config *c, const char *path, char *error, size_t error_size)
{
    struct config fresh = *c;
    struct parse_state st = { .cfg = &fresh };
    int rc;

    if (copy_strings(&fresh, c) < 0) {
        snprintf(error, error_size, "%s: out of memory", path);
        config_free(&fresh);
        return -1;
    }
    st.file = fopen(path, "re");
    if (!st.file) {
        snprintf(error, error_size, "%s: %s", path, strerror(errno));
        config_free(&fresh);
        return -1;
    }
    rc = ini_parse_stream(read_line, &st, on_key, &st);
    fclose(st.file);
    if (rc != 0 || st.long_line) {
        describe_failure(&st, path, rc, error, error_size);
        config_free(&fresh);
        return -1;
    }
    config_move(c, &fresh);
    return 0;
}

void config_move(struct config *to, struct config *from)
{
    config_free(to);
    *to = *from;
    memset(from, 0, sizeof *from);
}

void config_free(struct config *c)
{
    for (size_t i = 0; i < c->n_origins; i++)
        free(c->origins[i]);
    for (size_t i = 0; i < c->n_listen; i++)
        free(c->listen[i]);
    free(c->ca_service_url);
    free(c->ca_bundle);
    free(c->ca_roots);
    free(c->state_directory);
    c->n_origins = c->n_listen = 0;
    c->ca_service_url = c->ca_bundle = c->ca_roots = c->state_directory = NULL;
    for (size_t i = 0; i < c->n_peer_users; i++)
        free(c->peer_users[i]);
    free(c->support_socket);
    free(c->support_group);
    c->n_peer_users = 0;
    c->support_socket = c->support_group = NULL;
    free(c->pcsc_drivers_dir);
    c->pcsc_drivers_dir = NULL;
    clear_restart_command(c);
    for (size_t i = 0; i < c->n_skf_libraries; i++) {
        free(c->skf_libraries[i].path);
        free(c->skf_libraries[i].profile);
    }
    memset(c->skf_libraries, 0, sizeof c->skf_libraries);
    c->n_skf_libraries = 0;
    free(c->skf_helper);
    c->skf_helper = NULL;
}
