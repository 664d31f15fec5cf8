/* SPDX-License-Identifier: MIT */
/*
 * daemon/support.h — the support socket on the file system: an AF_UNIX
 * socket (default /run/ukeyd/support.sock), mode 0660 with the support group
 * when that group exists, else 0600 (root only), removed on the way out.
 */
#ifndef UKEYD_DAEMON_SUPPORT_H
#define UKEYD_DAEMON_SUPPORT_H

#include <stdbool.h>
#include <sys/types.h>
#include <sys/un.h>

struct support_socket {
    int fd;                                    /* -1 when there is none */
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    bool group_exists;
    gid_t gid;
};

/*
 * Binds and listens on `path` ("" means no support socket). The support
 * socket is a help, not the service: when its directory is missing (systemd's
 * RuntimeDirectory= makes it) or another ukeyd serves it, that is logged and
 * s->fd stays -1. Returns 0, or -1 (logged) on an error worth stopping for.
 */
int support_socket_open(const char *path, const char *group, struct support_socket *s);

/* Closes the socket and removes its file; a no-op without one. */
void support_socket_close(struct support_socket *s);

#endif
