/* SPDX-License-Identifier: MIT */
/*
 * token/pcsc/provider_internal.h — what the PC/SC provider (provider.c) lends
 * the card edges' other operations (keyslot.c), internal to token/: running
 * card work on one token the way every operation runs, and telling the cache
 * and subscribers that the certificates changed. The PIN guard with work
 * done while verified is the service's (provider.h).
 */
#ifndef UKEYD_TOKEN_PCSC_PROVIDER_INTERNAL_H
#define UKEYD_TOKEN_PCSC_PROVIDER_INTERNAL_H

#include <stdbool.h>

#include "token/pcsc/cardjob.h"
#include "token/provider.h"
#include "token/token.h"

/*
 * Runs `work` on token `id`'s card in one transaction, serialised with every
 * other operation on the token and under its deadline (an attempt given up
 * on never reaches the card). TOKEN_E_NOT_SUPPORTED when `edge_ok` says the
 * token's card edge cannot, or the token is not a card. *reader (free()) names the reader the token was
 * in, also on error, NULL when it was not found.
 */
token_err service_token_job(struct token_service *svc, const char *id,
                            bool (*edge_ok)(const struct card_edge *edge), card_work_fn work,
                            void *arg, char **reader);

/* Inside a transaction: the token in the reader must still be `id`. */
token_err service_same_token(struct card_session *cs, const char *id);

/* Reads the token in `reader` again and sends TOKEN_EV_CERTS_CHANGED. */
void service_certs_changed(struct token_service *svc, const char *reader, const char *id);

#endif
