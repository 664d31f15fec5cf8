/* SPDX-License-Identifier: MIT */
/*
 * api/env/env_text.h — every sentence the environment check and repair say to a
 * person, in zh-CN and en, and the filling of their "{name}" placeholders.
 *
 * Checks are built without a language: they carry a message id and its
 * arguments (struct env_words), and only rendering picks the request's
 * language. Arguments are language-neutral (numbers, names, dates, commands).
 */
#ifndef UKEYD_API_ENV_TEXT_H
#define UKEYD_API_ENV_TEXT_H

#include <stddef.h>

#include "api/render/lang.h"

enum env_msg {
    ENV_MSG_NONE = 0,

    ENV_TIMED_OUT, ENV_HINT_TIMED_OUT,

    ENV_OS_TITLE, ENV_OS_FOUND, ENV_OS_UNKNOWN, ENV_OS_UNTESTED, ENV_OS_HINT_UNTESTED,
    ENV_UKEYD_TITLE, ENV_UKEYD_LATEST, ENV_UKEYD_NO_NEWS, ENV_UKEYD_OUTDATED,
    ENV_UKEYD_HINT_UPGRADE,

    ENV_CLOCK_TITLE, ENV_CLOCK_IN_SYNC, ENV_CLOCK_AHEAD, ENV_CLOCK_BEHIND,
    ENV_CLOCK_UNCOMPARED, ENV_CLOCK_UNREACHABLE, ENV_CLOCK_HINT_SYNC, ENV_CLOCK_HINT_NETWORK,

    ENV_NET_TITLE, ENV_NET_UNCONFIGURED, ENV_NET_HINT_CONFIGURE, ENV_NET_OK_TLS,
    ENV_NET_OK_PLAIN, ENV_NET_SLOW, ENV_NET_HINT_SLOW, ENV_NET_DNS, ENV_NET_HINT_DNS,
    ENV_NET_CONNECT, ENV_NET_CONNECT_TIMEOUT, ENV_NET_HINT_CONNECT, ENV_NET_TLS,
    ENV_NET_HINT_TLS, ENV_NET_NO_ANSWER, ENV_NET_HINT_NO_ANSWER, ENV_NET_HTTP, ENV_NET_ERROR,

    ENV_PCSC_TITLE, ENV_PCSC_UP, ENV_PCSC_DOWN, ENV_PCSC_HINT_DOWN, ENV_PCSC_UNKNOWN,
    ENV_PCSC_HINT_UNKNOWN,
    ENV_SYSTEMD_TITLE, ENV_SYSTEMD_NO_BUS, ENV_SYSTEMD_STATE, ENV_SYSTEMD_FAILED,
    ENV_SYSTEMD_HINT_FAILED, ENV_SYSTEMD_MISSING, ENV_SYSTEMD_HINT_INSTALL, ENV_SYSTEMD_ERROR,
    ENV_DRIVERS_TITLE, ENV_DRIVERS_CCID, ENV_DRIVERS_NO_CCID, ENV_DRIVERS_HINT_CCID,
    ENV_READERS_TITLE, ENV_READERS_FOUND, ENV_READERS_NONE, ENV_READERS_HINT_NONE,
    ENV_TOKENS_TITLE, ENV_TOKENS_FOUND, ENV_TOKENS_NONE, ENV_TOKENS_HINT_NONE,
    ENV_TOKENS_UNRECOGNISED, ENV_TOKENS_HINT_UNRECOGNISED,

    ENV_TOKEN_TITLE, ENV_TOKEN_OK, ENV_TOKEN_PIN_BLOCKED, ENV_TOKEN_HINT_BLOCKED,
    ENV_TOKEN_PIN_LAST, ENV_TOKEN_HINT_LAST, ENV_TOKEN_CERT_EXPIRED, ENV_TOKEN_HINT_EXPIRED,
    ENV_TOKEN_CERT_EXPIRING, ENV_TOKEN_HINT_EXPIRING, ENV_TOKEN_CERT_NOT_YET,
    ENV_TOKEN_HINT_NOT_YET, ENV_TOKEN_CERT_UNREADABLE, ENV_TOKEN_HINT_UNREADABLE,
    ENV_TOKEN_NO_CERT, ENV_TOKEN_HINT_NO_CERT,

    ENV_BROWSER_TITLE, ENV_BROWSER_OK, ENV_BROWSER_HINT_LNA, ENV_BROWSER_NONE,
    ENV_BROWSER_HINT_NONE, ENV_BROWSER_INSECURE, ENV_BROWSER_HINT_INSECURE,

    ENV_REPAIR_PCSCD_RUNNING, ENV_REPAIR_PCSCD_SYSTEMD, ENV_REPAIR_PCSCD_DENIED,
    ENV_REPAIR_PCSCD_SYSTEMD_FAILED, ENV_REPAIR_PCSCD_HOOK, ENV_REPAIR_PCSCD_HOOK_EXIT,
    ENV_REPAIR_PCSCD_HOOK_SIGNAL, ENV_REPAIR_PCSCD_HOOK_TIMEOUT, ENV_REPAIR_PCSCD_HOOK_SPAWN,
    ENV_REPAIR_PCSCD_MANUAL, ENV_REPAIR_RESCAN_DONE, ENV_REPAIR_RESCAN_FAILED,
    ENV_REPAIR_INSTALL_CCID, ENV_REPAIR_INSTALL_PCSCD, ENV_REPAIR_SYNC_CLOCK,

    ENV_MSG__COUNT
};

#define ENV_ARGS_MAX 8
#define ENV_ARG_MAX  192       /* bytes of one argument's text, NUL included */

struct env_arg {
    const char *name;          /* static */
    char value[ENV_ARG_MAX];
};

/* A sentence to be said: which one, and what fills its placeholders. */
struct env_words {
    enum env_msg msg;
    struct env_arg args[ENV_ARGS_MAX];
    size_t n_args;
};

void env_words_set(struct env_words *w, enum env_msg msg);
/* Adds (or replaces) the argument `name`; text longer than ENV_ARG_MAX is cut
 * on a UTF-8 character boundary. Arguments beyond ENV_ARGS_MAX are dropped. */
__attribute__((format(printf, 3, 4)))
void env_words_arg(struct env_words *w, const char *name, const char *fmt, ...);

/* The template of `msg` in `lang`; NULL for ENV_MSG_NONE or out of range. */
const char *env_text_template(enum env_msg msg, enum api_lang lang);

/* The sentence in `lang` with its placeholders filled (a placeholder without
 * an argument stays as written). NULL for ENV_MSG_NONE or out of memory;
 * free() the result. */
char *env_text_render(const struct env_words *w, enum api_lang lang);

#endif
