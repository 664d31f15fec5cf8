/* SPDX-License-Identifier: MIT */
/* token/skf/certname.c — names in URL-safe ids and back (see certname.h). */
#include "token/skf/certname.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CERT_ID_SIGN   ".sign"
#define CERT_ID_ENC    ".enc"
#define ESCAPE_MARK    '~'
#define ESCAPE_LEN     3               /* "~xx" */
#define NIBBLE_BITS    4
#define NIBBLE_MASK    0x0F

static const char hex_digits[] = "0123456789abcdef";

static bool url_safe(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_';
}

bool skf_name_escape(const char *s, char *out, size_t cap)
{
    size_t n = 0;

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (n + (url_safe(c) ? 1 : ESCAPE_LEN) >= cap) {
            if (cap)
                out[0] = '\0';
            return false;
        }
        if (url_safe(c)) {
            out[n++] = (char)c;
            continue;
        }
        out[n++] = ESCAPE_MARK;
        out[n++] = hex_digits[c >> NIBBLE_BITS];
        out[n++] = hex_digits[c & NIBBLE_MASK];
    }
    if (n >= cap)                      /* only when cap is 0 */
        return false;
    out[n] = '\0';
    return true;
}

char *skf_cert_id_new(const char *container, bool sign)
{
    const char *suffix = sign ? CERT_ID_SIGN : CERT_ID_ENC;
    size_t cap = SKF_ESCAPED_SIZE(strlen(container)) + strlen(suffix);
    char *id = malloc(cap);

    if (!id)
        return NULL;
    /* cannot fail: cap holds every byte escaped */
    skf_name_escape(container, id, cap);
    strcat(id, suffix);
    return id;
}

static int hex_value(char c)
{
    const char *at = c ? strchr(hex_digits, c) : NULL;

    return at ? (int)(at - hex_digits) : -1;
}

/* The first `len` bytes of `s` unescaped; a NUL byte, an escape
 * skf_name_escape would not write, or an empty name is refused. */
static bool unescape(const char *s, size_t len, char *out, size_t cap)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        unsigned char c = (unsigned char)s[i];

        if (c == ESCAPE_MARK) {
            if (i + ESCAPE_LEN > len || (hi = hex_value(s[i + 1])) < 0 ||
                (lo = hex_value(s[i + 2])) < 0)
                return false;
            c = (unsigned char)(hi << NIBBLE_BITS | lo);
            if (url_safe(c))
                return false;
            i += ESCAPE_LEN - 1;
        } else if (!url_safe(c)) {
            return false;
        }
        if (c == '\0' || n + 1 >= cap)
            return false;
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return n > 0;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
    size_t sl = strlen(suffix);

    return len > sl && strcmp(s + len - sl, suffix) == 0;
}

bool skf_cert_id_parse(const char *cert_id, char *container, size_t cap, bool *sign)
{
    size_t len = cert_id ? strlen(cert_id) : 0;

    if (ends_with(cert_id, len, CERT_ID_SIGN)) {
        *sign = true;
        return unescape(cert_id, len - strlen(CERT_ID_SIGN), container, cap);
    }
    if (ends_with(cert_id, len, CERT_ID_ENC)) {
        *sign = false;
        return unescape(cert_id, len - strlen(CERT_ID_ENC), container, cap);
    }
    return false;
}
