/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/text.c — the protocol's text rules (see text.h).
 */
#include "text.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PHONE_KEEP_HEAD   3
#define PHONE_KEEP_TAIL   4
#define PHONE_MASK        "****"
#define PHONE_MASK_MIN    (PHONE_KEEP_HEAD + PHONE_KEEP_TAIL + 1)
#define SERIAL_HEX_MAX    64          /* RFC 5280: at most 20 octets; be lenient */
#define CENTS_PER_UNIT    100
#define AMOUNT_DECIMALS   2
#define AMOUNT_UNITS_MAX  9           /* digits before the point */
#define DECIMAL_BASE      10

bool text_is_digits(const char *s, size_t min, size_t max)
{
    size_t n = 0;

    if (!s)
        return false;
    for (; s[n]; n++)
        if (n >= max || !isdigit((unsigned char)s[n]))
            return false;
    return n >= min;
}

bool text_is_id(const char *s, size_t max)
{
    size_t n = 0;

    if (!s || !*s)
        return false;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];

        if (n + 1 >= max || !(isalnum(c) || c == '-'))
            return false;
    }
    return true;
}

void text_mask_phone(const char *phone, char *out, size_t size)
{
    size_t n = strlen(phone);

    if (n < PHONE_MASK_MIN) {
        snprintf(out, size, "%s", PHONE_MASK);
        return;
    }
    snprintf(out, size, "%.*s%s%s", PHONE_KEEP_HEAD, phone, PHONE_MASK,
             phone + n - PHONE_KEEP_TAIL);
}

bool text_canonical_serial(const char *s, char *out, size_t size)
{
    size_t n = s ? strlen(s) : 0, i;

    if (n == 0 || n > SERIAL_HEX_MAX)
        return false;
    for (i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    /* Zeros in front are the DER sign octet or padding, not the number. */
    while (n > 1 && *s == '0') {
        s++;
        n--;
    }
    if (n + 1 > size)
        return false;
    for (i = 0; i < n; i++)
        out[i] = (char)toupper((unsigned char)s[i]);
    out[n] = '\0';
    return true;
}

static void free_charp(char **p)
{
    free(*p);
}

/*
 * Copies an RFC 4514 string without the spaces around unescaped ',' and '+'.
 * RFC 4514 makes a value's own leading or trailing space an escaped one
 * ("\ "), so an unescaped space beside a separator is never data.
 */
static char *issuer_without_separator_spaces(const char *s)
{
    char *out = malloc(strlen(s) + 1);
    size_t o = 0, keep = 0;   /* output before `keep` holds escaped text: never trimmed */

    if (!out)
        return NULL;
    while (*s) {
        if (*s == '\\' && s[1]) {
            out[o++] = *s++;
            out[o++] = *s++;
            keep = o;
        } else if (*s == ',' || *s == '+') {
            while (o > keep && out[o - 1] == ' ')
                o--;
            out[o++] = *s++;
            while (*s == ' ')
                s++;
        } else {
            out[o++] = *s++;
        }
    }
    out[o] = '\0';
    return out;
}

bool text_issuer_equal(const char *a, const char *b)
{
    char *ca __attribute__((cleanup(free_charp))) = NULL;
    char *cb __attribute__((cleanup(free_charp))) = NULL;

    if (!a || !b)
        return false;
    ca = issuer_without_separator_spaces(a);
    cb = issuer_without_separator_spaces(b);
    return ca && cb && strcmp(ca, cb) == 0;
}

long text_parse_amount(const char *s)
{
    const char *dot = s ? strchr(s, '.') : NULL;
    long units = 0, cents = 0;
    size_t n_units;

    if (!dot)
        return -1;
    n_units = (size_t)(dot - s);
    if (n_units == 0 || n_units > AMOUNT_UNITS_MAX ||
        !text_is_digits(dot + 1, AMOUNT_DECIMALS, AMOUNT_DECIMALS))
        return -1;
    for (size_t i = 0; i < n_units; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        units = units * DECIMAL_BASE + (s[i] - '0');
    }
    for (size_t i = 1; i <= AMOUNT_DECIMALS; i++)
        cents = cents * DECIMAL_BASE + (dot[i] - '0');
    return units * CENTS_PER_UNIT + cents;
}

void text_format_amount(long cents, char *out, size_t size)
{
    snprintf(out, size, "%ld.%02ld", cents / CENTS_PER_UNIT, cents % CENTS_PER_UNIT);
}

void text_format_time(time_t t, char *out, size_t size)
{
    struct tm tm;

    if (!gmtime_r(&t, &tm) || strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, size, "1970-01-01T00:00:00Z");
}
