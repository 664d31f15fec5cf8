/* SPDX-License-Identifier: MIT */
/*
 * api/unlock/unlock_journal.h — the durable journal of PUK rotations in progress
 * (docs/unlock-protocol.md, "The client's complete algorithm and its
 * journal"): one small JSON file per pending rotation in
 * STATE_DIRECTORY/unlock/, replaced atomically and made durable (fsync of the
 * file and of the directory) before the step it names is taken.
 *
 * A record names the step, the unlock mechanism and the ids needed to
 * finish it (token, CA URL, request and rotation ids) and two facts about
 * the card; it never holds a PIN, a PUK, an admin PIN, a temporary PIN or a
 * code.
 */
#ifndef UKEYD_API_UNLOCK_JOURNAL_H
#define UKEYD_API_UNLOCK_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "api/ca/ca_client.h"
#include "token/token.h"

#define JOURNAL_TOKEN_ID_MAX TOKEN_ID_MAX
#define JOURNAL_WHY_MAX      256

enum journal_step {
    JOURNAL_AUTHORIZED,      /* authorize answered a pair; the card is untouched */
    JOURNAL_PIN_RESET,       /* RESET RETRY COUNTER is being (or was) sent */
    JOURNAL_PUK_CHANGED,     /* CHANGE REFERENCE DATA of the PUK is being (or was) sent */
    JOURNAL_CONFIRMED,       /* the confirmation below is being (or was) sent */
    JOURNAL_PUK_REFUSED,     /* the card refused the pair's PUK; the report is being (or was) sent */
    JOURNAL_PIN_TEMPORARY,   /* remote-challenge: the CA's answer setting a temporary PIN is
                                being (or was) sent, and the change to the user's PIN after it */
    JOURNAL_STEP__COUNT
};

/* "authorized", "pin-reset", "puk-changed", "confirmed", "puk-refused", "pin-temporary". */
const char *journal_step_name(enum journal_step step);

struct journal_record {
    enum journal_step step;
    enum ca_mechanism mechanism; /* "puk" in records written before mechanisms were named */
    char token_id[JOURNAL_TOKEN_ID_MAX + 1];
    char ca_url[CA_URL_MAX + 1];
    char request_id[CA_ID_MAX + 1];
    char rotation_id[CA_ID_MAX + 1];
    bool resumed;                /* authorize resumed a pair this journal had no record of */
    bool pin_blocked_before;     /* the PIN was blocked when the unlock began */
    bool rotated;                /* confirmed: "rotated", else "unchanged" */
    bool pin_reset;              /* confirmed: the pinReset sent */
    enum ca_puk_problem refused; /* puk-refused: why the card refused the PUK */
    int puk_tries_left;          /* puk-refused: the PUK's tries left after it, -1 unknown */
};

struct journal;

/* Opens (creating it 0700 when missing) STATE_DIR/unlock. -1 with `why` filled. */
int journal_open(const char *state_dir, struct journal **out, char *why, size_t why_size);
void journal_close(struct journal *j);

/* Replaces the record of rec->rotation_id, durably. 0, or -1 (logged). */
int journal_write(struct journal *j, const struct journal_record *rec);
/* Deletes the record of `rotation_id`, durably. 0 (also when there was none), or -1. */
int journal_remove(struct journal *j, const char *rotation_id);

/* Every readable record (unreadable files are logged and left alone).
 * Free the array with free(). 0, or -1 when the directory cannot be read. */
int journal_list(struct journal *j, struct journal_record **out, size_t *n);

#endif
