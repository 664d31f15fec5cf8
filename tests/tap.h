/* SPDX-License-Identifier: MIT */
/*
 * tap.h — the smallest harness that does the job: each test program prints
 * TAP ("ok N - name" / "not ok N - name") and tests/run-tests adds them up.
 * Checks never abort the program, so one failure shows every other result.
 */
#ifndef UKEYD_TESTS_TAP_H
#define UKEYD_TESTS_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_count;
static int tap_failed;

__attribute__((format(printf, 2, 3), unused))
static int tap_ok(int cond, const char *fmt, ...)
{
    va_list ap;

    tap_count++;
    if (!cond)
        tap_failed++;
    printf("%sok %d - ", cond ? "" : "not ", tap_count);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    return cond;
}

__attribute__((format(printf, 1, 2), unused))
static void tap_diag(const char *fmt, ...)
{
    va_list ap;

    fputs("# ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

/* Skips the rest of a program, e.g. when the rig it needs is not there. */
__attribute__((unused, noreturn))
static void tap_skip_all(const char *why)
{
    printf("1..0 # SKIP %s\n", why);
    exit(0);
}

__attribute__((unused))
static int tap_done(void)
{
    printf("1..%d\n", tap_count);
    return tap_failed ? 1 : 0;
}

/* Each argument is evaluated once: `got` is often the call under test. */
#define TAP_EQ_INT(got, want, name) ({ \
    long long tap_g_ = (long long)(got), tap_w_ = (long long)(want); \
    tap_ok(tap_g_ == tap_w_, "%s (got %lld, want %lld)", (name), tap_g_, tap_w_); })

#define TAP_EQ_STR(got, want, name) ({ \
    const char *tap_g_ = (got), *tap_w_ = (want); \
    tap_ok(tap_g_ != NULL && strcmp(tap_g_, tap_w_) == 0, "%s (got \"%s\", want \"%s\")", \
           (name), tap_g_ ? tap_g_ : "(null)", tap_w_); })

#endif
