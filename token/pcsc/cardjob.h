/* SPDX-License-Identifier: MIT */
/*
 * token/pcsc/cardjob.h — card work with a deadline (internal to token/).
 *
 * SCardBeginTransaction waits for as long as another process holds the card,
 * and pcsc-lite offers no way to give up. So each piece of card work runs on
 * a thread of its own: the caller waits for the transaction only until its
 * deadline and then answers TOKEN_E_TOKEN_BUSY. A job whose caller gave up
 * never touches the card: when it finally gets the transaction it ends it at
 * once. Once the work has started, the caller waits for it to finish — card
 * I/O is bounded by pcscd and the reader — so nothing is ever half-done behind
 * a caller's back. Stopping joins every job thread (card_jobs_stop): no
 * deadline decides whether a job outlives what it was started for.
 */
#ifndef UKEYD_TOKEN_PCSC_CARDJOB_H
#define UKEYD_TOKEN_PCSC_CARDJOB_H

#include <stdbool.h>

#include "token/pcsc/edge.h"
#include "token/pcsc/pcsc.h"

struct card_session {
    struct pcsc_ctx *ctx;
    struct pcsc_card *card;
    const struct card_edge *edge;
    const struct apdu_transport *t;
    /* set by work that verified or changed a PIN/PUK and could not log out:
     * the card is reset when the transaction ends */
    bool needs_reset;
};

/* Runs inside the transaction, after the card edge was selected. */
typedef token_err (*card_work_fn)(struct card_session *cs, void *arg);

struct card_job;

/*
 * Runs `work` on the card in `reader`, with the driver `want` (or the first
 * whose application selects when NULL). Waits at most `wait_ms` for the card
 * to be free; then returns TOKEN_E_TOKEN_BUSY, and when `stuck` is given it
 * receives a reference to the job still waiting, to refuse more work for the
 * same card meanwhile. `arg` is only used while this call runs. *edge_used,
 * when given, says which driver answered.
 */
token_err card_job_run(const char *reader, const struct card_edge *want, unsigned wait_ms,
                       card_work_fn work, void *arg, const struct card_edge **edge_used,
                       struct card_job **stuck);

/* True while a job given up on is still waiting for its card. */
bool card_job_still_waiting(struct card_job *job);

void card_job_unref(struct card_job *job);

/*
 * For shutdown, once nothing starts card jobs any more: gives up every job
 * still waiting for its card (another process holding it) where pcsc-lite
 * allows, and joins every job thread, however long that takes (a connect
 * pcscd holds back until another program's transaction ends cannot be given
 * up). On return no job of the process runs, touches the card or is inside
 * pcsc-lite.
 */
void card_jobs_stop(void);

#endif
