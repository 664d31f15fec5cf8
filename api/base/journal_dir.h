/* SPDX-License-Identifier: MIT */
/*
 * api/base/journal_dir.h — a directory of durable JSON records, one file per id,
 * under ukeyd's state directory: what the unlock journal (api/unlock/unlock_journal.h)
 * and the certificate-write journal (api/certwrite/certwrite_journal.h) are made of.
 *
 * A record is written to a hidden temporary file in the same directory,
 * fsync'ed, renamed over the record and the directory is fsync'ed: after a
 * crash at any instant the record is either the old one or the new one, and
 * once journal_dir_write returns it survives a power cut. Callers serialise
 * writes to one directory. Ids are checked to be plain file names by the
 * caller (they are capabilities: never logged beyond a prefix).
 */
#ifndef UKEYD_API_JOURNAL_DIR_H
#define UKEYD_API_JOURNAL_DIR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct journal_dir;

/* Opens (creating it 0700 when missing) STATE_DIR/SUBDIR. -1 with `why` filled. */
int journal_dir_open(const char *state_dir, const char *subdir, struct journal_dir **out,
                     char *why, size_t why_size);
void journal_dir_close(struct journal_dir *d);

/* Replaces the record `id`, durably. 0, or -1 with errno set. */
int journal_dir_write(struct journal_dir *d, const char *id, const json_t *record);
/* Deletes the record `id`, durably. 0 (also when there was none), or -1. */
int journal_dir_remove(struct journal_dir *d, const char *id);
/* The record `id` (caller decrefs), or NULL when absent or not JSON. */
json_t *journal_dir_read(struct journal_dir *d, const char *id);

/* Calls `fn` with each record's id and its JSON (NULL when it does not
 * parse); 0, or -1 when the directory cannot be read or `fn` returns -1. */
typedef int (*journal_dir_fn)(void *userdata, const char *id, json_t *record);
int journal_dir_each(struct journal_dir *d, journal_dir_fn fn, void *userdata);

#endif
