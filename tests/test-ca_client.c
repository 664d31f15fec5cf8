/* SPDX-License-Identifier: MIT */
/* Tests api/ca/ca_client.c without a service: which base URLs are accepted (https,
 * or plain http to a loopback literal, judged by libcurl's URL parser), the
 * ids that may go into a path, and the names of errors and states. The
 * exchanges themselves are tested against ukey-ca by tests/test-unlock.sh. */
#include "api/ca/ca_client.h"
#include "tests/tap.h"

static void test_urls(void)
{
    static const struct {
        const char *url;
        int ok;
    } cases[] = {
        { "https://unlock.example.cn", 1 },
        { "https://unlock.example.cn/v1/", 1 },
        { "https://unlock.example.cn:8443", 1 },
        { "http://127.0.0.1:17991", 1 },
        { "http://127.8.9.10/unlock", 1 },
        { "http://[::1]:17991", 1 },
        { "http://unlock.example.cn", 0 },
        { "http://localhost:17991", 0 },
        { "http://127.0.0.1.nip.io", 0 },
        { "http://127.0.0.1:80@unlock.example.cn/", 0 },
        { "https://user@unlock.example.cn", 0 },
        { "https://unlock.example.cn/?a=1", 0 },
        { "https://unlock.example.cn/#top", 0 },
        { "http://[::2]:17991", 0 },
        { "ftp://127.0.0.1/", 0 },
        { "unlock.example.cn", 0 },
        { "", 0 },
    };
    char why[CA_WHY_MAX];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        why[0] = '\0';
        tap_ok(ca_url_check(cases[i].url, why, sizeof why) == cases[i].ok, "\"%s\" %s%s%s",
               cases[i].url, cases[i].ok ? "accepted" : "refused", why[0] ? ": " : "", why);
    }
}

static void test_clients(void)
{
    struct ca_client_config cfg = { .base_url = "https://unlock.example.cn/v1//",
                                    .connect_timeout_ms = 1000, .timeout_ms = 2000 };
    struct ca_client *c = NULL;

    tap_ok(ca_client_new(&cfg, &c) == CA_OK && c, "a client for an https URL");
    tap_ok(c && strcmp(ca_client_base_url(c), "https://unlock.example.cn/v1") == 0,
           "its base URL loses the trailing slashes");
    ca_client_free(c);
    cfg.base_url = "http://unlock.example.cn";
    tap_ok(ca_client_new(&cfg, &c) == CA_E_UNAVAILABLE && !c, "no client for plain http elsewhere");
}

static void test_ids_and_names(void)
{
    char long_id[CA_ID_MAX + 2];

    memset(long_id, 'a', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    tap_ok(ca_id_valid("req-3f9c0b8e5d2a4c7f9e1b6a0d2c4e8f10"), "a request id is valid");
    tap_ok(!ca_id_valid("../etc/passwd"), "a path is not an id");
    tap_ok(!ca_id_valid("rot-1/confirm"), "nor is an id with a slash");
    tap_ok(!ca_id_valid(""), "nor the empty string");
    tap_ok(!ca_id_valid(long_id), "nor one longer than %d", CA_ID_MAX);
    tap_ok(strcmp(ca_err_name(CA_E_PHONE_MISMATCH), "PHONE_MISMATCH") == 0, "error names");
    tap_ok(strcmp(ca_err_name(CA_E__COUNT + 3), "UNAVAILABLE") == 0, "out of range: UNAVAILABLE");
    tap_ok(strcmp(ca_state_name(CA_STATE_REVIEW_APPROVED), "review-approved") == 0, "state names");
    tap_ok(ca_review_name(CA_REVIEW_NONE) == NULL &&
           strcmp(ca_review_name(CA_REVIEW_REJECTED), "rejected") == 0, "review names");
}

int main(void)
{
    test_urls();
    test_clients();
    test_ids_and_names();
    return tap_done();
}
