/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/ca-server.h — what fuzz-ca and fuzz-ca-cert share: a small HTTP
 * server on loopback, in a thread of the fuzzer, that answers each request
 * with the answer set last, and the CA client (api/ca/ca_client.h) pointed at
 * it. The client runs unchanged, libcurl and all, so what is fuzzed is
 * exactly what a broken or hostile service can send.
 */
#ifndef UKEYD_TESTS_FUZZ_CA_SERVER_H
#define UKEYD_TESTS_FUZZ_CA_SERVER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/ca/ca_cert.h"
#include "api/ca/ca_client.h"
#include "api/ca/ca_http.h"
#include "tests/fuzz/fuzz.h"

#define REQUEST_MAX       8192
#define HEAD_MAX          256
#define CLIENT_TIMEOUT_MS 2000
#define READ_WAIT_MS      1000
#define HTTP_SERVER_ERROR 500
#define HTTP_SUCCESS_MIN  200
#define HTTP_SUCCESS_MAX  299
#define ATTEMPTS_MAX      100

static const int statuses[] = { 200, 201, 204, 302, 400, 402, 403, 404, 409, 410, 422, 429,
                                500, 502, 503 };
static const char *const media_types[] = { "application/json", "application/problem+json",
                                           "application/json; charset=utf-8", "text/html",
                                           NULL };

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
            fprintf(stderr, "fuzz: the client went away early\n");
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

/* A refusal handed on holds only what passed its checks. */
static void check_refusal(ca_err err, const struct ca_refusal *why)
{
    enum ca_state s;
    bool known = !why->state[0];

    FUZZ_ASSERT((unsigned)err < CA_E__COUNT && err != CA_OK);
    FUZZ_ASSERT(why->attempts_left >= -1 && why->attempts_left <= ATTEMPTS_MAX);
    for (s = 0; s < CA_STATE__COUNT && !known; s++)
        known = strcmp(why->state, ca_state_name(s)) == 0;
    /* Each protocol keeps only its own states; either is known here. */
    known = known || ca_cert_state_known(why->state);
    FUZZ_ASSERT(known);
    FUZZ_ASSERT(!why->result[0] || strcmp(why->result, "rotated") == 0 ||
                strcmp(why->result, "unchanged") == 0);
}

/* What every answer must lead to, whatever the call: a 5xx, or a 2xx that
 * is not JSON, is CA_E_UNAVAILABLE (api/ca/ca_client.h). */
static void check_transport_rules(int status, const char *type, ca_err err)
{
    if (status >= HTTP_SERVER_ERROR)
        FUZZ_ASSERT(err == CA_E_UNAVAILABLE);
    if (status >= HTTP_SUCCESS_MIN && status <= HTTP_SUCCESS_MAX &&
        (!type || strstr(type, "json") == NULL))
        FUZZ_ASSERT(err == CA_E_UNAVAILABLE);
}

#endif
