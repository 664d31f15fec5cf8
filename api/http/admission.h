/* SPDX-License-Identifier: MIT */
/*
 * api/http/admission.h — how much of the server one local account may hold, and
 * for how long a connection may hold a slot without saying anything.
 *
 * Every connection costs a slot whether or not it ever sends a request, so
 * a local process could take them all with idle or half-sent connections.
 * Two rules keep the person at the desk served:
 *
 *   - each account (UID) holds at most `per_uid_max` TCP connections, well
 *     below the server's own limit, and an account the peer policy refuses
 *     `refused_uid_max` (enough to be told why); the reservation is taken
 *     when the connection is accepted, so one over the cap never holds a
 *     slot;
 *   - a request must be read in full (headers and body) within
 *     `header_deadline_ms` of the connection's accept, and the next one on a
 *     kept-alive connection within `idle_ms` of the previous answer. Unlike
 *     libmicrohttpd's idle timeout, a byte every few seconds does not reset
 *     these. A sweeper thread shuts such a connection down; libmicrohttpd
 *     then sees it closed and frees it as it does any other.
 *
 * Threads: reservations are taken in libmicrohttpd's accept policy callback
 * and handed to the connection-started notification that follows on the
 * same thread (libmicrohttpd calls both from one accept); everything else is
 * under one mutex.
 */
#ifndef UKEYD_API_ADMISSION_H
#define UKEYD_API_ADMISSION_H

#include <stdbool.h>
#include <sys/types.h>

struct admission;
struct admission_ticket;

struct admission_limits {
    unsigned per_uid_max;          /* TCP connections one allowed UID holds at once */
    unsigned refused_uid_max;      /* ...and one the peer policy refuses: to be told why */
    unsigned header_deadline_ms;   /* accept → request read in full */
    unsigned idle_ms;              /* previous answer → next request read in full */
};

/* NULL when out of memory or the sweeper does not start. */
struct admission *admission_new(const struct admission_limits *limits);
/* After the HTTP daemons have stopped: every ticket has left. */
void admission_free(struct admission *a);

/* In the accept policy callback: reserves a slot for `uid`, which the peer
 * policy allows or not; false when it holds its maximum already (or out of
 * memory). The reservation goes to the next admission_enter on this thread. */
bool admission_reserve(struct admission *a, uid_t uid, bool allowed);

/* When libmicrohttpd has started the connection on socket `fd`: the ticket
 * it holds until admission_leave, with the deadline of its first request
 * running. NULL when out of memory (the reservation is released). */
struct admission_ticket *admission_enter(struct admission *a, int fd);
/* The UID whose reservation the ticket took at accept; false when none. */
bool admission_ticket_uid(const struct admission_ticket *t, uid_t *uid);
/* When libmicrohttpd closes the connection; NULL is ignored. */
void admission_leave(struct admission_ticket *t);

/* The request is read in full (or answered before): no deadline while the
 * answer is prepared and sent, however long a card or a stream takes. */
void admission_request_read(struct admission_ticket *t);
/* The request has ended: the next one on this connection has idle_ms. */
void admission_request_done(struct admission_ticket *t);

#endif
