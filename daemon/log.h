/* SPDX-License-Identifier: MIT */
/*
 * daemon/log.h — where ukeyd's log lines go: the journal, with structured
 * fields, when systemd connected stderr to it; plain stderr lines otherwise.
 */
#ifndef UKEYD_DAEMON_LOG_H
#define UKEYD_DAEMON_LOG_H

#include <stdbool.h>

/* Picks the sink (see api/base/log.h). Returns whether it is the journal. */
bool daemon_log_setup(void);

#endif
