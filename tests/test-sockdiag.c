/* SPDX-License-Identifier: MIT */
/* Tests api/peer/sockdiag.c against the kernel: the owner of a loopback client
 * socket over IPv4 and IPv6, a client running as another user (when run as
 * root), a client that has already closed (unidentifiable, never "root"), a
 * 4-tuple nobody has, mixed families — and what one lookup costs, printed as
 * a TAP diagnostic for the benchmarks. */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api/peer/sockdiag.h"
#include "tests/tap.h"

#define UID_NOBODY       65534
#define GID_NOGROUP      65534
#define BENCH_LOOKUPS    2000
#define NS_PER_US        1000.0
#define NS_PER_SEC       1000000000.0
#define CLOSE_SETTLE_US  50000
/* Generous: a lookup takes microseconds; this only catches a lookup that
 * waits (e.g. on the receive timeout) instead of answering. */
#define LOOKUP_MEAN_MAX_US 2000.0

struct conn {
    int listener, client, server;
    struct sockaddr_storage peer, ours;
};

static int listen_loopback(int family, struct sockaddr_storage *addr)
{
    socklen_t len = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

    memset(addr, 0, sizeof *addr);
    addr->ss_family = (sa_family_t)family;
    if (family == AF_INET)
        ((struct sockaddr_in *)addr)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else
        ((struct sockaddr_in6 *)addr)->sin6_addr = in6addr_loopback;
    if (fd < 0 || bind(fd, (struct sockaddr *)addr, len) < 0 || listen(fd, 4) < 0 ||
        getsockname(fd, (struct sockaddr *)addr, &len) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int accept_one(struct conn *c)
{
    socklen_t len = sizeof c->peer;

    c->server = accept(c->listener, (struct sockaddr *)&c->peer, &len);
    len = sizeof c->ours;
    if (c->server < 0 || getsockname(c->server, (struct sockaddr *)&c->ours, &len) < 0)
        return -1;
    return 0;
}

/* A connection from this process; false when the family is not available. */
static bool open_conn(int family, struct conn *c)
{
    struct sockaddr_storage addr;
    socklen_t len = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);

    memset(c, 0, sizeof *c);
    c->client = c->server = -1;
    c->listener = listen_loopback(family, &addr);
    if (c->listener < 0)
        return false;
    c->client = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    return c->client >= 0 && connect(c->client, (struct sockaddr *)&addr, len) == 0 &&
           accept_one(c) == 0;
}

static void close_conn(struct conn *c)
{
    if (c->client >= 0)
        close(c->client);
    if (c->server >= 0)
        close(c->server);
    if (c->listener >= 0)
        close(c->listener);
}

static int lookup(const struct conn *c, uid_t *uid)
{
    return sockdiag_tcp_owner((const struct sockaddr *)&c->peer,
                              (const struct sockaddr *)&c->ours, uid);
}

static void test_own(int family, const char *name)
{
    struct conn c;
    uid_t uid = (uid_t)-1;

    if (!open_conn(family, &c)) {
        tap_ok(1, "# SKIP %s loopback not available", name);
        close_conn(&c);
        return;
    }
    TAP_EQ_INT(lookup(&c, &uid), 0, "own connection found");
    TAP_EQ_INT(uid, geteuid(), name);
    close_conn(&c);
}

static void test_absent(void)
{
    struct conn c;
    uid_t uid;

    if (!open_conn(AF_INET, &c)) {
        tap_ok(0, "IPv4 loopback connection");
        return;
    }
    ((struct sockaddr_in *)&c.peer)->sin_port ^= htons(1);
    errno = 0;
    TAP_EQ_INT(lookup(&c, &uid), -1, "a 4-tuple nobody has: not found");
    TAP_EQ_INT(errno, ENOENT, "...with ENOENT");
    c.ours.ss_family = AF_INET6;
    errno = 0;
    tap_ok(lookup(&c, &uid) == -1 && errno == EAFNOSUPPORT, "mixed families: EAFNOSUPPORT");
    close_conn(&c);
}

/* The client has closed before we ask: its socket has no owner any more. */
static void test_client_gone(void)
{
    struct conn c;
    uid_t uid = 12345;

    if (!open_conn(AF_INET, &c)) {
        tap_ok(0, "IPv4 loopback connection");
        return;
    }
    close(c.client);
    c.client = -1;
    usleep(CLOSE_SETTLE_US);
    errno = 0;
    tap_ok(lookup(&c, &uid) == -1 && errno == ENOENT,
           "a client that closed is not identified (errno %d)", errno);
    TAP_EQ_INT(uid, 12345, "...and no UID (not 0) is reported");
    close_conn(&c);
}

/* The child connects as nobody and waits to be killed. */
static pid_t connect_as_nobody(const struct sockaddr_storage *addr, socklen_t len)
{
    pid_t pid = fork();
    int fd;

    if (pid != 0)
        return pid;
    if (setgroups(0, NULL) < 0 || setgid(GID_NOGROUP) < 0 || setuid(UID_NOBODY) < 0)
        _exit(1);
    fd = socket(addr->ss_family, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (const struct sockaddr *)addr, len) < 0)
        _exit(1);
    pause();
    _exit(0);
}

static void test_other_user(void)
{
    struct conn c = { .client = -1, .server = -1 };
    struct sockaddr_storage addr;
    uid_t uid = 0;
    pid_t child;

    if (geteuid() != 0) {
        tap_ok(1, "# SKIP a client as another user needs root");
        return;
    }
    c.listener = listen_loopback(AF_INET, &addr);
    child = connect_as_nobody(&addr, sizeof(struct sockaddr_in));
    if (c.listener < 0 || child < 0 || accept_one(&c) < 0) {
        tap_ok(0, "connection from a child running as nobody");
    } else {
        TAP_EQ_INT(lookup(&c, &uid), 0, "the child's connection found");
        TAP_EQ_INT(uid, UID_NOBODY, "its owner is nobody, not the accepting root");
    }
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    }
    close_conn(&c);
}

static void bench(void)
{
    struct conn c;
    struct timespec t0, t1;
    uid_t uid;
    int failures = 0;
    double mean_us;

    if (!open_conn(AF_INET, &c)) {
        tap_ok(0, "IPv4 loopback connection");
        return;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < BENCH_LOOKUPS; i++)
        failures += lookup(&c, &uid) != 0;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    mean_us = ((double)(t1.tv_sec - t0.tv_sec) * NS_PER_SEC + (double)(t1.tv_nsec - t0.tv_nsec)) /
              BENCH_LOOKUPS / NS_PER_US;
    TAP_EQ_INT(failures, 0, "repeated lookups all succeed");
    tap_diag("bench: peer lookup (NETLINK_SOCK_DIAG) %.1f us mean over %d lookups", mean_us,
             BENCH_LOOKUPS);
    tap_ok(mean_us < LOOKUP_MEAN_MAX_US, "a lookup answers without waiting (%.1f us)", mean_us);
    close_conn(&c);
}

int main(void)
{
    test_own(AF_INET, "IPv4: the owner is this process's user");
    test_own(AF_INET6, "IPv6: the owner is this process's user");
    test_absent();
    test_client_gone();
    test_other_user();
    bench();
    return tap_done();
}
