/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <PCSC/winscard.h>
#include <PCSC/wintypes.h>

#include "token/pcsc/pcsc.h"

/* The pseudo-reader whose state changes when readers come and go. */
#define PCSC_PNP_READER            "\\\\?PnP?\\Notification"
#define PCSC_EVENT_COUNT_SHIFT     16
/* The monitor wakes this often even without changes, so a stop request that
 * races with SCardCancel still ends the thread promptly. */
#define PCSC_MONITOR_WAIT_MS       1000
#define PCSC_RECONNECT_BACKOFF_MS  500
#define PCSC_SW_LEN                2

struct pcsc_ctx {
    SCARDCONTEXT h;
};

struct pcsc_card {
    SCARDHANDLE h;
    DWORD protocol;
    bool in_transaction;
    bool aborted;           /* disconnected by pcsc_card_abort */
    uint8_t atr[PCSC_ATR_MAX];
    size_t atr_len;
    struct apdu_transport transport;
};

static token_err pcsc_err(LONG rv)
{
    switch (rv) {
    case SCARD_S_SUCCESS:
        return TOKEN_OK;
    case SCARD_E_NO_MEMORY:
        return TOKEN_E_NO_MEMORY;
    case SCARD_E_NO_SERVICE:
    case SCARD_E_SERVICE_STOPPED:
    case SCARD_F_COMM_ERROR:
    case SCARD_E_INVALID_HANDLE:
    case SCARD_W_SECURITY_VIOLATION:
        /* all seen while pcscd is restarting: the context has to be redone
         * (pcsc-lite's client calls a socket pcscd closes during
         * SCardEstablishContext a security violation; polkit refusing us
         * looks the same, and pcscd is then no more usable either) */
        return TOKEN_E_PCSC_UNAVAILABLE;
    case SCARD_E_NO_READERS_AVAILABLE:
    case SCARD_E_UNKNOWN_READER:
    case SCARD_E_READER_UNAVAILABLE:
        return TOKEN_E_READER_NOT_FOUND;
    case SCARD_E_NO_SMARTCARD:
        return TOKEN_E_TOKEN_NOT_FOUND;
    case SCARD_W_REMOVED_CARD:
    case SCARD_E_NOT_TRANSACTED:
    case SCARD_W_UNPOWERED_CARD:
    case SCARD_W_UNRESPONSIVE_CARD:
        return TOKEN_E_TOKEN_REMOVED;
    case SCARD_E_SHARING_VIOLATION:
        return TOKEN_E_TOKEN_BUSY;
    case SCARD_E_TIMEOUT:
        return TOKEN_E_TIMEOUT;
    case SCARD_W_UNSUPPORTED_CARD:
    case SCARD_E_PROTO_MISMATCH:
        return TOKEN_E_CARD_UNSUPPORTED;
    default:
        return TOKEN_E_CARD_ERROR;
    }
}

token_err pcsc_ctx_open(struct pcsc_ctx **out)
{
    struct pcsc_ctx *ctx;
    LONG rv;

    ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return TOKEN_E_NO_MEMORY;
    rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx->h);
    if (rv != SCARD_S_SUCCESS) {
        free(ctx);
        return pcsc_err(rv);
    }
    *out = ctx;
    return TOKEN_OK;
}

void pcsc_ctx_free(struct pcsc_ctx *ctx)
{
    if (!ctx)
        return;
    SCardReleaseContext(ctx->h);
    free(ctx);
}

/* Reader names as a multi-string; NULL and TOKEN_OK when there are none. */
static token_err pcsc_reader_names(SCARDCONTEXT h, char **names)
{
    DWORD len = 0;
    char *buf;
    LONG rv;

    *names = NULL;
    rv = SCardListReaders(h, NULL, NULL, &len);
    if (rv == SCARD_E_NO_READERS_AVAILABLE)
        return TOKEN_OK;
    if (rv != SCARD_S_SUCCESS)
        return pcsc_err(rv);
    buf = malloc(len);
    if (!buf)
        return TOKEN_E_NO_MEMORY;
    rv = SCardListReaders(h, NULL, buf, &len);
    if (rv == SCARD_E_NO_READERS_AVAILABLE) {
        free(buf);
        return TOKEN_OK;
    }
    if (rv != SCARD_S_SUCCESS || len == 0) {
        free(buf);
        return rv == SCARD_S_SUCCESS ? TOKEN_E_CARD_ERROR : pcsc_err(rv);
    }
    buf[len - 1] = '\0';
    *names = buf;
    return TOKEN_OK;
}

static void pcsc_reader_from_state(struct pcsc_reader *r, const SCARD_READERSTATE *st)
{
    r->card_present = (st->dwEventState & SCARD_STATE_PRESENT) &&
                      !(st->dwEventState & SCARD_STATE_MUTE);
    r->card_exclusive = st->dwEventState & SCARD_STATE_EXCLUSIVE;
    r->event_count = (unsigned)(st->dwEventState >> PCSC_EVENT_COUNT_SHIFT);
    r->atr_len = r->card_present && st->cbAtr <= PCSC_ATR_MAX ? st->cbAtr : 0;
    memcpy(r->atr, st->rgbAtr, r->atr_len);
}

/* Fills list[i] for every name of a multi-string; states are read without waiting. */
static token_err pcsc_read_reader_states(SCARDCONTEXT h, const char *names,
                                         struct pcsc_reader **out, size_t *n)
{
    SCARD_READERSTATE *states = NULL;
    struct pcsc_reader *list = NULL;
    size_t count = 0, i;
    const char *p;
    token_err err = TOKEN_OK;
    LONG rv;

    for (p = names; p && *p; p += strlen(p) + 1)
        count++;
    *out = NULL;
    *n = 0;
    if (count == 0)
        return TOKEN_OK;

    states = calloc(count, sizeof(*states));
    list = calloc(count, sizeof(*list));
    if (!states || !list) {
        err = TOKEN_E_NO_MEMORY;
        goto out;
    }
    for (i = 0, p = names; i < count; i++, p += strlen(p) + 1) {
        states[i].szReader = p;
        states[i].dwCurrentState = SCARD_STATE_UNAWARE;
    }
    rv = SCardGetStatusChange(h, 0, states, (DWORD)count);
    if (rv != SCARD_S_SUCCESS && rv != SCARD_E_TIMEOUT) {
        err = pcsc_err(rv);
        goto out;
    }
    for (i = 0; i < count; i++) {
        list[i].name = strdup(states[i].szReader);
        if (!list[i].name) {
            err = TOKEN_E_NO_MEMORY;
            goto out;
        }
        pcsc_reader_from_state(&list[i], &states[i]);
    }
    *out = list;
    *n = count;
    list = NULL;
out:
    pcsc_readers_free(list, count);
    free(states);
    return err;
}

token_err pcsc_list_readers(struct pcsc_ctx *ctx, struct pcsc_reader **out, size_t *n)
{
    char *names = NULL;
    token_err err;

    if (!ctx || !out || !n)
        return TOKEN_E_INVALID_ARG;
    err = pcsc_reader_names(ctx->h, &names);
    if (!err)
        err = pcsc_read_reader_states(ctx->h, names, out, n);
    free(names);
    return err;
}

void pcsc_readers_free(struct pcsc_reader *list, size_t n)
{
    size_t i;

    if (!list)
        return;
    for (i = 0; i < n; i++)
        free(list[i].name);
    free(list);
}

static token_err pcsc_card_transmit(void *vcard, const uint8_t *cmd, size_t cmd_len,
                                    uint8_t *rsp, size_t *rsp_len)
{
    struct pcsc_card *card = vcard;
    const SCARD_IO_REQUEST *pci =
        card->protocol == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1;
    DWORD len = (DWORD)*rsp_len;
    LONG rv;

    rv = SCardTransmit(card->h, pci, cmd, (DWORD)cmd_len, NULL, rsp, &len);
    if (rv != SCARD_S_SUCCESS)
        return pcsc_err(rv);
    /* A card that is there always ends its answer with a status word; pcscd
     * reports success with an empty answer when the card went away in the
     * middle of the exchange (seen with vpcd). */
    if (len < PCSC_SW_LEN)
        return TOKEN_E_TOKEN_REMOVED;
    *rsp_len = len;
    return TOKEN_OK;
}

static token_err pcsc_card_read_atr(struct pcsc_card *card)
{
    BYTE atr[MAX_ATR_SIZE];
    DWORD atr_len = sizeof(atr), state, protocol, name_len = 0;
    LONG rv;

    rv = SCardStatus(card->h, NULL, &name_len, &state, &protocol, atr, &atr_len);
    if (rv != SCARD_S_SUCCESS)
        return pcsc_err(rv);
    card->atr_len = atr_len <= PCSC_ATR_MAX ? atr_len : 0;
    memcpy(card->atr, atr, card->atr_len);
    return TOKEN_OK;
}

token_err pcsc_card_connect(struct pcsc_ctx *ctx, const char *reader, struct pcsc_card **out)
{
    struct pcsc_card *card;
    token_err err;
    LONG rv;

    if (!ctx || !reader || !out)
        return TOKEN_E_INVALID_ARG;
    card = calloc(1, sizeof(*card));
    if (!card)
        return TOKEN_E_NO_MEMORY;
    rv = SCardConnect(ctx->h, reader, SCARD_SHARE_SHARED,
                      SCARD_PROTOCOL_T1 | SCARD_PROTOCOL_T0, &card->h, &card->protocol);
    if (rv != SCARD_S_SUCCESS) {
        free(card);
        return pcsc_err(rv);
    }
    card->transport.transmit = pcsc_card_transmit;
    card->transport.ctx = card;
    err = pcsc_card_read_atr(card);
    if (err) {
        pcsc_card_free(card);
        return err;
    }
    *out = card;
    return TOKEN_OK;
}

void pcsc_card_free(struct pcsc_card *card)
{
    if (!card)
        return;
    if (card->in_transaction)
        pcsc_card_end(card, false);
    /* a handle is never disconnected twice: pcscd may have given its value
     * to another connection since */
    if (!card->aborted)
        SCardDisconnect(card->h, SCARD_LEAVE_CARD);
    free(card);
}

void pcsc_card_abort(struct pcsc_card *card)
{
    /* pcsc-lite looks the handle up again at each poll of a waiting
     * SCardBeginTransaction (and SCardReconnect), and serialises calls on
     * one context, so a disconnect from another thread ends the wait */
    SCardDisconnect(card->h, SCARD_LEAVE_CARD);
    card->aborted = true;
}

token_err pcsc_card_begin(struct pcsc_card *card)
{
    LONG rv;

    rv = SCardBeginTransaction(card->h);
    if (rv == SCARD_W_RESET_CARD) {
        /* someone reset the card since we connected: nothing of ours was in
         * flight, so reconnecting is all it takes */
        rv = SCardReconnect(card->h, SCARD_SHARE_SHARED,
                            SCARD_PROTOCOL_T1 | SCARD_PROTOCOL_T0, SCARD_LEAVE_CARD,
                            &card->protocol);
        if (rv == SCARD_S_SUCCESS)
            rv = SCardBeginTransaction(card->h);
    }
    if (rv != SCARD_S_SUCCESS)
        return pcsc_err(rv);
    card->in_transaction = true;
    return TOKEN_OK;
}

void pcsc_card_end(struct pcsc_card *card, bool reset)
{
    if (!card || !card->in_transaction)
        return;
    if (card->aborted) {
        card->in_transaction = false;   /* the disconnect ended it */
        return;
    }
    SCardEndTransaction(card->h, reset ? SCARD_RESET_CARD : SCARD_LEAVE_CARD);
    card->in_transaction = false;
}

const struct apdu_transport *pcsc_card_transport(struct pcsc_card *card)
{
    return &card->transport;
}

const uint8_t *pcsc_card_atr(const struct pcsc_card *card, size_t *len)
{
    *len = card->atr_len;
    return card->atr;
}

/* ---- the monitor ---- */

struct pcsc_monitor {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
    enum { SERVICE_UNKNOWN, SERVICE_UP, SERVICE_DOWN } service;
    SCARDCONTEXT ctx;
    bool have_ctx;
    pcsc_change_fn fn;
    void *userdata;
    struct pcsc_reader *known;   /* what subscribers have been told */
    size_t n_known;
};

static void monitor_emit(struct pcsc_monitor *mon, enum pcsc_change_kind kind,
                         const struct pcsc_reader *r)
{
    struct pcsc_change ch = {.kind = kind, .reader = r};

    mon->fn(&ch, mon->userdata);
}

static bool monitor_stopping(struct pcsc_monitor *mon)
{
    bool s;

    pthread_mutex_lock(&mon->lock);
    s = mon->stopping;
    pthread_mutex_unlock(&mon->lock);
    return s;
}

static void monitor_sleep(struct pcsc_monitor *mon, unsigned ms)
{
    struct timespec until;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&mon->lock);
    while (!mon->stopping &&
           pthread_cond_timedwait(&mon->wake, &mon->lock, &until) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&mon->lock);
}

static struct pcsc_reader *monitor_find(struct pcsc_reader *list, size_t n, const char *name)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(list[i].name, name) == 0)
            return &list[i];
    return NULL;
}

/* Tells subscribers about one reader's change from `old` (NULL: new reader) to `now`. */
static void monitor_report_reader(struct pcsc_monitor *mon, const struct pcsc_reader *old,
                                  const struct pcsc_reader *now)
{
    bool was_present = old && old->card_present;
    bool swapped = old && now->card_present && was_present &&
                   old->event_count != now->event_count;

    if (!old)
        monitor_emit(mon, PCSC_CHANGE_READER_ADDED, now);
    if (was_present && (!now->card_present || swapped))
        monitor_emit(mon, PCSC_CHANGE_CARD_REMOVED, old);
    if (now->card_present && (!was_present || swapped))
        monitor_emit(mon, PCSC_CHANGE_CARD_INSERTED, now);
}

static void monitor_forget_all(struct pcsc_monitor *mon)
{
    size_t i;

    for (i = 0; i < mon->n_known; i++) {
        if (mon->known[i].card_present)
            monitor_emit(mon, PCSC_CHANGE_CARD_REMOVED, &mon->known[i]);
        monitor_emit(mon, PCSC_CHANGE_READER_REMOVED, &mon->known[i]);
    }
    pcsc_readers_free(mon->known, mon->n_known);
    mon->known = NULL;
    mon->n_known = 0;
}

/* Compares pcscd's current picture with what was reported and reports the difference. */
static void monitor_apply(struct pcsc_monitor *mon, struct pcsc_reader *now, size_t n_now)
{
    size_t i;

    for (i = 0; i < mon->n_known; i++) {
        struct pcsc_reader *old = &mon->known[i];

        if (!monitor_find(now, n_now, old->name)) {
            if (old->card_present)
                monitor_emit(mon, PCSC_CHANGE_CARD_REMOVED, old);
            monitor_emit(mon, PCSC_CHANGE_READER_REMOVED, old);
        }
    }
    for (i = 0; i < n_now; i++)
        monitor_report_reader(mon, monitor_find(mon->known, mon->n_known, now[i].name), &now[i]);
    pcsc_readers_free(mon->known, mon->n_known);
    mon->known = now;
    mon->n_known = n_now;
}

static void monitor_lose_service(struct pcsc_monitor *mon)
{
    pthread_mutex_lock(&mon->lock);
    if (mon->have_ctx)
        SCardReleaseContext(mon->ctx);
    mon->have_ctx = false;
    if (mon->service == SERVICE_DOWN) {
        pthread_mutex_unlock(&mon->lock);
        return;
    }
    mon->service = SERVICE_DOWN;
    pthread_mutex_unlock(&mon->lock);
    monitor_forget_all(mon);
    monitor_emit(mon, PCSC_CHANGE_SERVICE_LOST, NULL);
}

static bool monitor_connect(struct pcsc_monitor *mon)
{
    SCARDCONTEXT h;
    bool was_down;

    if (SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &h) != SCARD_S_SUCCESS)
        return false;
    pthread_mutex_lock(&mon->lock);
    was_down = mon->service == SERVICE_DOWN;
    mon->ctx = h;
    mon->have_ctx = true;
    mon->service = SERVICE_UP;
    pthread_mutex_unlock(&mon->lock);
    if (was_down)
        monitor_emit(mon, PCSC_CHANGE_SERVICE_BACK, NULL);
    return true;
}

/* Blocks until pcscd reports a change to any known reader or to the reader list. */
static token_err monitor_wait_change(struct pcsc_monitor *mon)
{
    SCARD_READERSTATE *st;
    size_t i, n = mon->n_known + 1;
    LONG rv;

    st = calloc(n, sizeof(*st));
    if (!st)
        return TOKEN_E_NO_MEMORY;
    for (i = 0; i < mon->n_known; i++) {
        st[i].szReader = mon->known[i].name;
        st[i].dwCurrentState = (mon->known[i].card_present ? SCARD_STATE_PRESENT
                                                           : SCARD_STATE_EMPTY) |
                               ((DWORD)mon->known[i].event_count << PCSC_EVENT_COUNT_SHIFT);
    }
    st[n - 1].szReader = PCSC_PNP_READER;
    st[n - 1].dwCurrentState = SCARD_STATE_UNAWARE;
    /* the PnP entry must start from pcscd's own count or it fires at once */
    rv = SCardGetStatusChange(mon->ctx, 0, &st[n - 1], 1);
    if (rv == SCARD_S_SUCCESS || rv == SCARD_E_TIMEOUT) {
        st[n - 1].dwCurrentState = st[n - 1].dwEventState & ~SCARD_STATE_CHANGED;
        rv = SCardGetStatusChange(mon->ctx, PCSC_MONITOR_WAIT_MS, st, (DWORD)n);
    }
    free(st);
    if (rv == SCARD_S_SUCCESS || rv == SCARD_E_TIMEOUT || rv == SCARD_E_CANCELLED ||
        rv == SCARD_E_UNKNOWN_READER)
        return TOKEN_OK;
    return pcsc_err(rv);
}

static void monitor_refresh(struct pcsc_monitor *mon)
{
    struct pcsc_reader *now = NULL;
    size_t n_now = 0;
    char *names = NULL;
    token_err err;

    err = pcsc_reader_names(mon->ctx, &names);
    if (!err)
        err = pcsc_read_reader_states(mon->ctx, names, &now, &n_now);
    free(names);
    if (err == TOKEN_E_PCSC_UNAVAILABLE) {
        monitor_lose_service(mon);
        return;
    }
    if (err) {
        monitor_sleep(mon, PCSC_RECONNECT_BACKOFF_MS);
        return;
    }
    monitor_apply(mon, now, n_now);
    monitor_emit(mon, PCSC_CHANGE_SCAN_DONE, NULL);
}

static void *monitor_main(void *arg)
{
    struct pcsc_monitor *mon = arg;

    while (!monitor_stopping(mon)) {
        if (!mon->have_ctx && !monitor_connect(mon)) {
            monitor_lose_service(mon);
            monitor_sleep(mon, PCSC_RECONNECT_BACKOFF_MS);
            continue;
        }
        monitor_refresh(mon);
        if (!mon->have_ctx || monitor_stopping(mon))
            continue;
        if (monitor_wait_change(mon) == TOKEN_E_PCSC_UNAVAILABLE)
            monitor_lose_service(mon);
    }
    pthread_mutex_lock(&mon->lock);
    if (mon->have_ctx)
        SCardReleaseContext(mon->ctx);
    mon->have_ctx = false;
    pthread_mutex_unlock(&mon->lock);
    pcsc_readers_free(mon->known, mon->n_known);
    mon->known = NULL;
    mon->n_known = 0;
    return NULL;
}

token_err pcsc_monitor_start(pcsc_change_fn fn, void *userdata, struct pcsc_monitor **out)
{
    struct pcsc_monitor *mon;
    pthread_condattr_t ca;

    if (!fn || !out)
        return TOKEN_E_INVALID_ARG;
    mon = calloc(1, sizeof(*mon));
    if (!mon)
        return TOKEN_E_NO_MEMORY;
    mon->fn = fn;
    mon->userdata = userdata;
    pthread_mutex_init(&mon->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&mon->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&mon->thread, NULL, monitor_main, mon) != 0) {
        pthread_cond_destroy(&mon->wake);
        pthread_mutex_destroy(&mon->lock);
        free(mon);
        return TOKEN_E_NO_MEMORY;
    }
    *out = mon;
    return TOKEN_OK;
}

void pcsc_monitor_stop(struct pcsc_monitor *mon)
{
    if (!mon)
        return;
    pthread_mutex_lock(&mon->lock);
    mon->stopping = true;
    if (mon->have_ctx)
        SCardCancel(mon->ctx);
    pthread_cond_broadcast(&mon->wake);
    pthread_mutex_unlock(&mon->lock);
    pthread_join(mon->thread, NULL);
    pthread_cond_destroy(&mon->wake);
    pthread_mutex_destroy(&mon->lock);
    free(mon);
}

bool pcsc_monitor_service_up(struct pcsc_monitor *mon)
{
    bool up;

    pthread_mutex_lock(&mon->lock);
    up = mon->service == SERVICE_UP && mon->have_ctx;
    pthread_mutex_unlock(&mon->lock);
    return up;
}
