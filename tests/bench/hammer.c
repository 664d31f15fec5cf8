/* SPDX-License-Identifier: MIT */
/*
 * hammer — a load generator for ukeyd's fault and soak tests: many keep-alive
 * connections sending a mix of requests, plus Server-Sent Event streams that
 * stay open, for a fixed time; then a report of every status and problem
 * code seen, every socket error, latencies, and what the streams received.
 *
 * wrk measures throughput (make bench); this tool judges answers: each one is
 * counted by status and by the problem `code` of its body, so a test can
 * insist on "no 5xx but documented token errors" and "no socket errors".
 *
 *   hammer --port P [--seconds S] [--connections N] [--streams M]
 *          [--timeout-ms T] [--origin O]
 *          (--get PATH | --post PATH JSON)...
 *
 * The requests go round the list, each connection from a different start.
 * SIGTERM ends the run early, with the report.
 * Report lines (one fact each, "name value", for the test to grep):
 *   requests N | status CODE N | code NAME N | errors-connect N |
 *   errors-reset N | errors-timeout N | reconnects N | latency-ms-p50 X |
 *   latency-ms-p99 X | latency-ms-max X | streams-opened N | streams-refused N |
 *   streams-dropped N | stream-events-min N | stream-heartbeats-min N
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REQUESTS_MAX      32
#define CONNECTIONS_MAX   4096
#define STATUS_MAX        600
#define CODES_MAX         64
#define CODE_NAME_MAX     40
#define REQUEST_TEXT_MAX  2048
#define RESPONSE_MAX      (256 * 1024)
#define EVENTS_BATCH      64
#define TICK_MS           50
#define MS_PER_SEC        1000
#define NS_PER_MS         1000000L
#define PERCENT           100
#define P50               50
#define P99               99
#define DEFAULT_SECONDS   10
#define DEFAULT_CONNS     16
#define DEFAULT_TIMEOUT   10000
#define HTTP_STATUS_OK    200
#define DECIMAL           10

struct request_spec {
    const char *method;
    const char *path;
    const char *body;          /* POST only */
};

struct options {
    unsigned port;
    unsigned seconds;
    unsigned connections;
    unsigned streams;
    unsigned timeout_ms;
    const char *origin;
    struct request_spec req[REQUESTS_MAX];
    unsigned n_req;
};

enum conn_kind { CONN_REQUESTS, CONN_STREAM };

struct conn {
    int fd;
    enum conn_kind kind;
    unsigned next_req;         /* index into the request list */
    bool connecting, waiting;  /* a request is out, its answer not complete */
    double sent_ms;
    char *buf;
    size_t used;
    unsigned events, heartbeats;
    bool stream_ok;            /* the stream answered 200 */
};

struct code_count {
    char name[CODE_NAME_MAX];
    unsigned long n;
};

static struct {
    unsigned long requests, status[STATUS_MAX], errors_connect, errors_reset, errors_timeout,
        reconnects, streams_opened, streams_refused, streams_dropped;
    struct code_count codes[CODES_MAX];
    unsigned n_codes;
    double *latency;
    size_t n_latency, cap_latency;
} stats;

/* SIGTERM or SIGINT: stop early and report what was seen so far. */
static volatile sig_atomic_t stop_now;

static void on_stop(int sig)
{
    (void)sig;
    stop_now = 1;
}

static struct options opt = { .seconds = DEFAULT_SECONDS, .connections = DEFAULT_CONNS,
                              .timeout_ms = DEFAULT_TIMEOUT };
static int epfd;

static double now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * MS_PER_SEC + (double)t.tv_nsec / NS_PER_MS;
}

static void die(const char *what)
{
    perror(what);
    exit(2);
}

/* --- counting ------------------------------------------------------------ */

static void add_latency(double ms)
{
    if (stats.n_latency == stats.cap_latency) {
        size_t cap = stats.cap_latency ? 2 * stats.cap_latency : 4096;
        double *l = realloc(stats.latency, cap * sizeof *l);

        if (!l)
            die("realloc");
        stats.latency = l;
        stats.cap_latency = cap;
    }
    stats.latency[stats.n_latency++] = ms;
}

/* The problem `code` of a JSON body ("code": "TOKEN_REMOVED"), if any. */
static void count_code(const char *body, size_t len)
{
    const char *p = memmem(body, len, "\"code\"", strlen("\"code\""));
    const char *start, *end;
    char name[CODE_NAME_MAX];

    if (!p)
        return;
    start = memchr(p + strlen("\"code\""), '"', len - (size_t)(p + strlen("\"code\"") - body));
    if (!start)
        return;
    start++;
    end = memchr(start, '"', len - (size_t)(start - body));
    if (!end || (size_t)(end - start) >= sizeof name)
        return;
    memcpy(name, start, (size_t)(end - start));
    name[end - start] = '\0';
    for (unsigned i = 0; i < stats.n_codes; i++) {
        if (strcmp(stats.codes[i].name, name) == 0) {
            stats.codes[i].n++;
            return;
        }
    }
    if (stats.n_codes < CODES_MAX) {
        snprintf(stats.codes[stats.n_codes].name, CODE_NAME_MAX, "%s", name);
        stats.codes[stats.n_codes++].n = 1;
    }
}

/* --- connections --------------------------------------------------------- */

static void conn_close(struct conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->used = 0;
    c->waiting = false;
}

static int conn_open(struct conn *c)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
    int one = 1;

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die("socket");
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->connecting = true;
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
        stats.errors_connect++;
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        die("epoll_ctl");
    return 0;
}

static int build_request(const struct conn *c, char *out, size_t size)
{
    const struct request_spec *r = &opt.req[c->next_req];
    char origin[REQUEST_TEXT_MAX / 4] = "";

    if (opt.origin)
        snprintf(origin, sizeof origin, "Origin: %s\r\n", opt.origin);
    if (c->kind == CONN_STREAM)
        return snprintf(out, size, "GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n%s"
                        "Accept: text/event-stream\r\n\r\n", opt.port, origin);
    if (r->body)
        return snprintf(out, size, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n%s"
                        "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                        r->method, r->path, opt.port, origin, strlen(r->body), r->body);
    return snprintf(out, size, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n%s\r\n", r->method,
                    r->path, opt.port, origin);
}

static void send_request(struct conn *c)
{
    char text[REQUEST_TEXT_MAX];
    int n = build_request(c, text, sizeof text);

    /* Small requests on a fresh or idle socket go out in one write. */
    if (n <= 0 || (size_t)n >= sizeof text || write(c->fd, text, (size_t)n) != n) {
        stats.errors_reset++;
        conn_close(c);
        return;
    }
    c->waiting = true;
    c->sent_ms = now_ms();
    c->used = 0;
}

/* --- responses ----------------------------------------------------------- */

struct response {
    unsigned status;
    size_t header_len, content_length;
    bool has_length, close;
};

static bool parse_head(const char *buf, size_t used, struct response *r)
{
    const char *end = memmem(buf, used, "\r\n\r\n", strlen("\r\n\r\n"));
    const char *cl;

    if (!end)
        return false;
    memset(r, 0, sizeof *r);
    r->header_len = (size_t)(end - buf) + strlen("\r\n\r\n");
    if (sscanf(buf, "HTTP/1.%*d %u", &r->status) != 1)
        r->status = 0;
    cl = memmem(buf, r->header_len, "\r\nContent-Length:", strlen("\r\nContent-Length:"));
    if (!cl)
        cl = memmem(buf, r->header_len, "\r\ncontent-length:", strlen("\r\ncontent-length:"));
    if (cl) {
        r->has_length = true;
        r->content_length = strtoul(cl + strlen("\r\nContent-Length:"), NULL, DECIMAL);
    }
    r->close = memmem(buf, r->header_len, "Connection: close", strlen("Connection: close")) ||
               memmem(buf, r->header_len, "connection: close", strlen("connection: close"));
    return true;
}

static void finish_response(struct conn *c, const struct response *r)
{
    size_t total = r->header_len + r->content_length;

    stats.requests++;
    stats.status[r->status < STATUS_MAX ? r->status : 0]++;
    add_latency(now_ms() - c->sent_ms);
    count_code(c->buf + r->header_len, r->content_length);
    c->waiting = false;
    memmove(c->buf, c->buf + total, c->used - total);
    c->used -= total;
    c->next_req = (c->next_req + 1) % opt.n_req;
    if (r->close) {
        stats.reconnects++;
        conn_close(c);
        conn_open(c);
        return;
    }
    send_request(c);
}

static void count_stream(struct conn *c)
{
    struct response r;
    char *p;

    if (!c->stream_ok) {
        if (!parse_head(c->buf, c->used, &r))
            return;
        if (r.status != HTTP_STATUS_OK) {
            stats.streams_refused++;
            count_code(c->buf + r.header_len, c->used - r.header_len);
            conn_close(c);
            return;
        }
        c->stream_ok = true;
        stats.streams_opened++;
    }
    /* Count whole lines, keep a partial one for the next read. */
    while ((p = memchr(c->buf, '\n', c->used))) {
        size_t line = (size_t)(p - c->buf) + 1;

        if (strncmp(c->buf, "event: ", strlen("event: ")) == 0)
            c->events++;
        else if (strncmp(c->buf, ": heartbeat", strlen(": heartbeat")) == 0)
            c->heartbeats++;
        memmove(c->buf, c->buf + line, c->used - line);
        c->used -= line;
    }
}

static void on_readable(struct conn *c)
{
    struct response r;
    ssize_t n = read(c->fd, c->buf + c->used, RESPONSE_MAX - c->used);

    if (n <= 0) {
        if (n < 0 && errno == EAGAIN)
            return;
        if (c->kind == CONN_STREAM)
            stats.streams_dropped += c->stream_ok;
        else if (c->waiting)
            stats.errors_reset++;
        else
            stats.reconnects++;   /* an idle keep-alive connection closed: allowed */
        c->stream_ok = false;
        conn_close(c);
        conn_open(c);
        return;
    }
    c->used += (size_t)n;
    if (c->kind == CONN_STREAM) {
        count_stream(c);
        return;
    }
    while (c->waiting && parse_head(c->buf, c->used, &r) &&
           c->used >= r.header_len + r.content_length)
        finish_response(c, &r);
}

static void on_event(struct conn *c, uint32_t events)
{
    if (c->connecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t len = sizeof err;
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        c->connecting = false;
        if (err) {
            stats.errors_connect++;
            conn_close(c);
            return;   /* retried on the next tick */
        }
        epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
        send_request(c);
        return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        on_readable(c);
}

/* Timeouts, and connections to open again after a failed connect. */
static void tick(struct conn *conns, unsigned n)
{
    double now = now_ms();

    for (unsigned i = 0; i < n; i++) {
        struct conn *c = &conns[i];

        if (c->fd < 0) {
            conn_open(c);
        } else if (c->kind == CONN_REQUESTS && c->waiting && now - c->sent_ms > opt.timeout_ms) {
            stats.errors_timeout++;
            conn_close(c);
            conn_open(c);
        }
    }
}

/* --- options and report --------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr, "usage: hammer --port P [--seconds S] [--connections N] [--streams M]\n"
                    "              [--timeout-ms T] [--origin O] (--get PATH | --post PATH JSON)...\n");
    exit(2);
}

static unsigned number(const char *s)
{
    char *end;
    unsigned long v = strtoul(s, &end, DECIMAL);

    if (end == s || *end)
        usage();
    return (unsigned)v;
}

static void parse_options(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;

        if (!strcmp(a, "--port") && more)
            opt.port = number(argv[++i]);
        else if (!strcmp(a, "--seconds") && more)
            opt.seconds = number(argv[++i]);
        else if (!strcmp(a, "--connections") && more)
            opt.connections = number(argv[++i]);
        else if (!strcmp(a, "--streams") && more)
            opt.streams = number(argv[++i]);
        else if (!strcmp(a, "--timeout-ms") && more)
            opt.timeout_ms = number(argv[++i]);
        else if (!strcmp(a, "--origin") && more)
            opt.origin = argv[++i];
        else if (!strcmp(a, "--get") && more && opt.n_req < REQUESTS_MAX)
            opt.req[opt.n_req++] = (struct request_spec){ "GET", argv[++i], NULL };
        else if (!strcmp(a, "--post") && i + 2 < argc && opt.n_req < REQUESTS_MAX) {
            opt.req[opt.n_req++] = (struct request_spec){ "POST", argv[i + 1], argv[i + 2] };
            i += 2;
        } else
            usage();
    }
    if (!opt.port || (!opt.n_req && opt.connections) ||
        opt.connections + opt.streams > CONNECTIONS_MAX)
        usage();
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double percentile(unsigned p)
{
    size_t i;

    if (!stats.n_latency)
        return 0;
    i = stats.n_latency * p / PERCENT;
    return stats.latency[i < stats.n_latency ? i : stats.n_latency - 1];
}

static void report(const struct conn *conns, unsigned n)
{
    unsigned events_min = 0, heartbeats_min = 0;
    bool first = true;

    printf("requests %lu\n", stats.requests);
    for (unsigned s = 0; s < STATUS_MAX; s++)
        if (stats.status[s])
            printf("status %u %lu\n", s, stats.status[s]);
    for (unsigned i = 0; i < stats.n_codes; i++)
        printf("code %s %lu\n", stats.codes[i].name, stats.codes[i].n);
    printf("errors-connect %lu\nerrors-reset %lu\nerrors-timeout %lu\nreconnects %lu\n",
           stats.errors_connect, stats.errors_reset, stats.errors_timeout, stats.reconnects);
    qsort(stats.latency, stats.n_latency, sizeof *stats.latency, compare_double);
    printf("latency-ms-p50 %.2f\nlatency-ms-p99 %.2f\nlatency-ms-max %.2f\n", percentile(P50),
           percentile(P99), stats.n_latency ? stats.latency[stats.n_latency - 1] : 0.0);
    for (unsigned i = 0; i < n; i++) {
        if (conns[i].kind != CONN_STREAM)
            continue;
        if (first || conns[i].events < events_min)
            events_min = conns[i].events;
        if (first || conns[i].heartbeats < heartbeats_min)
            heartbeats_min = conns[i].heartbeats;
        first = false;
    }
    printf("streams-opened %lu\nstreams-refused %lu\nstreams-dropped %lu\n", stats.streams_opened,
           stats.streams_refused, stats.streams_dropped);
    printf("stream-events-min %u\nstream-heartbeats-min %u\n", events_min, heartbeats_min);
}

int main(int argc, char **argv)
{
    struct epoll_event evs[EVENTS_BATCH];
    struct conn *conns;
    unsigned n;
    double end;

    parse_options(argc, argv);
    n = opt.connections + opt.streams;
    conns = calloc(n, sizeof *conns);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!conns || epfd < 0)
        die("setup");
    for (unsigned i = 0; i < n; i++) {
        conns[i].fd = -1;
        conns[i].kind = i < opt.connections ? CONN_REQUESTS : CONN_STREAM;
        conns[i].next_req = opt.n_req ? i % opt.n_req : 0;
        if (!(conns[i].buf = malloc(RESPONSE_MAX)))
            die("malloc");
        conn_open(&conns[i]);
    }
    signal(SIGTERM, on_stop);
    signal(SIGINT, on_stop);
    signal(SIGPIPE, SIG_IGN);
    end = now_ms() + (double)opt.seconds * MS_PER_SEC;
    while (now_ms() < end && !stop_now) {
        int k = epoll_wait(epfd, evs, EVENTS_BATCH, TICK_MS);

        for (int i = 0; i < k; i++)
            on_event(evs[i].data.ptr, evs[i].events);
        tick(conns, n);
    }
    /* Requests still out at the end are not errors: they were cut short by us. */
    report(conns, n);
    for (unsigned i = 0; i < n; i++) {
        conn_close(&conns[i]);
        free(conns[i].buf);
    }
    free(conns);
    free(stats.latency);
    return 0;
}
