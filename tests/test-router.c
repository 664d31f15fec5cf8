/* SPDX-License-Identifier: MIT */
/* Tests api/http/router.c: matching, parameters, suffixes, HEAD, 404 and 405 with Allow. */
#include <string.h>

#include "api/http/router.h"
#include "tests/tap.h"

static void h_any(struct request *req) { (void)req; }

static const struct route table[] = {
    { "GET", "/v1/status", h_any, 0 },
    { "GET", "/v1/tokens", h_any, 0 },
    { "GET", "/v1/tokens/{id}", h_any, 0 },
    { "GET", "/v1/tokens/{id}/certificates/{slot}.pem", h_any, 0 },
    { "GET", "/v1/tokens/{id}/certificates/{slot}.der", h_any, 0 },
    { "GET", "/v1/tokens/{id}/certificates/{slot}", h_any, 0 },
    { "GET", "/v1/tokens/{id}/pin", h_any, 0 },
    { "POST", "/v1/tokens/{id}/pin/verify", h_any, ROUTE_JSON_BODY },
    { "POST", "/v1/things", h_any, ROUTE_JSON_BODY },
    { "GET", "/v1/things", h_any, 0 },
};
#define N (sizeof table / sizeof table[0])

static void test_found(void)
{
    struct route_match m;

    TAP_EQ_INT(router_match(table, N, "GET", "/v1/status", &m), ROUTE_FOUND, "literal path");
    tap_ok(m.route == &table[0], "literal path picks its route");
    TAP_EQ_INT(m.n_params, 0, "literal path has no parameters");

    TAP_EQ_INT(router_match(table, N, "GET", "/v1/tokens/piv-00AB_cd", &m), ROUTE_FOUND,
               "one parameter");
    TAP_EQ_STR(route_param(&m, "id"), "piv-00AB_cd", "parameter value");
    tap_ok(route_param(&m, "slot") == NULL, "absent parameter is NULL");

    TAP_EQ_INT(router_match(table, N, "GET", "/v1/tokens/t1/certificates/9a", &m), ROUTE_FOUND,
               "two parameters");
    tap_ok(m.route == &table[5], "two parameters pick the plain certificate route");
    TAP_EQ_STR(route_param(&m, "id"), "t1", "first parameter");
    TAP_EQ_STR(route_param(&m, "slot"), "9a", "second parameter");

    TAP_EQ_INT(router_match(table, N, "GET", "/v1/tokens/t1/certificates/9c.pem", &m),
               ROUTE_FOUND, ".pem suffix");
    tap_ok(m.route == &table[3], ".pem picks the pem route");
    TAP_EQ_STR(route_param(&m, "slot"), "9c", "suffix is not part of the parameter");
    TAP_EQ_INT(router_match(table, N, "GET", "/v1/tokens/t1/certificates/9c.der", &m),
               ROUTE_FOUND, ".der suffix");
    tap_ok(m.route == &table[4], ".der picks the der route");

    /* a suffix never leaves an empty or dot-segment value: ".pem" is an id */
    TAP_EQ_INT(router_match(table, N, "GET", "/v1/tokens/t1/certificates/.pem", &m), ROUTE_FOUND,
               "\".pem\" alone");
    tap_ok(m.route == &table[5], "…is an id, not the pem route with none");
    TAP_EQ_INT(router_match(table, N, "GET", "/v1/tokens/t1/certificates/...pem", &m),
               ROUTE_FOUND, "\"...pem\"");
    tap_ok(m.route == &table[5], "…is an id, not \"..\" on the pem route");

    /* SKF certificate ids hold dots and "~xx" escapes (token/token.h) */
    TAP_EQ_INT(router_match(table, N, "GET", "/v1/tokens/skf-1/certificates/DEMO_SM2.sign", &m),
               ROUTE_FOUND, "an id with a dot");
    tap_ok(m.route == &table[5], "…picks the plain certificate route");
    TAP_EQ_STR(route_param(&m, "slot"), "DEMO_SM2.sign", "…the whole id");
    TAP_EQ_INT(router_match(table, N, "GET", "/v1/tokens/skf-1/certificates/~e6~bc~94.enc.der",
                            &m),
               ROUTE_FOUND, "an escaped id with .der");
    tap_ok(m.route == &table[4], "…picks the der route");
    TAP_EQ_STR(route_param(&m, "slot"), "~e6~bc~94.enc", "…the id without the suffix");

    TAP_EQ_INT(router_match(table, N, "POST", "/v1/things", &m), ROUTE_FOUND,
               "same path, second method");
    tap_ok(m.route == &table[8], "method decides between routes of one path");
}

static void test_not_found(void)
{
    static const char *const paths[] = {
        "/", "", "/v1", "/v1/", "/v1/status/", "/v1/statusx", "/v1/tokens/", "//v1/status",
        "/v1/tokens/..", "/v1/tokens/.", "/v1/tokens/t1/certificates/..",
        "/v1/tokens/a%2fb", "/v1/tokens/a b", "/v1/tokens/a+b", "/v1/tokens/a:b",
        "/v1/tokens/t1/certificates/9a/x",
        "/v2/status", "/V1/STATUS",
    };
    struct route_match m;

    char too_long[sizeof "/v1/tokens/" + ROUTE_PARAM_LEN_MAX + 1];

    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        TAP_EQ_INT(router_match(table, N, "GET", paths[i], &m), ROUTE_NOT_FOUND, paths[i]);
    memset(too_long, 'a', sizeof too_long - 1);
    memcpy(too_long, "/v1/tokens/", strlen("/v1/tokens/"));
    too_long[sizeof too_long - 1] = '\0';
    TAP_EQ_INT(router_match(table, N, "GET", too_long, &m), ROUTE_NOT_FOUND,
               "a parameter longer than ROUTE_PARAM_LEN_MAX");
    too_long[sizeof too_long - 2] = '\0';
    TAP_EQ_INT(router_match(table, N, "GET", too_long, &m), ROUTE_FOUND,
               "…and one exactly that long");
}

static void test_wrong_method(void)
{
    struct route_match m;

    TAP_EQ_INT(router_match(table, N, "POST", "/v1/status", &m), ROUTE_METHOD_NOT_ALLOWED,
               "POST on a GET route");
    TAP_EQ_STR(m.allow, "GET, HEAD, OPTIONS", "Allow for a GET route names HEAD");
    TAP_EQ_INT(router_match(table, N, "GET", "/v1/tokens/x/pin/verify", &m),
               ROUTE_METHOD_NOT_ALLOWED, "GET on a POST route");
    TAP_EQ_STR(m.allow, "POST, OPTIONS", "Allow for a POST route");
    TAP_EQ_INT(router_match(table, N, "DELETE", "/v1/things", &m), ROUTE_METHOD_NOT_ALLOWED,
               "DELETE on a path with two methods");
    TAP_EQ_STR(m.allow, "POST, GET, HEAD, OPTIONS", "Allow lists every method once");
    TAP_EQ_INT(router_match(table, N, "OPTIONS", "/v1/status", &m), ROUTE_METHOD_NOT_ALLOWED,
               "OPTIONS is for the server to answer");
    TAP_EQ_INT(router_match(table, N, "get", "/v1/status", &m), ROUTE_METHOD_NOT_ALLOWED,
               "methods are case-sensitive");
}

/* Health checks send HEAD: it must reach the GET handler (which answers as
 * for GET; the server leaves the body out), and never a POST route. */
static void test_head(void)
{
    struct route_match m;

    TAP_EQ_INT(router_match(table, N, "HEAD", "/v1/status", &m), ROUTE_FOUND,
               "HEAD on a GET route");
    tap_ok(m.route == &table[0], "…picks the GET route");
    TAP_EQ_INT(router_match(table, N, "HEAD", "/v1/tokens/t1/certificates/9c.pem", &m),
               ROUTE_FOUND, "HEAD on a GET route with parameters");
    tap_ok(m.route == &table[3], "…picks the same route as GET");
    TAP_EQ_STR(route_param(&m, "slot"), "9c", "…with the same parameters");
    TAP_EQ_INT(router_match(table, N, "HEAD", "/v1/things", &m), ROUTE_FOUND,
               "HEAD on a path with POST and GET");
    tap_ok(m.route == &table[9], "…picks the GET route, not the POST one");
    TAP_EQ_INT(router_match(table, N, "HEAD", "/v1/tokens/x/pin/verify", &m),
               ROUTE_METHOD_NOT_ALLOWED, "HEAD on a POST-only route: 405");
    TAP_EQ_STR(m.allow, "POST, OPTIONS", "…whose Allow has no HEAD");
    TAP_EQ_INT(router_match(table, N, "HEAD", "/v1/nothing", &m), ROUTE_NOT_FOUND,
               "HEAD on an unknown path: 404");
    TAP_EQ_INT(router_match(table, N, "head", "/v1/status", &m), ROUTE_METHOD_NOT_ALLOWED,
               "HEAD is case-sensitive too");
}

int main(void)
{
    test_found();
    test_not_found();
    test_wrong_method();
    test_head();
    return tap_done();
}
