/* SPDX-License-Identifier: MIT */
/*
 * daemon/config.h — ukeyd's configuration: built-in defaults, overridden by
 * the file an administrator edits (INI, parsed by inih), overridden by the
 * command line.
 */
#ifndef UKEYD_DAEMON_CONFIG_H
#define UKEYD_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "api/render/lang.h"
#include "api/peer/peerpolicy.h"

#define CONFIG_DEFAULT_PATH   "/etc/ukeyd/ukeyd.conf"
/* Where an administrator reads about the file: the man page the package and
 * `make install` install, never a path in the source tree. */
#define CONFIG_MAN_PAGE       "ukeyd.conf(5)"
#define CONFIG_ORIGINS_MAX    32
#define CONFIG_LISTEN_MAX     8
#define CONFIG_ERROR_MAX      512
#define CONFIG_DEFAULT_PORT   17990
#define CONFIG_PEER_USERS_MAX 32
#define CONFIG_ARGV_MAX       16      /* words of pcscd-restart-command */
#define CONFIG_DEFAULT_SUPPORT_SOCKET "/run/ukeyd/support.sock"
#define CONFIG_DEFAULT_SUPPORT_GROUP  "ukeyd-support"
#define CONFIG_SKF_LIBRARIES_MAX 16    /* skf-library lines (the provider's limit) */
/* Where make install puts the SKF helper (Makefile: LIBEXECDIR). */
#ifndef UKEYD_SKF_HELPER
#define UKEYD_SKF_HELPER "/usr/libexec/ukeyd/ukeyd-skf-host"
#endif

/* One skf-library line: a vendor's SKF library and its profile. */
struct config_skf_library {
    char *path;
    char *profile;                     /* NULL: "standard" */
};

struct config {
    char *origins[CONFIG_ORIGINS_MAX];
    size_t n_origins;
    char *listen[CONFIG_LISTEN_MAX];   /* "127.0.0.1:17990", "[::1]:17990" */
    size_t n_listen;
    char *ca_service_url;              /* for the unlock service; NULL when unset */
    char *ca_bundle;
    char *ca_roots;                    /* PEM roots issued certificates must chain to */
    char *state_directory;             /* the unlock journal's home; NULL: the default */
    unsigned ca_connect_timeout_s;
    unsigned ca_timeout_s;             /* one whole exchange with the unlock service */
    unsigned unlock_session_timeout_s; /* an unlock session unused this long expires */
    enum api_lang language;
    unsigned pin_pacing_ms;
    unsigned max_connections;
    unsigned max_connections_per_user;
    unsigned max_sse_clients;
    unsigned connection_timeout_s;
    unsigned worker_threads;
    unsigned sse_heartbeat_s;
    int log_level;                     /* LOG_* of syslog.h */
    unsigned environment_timeout_ms;   /* bound on GET /v1/environment */
    char *pcsc_drivers_dir;            /* NULL: pcsc-lite's usual directory */
    char *pcscd_restart_argv[CONFIG_ARGV_MAX + 1];  /* NULL-terminated; the repair's hook */
    size_t n_pcscd_restart_argv;
    enum peer_mode peer_mode;          /* who may connect over TCP */
    char *peer_users[CONFIG_PEER_USERS_MAX];   /* "alice", "@desk-users" */
    size_t n_peer_users;
    char *support_socket;              /* NULL: the default; "" after "none": no socket */
    char *support_group;               /* NULL: the default */
    struct config_skf_library skf_libraries[CONFIG_SKF_LIBRARIES_MAX];
    size_t n_skf_libraries;
    bool skf_discover;                 /* also the known vendors' libraries */
    char *skf_helper;                  /* NULL: UKEYD_SKF_HELPER */
};

void config_defaults(struct config *c);

/*
 * Reads `path` over the values already in `c`. Returns 0, or -1 with
 * `error` set to "PATH:LINE: KEY: what is wrong" (or "PATH: why" when the file
 * cannot be read); `c` is then left as it was.
 */
int config_load(struct config *c, const char *path, char *error, size_t error_size);

/* Moves everything from `from` into `to` (freeing what `to` held). */
void config_move(struct config *to, struct config *from);
void config_free(struct config *c);

#endif
