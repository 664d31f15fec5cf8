/* SPDX-License-Identifier: MIT */
/*
 * daemon/systemd.c — socket activation, sd_notify and the watchdog through
 * libsystemd.
 *
 * Activated sockets get the same loopback check as the ones ukeyd opens
 * itself: a unit file that asks for ListenStream=0.0.0.0:17990 is refused,
 * not obeyed.
 */
#include "daemon/systemd.h"

#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "api/base/log.h"
#include "daemon/listen.h"

/* Pings twice per interval, as systemd.service(5) recommends. */
#define WATCHDOG_PINGS_PER_INTERVAL 2

int systemd_listen_fds(int *fds, size_t max, size_t *n)
{
    int count = sd_listen_fds(1);
    const char *why = NULL;

    *n = 0;
    if (count <= 0)
        return count < 0 ? -1 : 0;
    if ((size_t)count > max) {
        log_msg(LOG_ERR, NULL, "socket activation passed %d sockets; at most %zu are used", count,
                max);
        return -1;
    }
    for (int i = 0; i < count; i++) {
        int fd = SD_LISTEN_FDS_START + i;

        if (!listen_fd_acceptable(fd, &why)) {
            log_msg(LOG_ERR, NULL, "socket activation: socket %d %s", fd, why);
            return -1;
        }
        fds[(*n)++] = fd;
    }
    return count;
}

void systemd_ready(const char *status)
{
    sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void systemd_reloading(void)
{
    sd_notify(0, "RELOADING=1");
}

void systemd_stopping(void)
{
    sd_notify(0, "STOPPING=1");
}

void systemd_status(const char *status)
{
    sd_notifyf(0, "STATUS=%s", status);
}

uint64_t systemd_watchdog_interval_us(void)
{
    uint64_t usec = 0;

    if (sd_watchdog_enabled(0, &usec) <= 0)
        return 0;
    return usec / WATCHDOG_PINGS_PER_INTERVAL;
}

void systemd_watchdog_ping(void)
{
    sd_notify(0, "WATCHDOG=1");
}
