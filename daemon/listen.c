/* SPDX-License-Identifier: MIT */
/*
 * daemon/listen.c — loopback-only listening sockets.
 *
 * Addresses are parsed by getaddrinfo with AI_NUMERICHOST: a name could
 * resolve to anything, a literal is what the administrator sees.
 */
#include "daemon/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* As systemd's ukeyd.socket (Backlog= defaults to SOMAXCONN): a burst of
 * connections larger than a short queue leaves clients retransmitting for
 * seconds; the kernel caps this at net.core.somaxconn. */
#define LISTEN_BACKLOG   SOMAXCONN
#define IPV4_LOOPBACK_NET 127        /* 127.0.0.0/8 */
#define IPV4_NET_SHIFT    24
#define PORT_DIGITS_MAX   5
#define PORT_MAX          65535

/* Splits "host:port" / "[v6]:port" into its parts; false when malformed. */
static bool split_host_port(const char *spec, char *host, size_t host_size, const char **port)
{
    const char *colon;
    size_t len;

    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');

        if (!close || close[1] != ':')
            return false;
        len = (size_t)(close - spec - 1);
        spec++;
        colon = close + 1;
    } else {
        colon = strrchr(spec, ':');
        if (!colon || memchr(spec, ':', (size_t)(colon - spec)))
            return false;
        len = (size_t)(colon - spec);
    }
    if (len == 0 || len >= host_size)
        return false;
    memcpy(host, spec, len);
    host[len] = '\0';
    *port = colon + 1;
    return **port != '\0';
}

bool listen_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

        return (ntohl(in->sin_addr.s_addr) >> IPV4_NET_SHIFT) == IPV4_LOOPBACK_NET;
    }
    if (sa->sa_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return false;
}

int listen_parse(const char *spec, struct listen_addr *out, const char **why)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE };
    struct addrinfo *res = NULL;
    char host[INET6_ADDRSTRLEN];
    const char *port;

    memset(out, 0, sizeof *out);
    if (strlen(spec) >= sizeof out->text || !split_host_port(spec, host, sizeof host, &port) ||
        strspn(port, "0123456789") != strlen(port) || strlen(port) > PORT_DIGITS_MAX ||
        atoi(port) < 1 || atoi(port) > PORT_MAX) {
        *why = "is not ADDRESS:PORT (e.g. 127.0.0.1:17990 or [::1]:17990)";
        return -1;
    }
    if (getaddrinfo(host, port, &hints, &res) != 0 || !res) {
        *why = "does not name a numeric IP address and port (host names are not accepted)";
        return -1;
    }
    memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
    out->len = res->ai_addrlen;
    freeaddrinfo(res);
    snprintf(out->text, sizeof out->text, "%s", spec);
    if (!listen_is_loopback((const struct sockaddr *)&out->ss)) {
        *why = "is not a loopback address: ukeyd listens on 127.0.0.0/8 or [::1] only";
        return -1;
    }
    return 0;
}

int listen_open(const struct listen_addr *a)
{
    int one = 1;
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int saved;

    if (fd < 0)
        return -1;
    /* [::1] must not also take IPv4 connections on a dual-stack socket. */
    if ((a->ss.ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
        saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

bool listen_fd_acceptable(int fd, const char **why)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int type = 0, listening = 0;
    socklen_t opt_len = sizeof type;

    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
        (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)) {
        *why = "is not an IP socket";
        return false;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &opt_len) < 0 || type != SOCK_STREAM) {
        *why = "is not a TCP socket";
        return false;
    }
    opt_len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &opt_len) < 0 || !listening) {
        *why = "is not listening";
        return false;
    }
    if (!listen_is_loopback((const struct sockaddr *)&ss)) {
        *why = "is bound to a non-loopback address: ukeyd listens on 127.0.0.0/8 or [::1] only";
        return false;
    }
    return true;
}
