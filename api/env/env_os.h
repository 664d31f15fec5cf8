/* SPDX-License-Identifier: MIT */
/*
 * api/env/env_os.h — the "system" checks: which distribution and kernel this is
 * (os-release(5), uname(2)) and whether the CA service announces a newer
 * ukeyd than this one.
 */
#ifndef UKEYD_API_ENV_OS_H
#define UKEYD_API_ENV_OS_H

#include <stdbool.h>
#include <sys/utsname.h>

#include "api/env/env_check.h"

#define OS_FIELD_MAX 128

struct os_release {
    char id[OS_FIELD_MAX];             /* "debian" */
    char id_like[OS_FIELD_MAX];        /* "debian" on Ubuntu, UOS, Kylin */
    char name[OS_FIELD_MAX];           /* "Debian GNU/Linux" */
    char pretty_name[OS_FIELD_MAX];    /* "Debian GNU/Linux 12 (bookworm)" */
    char version_id[OS_FIELD_MAX];     /* "12" */
    char version_codename[OS_FIELD_MAX];
};

/* Parses os-release text (KEY=value lines, values optionally quoted with
 * shell-style escapes). Unknown keys and malformed lines are skipped.
 * Returns the number of known keys found. */
int env_os_release_parse(const char *text, struct os_release *out);

/* Reads /etc/os-release, else /usr/lib/os-release; -1 when neither reads. */
int env_os_release_read(struct os_release *out);

/* "Debian GNU/Linux 12 (bookworm)": PRETTY_NAME, else NAME VERSION_ID, else ID. */
const char *env_os_display(const struct os_release *o, char *buf, size_t size);

/* Whether ukeyd is made for it: Debian or a distribution built on it. */
bool env_os_supported(const struct os_release *o);

/* Compares dotted version numbers ("0.10.0" > "0.9.2"; a missing part is 0;
 * anything after the numbers, like "-rc1", is ignored). <0, 0 or >0. */
int env_version_compare(const char *a, const char *b);

/* Adds system.os (o is NULL when os-release could not be read). */
void env_os_check(struct env_report *r, const struct os_release *o, const struct utsname *u);

/* Adds system.ukeyd for this ukeyd's `version`; `latest` is the newest
 * version the CA service announces (docs/unlock-protocol.md, health), NULL
 * when it announces none or could not be asked. */
void env_ukeyd_check(struct env_report *r, const char *version, const char *latest);

#endif
