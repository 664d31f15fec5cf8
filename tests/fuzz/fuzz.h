/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz.h — what every fuzz target shares: a one-time set-up
 * (jansson's wiping allocator, as the daemon installs it; a log sink that
 * checks each line and drops it), an oracle that aborts (libFuzzer keeps the
 * input) when a property the code promises does not hold, and a reader that
 * takes the input apart piece by piece.
 */
#ifndef UKEYD_TESTS_FUZZ_H
#define UKEYD_TESTS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/base/json.h"
#include "api/base/log.h"

#define ASCII_DEL 0x7f

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken promise: print what and where, and abort so libFuzzer keeps the input. */
#define FUZZ_ASSERT(cond) do { \
    if (!(cond)) { \
        fprintf(stderr, "fuzz: %s:%d: property does not hold: %s\n", __FILE__, __LINE__, #cond); \
        abort(); \
    } \
} while (0)

static bool fuzz_text_is_one_line(const char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s < ' ' || (unsigned char)*s == ASCII_DEL)
            return false;
    return true;
}

/* api/base/log.c promises one line per call, whatever the fields held. */
static void fuzz_log_sink(int priority, const struct log_fields *f, const char *message)
{
    (void)priority;
    FUZZ_ASSERT(fuzz_text_is_one_line(message));
    FUZZ_ASSERT(fuzz_text_is_one_line(f->token_id));
    FUZZ_ASSERT(fuzz_text_is_one_line(f->origin));
    FUZZ_ASSERT(fuzz_text_is_one_line(f->request_id));
}

__attribute__((unused))
static void fuzz_setup_once(void)
{
    static bool done;

    if (done)
        return;
    done = true;
    json_wipe_install();
    log_set_sink(fuzz_log_sink);
    log_set_level(LOG_DEBUG);
}

/* The input, consumed from the front. */
struct fuzz_input {
    const uint8_t *p;
    size_t left;
};

__attribute__((unused))
static uint8_t fuzz_byte(struct fuzz_input *in)
{
    if (!in->left)
        return 0;
    in->left--;
    return *in->p++;
}

/* A NUL-terminated copy of the next `len` bytes (fewer when the input ends). */
__attribute__((unused))
static char *fuzz_string(struct fuzz_input *in, size_t len)
{
    char *s;

    if (len > in->left)
        len = in->left;
    s = malloc(len + 1);
    if (!s)
        abort();
    memcpy(s, in->p, len);
    s[len] = '\0';
    in->p += len;
    in->left -= len;
    return s;
}

#endif
