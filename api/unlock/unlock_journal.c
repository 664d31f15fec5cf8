/* SPDX-License-Identifier: MIT */
/*
 * api/unlock/unlock_journal.c — the rotation journal on disk.
 *
 * A record is the file ROTATION_ID.json (the id is checked to be URL-safe,
 * so it is a plain file name), written durably by api/base/journal_dir.c.
 * Callers serialise writes (the unlock service's rotation lock).
 */
#include "api/unlock/unlock_journal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/base/journal_dir.h"
#include "api/base/log.h"

#define JOURNAL_SUBDIR       "unlock"
#define RECORD_FORMAT        1
#define N_PROBLEMS           ((int)(sizeof problem_names / sizeof problem_names[0]))

struct journal {
    struct journal_dir *dir;
};

static const char *const step_names[JOURNAL_STEP__COUNT] = {
    [JOURNAL_AUTHORIZED] = "authorized",
    [JOURNAL_PIN_RESET] = "pin-reset",
    [JOURNAL_PUK_CHANGED] = "puk-changed",
    [JOURNAL_CONFIRMED] = "confirmed",
    [JOURNAL_PUK_REFUSED] = "puk-refused",
    [JOURNAL_PIN_TEMPORARY] = "pin-temporary",
};

const char *journal_step_name(enum journal_step step)
{
    return (unsigned)step < JOURNAL_STEP__COUNT ? step_names[step] : "unknown";
}

static bool step_of_name(const char *name, enum journal_step *out)
{
    int s = journal_name_index(name, step_names, JOURNAL_STEP__COUNT);

    *out = (enum journal_step)s;
    return s >= 0;
}

int journal_open(const char *state_dir, struct journal **out, char *why, size_t why_size)
{
    struct journal *j = calloc(1, sizeof *j);

    *out = NULL;
    if (!j) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    if (journal_dir_open(state_dir, JOURNAL_SUBDIR, &j->dir, why, why_size) < 0) {
        free(j);
        return -1;
    }
    *out = j;
    return 0;
}

void journal_close(struct journal *j)
{
    if (!j)
        return;
    journal_dir_close(j->dir);
    free(j);
}

static const char *const problem_names[] = {
    [CA_PUK_INCORRECT] = "puk-incorrect",
    [CA_PUK_UNFIT] = "puk-unfit",
    [CA_ANSWER_INCORRECT] = "answer-incorrect",
};

static const char *puk_problem_name(enum ca_puk_problem p)
{
    return problem_names[p];
}

static enum ca_puk_problem puk_problem_of(const char *name)
{
    int p = name ? journal_name_index(name, problem_names, N_PROBLEMS) : -1;

    return p < 0 ? CA_PUK_INCORRECT : (enum ca_puk_problem)p;
}

static bool mechanism_of(const char *name, enum ca_mechanism *out)
{
    for (int m = 0; m < CA_MECH__COUNT; m++)
        if (name && strcmp(name, ca_mechanism_name((enum ca_mechanism)m)) == 0) {
            *out = (enum ca_mechanism)m;
            return true;
        }
    return false;
}

static json_t *record_to_json(const struct journal_record *rec)
{
    json_t *v = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b}", "format",
                          RECORD_FORMAT, "step", journal_step_name(rec->step), "mechanism",
                          ca_mechanism_name(rec->mechanism), "tokenId", rec->token_id,
                          "caUrl", rec->ca_url, "requestId", rec->request_id, "rotationId",
                          rec->rotation_id, "resumed", rec->resumed, "pinBlockedBefore",
                          rec->pin_blocked_before);

    if (v && rec->step == JOURNAL_CONFIRMED &&
        (json_object_set_new(v, "result", json_string(rec->rotated ? "rotated" : "unchanged")) ||
         json_object_set_new(v, "pinReset", json_boolean(rec->pin_reset)))) {
        json_decref(v);
        return NULL;
    }
    if (v && rec->step == JOURNAL_PUK_REFUSED &&
        (json_object_set_new(v, "cardRefused", json_string(puk_problem_name(rec->refused))) ||
         json_object_set_new(v, "pukTriesLeft", json_integer(rec->puk_tries_left)))) {
        json_decref(v);
        return NULL;
    }
    return v;
}

int journal_write(struct journal *j, const struct journal_record *rec)
{
    json_t *v;
    int rc;

    if (!ca_id_valid(rec->rotation_id))
        return -1;
    v = record_to_json(rec);
    rc = v ? journal_dir_write(j->dir, rec->rotation_id, v) : -1;
    json_decref(v);
    if (rc < 0)
        log_msg(LOG_ERR, &(struct log_fields){ .token_id = rec->token_id },
                "unlock journal: cannot record step %s: %m", journal_step_name(rec->step));
    return rc;
}

int journal_remove(struct journal *j, const char *rotation_id)
{
    if (!ca_id_valid(rotation_id))
        return -1;
    if (journal_dir_remove(j->dir, rotation_id) < 0) {
        log_msg(LOG_ERR, NULL, "unlock journal: cannot delete a record: %m");
        return -1;
    }
    return 0;
}

static bool record_from_json(json_t *v, struct journal_record *rec)
{
    const char *step, *token, *url, *request, *rotation, *result = NULL, *refused = NULL;
    const char *mechanism = NULL;
    int format = 0, resumed = 0, blocked = 0, pin_reset = 0, puk_tries = -1;

    *rec = (struct journal_record){ 0 };
    if (!v ||
        json_unpack(v, "{s:i, s:s, s?s, s:s, s:s, s:s, s:s, s:b, s:b, s?s, s?b, s?s, s?i}",
                    "format", &format, "step", &step, "mechanism", &mechanism, "tokenId",
                    &token, "caUrl", &url, "requestId", &request, "rotationId", &rotation,
                    "resumed", &resumed, "pinBlockedBefore", &blocked, "result", &result,
                    "pinReset", &pin_reset, "cardRefused", &refused, "pukTriesLeft",
                    &puk_tries) ||
        format != RECORD_FORMAT || !step_of_name(step, &rec->step) ||
        (mechanism && !mechanism_of(mechanism, &rec->mechanism)) ||
        !journal_copy_text(token, rec->token_id, sizeof rec->token_id) ||
        !journal_copy_text(url, rec->ca_url, sizeof rec->ca_url) || !ca_id_valid(request) ||
        !ca_id_valid(rotation) ||
        !journal_copy_text(request, rec->request_id, sizeof rec->request_id) ||
        !journal_copy_text(rotation, rec->rotation_id, sizeof rec->rotation_id))
        return false;
    if ((rec->step == JOURNAL_CONFIRMED && !result) ||
        (rec->step == JOURNAL_PUK_REFUSED && !refused))
        return false;
    rec->refused = puk_problem_of(refused);
    rec->puk_tries_left = puk_tries;
    rec->resumed = resumed;
    rec->pin_blocked_before = blocked;
    rec->rotated = result && strcmp(result, "rotated") == 0;
    rec->pin_reset = pin_reset;
    return true;
}

static bool parse_record(const char *id, json_t *v, void *item)
{
    (void)id;
    return record_from_json(v, item);
}

static const struct journal_reader reader = {
    .label = "unlock journal", .item_size = sizeof(struct journal_record),
    .parse = parse_record,
};

int journal_list(struct journal *j, struct journal_record **out, size_t *n)
{
    void *items;
    int rc = journal_dir_list(j->dir, &reader, &items, n);

    *out = items;
    return rc;
}
