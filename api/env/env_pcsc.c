/* SPDX-License-Identifier: MIT */
/*
 * api/env/env_pcsc.c — pcscd, its drivers, readers and tokens as the
 * environment check sees them: pcsc.service, pcsc.drivers, pcsc.readers and
 * pcsc.tokens. (Per-token checks are in env_token.c.)
 */
#include "api/env/env_pcsc.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUNDLE_SUFFIX     ".bundle"
#define SERIAL_SUBDIR     "serial"
#define DRIVERS_MAX       256
#define HEX_DIGITS        "0123456789ABCDEF"
#define NIBBLE_BITS       4
#define NIBBLE_MASK       0x0f
#define LIST_SEPARATOR    ", "

/* --- facts -------------------------------------------------------------- */

void env_pcsc_collect(struct token_service *svc, struct env_pcsc_facts *f)
{
    struct token_status st = { 0 };

    memset(f, 0, sizeof *f);
    if (token_service_status(svc, &st) != TOKEN_OK || !st.pcsc_available)
        return;
    /* Tokens first: listing them reads cards a first attempt missed, so the
     * reader list that follows knows which cards are really unrecognised. */
    if (token_service_tokens(svc, &f->tokens, &f->n_tokens) != TOKEN_OK) {
        f->tokens = NULL;
        f->n_tokens = 0;
        return;
    }
    if (token_service_readers(svc, &f->readers, &f->n_readers) != TOKEN_OK) {
        f->readers = NULL;
        f->n_readers = 0;
        return;
    }
    f->available = true;
}

void env_pcsc_facts_free(struct env_pcsc_facts *f)
{
    token_snapshots_free(f->tokens, f->n_tokens);
    token_readers_free(f->readers, f->n_readers);
    memset(f, 0, sizeof *f);
}

/* --- drivers ------------------------------------------------------------ */

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);

    return n > s && strcmp(name + n - s, suffix) == 0;
}

/* Names in `dir` that `want` accepts, sorted, as a JSON array; NULL when the
 * directory cannot be read. */
static json_t *list_dir(const char *dir, bool (*want)(const struct dirent *))
{
    char *names[DRIVERS_MAX];
    size_t n = 0;
    struct dirent *e;
    DIR *d = opendir(dir);
    json_t *list;

    if (!d)
        return NULL;
    while ((e = readdir(d)) && n < DRIVERS_MAX)
        if (want(e) && (names[n] = strdup(e->d_name)))
            n++;
    closedir(d);
    qsort(names, n, sizeof names[0], compare_names);
    list = json_array();
    for (size_t i = 0; i < n; i++) {
        if (list)
            json_array_append_new(list, json_string(names[i]));
        free(names[i]);
    }
    return list;
}

static bool is_bundle(const struct dirent *e)
{
    return has_suffix(e->d_name, BUNDLE_SUFFIX);
}

static bool is_driver_file(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

void env_drivers_scan(const char *dir, struct env_drivers *out)
{
    char serial[PATH_MAX];
    size_t i;
    json_t *name;

    memset(out, 0, sizeof *out);
    out->bundles = list_dir(dir, is_bundle);
    out->readable = out->bundles != NULL;
    snprintf(serial, sizeof serial, "%s/%s", dir, SERIAL_SUBDIR);
    out->serial = list_dir(serial, is_driver_file);
    json_array_foreach(out->bundles, i, name)
        out->ccid = out->ccid || strcmp(json_string_value(name), ENV_CCID_BUNDLE) == 0;
}

void env_drivers_free(struct env_drivers *d)
{
    json_decref(d->bundles);
    json_decref(d->serial);
    memset(d, 0, sizeof *d);
}

void env_drivers_check(struct env_report *r, const char *dir, const struct env_drivers *d)
{
    struct env_check *c = env_report_add(r, "pcsc", "pcsc.drivers", ENV_DRIVERS_TITLE);

    if (!c)
        return;
    if (d->ccid) {
        env_check_say(c, ENV_OK, ENV_DRIVERS_CCID, ENV_MSG_NONE);
        env_words_arg(&c->found, "count", "%zu",
                      json_array_size(d->bundles) + json_array_size(d->serial));
    } else {
        env_check_say(c, ENV_WARN, ENV_DRIVERS_NO_CCID, ENV_DRIVERS_HINT_CCID);
    }
    env_words_arg(&c->found, "dir", "%s", dir);
    env_check_detail(c, "directory", json_string(dir));
    env_check_detail(c, "readable", json_boolean(d->readable));
    env_check_detail(c, "ccid", json_boolean(d->ccid));
    env_check_detail(c, "bundles", d->bundles ? json_incref(d->bundles) : json_array());
    env_check_detail(c, "serialDrivers", d->serial ? json_incref(d->serial) : json_array());
}

/* --- service, readers, tokens -------------------------------------------- */

static void say_timed_out(struct env_check *c, unsigned timeout_ms)
{
    env_check_say(c, ENV_WARN, ENV_TIMED_OUT, ENV_HINT_TIMED_OUT);
    env_words_arg(&c->found, "ms", "%u", timeout_ms);
}

static void service_check(struct env_report *r, const struct env_pcsc_facts *f,
                          unsigned timeout_ms)
{
    struct env_check *c = env_report_add(r, "pcsc", "pcsc.service", ENV_PCSC_TITLE);
    const char *socket = getenv("PCSCLITE_CSOCK_NAME");

    if (!c)
        return;
    if (!f) {
        say_timed_out(c, timeout_ms);
        return;
    }
    if (f->available)
        env_check_say(c, ENV_OK, ENV_PCSC_UP, ENV_MSG_NONE);
    else
        env_check_say(c, ENV_FAIL, ENV_PCSC_DOWN, ENV_PCSC_HINT_DOWN);
    env_check_detail(c, "available", json_boolean(f->available));
    /* pcsc-lite's client library reads this variable; tests and rigs set it. */
    env_check_detail(c, "socket", socket ? json_string(socket) : json_null());
}

/* "Reader A, Reader B", cut to fit one argument. */
static void join_reader_names(struct env_words *w, const struct env_pcsc_facts *f)
{
    char names[ENV_ARG_MAX] = "";
    size_t used = 0;

    for (size_t i = 0; i < f->n_readers && used < sizeof names; i++)
        used += (size_t)snprintf(names + used, sizeof names - used, "%s%s",
                                 i ? LIST_SEPARATOR : "", f->readers[i].name);
    env_words_arg(w, "names", "%s", names);
}

static json_t *readers_json(const struct env_pcsc_facts *f)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < f->n_readers; i++) {
        const struct token_reader *rd = &f->readers[i];

        json_array_append_new(a, json_pack("{s:s, s:b, s:o}", "name", rd->name, "cardPresent",
                                           rd->card_present, "tokenId",
                                           rd->token_id ? json_string(rd->token_id)
                                                        : json_null()));
    }
    return a;
}

static void readers_check(struct env_report *r, const struct env_pcsc_facts *f,
                          unsigned timeout_ms)
{
    struct env_check *c = env_report_add(r, "pcsc", "pcsc.readers", ENV_READERS_TITLE);

    if (!c)
        return;
    if (!f) {
        say_timed_out(c, timeout_ms);
        return;
    }
    if (!f->available) {
        env_check_say(c, ENV_WARN, ENV_PCSC_UNKNOWN, ENV_PCSC_HINT_UNKNOWN);
        return;
    }
    if (f->n_readers == 0) {
        env_check_say(c, ENV_WARN, ENV_READERS_NONE, ENV_READERS_HINT_NONE);
    } else {
        env_check_say(c, ENV_OK, ENV_READERS_FOUND, ENV_MSG_NONE);
        env_words_arg(&c->found, "count", "%zu", f->n_readers);
        join_reader_names(&c->found, f);
    }
    env_check_detail(c, "readers", readers_json(f));
}

/* A reader holding a card that no card-edge driver took, or NULL. */
static const struct token_reader *unrecognised_card(const struct env_pcsc_facts *f)
{
    for (size_t i = 0; i < f->n_readers; i++)
        if (f->readers[i].card_present && !f->readers[i].token_id)
            return &f->readers[i];
    return NULL;
}

static void atr_hex(const struct token_reader *rd, char *out, size_t size)
{
    size_t n = 0;

    for (size_t i = 0; i < rd->atr_len && n + 2 < size; i++) {
        out[n++] = HEX_DIGITS[rd->atr[i] >> NIBBLE_BITS];
        out[n++] = HEX_DIGITS[rd->atr[i] & NIBBLE_MASK];
    }
    out[n] = '\0';
}

static void tokens_check(struct env_report *r, const struct env_pcsc_facts *f,
                         unsigned timeout_ms)
{
    struct env_check *c = env_report_add(r, "pcsc", "pcsc.tokens", ENV_TOKENS_TITLE);
    const struct token_reader *odd;
    char atr[2 * TOKEN_ATR_MAX + 1];

    if (!c)
        return;
    if (!f) {
        say_timed_out(c, timeout_ms);
        return;
    }
    if (!f->available) {
        env_check_say(c, ENV_WARN, ENV_PCSC_UNKNOWN, ENV_PCSC_HINT_UNKNOWN);
        return;
    }
    if ((odd = unrecognised_card(f))) {
        atr_hex(odd, atr, sizeof atr);
        env_check_say(c, ENV_WARN, ENV_TOKENS_UNRECOGNISED, ENV_TOKENS_HINT_UNRECOGNISED);
        env_words_arg(&c->found, "reader", "%s", odd->name);
        env_words_arg(&c->found, "atr", "%s", atr);
        env_check_detail(c, "unrecognisedAtr", json_string(atr));
    } else if (f->n_tokens == 0) {
        env_check_say(c, ENV_WARN, ENV_TOKENS_NONE, ENV_TOKENS_HINT_NONE);
    } else {
        env_check_say(c, ENV_OK, ENV_TOKENS_FOUND, ENV_MSG_NONE);
    }
    env_words_arg(&c->found, "count", "%zu", f->n_tokens);
    env_check_detail(c, "tokenCount", json_integer((json_int_t)f->n_tokens));
}

void env_pcsc_checks(struct env_report *r, const struct env_pcsc_facts *f, unsigned timeout_ms)
{
    service_check(r, f, timeout_ms);
    readers_check(r, f, timeout_ms);
    tokens_check(r, f, timeout_ms);
}
