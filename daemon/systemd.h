/* SPDX-License-Identifier: MIT */
/*
 * daemon/systemd.h — what ukeyd tells systemd and takes from it: sockets
 * passed by socket activation, READY/RELOADING/STOPPING/STATUS notifications,
 * and the watchdog. Without systemd every call is a harmless no-op.
 */
#ifndef UKEYD_DAEMON_SYSTEMD_H
#define UKEYD_DAEMON_SYSTEMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sockets passed by socket activation: 0 when none, -1 (logged) when one is
 * not a listening loopback TCP socket or there are too many. */
int systemd_listen_fds(int *fds, size_t max, size_t *n);

void systemd_ready(const char *status);
void systemd_reloading(void);
void systemd_stopping(void);
void systemd_status(const char *status);

/* Microseconds between watchdog pings, 0 when the watchdog is off. */
uint64_t systemd_watchdog_interval_us(void);
void systemd_watchdog_ping(void);

#endif
