/* SPDX-License-Identifier: MIT */
/*
 * api/unlock_journal.c — the rotation journal on disk.
 *
 * A record is the file ROTATION_ID.json (the id is checked to be URL-safe,
 * so it is a plain file name). It is written to a hidden temporary file in
 * the same directory, fsync'ed, renamed over the record and the directory is
 * fsync'ed: after a crash at any instant the record is either the old one or
 * the new one, and once journal_write returns it survives a power cut.
 * Callers serialise writes (the unlock service's rotation lock).
 */
#include "api/unlock_journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/json.h"
#include "api/log.h"

#define JOURNAL_SUBDIR       "unlock"
#define RECORD_SUFFIX        ".json"
#define TEMP_PREFIX          ".tmp-"
#define RECORD_NAME_MAX      (sizeof TEMP_PREFIX + CA_ID_MAX + sizeof RECORD_SUFFIX)
#define RECORD_FORMAT        1
#define DIR_MODE             0700
#define FILE_MODE            0600
#define RECORDS_GROWTH       8

struct journal {
    int dirfd;
};

static const char *const step_names[JOURNAL_STEP__COUNT] = {
    [JOURNAL_AUTHORIZED] = "authorized",
    [JOURNAL_PIN_RESET] = "pin-reset",
    [JOURNAL_PUK_CHANGED] = "puk-changed",
    [JOURNAL_CONFIRMED] = "confirmed",
};

const char *journal_step_name(enum journal_step step)
{
    return (unsigned)step < JOURNAL_STEP__COUNT ? step_names[step] : "unknown";
}

static bool step_of_name(const char *name, enum journal_step *out)
{
    for (int s = 0; s < JOURNAL_STEP__COUNT; s++) {
        if (strcmp(name, step_names[s]) == 0) {
            *out = (enum journal_step)s;
            return true;
        }
    }
    return false;
}

/* mkdir that is content when the directory is there already. */
static int ensure_dir(const char *path)
{
    return mkdir(path, DIR_MODE) == 0 || errno == EEXIST ? 0 : -1;
}

int journal_open(const char *state_dir, struct journal **out, char *why, size_t why_size)
{
    char path[PATH_MAX];
    struct journal *j;
    int fd;

    *out = NULL;
    if (snprintf(path, sizeof path, "%s/" JOURNAL_SUBDIR, state_dir) >= (int)sizeof path) {
        snprintf(why, why_size, "%s: path too long", state_dir);
        return -1;
    }
    if (ensure_dir(state_dir) < 0 || ensure_dir(path) < 0) {
        snprintf(why, why_size, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, why_size, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    j = calloc(1, sizeof *j);
    if (!j) {
        close(fd);
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    j->dirfd = fd;
    *out = j;
    return 0;
}

void journal_close(struct journal *j)
{
    if (!j)
        return;
    close(j->dirfd);
    free(j);
}

static json_t *record_to_json(const struct journal_record *rec)
{
    json_t *v = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:b, s:b}", "format", RECORD_FORMAT,
                          "step", journal_step_name(rec->step), "tokenId", rec->token_id,
                          "caUrl", rec->ca_url, "requestId", rec->request_id, "rotationId",
                          rec->rotation_id, "resumed", rec->resumed, "pinBlockedBefore",
                          rec->pin_blocked_before);

    if (v && rec->step == JOURNAL_CONFIRMED &&
        (json_object_set_new(v, "result", json_string(rec->rotated ? "rotated" : "unchanged")) ||
         json_object_set_new(v, "pinReset", json_boolean(rec->pin_reset)))) {
        json_decref(v);
        return NULL;
    }
    return v;
}

static void record_name(const char *rotation_id, bool temporary, char *out, size_t size)
{
    snprintf(out, size, "%s%s%s", temporary ? TEMP_PREFIX : "", rotation_id, RECORD_SUFFIX);
}

static int write_all(int fd, const char *text, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, text, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        text += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Writes `text` to the temporary file of the record and syncs it. */
static int write_temp(struct journal *j, const char *temp, const char *text)
{
    int fd = openat(j->dirfd, temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
                    FILE_MODE);
    int rc;

    if (fd < 0)
        return -1;
    rc = write_all(fd, text, strlen(text)) == 0 && fsync(fd) == 0 ? 0 : -1;
    if (close(fd) < 0)
        rc = -1;
    return rc;
}

int journal_write(struct journal *j, const struct journal_record *rec)
{
    char temp[RECORD_NAME_MAX], name[RECORD_NAME_MAX];
    json_t *v;
    char *text;
    int rc = -1;

    if (!ca_id_valid(rec->rotation_id))
        return -1;
    record_name(rec->rotation_id, true, temp, sizeof temp);
    record_name(rec->rotation_id, false, name, sizeof name);
    v = record_to_json(rec);
    text = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (text && write_temp(j, temp, text) == 0 && renameat(j->dirfd, temp, j->dirfd, name) == 0 &&
        fsync(j->dirfd) == 0)
        rc = 0;
    if (rc < 0) {
        log_msg(LOG_ERR, &(struct log_fields){ .token_id = rec->token_id },
                "unlock journal: cannot record step %s: %m", journal_step_name(rec->step));
        unlinkat(j->dirfd, temp, 0);
    }
    if (text)
        json_text_free(text);
    return rc;
}

int journal_remove(struct journal *j, const char *rotation_id)
{
    char name[RECORD_NAME_MAX];

    if (!ca_id_valid(rotation_id))
        return -1;
    record_name(rotation_id, false, name, sizeof name);
    if ((unlinkat(j->dirfd, name, 0) < 0 && errno != ENOENT) || fsync(j->dirfd) < 0) {
        log_msg(LOG_ERR, NULL, "unlock journal: cannot delete a record: %m");
        return -1;
    }
    return 0;
}

static bool copy_text(const char *s, char *out, size_t size)
{
    if (!s || strlen(s) >= size)
        return false;
    memcpy(out, s, strlen(s) + 1);
    return true;
}

static bool record_from_json(json_t *v, struct journal_record *rec)
{
    const char *step, *token, *url, *request, *rotation, *result = NULL;
    int format = 0, resumed = 0, blocked = 0, pin_reset = 0;

    *rec = (struct journal_record){ 0 };
    if (json_unpack(v, "{s:i, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s?s, s?b}", "format", &format,
                    "step", &step, "tokenId", &token, "caUrl", &url, "requestId", &request,
                    "rotationId", &rotation, "resumed", &resumed, "pinBlockedBefore", &blocked,
                    "result", &result, "pinReset", &pin_reset) ||
        format != RECORD_FORMAT || !step_of_name(step, &rec->step) ||
        !copy_text(token, rec->token_id, sizeof rec->token_id) ||
        !copy_text(url, rec->ca_url, sizeof rec->ca_url) || !ca_id_valid(request) ||
        !ca_id_valid(rotation) || !copy_text(request, rec->request_id, sizeof rec->request_id) ||
        !copy_text(rotation, rec->rotation_id, sizeof rec->rotation_id))
        return false;
    if (rec->step == JOURNAL_CONFIRMED && !result)
        return false;
    rec->resumed = resumed;
    rec->pin_blocked_before = blocked;
    rec->rotated = result && strcmp(result, "rotated") == 0;
    rec->pin_reset = pin_reset;
    return true;
}

static bool read_record(struct journal *j, const char *name, struct journal_record *rec)
{
    int fd = openat(j->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    json_error_t jerr;
    json_t *v;
    bool ok;

    if (fd < 0)
        return false;
    v = json_loadfd(fd, JSON_REJECT_DUPLICATES, &jerr);
    close(fd);
    ok = v && record_from_json(v, rec);
    json_decref(v);
    return ok;
}

static bool is_record_name(const char *name)
{
    size_t n = strlen(name), suffix = strlen(RECORD_SUFFIX);

    return name[0] != '.' && n > suffix && strcmp(name + n - suffix, RECORD_SUFFIX) == 0;
}

static int append_record(struct journal_record **list, size_t *n, size_t *cap,
                         const struct journal_record *rec)
{
    if (*n == *cap) {
        struct journal_record *bigger = reallocarray(*list, *cap + RECORDS_GROWTH, sizeof **list);

        if (!bigger)
            return -1;
        *list = bigger;
        *cap += RECORDS_GROWTH;
    }
    (*list)[(*n)++] = *rec;
    return 0;
}

int journal_list(struct journal *j, struct journal_record **out, size_t *n)
{
    int fd = openat(j->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct journal_record *list = NULL, rec;
    size_t count = 0, cap = 0;
    struct dirent *e;
    int rc = 0;

    *out = NULL;
    *n = 0;
    if (!d) {
        if (fd >= 0)
            close(fd);
        log_msg(LOG_ERR, NULL, "unlock journal: cannot read its directory: %m");
        return -1;
    }
    while (rc == 0 && (e = readdir(d))) {
        if (!is_record_name(e->d_name))
            continue;
        if (!read_record(j, e->d_name, &rec)) {
            /* The name is a rotation id, a capability: only its start is logged. */
            log_msg(LOG_ERR, NULL,
                    "unlock journal: %.*s… is not a record this ukeyd reads; left alone",
                    CA_ID_LOG_PREFIX, e->d_name);
            continue;
        }
        rc = append_record(&list, &count, &cap, &rec);
    }
    closedir(d);
    if (rc < 0) {
        free(list);
        return -1;
    }
    *out = list;
    *n = count;
    return 0;
}
