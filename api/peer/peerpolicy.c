/* SPDX-License-Identifier: MIT */
/*
 * api/peer/peerpolicy.c — the peer policy: parsing, resolving names to ids once
 * (at start and at each reload), and the decision for one UID.
 *
 * Names are resolved when the policy is built, not per connection: the user
 * database may be remote, and a list that changes under a running policy
 * would make one decision differ from the next for no visible reason. Group
 * membership of a peer is looked up per decision, since that is the peer's.
 */
#include "api/peer/peerpolicy.h"

#include <stdlib.h>
#include <string.h>

#include "api/base/log.h"

#define GROUP_PREFIX '@'

static const char *const mode_names[PEER_MODE__COUNT] = {
    [PEER_MODE_AUTO] = "auto",
    [PEER_MODE_ACTIVE_SESSION] = "active-session",
    [PEER_MODE_CONSOLE] = "console",
    [PEER_MODE_USERS] = "users",
    [PEER_MODE_ANY_LOCAL] = "any-local",
};

struct peer_policy {
    enum peer_mode configured;
    enum peer_mode mode;
    bool logind;
    const struct peer_probes *probes;
    size_t n_uids, n_gids;
    uid_t *uids;
    gid_t *gids;
};

int peer_mode_parse(const char *name)
{
    for (int m = 0; m < PEER_MODE__COUNT; m++)
        if (strcmp(name, mode_names[m]) == 0)
            return m;
    return -1;
}

const char *peer_mode_name(enum peer_mode mode)
{
    return (unsigned)mode < PEER_MODE__COUNT ? mode_names[mode] : "unknown";
}

static bool name_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-' || c == '@';
}

bool peer_user_item_valid(const char *item, const char **why)
{
    const char *name = item[0] == GROUP_PREFIX ? item + 1 : item;
    size_t len = strlen(name);

    if (len == 0) {
        *why = "is empty (a user name, or @ and a group name)";
        return false;
    }
    if (len > PEER_NAME_MAX) {
        *why = "is too long for a user or group name";
        return false;
    }
    if (name[0] == '-' || name[0] == GROUP_PREFIX) {
        *why = "must start with a letter, a digit, '.' or '_'";
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!name_char_ok(name[i])) {
            *why = "may hold only letters, digits, '.', '_', '-' and '@'";
            return false;
        }
    }
    return true;
}

static void resolve_group(struct peer_policy *p, const char *name)
{
    gid_t gid;

    if (p->probes->group_gid(name, &gid))
        p->gids[p->n_gids++] = gid;
    else
        log_msg(LOG_WARNING, NULL, "peer-users: there is no group \"%s\"", name);
}

static void resolve_user(struct peer_policy *p, const char *name)
{
    uid_t uid;

    if (p->probes->user_uid(name, &uid))
        p->uids[p->n_uids++] = uid;
    else
        log_msg(LOG_WARNING, NULL, "peer-users: there is no user \"%s\"", name);
}

/* A name nobody has is logged, not fatal, so that removing an account does
 * not stop the service. */
static void resolve_item(struct peer_policy *p, const char *item)
{
    if (item[0] == GROUP_PREFIX)
        resolve_group(p, item + 1);
    else
        resolve_user(p, item);
}

struct peer_policy *peer_policy_new(const struct peer_policy_config *cfg,
                                    const struct peer_probes *probes)
{
    struct peer_policy *p = calloc(1, sizeof *p);
    size_t n = cfg->n_users ? cfg->n_users : 1;

    if (!p)
        return NULL;
    p->uids = calloc(n, sizeof *p->uids);
    p->gids = calloc(n, sizeof *p->gids);
    if (!p->uids || !p->gids) {
        peer_policy_free(p);
        return NULL;
    }
    p->probes = probes;
    p->configured = cfg->mode;
    p->logind = probes->logind_running();
    p->mode = cfg->mode;
    if (p->mode == PEER_MODE_AUTO)
        p->mode = p->logind ? PEER_MODE_ACTIVE_SESSION : PEER_MODE_CONSOLE;
    if (p->mode == PEER_MODE_USERS)
        for (size_t i = 0; i < cfg->n_users; i++)
            resolve_item(p, cfg->users[i]);
    return p;
}

void peer_policy_free(struct peer_policy *p)
{
    if (!p)
        return;
    free(p->uids);
    free(p->gids);
    free(p);
}

enum peer_mode peer_policy_mode(const struct peer_policy *p)
{
    return p->mode;
}

static bool uid_listed(const struct peer_policy *p, uid_t uid)
{
    for (size_t i = 0; i < p->n_uids; i++)
        if (p->uids[i] == uid)
            return true;
    return false;
}

static bool gid_listed(const struct peer_policy *p, const gid_t *groups, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < p->n_gids; j++)
            if (groups[i] == p->gids[j])
                return true;
    return false;
}

static struct peer_verdict check_users(const struct peer_policy *p, uid_t uid)
{
    gid_t groups[PEER_GROUPS_MAX];
    size_t n = 0;

    if (uid_listed(p, uid))
        return (struct peer_verdict){ true, "listed in peer-users" };
    if (p->n_gids && p->probes->uid_groups(uid, groups, PEER_GROUPS_MAX, &n) &&
        gid_listed(p, groups, n))
        return (struct peer_verdict){ true, "member of a group listed in peer-users" };
    return (struct peer_verdict){ false, "not listed in peer-users" };
}

static struct peer_verdict check_console(const struct peer_policy *p, uid_t uid)
{
    uid_t console;

    if (!p->probes->console_uid(&console))
        return (struct peer_verdict){ false, "nobody is logged in on the active console" };
    if (console != uid)
        return (struct peer_verdict){ false, "not the user of the active console" };
    return (struct peer_verdict){ true, "user of the active console" };
}

static struct peer_verdict check_active_session(const struct peer_policy *p, uid_t uid)
{
    if (p->probes->uid_active_on_seat(uid))
        return (struct peer_verdict){ true, "has the active session of a seat" };
    if (!p->logind)
        return (struct peer_verdict){ false, "systemd-logind is not running" };
    return (struct peer_verdict){ false, "has no active session on a seat" };
}

struct peer_verdict peer_policy_check(const struct peer_policy *p, uid_t uid)
{
    switch (p->mode) {
    case PEER_MODE_ANY_LOCAL:
        return (struct peer_verdict){ true, "any local user is allowed" };
    case PEER_MODE_USERS:
        return check_users(p, uid);
    case PEER_MODE_CONSOLE:
        return check_console(p, uid);
    case PEER_MODE_ACTIVE_SESSION:
        return check_active_session(p, uid);
    case PEER_MODE_AUTO:
    case PEER_MODE__COUNT:
        break;
    }
    return (struct peer_verdict){ false, "no peer policy" };
}

void peer_policy_log(const struct peer_policy *p)
{
    const char *mode = peer_mode_name(p->mode);

    if (p->configured == PEER_MODE_AUTO && p->mode == PEER_MODE_CONSOLE)
        log_msg(LOG_NOTICE, NULL,
                "peer policy: console (systemd-logind is not running: only the user logged in "
                "on the active virtual console may connect; nobody when no one is)");
    else if (p->configured == PEER_MODE_AUTO)
        log_msg(LOG_NOTICE, NULL, "peer policy: active-session (the default with systemd-logind)");
    else if (p->mode == PEER_MODE_ACTIVE_SESSION && !p->logind)
        log_msg(LOG_WARNING, NULL,
                "peer policy: active-session, but systemd-logind is not running: every "
                "connection is refused");
    else if (p->mode == PEER_MODE_USERS)
        log_msg(p->n_uids + p->n_gids ? LOG_NOTICE : LOG_WARNING, NULL,
                "peer policy: users (%zu user%s, %zu group%s%s)", p->n_uids,
                p->n_uids == 1 ? "" : "s", p->n_gids, p->n_gids == 1 ? "" : "s",
                p->n_uids + p->n_gids ? "" : ": every connection is refused");
    else if (p->mode == PEER_MODE_ANY_LOCAL)
        log_msg(LOG_NOTICE, NULL,
                "peer policy: any-local (every local account may use the token)");
    else
        log_msg(LOG_NOTICE, NULL, "peer policy: %s", mode);
}

json_t *peer_policy_describe(const struct peer_policy *p)
{
    return json_pack("{s:s, s:s, s:b}", "mode", peer_mode_name(p->mode), "configured",
                     peer_mode_name(p->configured), "logind", p->logind);
}

static bool gid_in(gid_t gid, const gid_t *groups, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (groups[i] == gid)
            return true;
    return false;
}

bool peer_support_allowed(const struct peer_creds *c, bool group_exists, gid_t support_gid)
{
    if (c->uid == 0)
        return true;
    return group_exists && (c->gid == support_gid || gid_in(support_gid, c->groups, c->n_groups));
}
