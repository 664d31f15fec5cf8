/* SPDX-License-Identifier: MIT */
/*
 * api/v1/diag.h — what support sees in GET /v1/diagnostics (support socket
 * only): the last log events (with request codes and timings), the last APDU
 * exchange summaries (header, lengths, status word, duration; never data),
 * the effective configuration, and readers and tokens in full.
 *
 * The rings are bounded and hold only what the log and the APDU recorder
 * give them, neither of which ever carries a PIN, PUK or code.
 */
#ifndef UKEYD_API_DIAG_H
#define UKEYD_API_DIAG_H

#include <jansson.h>

#include "api/base/log.h"
#include "token/token.h"

#define DIAG_EVENTS_MAX  200
#define DIAG_APDUS_MAX   64

/* Starts recording for the rest of the process: installs the log recorder
 * (every line at info or more urgent, whatever the log level) and the APDU
 * recorder. */
void diag_start(void);

/* The recorders themselves (tests call them directly). */
void diag_record_log(int priority, const struct log_fields *f, const char *message);
void diag_record_apdu(const struct apdu_summary *s);

/* Oldest first; NULL when out of memory. */
json_t *diag_events(void);
json_t *diag_apdus(void);

#endif
