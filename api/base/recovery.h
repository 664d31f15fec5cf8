/* SPDX-License-Identifier: MIT */
/*
 * api/base/recovery.h — the one recovery worker: a thread that runs the
 * workflows' recovery jobs (finishing the journal records an interruption
 * left: the unlock's PUK rotations, the certificate writes) when woken —
 * start-up, a token inserted, pcscd back, a step that left a record — and
 * retries with back-off while one says the CA service is away.
 *
 * It knows nothing of what the jobs do; the wiring (api/app.c) adds them
 * and wakes it on token events.
 */
#ifndef UKEYD_API_BASE_RECOVERY_H
#define UKEYD_API_BASE_RECOVERY_H

/* What one pass over a journal came to; worse results are larger. */
enum recovery_result {
    RECOVERY_DONE,                       /* nothing (more) pending */
    RECOVERY_TOKEN_ABSENT,               /* a record waits for its token to come back */
    RECOVERY_SERVICE_DOWN,               /* a record waits for the CA service */
    RECOVERY_FAILED,                     /* the journal could not be read or written */
};

typedef enum recovery_result (*recovery_job_fn)(void *arg);

struct recovery_worker;

/* NULL when out of memory. */
struct recovery_worker *recovery_worker_new(void);
/* Before recovery_worker_start only. 0, or -1 when full. */
int recovery_worker_add(struct recovery_worker *w, recovery_job_fn job, void *arg);
/* Starts the thread, which runs every job once at once. 0, or -1. */
int recovery_worker_start(struct recovery_worker *w);
/* Runs the jobs again soon (now, or after the pass in hand). NULL is fine. */
void recovery_worker_wake(struct recovery_worker *w);
/* Stops the thread after the pass in hand, and frees. NULL is fine. */
void recovery_worker_free(struct recovery_worker *w);

#endif
