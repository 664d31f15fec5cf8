/* SPDX-License-Identifier: MIT */
/*
 * token/pcsc/provider.c — the PC/SC provider of tokens (token/provider.h):
 * cards in pcscd's readers, spoken to through the card-edge drivers (PIV).
 *
 * The monitor thread keeps one entry per reader; when a card arrives it is
 * read once (identity, certificates, PIN state) into a snapshot published to
 * the service's cache, where reads are served until the monitor reports a
 * change. Every operation on a card runs as a card job (cardjob.h) inside
 * one transaction that also re-checks which token is in the reader, and ends
 * by dropping the card's verified state. The operations on key slots
 * (keyslot.c) run the same way, through provider_internal.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "token/pcsc/cardjob.h"
#include "token/pcsc/edge.h"
#include "token/pcsc/pcsc.h"
#include "token/provider.h"
#include "token/pcsc/provider_internal.h"
#include "token/token.h"

#define SERVICE_READY_TIMEOUT_MS 3000
/* How long a caller waits for a card another process holds in a transaction. */
#define SERVICE_CARD_WAIT_MS_DEFAULT 5000

struct reader_entry {
    char *name;
    bool card_present;
    bool unrecognised;          /* a card no driver speaks to */
    uint8_t atr[TOKEN_ATR_MAX];
    size_t atr_len;
    char *token_id;             /* of the card read and published, NULL before */
    const struct card_edge *edge;
    struct card_job *stuck_read;   /* a read given up on, still waiting for the card */
};

/* An operation given up on, still waiting for its token's card; kept for the
 * provider's life, touched only under the token's lock. */
struct stuck_op {
    char *id;
    struct card_job *job;
    struct stuck_op *next;
};

struct pcsc_provider {
    struct token_provider base;

    pthread_mutex_t lock;            /* readers, pcsc_up, ready, stuck list */
    pthread_cond_t ready_cond;
    bool ready;
    bool pcsc_up;
    struct reader_entry *readers;
    size_t n_readers;
    struct stuck_op *stuck;

    struct pcsc_monitor *mon;
};

static const struct provider_ops pcsc_ops;

static struct pcsc_provider *pp(struct token_provider *p)
{
    return (struct pcsc_provider *)p;
}

static void pp_log(struct pcsc_provider *pv, int prio, const char *token_id, const char *msg)
{
    service_log(pv->base.svc, prio, token_id, msg);
}

static void pp_emit_simple(struct pcsc_provider *pv, enum token_event_kind kind,
                           const char *reader, const char *token_id)
{
    struct token_event ev = {.kind = kind, .reader = reader, .token_id = token_id,
                             .tries_left = -1};

    service_emit(pv->base.svc, &ev);
}

static unsigned card_wait_ms(struct pcsc_provider *pv)
{
    unsigned ms = service_config(pv->base.svc)->card_wait_ms;

    return ms ? ms : SERVICE_CARD_WAIT_MS_DEFAULT;
}

static struct reader_entry *find_reader(struct pcsc_provider *pv, const char *name)
{
    size_t i;

    for (i = 0; i < pv->n_readers; i++)
        if (strcmp(pv->readers[i].name, name) == 0)
            return &pv->readers[i];
    return NULL;
}

static struct reader_entry *find_token(struct pcsc_provider *pv, const char *id)
{
    size_t i;

    for (i = 0; i < pv->n_readers; i++)
        if (pv->readers[i].token_id && strcmp(pv->readers[i].token_id, id) == 0)
            return &pv->readers[i];
    return NULL;
}

static void pin_info_from_edge(struct token_pin_info *pin, const struct card_edge *edge,
                               int tries_left, bool blocked)
{
    pin->tries_left = tries_left;
    pin->tries_max = -1;
    pin->blocked = blocked;
    pin->is_default = TOKEN_PIN_DEFAULT_UNKNOWN;
    pin->min_len = edge->pin_policy.min_len;
    pin->max_len = edge->pin_policy.max_len;
    pin->charset = edge->pin_policy.charset;
}

static unsigned edge_caps(const struct card_edge *edge)
{
    unsigned caps = 0;

    if (edge->unblock_pin)
        caps |= TOKEN_CAP_UNLOCK_PUK;
    if (edge->write_cert && edge->mgmt_auth)
        caps |= TOKEN_CAP_CERT_WRITE;
    return caps;
}

/* Reads everything the snapshot shows, inside the session's transaction. */
static token_err read_snapshot(struct card_session *cs, const char *reader,
                               struct token_snapshot **out)
{
    struct edge_identity ident = {0};
    struct token_snapshot *s;
    struct token_cert *certs = NULL;
    size_t n_certs = 0;
    const uint8_t *atr;
    int tries = -1;
    bool blocked = false;
    token_err err;

    s = service_snapshot_new();
    if (!s)
        return TOKEN_E_NO_MEMORY;
    atr = pcsc_card_atr(cs->card, &s->atr_len);
    memcpy(s->atr, atr, s->atr_len);

    err = cs->edge->identify(cs->t, s->atr, s->atr_len, &ident);
    if (!err)
        err = cs->edge->read_certs(cs->t, &certs, &n_certs);
    if (!err)
        service_snapshot_set_certs(s, certs, n_certs);
    if (!err)
        err = cs->edge->pin_state(cs->t, &tries, &blocked);
    if (err)
        goto fail;
    service_summarize_certs(s->certs, s->n_certs);

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
    s->caps = edge_caps(cs->edge);
    pin_info_from_edge(&s->pin, cs->edge, tries, blocked);
    *out = s;
    return TOKEN_OK;
fail:
    edge_identity_clear(&ident);
    token_snapshot_unref(s);
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

/* False while an earlier read of this reader still waits for the card. */
static bool reader_free_to_read(struct pcsc_provider *pv, const char *reader)
{
    struct card_job *done = NULL;
    struct reader_entry *r;
    bool free_to_read = true;

    pthread_mutex_lock(&pv->lock);
    r = find_reader(pv, reader);
    if (r && r->stuck_read) {
        if (card_job_still_waiting(r->stuck_read))
            free_to_read = false;
        else {
            done = r->stuck_read;
            r->stuck_read = NULL;
        }
    }
    pthread_mutex_unlock(&pv->lock);
    card_job_unref(done);
    return free_to_read;
}

static void remember_stuck_read(struct pcsc_provider *pv, const char *reader,
                                struct card_job *job)
{
    struct reader_entry *r;

    pthread_mutex_lock(&pv->lock);
    r = find_reader(pv, reader);
    if (r && !r->stuck_read) {
        r->stuck_read = job;
        job = NULL;
    }
    pthread_mutex_unlock(&pv->lock);
    card_job_unref(job);
}

static token_err read_token(struct pcsc_provider *pv, const char *reader,
                            const struct card_edge **edge, struct token_snapshot **out)
{
    struct read_work w = {reader, NULL};
    struct card_job *stuck = NULL;
    token_err err;

    if (!reader_free_to_read(pv, reader))
        return TOKEN_E_TOKEN_BUSY;
    err = card_job_run(reader, NULL, card_wait_ms(pv), read_work, &w, edge, &stuck);
    if (stuck)
        remember_stuck_read(pv, reader, stuck);
    *out = w.snap;
    return err;
}

/*
 * Reads the card in `reader` and publishes the snapshot, unless the card
 * changed meanwhile. Returns the published snapshot with a reference, or NULL.
 */
static struct token_snapshot *refresh_reader(struct pcsc_provider *pv, const char *reader,
                                             bool announce)
{
    struct token_snapshot *snap = NULL, *result = NULL;
    const struct card_edge *edge = NULL;
    struct reader_entry *r;
    char *old_id = NULL;
    token_err err;

    err = read_token(pv, reader, &edge, &snap);
    pthread_mutex_lock(&pv->lock);
    r = find_reader(pv, reader);
    if (r && r->card_present) {
        if (err == TOKEN_OK && (r->token_id == NULL || strcmp(r->token_id, snap->id) != 0)) {
            old_id = r->token_id;
            r->token_id = strdup(snap->id);
            if (!r->token_id)
                err = TOKEN_E_NO_MEMORY;
        }
        if (err == TOKEN_OK) {
            r->edge = edge;
            r->unrecognised = false;
            result = token_snapshot_ref(snap);
            /* published under the provider's lock: a removal cannot come between */
            service_publish(pv->base.svc, &pv->base, snap, false);
            snap = NULL;
        } else if (err == TOKEN_E_CARD_UNSUPPORTED) {
            r->unrecognised = true;
        }
    }
    if (old_id)
        service_withdraw(pv->base.svc, &pv->base, old_id, false);
    pthread_mutex_unlock(&pv->lock);
    free(old_id);
    token_snapshot_unref(snap);
    if (err && err != TOKEN_E_CARD_UNSUPPORTED) {
        char msg[160];

        snprintf(msg, sizeof(msg), "reading the token in \"%s\" failed (%s); it will be read "
                 "again on use", reader, token_err_name(err));
        pp_log(pv, LOG_WARNING, NULL, msg);
    }
    if (result && announce) {
        pp_log(pv, LOG_INFO, result->id, "token inserted");
        pp_emit_simple(pv, TOKEN_EV_TOKEN_INSERTED, reader, result->id);
    }
    return result;
}

/* ---- the monitor's view ---- */

static void reader_entry_clear(struct pcsc_provider *pv, struct reader_entry *r, bool announce)
{
    if (r->token_id)
        service_withdraw(pv->base.svc, &pv->base, r->token_id, announce);
    free(r->token_id);
    r->token_id = NULL;
}

static void on_reader_added(struct pcsc_provider *pv, const struct pcsc_reader *pr)
{
    struct reader_entry *list;
    bool added = false;

    pthread_mutex_lock(&pv->lock);
    pv->pcsc_up = true;   /* a reader reported is pcscd answering, scan finished or not */
    if (!find_reader(pv, pr->name)) {
        list = realloc(pv->readers, (pv->n_readers + 1) * sizeof(*list));
        if (list) {
            pv->readers = list;
            memset(&list[pv->n_readers], 0, sizeof(*list));
            list[pv->n_readers].name = strdup(pr->name);
            if (list[pv->n_readers].name) {
                pv->n_readers++;
                added = true;
            }
        }
    }
    pthread_mutex_unlock(&pv->lock);
    if (added)
        pp_emit_simple(pv, TOKEN_EV_READER_ADDED, pr->name, NULL);
}

static void on_reader_removed(struct pcsc_provider *pv, const struct pcsc_reader *pr)
{
    struct reader_entry *r;
    bool removed = false;

    pthread_mutex_lock(&pv->lock);
    r = find_reader(pv, pr->name);
    if (r) {
        reader_entry_clear(pv, r, false);
        free(r->name);
        card_job_unref(r->stuck_read);
        *r = pv->readers[--pv->n_readers];
        removed = true;
    }
    pthread_mutex_unlock(&pv->lock);
    if (removed)
        pp_emit_simple(pv, TOKEN_EV_READER_REMOVED, pr->name, NULL);
}

static void on_card_inserted(struct pcsc_provider *pv, const struct pcsc_reader *pr)
{
    struct reader_entry *r;

    pthread_mutex_lock(&pv->lock);
    r = find_reader(pv, pr->name);
    if (r) {
        r->card_present = true;
        r->unrecognised = false;
        r->atr_len = pr->atr_len <= TOKEN_ATR_MAX ? pr->atr_len : 0;
        memcpy(r->atr, pr->atr, r->atr_len);
    }
    pthread_mutex_unlock(&pv->lock);
    if (r)
        token_snapshot_unref(refresh_reader(pv, pr->name, true));
}

static void on_card_removed(struct pcsc_provider *pv, const struct pcsc_reader *pr)
{
    struct reader_entry *r;
    char *id = NULL;

    pthread_mutex_lock(&pv->lock);
    r = find_reader(pv, pr->name);
    if (r) {
        id = r->token_id;
        r->token_id = NULL;
        r->card_present = false;
        r->unrecognised = false;
        r->atr_len = 0;
        r->edge = NULL;
    }
    pthread_mutex_unlock(&pv->lock);
    if (id)
        service_withdraw(pv->base.svc, &pv->base, id, true);
    free(id);
}

static void set_ready(struct pcsc_provider *pv)
{
    pthread_mutex_lock(&pv->lock);
    pv->ready = true;
    pthread_cond_broadcast(&pv->ready_cond);
    pthread_mutex_unlock(&pv->lock);
}

static void on_service_change(struct pcsc_provider *pv, bool up)
{
    pthread_mutex_lock(&pv->lock);
    pv->pcsc_up = up;
    pthread_mutex_unlock(&pv->lock);
    pp_log(pv, up ? LOG_NOTICE : LOG_WARNING, NULL,
           up ? "pcscd is reachable again" : "pcscd is not reachable");
    pp_emit_simple(pv, up ? TOKEN_EV_PCSC_BACK : TOKEN_EV_PCSC_LOST, NULL, NULL);
}

static void on_pcsc_change(const struct pcsc_change *ch, void *userdata)
{
    struct pcsc_provider *pv = userdata;

    switch (ch->kind) {
    case PCSC_CHANGE_READER_ADDED:
        on_reader_added(pv, ch->reader);
        break;
    case PCSC_CHANGE_READER_REMOVED:
        on_reader_removed(pv, ch->reader);
        break;
    case PCSC_CHANGE_CARD_INSERTED:
        on_card_inserted(pv, ch->reader);
        break;
    case PCSC_CHANGE_CARD_REMOVED:
        on_card_removed(pv, ch->reader);
        break;
    case PCSC_CHANGE_SERVICE_LOST:
        on_service_change(pv, false);
        break;
    case PCSC_CHANGE_SERVICE_BACK:
        on_service_change(pv, true);
        break;
    case PCSC_CHANGE_SCAN_DONE:
        pthread_mutex_lock(&pv->lock);
        pv->pcsc_up = true;
        pthread_mutex_unlock(&pv->lock);
        break;
    }
    if (ch->kind == PCSC_CHANGE_SCAN_DONE || ch->kind == PCSC_CHANGE_SERVICE_LOST)
        set_ready(pv);
}

/* ---- life cycle ---- */

static void wait_ready(struct pcsc_provider *pv)
{
    struct timespec until;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += SERVICE_READY_TIMEOUT_MS / 1000;
    pthread_mutex_lock(&pv->lock);
    while (!pv->ready &&
           pthread_cond_timedwait(&pv->ready_cond, &pv->lock, &until) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&pv->lock);
}

static void pcsc_provider_free(struct token_provider *p)
{
    struct pcsc_provider *pv = pp(p);
    struct stuck_op *s, *next;
    size_t i;

    if (!pv)
        return;
    /* the monitor first: its reads start card jobs */
    pcsc_monitor_stop(pv->mon);
    card_jobs_stop();
    for (i = 0; i < pv->n_readers; i++) {
        reader_entry_clear(pv, &pv->readers[i], false);
        free(pv->readers[i].name);
        card_job_unref(pv->readers[i].stuck_read);
    }
    free(pv->readers);
    for (s = pv->stuck; s; s = next) {
        next = s->next;
        card_job_unref(s->job);
        free(s->id);
        free(s);
    }
    pthread_cond_destroy(&pv->ready_cond);
    pthread_mutex_destroy(&pv->lock);
    free(pv);
}

token_err pcsc_provider_start(struct token_service *svc, struct token_provider **out)
{
    struct pcsc_provider *pv = calloc(1, sizeof(*pv));
    pthread_condattr_t ca;
    token_err err;

    if (!pv)
        return TOKEN_E_NO_MEMORY;
    pv->base.ops = &pcsc_ops;
    pv->base.svc = svc;
    pthread_mutex_init(&pv->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&pv->ready_cond, &ca);
    pthread_condattr_destroy(&ca);

    err = pcsc_monitor_start(on_pcsc_change, pv, &pv->mon);
    if (err) {
        pcsc_provider_free(&pv->base);
        return err;
    }
    /* callers' first listing should already show the tokens that are plugged in */
    wait_ready(pv);
    *out = &pv->base;
    return TOKEN_OK;
}

/* ---- reads ---- */

bool pcsc_provider_reachable(struct token_provider *p)
{
    struct pcsc_provider *pv = pp(p);
    bool up;

    pthread_mutex_lock(&pv->lock);
    up = pv->pcsc_up;
    pthread_mutex_unlock(&pv->lock);
    return up;
}

static token_err pcsc_reachable(struct token_provider *p)
{
    return pcsc_provider_reachable(p) ? TOKEN_OK : TOKEN_E_PCSC_UNAVAILABLE;
}

size_t pcsc_provider_reader_count(struct token_provider *p)
{
    struct pcsc_provider *pv = pp(p);
    size_t n;

    pthread_mutex_lock(&pv->lock);
    n = pv->n_readers;
    pthread_mutex_unlock(&pv->lock);
    return n;
}

token_err pcsc_provider_readers(struct token_provider *p, struct token_reader **out, size_t *n)
{
    struct pcsc_provider *pv = pp(p);
    struct token_reader *list = NULL;
    token_err err = TOKEN_OK;
    size_t i, count;

    pthread_mutex_lock(&pv->lock);
    count = pv->n_readers;
    if (!pv->pcsc_up) {
        err = TOKEN_E_PCSC_UNAVAILABLE;
        goto out;
    }
    list = calloc(count ? count : 1, sizeof(*list));
    if (!list) {
        err = TOKEN_E_NO_MEMORY;
        goto out;
    }
    for (i = 0; i < count; i++) {
        const struct reader_entry *r = &pv->readers[i];

        list[i].name = strdup(r->name);
        list[i].token_id = r->token_id ? strdup(r->token_id) : NULL;
        if (!list[i].name || (r->token_id && !list[i].token_id))
            err = TOKEN_E_NO_MEMORY;
        list[i].card_present = r->card_present;
        list[i].atr_len = r->atr_len;
        memcpy(list[i].atr, r->atr, r->atr_len);
    }
out:
    pthread_mutex_unlock(&pv->lock);
    if (err) {
        token_readers_free(list, count);
        return err;
    }
    *out = list;
    *n = count;
    return TOKEN_OK;
}

/* Names of readers with a card; `unread_only`: one not read successfully
 * yet. Otherwise forgets that a card was unrecognised, for another chance. */
static char **readers_with_card(struct pcsc_provider *pv, bool unread_only, size_t *n)
{
    char **names;
    size_t i;

    *n = 0;
    pthread_mutex_lock(&pv->lock);
    names = calloc(pv->n_readers + 1, sizeof(*names));
    for (i = 0; names && i < pv->n_readers; i++) {
        struct reader_entry *r = &pv->readers[i];

        if (!r->card_present || (unread_only && (r->token_id || r->unrecognised)))
            continue;
        if (!unread_only)
            r->unrecognised = false;
        names[*n] = strdup(r->name);
        if (names[*n])
            (*n)++;
    }
    pthread_mutex_unlock(&pv->lock);
    return names;
}

static void refresh_readers(struct pcsc_provider *pv, bool unread_only)
{
    size_t n, i;
    char **names = readers_with_card(pv, unread_only, &n);

    for (i = 0; names && i < n; i++) {
        token_snapshot_unref(refresh_reader(pv, names[i], false));
        free(names[i]);
    }
    free(names);
}

/* A card whose first read failed (busy, reset) is read on demand. */
static void pcsc_read_missing(struct token_provider *p)
{
    refresh_readers(pp(p), true);
}

/* ---- operations on one token ---- */

/* The reader (a copy) and the driver of token `id`. */
static token_err locate_token(struct pcsc_provider *pv, const char *id, char **reader_out,
                              const struct card_edge **edge_out)
{
    struct reader_entry *r;
    token_err err;

    *reader_out = NULL;
    *edge_out = NULL;
    pthread_mutex_lock(&pv->lock);
    r = pv->pcsc_up ? find_token(pv, id) : NULL;
    if (r) {
        *edge_out = r->edge;
        *reader_out = strdup(r->name);
    }
    err = !pv->pcsc_up    ? TOKEN_E_PCSC_UNAVAILABLE
          : !r            ? TOKEN_E_TOKEN_NOT_FOUND
          : !*reader_out  ? TOKEN_E_NO_MEMORY
                          : TOKEN_OK;
    pthread_mutex_unlock(&pv->lock);
    return err;
}

static struct stuck_op *stuck_slot(struct pcsc_provider *pv, const char *id)
{
    struct stuck_op *s;

    pthread_mutex_lock(&pv->lock);
    for (s = pv->stuck; s; s = s->next)
        if (strcmp(s->id, id) == 0)
            break;
    if (!s && (s = calloc(1, sizeof(*s)))) {
        if ((s->id = strdup(id))) {
            s->next = pv->stuck;
            pv->stuck = s;
        } else {
            free(s);
            s = NULL;
        }
    }
    pthread_mutex_unlock(&pv->lock);
    return s;
}

/* Runs work on the token's card; called with the token's lock held. */
static token_err run_on_token(struct pcsc_provider *pv, const char *id, const char *reader,
                              const struct card_edge *edge, card_work_fn work, void *arg)
{
    struct stuck_op *s = stuck_slot(pv, id);
    token_err err;

    if (!s)
        return TOKEN_E_NO_MEMORY;
    if (s->job) {
        if (card_job_still_waiting(s->job))
            return TOKEN_E_TOKEN_BUSY;   /* never queue a second attempt behind the first */
        card_job_unref(s->job);
        s->job = NULL;
    }
    err = card_job_run(reader, edge, card_wait_ms(pv), work, arg, NULL, &s->job);
    if (err == TOKEN_E_TOKEN_NOT_FOUND || err == TOKEN_E_CARD_UNSUPPORTED ||
        err == TOKEN_E_READER_NOT_FOUND)
        err = TOKEN_E_TOKEN_REMOVED;   /* it was there when the caller asked */
    return err;
}

static token_err pcsc_policies(struct token_provider *p, const char *id,
                               struct token_secret_policy *pin, struct token_secret_policy *unlock)
{
    const struct card_edge *edge;
    char *reader;
    token_err err = locate_token(pp(p), id, &reader, &edge);

    free(reader);
    if (err)
        return err;
    *pin = edge->pin_policy;
    *unlock = edge->puk_policy;
    return TOKEN_OK;
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

/* What the card says of the counter the request presents, then the guard. */
static token_err guard_last_try(struct card_session *cs, const struct provider_pin_request *req,
                                struct provider_pin_result *res)
{
    int tries = -1;
    bool blocked = false;
    token_err err = TOKEN_OK;

    if (!service_presents_secret(req->op))
        return TOKEN_OK;
    if (service_presents_unlock_secret(req->op))
        err = cs->edge->unlock_state ? cs->edge->unlock_state(cs->t, &tries, &blocked)
                                     : TOKEN_E_NOT_SUPPORTED;
    else
        err = cs->edge->pin_state(cs->t, &tries, &blocked);
    return service_guard_secret(req, err, tries, blocked, res);
}

static token_err run_pin_op(struct card_session *cs, const struct provider_pin_request *req,
                            int *tries)
{
    switch (req->op) {
    case PROVIDER_VERIFY:
        return cs->edge->verify_pin(cs->t, req->a, tries);
    case PROVIDER_CHANGE_PIN:
        return cs->edge->change_pin(cs->t, req->a, req->b, tries);
    case PROVIDER_UNBLOCK:
        return cs->edge->unblock_pin(cs->t, req->a, req->b, tries);
    case PROVIDER_CHANGE_PUK:
        return cs->edge->change_puk(cs->t, req->a, req->b, tries);
    case PROVIDER_REMOTE_UNBLOCK:
        return TOKEN_E_NOT_SUPPORTED;
    case PROVIDER_PIN_INFO:
        return TOKEN_OK;
    }
    return TOKEN_E_INVALID_ARG;
}

struct pin_work {
    const char *id;
    const struct provider_pin_request *req;
    struct provider_pin_result *res;
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
    if (!err && service_presents_secret(w->req->op)) {
        presented = true;
        err = run_pin_op(cs, w->req, &w->res->tries_left);
        w->res->accepted = !err;
        if (service_presents_unlock_secret(w->req->op))
            service_note_unlock_tries(err, w->res);
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

static token_err pcsc_pin_op(struct token_provider *p, const char *id,
                             const struct provider_pin_request *req,
                             struct provider_pin_result *res)
{
    struct pcsc_provider *pv = pp(p);
    struct pin_work w = {id, req, res};
    const struct card_edge *edge;
    char *reader;
    token_err err;

    if (req->op == PROVIDER_REMOTE_UNBLOCK)
        return TOKEN_E_NOT_SUPPORTED;
    err = locate_token(pv, id, &reader, &edge);
    if (!err)
        err = run_on_token(pv, id, reader, edge, pin_work, &w);
    free(reader);
    return err;
}

/* ---- re-scan on request (environment repair) ---- */

/* Waits for the monitor's next full scan with pcscd up: it sets `ready` at
 * the end of each scan, and also when it finds pcscd gone — which a restart
 * in progress shows first — so that case is waited through. */
static bool wait_next_scan(struct pcsc_provider *pv, unsigned wait_ms)
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
    pthread_mutex_lock(&pv->lock);
    pv->ready = false;
    for (;;) {
        if (pv->ready && pv->pcsc_up) {
            up = true;
            break;
        }
        pv->ready = false;
        if (pthread_cond_timedwait(&pv->ready_cond, &pv->lock, &until) == ETIMEDOUT)
            break;
    }
    pv->ready = true;
    pthread_mutex_unlock(&pv->lock);
    return up;
}

static token_err pcsc_rescan(struct token_provider *p, unsigned wait_ms)
{
    struct pcsc_provider *pv = pp(p);

    if (!wait_next_scan(pv, wait_ms))
        return TOKEN_E_PCSC_UNAVAILABLE;
    refresh_readers(pv, false);
    return TOKEN_OK;
}

static const struct provider_ops pcsc_ops = {
    .name = "pcsc",
    .free = pcsc_provider_free,
    .reachable = pcsc_reachable,
    .read_missing = pcsc_read_missing,
    .policies = pcsc_policies,
    .pin_op = pcsc_pin_op,
    .rescan = pcsc_rescan,
};

/* ---- lent to keyslot.c (provider_internal.h) ---- */

token_err service_token_job(struct token_service *svc, const char *id,
                            bool (*edge_ok)(const struct card_edge *edge), card_work_fn work,
                            void *arg, char **reader)
{
    const struct card_edge *edge = NULL;
    struct token_provider *p = NULL;
    struct token_lock *l;
    token_err err = service_route(svc, id, &p);

    *reader = NULL;
    if (!err && p->ops != &pcsc_ops)
        err = TOKEN_E_NOT_SUPPORTED;   /* key slots are a card edge's */
    if (!err)
        err = locate_token(pp(p), id, reader, &edge);
    if (!err && edge_ok && !edge_ok(edge))
        err = TOKEN_E_NOT_SUPPORTED;
    if (err)
        return err;
    l = service_lock_token(svc, id);
    if (!l)
        return TOKEN_E_NO_MEMORY;
    err = run_on_token(pp(p), id, *reader, edge, work, arg);
    service_unlock_token(l);
    return err;
}

token_err service_same_token(struct card_session *cs, const char *id)
{
    return check_same_token(cs, id);
}

void service_certs_changed(struct token_service *svc, const char *reader, const char *id)
{
    struct token_event ev = {.kind = TOKEN_EV_CERTS_CHANGED, .reader = reader, .token_id = id,
                             .tries_left = -1};
    struct token_provider *p = NULL;

    if (service_route(svc, id, &p) == TOKEN_OK && p->ops == &pcsc_ops)
        token_snapshot_unref(refresh_reader(pp(p), reader, false));
    service_log(svc, LOG_NOTICE, id, "certificates on the token changed");
    service_emit(svc, &ev);
}
