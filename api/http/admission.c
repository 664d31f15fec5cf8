/* SPDX-License-Identifier: MIT */
/*
 * api/http/admission.c — per-UID connection counts and the deadlines of requests
 * still being read (api/http/admission.h), with the sweeper that enforces them.
 */
#include "api/http/admission.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "api/base/log.h"
#include "api/base/timeutil.h"

/* How often the sweeper looks: a deadline is kept to within this. */
#define SWEEP_INTERVAL_MS 250
#define NO_DEADLINE       0

struct uid_count {
    uid_t uid;
    unsigned n;                    /* 0: a free entry */
};

struct admission_ticket {
    struct admission *owner;
    int fd;
    bool counted;                  /* holds a reservation for uid */
    uid_t uid;
    int64_t due_ms;                /* CLOCK_MONOTONIC; NO_DEADLINE while answering */
    struct admission_ticket *prev, *next;
};

struct admission {
    struct admission_limits limits;
    pthread_mutex_t lock;
    pthread_cond_t wake;           /* the sweeper's, for stopping */
    bool stopping;
    pthread_t sweeper;
    struct uid_count *counts;
    size_t n_counts;
    struct admission_ticket *tickets;
};

/* The reservation taken by the last accept on this thread, until the
 * connection it was for starts (or the next accept finds it never did). */
static _Thread_local struct {
    struct admission *owner;
    uid_t uid;
} pending;

static int64_t now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * MS_PER_SEC + t.tv_nsec / NS_PER_MS;
}

/* --- counts (under the lock) --------------------------------------------------- */

static struct uid_count *count_of(struct admission *a, uid_t uid)
{
    struct uid_count *free_entry = NULL, *grown;

    for (size_t i = 0; i < a->n_counts; i++) {
        if (a->counts[i].n && a->counts[i].uid == uid)
            return &a->counts[i];
        if (!a->counts[i].n && !free_entry)
            free_entry = &a->counts[i];
    }
    if (free_entry) {
        free_entry->uid = uid;
        return free_entry;
    }
    grown = realloc(a->counts, (a->n_counts + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    a->counts = grown;
    a->counts[a->n_counts] = (struct uid_count){ .uid = uid };
    return &a->counts[a->n_counts++];
}

static void release_locked(struct admission *a, uid_t uid)
{
    struct uid_count *c = count_of(a, uid);

    if (c && c->n)
        c->n--;
}

/* A reservation whose connection never started (libmicrohttpd failed it
 * after the accept policy said yes) goes back. */
static void drop_pending_locked(struct admission *a)
{
    if (pending.owner == a) {
        release_locked(a, pending.uid);
        pending.owner = NULL;
    }
}

bool admission_reserve(struct admission *a, uid_t uid, bool allowed)
{
    unsigned max = allowed ? a->limits.per_uid_max : a->limits.refused_uid_max;
    struct uid_count *c;
    bool ok = false;

    pthread_mutex_lock(&a->lock);
    drop_pending_locked(a);
    c = count_of(a, uid);
    if (c && c->n < max) {
        c->n++;
        pending.owner = a;
        pending.uid = uid;
        ok = true;
    }
    pthread_mutex_unlock(&a->lock);
    return ok;
}

/* --- tickets ------------------------------------------------------------------- */

struct admission_ticket *admission_enter(struct admission *a, int fd)
{
    struct admission_ticket *t = calloc(1, sizeof *t);

    pthread_mutex_lock(&a->lock);
    if (!t) {
        drop_pending_locked(a);
        pthread_mutex_unlock(&a->lock);
        return NULL;
    }
    t->owner = a;
    t->fd = fd;
    if (pending.owner == a) {
        t->counted = true;
        t->uid = pending.uid;
        pending.owner = NULL;
    }
    t->due_ms = now_ms() + a->limits.header_deadline_ms;
    t->next = a->tickets;
    if (a->tickets)
        a->tickets->prev = t;
    a->tickets = t;
    pthread_mutex_unlock(&a->lock);
    return t;
}

bool admission_ticket_uid(const struct admission_ticket *t, uid_t *uid)
{
    if (!t || !t->counted)
        return false;
    *uid = t->uid;
    return true;
}

void admission_leave(struct admission_ticket *t)
{
    struct admission *a;

    if (!t)
        return;
    a = t->owner;
    pthread_mutex_lock(&a->lock);
    if (t->prev)
        t->prev->next = t->next;
    else
        a->tickets = t->next;
    if (t->next)
        t->next->prev = t->prev;
    if (t->counted)
        release_locked(a, t->uid);
    pthread_mutex_unlock(&a->lock);
    free(t);
}

static void set_due(struct admission_ticket *t, int64_t due_ms)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->owner->lock);
    t->due_ms = due_ms;
    pthread_mutex_unlock(&t->owner->lock);
}

void admission_request_read(struct admission_ticket *t)
{
    set_due(t, NO_DEADLINE);
}

void admission_request_done(struct admission_ticket *t)
{
    if (t)
        set_due(t, now_ms() + t->owner->limits.idle_ms);
}

/* --- the sweeper ---------------------------------------------------------------- */

/*
 * Shutting the socket down (not closing it: the descriptor stays
 * libmicrohttpd's) wakes its poll with end of file, and it closes the
 * connection as if the client had gone. A ticket leaves before
 * libmicrohttpd closes the descriptor, so a number reused by a new
 * connection is never shut down here by mistake.
 */
static void sweep_locked(struct admission *a)
{
    int64_t now = now_ms();

    for (struct admission_ticket *t = a->tickets; t; t = t->next) {
        if (t->due_ms == NO_DEADLINE || t->due_ms > now)
            continue;
        t->due_ms = NO_DEADLINE;
        shutdown(t->fd, SHUT_RDWR);
        if (t->counted)
            log_msg(LOG_NOTICE, NULL, "connection from uid %u closed: no complete request in time",
                    (unsigned)t->uid);
        else
            log_msg(LOG_NOTICE, NULL, "connection closed: no complete request in time");
    }
}

static void *sweeper(void *arg)
{
    struct admission *a = arg;
    struct timespec until;

    pthread_mutex_lock(&a->lock);
    while (!a->stopping) {
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += SWEEP_INTERVAL_MS * NS_PER_MS;
        until.tv_sec += until.tv_nsec / (MS_PER_SEC * NS_PER_MS);
        until.tv_nsec %= MS_PER_SEC * NS_PER_MS;
        if (pthread_cond_timedwait(&a->wake, &a->lock, &until) == ETIMEDOUT)
            sweep_locked(a);
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

struct admission *admission_new(const struct admission_limits *limits)
{
    struct admission *a = calloc(1, sizeof *a);
    pthread_condattr_t attr;

    if (!a)
        return NULL;
    a->limits = *limits;
    pthread_mutex_init(&a->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&a->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&a->sweeper, NULL, sweeper, a)) {
        pthread_cond_destroy(&a->wake);
        pthread_mutex_destroy(&a->lock);
        free(a);
        return NULL;
    }
    return a;
}

void admission_free(struct admission *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    a->stopping = true;
    pthread_cond_signal(&a->wake);
    pthread_mutex_unlock(&a->lock);
    pthread_join(a->sweeper, NULL);
    if (pending.owner == a)
        pending.owner = NULL;
    pthread_cond_destroy(&a->wake);
    pthread_mutex_destroy(&a->lock);
    free(a->counts);
    free(a);
}
