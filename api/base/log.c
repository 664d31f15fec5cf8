/* SPDX-License-Identifier: MIT */
/*
 * api/base/log.c — log threshold, dispatch to the sink, and the plain stderr sink.
 *
 * Everything a log line carries passes through `sanitize` first: header values
 * come from the network, and a newline in one must not forge a second line.
 */
#include "api/base/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define LOG_LINE_MAX   1024
#define LOG_FIELD_MAX  200
#define ASCII_DEL      0x7f

static log_sink_fn current_sink = log_sink_stderr;
static atomic_int current_level = LOG_INFO;
/* Atomic: a recorder may start while the token monitor thread logs. */
static _Atomic(log_sink_fn) current_recorder;
static atomic_int recorder_level = -1;

static const struct {
    const char *name;
    int priority;
} level_names[] = {
    { "error", LOG_ERR },
    { "warning", LOG_WARNING },
    { "warn", LOG_WARNING },
    { "notice", LOG_NOTICE },
    { "info", LOG_INFO },
    { "debug", LOG_DEBUG },
};

void log_set_sink(log_sink_fn sink)
{
    current_sink = sink ? sink : log_sink_stderr;
}

void log_set_recorder(log_sink_fn recorder, int priority)
{
    atomic_store(&recorder_level, -1);
    atomic_store(&current_recorder, recorder);
    atomic_store(&recorder_level, recorder ? priority : -1);
}

void log_set_level(int priority)
{
    atomic_store(&current_level, priority);
}

bool log_enabled(int priority)
{
    return priority <= atomic_load(&current_level);
}

int log_level_parse(const char *name)
{
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++)
        if (strcasecmp(name, level_names[i].name) == 0)
            return level_names[i].priority;
    return -1;
}

const char *log_level_name(int priority)
{
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++)
        if (level_names[i].priority == priority)
            return level_names[i].name;
    return priority < LOG_ERR ? "error" : "debug";
}

/* Control characters become '?': one log call stays one line. */
static void sanitize(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < ' ' || (unsigned char)*s == ASCII_DEL)
            *s = '?';
}

static const char *sanitized_copy(const char *in, char *buf, size_t size)
{
    if (!in)
        return NULL;
    snprintf(buf, size, "%s", in);
    sanitize(buf);
    return buf;
}

void log_msg(int priority, const struct log_fields *fields, const char *fmt, ...)
{
    char line[LOG_LINE_MAX];
    char token[LOG_FIELD_MAX], origin[LOG_FIELD_MAX], request[LOG_FIELD_MAX];
    struct log_fields clean = { 0 };
    va_list ap;
    log_sink_fn recorder = atomic_load(&current_recorder);
    bool to_sink = log_enabled(priority);
    bool to_recorder = recorder && priority <= atomic_load(&recorder_level);

    if (!to_sink && !to_recorder)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    sanitize(line);
    if (fields) {
        clean.token_id = sanitized_copy(fields->token_id, token, sizeof token);
        clean.origin = sanitized_copy(fields->origin, origin, sizeof origin);
        clean.request_id = sanitized_copy(fields->request_id, request, sizeof request);
    }
    if (to_sink)
        current_sink(priority, &clean, line);
    if (to_recorder)
        recorder(priority, &clean, line);
}

void log_sink_stderr(int priority, const struct log_fields *f, const char *message)
{
    /* One fprintf per line so that lines from different threads do not mix. */
    fprintf(stderr, "ukeyd %s: %s%s%s%s%s%s%s\n", log_level_name(priority), message,
            f->request_id ? " request=" : "", f->request_id ? f->request_id : "",
            f->token_id ? " token=" : "", f->token_id ? f->token_id : "",
            f->origin ? " origin=" : "", f->origin ? f->origin : "");
}
