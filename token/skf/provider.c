/* SPDX-License-Identifier: MIT */
/*
 * token/skf/provider.c — the SKF provider of tokens (token/provider.h): GM/T
 * 0016 USB keys reached through the vendors' libraries, each library in a
 * helper process of its own (host.h), several libraries at once.
 *
 * Per library a worker thread keeps the published tokens in step with the
 * devices: at start and on each device event it enumerates, reads each new
 * device (device info → token id, the PIN application's containers and their
 * signing and encryption certificates, the PIN's state) and publishes it;
 * a removal is withdrawn at once, from the event. A lost helper (crash,
 * hang, garbage) costs the call in flight a clean error; host.c restarts it
 * and the worker enumerates again. PIN operations run the service's guard
 * on what SKF_GetPINInfo says (it costs no try); the helper clears the
 * secure state after each one, whatever its outcome.
 */
#include <errno.h>
#include <iconv.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "token/provider.h"
#include "token/skf/certname.h"
#include "token/skf/host.h"
#include "token/skf/wire.h"
#include "token/skf/write.h"
#include "token/token.h"

#define SKF_EDGE_NAME          "SKF"
#define SKF_ID_PREFIX          "skf-"
#define SKF_ID_HASH_BYTES      8       /* of SHA-256(manufacturer "\n" label) */
#define SKF_TRIES_UNKNOWN      0xFFFFFFFFu
#define SKF_FIRST_PASS_MS      5000    /* token_service_new waits this long for the first look */
#define SKF_RETRY_FIRST_MS     1000    /* a pass that failed is tried again, doubling */
#define SKF_RETRY_MAX_MS       30000
#define SKF_PROVIDER_LIBS_MAX  16

/* A published device: what an operation needs to find it again. */
struct skf_device {
    char *name;              /* the library's name for it */
    char *id;                /* the token id */
    char *app;               /* the application whose PIN the token's PIN is */
    struct skf_device *next;
};

struct skf_library {
    struct skf_provider *prov;
    size_t rank;             /* configuration order: an earlier library serves a key two see */
    char *path;
    const struct skf_profile *profile;
    struct skf_host *host;
    pthread_t worker;
    bool worker_started;

    pthread_mutex_t m;       /* everything below */
    pthread_cond_t c;
    bool dirty, full, stopping;
    bool running;            /* a pass is under way */
    unsigned passes;         /* completed enumerations */
    struct skf_device *devices;
};

struct skf_provider {
    struct token_provider base;
    struct skf_library *libs[SKF_PROVIDER_LIBS_MAX];
    size_t n_libs;
    pthread_mutex_t claim_m; /* publishing, so two libraries never both serve one key */
    pthread_mutex_t ops_m;   /* operations in flight, for free() to wait on */
    pthread_cond_t ops_c;
    unsigned ops_in_flight;
    bool stopping;
};

static const struct provider_ops skf_ops;
static token_err run_then(struct skf_library *l, const char *dev, const char *app,
                          const char *id, const struct provider_pin_request *req);

/* ---- small helpers ---- */

static void lib_logf(struct skf_library *l, int prio, const char *token_id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void lib_logf(struct skf_library *l, int prio, const char *token_id, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    service_log(l->prov->base.svc, prio, token_id, msg);
}

/* The supervisor's lines name the library already. */
static void host_log(void *userdata, int priority, const char *msg)
{
    struct skf_library *l = userdata;

    service_log(l->prov->base.svc, priority, NULL, msg);
}

/* skf_err → token_err, once. PIN errors speak of the user PIN here; the
 * operations on the admin PIN turn them into PUK errors. */
static token_err token_err_from_skf(skf_err e)
{
    switch (e) {
    case SKF_OK:
        return TOKEN_OK;
    case SKF_E_NO_MEMORY:
        return TOKEN_E_NO_MEMORY;
    case SKF_E_INVALID_ARG:
        return TOKEN_E_INVALID_ARG;
    case SKF_E_HELPER_TIMEOUT:
    case SKF_E_TIMEOUT:
        return TOKEN_E_TIMEOUT;
    case SKF_E_HELPER_BACKOFF:       /* restarted again soon: try later */
    case SKF_E_CHALLENGE_STALE:      /* nothing presented: a fresh challenge, later */
        return TOKEN_E_TOKEN_BUSY;
    case SKF_E_HELPER_START:
    case SKF_E_HELPER_DIED:
    case SKF_E_HELPER_GARBAGE:
    case SKF_E_LIBRARY_FAIL:
        return TOKEN_E_CARD_ERROR;
    case SKF_E_LIBRARY_LOAD:
    case SKF_E_LIBRARY_SYMBOL:
        return TOKEN_E_INTERNAL;
    case SKF_E_NOT_SUPPORTED:
        return TOKEN_E_NOT_SUPPORTED;
    case SKF_E_MALFORMED:
        return TOKEN_E_MALFORMED;
    case SKF_E_DEVICE_NOT_FOUND:
    case SKF_E_DEVICE_REMOVED:
        return TOKEN_E_TOKEN_REMOVED;
    case SKF_E_APP_NOT_FOUND:
    case SKF_E_CONTAINER_NOT_FOUND:
    case SKF_E_CERT_NOT_FOUND:
        return TOKEN_E_NO_OBJECT;
    case SKF_E_PIN_INCORRECT:
        return TOKEN_E_PIN_INCORRECT;
    case SKF_E_PIN_LOCKED:
        return TOKEN_E_PIN_BLOCKED;
    case SKF_E_PIN_POLICY:
        return TOKEN_E_PIN_POLICY;
    case SKF_E_NOT_LOGGED_IN:
        return TOKEN_E_SECURITY_STATUS;
    case SKF_E__COUNT:
        break;
    }
    return TOKEN_E_INTERNAL;
}

static token_err as_unlock_err(token_err e)
{
    return e == TOKEN_E_PIN_INCORRECT ? TOKEN_E_PUK_INCORRECT
         : e == TOKEN_E_PIN_BLOCKED   ? TOKEN_E_PUK_BLOCKED
         : e == TOKEN_E_PIN_POLICY    ? TOKEN_E_PUK_POLICY
                                      : e;
}

static int tries_from_skf(uint32_t t)
{
    return t == SKF_TRIES_UNKNOWN || t > (uint32_t)INT32_MAX ? -1 : (int)t;
}

static bool valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        size_t n = *p < 0x80 ? 0 : (*p & 0xE0) == 0xC0 ? 1 : (*p & 0xF0) == 0xE0 ? 2
                 : (*p & 0xF8) == 0xF0 ? 3 : 4;

        if (n == 4 || (n == 1 && *p < 0xC2))
            return false;
        for (p++; n > 0; n--, p++)
            if ((*p & 0xC0) != 0x80)
                return false;
    }
    return true;
}

/* DEVINFO strings come in whatever the library used: UTF-8, or GBK (GB18030
 * covers it) as Chinese vendors' tools write. NULL for an empty string. */
static char *text_from_device(const char *s, bool *oom)
{
    size_t in_left, out_left, cap;
    char *out, *in, *o;
    iconv_t cd;

    if (!*s)
        return NULL;
    if (valid_utf8(s) || (cd = iconv_open("UTF-8", "GB18030")) == (iconv_t)-1) {
        out = strdup(s);
        *oom |= !out;
        return out;
    }
    in_left = strlen(s);
    cap = out_left = in_left * 2 + 1;   /* a GBK character of 2 bytes is 3 in UTF-8 */
    out = o = malloc(cap);
    in = (char *)s;
    if (out && iconv(cd, &in, &in_left, &o, &out_left) != (size_t)-1 && out_left > 0) {
        *o = '\0';
    } else if (out) {
        snprintf(out, cap, "%s", "?");   /* neither UTF-8 nor GBK: never pass it on */
    }
    iconv_close(cd);
    *oom |= !out;
    return out;
}

/* "skf-<serial>", or without a serial a hash of what the device says it is. */
static char *token_id_for(const struct skf_devinfo *d)
{
    char buf[sizeof(SKF_ID_PREFIX) + SKF_ESCAPED_SIZE(sizeof(d->serial)) + 2 * SKF_ID_HASH_BYTES];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;
    EVP_MD_CTX *ctx;
    size_t i;

    if (d->serial[0]) {
        memcpy(buf, SKF_ID_PREFIX, sizeof(SKF_ID_PREFIX));
        /* cannot fail: buf holds every byte of the serial escaped */
        skf_name_escape(d->serial, buf + strlen(SKF_ID_PREFIX), sizeof buf - strlen(SKF_ID_PREFIX));
        return strdup(buf);
    }
    ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
        !EVP_DigestUpdate(ctx, d->manufacturer, strlen(d->manufacturer)) ||
        !EVP_DigestUpdate(ctx, "\n", 1) ||
        !EVP_DigestUpdate(ctx, d->label, strlen(d->label)) ||
        !EVP_DigestFinal_ex(ctx, md, &md_len) || md_len < SKF_ID_HASH_BYTES) {
        EVP_MD_CTX_free(ctx);
        return NULL;
    }
    EVP_MD_CTX_free(ctx);
    i = (size_t)snprintf(buf, sizeof buf, "%sh", SKF_ID_PREFIX);
    for (size_t k = 0; k < SKF_ID_HASH_BYTES; k++)
        i += (size_t)snprintf(buf + i, sizeof buf - i, "%02x", md[k]);
    return strdup(buf);
}

/* ---- reading a device ---- */

struct cert_list {
    struct token_cert *v;
    size_t n;
};

static token_err add_cert(struct cert_list *list, const char *container, bool sign, uint8_t *der,
                          size_t len)
{
    struct token_cert *c = realloc(list->v, (list->n + 1) * sizeof(*c));

    if (!c) {
        free(der);
        return TOKEN_E_NO_MEMORY;
    }
    list->v = c;
    c = &list->v[list->n];
    memset(c, 0, sizeof(*c));
    c->owned_id = skf_cert_id_new(container, sign);
    if (!c->owned_id) {
        free(der);
        return TOKEN_E_NO_MEMORY;
    }
    c->id = c->slot_name = c->owned_id;
    c->slot_label = sign ? "SKF signing" : "SKF encryption";
    c->der = der;
    c->der_len = len;
    list->n++;
    return TOKEN_OK;
}

/* The certificates of a read, as the token's: add_cert takes each DER. */
static skf_err take_certs(struct skf_device_read *r, struct cert_list *certs)
{
    skf_err e = SKF_OK;

    for (size_t i = 0; i < r->n_certs; i++) {
        struct skf_read_cert *c = &r->certs[i];

        if (e == SKF_OK && add_cert(certs, c->container, c->sign, c->der, c->len) != TOKEN_OK)
            e = SKF_E_NO_MEMORY;
        else if (e != SKF_OK)
            free(c->der);
        c->der = NULL;
    }
    return e;
}

static void pin_info_to_snapshot(const struct skf_library *l, const struct skf_pin_info *pi,
                                 struct token_pin_info *pin)
{
    pin->tries_left = tries_from_skf(pi->tries_left);
    pin->tries_max = tries_from_skf(pi->tries_max);
    pin->blocked = pi->tries_left == 0;
    pin->is_default = pi->default_pin ? TOKEN_PIN_DEFAULT_YES : TOKEN_PIN_DEFAULT_NO;
    pin->min_len = l->profile->pin_min_len;
    pin->max_len = l->profile->pin_max_len;
    pin->charset = "ascii";
}

static unsigned library_caps(struct skf_library *l)
{
    unsigned caps = TOKEN_CAP_UNLOCK_ADMIN_PIN;   /* SKF_UnblockPIN is required of every library */

    if (skf_host_caps(l->host) & SKF_CAP_REMOTE_UNBLOCK)
        caps |= TOKEN_CAP_UNLOCK_REMOTE;
    if (skf_host_caps(l->host) & SKF_CAP_CERT_WRITE)
        caps |= TOKEN_CAP_CERT_WRITE;
    return caps;
}

static token_err fill_identity(struct token_snapshot *s, const struct skf_devinfo *d,
                               const char *dev)
{
    char version[16];
    bool oom = false;

    s->id = token_id_for(d);
    s->reader = strdup(dev);
    s->manufacturer = text_from_device(d->manufacturer, &oom);
    s->model = text_from_device(d->label[0] ? d->label : d->manufacturer, &oom);
    s->serial = text_from_device(d->serial, &oom);
    snprintf(version, sizeof version, "%u.%u", d->fw_version >> 8, d->fw_version & 0xFF);
    s->version = strdup(version);
    s->edge = SKF_EDGE_NAME;
    return oom || !s->id || !s->reader || !s->version ? TOKEN_E_NO_MEMORY : TOKEN_OK;
}

/* The seals in the PIN application, as the helper counted them in the read,
 * or TOKEN_SEALS_UNKNOWN: a key whose files cannot be read is still a key to
 * use. */
static unsigned seals_read(struct skf_library *l, const struct skf_device_read *r, const char *dev)
{
    if (r->seals_counted && r->seals < TOKEN_SEALS_UNKNOWN)
        return r->seals;
    if (skf_host_caps(l->host) & SKF_CAP_FILES)
        lib_logf(l, LOG_INFO, NULL, "SKF library %s: the seals of device \"%s\" were not counted "
                 "(its files did not read)", l->path, dev);
    return TOKEN_SEALS_UNKNOWN;
}

/* Reads device `dev` into a snapshot; *app gets its PIN application. */
static token_err read_device(struct skf_library *l, const char *dev, struct token_snapshot **out,
                             char **app)
{
    struct cert_list certs = {0};
    struct skf_device_read r;
    struct skf_pin_info pi;
    struct skf_devinfo d;
    struct token_snapshot *s = service_snapshot_new();
    unsigned seals = TOKEN_SEALS_UNKNOWN;
    skf_err e;
    token_err err;

    *app = NULL;
    if (!s)
        return TOKEN_E_NO_MEMORY;
    e = skf_host_read_device(l->host, dev, &r);
    if (e == SKF_OK)
        e = take_certs(&r, &certs);
    if (e == SKF_OK)
        seals = seals_read(l, &r, dev);
    *app = r.app;
    r.app = NULL;
    d = r.info;
    pi = r.pin;
    skf_device_read_free(&r);
    err = token_err_from_skf(e);
    service_snapshot_set_certs(s, certs.v, certs.n);
    if (!err)
        err = fill_identity(s, &d, dev);
    if (err) {
        lib_logf(l, LOG_WARNING, NULL, "SKF library %s: reading device \"%s\" failed (%s)",
                 l->path, dev, skf_err_name(e));
        token_snapshot_unref(s);
        free(*app);
        *app = NULL;
        return err;
    }
    service_summarize_certs(s->certs, s->n_certs);
    pin_info_to_snapshot(l, &pi, &s->pin);
    s->caps = library_caps(l);
    s->seals = seals;
    *out = s;
    return TOKEN_OK;
}

/* ---- keeping the published devices in step (the worker) ---- */

static struct skf_device *device_by_name(struct skf_library *l, const char *name)
{
    struct skf_device *d;

    for (d = l->devices; d; d = d->next)
        if (strcmp(d->name, name) == 0)
            return d;
    return NULL;
}

static void device_free(struct skf_device *d)
{
    free(d->name);
    free(d->id);
    free(d->app);
    free(d);
}

/* Takes device `name` out of the list and the cache; called with l->m held. */
static void forget_device(struct skf_library *l, const char *name, bool announce)
{
    struct skf_device **pp, *d;

    for (pp = &l->devices; (d = *pp); pp = &d->next) {
        if (strcmp(d->name, name) == 0) {
            *pp = d->next;
            service_withdraw(l->prov->base.svc, &l->prov->base, d->id, announce);
            device_free(d);
            return;
        }
    }
}

static bool listed(const struct skf_name_list *devs, const char *name)
{
    for (size_t i = 0; i < devs->n; i++)
        if (strcmp(devs->name[i], name) == 0)
            return true;
    return false;
}

/*
 * Whether library `l` may serve token `id`, which another library may see
 * too (a generic library beside the vendor's): the earlier one in the
 * configuration does. A later one serving it gives it up, without the token
 * seeming to go. Called with claim_m held.
 */
static bool claim_token(struct skf_library *l, const char *id)
{
    struct skf_provider *pv = l->prov;
    bool mine = true;

    for (size_t i = 0; i < pv->n_libs && mine; i++) {
        struct skf_library *o = pv->libs[i];
        struct skf_device **pp, *d;

        if (o == l)
            continue;
        pthread_mutex_lock(&o->m);
        for (pp = &o->devices; (d = *pp); pp = &d->next) {
            if (strcmp(d->id, id) != 0)
                continue;
            if (o->rank < l->rank) {
                mine = false;
            } else {
                *pp = d->next;
                device_free(d);
            }
            break;
        }
        pthread_mutex_unlock(&o->m);
    }
    return mine;
}

/* Reads and publishes device `name` (announcing a token not seen before). */
static token_err publish_device(struct skf_library *l, const char *name)
{
    struct token_snapshot *snap = NULL;
    struct skf_device *d;
    bool is_new;
    char *app = NULL;
    token_err err = read_device(l, name, &snap, &app);

    if (err)
        return err;
    pthread_mutex_lock(&l->prov->claim_m);
    if (!claim_token(l, snap->id)) {
        pthread_mutex_unlock(&l->prov->claim_m);
        free(app);
        token_snapshot_unref(snap);
        return TOKEN_OK;
    }
    pthread_mutex_lock(&l->m);
    d = device_by_name(l, name);
    is_new = !d || strcmp(d->id, snap->id) != 0;
    if (d && is_new)
        forget_device(l, name, true);   /* another key under the same name */
    if (is_new) {
        d = calloc(1, sizeof(*d));
        if (d && (d->name = strdup(name)) && (d->id = strdup(snap->id))) {
            d->next = l->devices;
            l->devices = d;
        } else {
            if (d)
                device_free(d);
            d = NULL;
            err = TOKEN_E_NO_MEMORY;
        }
    }
    if (d) {
        free(d->app);
        d->app = app;
        app = NULL;
        /* announced unless listed already (read again, or served by another library) */
        service_publish(l->prov->base.svc, &l->prov->base, snap,
                        !service_has_token(l->prov->base.svc, snap->id));
        snap = NULL;
    }
    pthread_mutex_unlock(&l->m);
    pthread_mutex_unlock(&l->prov->claim_m);
    free(app);
    token_snapshot_unref(snap);
    return err;
}

/* One look at the library's devices: gone ones withdrawn, new ones (all,
 * after a lost helper) read. False when something could not be read. */
static bool sync_devices(struct skf_library *l, bool full)
{
    struct skf_name_list devs = {0};
    struct skf_device *d, *next;
    bool ok = true;
    skf_err e = skf_host_list_devices(l->host, &devs);

    if (e != SKF_OK) {
        lib_logf(l, LOG_WARNING, NULL, "SKF library %s: listing devices failed (%s)", l->path,
                 skf_err_name(e));
        return false;
    }
    pthread_mutex_lock(&l->m);
    for (d = l->devices; d; d = next) {
        next = d->next;
        if (!listed(&devs, d->name))
            forget_device(l, d->name, true);
    }
    pthread_mutex_unlock(&l->m);
    for (size_t i = 0; i < devs.n; i++) {
        bool known;

        pthread_mutex_lock(&l->m);
        known = device_by_name(l, devs.name[i]) != NULL;
        pthread_mutex_unlock(&l->m);
        if ((full || !known) && publish_device(l, devs.name[i]) != TOKEN_OK)
            ok = false;
    }
    skf_name_list_free(&devs);
    return ok;
}

static void deadline_in(struct timespec *ts, unsigned ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *worker_main(void *arg)
{
    struct skf_library *l = arg;
    unsigned retry_ms = 0;
    struct timespec until;
    bool full, ok;

    pthread_mutex_lock(&l->m);
    while (!l->stopping) {
        if (!l->dirty) {
            if (retry_ms) {
                deadline_in(&until, retry_ms);
                if (pthread_cond_timedwait(&l->c, &l->m, &until) == ETIMEDOUT)
                    l->dirty = l->full = true;
            } else {
                pthread_cond_wait(&l->c, &l->m);
            }
            continue;
        }
        full = l->full;
        l->dirty = l->full = false;
        l->running = true;
        pthread_mutex_unlock(&l->m);
        ok = sync_devices(l, full);
        pthread_mutex_lock(&l->m);
        l->running = false;
        retry_ms = ok ? 0 : !retry_ms ? SKF_RETRY_FIRST_MS
                                      : retry_ms * 2 > SKF_RETRY_MAX_MS ? SKF_RETRY_MAX_MS
                                                                        : retry_ms * 2;
        l->passes++;
        pthread_cond_broadcast(&l->c);
    }
    pthread_mutex_unlock(&l->m);
    return NULL;
}

/* On the supervisor's event thread: no skf_host_* call here. */
static void on_host_event(void *userdata, const struct skf_host_event *ev)
{
    struct skf_library *l = userdata;

    pthread_mutex_lock(&l->m);
    if (ev->kind == SKF_HOST_EVENT_REMOVED && ev->device)
        forget_device(l, ev->device, true);
    l->dirty = true;
    if (ev->kind == SKF_HOST_EVENT_HELPER_LOST)
        l->full = true;   /* events may have been missed; a device may have been swapped */
    pthread_cond_broadcast(&l->c);
    pthread_mutex_unlock(&l->m);
}

/* Waits, at most `ms`, for the worker's first pass, or with `full` for a
 * full pass begun after this call. */
static bool wait_pass(struct skf_library *l, unsigned ms, bool full)
{
    struct timespec until;
    unsigned target = 1;
    bool done;

    deadline_in(&until, ms);
    pthread_mutex_lock(&l->m);
    if (full) {
        l->dirty = l->full = true;
        /* a pass under way began before the request: wait for the next */
        target = l->passes + (l->running ? 2 : 1);
        pthread_cond_broadcast(&l->c);
    }
    while (l->passes < target && !l->stopping &&
           pthread_cond_timedwait(&l->c, &l->m, &until) != ETIMEDOUT)
        ;
    done = l->passes >= target;
    pthread_mutex_unlock(&l->m);
    return done;
}

/* ---- starting and stopping libraries ---- */

/* A worker reads other libraries' devices (claim_token): every worker must
 * have ended before any library is freed. */
static void library_stop_worker(struct skf_library *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->m);
    l->stopping = true;
    pthread_cond_broadcast(&l->c);
    pthread_mutex_unlock(&l->m);
    if (l->worker_started)
        pthread_join(l->worker, NULL);
    l->worker_started = false;
}

static void library_free(struct skf_library *l)
{
    struct skf_device *d, *next;

    if (!l)
        return;
    library_stop_worker(l);
    skf_host_stop(l->host);   /* joins its event thread: no event after this */
    for (d = l->devices; d; d = next) {
        next = d->next;
        service_withdraw(l->prov->base.svc, &l->prov->base, d->id, false);
        device_free(d);
    }
    pthread_cond_destroy(&l->c);
    pthread_mutex_destroy(&l->m);
    free(l->path);
    free(l);
}

static bool library_loaded(struct skf_provider *pv, const char *path)
{
    for (size_t i = 0; i < pv->n_libs; i++)
        if (strcmp(pv->libs[i]->path, path) == 0)
            return true;
    return false;
}

/* Starts the helper for one library and its worker. False (logged) when it
 * does not load; `quiet_missing`: a discovered path that is not there is no news. */
static bool library_start(struct skf_provider *pv, const char *path,
                          const struct skf_profile *profile, const char *origin,
                          bool quiet_missing)
{
    const struct token_service_config *cfg = service_config(pv->base.svc);
    struct skf_host_options o = {0};
    struct skf_library *l;
    pthread_condattr_t ca;
    char why[256] = "";
    skf_err e;

    if (pv->n_libs == SKF_PROVIDER_LIBS_MAX || library_loaded(pv, path))
        return false;
    l = calloc(1, sizeof(*l));
    if (!l || !(l->path = strdup(path))) {
        free(l);
        return false;
    }
    l->prov = pv;
    l->rank = pv->n_libs;
    l->profile = profile;
    pthread_mutex_init(&l->m, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->c, &ca);
    pthread_condattr_destroy(&ca);

    o.helper_path = cfg->skf_helper_path;
    o.library_path = path;
    o.profile = profile;
    o.on_event = on_host_event;
    o.event_userdata = l;
    o.log = host_log;
    o.log_userdata = l;
    e = skf_host_start(&o, &l->host, why, sizeof why);
    if (e != SKF_OK) {
        if (!(quiet_missing && e == SKF_E_LIBRARY_LOAD))
            lib_logf(l, LOG_ERR, NULL, "SKF library %s (%s, profile %s) not loaded: %s%s%s",
                     path, origin, profile->name, skf_err_name(e), why[0] ? ": " : "", why);
        library_free(l);
        return false;
    }
    l->dirty = l->full = true;
    if (pthread_create(&l->worker, NULL, worker_main, l) != 0) {
        lib_logf(l, LOG_ERR, NULL, "SKF library %s: no thread to follow its devices", path);
        library_free(l);
        return false;
    }
    l->worker_started = true;
    lib_logf(l, LOG_NOTICE, NULL, "SKF library %s (%s, profile %s) loaded, helper pid %d%s",
             path, origin, profile->name, (int)skf_host_pid(l->host),
             skf_host_caps(l->host) & SKF_CAP_REMOTE_UNBLOCK ? ", remote unblock" : "");
    pthread_mutex_lock(&pv->claim_m);
    pv->libs[pv->n_libs++] = l;
    pthread_mutex_unlock(&pv->claim_m);
    return true;
}

static void start_configured(struct skf_provider *pv, const struct token_service_config *cfg)
{
    for (size_t i = 0; i < cfg->n_skf_libraries; i++) {
        const struct token_skf_library *lib = &cfg->skf_libraries[i];
        const struct skf_profile *p = lib->profile ? skf_profile_find(lib->profile)
                                                   : skf_profile_standard();

        if (!lib->path)
            continue;
        if (!p) {
            char msg[512];

            snprintf(msg, sizeof msg, "SKF library %s not loaded: no profile named \"%s\"",
                     lib->path, lib->profile);
            service_log(pv->base.svc, LOG_ERR, NULL, msg);
            continue;
        }
        library_start(pv, lib->path, p, "configured", false);
    }
}

static bool profile_configured(const struct token_service_config *cfg, const char *profile)
{
    for (size_t i = 0; i < cfg->n_skf_libraries; i++)
        if (cfg->skf_libraries[i].profile && strcmp(cfg->skf_libraries[i].profile, profile) == 0)
            return true;
    return false;
}

/* The known vendors' libraries at their packages' paths: the first that
 * loads per vendor, unless the administrator configured that vendor. */
static void start_discovered(struct skf_provider *pv, const struct token_service_config *cfg)
{
    size_t n;
    const struct skf_known_library *known = skf_known_libraries(&n);

    for (size_t i = 0; i < n; i++) {
        const struct skf_profile *p = skf_profile_find(known[i].profile);

        if (!p || profile_configured(cfg, known[i].profile))
            continue;
        for (const char *const *path = known[i].paths; *path; path++) {
            if ((*path)[0] == '/' && access(*path, R_OK) != 0)
                continue;
            if (library_start(pv, *path, p, "found", true))
                break;
        }
    }
}

static void skf_provider_free(struct token_provider *p)
{
    struct skf_provider *pv = (struct skf_provider *)p;

    pthread_mutex_lock(&pv->ops_m);
    pv->stopping = true;
    while (pv->ops_in_flight)
        pthread_cond_wait(&pv->ops_c, &pv->ops_m);
    pthread_mutex_unlock(&pv->ops_m);
    for (size_t i = 0; i < pv->n_libs; i++)
        library_stop_worker(pv->libs[i]);
    for (size_t i = 0; i < pv->n_libs; i++)
        library_free(pv->libs[i]);
    pthread_cond_destroy(&pv->ops_c);
    pthread_mutex_destroy(&pv->ops_m);
    pthread_mutex_destroy(&pv->claim_m);
    free(pv);
}

token_err skf_provider_start(struct token_service *svc, struct token_provider **out)
{
    const struct token_service_config *cfg = service_config(svc);
    struct skf_provider *pv;

    *out = NULL;
    if (!cfg->n_skf_libraries && !cfg->skf_discover)
        return TOKEN_OK;
    if (!cfg->skf_helper_path) {
        service_log(svc, LOG_ERR, NULL,
                    "no SKF helper program (ukeyd-skf-host) given: SKF libraries are not loaded");
        return TOKEN_OK;
    }
    pv = calloc(1, sizeof(*pv));
    if (!pv)
        return TOKEN_E_NO_MEMORY;
    pv->base.ops = &skf_ops;
    pv->base.svc = svc;
    pthread_mutex_init(&pv->ops_m, NULL);
    pthread_mutex_init(&pv->claim_m, NULL);
    pthread_cond_init(&pv->ops_c, NULL);
    start_configured(pv, cfg);
    if (cfg->skf_discover)
        start_discovered(pv, cfg);
    if (pv->n_libs == 0) {
        service_log(svc, LOG_NOTICE, NULL, "no SKF library loaded");
        skf_provider_free(&pv->base);
        return TOKEN_OK;
    }
    /* callers' first listing should already show the keys that are plugged in */
    for (size_t i = 0; i < pv->n_libs; i++)
        wait_pass(pv->libs[i], SKF_FIRST_PASS_MS, false);
    *out = &pv->base;
    return TOKEN_OK;
}

/* ---- operations ---- */

/* Where token `id` is: its library, and copies of its device and
 * application names; counts the operation in flight. */
static token_err locate(struct skf_provider *pv, const char *id, struct skf_library **lib,
                        char **dev, char **app)
{
    token_err err = TOKEN_E_TOKEN_NOT_FOUND;

    *dev = *app = NULL;
    pthread_mutex_lock(&pv->ops_m);
    if (pv->stopping) {
        pthread_mutex_unlock(&pv->ops_m);
        return TOKEN_E_TOKEN_NOT_FOUND;
    }
    pv->ops_in_flight++;
    pthread_mutex_unlock(&pv->ops_m);
    for (size_t i = 0; i < pv->n_libs && err == TOKEN_E_TOKEN_NOT_FOUND; i++) {
        struct skf_library *l = pv->libs[i];
        struct skf_device *d;

        pthread_mutex_lock(&l->m);
        for (d = l->devices; d; d = d->next) {
            if (strcmp(d->id, id) == 0) {
                *lib = l;
                *dev = strdup(d->name);
                *app = strdup(d->app);
                err = *dev && *app ? TOKEN_OK : TOKEN_E_NO_MEMORY;
                break;
            }
        }
        pthread_mutex_unlock(&l->m);
    }
    return err;
}

static void op_done(struct skf_provider *pv, char *dev, char *app)
{
    free(dev);
    free(app);
    pthread_mutex_lock(&pv->ops_m);
    if (--pv->ops_in_flight == 0)
        pthread_cond_broadcast(&pv->ops_c);
    pthread_mutex_unlock(&pv->ops_m);
}

static token_err skf_reachable(struct token_provider *p)
{
    (void)p;
    return TOKEN_OK;   /* each library's faults are its calls' errors */
}

static token_err skf_policies(struct token_provider *p, const char *id,
                              struct token_secret_policy *pin, struct token_secret_policy *unlock)
{
    struct skf_provider *pv = (struct skf_provider *)p;
    struct skf_library *l = NULL;
    char *dev, *app;
    token_err err = locate(pv, id, &l, &dev, &app);

    if (!err) {
        pin->min_len = unlock->min_len = l->profile->pin_min_len;
        pin->max_len = unlock->max_len = l->profile->pin_max_len;
        pin->charset = unlock->charset = "ascii";
    }
    op_done(pv, dev, app);
    return err;
}

/* The device behind `dev` must still be token `id` (a key swapped under
 * the same name is another token). */
static token_err check_same_token(struct skf_library *l, const char *dev, const char *id)
{
    struct skf_devinfo d;
    skf_err e = skf_host_device_info(l->host, dev, &d);
    char *now;
    token_err err;

    if (e != SKF_OK)
        return token_err_from_skf(e);
    now = token_id_for(&d);
    err = !now ? TOKEN_E_NO_MEMORY : strcmp(now, id) != 0 ? TOKEN_E_TOKEN_REMOVED : TOKEN_OK;
    free(now);
    return err;
}

/* What the token says of the counter the request presents, then the guard. */
static token_err guard_last_try(struct skf_library *l, const char *dev, const char *app,
                                const struct provider_pin_request *req,
                                struct provider_pin_result *res)
{
    enum skf_pin_role role = service_presents_unlock_secret(req->op) ? SKF_PIN_ADMIN
                                                                     : SKF_PIN_USER;
    struct skf_pin_info pi = {0};
    skf_err e;

    if (!service_presents_secret(req->op))
        return TOKEN_OK;
    e = skf_host_pin_info(l->host, dev, app, role, &pi);
    return service_guard_secret(req, token_err_from_skf(e), tries_from_skf(pi.tries_left),
                                pi.tries_left == 0, res);
}

struct unblock_answer {
    uint8_t bytes[TOKEN_UNBLOCK_ANSWER_MAX];
    size_t len;
};

/*
 * The remote unblock's first half: the token's challenge, drawn in an
 * application the helper keeps open (token/skf/lib.c), out through the relay
 * to the CA. false with `*e` when the challenge failed, with SKF_OK when the
 * relay gave up (the token was asked nothing that costs a try).
 */
static bool relay_challenge(struct skf_library *l, const char *dev, const char *app,
                            const struct token_unblock_relay *r, struct unblock_answer *out,
                            skf_err *e)
{
    uint8_t challenge[TOKEN_UNBLOCK_CHALLENGE_MAX];

    *e = skf_host_remote_unblock_request(l->host, dev, app, challenge, r->challenge_len);
    if (*e != SKF_OK)
        return false;
    out->len = sizeof out->bytes;
    if (r->answer(r->userdata, challenge, r->challenge_len, out->bytes, &out->len) != TOKEN_OK ||
        out->len == 0 || out->len > sizeof out->bytes)
        return false;
    return true;
}

static token_err run_pin_op(struct skf_library *l, const char *dev, const char *app,
                            const struct provider_pin_request *req, int *tries_left)
{
    struct unblock_answer answer = {.len = 0};
    uint32_t tries = SKF_TRIES_UNKNOWN;
    skf_err e = SKF_E_INVALID_ARG;
    token_err err;

    switch (req->op) {
    case PROVIDER_VERIFY:
        e = skf_host_verify_pin(l->host, dev, app, SKF_PIN_USER, req->a, &tries);
        break;
    case PROVIDER_CHANGE_PIN:
        e = skf_host_change_pin(l->host, dev, app, SKF_PIN_USER, req->a, req->b, &tries);
        break;
    case PROVIDER_UNBLOCK:
        e = skf_host_unblock_pin(l->host, dev, app, req->a, req->b, &tries);
        break;
    case PROVIDER_CHANGE_PUK:
        e = skf_host_change_pin(l->host, dev, app, SKF_PIN_ADMIN, req->a, req->b, &tries);
        break;
    case PROVIDER_REMOTE_UNBLOCK:
        if (!relay_challenge(l, dev, app, req->relay, &answer, &e)) {
            explicit_bzero(&answer, sizeof answer);
            return e == SKF_OK ? TOKEN_E_RELAY_FAILED : token_err_from_skf(e);
        }
        e = skf_host_remote_unblock(l->host, dev, app, answer.bytes, answer.len, &tries);
        explicit_bzero(&answer, sizeof answer);
        break;
    case PROVIDER_PIN_INFO:
        return TOKEN_OK;
    }
    err = token_err_from_skf(e);
    if (e == SKF_E_PIN_INCORRECT || e == SKF_E_PIN_LOCKED)
        *tries_left = e == SKF_E_PIN_LOCKED ? 0 : tries_from_skf(tries);
    /* the unblock's own PIN rules are the new user PIN's */
    if (service_presents_unlock_secret(req->op) && err != TOKEN_E_PIN_POLICY)
        err = as_unlock_err(err);
    if (err && skf_err_is_helper_fault(e))
        lib_logf(l, LOG_WARNING, NULL, "SKF library %s: %s failed: %s", l->path,
                 req->op == PROVIDER_VERIFY ? "PIN verify" : "PIN operation", skf_err_name(e));
    return err;
}

static token_err skf_pin_op(struct token_provider *p, const char *id,
                            const struct provider_pin_request *req,
                            struct provider_pin_result *res)
{
    struct skf_provider *pv = (struct skf_provider *)p;
    struct skf_library *l = NULL;
    struct skf_pin_info pi;
    char *dev, *app;
    skf_err e = SKF_OK;
    token_err err;

    err = locate(pv, id, &l, &dev, &app);
    if (!err && req->op == PROVIDER_REMOTE_UNBLOCK &&
        !(skf_host_caps(l->host) & SKF_CAP_REMOTE_UNBLOCK))
        err = TOKEN_E_NOT_SUPPORTED;
    if (!err)
        err = check_same_token(l, dev, id);
    if (!err)
        err = guard_last_try(l, dev, app, req, res);
    if (!err && service_presents_secret(req->op)) {
        err = run_pin_op(l, dev, app, req, &res->tries_left);
        res->accepted = !err;
        if (!err && req->then)
            err = run_then(l, dev, app, id, req);
        if (service_presents_unlock_secret(req->op))
            service_note_unlock_tries(err, res);
    }
    /* the helper cleared the secure state; the user sees the PIN's state next */
    if (err != TOKEN_E_TOKEN_REMOVED && l &&
        (e = skf_host_pin_info(l->host, dev, app, SKF_PIN_USER, &pi)) == SKF_OK) {
        res->pin_tries = tries_from_skf(pi.tries_left);
        res->pin_tries_max = tries_from_skf(pi.tries_max);
        res->pin_blocked = pi.tries_left == 0;
        res->pin_default = pi.default_pin ? TOKEN_PIN_DEFAULT_YES : TOKEN_PIN_DEFAULT_NO;
    } else if (!err && l && !res->accepted) {
        /* Once the token has taken a PIN, that is the answer: a failed look
         * at its state afterwards must not turn a done change into an error
         * the user would retry with the old PIN. */
        err = token_err_from_skf(e);
    }
    op_done(pv, dev, app);
    return err;
}

static token_err skf_rescan(struct token_provider *p, unsigned wait_ms)
{
    struct skf_provider *pv = (struct skf_provider *)p;

    for (size_t i = 0; i < pv->n_libs; i++)
        wait_pass(pv->libs[i], wait_ms, true);
    return TOKEN_OK;
}

/* ---- certificate writes (write.c) ---- */

token_err skf_token_err(skf_err e)
{
    return token_err_from_skf(e);
}

/* What a PIN verify's `then` gets: the token as found, and the PIN the helper
 * presents again with each call that changes the container. */
struct skf_write_session {
    struct skf_library *l;
    struct skf_write_target t;
    const char *pin;
};

static token_err run_then(struct skf_library *l, const char *dev, const char *app,
                          const char *id, const struct provider_pin_request *req)
{
    struct skf_write_session ws = {l, {l->host, dev, app, id}, req->a};

    if (req->op != PROVIDER_VERIFY)
        return TOKEN_E_INVALID_ARG;
    return req->then(&ws, req->then_arg);
}

/* The token's certificates changed: read it into the cache again and say so. */
static void certs_changed(struct skf_library *l, const char *dev, const char *id)
{
    struct token_event ev = {.kind = TOKEN_EV_CERTS_CHANGED, .reader = dev, .token_id = id,
                             .tries_left = -1};

    if (publish_device(l, dev) != TOKEN_OK)
        lib_logf(l, LOG_WARNING, id, "SKF library %s: the key could not be read again after a "
                 "certificate write", l->path);
    service_emit(l->prov->base.svc, &ev);
}

/*
 * Called first with `session` NULL (certid.c, before any PIN is presented):
 * then it only judges the request. A new key pair is an SM2 signing pair:
 * an encryption key pair comes from the CA enveloped, which ukeyd does not
 * handle (docs/cert-protocol.md, "SKF keys").
 */
static token_err skf_cert_write(void *session, void *arg)
{
    struct skf_write_session *ws = session;
    struct provider_cert_write *w = arg;
    char con[SKF_WIRE_NAME_MAX + 1];
    bool sign;
    token_err err;

    if (!skf_cert_id_parse(w->cert_id, con, sizeof con, &sign))
        return TOKEN_E_INVALID_ARG;
    if (w->new_key && (!sign || w->alg != TOKEN_KEY_SM2))
        return TOKEN_E_NOT_SUPPORTED;
    if (!ws)
        return TOKEN_OK;
    if (w->new_key)
        return skf_write_new_key_csr(&ws->t, ws->pin, con, w->subject, w->subject_len, &w->spki,
                                     &w->spki_len, &w->csr, &w->csr_len, &w->key_replaced);
    err = skf_write_import(&ws->t, ws->pin, con, sign, w->der, w->der_len);
    if (err != TOKEN_E_TOKEN_REMOVED && err != TOKEN_E_INVALID_ARG)
        certs_changed(ws->l, ws->t.dev, ws->t.token_id);
    return err;
}

/* A certificate id's container, with the token found and still the same. */
static token_err locate_cert(struct skf_provider *pv, const char *id, const char *cert_id,
                             struct skf_library **l, char **dev, char **app, char *con,
                             size_t cap, bool *sign)
{
    token_err err = locate(pv, id, l, dev, app);

    if (!err && !skf_cert_id_parse(cert_id, con, cap, sign))
        err = TOKEN_E_INVALID_ARG;
    if (!err && !(skf_host_caps((*l)->host) & SKF_CAP_CERT_WRITE))
        err = TOKEN_E_NOT_SUPPORTED;
    if (!err)
        err = check_same_token(*l, *dev, id);
    return err;
}

/* A step that reads a container's certificate or key, with no PIN. */
typedef token_err (*cert_read_step)(const struct skf_write_target *t, const char *con, bool sign,
                                    void *arg);

/* Runs `step` on the container a certificate id names, the token found and
 * checked to be the same, and releases it afterwards whatever the step did. */
static token_err on_cert_container(struct token_provider *p, const char *id, const char *cert_id,
                                   cert_read_step step, void *arg)
{
    struct skf_provider *pv = (struct skf_provider *)p;
    struct skf_library *l = NULL;
    char *dev, *app, con[SKF_WIRE_NAME_MAX + 1];
    bool sign;
    token_err err = locate_cert(pv, id, cert_id, &l, &dev, &app, con, sizeof con, &sign);

    if (!err) {
        struct skf_write_target t = {l->host, dev, app, id};

        err = step(&t, con, sign, arg);
    }
    op_done(pv, dev, app);
    return err;
}

struct cert_key_out {
    uint8_t **spki;
    size_t *spki_len;
};

static token_err read_cert_key(const struct skf_write_target *t, const char *con, bool sign,
                               void *arg)
{
    struct cert_key_out *out = arg;

    return skf_write_cert_key(t, con, sign, out->spki, out->spki_len);
}

static token_err skf_cert_key(struct token_provider *p, const char *id, const char *cert_id,
                              uint8_t **spki, size_t *spki_len)
{
    struct cert_key_out out = {spki, spki_len};

    return on_cert_container(p, id, cert_id, read_cert_key, &out);
}

struct cert_state_query {
    const uint8_t *der;
    size_t der_len;
    struct token_slot_state *out;
};

static token_err read_cert_state(const struct skf_write_target *t, const char *con, bool sign,
                                 void *arg)
{
    struct cert_state_query *q = arg;

    return skf_write_state(t, con, sign, q->der, q->der_len, q->out);
}

static token_err skf_cert_state(struct token_provider *p, const char *id, const char *cert_id,
                                const uint8_t *der, size_t der_len, struct token_slot_state *out)
{
    struct cert_state_query q = {der, der_len, out};

    return on_cert_container(p, id, cert_id, read_cert_state, &q);
}

static const struct provider_ops skf_ops = {
    .name = "skf",
    .free = skf_provider_free,
    .reachable = skf_reachable,
    .read_missing = NULL,
    .policies = skf_policies,
    .pin_op = skf_pin_op,
    .rescan = skf_rescan,
    .cert_key = skf_cert_key,
    .cert_state = skf_cert_state,
    .cert_write = skf_cert_write,
};
