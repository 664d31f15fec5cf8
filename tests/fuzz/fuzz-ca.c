/* SPDX-License-Identifier: MIT */
/*
 * fuzz-ca — the CA unlock service's answers as the unlock client
 * (api/ca_client.c) reads them. A small HTTP server on loopback, in a thread
 * of the fuzzer, answers the client's one request with the input; the client
 * runs unchanged, libcurl and all, so what is fuzzed is exactly what a broken
 * or hostile service can send.
 *
 * Input: one byte picks the protocol call, one the HTTP status, one the
 * Content-Type; the rest is the answer's body.
 *
 * Properties (api/ca_client.h): a 5xx, or a 2xx that is not a JSON object,
 * is CA_E_UNAVAILABLE; a request, a PUK pair or a refusal handed on holds
 * only values that passed their checks.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/ca_client.h"
#include "tests/fuzz/fuzz.h"

#define REQUEST_MAX       8192
#define HEAD_MAX          256
#define CLIENT_TIMEOUT_MS 2000
#define READ_WAIT_MS      1000
#define HTTP_SERVER_ERROR 500
#define HTTP_SUCCESS_MIN  200
#define HTTP_SUCCESS_MAX  299
#define ATTEMPTS_MAX      100
#define PUK_MAX           16
#define REQUEST_ID        "rq-0123456789abcdef"
#define ROTATION_ID       "rot-0123456789abcdef"

static const int statuses[] = { 200, 201, 204, 302, 400, 402, 403, 404, 409, 410, 422, 429,
                                500, 502, 503 };
static const char *const media_types[] = { "application/json", "application/problem+json",
                                           "application/json; charset=utf-8", "text/html",
                                           NULL };
enum call {
    CALL_OPEN,
    CALL_GET,
    CALL_SMS,
    CALL_VERIFY_SMS,
    CALL_VERIFY_UNLOCK,
    CALL_AUTHORIZE,
    CALL_CONFIRM,
    CALL_RECONCILE,
    CALL__COUNT
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The answer the server gives to the next connection. */
static struct {
    pthread_mutex_t lock;
    char *text;
    size_t len;
} answer = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Reads the request (headers, then Content-Length bytes of body) so that
 * closing afterwards is a clean end, not a reset that loses the answer. */
static void read_request(int fd)
{
    char buf[REQUEST_MAX + 1];
    size_t used = 0, want = 0;
    char *end = NULL;

    while (used < REQUEST_MAX) {
        struct pollfd p = { fd, POLLIN, 0 };
        ssize_t n;

        if (poll(&p, 1, READ_WAIT_MS) <= 0 || (n = read(fd, buf + used, REQUEST_MAX - used)) <= 0)
            return;
        used += (size_t)n;
        buf[used] = '\0';
        if (!end && (end = strstr(buf, "\r\n\r\n"))) {
            const char *cl = strcasestr(buf, "\r\nContent-Length:");

            want = (size_t)(end + 4 - buf) + (cl ? strtoul(cl + strlen("\r\nContent-Length:"),
                                                           NULL, 10) : 0);
        }
        if (end && used >= want)
            return;
    }
}

static void *serve(void *arg)
{
    int listener = *(int *)arg;

    for (;;) {
        int fd = accept(listener, NULL, NULL);

        if (fd < 0)
            continue;
        read_request(fd);
        pthread_mutex_lock(&answer.lock);
        if (answer.text && write(fd, answer.text, answer.len) < 0)
            fprintf(stderr, "fuzz-ca: the client went away early\n");
        pthread_mutex_unlock(&answer.lock);
        shutdown(fd, SHUT_WR);
        close(fd);
    }
    return NULL;
}

/* Starts the server once; returns the client that talks to it. */
static struct ca_client *setup(void)
{
    static struct ca_client *client;
    static int listener;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    char url[HEAD_MAX];
    pthread_t thread;

    if (client)
        return client;
    fuzz_setup_once();
    FUZZ_ASSERT(ca_client_global_init() == 0);
    listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    FUZZ_ASSERT(listener >= 0 && bind(listener, (struct sockaddr *)&a, sizeof a) == 0 &&
                listen(listener, 16) == 0 &&
                getsockname(listener, (struct sockaddr *)&a, &len) == 0);
    FUZZ_ASSERT(pthread_create(&thread, NULL, serve, &listener) == 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%u", ntohs(a.sin_port));
    FUZZ_ASSERT(ca_client_new(&(struct ca_client_config){ .base_url = url,
                                                          .connect_timeout_ms = CLIENT_TIMEOUT_MS,
                                                          .timeout_ms = CLIENT_TIMEOUT_MS },
                              &client) == CA_OK);
    return client;
}

static void set_answer(int status, const char *type, const uint8_t *body, size_t len)
{
    char head[HEAD_MAX];
    int n;

    if (type)
        n = snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Type: %s\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n", status, type, len);
    else
        n = snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n", status, len);
    pthread_mutex_lock(&answer.lock);
    free(answer.text);
    answer.text = malloc((size_t)n + len);
    FUZZ_ASSERT(answer.text != NULL);
    memcpy(answer.text, head, (size_t)n);
    if (len)
        memcpy(answer.text + n, body, len);
    answer.len = (size_t)n + len;
    pthread_mutex_unlock(&answer.lock);
}

static bool printable(const char *s, size_t max)
{
    return s[0] && strlen(s) <= max && fuzz_text_is_one_line(s);
}

static void check_request(const struct ca_request *r)
{
    FUZZ_ASSERT(ca_id_valid(r->id) && (unsigned)r->state < CA_STATE__COUNT);
    FUZZ_ASSERT(strspn(r->masked_phone, "0123456789*") == strlen(r->masked_phone));
    /* Schemes are case-insensitive (RFC 3986): "htTp://" is an http link. */
    FUZZ_ASSERT(!r->payment_url || strncasecmp(r->payment_url, "http", strlen("http")) == 0);
    FUZZ_ASSERT(!r->review_url || strncasecmp(r->review_url, "http", strlen("http")) == 0);
}

static void check_pair(const struct ca_puk_pair *p, bool same_rotation)
{
    FUZZ_ASSERT(ca_id_valid(p->rotation_id));
    FUZZ_ASSERT(!same_rotation || strcmp(p->rotation_id, ROTATION_ID) == 0);
    FUZZ_ASSERT(printable(p->puk, PUK_MAX) && printable(p->next_puk, PUK_MAX));
    FUZZ_ASSERT(strcmp(p->puk, p->next_puk) != 0);
}

static void check_refusal(ca_err err, const struct ca_refusal *why)
{
    enum ca_state s;
    bool known = !why->state[0];

    FUZZ_ASSERT((unsigned)err < CA_E__COUNT && err != CA_OK);
    FUZZ_ASSERT(why->attempts_left >= -1 && why->attempts_left <= ATTEMPTS_MAX);
    for (s = 0; s < CA_STATE__COUNT && !known; s++)
        known = strcmp(why->state, ca_state_name(s)) == 0;
    FUZZ_ASSERT(known);
    FUZZ_ASSERT(!why->result[0] || strcmp(why->result, "rotated") == 0 ||
                strcmp(why->result, "unchanged") == 0);
}

static ca_err run_call(struct ca_client *c, enum call call, struct ca_refusal *why)
{
    struct ca_request req = { 0 };
    struct ca_puk_pair pair = { 0 };
    struct ca_sms_sent sms = { 0 };
    ca_err err = CA_E_UNAVAILABLE;

    switch (call) {
    case CALL_OPEN:
        err = ca_open_request(c, "piv-068cc87c16b10c9d677a827d878476d8", "0A1B", "CN=CA", &req,
                              why);
        break;
    case CALL_GET:
        err = ca_get_request(c, REQUEST_ID, &req, why);
        break;
    case CALL_SMS:
        err = ca_send_sms(c, REQUEST_ID, "13800138000", &sms, why);
        break;
    case CALL_VERIFY_SMS:
    case CALL_VERIFY_UNLOCK:
        err = ca_verify(c, REQUEST_ID, call == CALL_VERIFY_SMS ? CA_CODE_SMS : CA_CODE_UNLOCK,
                        "123456", &req, why);
        break;
    case CALL_AUTHORIZE:
    case CALL_RECONCILE:
        err = call == CALL_AUTHORIZE ? ca_authorize(c, REQUEST_ID, &pair, why)
                                     : ca_reconcile(c, ROTATION_ID, &pair, why);
        if (err == CA_OK)
            check_pair(&pair, call == CALL_RECONCILE);
        break;
    case CALL_CONFIRM:
        err = ca_confirm(c, ROTATION_ID, CA_ROTATION_ROTATED, true, why);
        break;
    case CALL__COUNT:
        break;
    }
    if (err == CA_OK && (call == CALL_OPEN || call == CALL_GET || call == CALL_VERIFY_SMS ||
                         call == CALL_VERIFY_UNLOCK))
        check_request(&req);
    ca_request_clear(&req);
    ca_puk_pair_wipe(&pair);
    return err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ca_client *c = setup();
    struct fuzz_input in = { data, size };
    enum call call = (enum call)(fuzz_byte(&in) % CALL__COUNT);
    int status = statuses[fuzz_byte(&in) % ARRAY_SIZE(statuses)];
    const char *type = media_types[fuzz_byte(&in) % ARRAY_SIZE(media_types)];
    struct ca_refusal why;
    ca_err err;

    set_answer(status, type, in.p, in.left);
    err = run_call(c, call, &why);
    if (status >= HTTP_SERVER_ERROR)
        FUZZ_ASSERT(err == CA_E_UNAVAILABLE);
    if (status >= HTTP_SUCCESS_MIN && status <= HTTP_SUCCESS_MAX &&
        (!type || strstr(type, "json") == NULL))
        FUZZ_ASSERT(err == CA_E_UNAVAILABLE);
    if (err != CA_OK)
        check_refusal(err, &why);
    return 0;
}
