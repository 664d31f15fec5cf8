/* SPDX-License-Identifier: MIT */
/*
 * api/render/lang.c — Accept-Language negotiation between zh-CN and en.
 *
 * Only the primary subtag matters (zh-TW readers still get Simplified
 * Chinese: the portal's users are in mainland China). The weight of each
 * range (";q=") decides; on a tie the range listed first wins.
 */
#include "api/render/lang.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LANG_RANGE_MAX   64
#define QUALITY_DEFAULT  1.0
#define QUALITY_NONE     (-1.0)

static const char *const tags[LANG__COUNT] = {
    [LANG_ZH_CN] = "zh-CN",
    [LANG_EN] = "en",
};

const char *lang_tag(enum api_lang lang)
{
    return (unsigned)lang < LANG__COUNT ? tags[lang] : tags[LANG_ZH_CN];
}

/* Which language a range's primary subtag names; -1 for others and "*". */
static int lang_of_range(const char *range)
{
    size_t primary = strcspn(range, "-");

    if (primary == 2 && strncasecmp(range, "zh", 2) == 0)
        return LANG_ZH_CN;
    if (primary == 2 && strncasecmp(range, "en", 2) == 0)
        return LANG_EN;
    return -1;
}

int lang_parse(const char *tag)
{
    return lang_of_range(tag);
}

static char *trim(char *s)
{
    char *end;

    s += strspn(s, " \t");
    end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
        *--end = '\0';
    return s;
}

/* The q= weight of one range's parameters; default 1. */
static double range_quality(char *params)
{
    char *save = NULL;

    for (char *p = strtok_r(params, ";", &save); p; p = strtok_r(NULL, ";", &save)) {
        p = trim(p);
        if (strncasecmp(p, "q=", 2) == 0)
            return strtod(p + 2, NULL);
    }
    return QUALITY_DEFAULT;
}

enum api_lang lang_negotiate(const char *accept_language, enum api_lang fallback)
{
    char range[LANG_RANGE_MAX];
    double best_q = QUALITY_NONE;
    int best = -1;
    const char *p = accept_language;

    while (p && *p) {
        size_t len = strcspn(p, ",");
        char *params;
        int lang;
        double q;

        if (len < sizeof range) {
            memcpy(range, p, len);
            range[len] = '\0';
            params = strchr(range, ';');
            if (params)
                *params++ = '\0';
            lang = lang_of_range(trim(range));
            q = params ? range_quality(params) : QUALITY_DEFAULT;
            if (lang >= 0 && q > 0 && q > best_q) {
                best_q = q;
                best = lang;
            }
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return best >= 0 ? (enum api_lang)best : fallback;
}
