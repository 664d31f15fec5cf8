/* SPDX-License-Identifier: MIT */
/* Tests api/render/lang.c: Accept-Language negotiation between zh-CN and en. */
#include "api/render/lang.h"
#include "tests/tap.h"

int main(void)
{
    static const struct {
        const char *header;
        enum api_lang want;
    } cases[] = {
        { NULL, LANG_ZH_CN },
        { "", LANG_ZH_CN },
        { "en", LANG_EN },
        { "en-US,en;q=0.9", LANG_EN },
        { "EN-gb", LANG_EN },
        { "zh-CN,zh;q=0.9,en;q=0.8", LANG_ZH_CN },
        { "fr-FR, en;q=0.5", LANG_EN },
        { "fr-FR", LANG_ZH_CN },
        { "*", LANG_ZH_CN },
        { "en;q=0.2, zh;q=0.8", LANG_ZH_CN },
        { "zh;q=0.2, en;q=0.8", LANG_EN },
        { "en;q=0, zh", LANG_ZH_CN },
        { "en;q=0", LANG_ZH_CN },
        { " en ; q=0.7 ", LANG_EN },
        { "english", LANG_ZH_CN },
        { ",,,;;;q=", LANG_ZH_CN },
        { "zh-TW", LANG_ZH_CN },
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        tap_ok(lang_negotiate(cases[i].header, LANG_ZH_CN) == cases[i].want,
               "Accept-Language \"%s\" -> %s", cases[i].header ? cases[i].header : "(none)",
               lang_tag(cases[i].want));
    TAP_EQ_INT(lang_negotiate(NULL, LANG_EN), LANG_EN, "fallback is configurable");
    TAP_EQ_INT(lang_negotiate("de", LANG_EN), LANG_EN, "fallback for unknown languages");
    TAP_EQ_INT(lang_parse("zh-CN"), LANG_ZH_CN, "parse zh-CN");
    TAP_EQ_INT(lang_parse("en"), LANG_EN, "parse en");
    TAP_EQ_INT(lang_parse("de"), -1, "parse unknown");
    TAP_EQ_STR(lang_tag(LANG_ZH_CN), "zh-CN", "tag zh-CN");
    return tap_done();
}
