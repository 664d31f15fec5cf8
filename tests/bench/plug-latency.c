/* SPDX-License-Identifier: MIT */
/*
 * plug-latency — how long a hot-plug takes to reach a web page: the time from
 * the virtual token connecting to vpcd (or leaving it) to the matching event
 * on ukeyd's GET /v1/events stream. The clock starts just before the
 * `vtoken ctl SOCKET insert|remove` command runs and stops when the event's
 * line arrives on the stream.
 *
 *   plug-latency --port P --vtoken PATH --control SOCKET [--rounds N]
 *
 * Prints one line per round ("removed MS inserted MS") and the medians
 * ("median-removed-ms X", "median-inserted-ms X").
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS_DEFAULT  10
#define ROUNDS_MAX      100
#define EVENT_WAIT_MS   10000
#define SETTLE_MS       300       /* lets pcscd's ~400 ms presence poll go round once */
#define BUF_MAX         65536
#define REQUEST_MAX     256       /* the GET /v1/events request line and headers */
#define EVENT_LINE_MAX  64        /* "\nevent: token-inserted\n" */
#define MS_PER_SEC      1000
#define NS_PER_MS       1000000L
#define US_PER_MS       1000
#define DECIMAL         10

struct stream {
    int fd;
    char buf[BUF_MAX];
    size_t used;
};

static double now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * MS_PER_SEC + (double)t.tv_nsec / NS_PER_MS;
}

static int open_stream(struct stream *s, unsigned port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    char req[REQUEST_MAX];
    int n = snprintf(req, sizeof req, "GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
                                      "Accept: text/event-stream\r\n\r\n", port);

    s->used = 0;
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->fd < 0 || connect(s->fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        write(s->fd, req, (size_t)n) != n) {
        perror("plug-latency: stream");
        return -1;
    }
    return 0;
}

/* Waits until `want` arrives, and drops what came up to it; false on
 * timeout or a closed stream. */
static bool wait_text(struct stream *s, const char *want, int timeout_ms)
{
    double deadline = now_ms() + timeout_ms;

    for (;;) {
        struct pollfd p = { s->fd, POLLIN, 0 };
        char *hit = memmem(s->buf, s->used, want, strlen(want));
        int left = (int)(deadline - now_ms());
        ssize_t n;

        if (hit) {
            size_t end = (size_t)(hit - s->buf) + strlen(want);

            memmove(s->buf, s->buf + end, s->used - end);
            s->used -= end;
            return true;
        }
        if (left <= 0 || poll(&p, 1, left) <= 0)
            return false;
        if (s->used == sizeof s->buf)
            s->used = 0;   /* nothing we want is that long: drop what is there */
        n = read(s->fd, s->buf + s->used, sizeof s->buf - s->used);
        if (n <= 0)
            return false;
        s->used += (size_t)n;
    }
}

static int run_ctl(const char *vtoken, const char *control, const char *what)
{
    pid_t pid = fork();
    int status;

    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);

        if (null >= 0)
            dup2(null, STDOUT_FILENO);
        execl(vtoken, vtoken, "ctl", control, what, (char *)NULL);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) < 0)
        return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* Milliseconds from the ctl command to the event; negative on failure. */
static double timed(struct stream *s, const char *vtoken, const char *control, const char *what,
                    const char *event)
{
    double t0 = now_ms();
    char want[EVENT_LINE_MAX];

    snprintf(want, sizeof want, "\nevent: %s\n", event);
    if (run_ctl(vtoken, control, what) < 0 || !wait_text(s, want, EVENT_WAIT_MS))
        return -1;
    return now_ms() - t0;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
    qsort(v, n, sizeof *v, compare_double);
    return n ? v[n / 2] : 0;
}

int main(int argc, char **argv)
{
    unsigned port = 0, rounds = ROUNDS_DEFAULT;
    const char *vtoken = NULL, *control = NULL;
    double removed[ROUNDS_MAX], inserted[ROUNDS_MAX];
    struct stream *s = calloc(1, sizeof *s);

    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port"))
            port = (unsigned)strtoul(argv[i + 1], NULL, DECIMAL);
        else if (!strcmp(argv[i], "--rounds"))
            rounds = (unsigned)strtoul(argv[i + 1], NULL, DECIMAL);
        else if (!strcmp(argv[i], "--vtoken"))
            vtoken = argv[i + 1];
        else if (!strcmp(argv[i], "--control"))
            control = argv[i + 1];
    }
    if (!s || !port || !vtoken || !control || rounds == 0 || rounds > ROUNDS_MAX) {
        fprintf(stderr, "usage: plug-latency --port P --vtoken PATH --control SOCKET "
                        "[--rounds N<=%d]\n", ROUNDS_MAX);
        return 2;
    }
    if (open_stream(s, port) < 0 || !wait_text(s, ": ukeyd events\n", EVENT_WAIT_MS)) {
        fprintf(stderr, "plug-latency: the event stream did not open\n");
        return 1;
    }
    for (unsigned r = 0; r < rounds; r++) {
        removed[r] = timed(s, vtoken, control, "remove", "token-removed");
        usleep(SETTLE_MS * US_PER_MS);
        inserted[r] = timed(s, vtoken, control, "insert", "token-inserted");
        usleep(SETTLE_MS * US_PER_MS);
        printf("round %u removed %.1f inserted %.1f\n", r + 1, removed[r], inserted[r]);
        if (removed[r] < 0 || inserted[r] < 0) {
            fprintf(stderr, "plug-latency: no event within %d ms\n", EVENT_WAIT_MS);
            return 1;
        }
    }
    printf("median-removed-ms %.1f\nmedian-inserted-ms %.1f\n", median(removed, rounds),
           median(inserted, rounds));
    close(s->fd);
    free(s);
    return 0;
}
