/* SPDX-License-Identifier: MIT */
/*
 * api/v1/pinrule.c — PIN policy checks. The token layer checks again; this copy
 * exists so that the API can name the broken rule and the field before it
 * touches the card. An unknown charset only gets the length check: the card
 * edge stays the judge.
 */
#include "api/v1/pinrule.h"

#include <string.h>

#define ASCII_PRINTABLE_FIRST ' '
#define ASCII_PRINTABLE_LAST  '~'

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
