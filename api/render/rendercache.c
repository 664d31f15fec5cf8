/* SPDX-License-Identifier: MIT */
/*
 * api/render/rendercache.c — one cached text per form (pretty for people, compact
 * for pages), valid while the same snapshots are asked for and until the
 * first second in which some certificate's daysLeft would read differently.
 */
#include "api/render/rendercache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/base/json.h"
#include "api/render/render.h"

#define SECONDS_PER_DAY 86400
#define FORMS           2          /* compact, pretty */

struct entry {
    struct token_snapshot **snaps;   /* references held */
    size_t n;
    char *text;                      /* malloc'd copy of json_text's */
    size_t len;
    time_t last_valid;               /* the last second the text is right for */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry entries[FORMS];

static void entry_clear(struct entry *e)
{
    for (size_t i = 0; i < e->n; i++)
        token_snapshot_unref(e->snaps[i]);
    free(e->snaps);
    free(e->text);
    memset(e, 0, sizeof *e);
}

/* The last second at which every certificate still shows today's daysLeft:
 * cert_days_left(now) is k while now <= not_after - k days. */
static time_t last_valid_second(struct token_snapshot *const *list, size_t n, time_t now)
{
    time_t last = now + SECONDS_PER_DAY;

    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < list[i]->n_certs; j++) {
            const struct cert_summary *s = list[i]->certs[j].summary;
            time_t until;

            if (!s)
                continue;
            until = s->not_after - (time_t)cert_days_left(s, now) * SECONDS_PER_DAY;
            if (until < last)
                last = until;
        }
    }
    return last;
}

static bool entry_matches(const struct entry *e, struct token_snapshot *const *list, size_t n,
                          time_t now)
{
    if (!e->text || e->n != n || now > e->last_valid)
        return false;
    for (size_t i = 0; i < n; i++)
        if (e->snaps[i] != list[i])
            return false;
    return true;
}

static char *copy_text(const char *text, size_t len)
{
    char *copy = malloc(len + 1);

    if (copy)
        memcpy(copy, text, len + 1);
    return copy;
}

/* Renders `list` into `e`, replacing what it held; false when out of memory. */
static bool entry_fill(struct entry *e, struct token_snapshot *const *list, size_t n,
                       bool pretty, time_t now)
{
    json_t *v = render_tokens(list, n);
    size_t len = 0;
    char *text = v ? json_text(v, pretty, &len) : NULL;
    struct token_snapshot **snaps = calloc(n ? n : 1, sizeof *snaps);
    char *copy = text ? copy_text(text, len) : NULL;

    json_decref(v);
    if (text)
        json_text_free(text);
    if (!copy || !snaps) {
        free(copy);
        free(snaps);
        return false;
    }
    entry_clear(e);
    for (size_t i = 0; i < n; i++)
        snaps[i] = token_snapshot_ref(list[i]);
    *e = (struct entry){ .snaps = snaps, .n = n, .text = copy, .len = len,
                         .last_valid = last_valid_second(list, n, now) };
    return true;
}

char *rendercache_tokens(struct token_snapshot *const *list, size_t n, bool pretty, time_t now,
                         size_t *len)
{
    struct entry *e = &entries[pretty ? 1 : 0];
    char *copy = NULL;

    pthread_mutex_lock(&lock);
    if (entry_matches(e, list, n, now) || entry_fill(e, list, n, pretty, now)) {
        copy = copy_text(e->text, e->len);
        *len = e->len;
    }
    pthread_mutex_unlock(&lock);
    return copy;
}

void rendercache_clear(void)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < FORMS; i++)
        entry_clear(&entries[i]);
    pthread_mutex_unlock(&lock);
}
