/* SPDX-License-Identifier: MIT */
/*
 * api/render/lang.h — the languages ukeyd speaks (Simplified Chinese first, English
 * second) and the choice of one from a request's Accept-Language.
 */
#ifndef UKEYD_API_LANG_H
#define UKEYD_API_LANG_H

enum api_lang {
    LANG_ZH_CN,
    LANG_EN,
    LANG__COUNT
};

/* The best supported language the header asks for; `fallback` when the header
 * is absent, names neither language, or only says "*". */
enum api_lang lang_negotiate(const char *accept_language, enum api_lang fallback);

/* "zh-CN" / "en": for Content-Language and the config file. */
const char *lang_tag(enum api_lang lang);
/* Parses a config value ("zh-CN", "zh", "en", "en-US"...); -1 when unknown. */
int lang_parse(const char *tag);

#endif
