/* SPDX-License-Identifier: MIT */
/*
 * api/peer/sockdiag.c — one exact NETLINK_SOCK_DIAG lookup per call: an
 * inet_diag_req_v2 naming the whole 4-tuple, answered by the kernel with the
 * one socket it describes (or ENOENT), never a dump of every socket.
 *
 * A netlink socket is opened per lookup: it costs a few microseconds, needs
 * no lock between server threads, and leaves nothing to clean up.
 */
#include "api/peer/sockdiag.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "api/base/timeutil.h"

/* One inet_diag_msg and no attributes are asked for; room to spare. */
#define SOCKDIAG_REPLY_MAX   4096
/* The kernel answers an exact lookup before sendto returns; the timeout
 * only bounds a thread's wait should that ever change. */
#define SOCKDIAG_TIMEOUT_MS  1000
#define SOCKDIAG_SEQ         1
#define IPV6_WORDS           4

struct sockdiag_request {
    struct nlmsghdr nlh;
    struct inet_diag_req_v2 req;
};

/* Fills the address and port of one end; false for a family we do not know. */
static bool fill_end(const struct sockaddr *sa, __be32 addr[IPV6_WORDS], __be16 *port)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

        addr[0] = in->sin_addr.s_addr;
        *port = in->sin_port;
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

        memcpy(addr, &in6->sin6_addr, sizeof in6->sin6_addr);
        *port = in6->sin6_port;
        return true;
    }
    return false;
}

static bool build_request(const struct sockaddr *peer, const struct sockaddr *ours,
                          struct sockdiag_request *r)
{
    memset(r, 0, sizeof *r);
    r->nlh.nlmsg_len = sizeof *r;
    r->nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    r->nlh.nlmsg_flags = NLM_F_REQUEST;   /* not NLM_F_DUMP: the one socket named */
    r->nlh.nlmsg_seq = SOCKDIAG_SEQ;
    r->req.sdiag_family = (uint8_t)peer->sa_family;
    r->req.sdiag_protocol = IPPROTO_TCP;
    r->req.idiag_states = ~0u;
    r->req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
    r->req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
    /* src and dst are the wanted socket's own local and remote ends: for the
     * client's socket, its address (our peer) and then ours. */
    return peer->sa_family == ours->sa_family &&
           fill_end(peer, r->req.id.idiag_src, &r->req.id.idiag_sport) &&
           fill_end(ours, r->req.id.idiag_dst, &r->req.id.idiag_dport);
}

static int open_netlink(void)
{
    struct timeval timeout = { .tv_sec = SOCKDIAG_TIMEOUT_MS / MS_PER_SEC,
                               .tv_usec = (SOCKDIAG_TIMEOUT_MS % MS_PER_SEC) * US_PER_MS };
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);

    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) < 0) {
        int saved = errno;

        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/*
 * A socket whose process has closed it (an orphan, or a time-wait
 * mini-socket) reports inode 0 and, for the latter, UID 0: that is nobody's
 * connection any more, and certainly not root's.
 */
static int owner_of(const struct inet_diag_msg *m, uid_t *uid)
{
    if (m->idiag_inode == 0 || m->idiag_state == TCP_TIME_WAIT) {
        errno = ENOENT;
        return -1;
    }
    *uid = (uid_t)m->idiag_uid;
    return 0;
}

static int read_reply(int fd, uid_t *uid)
{
    union {
        char bytes[SOCKDIAG_REPLY_MAX];
        struct nlmsghdr align;
    } buf;
    ssize_t n = recv(fd, buf.bytes, sizeof buf.bytes, 0);
    int len = (int)n;

    if (n < 0)
        return -1;
    for (struct nlmsghdr *h = &buf.align; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
        if (h->nlmsg_seq != SOCKDIAG_SEQ)
            continue;
        if (h->nlmsg_type == NLMSG_ERROR) {
            const struct nlmsgerr *e = NLMSG_DATA(h);

            errno = e->error ? -e->error : ENOENT;
            return -1;
        }
        if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY &&
            h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
            return owner_of(NLMSG_DATA(h), uid);
    }
    errno = EPROTO;
    return -1;
}

int sockdiag_tcp_owner(const struct sockaddr *peer, const struct sockaddr *ours, uid_t *uid)
{
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    struct sockdiag_request r;
    int fd, rc, saved;

    if (!build_request(peer, ours, &r)) {
        errno = EAFNOSUPPORT;
        return -1;
    }
    fd = open_netlink();
    if (fd < 0)
        return -1;
    rc = sendto(fd, &r, sizeof r, 0, (const struct sockaddr *)&kernel, sizeof kernel) < 0
             ? -1
             : read_reply(fd, uid);
    saved = errno;
    close(fd);
    errno = saved;
    return rc;
}
