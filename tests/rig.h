/* SPDX-License-Identifier: MIT */
/*
 * tests/rig.h — C tests drive the PC/SC rig (tests/rig/rig) through these:
 * a private pcscd with vpcd readers and virtual PIV tokens made from copies of
 * the demo tokens, so a test may change PINs freely.
 */
#ifndef UKEYD_TESTS_RIG_H
#define UKEYD_TESTS_RIG_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RIG_MAX_TOKENS 4

struct rig {
    char dir[256];
    char state[RIG_MAX_TOKENS][320];   /* the token copies' state files */
    char reader[RIG_MAX_TOKENS][128];
    int n_tokens;
    char top[256], build[256];
};

__attribute__((format(printf, 2, 3), unused))
static int rig_sh(struct rig *r, const char *fmt, ...)
{
    char cmd[2048], full[2400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    snprintf(full, sizeof(full), "cd '%s' && %s", r->top, cmd);
    return system(full);
}

/* The env file is written for a shell (printf %q): undo backslash escapes. */
static void rig_unescape(char *s)
{
    char *w = s;

    for (; *s; s++) {
        if (*s == '\\' && s[1])
            s++;
        *w++ = *s;
    }
    *w = '\0';
}

/* Reads RIG_READER_<i>=... from DIR/env and exports PCSCLITE_CSOCK_NAME. */
static int rig_load_env(struct rig *r)
{
    char path[300], line[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/env", r->dir);
    f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        char *eq = strchr(line, '='), *val;
        size_t n;
        int i;

        if (!eq)
            continue;
        *eq = '\0';
        val = eq + 1;
        n = strlen(val);
        while (n && (val[n - 1] == '\n' || val[n - 1] == '\'' || val[n - 1] == '"'))
            val[--n] = '\0';
        while (*val == '\'' || *val == '"')
            val++;
        rig_unescape(val);
        if (strncmp(line, "export ", 7) == 0)
            memmove(line, line + 7, strlen(line + 7) + 1);
        if (strcmp(line, "PCSCLITE_CSOCK_NAME") == 0)
            setenv("PCSCLITE_CSOCK_NAME", val, 1);
        else if (sscanf(line, "RIG_READER_%d", &i) == 1 && i >= 0 && i < RIG_MAX_TOKENS)
            snprintf(r->reader[i], sizeof(r->reader[i]), "%s", val);
    }
    fclose(f);
    return getenv("PCSCLITE_CSOCK_NAME") ? 0 : -1;
}

/*
 * Starts a rig with copies of the named demo tokens ("sm2", "rsa-ec").
 * Returns 0, or -1 after printing why.
 */
__attribute__((unused))
static int rig_start(struct rig *r, int n, const char *const *tokens)
{
    char args[1600] = "";
    int i;

    if (n < 0 || n > RIG_MAX_TOKENS)
        return -1;
    memset(r, 0, sizeof(*r));
    snprintf(r->top, sizeof(r->top), "%s", getenv("UKEYD_TOP") ? getenv("UKEYD_TOP") : ".");
    snprintf(r->build, sizeof(r->build), "%s",
             getenv("UKEYD_BUILD") ? getenv("UKEYD_BUILD") : "build");
    snprintf(r->dir, sizeof(r->dir), "/tmp/ukeyd-rig-XXXXXX");
    if (!mkdtemp(r->dir))
        return -1;
    r->n_tokens = n;
    for (i = 0; i < n; i++) {
        size_t used = strlen(args);

        char dir[sizeof(r->dir)];

        memcpy(dir, r->dir, sizeof(dir));
        snprintf(r->state[i], sizeof(r->state[i]), "%s/%s.state", dir, tokens[i]);
        if (rig_sh(r, "cp '%s/demo/%s.state' '%s'", r->build, tokens[i], r->state[i]) != 0)
            return -1;
        snprintf(args + used, sizeof(args) - used, " --token '%s'", r->state[i]);
    }
    if (rig_sh(r, "tests/rig/rig start '%s' --build '%s' %s >'%s/start.log' 2>&1", r->dir,
               r->build, args, r->dir) != 0) {
        rig_sh(r, "cat '%s/start.log' | sed 's/^/# /'", r->dir);
        return -1;
    }
    return rig_load_env(r);
}

/* UKEYD_KEEP_RIG=1 leaves a failed run's rig running for a post-mortem. */
__attribute__((unused))
static void rig_stop(struct rig *r)
{
    if (getenv("UKEYD_KEEP_RIG")) {
        fprintf(stderr, "# rig kept in %s (tests/rig/rig stop %s)\n", r->dir, r->dir);
        return;
    }
    if (r->dir[0]) {
        rig_sh(r, "tests/rig/rig stop '%s' >/dev/null 2>&1; rm -rf '%s'", r->dir, r->dir);
        r->dir[0] = '\0';
    }
}

/* `rig <verb> DIR [N]`: remove, insert, stop-pcscd, start-pcscd, ... */
__attribute__((unused))
static int rig_do(struct rig *r, const char *verb, int token)
{
    if (token >= 0)
        return rig_sh(r, "tests/rig/rig %s '%s' %d >/dev/null", verb, r->dir, token);
    return rig_sh(r, "tests/rig/rig %s '%s' >/dev/null", verb, r->dir);
}

__attribute__((unused))
static double rig_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
