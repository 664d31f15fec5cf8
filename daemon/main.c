/* SPDX-License-Identifier: MIT */
/*
 * daemon/main.c — ukeyd's main(): options, configuration, listening sockets,
 * the token service and the HTTP server, then a loop that waits for signals
 * (SIGHUP reloads, SIGTERM/SIGINT stop), token changes (to update systemd's
 * STATUS=) and watchdog deadlines.
 *
 * Signals are blocked in every thread and read from a signalfd by this loop
 * alone, so no handler ever runs in the middle of a token operation.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sysexits.h>
#include <unistd.h>

#include "api/base/json.h"
#include "api/base/log.h"
#include "api/base/timeutil.h"
#include "api/app.h"
#include "daemon/config.h"
#include "daemon/configview.h"
#include "daemon/listen.h"
#include "daemon/log.h"
#include "daemon/support.h"
#include "daemon/systemd.h"
#include "token/token.h"

#define LISTENERS_MAX     CONFIG_LISTEN_MAX
#define STATUS_TEXT_MAX   128
#define POLL_FOREVER      (-1)

static const char *const default_listen[] = { "127.0.0.1:17990", "[::1]:17990" };

struct options {
    const char *config_path;           /* NULL: the default path, when it exists */
    const char *listen[LISTENERS_MAX];
    size_t n_listen;
    int log_level;                     /* -1 when not given */
    bool check_config;
};

struct daemon_state {
    struct options opt;
    struct config cfg;
    int fds[LISTENERS_MAX];
    size_t n_fds;
    bool activated;                    /* sockets came from systemd */
    struct support_socket support;
    struct token_service *svc;
    unsigned subscription;
    struct api_server *server;
    int signal_fd;
    int change_fd;                     /* eventfd: the token monitor saw a change */
};

/* --- options ----------------------------------------------------------- */

/*
 * A core of this process may hold a PIN or a PUK in flight: make none, and
 * keep other processes of the same user from reading our memory.
 */
static void forbid_core_dumps(void)
{
    struct rlimit none = {0, 0};

    setrlimit(RLIMIT_CORE, &none);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

static void print_help(void)
{
    printf("Usage: ukeyd [OPTION]...\n"
           "Local helper that lets a CA's web portal read the user's USB token.\n"
           "\n"
           "  -c, --config FILE       configuration file (default " CONFIG_DEFAULT_PATH ")\n"
           "  -l, --listen ADDR:PORT  listen here instead of the configured addresses;\n"
           "                          repeatable; loopback only, e.g. 127.0.0.1:17990\n"
           "                          or [::1]:17990 (default: both of these)\n"
           "      --log-level LEVEL   error, warning, notice, info (default) or debug\n"
           "      --check-config      read the configuration, report, and exit\n"
           "  -V, --version           print the version and exit\n"
           "  -h, --help              print this help and exit\n"
           "\n"
           "Signals: SIGHUP reloads the configuration (allowed origins, language,\n"
           "log level); SIGTERM or SIGINT stop after requests in flight finish.\n");
}

__attribute__((format(printf, 1, 2)))
static int usage_error(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "ukeyd: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'ukeyd --help'.\n");
    return EX_USAGE;
}

static int add_listen_option(struct options *o, const char *spec)
{
    struct listen_addr addr;
    const char *why = NULL;

    if (listen_parse(spec, &addr, &why) < 0) {
        fprintf(stderr, "ukeyd: --listen %s: %s\n", spec, why);
        return EX_USAGE;
    }
    if (o->n_listen >= LISTENERS_MAX)
        return usage_error("too many --listen options (%s)", spec);
    o->listen[o->n_listen++] = spec;
    return 0;
}

/* Returns -1 to go on, or the exit code. */
static int parse_options(int argc, char **argv, struct options *o)
{
    enum { OPT_LOG_LEVEL = 256, OPT_CHECK_CONFIG };
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "listen", required_argument, NULL, 'l' },
        { "log-level", required_argument, NULL, OPT_LOG_LEVEL },
        { "check-config", no_argument, NULL, OPT_CHECK_CONFIG },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c, rc;

    o->log_level = -1;
    while ((c = getopt_long(argc, argv, "c:l:Vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config_path = optarg;
            break;
        case 'l':
            if ((rc = add_listen_option(o, optarg)))
                return rc;
            break;
        case OPT_LOG_LEVEL:
            o->log_level = log_level_parse(optarg);
            if (o->log_level < 0)
                return usage_error("--log-level %s: not error, warning, notice, info or debug",
                                   optarg);
            break;
        case OPT_CHECK_CONFIG:
            o->check_config = true;
            break;
        case 'V':
            printf("ukeyd %s\n", UKEYD_VERSION);
            return EXIT_SUCCESS;
        case 'h':
            print_help();
            return EXIT_SUCCESS;
        default:
            fprintf(stderr, "Try 'ukeyd --help'.\n");
            return EX_USAGE;
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    return -1;
}

/* --- configuration ----------------------------------------------------- */

/* Defaults, then the file (when there is one), then the command line. */
static int read_config(const struct options *o, struct config *cfg)
{
    const char *path = o->config_path ? o->config_path : CONFIG_DEFAULT_PATH;
    char error[CONFIG_ERROR_MAX];

    config_defaults(cfg);
    if (o->config_path || access(path, F_OK) == 0) {
        if (config_load(cfg, path, error, sizeof error) < 0) {
            log_msg(LOG_ERR, NULL, "bad configuration: %s", error);
            return -1;
        }
    }
    if (o->log_level >= 0)
        cfg->log_level = o->log_level;
    return 0;
}

/* The caller drops s->front.config_view (json_decref) once the server has it. */
static void settings_of(const struct config *cfg, struct api_settings *s)
{
    s->front.origins = (const char *const *)cfg->origins;
    s->front.n_origins = cfg->n_origins;
    s->front.language = cfg->language;
    s->front.peer = (struct peer_policy_config){ .mode = cfg->peer_mode,
                                                 .users = (const char *const *)cfg->peer_users,
                                                 .n_users = cfg->n_peer_users };
    s->front.config_view = config_view(cfg);
    s->environment = (struct environment_settings){
        .ca_service_url = cfg->ca_service_url,
        .ca_bundle = cfg->ca_bundle,
        .pcsc_drivers_dir = cfg->pcsc_drivers_dir,
        .pcscd_restart_argv = cfg->n_pcscd_restart_argv
                                  ? (const char *const *)cfg->pcscd_restart_argv
                                  : NULL,
        .timeout_ms = cfg->environment_timeout_ms,
    };
}

static void unlock_config_of(const struct config *cfg, struct unlock_config *u)
{
    *u = (struct unlock_config){
        .ca_service_url = cfg->ca_service_url,
        .ca_bundle = cfg->ca_bundle,
        .ca_roots = cfg->ca_roots,
        .connect_timeout_s = cfg->ca_connect_timeout_s,
        .timeout_s = cfg->ca_timeout_s,
        .session_idle_s = cfg->unlock_session_timeout_s,
        .state_directory = cfg->state_directory ? cfg->state_directory
                                                : UNLOCK_DEFAULT_STATE_DIRECTORY,
    };
}

static bool strings_differ(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

/* Whether a reload changed what the remote unlock was started with. */
static bool unlock_config_changed(const struct config *old, const struct config *fresh)
{
    struct unlock_config a, b;

    unlock_config_of(old, &a);
    unlock_config_of(fresh, &b);
    return strings_differ(a.ca_service_url, b.ca_service_url) ||
           strings_differ(a.ca_bundle, b.ca_bundle) || strings_differ(a.ca_roots, b.ca_roots) ||
           strings_differ(a.state_directory, b.state_directory) ||
           a.connect_timeout_s != b.connect_timeout_s || a.timeout_s != b.timeout_s ||
           a.session_idle_s != b.session_idle_s;
}

/* Whether a reload changed which SKF libraries the token service loaded. */
static bool skf_config_changed(const struct config *old, const struct config *fresh)
{
    if (old->n_skf_libraries != fresh->n_skf_libraries ||
        old->skf_discover != fresh->skf_discover ||
        strings_differ(old->skf_helper, fresh->skf_helper))
        return true;
    for (size_t i = 0; i < old->n_skf_libraries; i++)
        if (strings_differ(old->skf_libraries[i].path, fresh->skf_libraries[i].path) ||
            strings_differ(old->skf_libraries[i].profile, fresh->skf_libraries[i].profile))
            return true;
    return false;
}

static void warn_restart_needed(const struct config *old, const struct config *fresh)
{
    if (old->pin_pacing_ms != fresh->pin_pacing_ms || old->max_connections != fresh->max_connections ||
        old->max_connections_per_user != fresh->max_connections_per_user ||
        old->max_sse_clients != fresh->max_sse_clients ||
        old->connection_timeout_s != fresh->connection_timeout_s ||
        old->worker_threads != fresh->worker_threads || old->sse_heartbeat_s != fresh->sse_heartbeat_s ||
        old->n_listen != fresh->n_listen)
        log_msg(LOG_WARNING, NULL,
                "listen addresses, limits and PIN pacing changed in the file take effect at the "
                "next restart");
    if (unlock_config_changed(old, fresh))
        log_msg(LOG_WARNING, NULL,
                "remote unlock and certificate-write settings changed in the file take effect "
                "at the next restart");
    if (skf_config_changed(old, fresh))
        log_msg(LOG_WARNING, NULL,
                "skf-library, skf-discover and skf-helper changed in the file take effect at "
                "the next restart");
    if (strings_differ(old->support_socket, fresh->support_socket) ||
        strings_differ(old->support_group, fresh->support_group))
        log_msg(LOG_WARNING, NULL,
                "support-socket and support-group changed in the file take effect at the next "
                "restart");
}

/* --- status for systemd ------------------------------------------------ */

static void describe_status(struct daemon_state *d, char *text, size_t size)
{
    struct token_status st = { 0 };

    if (token_service_status(d->svc, &st) != TOKEN_OK || !st.pcsc_available) {
        snprintf(text, size, "pcscd unavailable");
        return;
    }
    snprintf(text, size, "%zu reader%s, %zu token%s", st.n_readers, st.n_readers == 1 ? "" : "s",
             st.n_tokens, st.n_tokens == 1 ? "" : "s");
}

static void on_token_change(const struct token_event *ev, void *userdata)
{
    struct daemon_state *d = userdata;
    uint64_t one = 1;

    (void)ev;
    /* Never blocks: the counter saturates long before 2^64 unread changes. */
    if (write(d->change_fd, &one, sizeof one) < 0 && errno != EAGAIN)
        log_msg(LOG_DEBUG, NULL, "status wake-up lost: %m");
}

static void token_log(void *userdata, int priority, const char *token_id, const char *msg)
{
    (void)userdata;
    log_msg(priority, &(struct log_fields){ .token_id = token_id }, "token: %s", msg);
}

/* The SKF side of the token service's configuration; `libs` holds as many
 * entries as cfg->skf_libraries. Discovery alone, without the helper program
 * (a build tree, a package without it), is dropped with a note: there is
 * nothing to find it with, and no administrator asked for it. */
static void skf_config_of(const struct config *cfg, struct token_skf_library *libs,
                          struct token_service_config *t, bool quiet)
{
    const char *helper = cfg->skf_helper ? cfg->skf_helper : UKEYD_SKF_HELPER;

    for (size_t i = 0; i < cfg->n_skf_libraries; i++)
        libs[i] = (struct token_skf_library){ .path = cfg->skf_libraries[i].path,
                                              .profile = cfg->skf_libraries[i].profile };
    t->skf_libraries = libs;
    t->n_skf_libraries = cfg->n_skf_libraries;
    t->skf_helper_path = helper;
    t->skf_discover = cfg->skf_discover;
    if (t->skf_discover && !cfg->n_skf_libraries && access(helper, X_OK) != 0) {
        if (!quiet)
            log_msg(LOG_INFO, NULL, "SKF discovery off: no helper program at %s", helper);
        t->skf_discover = false;
    }
}

static void print_skf_line(void *userdata, bool loaded, const char *line)
{
    (void)userdata;
    printf("%s%s\n", loaded ? "" : "warning: ", line);
}

/* --check-config: the file, then each SKF library loaded once in its helper.
 * An empty origin list, or a library that does not load, is a warning, not a
 * bad configuration: like systemd-analyze verify, the exit status stays 0
 * for warnings, as the daemon starts and serves curl and every other token. */
static int check_config(const struct config *cfg)
{
    struct token_skf_library libs[CONFIG_SKF_LIBRARIES_MAX];
    struct token_service_config t = {0};
    size_t failed;

    printf("configuration OK: %zu allowed origin%s\n", cfg->n_origins,
           cfg->n_origins == 1 ? "" : "s");
    /* Valid, and what the package installs, yet useless to every portal:
     * the administrator who runs the check is the one who can fix it. */
    if (cfg->n_origins == 0)
        printf("warning: no origin is allowed: no portal can use ukeyd; "
               "name the CA portal's in origins = (see " CONFIG_MAN_PAGE ")\n");
    skf_config_of(cfg, libs, &t, true);
    if (!t.n_skf_libraries && !t.skf_discover) {
        printf("SKF libraries: none configured%s\n",
               cfg->skf_discover ? " (discovery off: no helper program at the default path)" : "");
        return EXIT_SUCCESS;
    }
    failed = token_skf_check(&t, print_skf_line, NULL);
    if (failed)
        printf("warning: %zu configured SKF librar%s not loaded; ukeyd serves every other token\n",
               failed, failed == 1 ? "y is" : "ies are");
    return EXIT_SUCCESS;
}

/* --- listening sockets ------------------------------------------------- */

static bool is_missing_ipv6(const struct listen_addr *a, int err)
{
    return a->ss.ss_family == AF_INET6 && (err == EADDRNOTAVAIL || err == EAFNOSUPPORT);
}

static int open_one(struct daemon_state *d, const char *spec, bool is_default)
{
    struct listen_addr addr;
    const char *why = NULL;
    int fd;

    if (listen_parse(spec, &addr, &why) < 0) {
        log_msg(LOG_ERR, NULL, "listen %s: %s", spec, why);
        return -1;
    }
    fd = listen_open(&addr);
    if (fd < 0 && is_default && is_missing_ipv6(&addr, errno)) {
        log_msg(LOG_NOTICE, NULL, "not listening on %s: IPv6 is not available", spec);
        return 0;
    }
    if (fd < 0) {
        log_msg(LOG_ERR, NULL, "cannot listen on %s: %m", spec);
        return -1;
    }
    d->fds[d->n_fds++] = fd;
    return 0;
}

static int open_listeners(struct daemon_state *d)
{
    const char *const *specs = default_listen;
    size_t n = sizeof default_listen / sizeof default_listen[0];
    bool defaults = true;

    if (systemd_listen_fds(d->fds, LISTENERS_MAX, &d->n_fds) < 0)
        return -1;
    if (d->n_fds > 0) {
        d->activated = true;
        if (d->opt.n_listen || d->cfg.n_listen)
            log_msg(LOG_NOTICE, NULL, "socket activation: configured listen addresses ignored");
        return 0;
    }
    if (d->opt.n_listen) {
        specs = d->opt.listen;
        n = d->opt.n_listen;
        defaults = false;
    } else if (d->cfg.n_listen) {
        specs = (const char *const *)d->cfg.listen;
        n = d->cfg.n_listen;
        defaults = false;
    }
    for (size_t i = 0; i < n; i++)
        if (open_one(d, specs[i], defaults) < 0)
            return -1;
    if (d->n_fds == 0) {
        log_msg(LOG_ERR, NULL, "no address to listen on");
        return -1;
    }
    return 0;
}

static int open_support_socket(struct daemon_state *d)
{
    const char *path = d->cfg.support_socket ? d->cfg.support_socket
                                             : CONFIG_DEFAULT_SUPPORT_SOCKET;
    const char *group = d->cfg.support_group ? d->cfg.support_group
                                             : CONFIG_DEFAULT_SUPPORT_GROUP;

    return support_socket_open(path, group, &d->support);
}

static void close_listeners(struct daemon_state *d)
{
    for (size_t i = 0; i < d->n_fds; i++)
        close(d->fds[i]);
    d->n_fds = 0;
}

/* --- running ----------------------------------------------------------- */

static int block_signals(struct daemon_state *d)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    /* Before any thread exists, so that every thread inherits the mask. */
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    d->signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    d->change_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return d->signal_fd < 0 || d->change_fd < 0 ? -1 : 0;
}

static int start_services(struct daemon_state *d)
{
    struct token_service_config tcfg = { .pin_pacing_ms = d->cfg.pin_pacing_ms, .log = token_log };
    struct token_skf_library skf_libs[CONFIG_SKF_LIBRARIES_MAX];
    struct unlock_config unlock;
    struct api_limits limits = {
        .front = { .max_connections = d->cfg.max_connections,
                   .max_connections_per_user = d->cfg.max_connections_per_user,
                   .connection_timeout_s = d->cfg.connection_timeout_s,
                   .threads = d->cfg.worker_threads },
        .max_streams = d->cfg.max_sse_clients,
        .heartbeat_s = d->cfg.sse_heartbeat_s,
        .unlock = &unlock,
    };
    struct api_settings settings;
    token_err err;
    int rc;

    skf_config_of(&d->cfg, skf_libs, &tcfg, false);
    err = token_service_new(&tcfg, &d->svc);
    if (err != TOKEN_OK) {
        log_msg(LOG_ERR, NULL, "cannot start the token service: %s", token_err_name(err));
        return -1;
    }
    d->subscription = token_service_subscribe(d->svc, on_token_change, d);
    unlock_config_of(&d->cfg, &unlock);
    settings_of(&d->cfg, &settings);
    rc = api_server_start(d->svc, d->fds, d->n_fds, &limits, &settings, &d->server);
    json_decref(settings.front.config_view);
    if (rc == 0 && d->support.fd >= 0)
        rc = api_server_add_support(d->server, d->support.fd, d->support.group_exists,
                                    d->support.gid);
    return rc;
}

static void stop_services(struct daemon_state *d)
{
    api_server_stop(d->server);
    d->server = NULL;
    if (d->svc) {
        if (d->subscription)
            token_service_unsubscribe(d->svc, d->subscription);
        /* Waits for token operations in flight: no token is left half-changed. */
        token_service_free(d->svc);
        d->svc = NULL;
    }
}

static void reload(struct daemon_state *d)
{
    struct config fresh;
    struct api_settings settings;
    char status[STATUS_TEXT_MAX];
    int rc;

    systemd_reloading();
    if (read_config(&d->opt, &fresh) < 0) {
        log_msg(LOG_ERR, NULL, "reload failed; the running configuration stays");
        config_free(&fresh);
    } else {
        settings_of(&fresh, &settings);
        rc = api_server_reload(d->server, &settings);
        json_decref(settings.front.config_view);
        if (rc < 0) {
            log_msg(LOG_ERR, NULL, "reload failed: out of memory");
            config_free(&fresh);
        } else {
            warn_restart_needed(&d->cfg, &fresh);
            log_set_level(fresh.log_level);
            config_move(&d->cfg, &fresh);
            log_msg(LOG_NOTICE, NULL, "configuration reloaded: %zu allowed origin%s",
                    d->cfg.n_origins, d->cfg.n_origins == 1 ? "" : "s");
        }
    }
    describe_status(d, status, sizeof status);
    systemd_ready(status);
}

/* Returns false when the daemon should stop. */
static bool handle_signal(struct daemon_state *d)
{
    struct signalfd_siginfo si;

    while (read(d->signal_fd, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGHUP) {
            reload(d);
            continue;
        }
        log_msg(LOG_NOTICE, NULL, "%s: stopping", strsignal((int)si.ssi_signo));
        return false;
    }
    return true;
}

static void refresh_status(struct daemon_state *d)
{
    uint64_t count;
    char status[STATUS_TEXT_MAX];

    if (read(d->change_fd, &count, sizeof count) != sizeof count)
        return;
    describe_status(d, status, sizeof status);
    systemd_status(status);
    log_msg(LOG_DEBUG, NULL, "status: %s", status);
}

static void run_loop(struct daemon_state *d)
{
    uint64_t watchdog_us = systemd_watchdog_interval_us();
    int timeout_ms = watchdog_us ? (int)(watchdog_us / US_PER_MS) : POLL_FOREVER;
    struct pollfd pfd[] = { { .fd = d->signal_fd, .events = POLLIN },
                            { .fd = d->change_fd, .events = POLLIN } };

    for (;;) {
        int n = poll(pfd, sizeof pfd / sizeof pfd[0], timeout_ms);

        if (n < 0 && errno != EINTR) {
            log_msg(LOG_ERR, NULL, "poll: %m");
            return;
        }
        if (watchdog_us)
            systemd_watchdog_ping();
        if (n > 0 && (pfd[0].revents & POLLIN) && !handle_signal(d))
            return;
        if (n > 0 && (pfd[1].revents & POLLIN))
            refresh_status(d);
    }
}

static void log_started(const struct daemon_state *d)
{
    log_msg(LOG_NOTICE, NULL, "ukeyd %s ready on %zu socket%s%s; %zu allowed origin%s",
            UKEYD_VERSION, d->n_fds, d->n_fds == 1 ? "" : "s",
            d->activated ? " (socket activation)" : "", d->cfg.n_origins,
            d->cfg.n_origins == 1 ? "" : "s");
}

static int run(struct daemon_state *d)
{
    char status[STATUS_TEXT_MAX];

    if (block_signals(d) < 0) {
        log_msg(LOG_ERR, NULL, "cannot set up signal handling: %m");
        return EXIT_FAILURE;
    }
    if (open_listeners(d) < 0 || open_support_socket(d) < 0)
        return EXIT_FAILURE;
    if (start_services(d) < 0) {
        stop_services(d);
        return EXIT_FAILURE;
    }
    describe_status(d, status, sizeof status);
    systemd_ready(status);
    log_started(d);
    run_loop(d);
    systemd_stopping();
    stop_services(d);
    log_msg(LOG_NOTICE, NULL, "stopped");
    return EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
    struct daemon_state d = { .signal_fd = -1, .change_fd = -1, .support.fd = -1 };
    int rc = parse_options(argc, argv, &d.opt);

    if (rc >= 0)
        return rc;
    forbid_core_dumps();
    json_wipe_install();
    daemon_log_setup();
    if (read_config(&d.opt, &d.cfg) < 0)
        return EX_CONFIG;
    log_set_level(d.cfg.log_level);
    if (d.opt.check_config) {
        rc = check_config(&d.cfg);
        config_free(&d.cfg);
        return rc;
    }
    rc = run(&d);
    close_listeners(&d);
    support_socket_close(&d.support);
    if (d.signal_fd >= 0)
        close(d.signal_fd);
    if (d.change_fd >= 0)
        close(d.change_fd);
    config_free(&d.cfg);
    return rc;
}
