/* SPDX-License-Identifier: MIT */
/*
 * daemon/listen.h — listening addresses: parsing "ADDR:PORT", the loopback
 * rule (ukeyd never listens beyond this machine), and opening the sockets.
 */
#ifndef UKEYD_DAEMON_LISTEN_H
#define UKEYD_DAEMON_LISTEN_H

#include <stdbool.h>
#include <sys/socket.h>

#define LISTEN_TEXT_MAX 64

struct listen_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    char text[LISTEN_TEXT_MAX];        /* as given, for messages */
};

/* "127.0.0.1:17990" or "[::1]:17990": numeric addresses only. Returns 0, or
 * -1 with *why (static English) saying what is wrong. */
int listen_parse(const char *spec, struct listen_addr *out, const char **why);

bool listen_is_loopback(const struct sockaddr *sa);

/* A bound, listening TCP socket, or -1 with errno set. */
int listen_open(const struct listen_addr *a);

/* Whether an inherited descriptor (socket activation) is a listening TCP
 * socket on a loopback address; *why says what it is not. */
bool listen_fd_acceptable(int fd, const char **why);

#endif
