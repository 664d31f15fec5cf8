/* SPDX-License-Identifier: MIT */
/*
 * tests/rig/pcsc-wait.c — waits until pcscd sees what a test expects:
 *
 *   pcsc-wait [--timeout MS] present READER...   a card in each reader
 *   pcsc-wait [--timeout MS] absent READER...    no card in each reader
 *                                                (a reader that is gone counts)
 *   pcsc-wait [--timeout MS] readers N           at least N readers
 *   pcsc-wait [--timeout MS] list                print "NAME<TAB>present|empty"
 *
 * Exit 0 when satisfied, 1 on timeout (saying what was missing), 2 on bad
 * usage. While pcscd starts or restarts (SCARD_E_NO_SERVICE and friends) the
 * context is dropped and established again until the deadline.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <winscard.h>

#define DEFAULT_TIMEOUT_MS   10000
#define RETRY_PAUSE_MS       50
/* Readers appear without a status-change event on the ones we watch, so a
 * wait is cut short this often to look at the reader list again. */
#define RESCAN_INTERVAL_MS   250
#define MAX_READERS          16
#define MS_PER_S             1000
#define NS_PER_MS            1000000L
#define EXIT_TIMEOUT         1
#define EXIT_USAGE           2

enum wait_mode { WAIT_PRESENT, WAIT_ABSENT, WAIT_READERS, WAIT_LIST };

struct wait_request {
    enum wait_mode mode;
    char **names;
    int n_names;
    long min_readers;
    long timeout_ms;
};

struct reader_view {
    char *list;                          /* multi-string from SCardListReaders */
    const char *names[MAX_READERS];
    SCARD_READERSTATE states[MAX_READERS];
    int count;
};

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * MS_PER_S + ts.tv_nsec / NS_PER_MS;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { .tv_sec = ms / MS_PER_S, .tv_nsec = (ms % MS_PER_S) * NS_PER_MS };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void view_free(struct reader_view *v)
{
    free(v->list);
    memset(v, 0, sizeof *v);
}

/* Lists readers and their current state; an empty list is not an error. */
static LONG view_load(SCARDCONTEXT ctx, struct reader_view *v)
{
    DWORD len = 0;
    LONG rc;

    view_free(v);
    rc = SCardListReaders(ctx, NULL, NULL, &len);
    if (rc == SCARD_E_NO_READERS_AVAILABLE)
        return SCARD_S_SUCCESS;
    if (rc != SCARD_S_SUCCESS)
        return rc;
    v->list = calloc(1, len);
    if (!v->list)
        return SCARD_E_NO_MEMORY;
    rc = SCardListReaders(ctx, NULL, v->list, &len);
    if (rc == SCARD_E_NO_READERS_AVAILABLE)
        return SCARD_S_SUCCESS;
    if (rc != SCARD_S_SUCCESS)
        return rc;
    for (const char *p = v->list; *p && v->count < MAX_READERS; p += strlen(p) + 1) {
        v->names[v->count] = p;
        v->states[v->count].szReader = p;
        v->states[v->count].dwCurrentState = SCARD_STATE_UNAWARE;
        v->count++;
    }
    if (v->count == 0)
        return SCARD_S_SUCCESS;
    rc = SCardGetStatusChange(ctx, 0, v->states, (DWORD)v->count);
    return rc == SCARD_E_TIMEOUT ? SCARD_S_SUCCESS : rc;
}

static int view_find(const struct reader_view *v, const char *name)
{
    for (int i = 0; i < v->count; i++)
        if (strcmp(v->names[i], name) == 0)
            return i;
    return -1;
}

static bool card_present(const struct reader_view *v, int i)
{
    return (v->states[i].dwEventState & SCARD_STATE_PRESENT) != 0;
}

/* The first requested name that does not satisfy the request, or NULL. */
static const char *first_unsatisfied(const struct wait_request *req, const struct reader_view *v)
{
    for (int k = 0; k < req->n_names; k++) {
        int i = view_find(v, req->names[k]);
        bool present = i >= 0 && card_present(v, i);

        if (present != (req->mode == WAIT_PRESENT))
            return req->names[k];
    }
    return NULL;
}

static bool satisfied(const struct wait_request *req, const struct reader_view *v)
{
    switch (req->mode) {
    case WAIT_READERS:
        return v->count >= req->min_readers;
    case WAIT_LIST:
        return true;
    case WAIT_PRESENT:
    case WAIT_ABSENT:
        break;
    }
    return first_unsatisfied(req, v) == NULL;
}

/* Blocks until some reader changes state, or at most max_ms. */
static LONG wait_for_change(SCARDCONTEXT ctx, struct reader_view *v, long max_ms)
{
    LONG rc;

    if (v->count == 0) {
        sleep_ms(max_ms);
        return SCARD_S_SUCCESS;
    }
    for (int i = 0; i < v->count; i++)
        v->states[i].dwCurrentState = v->states[i].dwEventState & ~SCARD_STATE_CHANGED;
    rc = SCardGetStatusChange(ctx, (DWORD)max_ms, v->states, (DWORD)v->count);
    return rc == SCARD_E_TIMEOUT ? SCARD_S_SUCCESS : rc;
}

static void print_list(const struct reader_view *v)
{
    for (int i = 0; i < v->count; i++)
        printf("%s\t%s\n", v->names[i], card_present(v, i) ? "present" : "empty");
}

static void report_timeout(const struct wait_request *req, const struct reader_view *v,
                           LONG last_rc)
{
    const char *what = req->mode == WAIT_PRESENT ? "a card in" : "no card in";

    if (last_rc != SCARD_S_SUCCESS) {
        fprintf(stderr, "pcsc-wait: timed out: pcscd not reachable (%s)\n",
                pcsc_stringify_error(last_rc));
        return;
    }
    if (req->mode == WAIT_READERS) {
        fprintf(stderr, "pcsc-wait: timed out: %d reader(s), wanted %ld\n", v->count,
                req->min_readers);
        return;
    }
    fprintf(stderr, "pcsc-wait: timed out waiting for %s \"%s\"; readers now:\n", what,
            first_unsatisfied(req, v));
    for (int i = 0; i < v->count; i++)
        fprintf(stderr, "  %s (%s)\n", v->names[i], card_present(v, i) ? "card" : "empty");
}

static bool pcscd_gone(LONG rc)
{
    return rc == SCARD_E_NO_SERVICE || rc == SCARD_F_COMM_ERROR ||
           rc == SCARD_E_SERVICE_STOPPED || rc == SCARD_E_INVALID_HANDLE;
}

static int run_wait(const struct wait_request *req)
{
    long deadline = now_ms() + req->timeout_ms;
    struct reader_view v = {0};
    SCARDCONTEXT ctx = 0;
    bool have_ctx = false;
    LONG rc = SCARD_S_SUCCESS;
    int status = EXIT_TIMEOUT;

    for (;;) {
        long left = deadline - now_ms();

        if (!have_ctx) {
            rc = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx);
            have_ctx = rc == SCARD_S_SUCCESS;
        }
        if (have_ctx)
            rc = view_load(ctx, &v);
        if (have_ctx && rc == SCARD_S_SUCCESS && satisfied(req, &v)) {
            if (req->mode == WAIT_LIST)
                print_list(&v);
            status = 0;
            break;
        }
        if (left <= 0)
            break;
        if (have_ctx && rc == SCARD_S_SUCCESS)
            rc = wait_for_change(ctx, &v, left < RESCAN_INTERVAL_MS ? left : RESCAN_INTERVAL_MS);
        if (rc != SCARD_S_SUCCESS) {
            if (have_ctx)
                SCardReleaseContext(ctx);
            have_ctx = false;
            if (!pcscd_gone(rc) && rc != SCARD_E_NO_MEMORY)
                fprintf(stderr, "pcsc-wait: %s; retrying\n", pcsc_stringify_error(rc));
            sleep_ms(RETRY_PAUSE_MS);
        }
    }
    if (status != 0)
        report_timeout(req, &v, rc);
    if (have_ctx)
        SCardReleaseContext(ctx);
    view_free(&v);
    return status;
}

static int usage(void)
{
    fprintf(stderr, "usage: pcsc-wait [--timeout MS] present READER... | absent READER... | "
                    "readers N | list\n");
    return EXIT_USAGE;
}

static int parse_long(const char *text, long *out)
{
    char *end;

    errno = 0;
    *out = strtol(text, &end, 10);
    return errno || *end || end == text || *out < 0 ? -1 : 0;
}

static int parse_request(int argc, char **argv, struct wait_request *req)
{
    int i = 1;

    req->timeout_ms = DEFAULT_TIMEOUT_MS;
    if (i + 1 < argc && strcmp(argv[i], "--timeout") == 0) {
        if (parse_long(argv[i + 1], &req->timeout_ms) < 0)
            return -1;
        i += 2;
    }
    if (i >= argc)
        return -1;
    req->names = argv + i + 1;
    req->n_names = argc - i - 1;
    if (strcmp(argv[i], "present") == 0 || strcmp(argv[i], "absent") == 0) {
        req->mode = argv[i][0] == 'p' ? WAIT_PRESENT : WAIT_ABSENT;
        return req->n_names > 0 ? 0 : -1;
    }
    if (strcmp(argv[i], "readers") == 0) {
        req->mode = WAIT_READERS;
        return req->n_names == 1 ? parse_long(req->names[0], &req->min_readers) : -1;
    }
    if (strcmp(argv[i], "list") == 0) {
        req->mode = WAIT_LIST;
        return req->n_names == 0 ? 0 : -1;
    }
    return -1;
}

int main(int argc, char **argv)
{
    struct wait_request req = {0};

    if (parse_request(argc, argv, &req) < 0)
        return usage();
    return run_wait(&req);
}
