/* SPDX-License-Identifier: MIT */
/*
 * api/unlock/unlock_session.c — the session table: a fixed array under one mutex.
 *
 * Session ids are 128 random bits from OpenSSL, compared in constant time.
 * A slot given up (replaced, evicted) has its request id wiped, because that
 * id is the CA's bearer capability.
 */
#include "api/unlock/unlock_session.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct slot {
    bool used;
    bool expired;                /* a tombstone: answers "expired" until reused */
    time_t created, touched;     /* CLOCK_MONOTONIC seconds */
    struct unlock_session s;
};

struct session_table {
    pthread_mutex_t lock;
    size_t max;
    unsigned idle_s, life_s;
    struct slot *slots;
};

static time_t now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

struct session_table *session_table_new(size_t max, unsigned idle_s, unsigned life_s)
{
    struct session_table *t = calloc(1, sizeof *t);

    if (!t || !(t->slots = calloc(max, sizeof *t->slots)) ||
        pthread_mutex_init(&t->lock, NULL) != 0) {
        if (t)
            free(t->slots);
        free(t);
        return NULL;
    }
    t->max = max;
    t->idle_s = idle_s;
    t->life_s = life_s;
    return t;
}

static void slot_clear(struct slot *sl)
{
    OPENSSL_cleanse(sl, sizeof *sl);
}

void session_table_free(struct session_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->max; i++)
        slot_clear(&t->slots[i]);
    pthread_mutex_destroy(&t->lock);
    free(t->slots);
    free(t);
}

/* A session past its time keeps its id (to answer "expired"), not the CA's capability. */
static void slot_expire(struct slot *sl)
{
    sl->expired = true;
    OPENSSL_cleanse(sl->s.request_id, sizeof sl->s.request_id);
}

static bool slot_outlived(const struct session_table *t, const struct slot *sl, time_t now)
{
    return now - sl->touched > (time_t)t->idle_s || now - sl->created > (time_t)t->life_s;
}

/* A free slot, else the tombstone or the live session least recently used. */
static struct slot *slot_to_take(struct session_table *t)
{
    struct slot *oldest_dead = NULL, *oldest_live = NULL;

    for (size_t i = 0; i < t->max; i++) {
        struct slot *sl = &t->slots[i];

        if (!sl->used)
            return sl;
        if (sl->expired && (!oldest_dead || sl->touched < oldest_dead->touched))
            oldest_dead = sl;
        if (!sl->expired && (!oldest_live || sl->touched < oldest_live->touched))
            oldest_live = sl;
    }
    return oldest_dead ? oldest_dead : oldest_live;
}

static int new_sid(char *out, size_t size)
{
    unsigned char bytes[UNLOCK_SID_BYTES];
    size_t used;

    if (RAND_bytes(bytes, sizeof bytes) != 1)
        return -1;
    used = (size_t)snprintf(out, size, "%s", UNLOCK_SID_PREFIX);
    for (size_t i = 0; i < sizeof bytes && used + 2 < size; i++, used += 2)
        snprintf(out + used, size - used, "%02x", bytes[i]);
    OPENSSL_cleanse(bytes, sizeof bytes);
    return 0;
}

static bool copy_fits(const char *s, size_t size)
{
    return strlen(s) < size;
}

int session_open(struct session_table *t, const char *token_id, const char *request_id,
                 struct unlock_session *out)
{
    struct slot *sl;
    time_t now = now_s();

    if (!copy_fits(token_id, sizeof out->token_id) ||
        !copy_fits(request_id, sizeof out->request_id))
        return -1;
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < t->max; i++)
        if (t->slots[i].used && strcmp(t->slots[i].s.token_id, token_id) == 0)
            slot_clear(&t->slots[i]);
    sl = slot_to_take(t);
    slot_clear(sl);
    if (new_sid(sl->s.sid, sizeof sl->s.sid) < 0) {
        slot_clear(sl);
        pthread_mutex_unlock(&t->lock);
        return -1;
    }
    snprintf(sl->s.token_id, sizeof sl->s.token_id, "%s", token_id);
    snprintf(sl->s.request_id, sizeof sl->s.request_id, "%s", request_id);
    sl->used = true;
    sl->created = sl->touched = now;
    *out = sl->s;
    pthread_mutex_unlock(&t->lock);
    return 0;
}

static struct slot *slot_of(struct session_table *t, const char *sid)
{
    size_t len = strlen(sid);

    if (len != UNLOCK_SID_MAX)
        return NULL;
    for (size_t i = 0; i < t->max; i++)
        if (t->slots[i].used && CRYPTO_memcmp(t->slots[i].s.sid, sid, len) == 0)
            return &t->slots[i];
    return NULL;
}

enum session_found session_find(struct session_table *t, const char *sid,
                                struct unlock_session *out)
{
    enum session_found found = SESSION_NOT_FOUND;
    time_t now = now_s();
    struct slot *sl;

    pthread_mutex_lock(&t->lock);
    sl = slot_of(t, sid);
    if (sl && !sl->expired && slot_outlived(t, sl, now))
        slot_expire(sl);
    if (sl && sl->expired) {
        found = SESSION_EXPIRED;
    } else if (sl) {
        sl->touched = now;
        *out = sl->s;
        found = SESSION_FOUND;
    }
    pthread_mutex_unlock(&t->lock);
    return found;
}

void session_expire(struct session_table *t, const char *sid)
{
    struct slot *sl;

    pthread_mutex_lock(&t->lock);
    sl = slot_of(t, sid);
    if (sl)
        slot_expire(sl);
    pthread_mutex_unlock(&t->lock);
}
