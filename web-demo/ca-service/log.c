/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/log.c — one log line at a time on stderr (see log.h).
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "text.h"
#include "ca.h"

void ca_log(const char *fmt, ...)
{
    char when[CA_TIME_MAX];
    va_list ap;

    text_format_time(time(NULL), when, sizeof when);
    flockfile(stderr);
    fprintf(stderr, "%s ukey-ca: ", when);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    funlockfile(stderr);
}
