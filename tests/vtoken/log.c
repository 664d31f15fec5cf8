/* SPDX-License-Identifier: MIT */
/*
 * tests/vtoken/log.c — the optional log file and stderr reporting.
 */
#include "tests/vtoken/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define VT_MS_PER_NS 1000000L
#define VT_CLOCK_TEXT_MAX 16   /* "HH:MM:SS" and room to spare */

static FILE *log_file;

int vt_log_open(const char *path)
{
    log_file = fopen(path, "ae");
    if (!log_file) {
        fprintf(stderr, "vtoken: cannot open log %s: %s\n", path, strerror(errno));
        return -1;
    }
    /* Line-buffered so that a test reading the log sees every APDU at once. */
    setvbuf(log_file, NULL, _IOLBF, 0);
    return 0;
}

void vt_log_close(void)
{
    if (log_file)
        fclose(log_file);
    log_file = NULL;
}

static void vt_log_timestamp(void)
{
    struct timespec ts;
    struct tm tm;
    char when[VT_CLOCK_TEXT_MAX];

    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof when, "%H:%M:%S", &tm);
    fprintf(log_file, "%s.%03ld ", when, ts.tv_nsec / VT_MS_PER_NS);
}

static void vt_log_va(const char *fmt, va_list ap)
{
    if (!log_file)
        return;
    vt_log_timestamp();
    vfprintf(log_file, fmt, ap);
    fputc('\n', log_file);
}

void vt_log(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vt_log_va(fmt, ap);
    va_end(ap);
}

void vt_warn(const char *fmt, ...)
{
    va_list ap;

    fputs("vtoken: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    va_start(ap, fmt);
    vt_log_va(fmt, ap);
    va_end(ap);
}
