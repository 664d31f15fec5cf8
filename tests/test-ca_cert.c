/* SPDX-License-Identifier: MIT */
/* Tests api/ca/ca_cert.c: the forms of action ids, numbers and slots, and how
 * strictly each cert/v1 answer is read. The answers come from a loopback
 * HTTP server that replays what each case sets — the answers a real service
 * must never send (a member missing or of the wrong form, base64 that is not,
 * a block of the wrong size, an unknown problem code) cannot come from the
 * reference CA, which tests/test-certwrite.sh drives end to end. Also checks
 * what ukeyd sends: the paths, the members, and the challenge. */
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>

#include "api/base/b64.h"
#include "api/ca/ca_cert.h"
#include "api/base/json.h"
#include "tests/tap.h"

#define ACTION_ID    "act-0123456789abcdef0123456789abcdef"
#define BODY_MAX     8192
#define URL_TEXT_MAX 64

static struct {
    pthread_mutex_t lock;
    unsigned status;
    const char *type;
    char answer[BODY_MAX];
    char last_path[256];
    char last_body[BODY_MAX];
    size_t last_len;
} srv = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void answer(unsigned status, const char *type, const char *body)
{
    pthread_mutex_lock(&srv.lock);
    srv.status = status;
    srv.type = type;
    snprintf(srv.answer, sizeof srv.answer, "%s", body);
    srv.last_path[0] = srv.last_body[0] = '\0';
    srv.last_len = 0;
    pthread_mutex_unlock(&srv.lock);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **state)
{
    struct MHD_Response *resp;
    enum MHD_Result rc;

    (void)cls;
    (void)method;
    (void)version;
    if (!*state) {
        *state = (void *)1;
        return MHD_YES;
    }
    pthread_mutex_lock(&srv.lock);
    if (*size) {
        size_t room = sizeof srv.last_body - 1 - srv.last_len, n = *size < room ? *size : room;

        memcpy(srv.last_body + srv.last_len, data, n);
        srv.last_len += n;
        srv.last_body[srv.last_len] = '\0';
        *size = 0;
        pthread_mutex_unlock(&srv.lock);
        return MHD_YES;
    }
    snprintf(srv.last_path, sizeof srv.last_path, "%s", url);
    resp = MHD_create_response_from_buffer(strlen(srv.answer), srv.answer, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(resp, "Content-Type", srv.type);
    rc = MHD_queue_response(c, srv.status, resp);
    MHD_destroy_response(resp);
    pthread_mutex_unlock(&srv.lock);
    return rc;
}

#define JSON "application/json"
#define PROBLEM "application/problem+json"

static const char *const good_action =
    "{\"actionId\":\"" ACTION_ID "\",\"number\":\"C2026112101\",\"kind\":\"renewal\","
    "\"state\":\"approved\",\"slot\":\"9a\",\"keyPolicy\":\"new\",\"keyAlgorithm\":\"SM2\","
    "\"managementKeyAlgorithm\":\"AES-128\",\"subject\":\"CN=演示专用, O=演示科技有限公司, C=CN\","
    "\"oldSerial\":\"184E831EDBC1E728\",\"expiresAt\":\"2026-12-21T00:00:00Z\"}";

static void test_forms(void)
{
    uint8_t slot = 0, *out = NULL;
    size_t len = 0;
    char *text;

    tap_ok(ca_action_id_valid(ACTION_ID), "an action id");
    tap_ok(!ca_action_id_valid("act-0123456789ABCDEF0123456789abcdef"), "…lower-case hex only");
    tap_ok(!ca_action_id_valid("act-0123"), "…of 32 digits");
    tap_ok(!ca_action_id_valid("rot-0123456789abcdef0123456789abcdef"), "…with its prefix");
    tap_ok(!ca_action_id_valid("act-../../../../etc/passwd0123456789"), "…never a path");
    tap_ok(ca_action_number_valid("C2026112101"), "a request number");
    tap_ok(!ca_action_number_valid("C202611210") && !ca_action_number_valid("X2026112101") &&
           !ca_action_number_valid("C20261121011"), "…C and exactly 10 digits");
    tap_ok(ca_slot_of_name("9d", &slot) && slot == 0x9D, "slot 9d");
    tap_ok(!ca_slot_of_name("95", &slot) && !ca_slot_of_name("9A", &slot),
           "…only the four named slots, lower case");
    tap_ok(strcmp(ca_err_name(CA_E_ACTION_UNKNOWN), "ACTION_UNKNOWN") == 0, "ACTION_UNKNOWN's name");
    text = b64_encode((const uint8_t *)"\x01\x02\x03\x04", 4);
    tap_ok(text && strcmp(text, "AQIDBA==") == 0, "base64 with padding");
    tap_ok(text && b64_decode(text, 4, &out, &len) && len == 4 && memcmp(out, "\x01\x02\x03\x04", 4) == 0,
           "…and back");
    free(out);
    free(text);
    tap_ok(!b64_decode("AQIDBA", 16, &out, &len), "base64 without padding is refused");
    tap_ok(!b64_decode("AQID\nBA==", 16, &out, &len), "…as is a line break");
    tap_ok(!b64_decode("AQIDBA==", 3, &out, &len), "…and more than the room allowed");
}

static void test_query(const struct ca_client *c)
{
    struct ca_presented_cert certs[] = { { "9a", "184E831EDBC1E728", "CN=SM2 CA" } };
    struct ca_action *list = NULL;
    struct ca_refusal why;
    char text[BODY_MAX];
    size_t n = 0;
    ca_err err;

    snprintf(text, sizeof text, "{\"actions\":[%s]}", good_action);
    answer(200, JSON, text);
    err = ca_cert_query(c, "piv-00", certs, 1, &list, &n, &why);
    tap_ok(err == CA_OK && n == 1, "query: one action");
    tap_ok(strcmp(srv.last_path, "/cert/v1/actions/query") == 0, "…POST /cert/v1/actions/query");
    tap_ok(strstr(srv.last_body, "\"tokenId\":\"piv-00\"") &&
           strstr(srv.last_body, "\"serial\":\"184E831EDBC1E728\""),
           "…naming the token and its certificates");
    if (n == 1)
        tap_ok(strcmp(list[0].id, ACTION_ID) == 0 && list[0].kind == CA_KIND_RENEWAL &&
               list[0].slot == 0x9A && list[0].key_policy == CA_KEY_NEW &&
               list[0].key_alg == TOKEN_KEY_SM2 && list[0].mgmt_alg == TOKEN_MGMT_ALG_AES128 &&
               strcmp(list[0].subject, "CN=演示专用, O=演示科技有限公司, C=CN") == 0,
               "…every member read");
    free(list);
    answer(200, JSON, "{\"actions\":[]}");
    tap_ok(ca_cert_query(c, "piv-00", NULL, 0, &list, &n, &why) == CA_OK && n == 0,
           "query: none");
    free(list);
    answer(404, PROBLEM, "{\"code\":\"TOKEN_UNKNOWN\",\"status\":404}");
    tap_ok(ca_cert_query(c, "piv-00", NULL, 0, &list, &n, &why) == CA_E_TOKEN_UNKNOWN,
           "query: TOKEN_UNKNOWN");
}

/* One ACTION member replaced by `bad`: the answer is of no use. */
static void refuse_member(const struct ca_client *c, const char *member, const char *good,
                          const char *bad)
{
    char text[BODY_MAX], pattern[128];
    const char *at;
    struct ca_action a;

    snprintf(pattern, sizeof pattern, "\"%s\":%s", member, good);
    at = strstr(good_action, pattern);
    if (!at) {
        tap_ok(0, "the sample has %s", pattern);
        return;
    }
    snprintf(text, sizeof text, "%.*s\"%s\":%s%s", (int)(at - good_action), good_action, member,
             bad, at + strlen(pattern));
    answer(200, JSON, text);
    tap_ok(ca_cert_get(c, ACTION_ID, &a, NULL) == CA_E_UNAVAILABLE, "get: %s %s refused", member,
           bad);
}

static void test_get(const struct ca_client *c)
{
    struct ca_action a;
    struct ca_refusal why;

    answer(200, JSON, good_action);
    tap_ok(ca_cert_get(c, ACTION_ID, &a, NULL) == CA_OK && a.state == CA_ACTION_APPROVED,
           "get: the action");
    tap_ok(strcmp(srv.last_path, "/cert/v1/actions/" ACTION_ID) == 0, "…GET /cert/v1/actions/{id}");
    tap_ok(ca_cert_get(c, "act-1/../x", &a, NULL) == CA_E_ACTION_UNKNOWN,
           "get: a malformed id never reaches the service");
    {
        char text[BODY_MAX];
        const char *at = strstr(good_action, "\"approved\"");

        snprintf(text, sizeof text, "%.*s\"expired\"%s", (int)(at - good_action), good_action,
                 at + strlen("\"approved\""));
        answer(200, JSON, text);
        tap_ok(ca_cert_get(c, ACTION_ID, &a, NULL) == CA_OK && a.state == CA_ACTION_EXPIRED,
               "get: an expired action is an answer (a recovery drops its record)");
    }
    refuse_member(c, "actionId", "\"" ACTION_ID "\"", "\"act-ffffffffffffffffffffffffffffffff\"");
    refuse_member(c, "number", "\"C2026112101\"", "\"2026112101\"");
    refuse_member(c, "kind", "\"renewal\"", "\"upgrade\"");
    refuse_member(c, "state", "\"approved\"", "\"paid\"");
    refuse_member(c, "slot", "\"9a\"", "\"82\"");
    refuse_member(c, "keyPolicy", "\"new\"", "\"maybe\"");
    refuse_member(c, "keyAlgorithm", "\"SM2\"", "\"RSA-1024\"");
    refuse_member(c, "managementKeyAlgorithm", "\"AES-128\"", "\"DES\"");
    refuse_member(c, "subject", "\"CN=演示专用, O=演示科技有限公司, C=CN\"", "\"CN=a\\u0007b\"");
    refuse_member(c, "oldSerial", "\"184E831EDBC1E728\"", "\"<script>\"");
    refuse_member(c, "expiresAt", "\"2026-12-21T00:00:00Z\"", "\"tomorrow\"");
    answer(404, PROBLEM, "{\"code\":\"ACTION_UNKNOWN\",\"status\":404}");
    tap_ok(ca_cert_get(c, ACTION_ID, &a, &why) == CA_E_ACTION_UNKNOWN, "get: ACTION_UNKNOWN");
    answer(409, PROBLEM, "{\"code\":\"STATE_CONFLICT\",\"state\":\"done\"}");
    tap_ok(ca_cert_get(c, ACTION_ID, &a, &why) == CA_E_STATE_CONFLICT &&
           strcmp(why.state, "done") == 0, "a STATE_CONFLICT carries the action's state");
    answer(409, PROBLEM, "{\"code\":\"NO_SUCH_CODE\"}");
    tap_ok(ca_cert_get(c, ACTION_ID, &a, &why) == CA_E_UNAVAILABLE,
           "an unknown problem code: UNAVAILABLE");
    answer(200, "text/html", good_action);
    tap_ok(ca_cert_get(c, ACTION_ID, &a, &why) == CA_E_UNAVAILABLE, "an answer that is not JSON");
    answer(502, PROBLEM, "{\"code\":\"ACTION_UNKNOWN\"}");
    tap_ok(ca_cert_get(c, ACTION_ID, &a, &why) == CA_E_UNAVAILABLE, "a 5xx whatever it says");
}

static void test_management_auth(const struct ca_client *c)
{
    const uint8_t challenge[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
    uint8_t response[16] = { 0 };

    answer(200, JSON, "{\"response\":\"EREREREREREREREREREREQ==\"}");
    tap_ok(ca_cert_management_auth(c, ACTION_ID, TOKEN_MGMT_ALG_AES128, challenge, 16, response,
                                   NULL) == CA_OK && response[0] == 0x11 && response[15] == 0x11,
           "management-auth: one AES block back");
    tap_ok(strstr(srv.last_body, "\"algorithm\":\"AES-128\"") &&
           strstr(srv.last_body, "\"challenge\":\"AQIDBAUGBwgJCgsMDQ4PEA==\""),
           "…the algorithm and the challenge sent in base64");
    tap_ok(strcmp(srv.last_path, "/cert/v1/actions/" ACTION_ID "/management-auth") == 0,
           "…POST …/management-auth");
    answer(200, JSON, "{\"response\":\"ERERERERERE=\"}");
    tap_ok(ca_cert_management_auth(c, ACTION_ID, TOKEN_MGMT_ALG_AES128, challenge, 16, response,
                                   NULL) == CA_E_UNAVAILABLE, "…an 8-byte answer to a 16-byte block is refused");
    tap_ok(ca_cert_management_auth(c, ACTION_ID, TOKEN_MGMT_ALG_3DES, challenge, 16, response,
                                   NULL) == CA_E_BAD_REQUEST,
           "…a 16-byte challenge for 3DES never leaves ukeyd");
    answer(429, PROBLEM, "{\"code\":\"TOO_MANY_ATTEMPTS\"}");
    tap_ok(ca_cert_management_auth(c, ACTION_ID, TOKEN_MGMT_ALG_3DES, challenge, 8, response,
                                   NULL) == CA_E_TOO_MANY_ATTEMPTS, "…TOO_MANY_ATTEMPTS");
}

static void test_issue_confirm(const struct ca_client *c)
{
    const uint8_t csr[] = { 0x30, 0x03, 0x02, 0x01, 0x00 };
    struct ca_issued is = { 0 };

    answer(200, JSON, "{\"certificate\":\"MAMCAQA=\",\"chain\":[\"MAMCAQE=\"]}");
    tap_ok(ca_cert_issue(c, ACTION_ID, csr, sizeof csr, &is, NULL) == CA_OK && is.der_len == 5 &&
           is.n_chain == 1 && is.chain_len[0] == 5, "issue: certificate and chain decoded");
    tap_ok(strstr(srv.last_body, "\"csr\":\"MAMCAQA=\"") != NULL, "…the CSR sent in base64");
    ca_issued_clear(&is);
    answer(200, JSON, "{\"certificate\":\"MAMCAQA=\",\"chain\":[]}");
    tap_ok(ca_cert_issue(c, ACTION_ID, NULL, 0, &is, NULL) == CA_OK && is.n_chain == 0 &&
           strcmp(srv.last_body, "{}") == 0, "issue (keep): an empty body");
    ca_issued_clear(&is);
    answer(200, JSON, "{\"certificate\":\"not base64!\",\"chain\":[]}");
    tap_ok(ca_cert_issue(c, ACTION_ID, NULL, 0, &is, NULL) == CA_E_UNAVAILABLE,
           "issue: a certificate that is not base64");
    ca_issued_clear(&is);
    answer(200, JSON, "{\"certificate\":\"MAMCAQA=\",\"chain\":[\"MAMCAQE=\",\"MAMCAQE=\","
                      "\"MAMCAQE=\",\"MAMCAQE=\",\"MAMCAQE=\"]}");
    tap_ok(ca_cert_issue(c, ACTION_ID, NULL, 0, &is, NULL) == CA_E_UNAVAILABLE,
           "issue: a chain longer than any CA's");
    ca_issued_clear(&is);
    answer(400, PROBLEM, "{\"code\":\"BAD_REQUEST\",\"field\":\"csr\"}");
    tap_ok(ca_cert_issue(c, ACTION_ID, csr, sizeof csr, &is, NULL) == CA_E_BAD_REQUEST,
           "issue: BAD_REQUEST");
    ca_issued_clear(&is);
    answer(200, JSON, "{\"state\":\"done\"}");
    tap_ok(ca_cert_confirm(c, ACTION_ID, "5A0B", NULL) == CA_OK &&
           strcmp(srv.last_body, "{\"serial\":\"5A0B\"}") == 0, "confirm: the serial sent, done");
    answer(200, JSON, "{\"state\":\"issued\"}");
    tap_ok(ca_cert_confirm(c, ACTION_ID, "5A0B", NULL) == CA_E_UNAVAILABLE,
           "confirm: any other state is not a confirmation");
}

/* An SKF key's change of c1.sign with `certificates` (JSON array text). */
#define SKF_PAIR_ACTION(certificates)                                                           \
    "{\"actionId\":\"" ACTION_ID "\",\"number\":\"C2026112101\",\"kind\":\"change\","             \
    "\"state\":\"approved\",\"slot\":\"c1.sign\",\"keyPolicy\":\"keep\",\"keyAlgorithm\":\"SM2\","  \
    "\"managementKeyAlgorithm\":\"AES-128\",\"subject\":\"CN=演示专用\","                       \
    "\"oldSerial\":\"01\",\"expiresAt\":\"2026-12-21T00:00:00Z\",\"certificates\":"            \
    certificates "}"

/* An SKF key's pair: both halves named by certificate id, never a PIV slot. */
static void test_skf_pair(const struct ca_client *c)
{
    struct ca_action a;
    struct ca_issued all[CA_ACTION_CERTS_MAX];
    const struct ca_written written[] = { { "c1.sign", "5A0B" }, { "c1.enc", "6C1D" } };
    size_t n = 0;

    answer(200, JSON, SKF_PAIR_ACTION("[{\"slot\":\"c1.sign\",\"oldSerial\":\"01\"},"
                                      "{\"slot\":\"c1.enc\",\"oldSerial\":\"02\"}]"));
    tap_ok(ca_cert_get(c, ACTION_ID, &a, NULL) == CA_OK && a.n_certs == 2 &&
               a.certs[0].slot == 0 && strcmp(a.certs[0].cert_id, "c1.sign") == 0 &&
               a.certs[0].role == CA_ROLE_SIGNING && a.certs[1].slot == 0 &&
               strcmp(a.certs[1].cert_id, "c1.enc") == 0 && a.certs[1].role == CA_ROLE_ENCRYPTION &&
               strcmp(a.certs[1].old_serial, "02") == 0,
           "an SKF pair: c1.sign and c1.enc, by their ids, their roles from the ids");
    answer(200, JSON, SKF_PAIR_ACTION("[{\"slot\":\"c1.sign\",\"oldSerial\":\"01\"},"
                                      "{\"slot\":\"9d\",\"oldSerial\":\"02\"}]"));
    tap_ok(ca_cert_get(c, ACTION_ID, &a, NULL) == CA_E_UNAVAILABLE,
           "…a pair of an SKF id and a PIV slot is refused");
    answer(200, JSON, SKF_PAIR_ACTION("[{\"slot\":\"c1.sign\",\"oldSerial\":\"01\"},"
                                      "{\"slot\":\"c1.sign\",\"oldSerial\":\"01\"}]"));
    tap_ok(ca_cert_get(c, ACTION_ID, &a, NULL) == CA_E_UNAVAILABLE,
           "…as is one id twice");
    answer(200, JSON, "{\"certificate\":\"MAMCAQA=\",\"chain\":[],\"certificates\":["
                      "{\"slot\":\"c1.sign\",\"certificate\":\"MAMCAQA=\",\"chain\":[]},"
                      "{\"slot\":\"c1.enc\",\"certificate\":\"MAMCAQE=\",\"chain\":[]}]}");
    tap_ok(ca_cert_issue_all(c, ACTION_ID, NULL, 0, all, &n, NULL) == CA_OK && n == 2 &&
               strcmp(all[0].cert_id, "c1.sign") == 0 && strcmp(all[1].cert_id, "c1.enc") == 0,
           "issue: an SKF pair's two certificates, by their ids");
    for (size_t i = 0; i < CA_ACTION_CERTS_MAX; i++)
        ca_issued_clear(&all[i]);
    answer(200, JSON, "{\"state\":\"done\"}");
    tap_ok(ca_cert_confirm_all(c, ACTION_ID, written, 2, NULL) == CA_OK &&
               strstr(srv.last_body, "{\"slot\":\"c1.enc\",\"serial\":\"6C1D\"}") != NULL,
           "confirm: the other half named by its id");
}

int main(void)
{
    struct MHD_Daemon *d;
    const union MHD_DaemonInfo *info;
    struct ca_client *c = NULL;
    char url[URL_TEXT_MAX];

    json_wipe_install();
    test_forms();
    d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_request, NULL,
                         MHD_OPTION_SOCK_ADDR,
                         &(struct sockaddr_in){ .sin_family = AF_INET,
                                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK) },
                         MHD_OPTION_END);
    info = d ? MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    if (!info) {
        tap_diag("no loopback server");
        return tap_done();
    }
    snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)info->port);
    ca_client_global_init();
    if (ca_client_new(&(struct ca_client_config){ .base_url = url, .connect_timeout_ms = 2000,
                                                  .timeout_ms = 5000 },
                      &c) == CA_OK) {
        test_query(c);
        test_get(c);
        test_management_auth(c);
        test_issue_confirm(c);
        test_skf_pair(c);
    }
    ca_client_free(c);
    ca_client_global_cleanup();
    MHD_stop_daemon(d);
    return tap_done();
}
