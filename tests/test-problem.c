/* SPDX-License-Identifier: MIT */
/* Tests api/render/problem.c: every code has a status and words in both languages,
 * and problem bodies carry what RFC 9457 and the API promise. */
#include <ctype.h>

#include "api/base/json.h"
#include "api/render/problem.h"
#include "tests/tap.h"

#define HTTP_CLIENT_ERROR_MIN 400
#define HTTP_SERVER_ERROR_MAX 599

static const char *str_member(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static bool name_is_constant_case(const char *name)
{
    for (; *name; name++)
        if (!isupper((unsigned char)*name) && *name != '_')
            return false;
    return true;
}

static void test_every_code(void)
{
    for (int c = API_OK + 1; c < API_CODE__COUNT; c++) {
        const char *name = api_code_name(c);
        unsigned status = api_code_status(c);

        tap_ok(name && name_is_constant_case(name), "code %d has a CONSTANT_CASE name %s", c, name);
        tap_ok(status >= HTTP_CLIENT_ERROR_MIN && status <= HTTP_SERVER_ERROR_MAX,
               "%s has an error status (%u)", name, status);
        for (int l = 0; l < LANG__COUNT; l++) {
            struct problem p = problem_of(c);
            json_t *b = problem_body(&p, l, NULL);
            const char *title = str_member(b, "title"), *detail = str_member(b, "detail");

            tap_ok(title && *title && detail && *detail, "%s has words in %s", name,
                   lang_tag(l));
            tap_ok(detail && !strchr(detail, '{'), "%s detail in %s has no unfilled placeholder",
                   name, lang_tag(l));
            json_decref(b);
        }
        for (int d = API_OK + 1; d < c; d++)
            if (strcmp(api_code_name(d), name) == 0)
                tap_ok(0, "%s is unique", name);
    }
    TAP_EQ_STR(api_code_name(API_CODE__COUNT + 3), "INTERNAL", "out of range name");
}

/* One word for one thing, as the CA's manuals say it: the key is 电子钥匙 and
 * its secret 密码 in every Chinese title and detail, and in English the
 * portal's words, "USB key" and "PIN" (with every extra value filled, so
 * detail_more is read too); and no page is told to send confirmLastTry: the
 * page asks the user. */
static const char *const other_words[LANG__COUNT][7] = {
    [LANG_ZH_CN] = { "令牌", "USB Key", "UKey", "PIN", "卡片", "槽位", NULL },
    [LANG_EN] = { "token", "Token", "USB Key", "password", "Password", NULL },
};

static int count_other_words(int code, enum api_lang lang)
{
    static const struct token_pin_info policy = { .min_len = 6, .max_len = 8, .charset = "digits" };
    struct problem p = problem_of(code);
    const char *title, *detail;
    int foreign = 0;
    json_t *b;

    p.field = "newPin";
    p.tries_left = 2;
    p.attempts_left = 2;
    p.retry_after_s = 30;
    p.state = "open";
    p.rule = "sequence";
    p.policy = &policy;
    b = problem_body(&p, lang, NULL);
    title = str_member(b, "title");
    detail = str_member(b, "detail");
    for (size_t i = 0; other_words[lang][i]; i++)
        if ((title && strstr(title, other_words[lang][i])) ||
            (detail && strstr(detail, other_words[lang][i]))) {
            tap_diag("%s says \"%s\": %s / %s", api_code_name(code), other_words[lang][i],
                     title, detail);
            foreign++;
        }
    json_decref(b);
    return foreign;
}

static void test_one_word_for_one_thing(void)
{
    int foreign[LANG__COUNT] = { 0 };

    for (int c = API_OK + 1; c < API_CODE__COUNT; c++) {
        for (int l = 0; l < LANG__COUNT; l++) {
            struct problem p = problem_of(c);
            json_t *b = problem_body(&p, l, NULL);

            foreign[l] += count_other_words(c, l);
            tap_ok(!strstr(str_member(b, "detail"), "confirmLastTry"),
                   "%s in %s tells nobody to send confirmLastTry", api_code_name(c), lang_tag(l));
            json_decref(b);
        }
    }
    TAP_EQ_INT(foreign[LANG_ZH_CN], 0,
               "every Chinese text says 电子钥匙 and 密码, no other word for them");
    TAP_EQ_INT(foreign[LANG_EN], 0,
               "every English text says USB key and PIN, as the portal does, never token");
}

static void test_body_shape(void)
{
    struct problem p = problem_of(API_ORIGIN_FORBIDDEN);
    json_t *b = problem_body(&p, LANG_EN, "r-1");

    TAP_EQ_STR(str_member(b, "type"), "urn:ukeyd:problem:origin-forbidden", "type URI");
    TAP_EQ_STR(str_member(b, "code"), "ORIGIN_FORBIDDEN", "code");
    TAP_EQ_INT(json_integer_value(json_object_get(b, "status")), 403, "status");
    TAP_EQ_STR(str_member(b, "title"), "Origin not allowed", "English title");
    TAP_EQ_STR(str_member(b, "requestId"), "r-1", "request id");
    tap_ok(json_object_get(b, "triesLeft") == NULL, "no triesLeft outside PIN problems");
    json_decref(b);

    b = problem_body(&p, LANG_ZH_CN, NULL);
    TAP_EQ_STR(str_member(b, "title"), "来源网站未获授权", "Chinese title");
    tap_ok(json_object_get(b, "requestId") == NULL, "no request id when none given");
    json_decref(b);
}

static void test_pin_bodies(void)
{
    struct problem p = problem_of(API_PIN_INCORRECT);
    struct token_pin_info policy = { .min_len = 6, .max_len = 8, .charset = "digits" };
    json_t *b;

    p.tries_left = 2;
    b = problem_body(&p, LANG_EN, NULL);
    TAP_EQ_INT(json_integer_value(json_object_get(b, "triesLeft")), 2, "triesLeft");
    TAP_EQ_STR(str_member(b, "detail"), "The PIN is incorrect; 2 tries left.", "detail with tries");
    json_decref(b);
    b = problem_body(&p, LANG_ZH_CN, NULL);
    TAP_EQ_STR(str_member(b, "detail"), "密码不正确，还可以尝试 2 次。", "Chinese detail with tries");
    json_decref(b);

    p.tries_left = PROBLEM_TRIES_UNKNOWN;
    b = problem_body(&p, LANG_EN, NULL);
    tap_ok(json_is_null(json_object_get(b, "triesLeft")), "unknown tries are null");
    TAP_EQ_STR(str_member(b, "detail"), "The PIN is incorrect.", "detail without tries");
    json_decref(b);

    p = problem_of(API_PIN_POLICY);
    p.field = "newPin";
    p.policy = &policy;
    b = problem_body(&p, LANG_EN, NULL);
    TAP_EQ_STR(str_member(b, "detail"),
               "\"newPin\" does not meet the USB key's PIN rules: 6 to 8 characters, digits "
               "only.",
               "policy detail names field and rule");
    TAP_EQ_STR(str_member(b, "field"), "newPin", "policy field member");
    TAP_EQ_INT(json_integer_value(json_object_get(b, "minLength")), 6, "minLength member");
    TAP_EQ_INT(json_integer_value(json_object_get(b, "maxLength")), 8, "maxLength member");
    json_decref(b);
    b = problem_body(&p, LANG_ZH_CN, NULL);
    TAP_EQ_STR(str_member(b, "detail"), "“newPin”不符合该电子钥匙的密码规则：长度 6–8 位，仅限数字。",
               "Chinese policy detail");
    json_decref(b);
}

/* A page tells the user which rule refused the new PIN: from `rule`, or
 * from the detail as it is, in either language. */
static void test_new_pin_bodies(void)
{
    struct problem p = problem_of(API_PIN_TOO_SIMPLE);
    json_t *b;

    p.field = "newPin";
    p.rule = "sequence";
    b = problem_body(&p, LANG_EN, NULL);
    TAP_EQ_INT(api_code_status(API_PIN_TOO_SIMPLE), 422, "PIN_TOO_SIMPLE is 422");
    TAP_EQ_STR(str_member(b, "code"), "PIN_TOO_SIMPLE", "too simple: code");
    TAP_EQ_STR(str_member(b, "rule"), "sequence", "…the rule member");
    TAP_EQ_STR(str_member(b, "field"), "newPin", "…the field");
    TAP_EQ_STR(str_member(b, "detail"),
               "The new PIN is too easy to guess (a run of digits, like 123456 or 654321); "
               "choose another.", "…the rule in words");
    tap_ok(!json_object_get(b, "triesLeft"), "…and no triesLeft: no try was spent");
    json_decref(b);
    p.rule = "repeated";
    b = problem_body(&p, LANG_ZH_CN, NULL);
    TAP_EQ_STR(str_member(b, "detail"),
               "新密码过于简单（全是同一个字符，如 111111），容易被他人猜到，请另设一个。",
               "Chinese too-simple detail names the rule");
    json_decref(b);
    p.rule = "no-such-rule";
    b = problem_body(&p, LANG_EN, NULL);
    TAP_EQ_STR(str_member(b, "detail"), "The new PIN is too easy to guess; choose another.",
               "a rule without words falls back to the plain detail");
    json_decref(b);

    p = problem_of(API_PIN_SAME_AS_OLD);
    p.field = "newPin";
    b = problem_body(&p, LANG_ZH_CN, NULL);
    TAP_EQ_INT(api_code_status(API_PIN_SAME_AS_OLD), 422, "PIN_SAME_AS_OLD is 422");
    TAP_EQ_STR(str_member(b, "detail"), "新密码不能与原密码相同，请另设一个。",
               "same as old: Chinese detail");
    tap_ok(!json_object_get(b, "rule"), "…with no rule member");
    json_decref(b);
}

static void test_bad_request_bodies(void)
{
    struct problem p = problem_of(API_BAD_REQUEST);
    json_t *b;

    p.field = "pin";
    p.reason = REASON_MISSING;
    b = problem_body(&p, LANG_EN, NULL);
    TAP_EQ_STR(str_member(b, "detail"), "Field \"pin\" is missing.", "missing field named");
    json_decref(b);
    p.reason = REASON_NOT_BOOLEAN;
    p.field = "confirmLastTry";
    b = problem_body(&p, LANG_ZH_CN, NULL);
    TAP_EQ_STR(str_member(b, "detail"), "字段“confirmLastTry”必须是 true 或 false。",
               "Chinese wrong type named");
    json_decref(b);
    p = problem_of(API_BAD_REQUEST);
    b = problem_body(&p, LANG_EN, NULL);
    TAP_EQ_STR(str_member(b, "detail"), "The request is malformed.", "no field, generic detail");
    json_decref(b);
}

int main(void)
{
    json_wipe_install();
    test_every_code();
    test_body_shape();
    test_pin_bodies();
    test_new_pin_bodies();
    test_one_word_for_one_thing();
    test_bad_request_bodies();
    return tap_done();
}
