/* SPDX-License-Identifier: MIT */
/*
 * api/env/env_pcsc.h — the PC/SC checks: pcscd reachable, reader drivers
 * installed (CCID), readers present, a token present and recognised; and,
 * one per token, its PIN state and certificate validity. The facts come from
 * the token service (never from a card directly) and from pcsc-lite's driver
 * directory.
 */
#ifndef UKEYD_API_ENV_PCSC_H
#define UKEYD_API_ENV_PCSC_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "api/env/env_check.h"
#include "token/token.h"

#define ENV_PCSC_DRIVERS_DIR  "/usr/lib/pcsc/drivers"   /* pcsc-lite's usbdropdir */
#define ENV_CCID_BUNDLE       "ifd-ccid.bundle"
#define ENV_CERT_WARN_DAYS    30

/* What the token service knows, taken in one go. */
struct env_pcsc_facts {
    bool available;                    /* pcscd reachable */
    struct token_reader *readers;
    size_t n_readers;
    struct token_snapshot **tokens;
    size_t n_tokens;
};

/* Reads tokens (reading cards that were not read yet) and readers. */
void env_pcsc_collect(struct token_service *svc, struct env_pcsc_facts *f);
void env_pcsc_facts_free(struct env_pcsc_facts *f);

struct env_drivers {
    bool readable;                     /* the directory could be listed */
    bool ccid;                         /* ifd-ccid.bundle is there */
    json_t *bundles;                   /* names of *.bundle directories, sorted */
    json_t *serial;                    /* names of serial/ drivers, sorted */
};

/* Lists `dir` (pcsc-lite's driver directory). Never fails: see `readable`. */
void env_drivers_scan(const char *dir, struct env_drivers *out);
void env_drivers_free(struct env_drivers *d);

/* Adds pcsc.service, pcsc.readers and pcsc.tokens; `f` is NULL when the
 * token service did not answer in time. */
void env_pcsc_checks(struct env_report *r, const struct env_pcsc_facts *f, unsigned timeout_ms);
/* Adds pcsc.drivers. */
void env_drivers_check(struct env_report *r, const char *dir, const struct env_drivers *d);

/* Adds token.<id> for each token, judged at time `now`. */
void env_token_checks(struct env_report *r, const struct env_pcsc_facts *f, time_t now);

#endif
