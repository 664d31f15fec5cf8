/* SPDX-License-Identifier: MIT */
/*
 * tests/vskf/quirks.c — the behaviour-level deviations of real SKF libraries
 * that the virtual token can put on, read at every call from $VSKF_QUIRKS
 * and from the file $VSKF_DIR/quirks, so one library build serves every
 * vendor profile ukeyd must cope with (docs/virtual-skf.md lists them).
 */
#include "tests/vskf/vskf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUIRKS_FILE_MAX 1024
#define QUIRK_WORD_MAX  64
#define QUIRK_SEPARATORS ", \t\r\n"

static const struct {
    const char *name;
    unsigned bit;
} quirk_names[] = {
    /* The standard's behaviours, named so a profile can say so explicitly. */
    { "size-query-ok", 0 },
    { "packed-devinfo", 0 },
    /* The deviations. */
    { "size-query-too-small", VSKF_Q_SIZE_QUERY_TOO_SMALL },
    { "sm2-id-0x00020200", VSKF_Q_SM2_ALT_ID },
    { "pin-types-swapped", VSKF_Q_PIN_TYPES_SWAPPED },
    { "no-wait-event", VSKF_Q_NO_WAIT_EVENT },
    { "wait-returns-at-once", VSKF_Q_WAIT_AT_ONCE },
    { "global-device", VSKF_Q_GLOBAL_DEVICE },
    { "natural-devinfo", VSKF_Q_NATURAL_DEVINFO },
    { "challenge-lost-on-close", VSKF_Q_CHALLENGE_LOST_ON_CLOSE },
};

int vskf_quirks_parse(const char *text, unsigned *out, char *bad, size_t bad_len)
{
    char word[QUIRK_WORD_MAX];
    unsigned bits = 0;

    while (text && *text) {
        size_t n;

        text += strspn(text, QUIRK_SEPARATORS);
        n = strcspn(text, QUIRK_SEPARATORS);
        if (n == 0)
            break;
        if (text[0] == '#') {          /* a comment runs to the end of its line */
            text += strcspn(text, "\n");
            continue;
        }
        size_t i;

        for (i = 0; i < sizeof quirk_names / sizeof quirk_names[0]; i++)
            if (strlen(quirk_names[i].name) == n && strncmp(quirk_names[i].name, text, n) == 0)
                break;
        if (i == sizeof quirk_names / sizeof quirk_names[0]) {
            snprintf(word, sizeof word, "%.*s", (int)n, text);
            if (bad)
                snprintf(bad, bad_len, "%s", word);
            return -1;
        }
        bits |= quirk_names[i].bit;
        text += n;
    }
    *out = bits;
    return 0;
}

static unsigned file_quirks(void)
{
    const char *dir = getenv(VSKF_DIR_ENV);
    char path[PATH_MAX], text[QUIRKS_FILE_MAX + 1];
    unsigned bits = 0;
    size_t n;
    FILE *f;

    if (!dir || !*dir || (size_t)snprintf(path, sizeof path, "%s/%s", dir, VSKF_QUIRKS_FILE) >=
                             sizeof path)
        return 0;
    f = fopen(path, "re");
    if (!f)
        return 0;
    n = fread(text, 1, QUIRKS_FILE_MAX, f);
    fclose(f);
    text[n] = '\0';
    /* An unknown word makes the whole file count for nothing: a profile that
     * half applies would test a library that exists nowhere. The CLI's
     * `vskf quirks` checks a profile before it is written. */
    if (vskf_quirks_parse(text, &bits, NULL, 0) < 0)
        return 0;
    return bits;
}

unsigned vskf_quirks(void)
{
    unsigned env_bits = 0;

    if (vskf_quirks_parse(getenv(VSKF_QUIRKS_ENV), &env_bits, NULL, 0) < 0)
        env_bits = 0;
    return env_bits | file_quirks();
}

bool vskf_quirk(unsigned q)
{
    return (vskf_quirks() & q) != 0;
}
