/* SPDX-License-Identifier: MIT */
/*
 * token/pcsc/pcsc.h — everything that talks to pcscd: contexts, readers, card
 * connections and transactions, and the monitor thread that watches readers
 * and cards with SCardGetStatusChange.
 *
 * PC/SC return codes never leave this module; they become token_err here.
 * A context is cheap (one socket to pcscd), so operations open their own and
 * a pcscd restart costs them nothing; the monitor keeps one long-lived context
 * and re-establishes it when pcscd goes away and comes back.
 */
#ifndef UKEYD_TOKEN_PCSC_PCSC_H
#define UKEYD_TOKEN_PCSC_PCSC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "token/pcsc/apdu.h"
#include "token/error.h"

#define PCSC_ATR_MAX 33

struct pcsc_ctx;
struct pcsc_card;

struct pcsc_reader {
    char *name;
    bool card_present;
    bool card_exclusive;    /* another process holds the card exclusively */
    uint8_t atr[PCSC_ATR_MAX];
    size_t atr_len;
    unsigned event_count;   /* pcscd's per-reader card event counter */
};

token_err pcsc_ctx_open(struct pcsc_ctx **out);
void pcsc_ctx_free(struct pcsc_ctx *ctx);

/* Current readers and their card state; an empty list is not an error. */
token_err pcsc_list_readers(struct pcsc_ctx *ctx, struct pcsc_reader **out, size_t *n);
void pcsc_readers_free(struct pcsc_reader *list, size_t n);

/* Shared connection, T=1 or T=0, to the card in `reader`. */
token_err pcsc_card_connect(struct pcsc_ctx *ctx, const char *reader, struct pcsc_card **out);
/* Leaves the card as it is; call pcsc_card_end first if a transaction is open. */
void pcsc_card_free(struct pcsc_card *card);

/* Exclusive access for a multi-APDU operation; waits while another process holds it. */
token_err pcsc_card_begin(struct pcsc_card *card);
/*
 * From another thread, to give up a pcsc_card_begin still waiting: drops the
 * connection, and the wait ends with TOKEN_E_PCSC_UNAVAILABLE within one of
 * pcsc-lite's polls. The owner must not be using the card otherwise (the
 * caller makes sure, cardjob.c under the job's lock); it still calls
 * pcsc_card_free, which then does not disconnect again.
 */
void pcsc_card_abort(struct pcsc_card *card);
/* Ends the transaction; `reset` also resets the card, dropping any verified PIN. */
void pcsc_card_end(struct pcsc_card *card, bool reset);

const struct apdu_transport *pcsc_card_transport(struct pcsc_card *card);
/* The ATR as the connection reported it. */
const uint8_t *pcsc_card_atr(const struct pcsc_card *card, size_t *len);

/* The monitor: a thread that reports changes. */
enum pcsc_change_kind {
    PCSC_CHANGE_READER_ADDED,
    PCSC_CHANGE_READER_REMOVED,
    PCSC_CHANGE_CARD_INSERTED,
    PCSC_CHANGE_CARD_REMOVED,
    PCSC_CHANGE_SERVICE_LOST,
    PCSC_CHANGE_SERVICE_BACK,
    PCSC_CHANGE_SCAN_DONE,      /* the changes of one look at pcscd have all been reported */
};

struct pcsc_change {
    enum pcsc_change_kind kind;
    const struct pcsc_reader *reader;   /* NULL for SERVICE_*; valid during the call */
};

typedef void (*pcsc_change_fn)(const struct pcsc_change *change, void *userdata);

struct pcsc_monitor;

/*
 * Starts the thread. It first reports every reader and present card as
 * added/inserted, so a subscriber builds its picture from the callbacks alone.
 * Callbacks run on the monitor thread.
 */
token_err pcsc_monitor_start(pcsc_change_fn fn, void *userdata, struct pcsc_monitor **out);
void pcsc_monitor_stop(struct pcsc_monitor *mon);
bool pcsc_monitor_service_up(struct pcsc_monitor *mon);

#endif
