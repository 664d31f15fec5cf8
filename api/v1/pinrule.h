/* SPDX-License-Identifier: MIT */
/*
 * api/v1/pinrule.h — a PIN checked against the card edge's policy (length and
 * characters) before any card is asked, so a malformed PIN never costs a try;
 * and a new PIN checked against the few that anyone would guess first.
 */
#ifndef UKEYD_API_PINRULE_H
#define UKEYD_API_PINRULE_H

#include <stdbool.h>

#include "token/token.h"

bool pin_meets_policy(const char *pin, const struct token_pin_info *policy);

/* Why a new PIN that meets the token's policy is still too simple to set:
 * one of the first a finder of the token would try. */
enum pin_simplicity {
    PIN_NOT_SIMPLE = 0,
    PIN_SIMPLE_REPEATED,         /* one character throughout: 000000, 888888 */
    PIN_SIMPLE_SEQUENCE,         /* digits that go up or down by one: 123456, 654321, 567890 */
    PIN_SIMPLE_PATTERN,          /* a short group repeated: 123123, 121212, 520520 */
    PIN_SIMPLE_COMMON,           /* on the short list of well-known PINs (pinrule.c) */
};

enum pin_simplicity pin_simplicity(const char *pin);

/* The API's word for the rule, the `rule` member of a PIN_TOO_SIMPLE problem
 * ("repeated", "sequence", "pattern", "common"); NULL for PIN_NOT_SIMPLE. */
const char *pin_simplicity_rule(enum pin_simplicity s);

#endif
