/* SPDX-License-Identifier: MIT */
/*
 * api/base/journal_dir.c — durable records on disk: temporary file, fsync,
 * rename, fsync of the directory (see api/base/journal_dir.h).
 */
#include "api/base/journal_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/base/log.h"

#include "api/base/json.h"

#define RECORD_SUFFIX        ".json"
#define TEMP_PREFIX          ".tmp-"
#define RECORD_NAME_MAX      NAME_MAX
#define DIR_MODE             0700
#define FILE_MODE            0600

struct journal_dir {
    int dirfd;
};

/* mkdir that is content when the directory is there already. */
static int ensure_dir(const char *path)
{
    return mkdir(path, DIR_MODE) == 0 || errno == EEXIST ? 0 : -1;
}

int journal_dir_open(const char *state_dir, const char *subdir, struct journal_dir **out,
                     char *why, size_t why_size)
{
    char path[PATH_MAX];
    struct journal_dir *d;
    int fd;

    *out = NULL;
    if (snprintf(path, sizeof path, "%s/%s", state_dir, subdir) >= (int)sizeof path) {
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
    d = calloc(1, sizeof *d);
    if (!d) {
        close(fd);
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    d->dirfd = fd;
    *out = d;
    return 0;
}

void journal_dir_close(struct journal_dir *d)
{
    if (!d)
        return;
    close(d->dirfd);
    free(d);
}

static bool record_name(const char *id, bool temporary, char *out, size_t size)
{
    return snprintf(out, size, "%s%s%s", temporary ? TEMP_PREFIX : "", id, RECORD_SUFFIX) <
           (int)size;
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
static int write_temp(struct journal_dir *d, const char *temp, const char *text)
{
    int fd = openat(d->dirfd, temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
                    FILE_MODE);
    int rc;

    if (fd < 0)
        return -1;
    rc = write_all(fd, text, strlen(text)) == 0 && fsync(fd) == 0 ? 0 : -1;
    if (close(fd) < 0)
        rc = -1;
    return rc;
}

int journal_dir_write(struct journal_dir *d, const char *id, const json_t *record)
{
    char temp[RECORD_NAME_MAX + 1], name[RECORD_NAME_MAX + 1];
    char *text;
    int rc = -1, saved;

    if (!record_name(id, true, temp, sizeof temp) || !record_name(id, false, name, sizeof name)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    text = json_dumps(record, JSON_COMPACT);
    if (text && write_temp(d, temp, text) == 0 && renameat(d->dirfd, temp, d->dirfd, name) == 0 &&
        fsync(d->dirfd) == 0)
        rc = 0;
    saved = text ? errno : ENOMEM;
    if (rc < 0)
        unlinkat(d->dirfd, temp, 0);
    if (text)
        json_text_free(text);
    errno = saved;
    return rc;
}

int journal_dir_remove(struct journal_dir *d, const char *id)
{
    char name[RECORD_NAME_MAX + 1];

    if (!record_name(id, false, name, sizeof name)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if ((unlinkat(d->dirfd, name, 0) < 0 && errno != ENOENT) || fsync(d->dirfd) < 0)
        return -1;
    return 0;
}

static json_t *read_named(struct journal_dir *d, const char *name)
{
    int fd = openat(d->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    json_error_t jerr;
    json_t *v;

    if (fd < 0)
        return NULL;
    v = json_loadfd(fd, JSON_REJECT_DUPLICATES, &jerr);
    close(fd);
    return v;
}

json_t *journal_dir_read(struct journal_dir *d, const char *id)
{
    char name[RECORD_NAME_MAX + 1];

    return record_name(id, false, name, sizeof name) ? read_named(d, name) : NULL;
}

/* The id of a record file, or false for anything else (temporary files included). */
static bool id_of_name(const char *name, char *id, size_t size)
{
    size_t n = strlen(name), suffix = strlen(RECORD_SUFFIX);

    if (name[0] == '.' || n <= suffix || strcmp(name + n - suffix, RECORD_SUFFIX) != 0 ||
        n - suffix >= size)
        return false;
    memcpy(id, name, n - suffix);
    id[n - suffix] = '\0';
    return true;
}

int journal_dir_each(struct journal_dir *d, journal_dir_fn fn, void *userdata)
{
    int fd = openat(d->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    char id[RECORD_NAME_MAX + 1];
    struct dirent *e;
    int rc = 0;

    if (!dir) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    while (rc == 0 && (e = readdir(dir))) {
        json_t *v;

        if (!id_of_name(e->d_name, id, sizeof id))
            continue;
        v = read_named(d, e->d_name);
        rc = fn(userdata, id, v);
        json_decref(v);
    }
    closedir(dir);
    return rc;
}

/* --- what both journals do with their records ---------------------------- */

#define RECORDS_GROWTH 8

struct record_list {
    const struct journal_reader *rd;
    unsigned char *items;
    size_t n, cap;
};

static void discard_all(const struct journal_reader *rd, unsigned char *items, size_t n)
{
    for (size_t i = 0; rd->discard && i < n; i++)
        rd->discard(items + i * rd->item_size);
    free(items);
}

static int append_item(struct record_list *l, const void *item)
{
    if (l->n == l->cap) {
        unsigned char *bigger = reallocarray(l->items, l->cap + RECORDS_GROWTH, l->rd->item_size);

        if (!bigger)
            return -1;
        l->items = bigger;
        l->cap += RECORDS_GROWTH;
    }
    memcpy(l->items + l->n++ * l->rd->item_size, item, l->rd->item_size);
    return 0;
}

static int collect_record(void *userdata, const char *id, json_t *v)
{
    struct record_list *l = userdata;
    unsigned char *item = calloc(1, l->rd->item_size);
    int rc = 0;

    if (!item)
        return -1;
    if (!l->rd->parse(id, v, item)) {
        if (l->rd->discard)
            l->rd->discard(item);
        log_msg(LOG_ERR, NULL, "%s: %.*s… is not a record this ukeyd reads; left alone",
                l->rd->label, JOURNAL_ID_LOG_PREFIX, id);
    } else if (append_item(l, item) < 0) {
        if (l->rd->discard)
            l->rd->discard(item);
        rc = -1;
    }
    free(item);
    return rc;
}

int journal_dir_list(struct journal_dir *d, const struct journal_reader *rd, void **items,
                     size_t *n)
{
    struct record_list l = { .rd = rd };

    *items = NULL;
    *n = 0;
    if (journal_dir_each(d, collect_record, &l) < 0) {
        log_msg(LOG_ERR, NULL, "%s: cannot read its directory: %m", rd->label);
        discard_all(rd, l.items, l.n);
        return -1;
    }
    *items = l.items;
    *n = l.n;
    return 0;
}

int journal_name_index(const char *name, const char *const *names, int count)
{
    for (int i = 0; i < count; i++)
        if (names[i] && strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

bool journal_copy_text(const char *s, char *out, size_t size)
{
    if (!s || strlen(s) >= size)
        return false;
    memcpy(out, s, strlen(s) + 1);
    return true;
}
