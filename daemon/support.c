/* SPDX-License-Identifier: MIT */
/*
 * daemon/support.c — creating the support socket's file with the right owner
 * and mode before anybody can connect: bind, then chmod and chown, and only
 * then listen (until listen(), a connect() is refused, so nobody slips in
 * while the mode is still the umask's).
 *
 * A file left behind by a ukeyd that died is replaced; a socket some other
 * process still answers on, or a file that is not a socket, is left alone.
 */
#include "daemon/support.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/base/log.h"
#include "api/peer/peerpolicy.h"

#define SUPPORT_MODE_GROUP   0660
#define SUPPORT_MODE_ROOT    0600
#define SUPPORT_BACKLOG      8

static bool directory_exists(const char *path)
{
    char copy[sizeof ((struct support_socket *)0)->path];
    struct stat st;

    snprintf(copy, sizeof copy, "%s", path);
    return stat(dirname(copy), &st) == 0 && S_ISDIR(st.st_mode);
}

static int fill_address(const char *path, struct sockaddr_un *a)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof a->sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(a->sun_path, path, strlen(path) + 1);
    return 0;
}

/* Whether a process answers on the socket at `path`. */
static bool socket_in_use(const struct sockaddr_un *a)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool used;

    if (fd < 0)
        return true;   /* cannot tell: do not take it away */
    used = connect(fd, (const struct sockaddr *)a, sizeof *a) == 0 || errno != ECONNREFUSED;
    close(fd);
    return used;
}

/* Clears the way for bind(); false (logged) when the path must be left alone. */
static bool clear_stale(const struct sockaddr_un *a)
{
    struct stat st;

    if (lstat(a->sun_path, &st) < 0)
        return errno == ENOENT;
    if (!S_ISSOCK(st.st_mode)) {
        log_msg(LOG_WARNING, NULL, "support socket: %s exists and is not a socket; not touched",
                a->sun_path);
        return false;
    }
    if (socket_in_use(a)) {
        log_msg(LOG_WARNING, NULL, "support socket: %s is in use (another ukeyd?); not taken",
                a->sun_path);
        return false;
    }
    return unlink(a->sun_path) == 0;
}

static int set_access(const struct support_socket *s)
{
    if (!s->group_exists)
        return chmod(s->path, SUPPORT_MODE_ROOT);
    if (chown(s->path, (uid_t)-1, s->gid) < 0)
        return -1;
    return chmod(s->path, SUPPORT_MODE_GROUP);
}

static int bind_and_listen(struct support_socket *s, const struct sockaddr_un *a)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    if (bind(fd, (const struct sockaddr *)a, sizeof *a) < 0) {
        close(fd);
        return -1;
    }
    if (set_access(s) < 0 || listen(fd, SUPPORT_BACKLOG) < 0) {
        int saved = errno;

        close(fd);
        unlink(s->path);
        errno = saved;
        return -1;
    }
    return fd;
}

static void log_opened(const struct support_socket *s, const char *group)
{
    if (s->group_exists)
        log_msg(LOG_NOTICE, NULL, "support socket %s: root and group %s", s->path, group);
    else
        log_msg(LOG_NOTICE, NULL, "support socket %s: root only (there is no group %s)", s->path,
                group);
}

int support_socket_open(const char *path, const char *group, struct support_socket *s)
{
    struct sockaddr_un a;

    memset(s, 0, sizeof *s);
    s->fd = -1;
    if (!path[0]) {
        log_msg(LOG_INFO, NULL, "support socket: off");
        return 0;
    }
    if (fill_address(path, &a) < 0) {
        log_msg(LOG_ERR, NULL, "support socket %s: path too long", path);
        return -1;
    }
    if (!directory_exists(path)) {
        log_msg(LOG_NOTICE, NULL, "support socket %s: off, its directory does not exist "
                "(systemd's RuntimeDirectory=ukeyd makes /run/ukeyd)", path);
        return 0;
    }
    if (!clear_stale(&a))
        return 0;
    snprintf(s->path, sizeof s->path, "%s", path);
    s->group_exists = peer_probes_system.group_gid(group, &s->gid);
    s->fd = bind_and_listen(s, &a);
    if (s->fd < 0) {
        log_msg(LOG_WARNING, NULL, "support socket %s: off: %m", path);
        s->path[0] = '\0';
        return 0;
    }
    log_opened(s, group);
    return 0;
}

void support_socket_close(struct support_socket *s)
{
    if (s->fd < 0)
        return;
    close(s->fd);
    unlink(s->path);
    s->fd = -1;
}
