/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/log.h — the service's log lines, on stderr with a UTC
 * time stamp. Callers never pass PUKs, codes, full phone numbers or bodies:
 * only methods, route patterns, statuses, error codes and id prefixes.
 */
#ifndef UKEY_CA_LOG_H
#define UKEY_CA_LOG_H

__attribute__((format(printf, 1, 2)))
void ca_log(const char *fmt, ...);

#endif
