/* SPDX-License-Identifier: MIT */
/*
 * api/v1/pinrule.h — a PIN checked against the card edge's policy (length and
 * characters) before any card is asked, so a malformed PIN never costs a try.
 */
#ifndef UKEYD_API_PINRULE_H
#define UKEYD_API_PINRULE_H

#include <stdbool.h>

#include "token/token.h"

bool pin_meets_policy(const char *pin, const struct token_pin_info *policy);

#endif
