/* SPDX-License-Identifier: MIT */
/* Tests api/http/guard.c: Host (rebinding), Origin, fetch metadata, content type and size. */
#include "api/http/guard.h"
#include "tests/tap.h"

#define PORT 17990

static void test_host(void)
{
    struct guard_hosts h;
    static const struct {
        const char *host;
        enum api_code want;
    } cases[] = {
        { "127.0.0.1:17990", API_OK },
        { "localhost:17990", API_OK },
        { "LocalHost:17990", API_OK },
        { "[::1]:17990", API_OK },
        { "127.0.0.1:8080", API_MISDIRECTED_REQUEST },
        { "localhost", API_MISDIRECTED_REQUEST },
        { "[::1]", API_MISDIRECTED_REQUEST },
        { "localhost:", API_MISDIRECTED_REQUEST },
        { "localhost:017990x", API_MISDIRECTED_REQUEST },
        { "localhost:99999999999", API_MISDIRECTED_REQUEST },
        { "evil.example:17990", API_HOST_FORBIDDEN },
        { "127.0.0.1.nip.io:17990", API_HOST_FORBIDDEN },
        { "localhost.:17990", API_HOST_FORBIDDEN },
        { "localhost.evil.example:17990", API_HOST_FORBIDDEN },
        { "evil-localhost:17990", API_HOST_FORBIDDEN },
        { "127.0.0.2:17990", API_HOST_FORBIDDEN },
        { "::1:17990", API_HOST_FORBIDDEN },
        { "[::1:17990", API_HOST_FORBIDDEN },
        { "0.0.0.0:17990", API_HOST_FORBIDDEN },
        { "2130706433:17990", API_HOST_FORBIDDEN },
        { "", API_HOST_FORBIDDEN },
        { ":17990", API_HOST_FORBIDDEN },
    };

    guard_hosts_init(&h);
    guard_hosts_add_port(&h, PORT);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        tap_ok(guard_check_host(cases[i].host, &h) == cases[i].want, "Host \"%s\" -> %s",
               cases[i].host, api_code_name(cases[i].want));
    TAP_EQ_INT(guard_check_host(NULL, &h), API_HOST_FORBIDDEN, "no Host header");

    guard_hosts_add_name(&h, "127.0.0.2");
    guard_hosts_add_port(&h, PORT + 1);
    TAP_EQ_INT(guard_check_host("127.0.0.2:17991", &h), API_OK, "added name and port");
    TAP_EQ_INT(guard_check_host("localhost:17991", &h), API_OK, "every name on every port");
    TAP_EQ_INT(h.n_names, 4, "names are not added twice");
    guard_hosts_add_name(&h, "LOCALHOST");
    TAP_EQ_INT(h.n_names, 4, "names compare case-insensitively");
}

static void test_origin(void)
{
    const char *allowed[] = { "https://portal.example.cn", "http://127.0.0.1:8080" };
    struct origin_list *list = origin_list_new(allowed, 2);

    tap_ok(list != NULL, "allow-list built");
    TAP_EQ_INT(guard_check_origin(NULL, list), API_OK, "no Origin (curl) passes");
    TAP_EQ_INT(guard_check_origin("https://portal.example.cn", list), API_OK, "exact origin");
    TAP_EQ_INT(guard_check_origin("http://127.0.0.1:8080", list), API_OK, "second origin");
    static const char *const foreign[] = {
        "https://evil.example", "https://portal.example.cn.evil.example",
        "https://evil.portal.example.cn", "http://portal.example.cn",
        "https://portal.example.cn:443", "https://portal.example.cn/", "https://PORTAL.example.cn",
        "null", "", "http://127.0.0.1:8081", "https://portal.example.c",
    };
    for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++)
        TAP_EQ_INT(guard_check_origin(foreign[i], list), API_ORIGIN_FORBIDDEN, foreign[i]);
    TAP_EQ_INT(guard_check_origin("https://portal.example.cn", NULL), API_ORIGIN_FORBIDDEN,
               "empty allow-list refuses every origin");
    origin_list_free(list);
}

static void test_fetch_site(void)
{
    TAP_EQ_INT(guard_check_fetch_site(NULL, false), API_OK, "no fetch metadata (curl)");
    TAP_EQ_INT(guard_check_fetch_site("none", false), API_OK, "user typed the URL");
    TAP_EQ_INT(guard_check_fetch_site("same-origin", false), API_OK, "same-origin");
    TAP_EQ_INT(guard_check_fetch_site("cross-site", false), API_ORIGIN_FORBIDDEN,
               "cross-site without allowed Origin");
    TAP_EQ_INT(guard_check_fetch_site("same-site", false), API_ORIGIN_FORBIDDEN,
               "same-site without allowed Origin");
    TAP_EQ_INT(guard_check_fetch_site("something-new", false), API_ORIGIN_FORBIDDEN,
               "unknown value fails closed");
    TAP_EQ_INT(guard_check_fetch_site("cross-site", true), API_OK,
               "cross-site from an allowed Origin");
}

static void test_content(void)
{
    TAP_EQ_INT(guard_check_content_type("application/json"), API_OK, "application/json");
    TAP_EQ_INT(guard_check_content_type("application/json; charset=utf-8"), API_OK,
               "with charset");
    TAP_EQ_INT(guard_check_content_type("Application/JSON"), API_OK, "case-insensitive");
    TAP_EQ_INT(guard_check_content_type("text/plain"), API_UNSUPPORTED_MEDIA_TYPE, "text/plain");
    TAP_EQ_INT(guard_check_content_type("application/x-www-form-urlencoded"),
               API_UNSUPPORTED_MEDIA_TYPE, "form");
    TAP_EQ_INT(guard_check_content_type("multipart/form-data; boundary=x"),
               API_UNSUPPORTED_MEDIA_TYPE, "multipart");
    TAP_EQ_INT(guard_check_content_type("application/jsonx"), API_UNSUPPORTED_MEDIA_TYPE,
               "prefix is not enough");
    TAP_EQ_INT(guard_check_content_type(NULL), API_UNSUPPORTED_MEDIA_TYPE, "no content type");

    TAP_EQ_INT(guard_check_content_length(NULL), API_OK, "no length");
    TAP_EQ_INT(guard_check_content_length("16384"), API_OK, "at the limit");
    TAP_EQ_INT(guard_check_content_length("16385"), API_PAYLOAD_TOO_LARGE, "over the limit");
    TAP_EQ_INT(guard_check_content_length("99999999999999999999999"), API_PAYLOAD_TOO_LARGE,
               "absurd length");
    TAP_EQ_INT(guard_check_content_length("12x"), API_BAD_REQUEST, "malformed length");
}

static void test_origin_syntax(void)
{
    static const char *const good[] = {
        "https://portal.example.cn", "http://127.0.0.1:8080", "https://a-b.c:443", "http://[::1]:80",
        "http://localhost:17991", "http://127.0.0.2",
    };
    static const char *const bad[] = {
        "portal.example.cn", "https://portal.example.cn/", "https://portal.example.cn/path",
        "https://Portal.example.cn", "ftp://x", "https://", "https://x:0", "https://x:65536",
        "https://x:", "HTTPS://x", "https://x y", "*",
        "http://portal.example.cn", "http://127.evil.example", "http://10.0.0.1:8080",
    };
    const char *why;

    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        tap_ok(guard_origin_valid(good[i], &why), "origin syntax ok: %s", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = NULL;
        tap_ok(!guard_origin_valid(bad[i], &why) && why, "origin syntax refused: %s (%s)", bad[i],
               why ? why : "no reason");
    }
}

int main(void)
{
    test_host();
    test_origin();
    test_fetch_site();
    test_content();
    test_origin_syntax();
    return tap_done();
}
