/* SPDX-License-Identifier: MIT */
/*
 * tests/vtoken/vpcd.c — framing and socket options of the vpcd link.
 *
 * The packaged vpcd writes length and payload in two writes with Nagle on.
 * With delayed ACKs on our side each APDU would wait about 40 ms for the
 * ACK timer; TCP_QUICKACK (re-armed after every receive, because the kernel
 * clears it) and TCP_NODELAY bring an APDU down to well under a millisecond.
 */
#include "tests/vtoken/vpcd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define VPCD_LEN_BYTES   2
#define BYTE_BITS        8
#define BYTE_MASK        0xFF
/* vpcd sends a message's two parts back to back; if the payload has not come
 * within this long, the peer is broken and we treat it as a removal. */
#define VPCD_PAYLOAD_TIMEOUT_S 5
/*
 * vpcd listens with a backlog of 0. When a card reconnects quickly, the
 * kernel may drop the last ACK of the handshake: we see the connection as
 * established while vpcd never accepts it, and since vpcd speaks first,
 * nothing would ever tell us. A keepalive probe after a second of silence
 * either completes the handshake or draws a reset, and we reconnect.
 */
#define VPCD_KEEPALIVE_IDLE_S     1
#define VPCD_KEEPALIVE_INTERVAL_S 1
#define VPCD_KEEPALIVE_PROBES     3

static void set_quickack(int fd)
{
    int on = 1;

    setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &on, sizeof on);
}

static int set_keepalive(int fd)
{
    int on = 1, idle = VPCD_KEEPALIVE_IDLE_S, intvl = VPCD_KEEPALIVE_INTERVAL_S,
        cnt = VPCD_KEEPALIVE_PROBES;

    if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt) < 0)
        return -1;
    return 0;
}

static int set_link_options(int fd)
{
    struct timeval tv = { .tv_sec = VPCD_PAYLOAD_TIMEOUT_S };
    int on = 1;

    if (set_keepalive(fd) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0)
        return -1;
    set_quickack(fd);
    return 0;
}

int vt_vpcd_connect(uint16_t port)
{
    struct sockaddr_in addr = {
        .sin_family = AF_INET,
        .sin_port = htons(port),
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int saved;

    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0 && set_link_options(fd) == 0)
        return fd;
    saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

static int recv_exact(int fd, uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = recv(fd, buf, len, MSG_WAITALL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        set_quickack(fd);
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int vt_vpcd_recv(int fd, struct vt_buf *msg)
{
    uint8_t len_bytes[VPCD_LEN_BYTES];
    size_t len;

    vt_buf_clear(msg);
    if (recv_exact(fd, len_bytes, sizeof len_bytes) < 0)
        return -1;
    len = (size_t)len_bytes[0] << BYTE_BITS | len_bytes[1];
    if (len == 0)
        return -1;
    if (vt_buf_resize(msg, len) < 0)
        return -1;
    return recv_exact(fd, msg->data, len);
}

int vt_vpcd_send(int fd, const uint8_t *payload, size_t len)
{
    VT_AUTO_BUF frame = {0};
    const uint8_t *p;
    size_t left;

    if (len > VPCD_MSG_MAX)
        return -1;
    if (vt_buf_append_byte(&frame, (uint8_t)(len >> BYTE_BITS)) < 0 ||
        vt_buf_append_byte(&frame, (uint8_t)(len & BYTE_MASK)) < 0 ||
        vt_buf_append(&frame, payload, len) < 0)
        return -1;
    for (p = frame.data, left = frame.len; left > 0;) {
        ssize_t n = send(fd, p, left, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        left -= (size_t)n;
    }
    return 0;
}
