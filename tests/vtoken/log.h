/* SPDX-License-Identifier: MIT */
/*
 * tests/vtoken/log.h — where the virtual token reports: problems to stderr
 * (and the log file when there is one), the per-APDU trace to the log file
 * only. Callers never pass command data here: PINs travel in data fields.
 */
#ifndef UKEYD_VTOKEN_LOG_H
#define UKEYD_VTOKEN_LOG_H

/* Opens (appending) the --log file; -1 with a message on failure. */
int vt_log_open(const char *path);
void vt_log_close(void);

/* A timestamped line in the log file only; a no-op without --log. */
__attribute__((format(printf, 1, 2)))
void vt_log(const char *fmt, ...);

/* "vtoken: ..." on stderr, and the same line in the log file. */
__attribute__((format(printf, 1, 2)))
void vt_warn(const char *fmt, ...);

#endif
