/* SPDX-License-Identifier: MIT */
/*
 * tests/vtoken/control.h — the token's control socket (a Unix stream socket
 * taking one-line commands such as "remove" and answering one line "ok ..."
 * or "error ...") and the matching client used by `vtoken ctl`.
 */
#ifndef UKEYD_VTOKEN_CONTROL_H
#define UKEYD_VTOKEN_CONTROL_H

#include <poll.h>
#include <stddef.h>

#define CTL_MAX_CLIENTS 8
#define CTL_LINE_MAX    128
/* Poll slots: the listening socket, then one per client. */
#define CTL_POLL_SLOTS  (1 + CTL_MAX_CLIENTS)

/* Runs one command line, writing the one-line reply (no newline) to reply. */
typedef void (*ctl_exec_fn)(void *ctx, const char *command, char *reply, size_t reply_size);

struct ctl_client {
    int fd;
    size_t len;
    char line[CTL_LINE_MAX];
};

struct ctl_server {
    int listen_fd;
    char *path;
    struct ctl_client clients[CTL_MAX_CLIENTS];
};

/* A server with nothing open: its poll slots are all unused. */
void vt_ctl_server_init(struct ctl_server *srv);
/* Binds path (replacing a stale socket); -1 with a message on failure. */
int vt_ctl_server_open(struct ctl_server *srv, const char *path);
/* Closes everything and unlinks the socket; safe on a zeroed server. */
void vt_ctl_server_close(struct ctl_server *srv);
/* Fills CTL_POLL_SLOTS entries (fd -1 where unused). */
void vt_ctl_server_poll_fds(const struct ctl_server *srv, struct pollfd *fds);
/* Accepts and serves whatever poll reported in those entries. */
void vt_ctl_server_handle(struct ctl_server *srv, const struct pollfd *fds, ctl_exec_fn exec,
                       void *ctx);

enum ctl_client_status {
    CTL_CLIENT_OK = 0,          /* the reply starts with "ok" */
    CTL_CLIENT_REFUSED = 1,     /* the token said "error ..." */
    CTL_CLIENT_UNREACHABLE = 2, /* no socket, or no reply */
};

/* Sends command to the socket at path and prints the reply. */
int vt_ctl_client_run(const char *path, const char *command);

#endif
