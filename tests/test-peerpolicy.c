/* SPDX-License-Identifier: MIT */
/* Tests api/peer/peerpolicy.c with a fake machine: mode names, the peer-users
 * item syntax, every mode's decision (and the default's fallback without
 * logind), names that do not resolve, what describe() shows, and the support
 * socket's rule. */
#include <stdbool.h>
#include <sys/types.h>

#include "api/peer/peerpolicy.h"
#include "tests/tap.h"

#define UID_ROOT     0
#define UID_ALICE    1001
#define UID_BOB      1002
#define UID_CAROL    1003
#define UID_NOBODY   65534
#define GID_DESK     2001
#define GID_OTHER    2002
#define GID_SUPPORT  2100

/* The fake machine: what each probe answers. */
static struct {
    bool logind;
    uid_t active_seat_uid;          /* the one UID with an active seat session */
    bool console_logged_in;
    uid_t console_uid;
    int n_group_lookups;            /* uid_groups calls: looked up only when needed */
} machine;

static bool fake_logind(void)
{
    return machine.logind;
}

static bool fake_active_on_seat(uid_t uid)
{
    return machine.logind && uid == machine.active_seat_uid;
}

static bool fake_console(uid_t *uid)
{
    *uid = machine.console_uid;
    return machine.console_logged_in;
}

static bool fake_user(const char *name, uid_t *uid)
{
    static const struct { const char *name; uid_t uid; } users[] = {
        { "alice", UID_ALICE }, { "bob", UID_BOB }, { "carol", UID_CAROL }, { "root", UID_ROOT },
    };

    for (size_t i = 0; i < sizeof users / sizeof users[0]; i++)
        if (strcmp(name, users[i].name) == 0) {
            *uid = users[i].uid;
            return true;
        }
    return false;
}

static bool fake_group(const char *name, gid_t *gid)
{
    if (strcmp(name, "desk") == 0)
        *gid = GID_DESK;
    else if (strcmp(name, "other") == 0)
        *gid = GID_OTHER;
    else
        return false;
    return true;
}

/* bob is in desk (supplementary), carol only in other. */
static bool fake_groups(uid_t uid, gid_t *groups, size_t max, size_t *n)
{
    machine.n_group_lookups++;
    *n = 0;
    if (max < 2)
        return false;
    groups[(*n)++] = (gid_t)uid;   /* a user private group */
    if (uid == UID_BOB)
        groups[(*n)++] = GID_DESK;
    if (uid == UID_CAROL)
        groups[(*n)++] = GID_OTHER;
    return uid != UID_NOBODY;
}

static const struct peer_probes fake = {
    .logind_running = fake_logind,
    .uid_active_on_seat = fake_active_on_seat,
    .console_uid = fake_console,
    .user_uid = fake_user,
    .group_gid = fake_group,
    .uid_groups = fake_groups,
};

static struct peer_policy *policy_of(enum peer_mode mode, const char *const *users, size_t n)
{
    struct peer_policy_config cfg = { .mode = mode, .users = users, .n_users = n };

    return peer_policy_new(&cfg, &fake);
}

static bool allowed(const struct peer_policy *p, uid_t uid)
{
    return peer_policy_check(p, uid).allowed;
}

static void test_mode_names(void)
{
    for (int m = 0; m < PEER_MODE__COUNT; m++)
        TAP_EQ_INT(peer_mode_parse(peer_mode_name(m)), m, peer_mode_name(m));
    TAP_EQ_INT(peer_mode_parse("active_session"), -1, "active_session is not a mode");
    TAP_EQ_INT(peer_mode_parse("Any-Local"), -1, "mode names are lower case");
    TAP_EQ_INT(peer_mode_parse(""), -1, "empty is not a mode");
}

static void test_user_items(void)
{
    static const char *const good[] = { "alice", "@desk", "zhangsan@corp.example.cn",
                                        "a.b_c-d", "_svc", "1000", "@wheel" };
    static const char *const bad[] = { "", "@", "-alice", "@-desk", "al ice", "a/b", "a:b",
                                       "@@desk", "ali\tce", "名字" };
    char too_long[PEER_NAME_MAX + 2];
    const char *why = NULL;

    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        tap_ok(peer_user_item_valid(good[i], &why), "\"%s\" is a valid peer-users item", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = NULL;
        tap_ok(!peer_user_item_valid(bad[i], &why) && why, "\"%s\" refused (%s)", bad[i],
               why ? why : "no reason");
    }
    memset(too_long, 'a', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    tap_ok(!peer_user_item_valid(too_long, &why), "a %zu-character name refused",
           strlen(too_long));
    too_long[PEER_NAME_MAX] = '\0';
    tap_ok(peer_user_item_valid(too_long, &why), "a %d-character name accepted", PEER_NAME_MAX);
}

static void test_auto_with_logind(void)
{
    struct peer_policy *p;

    machine = (typeof(machine)){ .logind = true, .active_seat_uid = UID_ALICE };
    p = policy_of(PEER_MODE_AUTO, NULL, 0);
    TAP_EQ_INT(peer_policy_mode(p), PEER_MODE_ACTIVE_SESSION, "auto with logind: active-session");
    tap_ok(allowed(p, UID_ALICE), "the active seat's user is allowed");
    tap_ok(!allowed(p, UID_BOB), "another user (say, over SSH) is refused");
    tap_ok(!allowed(p, UID_ROOT), "root without a seat session is refused");
    TAP_EQ_STR(peer_policy_check(p, UID_BOB).why, "has no active session on a seat",
               "the log says why");
    machine.active_seat_uid = UID_BOB;
    tap_ok(allowed(p, UID_BOB) && !allowed(p, UID_ALICE),
           "a session switch moves the right to the new user");
    peer_policy_free(p);
}

static void test_auto_without_logind(void)
{
    struct peer_policy *p;
    json_t *d;

    machine = (typeof(machine)){ .logind = false, .console_logged_in = true,
                                 .console_uid = UID_CAROL };
    p = policy_of(PEER_MODE_AUTO, NULL, 0);
    TAP_EQ_INT(peer_policy_mode(p), PEER_MODE_CONSOLE, "auto without logind: console");
    tap_ok(allowed(p, UID_CAROL), "the console's user is allowed");
    tap_ok(!allowed(p, UID_ALICE), "another user is refused");
    TAP_EQ_STR(peer_policy_check(p, UID_ALICE).why, "not the user of the active console",
               "why: not the console user");
    machine.console_logged_in = false;
    tap_ok(!allowed(p, UID_CAROL) && !allowed(p, UID_ROOT),
           "nobody logged in on the console: everyone is refused");
    TAP_EQ_STR(peer_policy_check(p, UID_ROOT).why, "nobody is logged in on the active console",
               "why: nobody on the console");
    d = peer_policy_describe(p);
    TAP_EQ_STR(json_string_value(json_object_get(d, "mode")), "console", "describe: mode");
    TAP_EQ_STR(json_string_value(json_object_get(d, "configured")), "auto",
               "describe: configured");
    tap_ok(json_is_false(json_object_get(d, "logind")), "describe: logind false");
    json_decref(d);
    peer_policy_free(p);
}

static void test_active_session_without_logind(void)
{
    struct peer_policy *p;

    machine = (typeof(machine)){ .logind = false, .active_seat_uid = UID_ALICE };
    p = policy_of(PEER_MODE_ACTIVE_SESSION, NULL, 0);
    TAP_EQ_INT(peer_policy_mode(p), PEER_MODE_ACTIVE_SESSION,
               "active-session asked for stays active-session without logind");
    tap_ok(!allowed(p, UID_ALICE), "...and refuses everyone");
    TAP_EQ_STR(peer_policy_check(p, UID_ALICE).why, "systemd-logind is not running",
               "why: no logind");
    peer_policy_free(p);
}

static void test_users(void)
{
    static const char *const users[] = { "alice", "@desk", "ghost", "@nogroup" };
    struct peer_policy *p;
    json_t *d;
    char *text;

    machine = (typeof(machine)){ .logind = true, .active_seat_uid = UID_CAROL };
    p = policy_of(PEER_MODE_USERS, users, sizeof users / sizeof users[0]);
    TAP_EQ_INT(peer_policy_mode(p), PEER_MODE_USERS, "users");
    tap_ok(allowed(p, UID_ALICE), "a listed user is allowed");
    TAP_EQ_STR(peer_policy_check(p, UID_ALICE).why, "listed in peer-users", "why: listed");
    tap_ok(allowed(p, UID_BOB), "a member of a listed group is allowed");
    tap_ok(!allowed(p, UID_CAROL), "an unlisted user is refused, active seat or not");
    tap_ok(!allowed(p, UID_ROOT), "root is not special");
    tap_ok(!allowed(p, UID_NOBODY), "an account the user database does not know is refused");
    TAP_EQ_STR(peer_policy_check(p, UID_CAROL).why, "not listed in peer-users",
               "why: not listed");
    d = peer_policy_describe(p);
    text = json_dumps(d, 0);
    tap_ok(text && !strstr(text, "alice") && !strstr(text, "desk"),
           "describe() never lists the names (%s)", text ? text : "null");
    free(text);
    json_decref(d);
    peer_policy_free(p);
}

static void test_users_only_names(void)
{
    static const char *const users[] = { "alice" };
    struct peer_policy *p;

    machine = (typeof(machine)){ 0 };
    p = policy_of(PEER_MODE_USERS, users, 1);
    tap_ok(!allowed(p, UID_BOB), "users without groups: bob refused");
    TAP_EQ_INT(machine.n_group_lookups, 0, "no group lookup when no group is listed");
    peer_policy_free(p);
}

static void test_users_empty(void)
{
    static const char *const users[] = { "ghost" };
    struct peer_policy *p = policy_of(PEER_MODE_USERS, NULL, 0);

    tap_ok(!allowed(p, UID_ALICE) && !allowed(p, UID_ROOT), "users with no list refuses all");
    peer_policy_free(p);
    p = policy_of(PEER_MODE_USERS, users, 1);
    tap_ok(!allowed(p, UID_ALICE), "users naming nobody that exists refuses all");
    peer_policy_free(p);
}

static void test_any_local(void)
{
    struct peer_policy *p;

    machine = (typeof(machine)){ 0 };
    p = policy_of(PEER_MODE_ANY_LOCAL, NULL, 0);
    tap_ok(allowed(p, UID_ROOT) && allowed(p, UID_ALICE) && allowed(p, UID_NOBODY),
           "any-local allows everyone");
    peer_policy_free(p);
}

static void test_support_rule(void)
{
    gid_t desk_and_support[] = { GID_DESK, GID_SUPPORT };
    gid_t desk[] = { GID_DESK };
    struct peer_creds root = { .uid = UID_ROOT, .gid = 0 };
    struct peer_creds member = { .uid = UID_BOB, .gid = UID_BOB, .groups = desk_and_support,
                                 .n_groups = 2 };
    struct peer_creds primary = { .uid = UID_CAROL, .gid = GID_SUPPORT };
    struct peer_creds stranger = { .uid = UID_ALICE, .gid = UID_ALICE, .groups = desk,
                                   .n_groups = 1 };
    struct peer_creds nobody = { .uid = UID_NOBODY, .gid = UID_NOBODY };
    struct peer_creds in_gid_0 = { .uid = UID_ALICE, .gid = 0 };

    tap_ok(peer_support_allowed(&root, true, GID_SUPPORT), "support: root allowed");
    tap_ok(peer_support_allowed(&root, false, 0), "support: root allowed without the group");
    tap_ok(peer_support_allowed(&member, true, GID_SUPPORT),
           "support: a supplementary member allowed");
    tap_ok(peer_support_allowed(&primary, true, GID_SUPPORT),
           "support: a member by primary group allowed");
    tap_ok(!peer_support_allowed(&stranger, true, GID_SUPPORT), "support: a non-member refused");
    tap_ok(!peer_support_allowed(&nobody, true, GID_SUPPORT), "support: nobody refused");
    tap_ok(!peer_support_allowed(&member, false, GID_SUPPORT),
           "support: without the group, root only");
    tap_ok(!peer_support_allowed(&in_gid_0, false, 0),
           "support: a missing group's unset gid does not let group 0 in");
}

int main(void)
{
    test_mode_names();
    test_user_items();
    test_auto_with_logind();
    test_auto_without_logind();
    test_active_session_without_logind();
    test_users();
    test_users_only_names();
    test_users_empty();
    test_any_local();
    test_support_rule();
    return tap_done();
}
