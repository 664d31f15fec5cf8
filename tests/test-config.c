/* SPDX-License-Identifier: MIT */
/* Tests daemon/config.c: a good file, defaults, and one bad line or key at a
 * time, whose message must name the file, the line and the key. */
#include <syslog.h>
#include <unistd.h>

#include "daemon/config.h"
#include "tests/tap.h"

static char dir[] = "/tmp/ukeyd-test-config-XXXXXX";
static char path[sizeof dir + 32];

static void write_file(const char *text)
{
    FILE *f = fopen(path, "w");

    fputs(text, f);
    fclose(f);
}

/* Loads `text` over defaults; returns the rc and leaves the message in err. */
static int load(const char *text, struct config *c, char *err, size_t size)
{
    write_file(text);
    config_defaults(c);
    err[0] = '\0';
    return config_load(c, path, err, size);
}

static void test_good_file(void)
{
    struct config c;
    char err[CONFIG_ERROR_MAX];
    int rc = load("# ukeyd\n"
                  "[ukeyd]\n"
                  "origins = https://portal.example.cn, http://127.0.0.1:8080\n"
                  "origins = https://second.example.cn\n"
                  "  https://third.example.cn\n"
                  "listen = 127.0.0.1:17990 [::1]:17990\n"
                  "ca-service-url = https://unlock.example.cn/v1\n"
                  "ca-bundle = /dev/null\n"
                  "language = en\n"
                  "pin-pacing-ms = 250\n"
                  "max-connections = 32\n"
                  "max-sse-clients = 4\n"
                  "connection-timeout = 20\n"
                  "worker-threads = 2\n"
                  "sse-heartbeat = 5\n"
                  "log-level = debug ; inline comment\n",
                  &c, err, sizeof err);

    TAP_EQ_INT(rc, 0, "good file loads");
    if (rc)
        tap_diag("%s", err);
    TAP_EQ_INT(c.n_origins, 4, "origins: lists, repeats and continuation lines");
    TAP_EQ_STR(c.origins[0], "https://portal.example.cn", "first origin");
    TAP_EQ_STR(c.origins[3], "https://third.example.cn", "continued origin");
    TAP_EQ_INT(c.n_listen, 2, "listen addresses");
    TAP_EQ_STR(c.listen[1], "[::1]:17990", "IPv6 listen address");
    TAP_EQ_STR(c.ca_service_url, "https://unlock.example.cn/v1", "ca-service-url");
    TAP_EQ_STR(c.ca_bundle, "/dev/null", "ca-bundle");
    TAP_EQ_INT(c.language, LANG_EN, "language");
    TAP_EQ_INT(c.pin_pacing_ms, 250, "pin-pacing-ms");
    TAP_EQ_INT(c.max_connections, 32, "max-connections");
    TAP_EQ_INT(c.max_sse_clients, 4, "max-sse-clients");
    TAP_EQ_INT(c.connection_timeout_s, 20, "connection-timeout");
    TAP_EQ_INT(c.worker_threads, 2, "worker-threads");
    TAP_EQ_INT(c.sse_heartbeat_s, 5, "sse-heartbeat");
    TAP_EQ_INT(c.log_level, LOG_DEBUG, "log-level");
    config_free(&c);

    rc = load("origins = https://a.example.cn\n", &c, err, sizeof err);
    TAP_EQ_INT(rc, 0, "keys before any section are read");
    TAP_EQ_INT(c.language, LANG_ZH_CN, "language defaults to zh-CN");
    TAP_EQ_INT(c.max_sse_clients, 16, "limits keep their defaults");
    TAP_EQ_INT(c.n_listen, 0, "no listen addresses unless configured");
    config_free(&c);

    rc = load("ca-service-url = http://127.0.0.1:8443/unlock\n", &c, err, sizeof err);
    TAP_EQ_INT(rc, 0, "plain http to loopback is allowed for the CA service");
    config_free(&c);

    rc = load("ca-service-url = http://[::1]:8443\nstate-directory = /tmp/ukeyd-state\n"
              "ca-connect-timeout = 2\nca-timeout = 9\nunlock-session-timeout = 60\n",
              &c, err, sizeof err);
    TAP_EQ_INT(rc, 0, "the unlock keys load (plain http to [::1] too)");
    TAP_EQ_STR(c.state_directory, "/tmp/ukeyd-state", "state-directory");
    TAP_EQ_INT(c.ca_connect_timeout_s, 2, "ca-connect-timeout");
    TAP_EQ_INT(c.ca_timeout_s, 9, "ca-timeout");
    TAP_EQ_INT(c.unlock_session_timeout_s, 60, "unlock-session-timeout");
    config_free(&c);
}

static void test_bad_lines(void)
{
    static const struct {
        const char *text;
        const char *want;       /* substring of the message, after "PATH:" */
    } cases[] = {
        { "[ukeyd]\nbogus = 1\n", ":2: bogus: unknown key" },
        { "[ukeyd]\nmax-connections = many\n", ":2: max-connections: \"many\" is not a whole number" },
        { "max-connections = 0\n", ":1: max-connections: \"0\" is not a whole number from 1 to 1024" },
        { "max-sse-clients = 99999\n", ":1: max-sse-clients:" },
        { "pin-pacing-ms = -5\n", ":1: pin-pacing-ms:" },
        { "connection-timeout = 10s\n", ":1: connection-timeout:" },
        { "\n\norigins = https://portal.example.cn/\n", ":3: origins: \"https://portal.example.cn/\"" },
        { "origins = portal.example.cn\n", ":1: origins: \"portal.example.cn\" must start with" },
        { "origins = https://ok.example.cn *\n", ":1: origins: \"*\"" },
        { "listen = 0.0.0.0:17990\n", ":1: listen: \"0.0.0.0:17990\" is not a loopback address" },
        { "listen = 192.168.1.2:17990\n", ":1: listen: \"192.168.1.2:17990\" is not a loopback" },
        { "listen = localhost:17990\n", ":1: listen: \"localhost:17990\" does not name a numeric" },
        { "listen = 127.0.0.1\n", ":1: listen: \"127.0.0.1\" is not ADDRESS:PORT" },
        { "listen = 127.0.0.1:70000\n", ":1: listen: \"127.0.0.1:70000\" is not ADDRESS:PORT" },
        { "language = fr\n", ":1: language: \"fr\" is not zh-CN or en" },
        { "log-level = loud\n", ":1: log-level: \"loud\" is not one of" },
        { "[server]\nlisten = 127.0.0.1:1\n", ":2: listen: is in section [server]" },
        { "[ukeyd]\nthis line has no equals sign\n", ":2: not a \"key = value\" line" },
        { "ca-service-url = http://unlock.example.cn\n", ":1: ca-service-url: \"http://unlock.example.cn\" must be an https:// URL" },
        { "ca-service-url = http://127.0.0.1.evil.example\n", ":1: ca-service-url:" },
        { "ca-service-url = http://localhost:17991\n", ":1: ca-service-url: \"http://localhost:17991\" must be an https://" },
        { "ca-service-url = http://127.0.0.1:80@unlock.example.cn/\n", ":1: ca-service-url:" },
        { "ca-service-url = https://unlock.example.cn/?x=1\n", ":1: ca-service-url: \"https://unlock.example.cn/?x=1\" must not carry a query" },
        { "ca-timeout = 0\n", ":1: ca-timeout: \"0\" is not a whole number from 1 to 300" },
        { "ca-connect-timeout = 61\n", ":1: ca-connect-timeout:" },
        { "unlock-session-timeout = forever\n", ":1: unlock-session-timeout:" },
        { "state-directory = var/lib/ukeyd\n", ":1: state-directory: \"var/lib/ukeyd\" must be an absolute path" },
        { "ca-bundle = /nonexistent/ca.pem\n", ":1: ca-bundle: cannot read \"/nonexistent/ca.pem\"" },
        { "ca-bundle = relative.pem\n", ":1: ca-bundle: \"relative.pem\" must be an absolute path" },
        { "language = en\nlanguage = xx\nbogus = 1\n", ":2: language:" },
    };
    struct config c;
    char err[CONFIG_ERROR_MAX];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = load(cases[i].text, &c, err, sizeof err);
        const char *after_path = strncmp(err, path, strlen(path)) == 0 ? err + strlen(path) : "";

        tap_ok(rc < 0 && strstr(after_path, cases[i].want) == after_path,
               "bad config %zu refused: %s", i, err);
        config_free(&c);
    }
}

static void test_long_line(void)
{
    char text[400];
    struct config c;
    char err[CONFIG_ERROR_MAX];
    int rc;

    snprintf(text, sizeof text, "language = en\norigins = https://%0250d.example.cn\n", 0);
    rc = load(text, &c, err, sizeof err);
    tap_ok(rc < 0 && strstr(err, ":2: line longer than"), "overlong line refused: %s", err);
    config_free(&c);
}

static void test_failure_keeps_config(void)
{
    struct config c;
    char err[CONFIG_ERROR_MAX];

    config_defaults(&c);
    write_file("origins = https://kept.example.cn\nlanguage = en\n");
    TAP_EQ_INT(config_load(&c, path, err, sizeof err), 0, "first load");
    write_file("language = zh-CN\nmax-connections = none\n");
    tap_ok(config_load(&c, path, err, sizeof err) < 0, "second load fails");
    TAP_EQ_INT(c.language, LANG_EN, "a failed load changes nothing");
    TAP_EQ_INT(c.n_origins, 1, "origins kept after a failed load");
    config_free(&c);

    config_defaults(&c);
    tap_ok(config_load(&c, "/nonexistent/ukeyd.conf", err, sizeof err) < 0 &&
           strstr(err, "/nonexistent/ukeyd.conf: No such file") == err,
           "missing file named: %s", err);
    config_free(&c);
}

/* An administrator has the installed man page, not the source tree: a
 * message that points somewhere names ukeyd.conf(5), never docs/…md. */
static void test_names_man_page(void)
{
    static const char *const pointing[] = {
        "[ukeyd]\nbogus = 1\n",
        "skf-library = libskf.so no-such-vendor\n",
    };
    struct config c;
    char err[CONFIG_ERROR_MAX];

    for (size_t i = 0; i < sizeof pointing / sizeof pointing[0]; i++) {
        int rc = load(pointing[i], &c, err, sizeof err);

        tap_ok(rc < 0 && strstr(err, "(see ukeyd.conf(5))"), "names the man page: %s", err);
        tap_ok(!strstr(err, "docs/") && !strstr(err, ".md"), "…and no source path");
        config_free(&c);
    }
}

int main(void)
{
    if (!mkdtemp(dir))
        tap_skip_all("no temporary directory");
    snprintf(path, sizeof path, "%s/ukeyd.conf", dir);
    test_good_file();
    test_bad_lines();
    test_names_man_page();
    test_long_line();
    test_failure_keeps_config();
    unlink(path);
    rmdir(dir);
    return tap_done();
}
