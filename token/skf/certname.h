/* SPDX-License-Identifier: MIT */
/*
 * token/skf/certname.h — the SKF provider's names in URL-safe ids, and back.
 * A device's serial goes into its token id and a container's name into its
 * certificates' ids ("<container>.sign", "<container>.enc", token.h). Every
 * byte outside [A-Za-z0-9._-] is written "~xx", one-to-one, so two names
 * never share an id and an id always names the container it came from.
 */
#ifndef UKEYD_TOKEN_SKF_CERTNAME_H
#define UKEYD_TOKEN_SKF_CERTNAME_H

#include <stdbool.h>
#include <stddef.h>

/* Bytes an escaped name needs: three for each byte of `name_len`, and the NUL. */
#define SKF_ESCAPED_SIZE(name_len) (3 * (name_len) + 1)

/* `s` escaped into `out`; false (and `out` empty) when it does not fit `cap`. */
bool skf_name_escape(const char *s, char *out, size_t cap);

/* The id of a container's signing or encryption certificate (malloc'd);
 * NULL when out of memory. */
char *skf_cert_id_new(const char *container, bool sign);

/* A certificate id back into its container's name and which certificate;
 * false for any id skf_cert_id_new cannot have made, or a name over `cap`. */
bool skf_cert_id_parse(const char *cert_id, char *container, size_t cap, bool *sign);

#endif
