/* SPDX-License-Identifier: MIT */
/* Tests the peer and support keys of daemon/config.c (peer-policy,
 * peer-users, support-socket, support-group: values, lists, errors naming
 * line and key) and daemon/configview.c, the configuration as support sees
 * it: every key under its file name, defaults filled in, URLs without
 * credentials, the SKF library lines. */
#include <unistd.h>

#include "daemon/config.h"
#include "daemon/configview.h"
#include "tests/tap.h"

#define URL_MAX 256

static char conf_path[] = "/tmp/ukeyd-test-configview.XXXXXX";

/* Loads `text` over the defaults; returns config_load's result. */
static int load(const char *text, struct config *c, char *error, size_t size)
{
    FILE *f = fopen(conf_path, "w");

    config_defaults(c);
    if (!f)
        return -2;
    fputs(text, f);
    fclose(f);
    error[0] = '\0';
    return config_load(c, conf_path, error, size);
}

static void expect_error(const char *text, const char *fragment, const char *name)
{
    struct config c;
    char error[CONFIG_ERROR_MAX];
    int rc = load(text, &c, error, sizeof error);

    tap_ok(rc == -1 && strstr(error, fragment), "%s (%s)", name, error);
    config_free(&c);
}

static void test_peer_keys(void)
{
    struct config c;
    char error[CONFIG_ERROR_MAX];
    int rc = load("[ukeyd]\npeer-policy = users\npeer-users = alice, @desk\n"
                  "peer-users = bob alice\nsupport-socket = /run/ukeyd-test/s.sock\n"
                  "support-group = helpdesk\n",
                  &c, error, sizeof error);

    TAP_EQ_INT(rc, 0, "peer and support keys load");
    TAP_EQ_INT(c.peer_mode, PEER_MODE_USERS, "peer-policy = users");
    TAP_EQ_INT(c.n_peer_users, 3, "peer-users: lists add up, repeats count once");
    TAP_EQ_STR(c.n_peer_users > 1 ? c.peer_users[1] : NULL, "@desk", "a group item kept as is");
    TAP_EQ_STR(c.support_socket, "/run/ukeyd-test/s.sock", "support-socket");
    TAP_EQ_STR(c.support_group, "helpdesk", "support-group");
    config_free(&c);

    config_defaults(&c);
    TAP_EQ_INT(c.peer_mode, PEER_MODE_AUTO, "the default peer policy is auto");
    tap_ok(!c.support_socket && !c.support_group, "support keys default to NULL (built-ins)");
    rc = load("support-socket = none\n", &c, error, sizeof error);
    tap_ok(rc == 0 && c.support_socket && !c.support_socket[0], "support-socket = none: off");
    config_free(&c);
}

static void test_peer_key_errors(void)
{
    expect_error("[ukeyd]\npeer-policy = everyone\n", ":2: peer-policy: \"everyone\" is not one of",
                 "an unknown peer-policy names line and key");
    expect_error("peer-users = alice -bob\n", ":1: peer-users: \"-bob\"",
                 "a bad peer-users item is named");
    expect_error("support-socket = run/s.sock\n", "must be an absolute path",
                 "a relative support-socket refused");
    expect_error("support-socket = /run/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock\n",
                 "too long for a socket path", "a support-socket too long for sun_path refused");
    expect_error("support-group = @helpdesk\n", "support-group: \"@helpdesk\"",
                 "support-group takes a group name without @");
}

static void test_redact(void)
{
    static const struct { const char *in, *out; } cases[] = {
        { "https://ca.example.cn/unlock/v1", "https://ca.example.cn/unlock/v1" },
        { "https://user:s3cret@ca.example.cn/v1", "https://ca.example.cn/v1" },
        { "https://ca.example.cn/v1?key=s3cret", "https://ca.example.cn/v1" },
        { "https://ca.example.cn#frag", "https://ca.example.cn" },
        { "http://127.0.0.1:8080/", "http://127.0.0.1:8080/" },
        { "https://ca.example.cn/path@with-at", "https://ca.example.cn/path@with-at" },
    };
    char out[URL_MAX];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        config_redact_url(cases[i].in, out, sizeof out);
        TAP_EQ_STR(out, cases[i].out, cases[i].in);
    }
}

/* The SKF keys as support sees them: every library line, in order. */
static void test_view_skf(json_t *v)
{
    json_t *lines = json_object_get(v, "skf-library");

    TAP_EQ_INT(json_array_size(lines), 2, "view: every skf-library line");
    TAP_EQ_STR(json_string_value(json_object_get(json_array_get(lines, 0), "path")),
               "/opt/gm3000/libgm3000.so", "view: a library's path");
    TAP_EQ_STR(json_string_value(json_object_get(json_array_get(lines, 0), "profile")),
               "longmai-gm3000", "view: its profile");
    tap_ok(json_is_null(json_object_get(json_array_get(lines, 1), "profile")),
           "view: a line without a profile shows null (the standard's values)");
    tap_ok(json_is_false(json_object_get(v, "skf-discover")), "view: skf-discover");
    TAP_EQ_STR(json_string_value(json_object_get(v, "skf-helper")), UKEYD_SKF_HELPER,
               "view: the built-in helper's path filled in");
}

static void test_view(void)
{
    struct config c;
    char error[CONFIG_ERROR_MAX];
    json_t *v;
    char *text;

    TAP_EQ_INT(load("origins = https://portal.example.cn\npeer-policy = any-local\n"
                    "peer-users = alice\nskf-library = /opt/gm3000/libgm3000.so longmai-gm3000\n"
                    "skf-library = /usr/lib/libvendor.so\nskf-discover = no\n",
                    &c, error, sizeof error),
               0, "a file to view loads");
    /* Set here, not in the file: the file's own rules may refuse such a URL. */
    c.ca_service_url = strdup("https://op:s3cret@ca.example.cn/v1?token=s3cret");
    v = config_view(&c);
    tap_ok(v != NULL, "config_view builds");
    TAP_EQ_STR(json_string_value(json_object_get(v, "peer-policy")), "any-local",
               "view: peer-policy");
    TAP_EQ_STR(json_string_value(json_array_get(json_object_get(v, "peer-users"), 0)), "alice",
               "view: peer-users");
    TAP_EQ_STR(json_string_value(json_object_get(v, "support-socket")),
               CONFIG_DEFAULT_SUPPORT_SOCKET, "view: the default support socket filled in");
    TAP_EQ_STR(json_string_value(json_object_get(v, "support-group")),
               CONFIG_DEFAULT_SUPPORT_GROUP, "view: the default support group filled in");
    TAP_EQ_INT(json_integer_value(json_object_get(v, "pin-pacing-ms")), c.pin_pacing_ms,
               "view: numbers under their file names");
    TAP_EQ_STR(json_string_value(json_object_get(v, "ca-service-url")),
               "https://ca.example.cn/v1", "view: the URL without credentials or query");
    test_view_skf(v);
    text = json_dumps(v, 0);
    tap_ok(text && !strstr(text, "s3cret"), "view: no secret anywhere");
    free(text);
    json_decref(v);
    config_free(&c);
}

int main(void)
{
    int fd = mkstemp(conf_path);

    if (fd < 0)
        tap_skip_all("cannot make a temporary file");
    close(fd);
    test_peer_keys();
    test_peer_key_errors();
    test_redact();
    test_view();
    unlink(conf_path);
    return tap_done();
}
