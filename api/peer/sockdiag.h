/* SPDX-License-Identifier: MIT */
/*
 * api/peer/sockdiag.h — who owns the other end of a loopback TCP connection, asked
 * of the kernel's socket diagnostics (NETLINK_SOCK_DIAG), the source `ss`
 * reads too, without parsing anybody's output.
 */
#ifndef UKEYD_API_SOCKDIAG_H
#define UKEYD_API_SOCKDIAG_H

#include <sys/socket.h>
#include <sys/types.h>

/*
 * The UID that owns the TCP socket whose local address is `peer` and whose
 * remote address is `ours`: on a loopback connection, the client's socket as
 * seen from the server side (`peer` from accept/getpeername, `ours` from
 * getsockname). Both must be of one family, AF_INET or AF_INET6.
 *
 * Returns 0, or -1 with errno set: ENOENT when no such socket exists (the
 * client is gone, or the connection does not start on this machine),
 * EAFNOSUPPORT for other families, or what the netlink socket said.
 */
int sockdiag_tcp_owner(const struct sockaddr *peer, const struct sockaddr *ours, uid_t *uid);

#endif
