/* SPDX-License-Identifier: MIT */
/*
 * api/base/log.h — the one door every log line of ukeyd goes through: a priority
 * threshold, a few structured fields (token, origin, request id) and a sink.
 *
 * The default sink writes plain lines to stderr; daemon/log.c swaps in the
 * journal when stderr is connected to it. Callers never pass secrets: the
 * fields and messages are built from method, path, status and ids only.
 */
#ifndef UKEYD_API_LOG_H
#define UKEYD_API_LOG_H

#include <stdbool.h>
#include <syslog.h>

struct log_fields {
    const char *token_id;     /* NULL when the line is not about one token */
    const char *origin;       /* the request's Origin header, NULL when none */
    const char *request_id;
};

typedef void (*log_sink_fn)(int priority, const struct log_fields *fields, const char *message);

/* Not thread-safe: set once at start-up, before any thread logs. */
void log_set_sink(log_sink_fn sink);
/* A second consumer of every line at `priority` or more urgent, whatever the
 * threshold (support diagnostics keep a ring); may be set at any time. */
void log_set_recorder(log_sink_fn recorder, int priority);
/* Thread-safe: lines with a priority numerically above `priority` are dropped. */
void log_set_level(int priority);
bool log_enabled(int priority);

/* "debug" … "error" (syslog names, plus "warn"); -1 when unknown. */
int log_level_parse(const char *name);
const char *log_level_name(int priority);

__attribute__((format(printf, 3, 4)))
void log_msg(int priority, const struct log_fields *fields, const char *fmt, ...);

/* The default sink, for sinks that fall back to it. */
void log_sink_stderr(int priority, const struct log_fields *fields, const char *message);

#endif
