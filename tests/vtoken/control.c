/* SPDX-License-Identifier: MIT */
/*
 * tests/vtoken/control.c — the control socket, server and client sides.
 * Clients are few and local (the rig, a test); each is served without
 * blocking the card, and a client that sends junk is simply dropped.
 */
#include "tests/vtoken/control.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define CTL_REPLY_MAX       256
#define CTL_CLIENT_TIMEOUT_S 5
#define CTL_BACKLOG         8
#define CTL_REPLY_OK        "ok"

static int fill_address(struct sockaddr_un *addr, const char *path)
{
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof addr->sun_path) {
        fprintf(stderr, "vtoken: control socket path too long: %s\n", path);
        return -1;
    }
    strcpy(addr->sun_path, path);
    return 0;
}

void vt_ctl_server_init(struct ctl_server *srv)
{
    memset(srv, 0, sizeof *srv);
    srv->listen_fd = -1;
    for (int i = 0; i < CTL_MAX_CLIENTS; i++)
        srv->clients[i].fd = -1;
}

int vt_ctl_server_open(struct ctl_server *srv, const char *path)
{
    struct sockaddr_un addr;
    struct stat st;

    vt_ctl_server_init(srv);
    if (fill_address(&addr, path) < 0)
        return -1;
    srv->path = strdup(path);
    srv->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (!srv->path || srv->listen_fd < 0)
        goto fail;
    /* A socket left by a killed token would make bind fail; anything that
     * is not a socket is left alone and bind reports it. */
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    if (bind(srv->listen_fd, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        chmod(path, S_IRUSR | S_IWUSR) < 0 || listen(srv->listen_fd, CTL_BACKLOG) < 0)
        goto fail;
    return 0;
fail:
    fprintf(stderr, "vtoken: control socket %s: %s\n", path, strerror(errno));
    vt_ctl_server_close(srv);
    return -1;
}

static void drop_client(struct ctl_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->len = 0;
}

void vt_ctl_server_close(struct ctl_server *srv)
{
    for (int i = 0; i < CTL_MAX_CLIENTS; i++)
        drop_client(&srv->clients[i]);
    if (srv->listen_fd >= 0) {
        close(srv->listen_fd);
        if (srv->path)
            unlink(srv->path);
    }
    srv->listen_fd = -1;
    free(srv->path);
    srv->path = NULL;
}

void vt_ctl_server_poll_fds(const struct ctl_server *srv, struct pollfd *fds)
{
    fds[0] = (struct pollfd){ .fd = srv->listen_fd, .events = POLLIN };
    for (int i = 0; i < CTL_MAX_CLIENTS; i++)
        fds[1 + i] = (struct pollfd){ .fd = srv->clients[i].fd, .events = POLLIN };
}

static void accept_client(struct ctl_server *srv)
{
    int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

    if (fd < 0)
        return;
    for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
        if (srv->clients[i].fd < 0) {
            srv->clients[i].fd = fd;
            srv->clients[i].len = 0;
            return;
        }
    }
    /* Full: a test with more than CTL_MAX_CLIENTS open sockets is broken. */
    close(fd);
}

static void send_reply(int fd, const char *reply)
{
    char line[CTL_REPLY_MAX + 1];
    int n = snprintf(line, sizeof line, "%s\n", reply);

    if (n > 0)
        send(fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1, MSG_NOSIGNAL);
}

/* Runs every complete line in the client's buffer. */
static void run_lines(struct ctl_client *c, ctl_exec_fn exec, void *ctx)
{
    char *nl;

    while ((nl = memchr(c->line, '\n', c->len)) != NULL) {
        char reply[CTL_REPLY_MAX];
        size_t used = (size_t)(nl - c->line) + 1;

        *nl = '\0';
        if (nl > c->line && nl[-1] == '\r')
            nl[-1] = '\0';
        exec(ctx, c->line, reply, sizeof reply);
        send_reply(c->fd, reply);
        memmove(c->line, c->line + used, c->len - used);
        c->len -= used;
    }
}

static void serve_client(struct ctl_client *c, ctl_exec_fn exec, void *ctx)
{
    ssize_t n = recv(c->fd, c->line + c->len, sizeof c->line - c->len, 0);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        drop_client(c);
        return;
    }
    c->len += (size_t)n;
    run_lines(c, exec, ctx);
    if (c->len == sizeof c->line) {
        send_reply(c->fd, "error line too long");
        drop_client(c);
    }
}

void vt_ctl_server_handle(struct ctl_server *srv, const struct pollfd *fds, ctl_exec_fn exec,
                       void *ctx)
{
    for (int i = 0; i < CTL_MAX_CLIENTS; i++)
        if (srv->clients[i].fd >= 0 && fds[1 + i].fd == srv->clients[i].fd &&
            (fds[1 + i].revents & (POLLIN | POLLHUP | POLLERR)))
            serve_client(&srv->clients[i], exec, ctx);
    if (fds[0].revents & POLLIN)
        accept_client(srv);
}

/* --- client ---------------------------------------------------------------- */

static int connect_to(const char *path)
{
    struct timeval tv = { .tv_sec = CTL_CLIENT_TIMEOUT_S };
    struct sockaddr_un addr;
    int fd;

    if (fill_address(&addr, path) < 0)
        return -1;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
        connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        fprintf(stderr, "vtoken: control socket %s: %s\n", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int read_reply_line(int fd, char *reply, size_t size)
{
    size_t len = 0;

    while (len + 1 < size) {
        ssize_t n = recv(fd, reply + len, 1, 0);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        if (reply[len] == '\n')
            break;
        len++;
    }
    reply[len] = '\0';
    return 0;
}

int vt_ctl_client_run(const char *path, const char *command)
{
    char reply[CTL_REPLY_MAX];
    int fd = connect_to(path);
    int rc;

    if (fd < 0)
        return CTL_CLIENT_UNREACHABLE;
    if (dprintf(fd, "%s\n", command) < 0 || read_reply_line(fd, reply, sizeof reply) < 0) {
        fprintf(stderr, "vtoken: no reply from %s\n", path);
        close(fd);
        return CTL_CLIENT_UNREACHABLE;
    }
    close(fd);
    puts(reply);
    rc = strncmp(reply, CTL_REPLY_OK, sizeof CTL_REPLY_OK - 1) == 0 ? CTL_CLIENT_OK
                                                                    : CTL_CLIENT_REFUSED;
    return rc;
}
