/* SPDX-License-Identifier: MIT */
/*
 * api/v1/diag.c — the rings of recent log events and APDU summaries, and
 * GET /v1/diagnostics, which the route table marks support-only so the
 * browser-facing port never even finds it.
 *
 * The rings are fixed arrays overwritten in turn: memory stays bounded
 * however long the daemon runs, and recording never allocates, so a log line
 * about running out of memory can still be kept.
 */
#include "api/v1/diag.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/v1/handlers.h"
#include "api/http/peer.h"
#include "api/render/render.h"
#include "api/base/json.h"
#include "api/base/timeutil.h"

#define DIAG_MESSAGE_MAX  512
#define DIAG_FIELD_MAX    96
#define DIAG_TIME_MAX     32
#define HEX_BYTE_MAX      3
#define HEX_WORD_MAX      5

struct diag_event {
    struct timespec when;           /* CLOCK_REALTIME */
    int priority;
    char message[DIAG_MESSAGE_MAX];
    char request_id[DIAG_FIELD_MAX];
    char token_id[DIAG_FIELD_MAX];
    char origin[DIAG_FIELD_MAX];
};

struct diag_apdu {
    struct timespec when;
    struct apdu_summary s;
};

/* A ring: `next` is where the next entry goes, `count` how many are kept. */
static struct {
    pthread_mutex_t lock;
    struct diag_event events[DIAG_EVENTS_MAX];
    size_t next_event, n_events;
    struct diag_apdu apdus[DIAG_APDUS_MAX];
    size_t next_apdu, n_apdus;
} rings = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* --- recording --------------------------------------------------------- */

static void copy_field(char *to, size_t size, const char *from)
{
    snprintf(to, size, "%s", from ? from : "");
}

void diag_record_log(int priority, const struct log_fields *f, const char *message)
{
    struct diag_event *e;

    pthread_mutex_lock(&rings.lock);
    e = &rings.events[rings.next_event];
    clock_gettime(CLOCK_REALTIME, &e->when);
    e->priority = priority;
    copy_field(e->message, sizeof e->message, message);
    copy_field(e->request_id, sizeof e->request_id, f ? f->request_id : NULL);
    copy_field(e->token_id, sizeof e->token_id, f ? f->token_id : NULL);
    copy_field(e->origin, sizeof e->origin, f ? f->origin : NULL);
    rings.next_event = (rings.next_event + 1) % DIAG_EVENTS_MAX;
    if (rings.n_events < DIAG_EVENTS_MAX)
        rings.n_events++;
    pthread_mutex_unlock(&rings.lock);
}

void diag_record_apdu(const struct apdu_summary *s)
{
    struct diag_apdu *a;

    pthread_mutex_lock(&rings.lock);
    a = &rings.apdus[rings.next_apdu];
    clock_gettime(CLOCK_REALTIME, &a->when);
    a->s = *s;
    rings.next_apdu = (rings.next_apdu + 1) % DIAG_APDUS_MAX;
    if (rings.n_apdus < DIAG_APDUS_MAX)
        rings.n_apdus++;
    pthread_mutex_unlock(&rings.lock);
}

void diag_start(void)
{
    log_set_recorder(diag_record_log, LOG_INFO);
    apdu_set_recorder(diag_record_apdu);
}

/* --- reading ----------------------------------------------------------- */

typedef json_t *(*entry_to_json)(const void *entry);

/* "2026-11-21T05:54:07.123Z" */
static json_t *time_string(const struct timespec *t)
{
    char text[DIAG_TIME_MAX];
    struct tm tm;
    size_t n;

    gmtime_r(&t->tv_sec, &tm);
    n = strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(text + n, sizeof text - n, ".%03dZ", (int)(t->tv_nsec / NS_PER_MS));
    return json_string(text);
}

static json_t *event_json(const void *entry)
{
    const struct diag_event *e = entry;

    return json_pack("{s:o, s:s, s:s, s:o, s:o, s:o}", "time", time_string(&e->when), "level",
                     log_level_name(e->priority), "message", e->message, "requestId",
                     json_text_or_null(e->request_id), "tokenId", json_text_or_null(e->token_id),
                     "origin", json_text_or_null(e->origin));
}

static json_t *hex_byte(uint8_t b)
{
    char text[HEX_BYTE_MAX];

    snprintf(text, sizeof text, "%02X", b);
    return json_string(text);
}

static json_t *ins_name(uint8_t ins)
{
    const char *name = apdu_ins_name(ins);

    return name ? json_string(name) : json_null();
}

static json_t *apdu_json(const void *entry)
{
    const struct diag_apdu *a = entry;
    char sw[HEX_WORD_MAX];
    const struct apdu_summary *s = &a->s;

    snprintf(sw, sizeof sw, "%04X", s->sw);
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:o, s:I, s:I, s:o}", "time",
                     time_string(&a->when), "cla", hex_byte(s->cla), "ins", hex_byte(s->ins),
                     "command", ins_name(s->ins), "p1", hex_byte(s->p1), "p2", hex_byte(s->p2),
                     "lc", (json_int_t)s->lc, "le", (json_int_t)s->le, "sw",
                     s->err ? json_null() : json_string(sw), "responseLength",
                     (json_int_t)s->rsp_len, "durationUs", (json_int_t)s->duration_us, "error",
                     s->err ? json_string(token_err_name(s->err)) : json_null());
}

/* Appends a ring's entries oldest first; -1 when out of memory. */
static int ring_to_json(json_t *array, const void *ring, size_t entry_size, size_t next,
                        size_t count, size_t max, entry_to_json to_json)
{
    for (size_t i = 0; i < count; i++) {
        const char *entry = (const char *)ring + ((next + max - count + i) % max) * entry_size;

        if (json_array_append_new(array, to_json(entry)))
            return -1;
    }
    return 0;
}

json_t *diag_events(void)
{
    json_t *a = json_array();
    int rc;

    if (!a)
        return NULL;
    pthread_mutex_lock(&rings.lock);
    rc = ring_to_json(a, rings.events, sizeof rings.events[0], rings.next_event, rings.n_events,
                      DIAG_EVENTS_MAX, event_json);
    pthread_mutex_unlock(&rings.lock);
    if (rc < 0) {
        json_decref(a);
        return NULL;
    }
    return a;
}

json_t *diag_apdus(void)
{
    json_t *a = json_array();
    int rc;

    if (!a)
        return NULL;
    pthread_mutex_lock(&rings.lock);
    rc = ring_to_json(a, rings.apdus, sizeof rings.apdus[0], rings.next_apdu, rings.n_apdus,
                      DIAG_APDUS_MAX, apdu_json);
    pthread_mutex_unlock(&rings.lock);
    if (rc < 0) {
        json_decref(a);
        return NULL;
    }
    return a;
}

/* --- GET /v1/diagnostics ----------------------------------------------- */

/* The member named `key` of what a render_* call made ({"readers": [...]}),
 * or null with "<key>Error" naming the token layer's error. */
static int add_listing(json_t *body, const char *key, token_err err, json_t *rendered)
{
    char error_key[DIAG_FIELD_MAX];
    json_t *list = rendered ? json_incref(json_object_get(rendered, key)) : NULL;

    json_decref(rendered);
    if (err != TOKEN_OK) {
        snprintf(error_key, sizeof error_key, "%sError", key);
        return json_object_set_new(body, key, json_null()) ||
               json_object_set_new(body, error_key, json_string(token_err_name(err)));
    }
    return list ? json_object_set_new(body, key, list) : -1;
}

static int add_readers(json_t *body, struct token_service *svc)
{
    struct token_reader *readers = NULL;
    size_t n = 0;
    token_err err = token_service_readers(svc, &readers, &n);
    json_t *rendered = err == TOKEN_OK ? render_readers(readers, n) : NULL;

    token_readers_free(readers, n);
    return add_listing(body, "readers", err, rendered);
}

static int add_tokens(json_t *body, struct token_service *svc)
{
    struct token_snapshot **list = NULL;
    size_t n = 0;
    token_err err = token_service_tokens(svc, &list, &n);
    json_t *rendered = err == TOKEN_OK ? render_tokens(list, n) : NULL;

    token_snapshots_free(list, n);
    return add_listing(body, "tokens", err, rendered);
}

static json_t *pcsc_status(struct token_service *svc)
{
    struct token_status st = { 0 };
    token_err err = token_service_status(svc, &st);

    return json_pack("{s:b, s:I, s:I}", "available", err == TOKEN_OK && st.pcsc_available,
                     "readerCount", (json_int_t)st.n_readers, "tokenCount",
                     (json_int_t)st.n_tokens);
}

/* What a reload may change. */
static int add_settings(json_t *body, struct api_context *ctx)
{
    json_t *config;

    pthread_rwlock_rdlock(&ctx->settings_lock);
    config = ctx->config_view ? json_deep_copy(ctx->config_view) : json_object();
    pthread_rwlock_unlock(&ctx->settings_lock);
    return json_object_set_new(body, "config", config) ||
           json_object_set_new(body, "peerPolicy", peer_policy_json(ctx));
}

static json_t *support_group(const struct api_context *ctx)
{
    return ctx->support_group_exists ? json_integer(ctx->support_gid) : json_null();
}

static json_t *diagnostics_head(const struct request *r)
{
    struct timespec now, mono;

    clock_gettime(CLOCK_REALTIME, &now);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    return json_pack("{s:s, s:o, s:I, s:{s:I}, s:o, s:o}", "version", UKEYD_VERSION, "time",
                     time_string(&now), "uptimeSeconds",
                     (json_int_t)(mono.tv_sec - r->ctx->started.tv_sec), "requestedBy", "uid",
                     (json_int_t)peer_of_request(r)->uid, "supportGid", support_group(r->ctx),
                     "pcsc", pcsc_status(request_tokens(r)));
}

void handle_diagnostics(struct request *r)
{
    json_t *body = diagnostics_head(r);

    if (!body || add_settings(body, r->ctx) || add_readers(body, request_tokens(r)) ||
        add_tokens(body, request_tokens(r)) ||
        json_object_set_new(body, "events", diag_events()) ||
        json_object_set_new(body, "apdus", diag_apdus())) {
        json_decref(body);
        respond_code(r, API_INTERNAL);
        return;
    }
    respond_json(r, MHD_HTTP_OK, body);
}
