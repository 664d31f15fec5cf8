/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/text.h — the small text rules of the unlock protocol:
 * what a phone number, a code, an id, a certificate serial and issuer, and
 * a money amount look like, how they are compared, and how they are shown.
 * Pure functions: no database, no HTTP.
 */
#ifndef UKEY_CA_TEXT_H
#define UKEY_CA_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* Whether s is between min and max ASCII digits and nothing else. */
bool text_is_digits(const char *s, size_t min, size_t max);

/* Whether s can be one of our ids or numbers: 1..max-1 of [A-Za-z0-9-]. */
bool text_is_id(const char *s, size_t max);

/* "13700001000" -> "137****1000"; short numbers are masked whole. */
void text_mask_phone(const char *phone, char *out, size_t size);

/*
 * A certificate serial in hex as the protocol carries it, reduced to one
 * canonical form: upper case, leading zero octets dropped (so "00CD01"
 * and "cd01" are the same serial). False when s is not even-or-odd hex of
 * a sane length.
 */
bool text_canonical_serial(const char *s, char *out, size_t size);

/*
 * Whether two RFC 4514 issuer strings name the same issuer, allowing for
 * the one difference producers really have: a space after the ',' between
 * RDNs and around the '+' between AVAs ("CN=a, O=b" vs "CN=a,O=b").
 */
bool text_issuer_equal(const char *a, const char *b);

/* "30.00" -> 3000; -1 when not digits with exactly two decimals. */
long text_parse_amount(const char *s);
/* 3000 -> "30.00" */
void text_format_amount(long cents, char *out, size_t size);

/* 1700000000 -> "2023-11-14T22:13:20Z" */
void text_format_time(time_t t, char *out, size_t size);

#endif
