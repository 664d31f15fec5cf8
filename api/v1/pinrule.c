/* SPDX-License-Identifier: MIT */
/*
 * api/v1/pinrule.c — PIN policy checks. The token layer checks again; this copy
 * exists so that the API can name the broken rule and the field before it
 * touches the card. An unknown charset only gets the length check: the card
 * edge stays the judge.
 *
 * Then the rules for a new PIN that the token would take but a finder of the
 * token would guess first: three shapes (one character, a run, a repeated
 * group) and a short list of well-known PINs no shape covers. The list is
 * kept short on purpose: each entry is a PIN users are refused for, and a
 * long private list would refuse PINs the user cannot tell are weak.
 */
#include "api/v1/pinrule.h"

#include <string.h>

#define ASCII_PRINTABLE_FIRST ' '
#define ASCII_PRINTABLE_LAST  '~'
#define DECIMAL_DIGITS        10

/* PINs well known to be among the most chosen in China that none of the
 * three shapes covers: a doubled run (112233), a run and its mirror
 * (123321), keypad columns (147258), a keypad diagonal (159753), two
 * keypad rows (789456), and 5201314 (“我爱你一生一世”). */
static const char *const COMMON_PINS[] = {
    "112233", "123321", "147258", "159753", "789456", "5201314",
};

static bool all_digits(const char *pin)
{
    for (; *pin; pin++)
        if (*pin < '0' || *pin > '9')
            return false;
    return true;
}

static bool all_printable_ascii(const char *pin)
{
    for (; *pin; pin++)
        if (*pin < ASCII_PRINTABLE_FIRST || *pin > ASCII_PRINTABLE_LAST)
            return false;
    return true;
}

bool pin_meets_policy(const char *pin, const struct token_pin_info *policy)
{
    size_t len = strlen(pin);

    if (len == 0 || len < policy->min_len || (policy->max_len && len > policy->max_len))
        return false;
    if (policy->charset && strcmp(policy->charset, "digits") == 0)
        return all_digits(pin);
    if (policy->charset && strcmp(policy->charset, "ascii") == 0)
        return all_printable_ascii(pin);
    return true;
}

static bool one_character(const char *pin, size_t len)
{
    for (size_t i = 1; i < len; i++)
        if (pin[i] != pin[0])
            return false;
    return true;
}

/* Each digit one more than the one before (…8, 9, 0… counts, as on a
 * keyboard's row), or each one less. */
static bool digit_run(const char *pin, size_t len)
{
    bool up = true, down = true;

    if (!all_digits(pin))
        return false;
    for (size_t i = 1; i < len; i++) {
        int step = (pin[i] - pin[i - 1] + DECIMAL_DIGITS) % DECIMAL_DIGITS;

        up = up && step == 1;
        down = down && step == DECIMAL_DIGITS - 1;
    }
    return up || down;
}

/* The PIN is one group written two or more times: 121212, 123123. */
static bool repeated_group(const char *pin, size_t len)
{
    for (size_t group = 1; group <= len / 2; group++) {
        if (len % group != 0)
            continue;
        if (memcmp(pin, pin + group, len - group) == 0)
            return true;
    }
    return false;
}

static bool well_known(const char *pin)
{
    for (size_t i = 0; i < sizeof COMMON_PINS / sizeof COMMON_PINS[0]; i++)
        if (strcmp(pin, COMMON_PINS[i]) == 0)
            return true;
    return false;
}

enum pin_simplicity pin_simplicity(const char *pin)
{
    size_t len = strlen(pin);

    if (len == 0)
        return PIN_NOT_SIMPLE;             /* the policy refuses it */
    if (one_character(pin, len))
        return PIN_SIMPLE_REPEATED;
    if (digit_run(pin, len))
        return PIN_SIMPLE_SEQUENCE;
    if (repeated_group(pin, len))
        return PIN_SIMPLE_PATTERN;
    if (well_known(pin))
        return PIN_SIMPLE_COMMON;
    return PIN_NOT_SIMPLE;
}

const char *pin_simplicity_rule(enum pin_simplicity s)
{
    switch (s) {
    case PIN_SIMPLE_REPEATED:
        return "repeated";
    case PIN_SIMPLE_SEQUENCE:
        return "sequence";
    case PIN_SIMPLE_PATTERN:
        return "pattern";
    case PIN_SIMPLE_COMMON:
        return "common";
    case PIN_NOT_SIMPLE:
        break;
    }
    return NULL;
}
