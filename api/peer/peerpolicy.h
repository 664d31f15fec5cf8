/* SPDX-License-Identifier: MIT */
/*
 * api/peer/peerpolicy.h — which local accounts may use the token through ukeyd:
 * the `peer-policy` modes, the `peer-users` list (user names and @groups),
 * and the rule for the support socket (root or the support group).
 *
 * Everything the policy asks of the machine (sd-login, the console, the user
 * database) goes through struct peer_probes, so every decision can be tested
 * with fakes; api/peer/seat.c has the real ones.
 */
#ifndef UKEYD_API_PEERPOLICY_H
#define UKEYD_API_PEERPOLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* User and group names as useradd(8) takes them, and some room for
 * directory accounts ("zhangsan@corp.example.cn"). */
#define PEER_NAME_MAX  64
#define PEER_GROUPS_MAX 256     /* supplementary groups looked at per account */

enum peer_mode {
    PEER_MODE_AUTO = 0,         /* active-session where systemd-logind runs, else console */
    PEER_MODE_ACTIVE_SESSION,   /* the UID's session is the active one on a seat */
    PEER_MODE_CONSOLE,          /* the UID is logged in on the active virtual console */
    PEER_MODE_USERS,            /* the UID is listed, or in a listed group */
    PEER_MODE_ANY_LOCAL,        /* every local account (single-user kiosks) */
    PEER_MODE__COUNT
};

/* "auto", "active-session", "console", "users", "any-local"; -1 when unknown. */
int peer_mode_parse(const char *name);
const char *peer_mode_name(enum peer_mode mode);

/* Whether `item` is a user name or "@group" as peer-users takes them; on
 * false, *why says what is wrong (static English). */
bool peer_user_item_valid(const char *item, const char **why);

/* What a policy needs to know about the machine. Each may be called from
 * any server thread at the same time. */
struct peer_probes {
    bool (*logind_running)(void);
    /* A session of `uid` is the active session of some seat. */
    bool (*uid_active_on_seat)(uid_t uid);
    /* The user logged in on the active virtual console; false when nobody is. */
    bool (*console_uid)(uid_t *uid);
    bool (*user_uid)(const char *name, uid_t *uid);
    bool (*group_gid)(const char *name, gid_t *gid);
    /* The account's primary and supplementary groups; false when unknown. */
    bool (*uid_groups)(uid_t uid, gid_t *groups, size_t max, size_t *n);
};

/* The machine's own probes (api/peer/seat.c). */
extern const struct peer_probes peer_probes_system;

struct peer_policy_config {
    enum peer_mode mode;
    const char *const *users;   /* peer-users items, checked by peer_user_item_valid */
    size_t n_users;
};

struct peer_policy;

/* Resolves the mode (AUTO) and the names (a name that does not resolve is
 * logged and left out). `probes` must outlive the policy. NULL when out of
 * memory. */
struct peer_policy *peer_policy_new(const struct peer_policy_config *cfg,
                                    const struct peer_probes *probes);
void peer_policy_free(struct peer_policy *p);

/* The mode in force: never AUTO. */
enum peer_mode peer_policy_mode(const struct peer_policy *p);

struct peer_verdict {
    bool allowed;
    const char *why;            /* static English, for the log */
};

struct peer_verdict peer_policy_check(const struct peer_policy *p, uid_t uid);

/* Logs, once, the mode in force and why (for AUTO: whether logind runs). */
void peer_policy_log(const struct peer_policy *p);

/* {"mode": "console", "configured": "auto", "logind": false}; NULL on no memory.
 * Never lists the names of peer-users. */
json_t *peer_policy_describe(const struct peer_policy *p);

/* The support socket's rule on the credentials the kernel gives
 * (SO_PEERCRED, SO_PEERGROUPS): root, or a member of the support group when
 * that group exists. */
struct peer_creds {
    uid_t uid;
    gid_t gid;
    const gid_t *groups;        /* supplementary groups */
    size_t n_groups;
};

bool peer_support_allowed(const struct peer_creds *c, bool group_exists, gid_t support_gid);

#endif
