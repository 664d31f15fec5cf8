/* SPDX-License-Identifier: MIT */
/*
 * api/unlock/unlock.h — the remote unlock service inside ukeyd: the sessions,
 * the PUK rotation and its journal, on the CA client the wiring hands it.
 * Its recovery (unlock_recover_all) is one job of the recovery worker
 * (api/base/recovery.h), which finishes interrupted rotations at start-up,
 * when a token comes back and, with back-off, while the CA service is
 * unreachable.
 *
 * The wiring (api/app.c) owns one; the handlers of api/v1/unlock_api.c use
 * it. Without a CA client, or when the state directory cannot be used, the
 * service still exists and says it is off (logged once).
 */
#ifndef UKEYD_API_UNLOCK_H
#define UKEYD_API_UNLOCK_H

#include <stdbool.h>

#include "api/base/recovery.h"
#include "api/ca/ca_client.h"
#include "api/unlock/unlock_rotation.h"
#include "api/unlock/unlock_session.h"
#include "token/token.h"

#define UNLOCK_DEFAULT_STATE_DIRECTORY  "/var/lib/ukeyd"
#define UNLOCK_DEFAULT_CONNECT_TIMEOUT_S 5
#define UNLOCK_DEFAULT_TIMEOUT_S         15
#define UNLOCK_DEFAULT_SESSION_IDLE_S    3600

struct unlock_config {
    const char *ca_service_url;          /* NULL: the unlock is off */
    const char *ca_bundle;               /* NULL: the system's trust store */
    const char *ca_roots;                /* issued certificates' roots; NULL: no writes */
    unsigned connect_timeout_s;
    unsigned timeout_s;                  /* one whole exchange with the service */
    unsigned session_idle_s;             /* a session unused this long expires */
    const char *state_directory;         /* the journal lives in its unlock/ */
};

struct unlock_service;

/* What the wiring shares with the service; all of it outlives the service. */
struct unlock_deps {
    const struct ca_client *ca;          /* NULL: the unlock is off (the wiring said why) */
    struct recovery_worker *recovery;    /* woken when a record is left for it */
    const char *crash_after;             /* the test hook's step (UNLOCK_CRASH_ENV), or NULL */
};

/* Strings are copied. 0, or -1 when out of memory. */
int unlock_service_new(struct token_service *svc, const struct unlock_config *cfg,
                       const struct unlock_deps *deps, struct unlock_service **out);
/* After the recovery worker has stopped. */
void unlock_service_free(struct unlock_service *u);

/* The recovery job (recovery_job_fn): finishes every token's journal records. */
enum recovery_result unlock_recover_all(void *u);

/* For the handlers. */
bool unlock_enabled(const struct unlock_service *u);
const struct ca_client *unlock_ca(const struct unlock_service *u);
struct session_table *unlock_sessions(struct unlock_service *u);

/* A journal record was left for the service (it was away): have the worker
 * retry now, then with back-off, instead of at the next token event. */
void unlock_retry_soon(struct unlock_service *u);
/* Before a new attempt on a token: finish what its journal records left (best effort). */
void unlock_recover_token(struct unlock_service *u, const char *token_id);
/* rotation_complete under the rotation lock; wakes the recovery when it left a record. */
int unlock_complete(struct unlock_service *u, const char *token_id, const char *request_id,
                    const char *new_pin, int *pin_tries, struct unlock_error *e);

#endif
