/* SPDX-License-Identifier: MIT */
/*
 * token/service.c — the token service behind token/token.h, over its
 * providers (token/provider.h): PC/SC with its card edges, and the SKF
 * vendor libraries.
 *
 * It owns what does not depend on how a token is reached: the cache of
 * immutable snapshots the providers publish, the subscribers and their
 * events, routing a token id to the provider that published it, one
 * operation at a time per token with PIN attempts paced, the PIN and
 * unlock-secret policy checks before a token sees a secret, and the last-try
 * guard every provider applies inside its own exclusive use of the token.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "token/provider.h"
#include "token/token.h"

#define PROVIDERS_MAX 2          /* PC/SC, SKF */
#define DEPARTED_MAX  16         /* pulled tokens remembered, by provider */

struct token_certset {
    unsigned refs;
    struct token_cert *certs;
    size_t n;
};

struct cache_entry {
    struct token_snapshot *snap;
    struct token_provider *provider;
};

/* Per-token serialisation and pacing; kept for the service's life so an
 * operation never holds a lock that a removal could free. */
struct token_lock {
    char *id;
    pthread_mutex_t m;
    struct timespec last_attempt;
    /* The unlock secret's tries left as the token last said in answer to one
     * (-1: unknown), for tokens that cannot be asked without spending a try. */
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

    pthread_mutex_t lock;            /* cache, locks */
    struct cache_entry *cache;
    size_t n_cache;
    struct token_lock *locks;

    pthread_mutex_t subs_lock;       /* held while events are dispatched */
    struct subscriber *subs;
    size_t n_subs;
    unsigned next_sub_id;

    struct token_provider *pcsc;
    struct token_provider *providers[PROVIDERS_MAX];
    size_t n_providers;

    /* The last tokens withdrawn, and by whom (under `lock`): a pulled token
     * of another provider is not one that a pcscd gone down could hold. */
    struct departed {
        char id[TOKEN_ID_MAX + 1];
        const struct token_provider *provider;
    } departed[DEPARTED_MAX];
    size_t departed_next;
};

/* ---- lent to the providers ---- */

void service_log(struct token_service *svc, int prio, const char *token_id, const char *msg)
{
    if (svc->cfg.log)
        svc->cfg.log(svc->cfg.log_userdata, prio, token_id, msg);
}

const struct token_service_config *service_config(struct token_service *svc)
{
    return &svc->cfg;
}

void service_emit(struct token_service *svc, const struct token_event *ev)
{
    size_t i;

    pthread_mutex_lock(&svc->subs_lock);
    for (i = 0; i < svc->n_subs; i++)
        svc->subs[i].fn(ev, svc->subs[i].userdata);
    pthread_mutex_unlock(&svc->subs_lock);
}

static void emit_simple(struct token_service *svc, enum token_event_kind kind, const char *reader,
                        const char *token_id)
{
    struct token_event ev = {.kind = kind, .reader = reader, .token_id = token_id,
                             .tries_left = -1};

    service_emit(svc, &ev);
}

/* ---- snapshots ---- */

void token_certs_free(struct token_cert *certs, size_t n)
{
    size_t i;

    if (!certs)
        return;
    for (i = 0; i < n; i++) {
        free(certs[i].der);
        free(certs[i].owned_id);
        if (certs[i].summary)
            cert_summary_free(certs[i].summary);
    }
    free(certs);
}

static void certset_unref(struct token_certset *cs)
{
    if (!cs || __atomic_sub_fetch(&cs->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    token_certs_free(cs->certs, cs->n);
    free(cs);
}

struct token_snapshot *service_snapshot_new(void)
{
    struct token_snapshot *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    s->certset = calloc(1, sizeof(*s->certset));
    if (!s->certset) {
        free(s);
        return NULL;
    }
    s->refs = 1;
    s->certset->refs = 1;
    s->pin.tries_left = s->pin.tries_max = -1;
    s->seals = TOKEN_SEALS_UNKNOWN;
    return s;
}

token_err service_snapshot_set_certs(struct token_snapshot *s, struct token_cert *certs, size_t n)
{
    token_certs_free(s->certset->certs, s->certset->n);
    s->certset->certs = certs;
    s->certset->n = n;
    s->certs = certs;
    s->n_certs = n;
    return TOKEN_OK;
}

void service_summarize_certs(struct token_cert *certs, size_t n)
{
    time_t now = time(NULL);
    size_t i;

    for (i = 0; i < n; i++)
        if (cert_summarize(certs[i].der, certs[i].der_len, now, &certs[i].summary) != TOKEN_OK)
            certs[i].summary = NULL;   /* the DER is still served; the summary is not */
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
    free(s->manufacturer);
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
    c->manufacturer = strdup_or_null(s->manufacturer, &oom);
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

/* ---- the cache ---- */

static struct cache_entry *cache_find(struct token_service *svc, const char *id)
{
    size_t i;

    for (i = 0; i < svc->n_cache; i++)
        if (strcmp(svc->cache[i].snap->id, id) == 0)
            return &svc->cache[i];
    return NULL;
}

void service_publish(struct token_service *svc, struct token_provider *p,
                     struct token_snapshot *snap, bool announce)
{
    struct cache_entry *e, *list;
    struct token_snapshot *old = NULL;
    bool stored = false;

    pthread_mutex_lock(&svc->lock);
    e = cache_find(svc, snap->id);
    if (e) {
        old = e->snap;
        e->snap = snap;
        e->provider = p;
        stored = true;
    } else {
        list = realloc(svc->cache, (svc->n_cache + 1) * sizeof(*list));
        if (list) {
            svc->cache = list;
            list[svc->n_cache++] = (struct cache_entry){snap, p};
            stored = true;
        }
    }
    pthread_mutex_unlock(&svc->lock);
    token_snapshot_unref(old);
    if (!stored) {
        service_log(svc, LOG_ERR, snap->id, "out of memory: the token is not listed");
        token_snapshot_unref(snap);
        return;
    }
    if (announce) {
        service_log(svc, LOG_INFO, snap->id, "token inserted");
        emit_simple(svc, TOKEN_EV_TOKEN_INSERTED, snap->reader, snap->id);
    }
}

bool service_has_token(struct token_service *svc, const char *id)
{
    bool has;

    pthread_mutex_lock(&svc->lock);
    has = cache_find(svc, id) != NULL;
    pthread_mutex_unlock(&svc->lock);
    return has;
}

/* Called with svc->lock held. */
static void note_departed(struct token_service *svc, const struct token_provider *p,
                          const char *id)
{
    struct departed *d = &svc->departed[svc->departed_next++ % DEPARTED_MAX];

    snprintf(d->id, sizeof d->id, "%s", id);
    d->provider = p;
}

/* Whether `id` is a token that a provider other than PC/SC withdrew last;
 * called with svc->lock held. */
static bool departed_elsewhere(const struct token_service *svc, const char *id)
{
    const struct departed *found = NULL;

    for (size_t i = 0; i < DEPARTED_MAX; i++)
        if (svc->departed[i].provider && strcmp(svc->departed[i].id, id) == 0)
            found = &svc->departed[i];
    return found && found->provider != svc->pcsc;
}

void service_withdraw(struct token_service *svc, struct token_provider *p, const char *id,
                      bool announce)
{
    struct token_snapshot *old = NULL;
    struct cache_entry *e;

    pthread_mutex_lock(&svc->lock);
    e = cache_find(svc, id);
    if (e && e->provider == p) {
        old = e->snap;
        *e = svc->cache[--svc->n_cache];
        note_departed(svc, p, id);
    }
    pthread_mutex_unlock(&svc->lock);
    if (!old)
        return;
    if (announce) {
        service_log(svc, LOG_INFO, old->id, "token removed");
        emit_simple(svc, TOKEN_EV_TOKEN_REMOVED, old->reader, old->id);
    }
    token_snapshot_unref(old);
}

static void read_missing(struct token_service *svc)
{
    size_t i;

    for (i = 0; i < svc->n_providers; i++)
        if (svc->providers[i]->ops->read_missing)
            svc->providers[i]->ops->read_missing(svc->providers[i]);
}

/* Looks `id` up: its provider, or why not; *snap gets a reference when given. */
static token_err cache_lookup(struct token_service *svc, const char *id, struct token_provider **p,
                              struct token_snapshot **snap)
{
    struct token_provider *owner = NULL;
    struct cache_entry *e;
    token_err err;

    bool pulled_elsewhere = false;

    pthread_mutex_lock(&svc->lock);
    e = cache_find(svc, id);
    if (e) {
        owner = e->provider;
        if (snap)
            *snap = token_snapshot_ref(e->snap);
    } else {
        pulled_elsewhere = departed_elsewhere(svc, id);
    }
    pthread_mutex_unlock(&svc->lock);
    /* a token of a provider that cannot reach it now (pcscd gone) is not
     * there; nor is any token while PC/SC, the provider we always have, is
     * down and could be holding it, unless another provider (SKF) saw it
     * pulled: then it is gone whatever pcscd's state */
    err = owner ? owner->ops->reachable(owner) : TOKEN_E_TOKEN_NOT_FOUND;
    if (err == TOKEN_E_TOKEN_NOT_FOUND && !pulled_elsewhere &&
        svc->pcsc->ops->reachable(svc->pcsc) != TOKEN_OK)
        err = svc->pcsc->ops->reachable(svc->pcsc);
    if (err && snap && *snap) {
        token_snapshot_unref(*snap);
        *snap = NULL;
    }
    *p = err ? NULL : owner;
    return err;
}

token_err service_route(struct token_service *svc, const char *id, struct token_provider **out)
{
    token_err err = cache_lookup(svc, id, out, NULL);

    if (err == TOKEN_E_TOKEN_NOT_FOUND) {
        read_missing(svc);   /* the first read may have failed: try once more */
        err = cache_lookup(svc, id, out, NULL);
    }
    return err;
}

/* ---- life cycle ---- */

token_err token_service_new(const struct token_service_config *cfg, struct token_service **out)
{
    struct token_provider *skf = NULL;
    struct token_service *svc;
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

    err = pcsc_provider_start(svc, &svc->pcsc);
    if (err) {
        token_service_free(svc);
        return err;
    }
    svc->providers[svc->n_providers++] = svc->pcsc;
    /* a library that fails is logged and skipped: the other tokens are served */
    err = skf_provider_start(svc, &skf);
    if (err) {
        token_service_free(svc);
        return err;
    }
    if (skf)
        svc->providers[svc->n_providers++] = skf;
    *out = svc;
    return TOKEN_OK;
}

void token_service_free(struct token_service *svc)
{
    struct token_lock *l, *next;
    size_t i;

    if (!svc)
        return;
    /* providers first: their threads publish into the cache */
    for (i = svc->n_providers; i-- > 0;)
        svc->providers[i]->ops->free(svc->providers[i]);
    for (i = 0; i < svc->n_cache; i++)
        token_snapshot_unref(svc->cache[i].snap);
    free(svc->cache);
    for (l = svc->locks; l; l = next) {
        next = l->next;
        /* taking the lock waits for an operation still in flight */
        pthread_mutex_lock(&l->m);
        pthread_mutex_unlock(&l->m);
        pthread_mutex_destroy(&l->m);
        free(l->id);
        free(l);
    }
    free(svc->subs);
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
    out->pcsc_available = pcsc_provider_reachable(svc->pcsc);
    out->n_readers = pcsc_provider_reader_count(svc->pcsc);
    pthread_mutex_lock(&svc->lock);
    for (i = 0; i < svc->n_cache; i++)
        out->n_tokens += svc->cache[i].provider->ops->reachable(svc->cache[i].provider) == TOKEN_OK;
    pthread_mutex_unlock(&svc->lock);
    return TOKEN_OK;
}

token_err token_service_readers(struct token_service *svc, struct token_reader **out, size_t *n)
{
    if (!svc || !out || !n)
        return TOKEN_E_INVALID_ARG;
    return pcsc_provider_readers(svc->pcsc, out, n);
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

/*
 * Every reachable token. With PC/SC alone, pcscd down is an error, as it
 * always was; beside other providers it only hides the PC/SC tokens.
 */
token_err token_service_tokens(struct token_service *svc, struct token_snapshot ***out, size_t *n)
{
    struct token_snapshot **list;
    token_err pcsc_err;
    size_t i, count = 0;

    if (!svc || !out || !n)
        return TOKEN_E_INVALID_ARG;
    read_missing(svc);
    pcsc_err = svc->pcsc->ops->reachable(svc->pcsc);
    if (pcsc_err && svc->n_providers == 1)
        return pcsc_err;
    pthread_mutex_lock(&svc->lock);
    list = calloc(svc->n_cache + 1, sizeof(*list));
    for (i = 0; list && i < svc->n_cache; i++)
        if (svc->cache[i].provider->ops->reachable(svc->cache[i].provider) == TOKEN_OK)
            list[count++] = token_snapshot_ref(svc->cache[i].snap);
    pthread_mutex_unlock(&svc->lock);
    if (!list)
        return TOKEN_E_NO_MEMORY;
    *out = list;
    *n = count;
    return TOKEN_OK;
}

token_err token_service_get(struct token_service *svc, const char *id, struct token_snapshot **out)
{
    struct token_provider *p;
    token_err err;

    if (!svc || !id || !out)
        return TOKEN_E_INVALID_ARG;
    *out = NULL;
    read_missing(svc);
    err = cache_lookup(svc, id, &p, out);
    return err;
}

/* ---- one operation at a time per token ---- */

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

struct token_lock *service_lock_token(struct token_service *svc, const char *id)
{
    struct token_lock *l = token_lock_get(svc, id);

    if (l)
        pthread_mutex_lock(&l->m);
    return l;
}

void service_unlock_token(struct token_lock *l)
{
    pthread_mutex_unlock(&l->m);
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

/* ---- the PIN and unlock-secret policies and the last-try guard ---- */

token_err service_check_secret(const struct token_secret_policy *p, const char *pin)
{
    size_t len, i;
    bool digits = strcmp(p->charset, "digits") == 0;

    if (!pin)
        return TOKEN_E_PIN_POLICY;
    len = strlen(pin);
    if (len < p->min_len || len > p->max_len)
        return TOKEN_E_PIN_POLICY;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)pin[i];

        if (digits ? (c < '0' || c > '9') : (c < 0x20 || c > 0x7e))
            return TOKEN_E_PIN_POLICY;
    }
    return TOKEN_OK;
}

static token_err check_policies(const struct token_secret_policy *pin,
                                const struct token_secret_policy *unlock,
                                const struct provider_pin_request *req)
{
    switch (req->op) {
    case PROVIDER_VERIFY:
        return service_check_secret(pin, req->a);
    case PROVIDER_CHANGE_PIN:
        if (service_check_secret(pin, req->a))
            return TOKEN_E_PIN_POLICY;
        return service_check_secret(pin, req->b);
    /* An unlock secret comes from whoever keeps it (the CA): one that breaks
     * its rules is its keeper's error, told apart from the user's new PIN. */
    case PROVIDER_UNBLOCK:
        if (service_check_secret(unlock, req->a))
            return TOKEN_E_PUK_POLICY;
        return service_check_secret(pin, req->b);
    case PROVIDER_CHANGE_PUK:
        if (service_check_secret(unlock, req->a) || service_check_secret(unlock, req->b))
            return TOKEN_E_PUK_POLICY;
        return TOKEN_OK;
    case PROVIDER_REMOTE_UNBLOCK:
        return req->relay && req->relay->answer && req->relay->challenge_len &&
                       req->relay->challenge_len <= TOKEN_UNBLOCK_CHALLENGE_MAX
                   ? TOKEN_OK
                   : TOKEN_E_INVALID_ARG;
    case PROVIDER_PIN_INFO:
        return TOKEN_OK;
    }
    return TOKEN_E_INVALID_ARG;
}

bool service_presents_unlock_secret(enum provider_pin_op op)
{
    return op == PROVIDER_UNBLOCK || op == PROVIDER_CHANGE_PUK || op == PROVIDER_REMOTE_UNBLOCK;
}

bool service_presents_secret(enum provider_pin_op op)
{
    return op != PROVIDER_PIN_INFO;
}

/*
 * An unlock secret's last try is never spent, whoever asks: it comes from a
 * CA's record, and a wrong record must not cost the token its unlock for
 * good. A token that cannot tell its counter is judged by the count its last
 * answer to that secret gave in this process, and goes ahead when there is
 * none. A PIN's last try is spent only when the caller says so.
 */
token_err service_guard_secret(const struct provider_pin_request *req, token_err read_err,
                               int tries, bool blocked, struct provider_pin_result *res)
{
    if (!service_presents_secret(req->op))
        return TOKEN_OK;
    if (service_presents_unlock_secret(req->op)) {
        if (read_err == TOKEN_E_NOT_SUPPORTED) {
            tries = res->unlock_tries;
            blocked = tries == 0;
            read_err = TOKEN_OK;
        }
        if (read_err)
            return read_err;
        res->unlock_tries = tries;
        if (blocked)
            return TOKEN_E_PUK_BLOCKED;
        return tries == 1 ? TOKEN_E_PUK_LAST_TRY : TOKEN_OK;
    }
    if (read_err)
        return read_err;
    if (blocked)
        return TOKEN_E_PIN_BLOCKED;
    if (tries == 1 && !(req->flags & TOKEN_PIN_ALLOW_LAST_TRY))
        return TOKEN_E_PIN_LAST_TRY;
    return TOKEN_OK;
}

/* What the token's answer to an unlock secret says of its counter: a right
 * one restores it to a limit the token may not tell, a wrong one counts it. */
void service_note_unlock_tries(token_err err, struct provider_pin_result *res)
{
    if (err == TOKEN_OK)
        res->unlock_tries = -1;
    else if (err == TOKEN_E_PUK_INCORRECT && res->tries_left >= 0)
        res->unlock_tries = res->tries_left;
    else if (err == TOKEN_E_PUK_BLOCKED)
        res->unlock_tries = 0;
}

/* ---- PIN operations ---- */

/* Stores new PIN state in the cache and tells subscribers when it changed. */
static void publish_pin_state(struct token_service *svc, const char *id,
                              const struct provider_pin_result *res)
{
    struct token_snapshot *fresh = NULL;
    struct cache_entry *e;
    struct token_pin_info pin;
    char *reader = NULL;
    bool changed;

    pthread_mutex_lock(&svc->lock);
    e = cache_find(svc, id);
    if (e) {
        pin = e->snap->pin;
        changed = pin.tries_left != res->pin_tries || pin.blocked != res->pin_blocked;
        pin.tries_left = res->pin_tries;
        pin.blocked = res->pin_blocked;
        if (res->pin_tries_max >= 0)
            pin.tries_max = res->pin_tries_max;
        if (res->pin_default != TOKEN_PIN_DEFAULT_UNKNOWN) {
            changed |= pin.is_default != res->pin_default;
            pin.is_default = res->pin_default;
        }
        if (changed)
            fresh = snapshot_with_pin(e->snap, &pin);
        if (fresh) {
            token_snapshot_unref(e->snap);
            e->snap = fresh;
            reader = e->snap->reader ? strdup(e->snap->reader) : NULL;
        }
    }
    pthread_mutex_unlock(&svc->lock);
    if (fresh) {
        struct token_event ev = {.kind = TOKEN_EV_PIN_CHANGED, .reader = reader, .token_id = id,
                                 .tries_left = res->pin_tries, .blocked = res->pin_blocked};

        service_emit(svc, &ev);
    }
    free(reader);
}

static token_err token_pin_operation(struct token_service *svc, const char *id,
                                     const struct provider_pin_request *req,
                                     struct provider_pin_result *res)
{
    struct token_secret_policy pin_policy, unlock_policy;
    struct token_provider *p = NULL;
    struct token_lock *l;
    token_err err;

    res->tries_left = res->pin_tries = res->unlock_tries = res->pin_tries_max = -1;
    res->pin_blocked = false;
    res->pin_default = TOKEN_PIN_DEFAULT_UNKNOWN;
    res->accepted = false;
    err = service_route(svc, id, &p);
    if (!err)
        err = p->ops->policies(p, id, &pin_policy, &unlock_policy);
    if (!err)
        err = check_policies(&pin_policy, &unlock_policy, req);
    if (err)
        return err;

    l = service_lock_token(svc, id);
    if (!l)
        return TOKEN_E_NO_MEMORY;
    if (service_presents_secret(req->op))
        pace_attempt(svc, l);
    res->unlock_tries = l->unlock_tries_seen;
    err = p->ops->pin_op(p, id, req, res);
    if (service_presents_unlock_secret(req->op) && err != TOKEN_E_TOKEN_REMOVED)
        l->unlock_tries_seen = res->unlock_tries;
    service_unlock_token(l);
    if (res->pin_tries >= 0 || res->pin_blocked)
        publish_pin_state(svc, id, res);
    return err;
}

token_err token_service_pin_info(struct token_service *svc, const char *id,
                                 struct token_pin_info *out)
{
    struct provider_pin_request req = {.op = PROVIDER_PIN_INFO};
    struct provider_pin_result res;
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

static token_err pin_call(struct token_service *svc, const char *id,
                          const struct provider_pin_request *req, int *tries_left)
{
    struct provider_pin_result res;
    token_err err;
    bool two = req->op == PROVIDER_CHANGE_PIN || req->op == PROVIDER_UNBLOCK ||
               req->op == PROVIDER_CHANGE_PUK;

    if (!svc || !id || (req->op != PROVIDER_REMOTE_UNBLOCK && !req->a) || (two && !req->b))
        return TOKEN_E_INVALID_ARG;
    err = token_pin_operation(svc, id, req, &res);
    if (tries_left) {
        /* PIN errors and PIN successes speak of the PIN counter; unlock ones of the secret's */
        bool unlock_op = service_presents_unlock_secret(req->op);

        *tries_left = unlock_op || !res.accepted ? res.tries_left : res.pin_tries;
        if (err == TOKEN_E_PIN_LAST_TRY || err == TOKEN_E_PUK_LAST_TRY)
            *tries_left = 1;
        if (err == TOKEN_E_PIN_BLOCKED || err == TOKEN_E_PUK_BLOCKED)
            *tries_left = 0;
    }
    return err;
}

token_err token_service_verify_pin(struct token_service *svc, const char *id, const char *pin,
                                   unsigned flags, int *tries_left)
{
    struct provider_pin_request req = {.op = PROVIDER_VERIFY, .a = pin, .flags = flags};

    return pin_call(svc, id, &req, tries_left);
}

token_err service_verify_pin_then(struct token_service *svc, const char *id, const char *pin,
                                  unsigned flags, provider_then_fn then, void *arg,
                                  int *tries_left)
{
    struct provider_pin_request req = {.op = PROVIDER_VERIFY, .a = pin, .flags = flags,
                                       .then = then, .then_arg = arg};

    return pin_call(svc, id, &req, tries_left);
}

token_err token_service_change_pin(struct token_service *svc, const char *id, const char *old_pin,
                                   const char *new_pin, unsigned flags, int *tries_left)
{
    struct provider_pin_request req = {.op = PROVIDER_CHANGE_PIN, .a = old_pin, .b = new_pin,
                                       .flags = flags};

    return pin_call(svc, id, &req, tries_left);
}

token_err token_service_unblock_pin(struct token_service *svc, const char *id, const char *puk,
                                    const char *new_pin, int *puk_tries_left)
{
    struct provider_pin_request req = {.op = PROVIDER_UNBLOCK, .a = puk, .b = new_pin};

    return pin_call(svc, id, &req, puk_tries_left);
}

token_err token_service_change_puk(struct token_service *svc, const char *id, const char *old_puk,
                                   const char *new_puk, int *puk_tries_left)
{
    struct provider_pin_request req = {.op = PROVIDER_CHANGE_PUK, .a = old_puk, .b = new_puk};

    return pin_call(svc, id, &req, puk_tries_left);
}

/* The challenge, the relay and the answer in one hold of the token: the
 * provider keeps what it opened from the challenge to the answer. */
token_err token_service_unblock_remote(struct token_service *svc, const char *id,
                                       const struct token_unblock_relay *relay,
                                       int *puk_tries_left)
{
    struct provider_pin_request req = {.op = PROVIDER_REMOTE_UNBLOCK, .relay = relay};

    return pin_call(svc, id, &req, puk_tries_left);
}

/* ---- re-scan on request (environment repair) ---- */

/* PC/SC's answer is the call's: the repair is about pcscd. */
token_err token_service_rescan(struct token_service *svc, unsigned wait_ms)
{
    token_err err = TOKEN_OK, e;
    size_t i;

    if (!svc)
        return TOKEN_E_INVALID_ARG;
    for (i = 0; i < svc->n_providers; i++) {
        if (!svc->providers[i]->ops->rescan)
            continue;
        e = svc->providers[i]->ops->rescan(svc->providers[i], wait_ms);
        if (svc->providers[i] == svc->pcsc)
            err = e;
    }
    return err;
}
