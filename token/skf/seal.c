/* SPDX-License-Identifier: MIT */
/* token/skf/seal.c — an electronic seal told by its first DER bytes (see seal.h). */
#include <string.h>

#include "token/skf/seal.h"

#define DER_SEQUENCE        0x30
#define DER_IA5STRING       0x16
#define DER_LONG_LENGTH     0x80      /* the length's low bits count its octets */
#define DER_LENGTH_OCTETS_MAX 4       /* a seal is far below 4 GiB */
#define SES_HEADER_ID       "ES"      /* SES_Header.id, fixed by GM/T 0031 */
#define SES_HEADER_ID_LEN   (sizeof SES_HEADER_ID - 1)

/* Steps over one tag and its definite length at *pos if the tag is `tag`;
 * *content gets the content's length. */
static bool take_header(const uint8_t *p, size_t len, size_t *pos, uint8_t tag, size_t *content)
{
    size_t n, octets;

    if (*pos + 2 > len || p[*pos] != tag)
        return false;
    n = p[*pos + 1];
    *pos += 2;
    if (!(n & DER_LONG_LENGTH)) {
        *content = n;
        return true;
    }
    octets = n & ~(size_t)DER_LONG_LENGTH;
    /* 0x80 alone is BER's indefinite length, never DER */
    if (octets == 0 || octets > DER_LENGTH_OCTETS_MAX || *pos + octets > len)
        return false;
    for (n = 0; octets--; )
        n = n << 8 | p[(*pos)++];
    *content = n;
    return true;
}

bool skf_seal_recognised(const uint8_t *head, size_t len)
{
    size_t pos = 0, seal, info, header, id;

    if (!head)
        return false;
    if (!take_header(head, len, &pos, DER_SEQUENCE, &seal) ||
        !take_header(head, len, &pos, DER_SEQUENCE, &info) ||
        !take_header(head, len, &pos, DER_SEQUENCE, &header) ||
        !take_header(head, len, &pos, DER_IA5STRING, &id))
        return false;
    /* each part lies inside the one before: a stray "ES" is not a seal */
    if (info > seal || header > info || id + 2 > header)
        return false;
    return id == SES_HEADER_ID_LEN && pos + id <= len &&
           memcmp(head + pos, SES_HEADER_ID, SES_HEADER_ID_LEN) == 0;
}
