/* SPDX-License-Identifier: MIT */
/*
 * api/peer/seat.c — the machine's answers to the peer policy's questions: is
 * systemd-logind running, has a UID the active session of a seat (sd-login),
 * who is logged in on the active virtual console (the kernel's tty0 and
 * utmp), and the user database (NSS, through the reentrant calls).
 */
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-login.h>
#include <unistd.h>
#include <utmpx.h>

#include "api/peer/peerpolicy.h"

/* sd-login's own test for a running logind (sd_booted(3), sd-login(3)). */
#define LOGIND_SEATS_DIR   "/run/systemd/seats/"
/* The kernel names the virtual console in the foreground here: "tty2". */
#define ACTIVE_VT_FILE     "/sys/class/tty/tty0/active"
#define VT_NAME_MAX        32
/* Room for one passwd or group entry; NSS says ERANGE when it needs more. */
#define NSS_BUF_START      4096
#define NSS_BUF_MAX        (1024 * 1024)

static bool system_logind_running(void)
{
    return sd_booted() > 0 && access(LOGIND_SEATS_DIR, F_OK) == 0;
}

static bool system_uid_active_on_seat(uid_t uid)
{
    /* require_active: only seats where this user's session is in front. */
    return sd_uid_get_seats(uid, 1, NULL) > 0;
}

/* --- the user database ------------------------------------------------- */

/* Calls `get` with a growing buffer until it fits; the entry points into buf. */
#define NSS_LOOKUP(get, key, entry, result, buf)                                         \
    ({                                                                                   \
        int rc_ = ERANGE;                                                                \
        for (size_t size_ = NSS_BUF_START; rc_ == ERANGE && size_ <= NSS_BUF_MAX;        \
             size_ *= 2) {                                                               \
            char *bigger_ = realloc(buf, size_);                                         \
            if (!bigger_) {                                                              \
                rc_ = ENOMEM;                                                            \
                break;                                                                   \
            }                                                                            \
            buf = bigger_;                                                               \
            rc_ = get(key, entry, buf, size_, result);                                   \
        }                                                                                \
        rc_ == 0 && *(result) != NULL;                                                   \
    })

static bool system_user_uid(const char *name, uid_t *uid)
{
    struct passwd pw, *found = NULL;
    char *buf = NULL;
    bool ok = NSS_LOOKUP(getpwnam_r, name, &pw, &found, buf);

    if (ok)
        *uid = pw.pw_uid;
    free(buf);
    return ok;
}

static bool system_group_gid(const char *name, gid_t *gid)
{
    struct group gr, *found = NULL;
    char *buf = NULL;
    bool ok = NSS_LOOKUP(getgrnam_r, name, &gr, &found, buf);

    if (ok)
        *gid = gr.gr_gid;
    free(buf);
    return ok;
}

static bool system_uid_groups(uid_t uid, gid_t *groups, size_t max, size_t *n)
{
    struct passwd pw, *found = NULL;
    char *buf = NULL;
    int count = (int)max;
    bool ok = NSS_LOOKUP(getpwuid_r, uid, &pw, &found, buf);

    /* More groups than fit: the ones that fit are still the account's. */
    if (ok && getgrouplist(pw.pw_name, pw.pw_gid, groups, &count) < 0)
        count = (int)max;
    *n = ok ? (size_t)count : 0;
    free(buf);
    return ok;
}

/* --- the console ------------------------------------------------------- */

static bool active_vt(char *name, size_t size)
{
    FILE *f = fopen(ACTIVE_VT_FILE, "re");
    bool ok;

    if (!f)
        return false;
    ok = fgets(name, (int)size, f) != NULL;
    fclose(f);
    if (ok)
        name[strcspn(name, "\n")] = '\0';
    return ok && name[0];
}

static bool process_alive(pid_t pid)
{
    return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/* The utmp functions share one static cursor: one caller at a time. */
static pthread_mutex_t utmp_lock = PTHREAD_MUTEX_INITIALIZER;

/* The user of the live login on `line`, copied into `user`. */
static bool login_on_line(const char *line, char *user, size_t size)
{
    struct utmpx *u;
    bool found = false;

    pthread_mutex_lock(&utmp_lock);
    setutxent();
    while (!found && (u = getutxent())) {
        /* A login whose process died without logging out leaves its entry. */
        found = u->ut_type == USER_PROCESS &&
                strncmp(u->ut_line, line, sizeof u->ut_line) == 0 && process_alive(u->ut_pid);
        if (found)
            snprintf(user, size, "%.*s", (int)sizeof u->ut_user, u->ut_user);
    }
    endutxent();
    pthread_mutex_unlock(&utmp_lock);
    return found;
}

static bool system_console_uid(uid_t *uid)
{
    char vt[VT_NAME_MAX], user[PEER_NAME_MAX + 1];

    return active_vt(vt, sizeof vt) && login_on_line(vt, user, sizeof user) &&
           system_user_uid(user, uid);
}

const struct peer_probes peer_probes_system = {
    .logind_running = system_logind_running,
    .uid_active_on_seat = system_uid_active_on_seat,
    .console_uid = system_console_uid,
    .user_uid = system_user_uid,
    .group_gid = system_group_gid,
    .uid_groups = system_uid_groups,
};
