/* SPDX-License-Identifier: MIT */
/*
 * api/env/env_os.c — os-release parsing, version comparison, and the system.os
 * and system.ukeyd checks.
 */
#include "api/env/env_os.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OS_RELEASE_PATH          "/etc/os-release"
#define OS_RELEASE_FALLBACK_PATH "/usr/lib/os-release"
#define OS_RELEASE_MAX           8192
#define OS_KEY_MAX               32
#define DECIMAL_BASE             10
#define SUPPORTED_FAMILY         "debian"

struct os_key {
    const char *name;
    size_t offset;
};

static const struct os_key os_keys[] = {
    { "ID", offsetof(struct os_release, id) },
    { "ID_LIKE", offsetof(struct os_release, id_like) },
    { "NAME", offsetof(struct os_release, name) },
    { "PRETTY_NAME", offsetof(struct os_release, pretty_name) },
    { "VERSION_ID", offsetof(struct os_release, version_id) },
    { "VERSION_CODENAME", offsetof(struct os_release, version_codename) },
};

/* Copies a value from `p` (just after '=') to the end of the line into
 * `out`, removing quotes and backslash escapes; returns the line's end. */
static const char *read_value(const char *p, char *out, size_t size)
{
    char quote = (*p == '"' || *p == '\'') ? *p++ : '\0';
    size_t used = 0;

    while (*p && *p != '\n' && *p != quote) {
        char c = *p++;

        if (c == '\\' && quote != '\'' && *p && *p != '\n')
            c = *p++;
        if (used + 1 < size)
            out[used++] = c;
    }
    if (!quote)
        while (used > 0 && isspace((unsigned char)out[used - 1]))
            used--;
    out[used] = '\0';
    return p + strcspn(p, "\n");
}

static char *field_of(struct os_release *o, const char *key, size_t len)
{
    for (size_t i = 0; i < sizeof os_keys / sizeof os_keys[0]; i++)
        if (strlen(os_keys[i].name) == len && strncmp(os_keys[i].name, key, len) == 0)
            return (char *)o + os_keys[i].offset;
    return NULL;
}

int env_os_release_parse(const char *text, struct os_release *out)
{
    const char *p = text;
    int found = 0;

    memset(out, 0, sizeof *out);
    while (*p) {
        size_t key_len;
        char *field;

        p += strspn(p, " \t");
        key_len = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
        if (key_len == 0 || key_len > OS_KEY_MAX || p[key_len] != '=') {
            p += strcspn(p, "\n");          /* comment, blank or malformed line */
        } else if ((field = field_of(out, p, key_len))) {
            p = read_value(p + key_len + 1, field, OS_FIELD_MAX);
            found++;
        } else {
            p += strcspn(p, "\n");
        }
        if (*p == '\n')
            p++;
    }
    return found;
}

static int read_small_file(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "re");
    size_t n;

    if (!f)
        return -1;
    n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
    return 0;
}

int env_os_release_read(struct os_release *out)
{
    char *text = malloc(OS_RELEASE_MAX);
    int rc = -1;

    if (!text)
        return -1;
    if (read_small_file(OS_RELEASE_PATH, text, OS_RELEASE_MAX) == 0 ||
        read_small_file(OS_RELEASE_FALLBACK_PATH, text, OS_RELEASE_MAX) == 0)
        rc = env_os_release_parse(text, out) > 0 ? 0 : -1;
    free(text);
    return rc;
}

const char *env_os_display(const struct os_release *o, char *buf, size_t size)
{
    if (o->pretty_name[0])
        snprintf(buf, size, "%s", o->pretty_name);
    else if (o->name[0])
        snprintf(buf, size, "%s%s%s", o->name, o->version_id[0] ? " " : "", o->version_id);
    else
        snprintf(buf, size, "%s", o->id[0] ? o->id : "Linux");
    return buf;
}

/* Whether the space-separated `list` holds `word`. */
static bool word_in(const char *list, const char *word)
{
    size_t len = strlen(word);

    for (const char *p = list; *p; p += strcspn(p, " ")) {
        p += strspn(p, " ");
        if (strncmp(p, word, len) == 0 && (p[len] == ' ' || p[len] == '\0'))
            return true;
    }
    return false;
}

bool env_os_supported(const struct os_release *o)
{
    return strcmp(o->id, SUPPORTED_FAMILY) == 0 || word_in(o->id_like, SUPPORTED_FAMILY);
}

/* The next dotted number of a version, 0 past its end. */
static unsigned long next_part(const char **p)
{
    char *end;
    unsigned long n;

    if (!isdigit((unsigned char)**p))
        return 0;
    n = strtoul(*p, &end, DECIMAL_BASE);
    *p = *end == '.' && isdigit((unsigned char)end[1]) ? end + 1 : end + strlen(end);
    return n;
}

int env_version_compare(const char *a, const char *b)
{
    const char *pa = a, *pb = b;

    while (isdigit((unsigned char)*pa) || isdigit((unsigned char)*pb)) {
        unsigned long x = next_part(&pa), y = next_part(&pb);

        if (x != y)
            return x < y ? -1 : 1;
    }
    return 0;
}

void env_os_check(struct env_report *r, const struct os_release *o, const struct utsname *u)
{
    struct env_check *c = env_report_add(r, "system", "system.os", ENV_OS_TITLE);
    char distro[OS_FIELD_MAX];

    if (!c)
        return;
    if (!o)
        env_check_say(c, ENV_WARN, ENV_OS_UNKNOWN, ENV_MSG_NONE);
    else if (!env_os_supported(o))
        env_check_say(c, ENV_WARN, ENV_OS_UNTESTED, ENV_OS_HINT_UNTESTED);
    else
        env_check_say(c, ENV_OK, ENV_OS_FOUND, ENV_MSG_NONE);
    if (o)
        env_words_arg(&c->found, "distro", "%s", env_os_display(o, distro, sizeof distro));
    env_words_arg(&c->found, "kernel", "%s", u->release);
    env_words_arg(&c->found, "arch", "%s", u->machine);
    env_check_detail(c, "distribution", o ? json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", o->id,
                                                      "idLike", o->id_like, "name", o->name,
                                                      "version", o->version_id, "codename",
                                                      o->version_codename)
                                          : json_null());
    env_check_detail(c, "kernel", json_string(u->release));
    env_check_detail(c, "architecture", json_string(u->machine));
}

void env_ukeyd_check(struct env_report *r, const char *version, const char *latest)
{
    struct env_check *c = env_report_add(r, "system", "system.ukeyd", ENV_UKEYD_TITLE);
    bool newer = latest && env_version_compare(latest, version) > 0;

    if (!c)
        return;
    if (newer)
        env_check_say(c, ENV_WARN, ENV_UKEYD_OUTDATED, ENV_UKEYD_HINT_UPGRADE);
    else
        env_check_say(c, ENV_OK, latest ? ENV_UKEYD_LATEST : ENV_UKEYD_NO_NEWS,
                      ENV_MSG_NONE);
    env_words_arg(&c->found, "version", "%s", version);
    if (latest)
        env_words_arg(&c->found, "latest", "%s", latest);
    env_check_detail(c, "version", json_string(version));
    env_check_detail(c, "latest", latest ? json_string(latest) : json_null());
    env_check_detail(c, "updateAvailable", json_boolean(newer));
}
