/* SPDX-License-Identifier: MIT */
/*
 * fuzz-body — the JSON body of every POST handler, as body_parse (api/http/body.c)
 * and the PIN policy check see it before any card is asked.
 *
 * Input: one byte picks the handler (and the language of the problem), the
 * rest is the body. Properties: a refusal names a reason and a field short
 * enough to echo, and its problem body renders; an accepted body has every
 * required string.
 */
#include "tests/fuzz/bodies.h"

#define LANG_BIT 0x80u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in = { data, size };
    uint8_t pick;
    enum api_lang lang;

    fuzz_setup_once();
    pick = fuzz_byte(&in);
    lang = (pick & LANG_BIT) ? LANG_EN : LANG_ZH_CN;
    fuzz_body_run(&fuzz_bodies[(pick & ~LANG_BIT) % FUZZ_BODIES], (const char *)in.p, in.left,
                  lang);
    return 0;
}
