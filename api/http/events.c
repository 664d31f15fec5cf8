/* SPDX-License-Identifier: MIT */
/*
 * api/http/events.c — Server-Sent Events without a thread per stream.
 *
 * Each stream is a libmicrohttpd response whose content callback writes the
 * events the stream has not seen yet. When there is nothing to write, the
 * callback suspends its connection (no polling, no busy loop) and returns 0;
 * a new event or the heartbeat timer resumes every suspended stream. One
 * mutex guards the ring and the stream list; it is never held while calling
 * into the token layer.
 *
 * Event ids are "<run tag>-<number>": a Last-Event-ID from an earlier run of
 * the daemon, or older than the ring remembers, earns a "resync" event telling
 * the page to read the state afresh instead of a replay with holes.
 */
#include "api/http/events.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "api/http/request.h"
#include "api/base/json.h"
#include "api/base/log.h"
#include "api/base/timeutil.h"

#define EVENTS_RING_SIZE        128
#define EVENT_TEXT_MAX          1024
#define EVENTS_BLOCK_SIZE       (8 * EVENT_TEXT_MAX)
#define EVENTS_RETRY_MS         3000
#define NSEC_PER_SEC            1000000000L
#define EVENT_ID_MAX            40
#define DECIMAL_BASE            10

struct stream {
    struct events_hub *hub;
    struct MHD_Connection *conn;
    uint64_t next;                 /* number of the next event to send */
    bool greeted;                  /* retry: and the opening comment are out */
    bool resync;                   /* owes the page a "resync" event */
    bool heartbeat_due;
    bool suspended;
    struct stream *prev, *next_stream;
};

struct events_hub {
    struct token_service *svc;
    unsigned subscription;
    unsigned max_streams;
    unsigned heartbeat_s;
    unsigned run_tag;
    pthread_mutex_t lock;
    pthread_cond_t wake;           /* heartbeat thread: time to stop */
    pthread_t heartbeat_thread;
    bool stopping;                 /* heartbeat thread ends */
    bool closing;                  /* streams end */
    uint64_t last;                 /* number of the newest event; 0 = none yet */
    char *ring[EVENTS_RING_SIZE];  /* formatted events, by number % size */
    struct stream *streams;
    size_t n_streams;
};

static const char *const kind_names[] = {
    [TOKEN_EV_READER_ADDED] = "reader-added",
    [TOKEN_EV_READER_REMOVED] = "reader-removed",
    [TOKEN_EV_TOKEN_INSERTED] = "token-inserted",
    [TOKEN_EV_TOKEN_REMOVED] = "token-removed",
    [TOKEN_EV_PIN_CHANGED] = "pin-changed",
    [TOKEN_EV_PCSC_LOST] = "pcsc-lost",
    [TOKEN_EV_PCSC_BACK] = "pcsc-back",
    [TOKEN_EV_CERTS_CHANGED] = "certificates-changed",
};

static json_t *event_data(const struct token_event *ev)
{
    json_t *data = json_object();

    if (!data)
        return NULL;
    if (ev->reader)
        json_object_set_new(data, "reader", json_string(ev->reader));
    if (ev->token_id)
        json_object_set_new(data, "tokenId", json_string(ev->token_id));
    if (ev->kind == TOKEN_EV_PIN_CHANGED) {
        json_object_set_new(data, "triesLeft",
                            ev->tries_left >= 0 ? json_integer(ev->tries_left) : json_null());
        json_object_set_new(data, "blocked", json_boolean(ev->blocked));
    }
    return data;
}

/* "id: …\nevent: …\ndata: {…}\n\n"; NULL when it does not fit or no memory. */
static char *format_event(const struct events_hub *hub, uint64_t number,
                          const struct token_event *ev)
{
    json_t *data = event_data(ev);
    char *json = data ? json_dumps(data, JSON_COMPACT) : NULL;
    char *text = NULL;

    json_decref(data);
    if (json && (unsigned)ev->kind < sizeof kind_names / sizeof kind_names[0] &&
        kind_names[ev->kind]) {
        int n = asprintf(&text, "id: %08x-%" PRIu64 "\nevent: %s\ndata: %s\n\n", hub->run_tag,
                         number, kind_names[ev->kind], json);

        if (n < 0 || n >= EVENT_TEXT_MAX) {
            free(n < 0 ? NULL : text);
            text = NULL;
        }
    }
    if (json)
        json_text_free(json);
    return text;
}

/* Wakes every suspended stream; hub->lock held. */
static void resume_streams(struct events_hub *hub)
{
    for (struct stream *s = hub->streams; s; s = s->next_stream) {
        if (s->suspended) {
            s->suspended = false;
            MHD_resume_connection(s->conn);
        }
    }
}

static void on_token_event(const struct token_event *ev, void *userdata)
{
    struct events_hub *hub = userdata;
    char *text;
    uint64_t number;

    pthread_mutex_lock(&hub->lock);
    number = hub->last + 1;
    text = format_event(hub, number, ev);
    if (text) {
        free(hub->ring[number % EVENTS_RING_SIZE]);
        hub->ring[number % EVENTS_RING_SIZE] = text;
        hub->last = number;
        resume_streams(hub);
    }
    pthread_mutex_unlock(&hub->lock);
    if (!text)
        log_msg(LOG_WARNING, NULL, "event %d dropped: out of memory", (int)ev->kind);
}

static void *heartbeat_main(void *arg)
{
    struct events_hub *hub = arg;
    struct timespec deadline;

    pthread_mutex_lock(&hub->lock);
    deadline = deadline_after_ms(hub->heartbeat_s * MS_PER_SEC);
    while (!hub->stopping) {
        if (pthread_cond_timedwait(&hub->wake, &hub->lock, &deadline) == 0)
            continue;
        for (struct stream *s = hub->streams; s; s = s->next_stream)
            s->heartbeat_due = true;
        resume_streams(hub);
        deadline = deadline_after_ms(hub->heartbeat_s * MS_PER_SEC);
    }
    pthread_mutex_unlock(&hub->lock);
    return NULL;
}

static bool init_sync(struct events_hub *hub)
{
    pthread_condattr_t attr;
    bool ok;

    if (pthread_condattr_init(&attr))
        return false;
    ok = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0 &&
         pthread_cond_init(&hub->wake, &attr) == 0;
    pthread_condattr_destroy(&attr);
    if (!ok)
        return false;
    if (pthread_mutex_init(&hub->lock, NULL)) {
        pthread_cond_destroy(&hub->wake);
        return false;
    }
    return true;
}

struct events_hub *events_hub_new(struct token_service *svc, unsigned max_streams,
                                  unsigned heartbeat_s)
{
    struct events_hub *hub = calloc(1, sizeof *hub);

    if (!hub)
        return NULL;
    hub->svc = svc;
    hub->max_streams = max_streams;
    hub->heartbeat_s = heartbeat_s;
    if (getrandom(&hub->run_tag, sizeof hub->run_tag, 0) != sizeof hub->run_tag)
        hub->run_tag = (unsigned)time(NULL);
    if (!init_sync(hub)) {
        free(hub);
        return NULL;
    }
    if (pthread_create(&hub->heartbeat_thread, NULL, heartbeat_main, hub)) {
        pthread_mutex_destroy(&hub->lock);
        pthread_cond_destroy(&hub->wake);
        free(hub);
        return NULL;
    }
    hub->subscription = token_service_subscribe(svc, on_token_event, hub);
    if (!hub->subscription) {
        events_hub_free(hub);
        return NULL;
    }
    return hub;
}

void events_hub_close_streams(struct events_hub *hub)
{
    pthread_mutex_lock(&hub->lock);
    hub->closing = true;
    resume_streams(hub);
    pthread_mutex_unlock(&hub->lock);
}

void events_hub_free(struct events_hub *hub)
{
    if (!hub)
        return;
    if (hub->subscription)
        token_service_unsubscribe(hub->svc, hub->subscription);
    pthread_mutex_lock(&hub->lock);
    hub->stopping = true;
    pthread_cond_signal(&hub->wake);
    pthread_mutex_unlock(&hub->lock);
    pthread_join(hub->heartbeat_thread, NULL);
    for (size_t i = 0; i < EVENTS_RING_SIZE; i++)
        free(hub->ring[i]);
    pthread_mutex_destroy(&hub->lock);
    pthread_cond_destroy(&hub->wake);
    free(hub);
}

size_t events_hub_streams(struct events_hub *hub)
{
    size_t n;

    pthread_mutex_lock(&hub->lock);
    n = hub->n_streams;
    pthread_mutex_unlock(&hub->lock);
    return n;
}

/* Appends `text` when it fits; hub->lock held. */
static bool put(char *buf, size_t max, size_t *used, const char *text)
{
    size_t len = strlen(text);

    if (len > max - *used)
        return false;
    memcpy(buf + *used, text, len);
    *used += len;
    return true;
}

static void put_greeting(struct stream *s, char *buf, size_t max, size_t *used)
{
    char text[EVENT_TEXT_MAX];

    snprintf(text, sizeof text, "retry: %d\n: ukeyd events\n\n", EVENTS_RETRY_MS);
    if (put(buf, max, used, text))
        s->greeted = true;
}

/* The oldest event number the ring still holds; hub->lock held. */
static uint64_t oldest_kept(const struct events_hub *hub)
{
    return hub->last >= EVENTS_RING_SIZE ? hub->last - EVENTS_RING_SIZE + 1 : 1;
}

static void put_events(struct stream *s, char *buf, size_t max, size_t *used)
{
    struct events_hub *hub = s->hub;

    if (s->resync && put(buf, max, used, "event: resync\ndata: {}\n\n"))
        s->resync = false;
    while (!s->resync && s->next <= hub->last &&
           put(buf, max, used, hub->ring[s->next % EVENTS_RING_SIZE]))
        s->next++;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream *s = cls;
    struct events_hub *hub = s->hub;
    size_t used = 0;

    (void)pos;
    pthread_mutex_lock(&hub->lock);
    if (!s->greeted)
        put_greeting(s, buf, max, &used);
    if (s->next < oldest_kept(hub)) {
        s->resync = true;
        s->next = hub->last + 1;
    }
    put_events(s, buf, max, &used);
    if (used == 0 && hub->closing) {
        pthread_mutex_unlock(&hub->lock);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    if (used == 0 && s->heartbeat_due)
        put(buf, max, &used, ": heartbeat\n\n");
    if (used > 0)
        s->heartbeat_due = false;
    else {
        s->suspended = true;
        MHD_suspend_connection(s->conn);
    }
    pthread_mutex_unlock(&hub->lock);
    return (ssize_t)used;
}

static void stream_free(void *cls)
{
    struct stream *s = cls;
    struct events_hub *hub = s->hub;

    pthread_mutex_lock(&hub->lock);
    if (s->prev)
        s->prev->next_stream = s->next_stream;
    else
        hub->streams = s->next_stream;
    if (s->next_stream)
        s->next_stream->prev = s->prev;
    hub->n_streams--;
    pthread_mutex_unlock(&hub->lock);
    free(s);
}

bool events_id_number(const char *id, unsigned run_tag, uint64_t *number)
{
    char tag[EVENT_ID_MAX];
    const char *digits;
    char *end;

    snprintf(tag, sizeof tag, "%08x-", run_tag);
    if (strncmp(id, tag, strlen(tag)) != 0)
        return false;
    digits = id + strlen(tag);
    /* strtoull would take a sign or blanks; an id we issued has digits only. */
    if (!isdigit((unsigned char)digits[0]))
        return false;
    errno = 0;
    *number = strtoull(digits, &end, DECIMAL_BASE);
    return errno == 0 && *end == '\0';
}

/* Where a stream starts: after Last-Event-ID when this run issued it and the
 * ring still has what came after, else with a resync; hub->lock held. */
static void place_stream(struct stream *s, const char *last_event_id)
{
    struct events_hub *hub = s->hub;
    uint64_t seen;

    s->next = hub->last + 1;
    if (!last_event_id)
        return;
    if (events_id_number(last_event_id, hub->run_tag, &seen) && seen <= hub->last &&
        seen + 1 >= oldest_kept(hub)) {
        s->next = seen + 1;
        return;
    }
    s->resync = true;
}

/* A new stream on the hub's list, or NULL when the cap is reached. */
static struct stream *stream_open(struct events_hub *hub, struct MHD_Connection *conn,
                                  const char *last_event_id, bool *full)
{
    struct stream *s = calloc(1, sizeof *s);

    *full = false;
    if (!s)
        return NULL;
    s->hub = hub;
    s->conn = conn;
    pthread_mutex_lock(&hub->lock);
    if (hub->n_streams >= hub->max_streams || hub->closing) {
        pthread_mutex_unlock(&hub->lock);
        free(s);
        *full = true;
        return NULL;
    }
    place_stream(s, last_event_id);
    s->next_stream = hub->streams;
    if (hub->streams)
        hub->streams->prev = s;
    hub->streams = s;
    hub->n_streams++;
    pthread_mutex_unlock(&hub->lock);
    return s;
}

void events_stream(struct request *r)
{
    struct events_hub *hub = r->ctx->hub;
    bool full;
    struct stream *s = stream_open(hub, r->conn, request_header(r, "Last-Event-ID"), &full);
    struct MHD_Response *resp;

    if (!s) {
        respond_code(r, full ? API_TOO_MANY_STREAMS : API_INTERNAL);
        return;
    }
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, EVENTS_BLOCK_SIZE, stream_read, s,
                                             stream_free);
    if (!resp) {
        stream_free(s);
        respond_code(r, API_INTERNAL);
        return;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream; charset=utf-8");
    respond_with(r, MHD_HTTP_OK, resp);
}
