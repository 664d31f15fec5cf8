/* SPDX-License-Identifier: MIT */
/*
 * token/service.c — the token service behind token/token.h.
 *
 * The monitor thread keeps one entry per reader; when a card arrives it is
 * read once (identity, certificates, PIN state) into an immutable snapshot,
 * and reads are served from there until the monitor reports a change. PIN
 * operations are serialised per token, paced, run inside one transaction that
 * also re-checks which token is in the reader, and always end by dropping the
 * card's verified state. The operations on key slots (keyslot.c) run the
 * same way, through service_internal.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "token/cardjob.h"
#include "token/edge.h"
#include "token/pcsc.h"
#include "token/service_internal.h"
#include "token/token.h"

#define SERVICE_READY_TIMEOUT_MS 3000
/* How long a caller waits for a card another process holds in a transaction. */
#define SERVICE_CARD_WAIT_MS_DEFAULT 5000

struct token_certset {
    unsigned refs;
    struct token_cert *certs;
    size_t n;
};

struct reader_entry {
    char *name;
    bool card_present;
    bool unrecognised;          /* a card no driver speaks to */
    uint8_t atr[TOKEN_ATR_MAX];
    size_t atr_len;
    struct token_snapshot *snap;
    const struct card_edge *edge;
    struct card_job *stuck_read;   /* a read given up on, still waiting for the card */
};

/* Per-token serialisation and pacing; kept for the service's life so an
 * operation never holds a lock that a removal could free. */
struct token_lock {
    char *id;
    pthread_mutex_t m;
    struct timespec last_attempt;
    struct card_job *stuck;        /* an operation given up on, still waiting for the card */
    /* The unlock secret's tries left as the card last said in answer to one
     * (-1: unknown), for cards that cannot be asked without spending a try. */
    int unlock_tries_seen;
    struct token_lock *next;
};

struct subscriber {
    unsigned id;
    token_event_fn fn;
    void *userdata;
};

struct token_service {
    struct token_service_config cfg;

    pthread_mutex_t lock;            /* readers, pcsc_up, locks, ready */
    pthread_cond_t ready_cond;
    bool ready;
    bool pcsc_up;
    struct reader_entry *readers;
    size_t n_readers;
    struct token_lock *locks;

    pthread_mutex_t subs_lock;       /* held while events are dispatched */
    struct subscriber *subs;
    size_t n_subs;
    unsigned next_sub_id;

    struct pcsc_monitor *mon;
};

/* ---- small helpers ---- */

static void svc_log(struct token_service *svc, int prio, const char *token_id, const char *msg)
{
    if (svc->cfg.log)
        svc->cfg.log(svc->cfg.log_userdata, prio, token_id, msg);
}

static void svc_emit(struct token_service *svc, const struct token_event *ev)
{
    size_t i;

    pthread_mutex_lock(&svc->subs_lock);
    for (i = 0; i < svc->n_subs; i++)
        svc->subs[i].fn(ev, svc->subs[i].userdata);
    pthread_mutex_unlock(&svc->subs_lock);
}

static void svc_emit_simple(struct token_service *svc, enum token_event_kind kind,
                            const char *reader, const char *token_id)
{
    struct token_event ev = {.kind = kind, .reader = reader, .token_id = token_id,
                             .tries_left = -1};

    svc_emit(svc, &ev);
}

static void certset_unref(struct token_certset *cs)
{
    if (!cs || __atomic_sub_fetch(&cs->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    token_certs_free(cs->certs, cs->n);
    free(cs);
}

struct token_snapshot *token_snapshot_ref(struct token_snapshot *s)
{
    if (s)
        __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
    return s;
}

void token_snapshot_unref(struct token_snapshot *s)
{
    if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    free(s->id);
    free(s->reader);
    free(s->model);
    free(s->serial);
    free(s->version);
    certset_unref(s->certset);
    free(s);
}

static void token_snapshot_unrefp(struct token_snapshot **s)
{
    token_snapshot_unref(*s);
}
#define _cleanup_snapshot_ __attribute__((cleanup(token_snapshot_unrefp)))

void token_snapshots_free(struct token_snapshot **list, size_t n)
{
    size_t i;

    if (!list)
        return;
    for (i = 0; i < n; i++)
        token_snapshot_unref(list[i]);
    free(list);
}

static char *strdup_or_null(const char *s, bool *oom)
{
    char *d;

    if (!s)
        return NULL;
    d = strdup(s);
    if (!d)
        *oom = true;
    return d;
}

/* A new snapshot like `s` but with other PIN state; certificates are shared. */
static struct token_snapshot *snapshot_with_pin(const struct token_snapshot *s,
                                                const struct token_pin_info *pin)
{
    struct token_snapshot *c = calloc(1, sizeof(*c));
    bool oom = false;

    if (!c)
        return NULL;
    *c = *s;
    c->refs = 1;
    c->pin = *pin;
    c->id = strdup_or_null(s->id, &oom);
    c->reader = strdup_or_null(s->reader, &oom);
    c->model = strdup_or_null(s->model, &oom);
    c->serial = strdup_or_null(s->serial, &oom);
    c->version = strdup_or_null(s->version, &oom);
    __atomic_add_fetch(&c->certset->refs, 1, __ATOMIC_RELAXED);
    if (oom) {
        token_snapshot_unref(c);
        return NULL;
    }
    return c;
}

static struct reader_entry *find_reader(struct token_service *svc, const char *name)
{
    size_t i;

    for (i = 0; i < svc->n_readers; i++)
        if (strcmp(svc->readers[i].name, name) == 0)
            return &svc->readers[i];
    return NULL;
}

static struct reader_entry *find_token(struct token_service *svc, const char *id)
{
    size_t i;

    for (i = 0; i < svc->n_readers; i++)
        if (svc->readers[i].snap && strcmp(svc->readers[i].snap->id, id) == 0)
            return &svc->readers[i];
    return NULL;
}

static void pin_info_from_edge(struct token_pin_info *pin, const struct card_edge *edge,
                               int tries_left, bool blocked)
{
    pin->tries_left = tries_left;
    pin->blocked = blocked;
    pin->min_len = edge->pin_policy.min_len;
    pin->max_len = edge->pin_policy.max_len;
    pin->charset = edge->pin_policy.charset;
}

static void summarize_certs(struct token_cert *certs, size_t n)
{
    time_t now = time(NULL);
    size_t i;

    for (i = 0; i < n; i++)
        if (cert_summarize(certs[i].der, certs[i].der_len, now, &certs[i].summary) != TOKEN_OK)
            certs[i].summary = NULL;   /* the DER is still served; the summary is not */
}

/* Reads everything the snapshot shows, inside the session's transaction. */
static token_err read_snapshot(struct card_session *cs, const char *reader,
                               struct token_snapshot **out)
{
    struct edge_identity ident = {0};
    struct token_snapshot *s = NULL;
    struct token_certset *set = NULL;
    const uint8_t *atr;
    int tries = -1;
    bool blocked = false;
    token_err err;

    s = calloc(1, sizeof(*s));
    set = calloc(1, sizeof(*set));
    if (!s || !set) {
        err = TOKEN_E_NO_MEMORY;
        goto fail;
    }
    s->refs = 1;
    set->refs = 1;
    s->certset = set;
    atr = pcsc_card_atr(cs->card, &s->atr_len);
    memcpy(s->atr, atr, s->atr_len);

    err = cs->edge->identify(cs->t, s->atr, s->atr_len, &ident);
    if (!err)
        err = cs->edge->read_certs(cs->t, &set->certs, &set->n);
    if (!err)
        err = cs->edge->pin_state(cs->t, &tries, &blocked);
    if (err)
        goto fail;
    summarize_certs(set->certs, set->n);

    s->id = ident.id;
    s->model = ident.model;
    s->serial = ident.serial;
    s->version = ident.version;
    memset(&ident, 0, sizeof(ident));
    s->reader = strdup(reader);
    if (!s->reader) {
        err = TOKEN_E_NO_MEMORY;
        goto fail;
    }
    s->edge = cs->edge->name;
    s->certs = set->certs;
    s->n_certs = set->n;
    pin_info_from_edge(&s->pin, cs->edge, tries, blocked);
    *out = s;
    return TOKEN_OK;
fail:
    edge_identity_clear(&ident);
    if (s)
        token_snapshot_unref(s);
    else
        free(set);
    return err;
}

struct read_work {
    const char *reader;
    struct token_snapshot *snap;
};

static token_err read_work(struct card_session *cs, void *arg)
{
    struct read_work *w = arg;

    return read_snapshot(cs, w->reader, &w->snap);
}

static unsigned card_wait_ms(const struct token_service *svc)
{
    return svc->cfg.card_wait_ms ? svc->cfg.card_wait_ms : SERVICE_CARD_WAIT_MS_DEFAULT;
}

/* False while an earlier read of this reader still waits for the card. */
static bool reader_free_to_read(struct token_service *svc, const char *reader)
{
    struct card_job *done = NULL;
    struct reader_entry *r;
    bool free_to_read = true;

    pthread_mutex_lock(&svc->lock);
    r = find_reader(svc, reader);
    if (r && r->stuck_read) {
        if (card_job_still_waiting(r->stuck_read))
            free_to_read = false;
        else {
            done = r->stuck_read;
            r->stuck_read = NULL;
        }
    }
    pthread_mutex_unlock(&svc->lock);
    card_job_unref(done);
    return free_to_read;
}

static void remember_stuck_read(struct token_service *svc, const char *reader,
                                struct card_job *job)
{
    struct reader_entry *r;

    pthread_mutex_lock(&svc->lock);
    r = find_reader(svc, reader);
    if (r && !r->stuck_read) {
        r->stuck_read = job;
        job = NULL;
    }
    pthread_mutex_unlock(&svc->lock);
    card_job_unref(job);
}

static token_err read_token(struct token_service *svc, const char *reader,
                            const struct card_edge **edge, struct token_snapshot **out)
{
    struct read_work w = {reader, NULL};
    struct card_job *stuck = NULL;
    token_err err;

    if (!reader_free_to_read(svc, reader))
        return TOKEN_E_TOKEN_BUSY;
    err = card_job_run(reader, NULL, card_wait_ms(svc), read_work, &w, edge, &stuck);
    if (stuck)
        remember_stuck_read(svc, reader, stuck);
    *out = w.snap;
    return err;
}

/*
 * Reads the card in `reader` and stores the snapshot, unless the card changed
 * meanwhile. Returns the stored snapshot with a reference, or NULL.
 */
static struct token_snapshot *refresh_reader(struct token_service *svc, const char *reader)
{
    struct token_snapshot *snap = NULL, *result = NULL;
    const struct card_edge *edge = NULL;
    struct reader_entry *r;
    token_err err;

    err = read_token(svc, reader, &edge, &snap);
    pthread_mutex_lock(&svc->lock);
    r = find_reader(svc, reader);
    if (r && r->card_present) {
        if (err == TOKEN_OK) {
            token_snapshot_unref(r->snap);
            r->snap = snap;
            r->edge = edge;
            r->unrecognised = false;
            snap = NULL;
            result = token_snapshot_ref(r->snap);
        } else if (err == TOKEN_E_CARD_UNSUPPORTED) {
            r->unrecognised = true;
        }
    }
    pthread_mutex_unlock(&svc->lock);
    token_snapshot_unref(snap);
    if (err && err != TOKEN_E_CARD_UNSUPPORTED) {
        char msg[160];

        snprintf(msg, sizeof(msg), "reading the token in \"%s\" failed (%s); it will be read "
                 "again on use", reader, token_err_name(err));
        svc_log(svc, LOG_WARNING, NULL, msg);
    }
    return result;
}

/* ---- the monitor's view ---- */

static void on_reader_added(struct token_service *svc, const struct pcsc_reader *pr)
{
    struct reader_entry *list;
    bool added = false;

    pthread_mutex_lock(&svc->lock);
    svc->pcsc_up = true;   /* a reader reported is pcscd answering, scan finished or not */
    if (!find_reader(svc, pr->name)) {
        list = realloc(svc->readers, (svc->n_readers + 1) * sizeof(*list));
        if (list) {
            svc->readers = list;
            memset(&list[svc->n_readers], 0, sizeof(*list));
            list[svc->n_readers].name = strdup(pr->name);
            if (list[svc->n_readers].name) {
                svc->n_readers++;
                added = true;
            }
        }
    }
    pthread_mutex_unlock(&svc->lock);
    if (added)
        svc_emit_simple(svc, TOKEN_EV_READER_ADDED, pr->name, NULL);
}

static void on_reader_removed(struct token_service *svc, const struct pcsc_reader *pr)
{
    struct reader_entry *r;
    bool removed = false;

    pthread_mutex_lock(&svc->lock);
    r = find_reader(svc, pr->name);
    if (r) {
        free(r->name);
        token_snapshot_unref(r->snap);
        card_job_unref(r->stuck_read);
        *r = svc->readers[--svc->n_readers];
        removed = true;
    }
    pthread_mutex_unlock(&svc->lock);
    if (removed)
        svc_emit_simple(svc, TOKEN_EV_READER_REMOVED, pr->name, NULL);
}

static void on_card_inserted(struct token_service *svc, const struct pcsc_reader *pr)
{
    struct token_snapshot *snap;
    struct reader_entry *r;

    pthread_mutex_lock(&svc->lock);
    r = find_reader(svc, pr->name);
    if (r) {
        r->card_present = true;
        r->unrecognised = false;
        r->atr_len = pr->atr_len <= TOKEN_ATR_MAX ? pr->atr_len : 0;
        memcpy(r->atr, pr->atr, r->atr_len);
    }
    pthread_mutex_unlock(&svc->lock);
    if (!r)
        return;
    snap = refresh_reader(svc, pr->name);
    if (snap) {
        svc_log(svc, LOG_INFO, snap->id, "token inserted");
        svc_emit_simple(svc, TOKEN_EV_TOKEN_INSERTED, pr->name, snap->id);
        token_snapshot_unref(snap);
    }
}

static void on_card_removed(struct token_service *svc, const struct pcsc_reader *pr)
{
    struct token_snapshot *old = NULL;
    struct reader_entry *r;

    pthread_mutex_lock(&svc->lock);
    r = find_reader(svc, pr->name);
    if (r) {
        old = r->snap;
        r->snap = NULL;
        r->card_present = false;
        r->unrecognised = false;
        r->atr_len = 0;
        r->edge = NULL;
    }
    pthread_mutex_unlock(&svc->lock);
    if (old) {
        svc_log(svc, LOG_INFO, old->id, "token removed");
        svc_emit_simple(svc, TOKEN_EV_TOKEN_REMOVED, pr->name, old->id);
        token_snapshot_unref(old);
    }
}

static void set_ready(struct token_service *svc)
{
    pthread_mutex_lock(&svc->lock);
    svc->ready = true;
    pthread_cond_broadcast(&svc->ready_cond);
    pthread_mutex_unlock(&svc->lock);
}

static void on_service_change(struct token_service *svc, bool up)
{
    pthread_mutex_lock(&svc->lock);
    svc->pcsc_up = up;
    pthread_mutex_unlock(&svc->lock);
    svc_log(svc, up ? LOG_NOTICE : LOG_WARNING, NULL,
            up ? "pcscd is reachable again" : "pcscd is not reachable");
    svc_emit_simple(svc, up ? TOKEN_EV_PCSC_BACK : TOKEN_EV_PCSC_LOST, NULL, NULL);
}

static void on_pcsc_change(const struct pcsc_change *ch, void *userdata)
{
    struct token_service *svc = userdata;

    switch (ch->kind) {
    case PCSC_CHANGE_READER_ADDED:
        on_reader_added(svc, ch->reader);
        break;
    case PCSC_CHANGE_READER_REMOVED:
        on_reader_removed(svc, ch->reader);
        break;
    case PCSC_CHANGE_CARD_INSERTED:
        on_card_inserted(svc, ch->reader);
        break;
    case PCSC_CHANGE_CARD_REMOVED:
        on_card_removed(svc, ch->reader);
        break;
    case PCSC_CHANGE_SERVICE_LOST:
        on_service_change(svc, false);
        break;
    case PCSC_CHANGE_SERVICE_BACK:
        on_service_change(svc, true);
        break;
    case PCSC_CHANGE_SCAN_DONE:
        pthread_mutex_lock(&svc->lock);
        svc->pcsc_up = true;
        pthread_mutex_unlock(&svc->lock);
        break;
    }
    if (ch->kind == PCSC_CHANGE_SCAN_DONE || ch->kind == PCSC_CHANGE_SERVICE_LOST)
        set_ready(svc);
}

/* ---- life cycle ---- */

static void wait_ready(struct token_service *svc)
{
    struct timespec until;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += SERVICE_READY_TIMEOUT_MS / 1000;
    pthread_mutex_lock(&svc->lock);
    while (!svc->ready &&
           pthread_cond_timedwait(&svc->ready_cond, &svc->lock, &until) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&svc->lock);
}

token_err token_service_new(const struct token_service_config *cfg, struct token_service **out)
{
    struct token_service *svc;
    pthread_condattr_t ca;
    token_err err;

    if (!out)
        return TOKEN_E_INVALID_ARG;
    svc = calloc(1, sizeof(*svc));
    if (!svc)
        return TOKEN_E_NO_MEMORY;
    if (cfg)
        svc->cfg = *cfg;
    pthread_mutex_init(&svc->lock, NULL);
    pthread_mutex_init(&svc->subs_lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&svc->ready_cond, &ca);
    pthread_condattr_destroy(&ca);

    err = pcsc_monitor_start(on_pcsc_change, svc, &svc->mon);
    if (err) {
        token_service_free(svc);
        return err;
    }
    /* callers' first listing should already show the tokens that are plugged in */
    wait_ready(svc);
    *out = svc;
    return TOKEN_OK;
}

void token_service_free(struct token_service *svc)
{
    struct token_lock *l, *next;
    size_t i;

    if (!svc)
        return;
    /* the monitor first: its reads start card jobs */
    pcsc_monitor_stop(svc->mon);
    card_jobs_stop();
    for (i = 0; i < svc->n_readers; i++) {
        free(svc->readers[i].name);
        token_snapshot_unref(svc->readers[i].snap);
        card_job_unref(svc->readers[i].stuck_read);
    }
    free(svc->readers);
    for (l = svc->locks; l; l = next) {
        next = l->next;
        /* taking the lock waits for an operation still in flight */
        pthread_mutex_lock(&l->m);
        pthread_mutex_unlock(&l->m);
        pthread_mutex_destroy(&l->m);
        card_job_unref(l->stuck);
        free(l->id);
        free(l);
    }
    free(svc->subs);
    pthread_cond_destroy(&svc->ready_cond);
    pthread_mutex_destroy(&svc->subs_lock);
    pthread_mutex_destroy(&svc->lock);
    free(svc);
}

unsigned token_service_subscribe(struct token_service *svc, token_event_fn fn, void *userdata)
{
    struct subscriber *subs;
    unsigned id = 0;

    if (!svc || !fn)
        return 0;
    pthread_mutex_lock(&svc->subs_lock);
    subs = realloc(svc->subs, (svc->n_subs + 1) * sizeof(*subs));
    if (subs) {
        svc->subs = subs;
        id = ++svc->next_sub_id;
        subs[svc->n_subs++] = (struct subscriber){id, fn, userdata};
    }
    pthread_mutex_unlock(&svc->subs_lock);
    return id;
}

void token_service_unsubscribe(struct token_service *svc, unsigned id)
{
    size_t i;

    if (!svc)
        return;
    pthread_mutex_lock(&svc->subs_lock);
    for (i = 0; i < svc->n_subs; i++) {
        if (svc->subs[i].id == id) {
            svc->subs[i] = svc->subs[--svc->n_subs];
            break;
        }
    }
    pthread_mutex_unlock(&svc->subs_lock);
}

/* ---- reads ---- */

token_err token_service_status(struct token_service *svc, struct token_status *out)
{
    size_t i;

    if (!svc || !out)
        return TOKEN_E_INVALID_ARG;
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&svc->lock);
    out->pcsc_available = svc->pcsc_up;
    out->n_readers = svc->n_readers;
    for (i = 0; i < svc->n_readers; i++)
        out->n_tokens += svc->readers[i].snap != NULL;
    pthread_mutex_unlock(&svc->lock);
    return TOKEN_OK;
}

token_err token_service_readers(struct token_service *svc, struct token_reader **out, size_t *n)
{
    struct token_reader *list = NULL;
    token_err err = TOKEN_OK;
    size_t i, count;

    if (!svc || !out || !n)
        return TOKEN_E_INVALID_ARG;
    pthread_mutex_lock(&svc->lock);
    count = svc->n_readers;
    if (!svc->pcsc_up) {
        err = TOKEN_E_PCSC_UNAVAILABLE;
        goto out;
    }
    list = calloc(count ? count : 1, sizeof(*list));
    if (!list) {
        err = TOKEN_E_NO_MEMORY;
        goto out;
    }
    for (i = 0; i < count; i++) {
        const struct reader_entry *r = &svc->readers[i];

        list[i].name = strdup(r->name);
        list[i].token_id = r->snap ? strdup(r->snap->id) : NULL;
        if (!list[i].name || (r->snap && !list[i].token_id))
            err = TOKEN_E_NO_MEMORY;
        list[i].card_present = r->card_present;
        list[i].atr_len = r->atr_len;
        memcpy(list[i].atr, r->atr, r->atr_len);
    }
out:
    pthread_mutex_unlock(&svc->lock);
    if (err) {
        token_readers_free(list, count);
        return err;
    }
    *out = list;
    *n = count;
    return TOKEN_OK;
}

void token_readers_free(struct token_reader *list, size_t n)
{
    size_t i;

    if (!list)
        return;
    for (i = 0; i < n; i++) {
        free(list[i].name);
        free(list[i].token_id);
    }
    free(list);
}

/* Names of readers with a card that has not been read successfully yet. */
static char **unread_readers(struct token_service *svc, size_t *n)
{
    char **names;
    size_t i;

    *n = 0;
    pthread_mutex_lock(&svc->lock);
    names = calloc(svc->n_readers + 1, sizeof(*names));
    for (i = 0; names && i < svc->n_readers; i++) {
        const struct reader_entry *r = &svc->readers[i];

        if (r->card_present && !r->snap && !r->unrecognised) {
            names[*n] = strdup(r->name);
            if (names[*n])
                (*n)++;
        }
    }
    pthread_mutex_unlock(&svc->lock);
    return names;
}

/* A card whose first read failed (busy, reset) is read on demand. */
static void read_missing(struct token_service *svc)
{
    size_t n, i;
    char **names = unread_readers(svc, &n);

    for (i = 0; names && i < n; i++) {
        token_snapshot_unref(refresh_reader(svc, names[i]));
        free(names[i]);
    }
    free(names);
}

token_err token_service_tokens(struct token_service *svc, struct token_snapshot ***out, size_t *n)
{
    struct token_snapshot **list;
    token_err err = TOKEN_OK;
    size_t i, count = 0;

    if (!svc || !out || !n)
        return TOKEN_E_INVALID_ARG;
    read_missing(svc);
    pthread_mutex_lock(&svc->lock);
    if (!svc->pcsc_up) {
        pthread_mutex_unlock(&svc->lock);
        return TOKEN_E_PCSC_UNAVAILABLE;
    }
    list = calloc(svc->n_readers + 1, sizeof(*list));
    if (!list)
        err = TOKEN_E_NO_MEMORY;
    for (i = 0; list && i < svc->n_readers; i++)
        if (svc->readers[i].snap)
            list[count++] = token_snapshot_ref(svc->readers[i].snap);
    pthread_mutex_unlock(&svc->lock);
    if (err)
        return err;
    *out = list;
    *n = count;
    return TOKEN_OK;
}

token_err token_service_get(struct token_service *svc, const char *id, struct token_snapshot **out)
{
    struct reader_entry *r;
    token_err err = TOKEN_OK;

    if (!svc || !id || !out)
        return TOKEN_E_INVALID_ARG;
    read_missing(svc);
    pthread_mutex_lock(&svc->lock);
    r = find_token(svc, id);
    if (!svc->pcsc_up)
        err = TOKEN_E_PCSC_UNAVAILABLE;
    else if (!r)
        err = TOKEN_E_TOKEN_NOT_FOUND;
    else
        *out = token_snapshot_ref(r->snap);
    pthread_mutex_unlock(&svc->lock);
    return err;
}

/* ---- operations on one token ---- */

static struct token_lock *token_lock_get(struct token_service *svc, const char *id)
{
    struct token_lock *l;

    pthread_mutex_lock(&svc->lock);
    for (l = svc->locks; l; l = l->next)
        if (strcmp(l->id, id) == 0)
            break;
    if (!l) {
        l = calloc(1, sizeof(*l));
        if (l && !(l->id = strdup(id))) {
            free(l);
            l = NULL;
        }
        if (l) {
            pthread_mutex_init(&l->m, NULL);
            l->unlock_tries_seen = -1;
            l->next = svc->locks;
            svc->locks = l;
        }
    }
    pthread_mutex_unlock(&svc->lock);
    return l;
}

static long ms_since(const struct timespec *then)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - then->tv_sec) * 1000L + (now.tv_nsec - then->tv_nsec) / 1000000L;
}

/* Spaces PIN attempts on one token; called with the token's lock held. */
static void pace_attempt(struct token_service *svc, struct token_lock *l)
{
    long wait;

    if (svc->cfg.pin_pacing_ms && (l->last_attempt.tv_sec || l->last_attempt.tv_nsec)) {
        wait = (long)svc->cfg.pin_pacing_ms - ms_since(&l->last_attempt);
        if (wait > 0) {
            struct timespec ts = {wait / 1000, (wait % 1000) * 1000000L};

            while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
                ;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &l->last_attempt);
}

enum pin_op { OP_VERIFY, OP_CHANGE_PIN, OP_UNBLOCK, OP_CHANGE_PUK, OP_PIN_INFO };

struct pin_request {
    enum pin_op op;
    const char *a, *b;      /* the secrets, per op */
    unsigned flags;
    /* work done while the PIN just presented is verified (signing a request) */
    card_work_fn then;
    void *then_arg;
};

struct pin_result {
    int tries_left;         /* the counter the operation speaks of */
    int unlock_tries;       /* the unlock secret's tries left as last known, -1 when not */
    int pin_tries;          /* the PIN counter afterwards */
    bool pin_blocked;
    bool accepted;          /* the card took the PIN or PUK */
};

static token_err check_policies(const struct card_edge *edge, const struct pin_request *req)
{
    switch (req->op) {
    case OP_VERIFY:
        return edge_check_pin_policy(&edge->pin_policy, req->a);
    case OP_CHANGE_PIN:
        if (edge_check_pin_policy(&edge->pin_policy, req->a))
            return TOKEN_E_PIN_POLICY;
        return edge_check_pin_policy(&edge->pin_policy, req->b);
    /* A PUK comes from whoever keeps it (the CA): one that breaks the PUK
     * rules is its keeper's error, told apart from the user's new PIN. */
    case OP_UNBLOCK:
        if (edge_check_pin_policy(&edge->puk_policy, req->a))
            return TOKEN_E_PUK_POLICY;
        return edge_check_pin_policy(&edge->pin_policy, req->b);
    case OP_CHANGE_PUK:
        if (edge_check_pin_policy(&edge->puk_policy, req->a) ||
            edge_check_pin_policy(&edge->puk_policy, req->b))
            return TOKEN_E_PUK_POLICY;
        return TOKEN_OK;
    case OP_PIN_INFO:
        return TOKEN_OK;
    }
    return TOKEN_E_INVALID_ARG;
}

/* Which secret an operation presents to the card. */
enum secret_kind {
    SECRET_NONE,
    SECRET_PIN,             /* the user's PIN: the user may choose to spend its last try */
    SECRET_UNLOCK,          /* an unlock secret (PIV PUK; an SKF admin PIN, a PKCS#11 SO PIN
                             * when those providers come): a blocked one is beyond repair */
};

static enum secret_kind secret_presented(enum pin_op op)
{
    switch (op) {
    case OP_VERIFY:
    case OP_CHANGE_PIN:
        return SECRET_PIN;
    case OP_UNBLOCK:
    case OP_CHANGE_PUK:
        return SECRET_UNLOCK;
    case OP_PIN_INFO:
        break;
    }
    return SECRET_NONE;
}

/*
 * An unlock secret's last try is never spent, whoever asks: it comes from a
 * CA's record, and a wrong record must not cost the token its unlock for
 * good. The counter is read first (costs nothing); a card that cannot tell
 * is judged by the count its last answer to that secret gave in this
 * process, and goes ahead when there is none. `res->unlock_tries` gets the
 * count.
 */
static token_err guard_unlock_last_try(struct card_session *cs, struct pin_result *res)
{
    int tries = -1;
    bool blocked = false;
    token_err err = cs->edge->unlock_state ? cs->edge->unlock_state(cs->t, &tries, &blocked)
                                           : TOKEN_E_NOT_SUPPORTED;

    if (err == TOKEN_E_NOT_SUPPORTED) {
        tries = res->unlock_tries;
        blocked = tries == 0;
        err = TOKEN_OK;
    }
    if (err)
        return err;
    res->unlock_tries = tries;
    if (blocked)
        return TOKEN_E_PUK_BLOCKED;
    if (tries == 1)
        return TOKEN_E_PUK_LAST_TRY;
    return TOKEN_OK;
}

/* Refuses an attempt that would spend the last try: a PIN's unless allowed,
 * an unlock secret's always. */
static token_err guard_last_try(struct card_session *cs, const struct pin_request *req,
                                struct pin_result *res)
{
    int tries = -1;
    bool blocked = false;
    token_err err;

    switch (secret_presented(req->op)) {
    case SECRET_NONE:
        return TOKEN_OK;
    case SECRET_UNLOCK:
        return guard_unlock_last_try(cs, res);
    case SECRET_PIN:
        break;
    }
    err = cs->edge->pin_state(cs->t, &tries, &blocked);
    if (err)
        return err;
    if (blocked)
        return TOKEN_E_PIN_BLOCKED;
    if (tries == 1 && !(req->flags & TOKEN_PIN_ALLOW_LAST_TRY))
        return TOKEN_E_PIN_LAST_TRY;
    return TOKEN_OK;
}

static token_err run_pin_op(struct card_session *cs, const struct pin_request *req, int *tries)
{
    switch (req->op) {
    case OP_VERIFY:
        return cs->edge->verify_pin(cs->t, req->a, tries);
    case OP_CHANGE_PIN:
        return cs->edge->change_pin(cs->t, req->a, req->b, tries);
    case OP_UNBLOCK:
        return cs->edge->unblock_pin(cs->t, req->a, req->b, tries);
    case OP_CHANGE_PUK:
        return cs->edge->change_puk(cs->t, req->a, req->b, tries);
    case OP_PIN_INFO:
        return TOKEN_OK;
    }
    return TOKEN_E_INVALID_ARG;
}

/* The token in the reader must still be the one the caller named. */
static token_err check_same_token(struct card_session *cs, const char *id)
{
    struct edge_identity ident = {0};
    size_t atr_len;
    const uint8_t *atr = pcsc_card_atr(cs->card, &atr_len);
    token_err err = cs->edge->identify(cs->t, atr, atr_len, &ident);

    if (!err && strcmp(ident.id, id) != 0)
        err = TOKEN_E_TOKEN_REMOVED;
    edge_identity_clear(&ident);
    return err;
}

/* What the card's answer to an unlock secret says of its counter: a right
 * one restores it to a limit the card may not tell, a wrong one counts it. */
static void note_unlock_tries(token_err err, struct pin_result *res)
{
    if (err == TOKEN_OK)
        res->unlock_tries = -1;
    else if (err == TOKEN_E_PUK_INCORRECT && res->tries_left >= 0)
        res->unlock_tries = res->tries_left;
    else if (err == TOKEN_E_PUK_BLOCKED)
        res->unlock_tries = 0;
}

struct pin_work {
    const char *id;
    const struct pin_request *req;
    struct pin_result *res;
};

/*
 * Inside one transaction: re-identify, guard, operate, then read the PIN
 * state the user sees next. Only work that presented a PIN or PUK logs out:
 * a read must not log out another program the user verified in (a browser's
 * PKCS#11 module signing, say).
 */
static token_err pin_work(struct card_session *cs, void *arg)
{
    struct pin_work *w = arg;
    bool presented = false;
    token_err err, state_err;

    err = check_same_token(cs, w->id);
    if (!err)
        err = guard_last_try(cs, w->req, w->res);
    if (!err && w->req->op != OP_PIN_INFO) {
        presented = true;
        err = run_pin_op(cs, w->req, &w->res->tries_left);
        w->res->accepted = !err;
        if (secret_presented(w->req->op) == SECRET_UNLOCK)
            note_unlock_tries(err, w->res);
        if (!err && w->req->then)
            err = w->req->then(cs, w->req->then_arg);
    }
    if (err == TOKEN_E_TOKEN_REMOVED || err == TOKEN_E_PCSC_UNAVAILABLE)
        return err;
    if (presented && cs->edge->logout(cs->t) != TOKEN_OK) {
        cs->needs_reset = true;   /* a verified PIN must not outlive us */
        return err;
    }
    state_err = cs->edge->pin_state(cs->t, &w->res->pin_tries, &w->res->pin_blocked);
    return err ? err : state_err;
}

/* Runs work on the token's card; called with the token's lock held. */
static token_err run_on_token(struct token_service *svc, struct token_lock *l, const char *reader,
                              const struct card_edge *edge, card_work_fn work, void *arg)
{
    token_err err;

    if (l->stuck) {
        if (card_job_still_waiting(l->stuck))
            return TOKEN_E_TOKEN_BUSY;   /* never queue a second attempt behind the first */
        card_job_unref(l->stuck);
        l->stuck = NULL;
    }
    err = card_job_run(reader, edge, card_wait_ms(svc), work, arg, NULL, &l->stuck);
    if (err == TOKEN_E_TOKEN_NOT_FOUND || err == TOKEN_E_CARD_UNSUPPORTED ||
        err == TOKEN_E_READER_NOT_FOUND)
        err = TOKEN_E_TOKEN_REMOVED;   /* it was there when the caller asked */
    return err;
}

/* Stores new PIN state in the cache and tells subscribers when it changed. */
static void publish_pin_state(struct token_service *svc, const char *id, const struct pin_result *res)
{
    struct token_snapshot *fresh = NULL;
    struct reader_entry *r;
    struct token_pin_info pin;
    char *reader = NULL;
    bool changed = false;

    pthread_mutex_lock(&svc->lock);
    r = find_token(svc, id);
    if (r) {
        pin = r->snap->pin;
        changed = pin.tries_left != res->pin_tries || pin.blocked != res->pin_blocked;
        pin.tries_left = res->pin_tries;
        pin.blocked = res->pin_blocked;
        if (changed)
            fresh = snapshot_with_pin(r->snap, &pin);
        if (fresh) {
            token_snapshot_unref(r->snap);
            r->snap = fresh;
            reader = strdup(r->name);
        }
    }
    pthread_mutex_unlock(&svc->lock);
    if (fresh) {
        struct token_event ev = {.kind = TOKEN_EV_PIN_CHANGED, .reader = reader, .token_id = id,
                                 .tries_left = res->pin_tries, .blocked = res->pin_blocked};

        svc_emit(svc, &ev);
    }
    free(reader);
}

/* The reader (a copy) and the driver of token `id`, reading it first when the monitor could not. */
static token_err locate_token(struct token_service *svc, const char *id, char **reader_out,
                              const struct card_edge **edge_out)
{
    const struct card_edge *edge = NULL;
    char *reader = NULL;
    struct reader_entry *r;
    token_err err;

    pthread_mutex_lock(&svc->lock);
    r = svc->pcsc_up ? find_token(svc, id) : NULL;
    pthread_mutex_unlock(&svc->lock);
    if (!r)
        read_missing(svc);   /* the monitor's read may have failed: try once more */
    pthread_mutex_lock(&svc->lock);
    r = svc->pcsc_up ? find_token(svc, id) : NULL;
    if (r) {
        edge = r->edge;
        reader = strdup(r->name);
    }
    err = !svc->pcsc_up ? TOKEN_E_PCSC_UNAVAILABLE
          : !r          ? TOKEN_E_TOKEN_NOT_FOUND
          : !reader     ? TOKEN_E_NO_MEMORY
                        : TOKEN_OK;
    pthread_mutex_unlock(&svc->lock);
    *reader_out = reader;
    *edge_out = edge;
    return err;
}

static token_err token_pin_operation(struct token_service *svc, const char *id,
                                     const struct pin_request *req, struct pin_result *res)
{
    const struct card_edge *edge = NULL;
    struct pin_work w = {id, req, res};
    struct token_lock *l;
    char *reader = NULL;
    token_err err;

    res->tries_left = res->pin_tries = res->unlock_tries = -1;
    res->pin_blocked = false;
    res->accepted = false;
    err = locate_token(svc, id, &reader, &edge);
    if (!err)
        err = check_policies(edge, req);
    if (err)
        goto out;

    l = token_lock_get(svc, id);
    if (!l) {
        err = TOKEN_E_NO_MEMORY;
        goto out;
    }
    pthread_mutex_lock(&l->m);
    if (req->op != OP_PIN_INFO)
        pace_attempt(svc, l);
    res->unlock_tries = l->unlock_tries_seen;
    err = run_on_token(svc, l, reader, edge, pin_work, &w);
    if (secret_presented(req->op) == SECRET_UNLOCK && err != TOKEN_E_TOKEN_REMOVED)
        l->unlock_tries_seen = res->unlock_tries;
    pthread_mutex_unlock(&l->m);
    if (res->pin_tries >= 0 || res->pin_blocked)
        publish_pin_state(svc, id, res);
out:
    free(reader);
    return err;
}

token_err token_service_pin_info(struct token_service *svc, const char *id,
                                 struct token_pin_info *out)
{
    struct pin_request req = {.op = OP_PIN_INFO};
    struct pin_result res;
    _cleanup_snapshot_ struct token_snapshot *snap = NULL;
    token_err err;

    if (!svc || !id || !out)
        return TOKEN_E_INVALID_ARG;
    err = token_pin_operation(svc, id, &req, &res);
    if (err)
        return err;
    err = token_service_get(svc, id, &snap);
    if (err)
        return err;
    *out = snap->pin;
    out->tries_left = res.pin_tries;
    out->blocked = res.pin_blocked;
    return TOKEN_OK;
}

static token_err pin_call_then(struct token_service *svc, const char *id, enum pin_op op,
                               const char *a, const char *b, unsigned flags, card_work_fn then,
                               void *then_arg, int *tries_left)
{
    struct pin_request req = {.op = op, .a = a, .b = b, .flags = flags, .then = then,
                              .then_arg = then_arg};
    struct pin_result res;
    token_err err;

    if (!svc || !id || !a || ((op == OP_CHANGE_PIN || op == OP_UNBLOCK || op == OP_CHANGE_PUK) && !b))
        return TOKEN_E_INVALID_ARG;
    err = token_pin_operation(svc, id, &req, &res);
    if (tries_left) {
        /* PIN errors and PIN successes speak of the PIN counter; PUK ones of the PUK's */
        bool puk_op = op == OP_UNBLOCK || op == OP_CHANGE_PUK;

        *tries_left = puk_op || !res.accepted ? res.tries_left : res.pin_tries;
        if (err == TOKEN_E_PIN_LAST_TRY || err == TOKEN_E_PUK_LAST_TRY)
            *tries_left = 1;
        if (err == TOKEN_E_PIN_BLOCKED || err == TOKEN_E_PUK_BLOCKED)
            *tries_left = 0;
    }
    return err;
}

static token_err pin_call(struct token_service *svc, const char *id, enum pin_op op,
                          const char *a, const char *b, unsigned flags, int *tries_left)
{
    return pin_call_then(svc, id, op, a, b, flags, NULL, NULL, tries_left);
}

token_err token_service_verify_pin(struct token_service *svc, const char *id, const char *pin,
                                   unsigned flags, int *tries_left)
{
    return pin_call(svc, id, OP_VERIFY, pin, NULL, flags, tries_left);
}

token_err token_service_change_pin(struct token_service *svc, const char *id, const char *old_pin,
                                   const char *new_pin, unsigned flags, int *tries_left)
{
    return pin_call(svc, id, OP_CHANGE_PIN, old_pin, new_pin, flags, tries_left);
}

token_err token_service_unblock_pin(struct token_service *svc, const char *id, const char *puk,
                                    const char *new_pin, int *puk_tries_left)
{
    return pin_call(svc, id, OP_UNBLOCK, puk, new_pin, 0, puk_tries_left);
}

token_err token_service_change_puk(struct token_service *svc, const char *id, const char *old_puk,
                                   const char *new_puk, int *puk_tries_left)
{
    return pin_call(svc, id, OP_CHANGE_PUK, old_puk, new_puk, 0, puk_tries_left);
}

/* ---- lent to the other modules of the service (service_internal.h) ---- */

token_err service_token_job(struct token_service *svc, const char *id,
                            bool (*edge_ok)(const struct card_edge *edge), card_work_fn work,
                            void *arg, char **reader)
{
    const struct card_edge *edge = NULL;
    struct token_lock *l = NULL;
    token_err err = locate_token(svc, id, reader, &edge);

    if (!err && edge_ok && !edge_ok(edge))
        err = TOKEN_E_NOT_SUPPORTED;
    if (!err && !(l = token_lock_get(svc, id)))
        err = TOKEN_E_NO_MEMORY;
    if (err)
        return err;
    pthread_mutex_lock(&l->m);
    err = run_on_token(svc, l, *reader, edge, work, arg);
    pthread_mutex_unlock(&l->m);
    return err;
}

token_err service_verify_pin_then(struct token_service *svc, const char *id, const char *pin,
                                  unsigned flags, card_work_fn work, void *arg, int *tries_left)
{
    return pin_call_then(svc, id, OP_VERIFY, pin, NULL, flags, work, arg, tries_left);
}

token_err service_same_token(struct card_session *cs, const char *id)
{
    return check_same_token(cs, id);
}

void service_certs_changed(struct token_service *svc, const char *reader, const char *id)
{
    token_snapshot_unref(refresh_reader(svc, reader));
    svc_log(svc, LOG_NOTICE, id, "certificates on the token changed");
    svc_emit_simple(svc, TOKEN_EV_CERTS_CHANGED, reader, id);
}

/* ---- re-scan on request (environment repair) ---- */

/* Waits for the monitor's next full scan with pcscd up: it sets `ready` at
 * the end of each scan, and also when it finds pcscd gone — which a restart
 * in progress shows first — so that case is waited through. */
static bool wait_next_scan(struct token_service *svc, unsigned wait_ms)
{
    struct timespec until;
    bool up = false;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&svc->lock);
    svc->ready = false;
    for (;;) {
        if (svc->ready && svc->pcsc_up) {
            up = true;
            break;
        }
        svc->ready = false;
        if (pthread_cond_timedwait(&svc->ready_cond, &svc->lock, &until) == ETIMEDOUT)
            break;
    }
    svc->ready = true;
    pthread_mutex_unlock(&svc->lock);
    return up;
}

/* Names of readers holding a card, recognised or not; forgets that a card
 * was unrecognised so it gets another chance. */
static char **present_readers(struct token_service *svc, size_t *n)
{
    char **names;
    size_t i;

    *n = 0;
    pthread_mutex_lock(&svc->lock);
    names = calloc(svc->n_readers + 1, sizeof(*names));
    for (i = 0; names && i < svc->n_readers; i++) {
        struct reader_entry *r = &svc->readers[i];

        if (!r->card_present)
            continue;
        r->unrecognised = false;
        names[*n] = strdup(r->name);
        if (names[*n])
            (*n)++;
    }
    pthread_mutex_unlock(&svc->lock);
    return names;
}

token_err token_service_rescan(struct token_service *svc, unsigned wait_ms)
{
    size_t n, i;
    char **names;

    if (!svc)
        return TOKEN_E_INVALID_ARG;
    if (!wait_next_scan(svc, wait_ms))
        return TOKEN_E_PCSC_UNAVAILABLE;
    names = present_readers(svc, &n);
    if (!names)
        return TOKEN_E_NO_MEMORY;
    for (i = 0; i < n; i++) {
        token_snapshot_unref(refresh_reader(svc, names[i]));
        free(names[i]);
    }
    free(names);
    return TOKEN_OK;
}
