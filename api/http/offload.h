/* SPDX-License-Identifier: MIT */
/*
 * api/http/offload.h — handlers that wait (for a card, for pcscd, for the CA
 * service) run on a pool of their own instead of on libmicrohttpd's threads.
 *
 * Each libmicrohttpd thread serves many connections; a handler that waits a
 * second for a card, or for PIN pacing, would stall every one of them, event
 * streams included. So the connection is suspended, the handler runs on the
 * pool, its answer is kept (respond_with sees r->offloaded), and the
 * connection is resumed; libmicrohttpd then calls the access handler again,
 * which queues the answer (offload_answer).
 */
#ifndef UKEYD_API_OFFLOAD_H
#define UKEYD_API_OFFLOAD_H

#include <microhttpd.h>
#include <stdbool.h>

struct request;
struct offload;

/* NULL when out of memory or no thread starts. */
struct offload *offload_new(unsigned threads);

/* Suspends r's connection and queues its handler; false (nothing done) when
 * out of memory: the caller then runs the handler itself. */
bool offload_submit(struct offload *o, struct request *r);

/* On the access handler's call after the resume: queues the kept answer. */
enum MHD_Result offload_answer(struct request *r);

/* Runs what is queued, waits for the threads, frees. Before the HTTP
 * daemons stop: a job resumes its connection when it ends. */
void offload_free(struct offload *o);

#endif
