/* SPDX-License-Identifier: MIT */
/*
 * api/env/env_systemd.h — systemd over the system bus, with sd-bus: the state of
 * pcscd.service and pcscd.socket; the one thing ukeyd may ask of systemd,
 * RestartUnit("pcscd.service", "replace") — which the polkit rule in
 * systemd/ grants the ukeyd user and nothing more; and whether NTP keeps the
 * clock synchronised as systemd-timedated sees it (what `timedatectl`
 * shows), for when ukeyd's sandbox keeps it from asking the kernel.
 *
 * No system bus (containers, CI, systems without systemd) is a normal
 * situation here, not an error. The bus is the one $DBUS_SYSTEM_BUS_ADDRESS
 * names, as for every sd-bus client.
 */
#ifndef UKEYD_API_ENV_SYSTEMD_H
#define UKEYD_API_ENV_SYSTEMD_H

#include <stdbool.h>
#include <stddef.h>

#include "api/env/env_check.h"

#define ENV_PCSCD_SERVICE  "pcscd.service"
#define ENV_PCSCD_SOCKET   "pcscd.socket"
#define ENV_UNIT_STATE_MAX 32
#define ENV_BUS_ERROR_MAX  160

/* systemd-timedated: a read-only property every user may Get; the bus starts
 * timedated when it is not running. The interface bears the service's name. */
#define ENV_TIMEDATED_NAME     "org.freedesktop.timedate1"
#define ENV_TIMEDATED_PATH     "/org/freedesktop/timedate1"
#define ENV_TIMEDATED_IFACE    ENV_TIMEDATED_NAME
#define ENV_TIMEDATED_NTP_SYNC "NTPSynchronized"

struct env_unit {
    const char *name;                       /* static */
    char load_state[ENV_UNIT_STATE_MAX];    /* "loaded", "not-found", "masked"...; "" unknown */
    char active_state[ENV_UNIT_STATE_MAX];  /* "active", "inactive", "failed"... */
    char sub_state[ENV_UNIT_STATE_MAX];     /* "running", "listening", "dead"... */
};

struct env_systemd {
    bool systemd;                           /* a system bus with systemd on it answered */
    bool queried;                           /* both units were read */
    char error[ENV_BUS_ERROR_MAX];          /* why not, "" when all went well */
    struct env_unit service, socket;
};

enum env_restart {
    ENV_RESTART_DONE,
    ENV_RESTART_NO_SYSTEMD,
    ENV_RESTART_DENIED,
    ENV_RESTART_FAILED,
};

/* Reads both units' states; each bus call is bounded by `timeout_ms`. */
void env_systemd_query(unsigned timeout_ms, struct env_systemd *out);

/* Whether systemd knows a pcscd unit at all (package installed). */
bool env_systemd_has_pcscd(const struct env_systemd *sd);
/* Whether pcscd.service is in the failed state. */
bool env_systemd_pcscd_failed(const struct env_systemd *sd);

/* Asks systemd to restart pcscd.service, without interactive authorisation;
 * `error` receives the bus error's words when it did not. */
enum env_restart env_systemd_restart_pcscd(unsigned timeout_ms, char *error, size_t size);

/* Whether an NTP client keeps the clock synchronised, as far as anyone said. */
enum env_ntp {
    ENV_NTP_UNKNOWN,
    ENV_NTP_SYNCHRONIZED,
    ENV_NTP_UNSYNCHRONIZED,
};

/* timedated's NTPSynchronized, in one bus call bounded by `timeout_ms`;
 * ENV_NTP_UNKNOWN without a bus, without timedated on it, or on any error. */
enum env_ntp env_systemd_ntp_synchronized(unsigned timeout_ms);

/* Adds pcsc.systemd; `sd` is NULL when the query did not finish in time. */
void env_systemd_check(struct env_report *r, const struct env_systemd *sd, unsigned timeout_ms);

#endif
