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

/* --- what both journals do with their records ---------------------------- */

/* Of an id (a capability), a log line shows this much. */
#define JOURNAL_ID_LOG_PREFIX 8

/* How a journal reads one record into its item: false when it is not a
 * record this ukeyd reads. `discard` releases what an item holds (NULL:
 * nothing to release). */
struct journal_reader {
    const char *label;                   /* for the log: "unlock journal" */
    size_t item_size;
    bool (*parse)(const char *id, json_t *record, void *item);
    void (*discard)(void *item);
};

/* Every record of `d` that parses, in an array of items (free each with
 * `discard`, then the array with free()); one that does not is logged and
 * left alone. 0, or -1 (logged) when the directory cannot be read or memory
 * runs out. */
int journal_dir_list(struct journal_dir *d, const struct journal_reader *rd, void **items,
                     size_t *n);

/* The index of `name` among `count` names, or -1. */
int journal_name_index(const char *name, const char *const *names, int count);
/* Copies `s` into `out` (with its NUL) when it fits; false when NULL or too long. */
bool journal_copy_text(const char *s, char *out, size_t size);

#endif
