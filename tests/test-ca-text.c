/* SPDX-License-Identifier: MIT */
/*
 * tests/test-ca-text.c — the reference CA service's pure rules: phone
 * masking, certificate serial and issuer matching, money amounts, ids and
 * codes from the CSPRNG, problem bodies, and the route table's matching.
 */
#include <stdlib.h>
#include <string.h>

#include "tests/tap.h"
#include "web-demo/ca-service/problem.h"
#include "web-demo/ca-service/routes.h"
#include "web-demo/ca-service/secret.h"
#include "web-demo/ca-service/text.h"

#define BUF 128

static void test_phone(void)
{
    char out[BUF];

    text_mask_phone("13700001000", out, sizeof out);
    TAP_EQ_STR(out, "137****1000", "mainland mobile masked as the CA's manual shows it");
    text_mask_phone("1234567", out, sizeof out);
    TAP_EQ_STR(out, "****", "a number too short to mask partly is masked whole");
    tap_ok(text_is_digits("13700001000", 5, 20), "digits accepted");
    tap_ok(!text_is_digits("137-0000", 5, 20), "a dash refused");
    tap_ok(!text_is_digits("1234", 5, 20), "too short refused");
    tap_ok(!text_is_digits("", 0 + 1, 20), "empty refused");
}

static void test_serial(void)
{
    char out[BUF];

    tap_ok(text_canonical_serial("00cd6d17a05f675f49", out, sizeof out) &&
           strcmp(out, "CD6D17A05F675F49") == 0, "sign octet dropped, upper case");
    tap_ok(text_canonical_serial("0", out, sizeof out) && strcmp(out, "0") == 0,
           "serial zero stays one digit");
    tap_ok(!text_canonical_serial("12G4", out, sizeof out), "non-hex refused");
    tap_ok(!text_canonical_serial("", out, sizeof out), "empty refused");
}

static void test_issuer(void)
{
    tap_ok(text_issuer_equal("CN=演示根CA, O=演示数字认证中心, C=CN", "CN=演示根CA,O=演示数字认证中心,C=CN"),
           "space after the RDN separator does not matter");
    tap_ok(text_issuer_equal("CN=a + UID=b, C=CN", "CN=a+UID=b,C=CN"),
           "spaces around the AVA separator do not matter");
    tap_ok(!text_issuer_equal("CN=a\\ , C=CN", "CN=a, C=CN"), "an escaped space is data");
    tap_ok(!text_issuer_equal("CN=a\\, b, C=CN", "CN=a, b, C=CN"), "an escaped comma is data");
    tap_ok(!text_issuer_equal("CN=Demo CA, C=CN", "CN=DemoCA, C=CN"),
           "a space inside a value matters");
    tap_ok(!text_issuer_equal("CN=a, C=CN", "CN=a, C=US"), "different issuers differ");
}

static void test_amount(void)
{
    char out[BUF];

    TAP_EQ_INT(text_parse_amount("30.00"), 3000, "30.00 is 3000 cents");
    TAP_EQ_INT(text_parse_amount("0.05"), 5, "0.05 is 5 cents");
    TAP_EQ_INT(text_parse_amount("30"), -1, "no decimals refused");
    TAP_EQ_INT(text_parse_amount("30.0"), -1, "one decimal refused");
    TAP_EQ_INT(text_parse_amount("-1.00"), -1, "negative refused");
    TAP_EQ_INT(text_parse_amount(".50"), -1, "no units refused");
    text_format_amount(3000, out, sizeof out);
    TAP_EQ_STR(out, "30.00", "3000 cents shown as 30.00");
}

static void test_random(void)
{
    char id[BUF], a[16], b[16];
    size_t i;
    bool digits = true;

    tap_ok(secret_random_id("req-", id, sizeof id) && strlen(id) == 4 + 32 &&
           text_is_id(id, sizeof id), "an id is the prefix and 32 hex digits");
    tap_ok(!secret_random_id("req-", id, 20), "an id that does not fit is refused");
    tap_ok(secret_random_digits(a, 8) && secret_random_digits(b, 8), "8 random digits");
    for (i = 0; i < 8; i++)
        digits = digits && a[i] >= '0' && a[i] <= '9';
    tap_ok(digits && strlen(a) == 8, "they are digits, NUL-terminated");
    tap_ok(secret_equal("123456", "123456") && !secret_equal("123456", "123457") &&
           !secret_equal("123456", "1234567"), "secret comparison");
}

static void test_problem(void)
{
    struct ca_problem p = ca_fail(CA_CODE_INCORRECT);
    json_t *body;

    p.attempts_left = 3;
    body = ca_problem_body(&p);
    TAP_EQ_STR(json_string_value(json_object_get(body, "code")), "CODE_INCORRECT", "code");
    TAP_EQ_STR(json_string_value(json_object_get(body, "type")),
               "urn:ukeyd:unlock:problem:code-incorrect", "type URI from the code");
    TAP_EQ_INT(json_integer_value(json_object_get(body, "attemptsLeft")), 3, "attemptsLeft");
    tap_ok(!json_object_get(body, "retryAfter"), "no retryAfter when not rate limited");
    json_decref(body);
    TAP_EQ_INT(ca_code_status(CA_PAYMENT_REQUIRED), 402, "PAYMENT_REQUIRED is 402");
    TAP_EQ_INT(ca_code_status(CA_CODE__COUNT), 500, "out of range is INTERNAL");
}

static void free_captures(char *c[HTTP_MAX_CAPTURES])
{
    for (size_t i = 0; i < HTTP_MAX_CAPTURES; i++) {
        free(c[i]);
        c[i] = NULL;
    }
}

static void test_routes(void)
{
    char *c[HTTP_MAX_CAPTURES] = { 0 };
    const struct route *rt;
    char allow[BUF];

    tap_ok(routes_find("POST", "/unlock/v1/requests/req-ab12/sms", &rt, c) && rt &&
           strcmp(rt->pattern, "/unlock/v1/requests/{}/sms") == 0 && c[0] &&
           strcmp(c[0], "req-ab12") == 0, "a protocol route and its id");
    tap_ok(rt && (rt->flags & ROUTE_PROTOCOL), "protocol routes are marked for the browser guard");
    free_captures(c);
    tap_ok(routes_find("GET", "/demo/api/reviews/rev-1/materials/42", &rt, c) && rt && c[0] &&
           c[1] && strcmp(c[1], "42") == 0, "two captures");
    free_captures(c);
    tap_ok(routes_find("HEAD", "/pay/ord-1", &rt, c) && rt, "GET routes answer HEAD");
    free_captures(c);
    tap_ok(routes_find("GET", "/unlock/v1/requests/REQ_1", &rt, c) && !rt,
           "an id with other characters is no match");
    tap_ok(routes_find("GET", "/unlock/v1/requests/a/b", &rt, c) && !rt, "extra segments: no match");
    tap_ok(routes_find("GET", "/unlock/v1/requests/", &rt, c) && !rt, "empty id: no match");
    tap_ok(routes_find("DELETE", "/pay/ord-1", &rt, c) && !rt, "wrong method: no route");
    tap_ok(routes_allowed("/pay/ord-1", allow, sizeof allow) && strcmp(allow, "GET, POST") == 0,
           "Allow lists the path's methods");
    tap_ok(!routes_allowed("/nowhere", allow, sizeof allow), "no methods for an unknown path");
    free_captures(c);
}

int main(void)
{
    test_phone();
    test_serial();
    test_issuer();
    test_amount();
    test_random();
    test_problem();
    test_routes();
    return tap_done();
}
