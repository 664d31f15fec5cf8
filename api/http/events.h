/* SPDX-License-Identifier: MIT */
/*
 * api/http/events.h — the hub behind GET /v1/events (Server-Sent Events): it
 * turns the token layer's events into numbered SSE messages, keeps the last
 * ones to replay after Last-Event-ID, sends heartbeats, and caps how many
 * streams are open at once.
 */
#ifndef UKEYD_API_EVENTS_H
#define UKEYD_API_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "token/token.h"

struct events_hub;
struct request;

/* GET /v1/events: answers with a stream of the hub of the request's server
 * (Last-Event-ID honoured), or TOO_MANY_STREAMS. */
void events_stream(struct request *r);

/* NULL when out of memory or when the heartbeat thread cannot start. */
struct events_hub *events_hub_new(struct token_service *svc, unsigned max_streams,
                                  unsigned heartbeat_s);
/* Ends every stream: each sends what it has and closes. For shutdown,
 * before the HTTP server stops. */
void events_hub_close_streams(struct events_hub *hub);
/* Unsubscribes and frees; every stream must be gone (the server stopped). */
void events_hub_free(struct events_hub *hub);

/* For tests and STATUS=: streams open now. */
size_t events_hub_streams(struct events_hub *hub);

/* The event number in a Last-Event-ID ("<run tag>-<number>", the tag as
 * 8 hex digits) issued by the run tagged `run_tag`; false for another run's
 * id or anything malformed. */
bool events_id_number(const char *id, unsigned run_tag, uint64_t *number);

#endif
