/* SPDX-License-Identifier: MIT */
/* Tests api/env/env_os.c: os-release parsing (quotes, escapes, comments, junk),
 * which distributions count as supported, dotted version comparison, and the
 * system.os / system.ukeyd checks built from them. */
#include "api/env/env_os.h"
#include "tests/tap.h"

static void test_parse_debian(void)
{
    static const char text[] =
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"
        "NAME=\"Debian GNU/Linux\"\n"
        "VERSION_ID=\"12\"\n"
        "VERSION=\"12 (bookworm)\"\n"
        "VERSION_CODENAME=bookworm\n"
        "ID=debian\n"
        "HOME_URL=\"https://www.debian.org/\"\n";
    struct os_release o;

    TAP_EQ_INT(env_os_release_parse(text, &o), 5, "debian: five known keys");
    TAP_EQ_STR(o.pretty_name, "Debian GNU/Linux 12 (bookworm)", "debian: PRETTY_NAME unquoted");
    TAP_EQ_STR(o.version_codename, "bookworm", "debian: bare value");
    TAP_EQ_STR(o.id, "debian", "debian: ID");
    tap_ok(env_os_supported(&o), "debian is supported");
}

static void test_parse_quirks(void)
{
    static const char text[] =
        "# a comment line\n"
        "\n"
        "  NAME='Kylin \"V10\"'\n"
        "PRETTY_NAME=\"Say \\\"hi\\\" \\\\ \\$HOME\"\n"
        "ID=kylin   \n"
        "ID_LIKE=\"ubuntu debian\"\n"
        "lower=ignored\n"
        "NO_EQUALS_SIGN\n"
        "VERSION_ID=\"unterminated\n"
        "VERSION_CODENAME=after\n";
    struct os_release o;

    env_os_release_parse(text, &o);
    TAP_EQ_STR(o.name, "Kylin \"V10\"", "single quotes keep double quotes and backslashes");
    TAP_EQ_STR(o.pretty_name, "Say \"hi\" \\ $HOME", "backslash escapes in double quotes");
    TAP_EQ_STR(o.id, "kylin", "trailing blanks of a bare value dropped");
    TAP_EQ_STR(o.version_id, "unterminated", "an unterminated quote ends at the line end");
    TAP_EQ_STR(o.version_codename, "after", "the next line is read normally");
    tap_ok(env_os_supported(&o), "ID_LIKE naming debian is supported");
}

static void test_parse_unsupported_and_empty(void)
{
    struct os_release o;
    char buf[OS_FIELD_MAX];

    TAP_EQ_INT(env_os_release_parse("", &o), 0, "empty text: nothing found");
    TAP_EQ_STR(env_os_display(&o, buf, sizeof buf), "Linux", "nothing known shows as Linux");
    env_os_release_parse("ID=fedora\nID_LIKE=\"rhel debianish\"\nNAME=Fedora\nVERSION_ID=41\n",
                         &o);
    tap_ok(!env_os_supported(&o), "fedora (ID_LIKE debianish) is not supported");
    TAP_EQ_STR(env_os_display(&o, buf, sizeof buf), "Fedora 41", "NAME VERSION_ID without PRETTY_NAME");
}

static void test_version_compare(void)
{
    TAP_EQ_INT(env_version_compare("0.1.0", "0.1.0"), 0, "equal versions");
    tap_ok(env_version_compare("0.10.0", "0.9.2") > 0, "0.10.0 > 0.9.2 (numbers, not text)");
    tap_ok(env_version_compare("0.1", "0.1.1") < 0, "a missing part counts as 0");
    TAP_EQ_INT(env_version_compare("1.2", "1.2.0"), 0, "1.2 == 1.2.0");
    TAP_EQ_INT(env_version_compare("1.2.0-rc1", "1.2.0"), 0, "a suffix is ignored");
    tap_ok(env_version_compare("2", "10") < 0, "2 < 10");
}

static const char *found_of(const struct env_report *r, const char *id, enum api_lang lang,
                            char *buf, size_t size)
{
    const struct env_check *c = env_report_find(r, id);
    char *text = c ? env_text_render(&c->found, lang) : NULL;

    snprintf(buf, size, "%s", text ? text : "");
    free(text);
    return buf;
}

static void test_checks(void)
{
    struct utsname u = { .release = "6.1.0-18-amd64", .machine = "x86_64" };
    struct os_release o;
    struct env_report r = { 0 };
    char text[512];

    env_os_release_parse("PRETTY_NAME=\"UOS 20\"\nID=uos\nID_LIKE=debian\n", &o);
    env_os_check(&r, &o, &u);
    env_os_check(&r, NULL, &u);
    env_ukeyd_check(&r, "0.1.0", "0.2.0");
    TAP_EQ_INT(r.checks[0]->state, ENV_OK, "system.os ok on UOS");
    TAP_EQ_STR(found_of(&r, "system.os", LANG_EN, text, sizeof text),
               "UOS 20, kernel 6.1.0-18-amd64, x86_64", "system.os says distro, kernel, arch");
    TAP_EQ_INT(r.checks[1]->state, ENV_WARN, "no os-release: warn");
    TAP_EQ_INT(r.checks[2]->state, ENV_WARN, "a newer ukeyd announced: warn");
    tap_ok(strstr(found_of(&r, "system.ukeyd", LANG_ZH_CN, text, sizeof text), "0.2.0") != NULL,
           "the announced version is named (zh-CN)");
    tap_ok(json_is_true(json_object_get(r.checks[2]->details, "updateAvailable")),
           "details.updateAvailable true");
    env_report_free(&r);

    env_ukeyd_check(&r, "0.2.0", "0.1.9");
    env_ukeyd_check(&r, "0.2.0", NULL);
    TAP_EQ_INT(r.checks[0]->state, ENV_OK, "an older announced version: ok");
    TAP_EQ_INT(r.checks[1]->state, ENV_OK, "nothing announced: ok");
    tap_ok(json_is_null(json_object_get(r.checks[1]->details, "latest")), "details.latest null");
    env_report_free(&r);
}

int main(void)
{
    test_parse_debian();
    test_parse_quirks();
    test_parse_unsupported_and_empty();
    test_version_compare();
    test_checks();
    return tap_done();
}
