/* SPDX-License-Identifier: MIT */
/* Tests api/http/gate.c: the order of the guards and the router, as api/http/server.c
 * runs them on every request. The single guards have their own tests
 * (test-guard, test-router); this is about what comes first and what is
 * skipped. */
#include "api/http/gate.h"
#include "api/v1/routes.h"
#include "tests/tap.h"

#define PORT 17990
#define PORTAL "https://portal.example.cn"
#define TOKEN_PATH "/v1/tokens/piv-00aa"

static struct gate_rules rules;

static enum api_code gate(const char *method, const char *path, const char *host,
                          const char *origin, const char *fetch_site, const char *type,
                          struct gate_verdict *v)
{
    gate_evaluate(&(struct gate_request){ .method = method, .path = path, .host = host,
                                          .origin = origin, .sec_fetch_site = fetch_site,
                                          .content_type = type },
                  &rules, v);
    return v->code;
}

/* One framing fault on an otherwise good POST; true when it is refused
 * 400 and the connection is to be closed, before any other guard. */
static bool framing_refused(struct gate_request in)
{
    struct gate_verdict v;

    in.method = "POST";
    in.path = TOKEN_PATH "/pin/verify";
    in.origin = "https://evil.example";   /* would be ORIGIN_FORBIDDEN after framing */
    in.content_type = "application/json";
    gate_evaluate(&in, &rules, &v);
    return v.code == API_BAD_REQUEST && v.close;
}

static void test_framing(const char *host)
{
    tap_ok(framing_refused((struct gate_request){ .host = host, .n_host = 2 }),
           "two Host headers: 400 and close, before the Origin guard");
    tap_ok(framing_refused((struct gate_request){ .host = host, .n_host = 1,
                                                  .name_with_space = true }),
           "a header name with a space (\"Host : x\"): 400 and close");
    tap_ok(framing_refused((struct gate_request){ .host = host, .n_host = 1,
                                                  .content_length = "2", .n_content_length = 2 }),
           "two Content-Lengths: 400 and close");
    tap_ok(framing_refused((struct gate_request){ .host = host, .n_host = 1,
                                                  .content_length = "5", .n_content_length = 1,
                                                  .transfer_encoding = true }),
           "Content-Length with Transfer-Encoding: 400 and close");
    tap_ok(!framing_refused((struct gate_request){ .host = host, .n_host = 1,
                                                   .content_length = "2",
                                                   .n_content_length = 1 }),
           "one Host and one Content-Length: framing passes");
}

int main(void)
{
    static const char *const allowed[] = { PORTAL };
    struct guard_hosts hosts;
    struct origin_list *origins = origin_list_new(allowed, 1);
    struct gate_verdict v;
    const char *host = "127.0.0.1:17990";

    guard_hosts_init(&hosts);
    guard_hosts_add_port(&hosts, PORT);
    rules = (struct gate_rules){ .hosts = &hosts, .origins = origins };
    rules.routes = api_routes(&rules.n_routes);

    TAP_EQ_INT(gate("GET", "/v1/status", host, NULL, NULL, NULL, &v), API_OK, "a plain GET passes");
    tap_ok(v.match.route && !v.options, "…matched to its route");
    TAP_EQ_INT(gate("GET", "/v1/nothing", "evil.example:17990", PORTAL, NULL, NULL, &v),
               API_HOST_FORBIDDEN, "Host is judged before the path: no 404 for a rebinding page");
    tap_ok(v.origin_allowed, "…and an allow-listed Origin still gets CORS on the refusal");
    TAP_EQ_INT(gate("GET", "/v1/nothing", host, "https://evil.example", NULL, NULL, &v),
               API_ORIGIN_FORBIDDEN, "a foreign Origin is refused before the router");
    TAP_EQ_INT(gate("GET", "/v1/status", host, NULL, "cross-site", NULL, &v),
               API_ORIGIN_FORBIDDEN, "cross-site fetch metadata without an allowed Origin");
    TAP_EQ_INT(gate("GET", "/v1/status", host, PORTAL, "cross-site", NULL, &v), API_OK,
               "cross-site from the allow-listed Origin passes");
    TAP_EQ_INT(gate("GET", "/v1/nothing", host, NULL, NULL, NULL, &v), API_NOT_FOUND,
               "unknown path: 404");
    TAP_EQ_INT(gate("DELETE", "/v1/tokens", host, NULL, NULL, NULL, &v),
               API_METHOD_NOT_ALLOWED, "wrong method: 405");
    TAP_EQ_STR(v.match.allow, "GET, HEAD, OPTIONS", "…with the Allow list");
    TAP_EQ_INT(gate("OPTIONS", TOKEN_PATH "/pin/verify", host, PORTAL, NULL, NULL, &v), API_OK,
               "OPTIONS on a known path passes as a preflight");
    tap_ok(v.options, "…marked as such, with no body guards");
    TAP_EQ_INT(gate("POST", TOKEN_PATH "/pin/verify", host, NULL, NULL, "text/plain", &v),
               API_UNSUPPORTED_MEDIA_TYPE, "a JSON route refuses another content type");
    TAP_EQ_INT(gate("POST", TOKEN_PATH "/pin/verify", host, NULL, NULL,
                    "application/json; charset=utf-8", &v),
               API_OK, "…and takes application/json");
    TAP_EQ_STR(route_param(&v.match, "id"), "piv-00aa", "the route's parameter");
    TAP_EQ_INT(gate("GET", "/v1/status", host, NULL, NULL, "text/plain", &v), API_OK,
               "a GET route ignores the content type");
    TAP_EQ_INT(gate(NULL, "/v1/status", host, NULL, NULL, NULL, &v), API_BAD_REQUEST,
               "no method at all: BAD_REQUEST, no crash");
    tap_ok(!v.close, "…and no framing fault");
    test_framing(host);
    origin_list_free(origins);
    return tap_done();
}
