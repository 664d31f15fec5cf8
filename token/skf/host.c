/* SPDX-License-Identifier: MIT */
/* token/skf/host.c — spawning, feeding, timing out, killing and restarting the SKF helper (see host.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "token/skf/host.h"
#include "token/skf/wire.h"

extern char **environ;

/* The helper's channels (host-main.c reads the same numbers). */
#define HELPER_CALL_FD        3
#define HELPER_EVENT_FD       4
#define HELPER_FIRST_EXTRA_FD 5
/* Child ends of the socketpairs are moved this high first, so that placing
 * them at 3 and 4 in the child can never clobber one with the other. */
#define CHILD_FD_FLOOR        10
#define STOP_GRACE_MS         1000   /* for the helper to leave on EOF before SIGKILL */
#define REAP_WAIT_MS          2000   /* after SIGKILL; beyond, it is reaped later */
#define REAP_STEP_MS          5
#define ZOMBIES_MAX           8
#define EVENT_FRAME_MAX       (SKF_WIRE_NAME_MAX + 64)
#define EVENT_REST_MS         1000   /* for the rest of an event frame once it began */
#define RETRY_UNKNOWN         0xFFFFFFFFu
#define LOG_LINE_MAX          512

/* One running helper: its process, channels and event thread. */
struct instance {
    pid_t pid;
    int call_fd;
    int event_fd;
    int wake[2];                 /* tells the event thread to leave */
    pthread_t thread;
    bool thread_running;
    atomic_bool lost;            /* the event channel ended or carried garbage */
};

struct skf_host {
    pthread_mutex_t lock;
    char *helper_path;
    char *library_path;
    struct skf_profile profile;
    struct skf_host_options o;
    struct instance *run;        /* NULL when no helper runs */
    atomic_bool stopping;
    uint32_t caps;
    uint32_t next_id;
    unsigned failures;           /* in a row, since the last successful call */
    long long retry_at_ms;
    pid_t zombies[ZOMBIES_MAX];
    size_t nzombies;
    uint8_t out[SKF_WIRE_FRAME_MAX];
    uint8_t in[SKF_WIRE_FRAME_MAX];
    size_t in_len;
    struct skf_frame resp;
};

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

__attribute__((format(printf, 3, 4)))
static void host_log(struct skf_host *h, int prio, const char *fmt, ...)
{
    char line[LOG_LINE_MAX];
    va_list ap;

    if (!h->o.log)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    h->o.log(h->o.log_userdata, prio, line);
}

/* --- reaping: never a zombie, never a wait without end ------------------------- */

static bool reap_within(pid_t pid, long long ms, int *status)
{
    long long end = now_ms() + ms;

    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);

        if (r == pid || (r < 0 && errno == ECHILD))
            return true;
        if (r < 0 && errno != EINTR)
            return true;
        if (now_ms() >= end)
            return false;
        sleep_ms(REAP_STEP_MS);
    }
}

static void reap_pending(struct skf_host *h)
{
    size_t kept = 0;

    for (size_t i = 0; i < h->nzombies; i++) {
        int st;

        if (!reap_within(h->zombies[i], 0, &st))
            h->zombies[kept++] = h->zombies[i];
    }
    h->nzombies = kept;
}

/* A process in uninterruptible sleep (stuck in a USB transfer) cannot die
 * until the kernel lets it: remember it rather than wait. */
static void reap_or_remember(struct skf_host *h, pid_t pid, int *status)
{
    *status = 0;
    if (reap_within(pid, REAP_WAIT_MS, status))
        return;
    if (h->nzombies < ZOMBIES_MAX)
        h->zombies[h->nzombies++] = pid;
    host_log(h, LOG_WARNING, "SKF helper %d for %s does not die; reaping it later", (int)pid,
             h->library_path);
}

/* --- the event thread ------------------------------------------------------------ */

struct event_ctx {
    struct skf_host *h;
    struct instance *run;
};

static void emit(struct skf_host *h, enum skf_host_event_kind kind, const char *dev)
{
    struct skf_host_event ev = { kind, dev };

    if (h->o.on_event)
        h->o.on_event(h->o.event_userdata, &ev);
}

/* Reads exactly n bytes within ms; false on EOF, error or timeout. */
static bool read_within(int fd, uint8_t *p, size_t n, long long end_ms, skf_err *why)
{
    size_t got = 0;

    while (got < n) {
        long long left = end_ms - now_ms();
        struct pollfd pfd = { fd, POLLIN, 0 };
        ssize_t r;
        int pr;

        if (left <= 0) {
            *why = SKF_E_HELPER_TIMEOUT;
            return false;
        }
        pr = poll(&pfd, 1, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0)
            continue;     /* the deadline check above ends it */
        if (pr < 0) {
            *why = SKF_E_HELPER_DIED;
            return false;
        }
        r = read(fd, p + got, n - got);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r <= 0) {
            *why = SKF_E_HELPER_DIED;
            return false;
        }
        got += (size_t)r;
    }
    return true;
}

static bool handle_event_frame(struct skf_host *h, const uint8_t *buf, size_t len)
{
    struct skf_frame *f = malloc(sizeof *f);
    char dev[SKF_WIRE_NAME_MAX + 1];
    uint32_t kind;
    bool ok;

    if (!f)
        return true;      /* an event dropped; the channel is fine */
    ok = skf_wire_parse(buf, len, f) == SKF_WIRE_OK && f->kind == SKF_KIND_EVENT &&
         skf_frame_str(f, SKF_TAG_DEVICE, dev, sizeof dev) && dev[0] &&
         skf_frame_u32(f, SKF_TAG_EVENT, &kind) &&
         (kind == SKF_EVENT_INSERTED || kind == SKF_EVENT_REMOVED);
    free(f);
    if (ok)
        emit(h, kind == SKF_EVENT_INSERTED ? SKF_HOST_EVENT_INSERTED : SKF_HOST_EVENT_REMOVED, dev);
    return ok;
}

static void *event_main(void *arg)
{
    struct event_ctx *c = arg;
    struct skf_host *h = c->h;
    struct instance *run = c->run;
    uint8_t buf[EVENT_FRAME_MAX];

    free(c);
    for (;;) {
        struct pollfd pfd[2] = { { run->event_fd, POLLIN, 0 }, { run->wake[0], POLLIN, 0 } };
        size_t total;
        skf_err why;

        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pfd[1].revents)
            break;
        if (!read_within(run->event_fd, buf, SKF_WIRE_PREFIX_LEN, now_ms() + EVENT_REST_MS, &why) ||
            skf_wire_frame_size(buf, &total) != SKF_WIRE_OK || total > sizeof buf ||
            !read_within(run->event_fd, buf + SKF_WIRE_PREFIX_LEN, total - SKF_WIRE_PREFIX_LEN,
                         now_ms() + EVENT_REST_MS, &why) ||
            !handle_event_frame(h, buf, total)) {
            atomic_store(&run->lost, true);
            break;
        }
    }
    if (!atomic_load(&h->stopping))
        emit(h, SKF_HOST_EVENT_HELPER_LOST, NULL);
    return NULL;
}

/* --- one helper's life ------------------------------------------------------------- */

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Kills (or, when `gently`, first lets leave) the helper, ends the event
 * thread, reaps. Called with h->lock held. */
static void end_instance(struct skf_host *h, bool gently)
{
    struct instance *run = h->run;
    int status = 0;

    if (!run)
        return;
    h->run = NULL;
    close_fd(&run->call_fd);    /* EOF: a healthy helper leaves on its own */
    if (!gently || !reap_within(run->pid, STOP_GRACE_MS, &status)) {
        kill(run->pid, SIGKILL);
        reap_or_remember(h, run->pid, &status);
    }
    if (run->thread_running) {
        if (write(run->wake[1], "", 1) < 0) {
            /* the pipe is ours and empty: cannot fail; the thread also ends on EOF */
        }
        pthread_join(run->thread, NULL);
    }
    if (WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL)
        host_log(h, LOG_WARNING, "SKF helper %d for %s was killed by signal %d", (int)run->pid,
                 h->library_path, WTERMSIG(status));
    close_fd(&run->event_fd);
    close_fd(&run->wake[0]);
    close_fd(&run->wake[1]);
    free(run);
}

static int fd_above(int fd, int floor)
{
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, floor);

    close(fd);
    return moved;
}

static skf_err spawn_process(struct skf_host *h, struct instance *run)
{
    int call[2] = { -1, -1 }, ev[2] = { -1, -1 };
    char *argv[] = { h->helper_path, h->library_path, NULL };
    posix_spawn_file_actions_t fa;
    skf_err e = SKF_E_HELPER_START;
    int rc;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, call) != 0)
        return e;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ev) != 0)
        goto out;
    call[1] = fd_above(call[1], CHILD_FD_FLOOR);
    ev[1] = fd_above(ev[1], CHILD_FD_FLOOR);
    if (call[1] < 0 || ev[1] < 0 || posix_spawn_file_actions_init(&fa) != 0)
        goto out;
    rc = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    /* Vendor libraries print debug output (APDUs, PINs among them) on
     * stdout: it goes nowhere, never into the journal nor a protocol. The
     * helper's own lines go to stderr, which stays ukeyd's. */
    if (rc == 0)
        rc = posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&fa, call[1], HELPER_CALL_FD);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&fa, ev[1], HELPER_EVENT_FD);
    if (rc == 0)
        rc = posix_spawn_file_actions_addclosefrom_np(&fa, HELPER_FIRST_EXTRA_FD);
    if (rc == 0)
        rc = posix_spawn(&run->pid, h->helper_path, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        host_log(h, LOG_ERR, "cannot start %s: %s", h->helper_path, strerror(rc));
        goto out;
    }
    run->call_fd = call[0];
    run->event_fd = ev[0];
    call[0] = ev[0] = -1;
    e = SKF_OK;
out:
    close_fd(&call[0]);
    close_fd(&call[1]);
    close_fd(&ev[0]);
    close_fd(&ev[1]);
    return e;
}

static skf_err start_event_thread(struct skf_host *h, struct instance *run)
{
    struct event_ctx *c;

    if (pipe2(run->wake, O_CLOEXEC) != 0)
        return SKF_E_HELPER_START;
    if (!(c = malloc(sizeof *c)))
        return SKF_E_NO_MEMORY;
    c->h = h;
    c->run = run;
    if (pthread_create(&run->thread, NULL, event_main, c) != 0) {
        free(c);
        return SKF_E_NO_MEMORY;
    }
    run->thread_running = true;
    return SKF_OK;
}

/* --- frames on the call channel --------------------------------------------------------- */

static skf_err send_within(int fd, const uint8_t *p, size_t n, long long end_ms)
{
    while (n > 0) {
        long long left = end_ms - now_ms();
        struct pollfd pfd = { fd, POLLOUT, 0 };
        ssize_t w;

        if (left <= 0)
            return SKF_E_HELPER_TIMEOUT;
        if (poll(&pfd, 1, (int)left) <= 0)
            continue;
        w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (w <= 0)
            return SKF_E_HELPER_DIED;
        p += w;
        n -= (size_t)w;
    }
    return SKF_OK;
}

static skf_err receive_within(struct skf_host *h, long long end_ms)
{
    int fd = h->run->call_fd;
    size_t total;
    skf_err why = SKF_E_HELPER_GARBAGE;

    h->in_len = 0;
    if (!read_within(fd, h->in, SKF_WIRE_PREFIX_LEN, end_ms, &why))
        return why;
    if (skf_wire_frame_size(h->in, &total) != SKF_WIRE_OK)
        return SKF_E_HELPER_GARBAGE;
    if (!read_within(fd, h->in + SKF_WIRE_PREFIX_LEN, total - SKF_WIRE_PREFIX_LEN, end_ms, &why))
        return why;
    h->in_len = total;
    return SKF_OK;
}

/* Sends the request in h->out and waits for its answer in h->resp. A
 * transport failure (not the library's answer) ends the helper. */
static skf_err exchange(struct skf_host *h, struct skf_wire_out *w, unsigned op, uint32_t id,
                        unsigned deadline_ms)
{
    long long end = now_ms() + deadline_ms;
    size_t n = skf_wire_end(w);
    uint32_t status;
    skf_err e;

    if (n == 0)
        return SKF_E_INVALID_ARG;
    e = send_within(h->run->call_fd, h->out, n, end);
    skf_wire_wipe(h->out, n);
    if (e == SKF_OK)
        e = receive_within(h, end);
    if (e == SKF_OK &&
        (skf_wire_parse(h->in, h->in_len, &h->resp) != SKF_WIRE_OK || h->resp.kind != SKF_KIND_RESPONSE ||
         h->resp.op != op || h->resp.id != id || !skf_frame_u32(&h->resp, SKF_TAG_STATUS, &status) ||
         status >= SKF_E__COUNT || skf_err_is_helper_fault((skf_err)status)))
        e = SKF_E_HELPER_GARBAGE;
    if (e != SKF_OK) {
        host_log(h, LOG_WARNING, "SKF helper %d for %s: %s during %s; killed, restarted on the next call",
                 (int)h->run->pid, h->library_path, skf_err_name(e), skf_wire_op_name(op));
        end_instance(h, false);
        return e;
    }
    return (skf_err)status;
}

static void begin_request(struct skf_host *h, struct skf_wire_out *w, unsigned op, uint32_t *id)
{
    if (++h->next_id == 0)
        h->next_id = 1;     /* 0 is the events' id */
    *id = h->next_id;
    skf_wire_begin(w, h->out, sizeof h->out, SKF_KIND_REQUEST, op, *id);
}

static void put_profile(struct skf_wire_out *w, const struct skf_profile *p)
{
    skf_wire_u32(w, SKF_TAG_BOOL_BITS, p->bool_bits);
    skf_wire_u32(w, SKF_TAG_ULONG_BITS, p->ulong_bits);
    skf_wire_u32(w, SKF_TAG_DEVINFO_PACKED, p->devinfo_packed);
    skf_wire_u32(w, SKF_TAG_PIN_SWAPPED, p->pin_types_swapped);
    skf_wire_u32(w, SKF_TAG_GLOBAL_DEVICE, p->global_device);
    skf_wire_u32(w, SKF_TAG_EVENT_MODE, p->events);
    skf_wire_u32(w, SKF_TAG_POLL_MS, p->poll_ms);
}

static skf_err hello(struct skf_host *h, char *why, size_t why_len)
{
    struct skf_wire_out w;
    uint32_t id, caps = 0;
    skf_err e;

    begin_request(h, &w, SKF_OP_HELLO, &id);
    put_profile(&w, &h->profile);
    e = exchange(h, &w, SKF_OP_HELLO, id, h->o.start_ms);
    if (e != SKF_OK && why && why_len) {
        /* the helper's own words (dlerror, the missing function), if it said */
        if (skf_err_is_helper_fault(e) || !skf_frame_str(&h->resp, SKF_TAG_DETAIL, why, why_len))
            snprintf(why, why_len, "the helper %s: %s", h->helper_path, skf_err_name(e));
    }
    if (e == SKF_OK && !skf_frame_u32(&h->resp, SKF_TAG_CAPS, &caps))
        e = SKF_E_HELPER_GARBAGE;
    h->caps = caps;
    skf_wire_wipe(h->in, h->in_len);
    return e;
}

static skf_err watch(struct skf_host *h)
{
    struct skf_wire_out w;
    uint32_t id;
    skf_err e;

    begin_request(h, &w, SKF_OP_WATCH, &id);
    e = exchange(h, &w, SKF_OP_WATCH, id, h->o.start_ms);
    skf_wire_wipe(h->in, h->in_len);
    return e;
}

static void note_failure(struct skf_host *h)
{
    unsigned long long delay = 0;

    h->failures++;
    if (h->failures > 1) {
        delay = h->o.backoff_first_ms;
        for (unsigned i = 2; i < h->failures && delay < h->o.backoff_max_ms; i++)
            delay *= 2;
        if (delay > h->o.backoff_max_ms)
            delay = h->o.backoff_max_ms;
    }
    h->retry_at_ms = now_ms() + (long long)delay;
}

/* Brings up a helper: spawn, HELLO, WATCH if events are wanted. */
static skf_err launch(struct skf_host *h, char *why, size_t why_len)
{
    struct instance *run = calloc(1, sizeof *run);
    skf_err e;

    if (!run)
        return SKF_E_NO_MEMORY;
    run->call_fd = run->event_fd = run->wake[0] = run->wake[1] = -1;
    if ((e = spawn_process(h, run)) != SKF_OK) {
        free(run);
        if (why && why_len)
            snprintf(why, why_len, "cannot start %s", h->helper_path);
        return e;
    }
    h->run = run;
    if ((e = start_event_thread(h, run)) == SKF_OK && (e = hello(h, why, why_len)) == SKF_OK &&
        h->o.on_event)
        e = watch(h);
    if (e != SKF_OK)
        end_instance(h, false);
    else
        host_log(h, LOG_INFO, "SKF helper %d serves %s", (int)run->pid, h->library_path);
    return e;
}

/* Called with the lock held before every request. */
static skf_err ensure_running(struct skf_host *h)
{
    char why[256] = "";
    skf_err e;

    reap_pending(h);
    if (h->run && atomic_load(&h->run->lost)) {
        host_log(h, LOG_WARNING, "SKF helper %d for %s went away; restarting", (int)h->run->pid,
                 h->library_path);
        end_instance(h, false);
        note_failure(h);
    }
    if (h->run)
        return SKF_OK;
    if (h->failures > 0 && now_ms() < h->retry_at_ms)
        return SKF_E_HELPER_BACKOFF;
    if ((e = launch(h, why, sizeof why)) != SKF_OK) {
        host_log(h, LOG_ERR, "SKF library %s: %s", h->library_path, why);
        note_failure(h);
    }
    return e;
}

/* --- public ------------------------------------------------------------------------------------ */

skf_err skf_host_start(const struct skf_host_options *o, struct skf_host **out,
                       char *why, size_t why_len)
{
    struct skf_host *h;
    skf_err e;

    *out = NULL;
    if (!o || !o->helper_path || !o->library_path ||
        !skf_profile_valid(o->profile ? o->profile : skf_profile_standard(), why, why_len))
        return SKF_E_INVALID_ARG;
    if (!(h = calloc(1, sizeof *h)))
        return SKF_E_NO_MEMORY;
    h->o = *o;
    h->profile = o->profile ? *o->profile : *skf_profile_standard();
    h->o.start_ms = o->start_ms ? o->start_ms : SKF_HOST_START_MS;
    h->o.read_ms = o->read_ms ? o->read_ms : SKF_HOST_READ_MS;
    h->o.pin_ms = o->pin_ms ? o->pin_ms : SKF_HOST_PIN_MS;
    h->o.backoff_first_ms = o->backoff_first_ms ? o->backoff_first_ms : SKF_HOST_BACKOFF_FIRST_MS;
    h->o.backoff_max_ms = o->backoff_max_ms ? o->backoff_max_ms : SKF_HOST_BACKOFF_MAX_MS;
    h->helper_path = strdup(o->helper_path);
    h->library_path = strdup(o->library_path);
    pthread_mutex_init(&h->lock, NULL);
    if (!h->helper_path || !h->library_path) {
        e = SKF_E_NO_MEMORY;
    } else {
        pthread_mutex_lock(&h->lock);
        e = launch(h, why, why_len);
        pthread_mutex_unlock(&h->lock);
    }
    if (e != SKF_OK) {
        skf_host_stop(h);
        return e;
    }
    *out = h;
    return SKF_OK;
}

void skf_host_stop(struct skf_host *h)
{
    if (!h)
        return;
    atomic_store(&h->stopping, true);
    pthread_mutex_lock(&h->lock);
    end_instance(h, true);
    for (size_t i = 0; i < h->nzombies; i++) {
        int st;

        reap_within(h->zombies[i], REAP_WAIT_MS, &st);
    }
    pthread_mutex_unlock(&h->lock);
    pthread_mutex_destroy(&h->lock);
    skf_wire_wipe(h->out, sizeof h->out);
    skf_wire_wipe(h->in, sizeof h->in);
    free(h->helper_path);
    free(h->library_path);
    free(h);
}

uint32_t skf_host_caps(struct skf_host *h)
{
    uint32_t caps;

    pthread_mutex_lock(&h->lock);
    caps = h->caps;
    pthread_mutex_unlock(&h->lock);
    return caps;
}

pid_t skf_host_pid(struct skf_host *h)
{
    pid_t pid;

    pthread_mutex_lock(&h->lock);
    pid = h->run ? h->run->pid : 0;
    pthread_mutex_unlock(&h->lock);
    return pid;
}

void skf_name_list_free(struct skf_name_list *l)
{
    for (size_t i = 0; l && i < l->n; i++)
        free(l->name[i]);
    if (l) {
        free(l->name);
        l->name = NULL;
        l->n = 0;
    }
}

/* One call: lock, (re)start, request, answer; `take` reads the answer's
 * fields while the buffer is still ours. */
struct call {
    struct skf_host *h;
    struct skf_wire_out w;
    unsigned op;
    uint32_t id;
};

static skf_err call_begin(struct call *c, struct skf_host *h, unsigned op)
{
    skf_err e;

    c->h = h;
    c->op = op;
    pthread_mutex_lock(&h->lock);
    if ((e = ensure_running(h)) != SKF_OK) {
        pthread_mutex_unlock(&h->lock);
        return e;
    }
    begin_request(h, &c->w, op, &c->id);
    return SKF_OK;
}

static skf_err call_run(struct call *c, unsigned deadline_ms)
{
    struct skf_host *h = c->h;
    skf_err e = exchange(h, &c->w, c->op, c->id, deadline_ms);

    if (!skf_err_is_helper_fault(e) && e != SKF_E_INVALID_ARG)
        h->failures = 0;
    else if (skf_err_is_helper_fault(e))
        note_failure(h);
    if (e == SKF_E_LIBRARY_FAIL) {
        uint32_t sar = 0;

        skf_frame_u32(&h->resp, SKF_TAG_SAR, &sar);
        host_log(h, LOG_NOTICE, "SKF library %s: %s answered SAR 0x%08X", h->library_path,
                 skf_wire_op_name(c->op), sar);
    }
    return e;
}

static void call_end(struct call *c)
{
    skf_wire_wipe(c->h->out, sizeof c->h->out);
    skf_wire_wipe(c->h->in, c->h->in_len);
    c->h->in_len = 0;
    pthread_mutex_unlock(&c->h->lock);
}

static bool name_ok(const char *s)
{
    return s && s[0] && strlen(s) <= SKF_WIRE_NAME_MAX;
}

static skf_err take_names(struct skf_host *h, struct skf_name_list *out)
{
    size_t cursor = 0, n = 0;
    const struct skf_field *f;

    while (skf_frame_next(&h->resp, SKF_TAG_NAME, &cursor))
        n++;
    out->name = calloc(n ? n : 1, sizeof *out->name);
    if (!out->name)
        return SKF_E_NO_MEMORY;
    cursor = 0;
    while ((f = skf_frame_next(&h->resp, SKF_TAG_NAME, &cursor))) {
        if (!(out->name[out->n] = strndup((const char *)f->val, f->len))) {
            skf_name_list_free(out);
            return SKF_E_NO_MEMORY;
        }
        out->n++;
    }
    return SKF_OK;
}

static skf_err list_call(struct skf_host *h, unsigned op, const char *dev, const char *app,
                         struct skf_name_list *out)
{
    struct call c;
    skf_err e;

    memset(out, 0, sizeof *out);
    if ((dev && !name_ok(dev)) || (app && !name_ok(app)))
        return SKF_E_INVALID_ARG;
    if ((e = call_begin(&c, h, op)) != SKF_OK)
        return e;
    if (dev)
        skf_wire_str(&c.w, SKF_TAG_DEVICE, dev);
    if (app)
        skf_wire_str(&c.w, SKF_TAG_APP, app);
    if ((e = call_run(&c, h->o.read_ms)) == SKF_OK)
        e = take_names(h, out);
    call_end(&c);
    return e;
}

skf_err skf_host_list_devices(struct skf_host *h, struct skf_name_list *out)
{
    return list_call(h, SKF_OP_LIST_DEVICES, NULL, NULL, out);
}

skf_err skf_host_list_apps(struct skf_host *h, const char *dev, struct skf_name_list *out)
{
    if (!dev)
        return SKF_E_INVALID_ARG;
    return list_call(h, SKF_OP_LIST_APPS, dev, NULL, out);
}

skf_err skf_host_list_containers(struct skf_host *h, const char *dev, const char *app,
                                 struct skf_name_list *out)
{
    if (!dev || !app)
        return SKF_E_INVALID_ARG;
    return list_call(h, SKF_OP_LIST_CONTAINERS, dev, app, out);
}

static void take_str(const struct skf_frame *f, unsigned tag, char *dst, size_t cap)
{
    if (!skf_frame_str(f, tag, dst, cap))
        dst[0] = '\0';
}

static uint32_t take_u32(const struct skf_frame *f, unsigned tag)
{
    uint32_t v = 0;

    skf_frame_u32(f, tag, &v);
    return v;
}

static void take_devinfo(const struct skf_frame *f, struct skf_devinfo *out)
{
    uint32_t versions = take_u32(f, SKF_TAG_VERSIONS);

    memset(out, 0, sizeof *out);
    take_str(f, SKF_TAG_MANUFACTURER, out->manufacturer, sizeof out->manufacturer);
    take_str(f, SKF_TAG_ISSUER, out->issuer, sizeof out->issuer);
    take_str(f, SKF_TAG_LABEL, out->label, sizeof out->label);
    take_str(f, SKF_TAG_SERIAL, out->serial, sizeof out->serial);
    out->version = (uint16_t)(versions >> 16);
    out->hw_version = (uint16_t)versions;
    out->fw_version = (uint16_t)take_u32(f, SKF_TAG_FW_VERSION);
    out->alg_sym = take_u32(f, SKF_TAG_ALG_SYM);
    out->alg_asym = take_u32(f, SKF_TAG_ALG_ASYM);
    out->alg_hash = take_u32(f, SKF_TAG_ALG_HASH);
    out->total_space = take_u32(f, SKF_TAG_TOTAL_SPACE);
    out->free_space = take_u32(f, SKF_TAG_FREE_SPACE);
}

skf_err skf_host_device_info(struct skf_host *h, const char *dev, struct skf_devinfo *out)
{
    struct call c;
    skf_err e;

    if (!name_ok(dev))
        return SKF_E_INVALID_ARG;
    if ((e = call_begin(&c, h, SKF_OP_DEVICE_INFO)) != SKF_OK)
        return e;
    skf_wire_str(&c.w, SKF_TAG_DEVICE, dev);
    if ((e = call_run(&c, h->o.read_ms)) == SKF_OK)
        take_devinfo(&h->resp, out);
    call_end(&c);
    return e;
}

static void put_names(struct call *c, const char *dev, const char *app, const char *con)
{
    skf_wire_str(&c->w, SKF_TAG_DEVICE, dev);
    if (app)
        skf_wire_str(&c->w, SKF_TAG_APP, app);
    if (con)
        skf_wire_str(&c->w, SKF_TAG_CONTAINER, con);
}

skf_err skf_host_container_type(struct skf_host *h, const char *dev, const char *app,
                                const char *con, uint32_t *type)
{
    struct call c;
    skf_err e;

    if (!name_ok(dev) || !name_ok(app) || !name_ok(con))
        return SKF_E_INVALID_ARG;
    if ((e = call_begin(&c, h, SKF_OP_CONTAINER_TYPE)) != SKF_OK)
        return e;
    put_names(&c, dev, app, con);
    if ((e = call_run(&c, h->o.read_ms)) == SKF_OK && !skf_frame_u32(&h->resp, SKF_TAG_CONTAINER_TYPE, type))
        e = SKF_E_MALFORMED;
    call_end(&c);
    return e;
}

skf_err skf_host_export_cert(struct skf_host *h, const char *dev, const char *app,
                             const char *con, bool sign, uint8_t **der, size_t *len)
{
    const struct skf_field *f;
    struct call c;
    skf_err e;

    *der = NULL;
    *len = 0;
    if (!name_ok(dev) || !name_ok(app) || !name_ok(con))
        return SKF_E_INVALID_ARG;
    if ((e = call_begin(&c, h, SKF_OP_EXPORT_CERT)) != SKF_OK)
        return e;
    put_names(&c, dev, app, con);
    skf_wire_u32(&c.w, SKF_TAG_SIGN, sign);
    if ((e = call_run(&c, h->o.read_ms)) == SKF_OK) {
        if (!(f = skf_frame_get(&h->resp, SKF_TAG_CERT)) || f->len == 0)
            e = SKF_E_MALFORMED;
        else if (!(*der = malloc(f->len)))
            e = SKF_E_NO_MEMORY;
        else {
            memcpy(*der, f->val, f->len);
            *len = f->len;
        }
    }
    call_end(&c);
    return e;
}

skf_err skf_host_pin_info(struct skf_host *h, const char *dev, const char *app,
                          enum skf_pin_role role, struct skf_pin_info *out)
{
    struct call c;
    uint32_t def = 0;
    skf_err e;

    if (!name_ok(dev) || !name_ok(app) || (role != SKF_PIN_USER && role != SKF_PIN_ADMIN))
        return SKF_E_INVALID_ARG;
    if ((e = call_begin(&c, h, SKF_OP_PIN_INFO)) != SKF_OK)
        return e;
    put_names(&c, dev, app, NULL);
    skf_wire_u32(&c.w, SKF_TAG_PIN_ROLE, role);
    if ((e = call_run(&c, h->o.read_ms)) == SKF_OK &&
        (!skf_frame_u32(&h->resp, SKF_TAG_TRIES_MAX, &out->tries_max) ||
         !skf_frame_u32(&h->resp, SKF_TAG_TRIES_LEFT, &out->tries_left) ||
         !skf_frame_u32(&h->resp, SKF_TAG_DEFAULT_PIN, &def)))
        e = SKF_E_MALFORMED;
    out->default_pin = def != 0;
    call_end(&c);
    return e;
}

/* An admin PIN follows no user policy but still travels as a visible-ASCII
 * string no longer than any SKF PIN. */
static bool admin_pin_ok(const char *pin)
{
    struct skf_profile any = *skf_profile_standard();

    any.pin_min_len = 1;
    any.pin_max_len = SKF_PROFILE_PIN_LEN_LIMIT;
    return skf_profile_pin_acceptable(&any, pin);
}

static skf_err pin_call(struct skf_host *h, unsigned op, const char *dev, const char *app,
                        enum skf_pin_role role, const char *pin, const char *new_pin,
                        uint32_t *tries_left)
{
    struct call c;
    skf_err e;

    *tries_left = RETRY_UNKNOWN;
    if (!name_ok(dev) || !name_ok(app))
        return SKF_E_INVALID_ARG;
    if ((e = call_begin(&c, h, op)) != SKF_OK)
        return e;
    put_names(&c, dev, app, NULL);
    if (op != SKF_OP_UNBLOCK_PIN)
        skf_wire_u32(&c.w, SKF_TAG_PIN_ROLE, role);
    skf_wire_str(&c.w, SKF_TAG_PIN, pin);
    if (new_pin)
        skf_wire_str(&c.w, SKF_TAG_NEW_PIN, new_pin);
    e = call_run(&c, h->o.pin_ms);
    if (e == SKF_E_PIN_INCORRECT || e == SKF_E_PIN_LOCKED)
        skf_frame_u32(&h->resp, SKF_TAG_TRIES_LEFT, tries_left);
    call_end(&c);
    return e;
}

static bool role_pin_ok(const struct skf_host *h, enum skf_pin_role role, const char *pin)
{
    return role == SKF_PIN_ADMIN ? admin_pin_ok(pin) : skf_profile_pin_acceptable(&h->profile, pin);
}

skf_err skf_host_verify_pin(struct skf_host *h, const char *dev, const char *app,
                            enum skf_pin_role role, const char *pin, uint32_t *tries_left)
{
    *tries_left = RETRY_UNKNOWN;
    if (role != SKF_PIN_USER && role != SKF_PIN_ADMIN)
        return SKF_E_INVALID_ARG;
    if (!role_pin_ok(h, role, pin))
        return SKF_E_PIN_POLICY;
    return pin_call(h, SKF_OP_VERIFY_PIN, dev, app, role, pin, NULL, tries_left);
}

skf_err skf_host_change_pin(struct skf_host *h, const char *dev, const char *app,
                            enum skf_pin_role role, const char *old_pin, const char *new_pin,
                            uint32_t *tries_left)
{
    *tries_left = RETRY_UNKNOWN;
    if (role != SKF_PIN_USER && role != SKF_PIN_ADMIN)
        return SKF_E_INVALID_ARG;
    /* the old PIN is whatever the token holds (a factory default may break
     * today's policy); the new one must meet it */
    if (!admin_pin_ok(old_pin) || !role_pin_ok(h, role, new_pin))
        return SKF_E_PIN_POLICY;
    return pin_call(h, SKF_OP_CHANGE_PIN, dev, app, role, old_pin, new_pin, tries_left);
}

skf_err skf_host_unblock_pin(struct skf_host *h, const char *dev, const char *app,
                             const char *admin_pin, const char *new_pin, uint32_t *tries_left)
{
    *tries_left = RETRY_UNKNOWN;
    if (!admin_pin_ok(admin_pin) || !skf_profile_pin_acceptable(&h->profile, new_pin))
        return SKF_E_PIN_POLICY;
    return pin_call(h, SKF_OP_UNBLOCK_PIN, dev, app, SKF_PIN_ADMIN, admin_pin, new_pin, tries_left);
}

skf_err skf_host_clear_state(struct skf_host *h, const char *dev, const char *app)
{
    struct call c;
    skf_err e;

    if (!name_ok(dev) || !name_ok(app))
        return SKF_E_INVALID_ARG;
    if ((e = call_begin(&c, h, SKF_OP_CLEAR_STATE)) != SKF_OK)
        return e;
    put_names(&c, dev, app, NULL);
    e = call_run(&c, h->o.read_ms);
    call_end(&c);
    return e;
}

skf_err skf_host_remote_unblock_request(struct skf_host *h, const char *dev, const char *app,
                                        uint8_t *challenge, size_t len)
{
    const struct skf_field *f;
    struct call c;
    skf_err e;

    if (!name_ok(dev) || !name_ok(app) || len == 0 || len > UINT32_MAX)
        return SKF_E_INVALID_ARG;
    if ((e = call_begin(&c, h, SKF_OP_REMOTE_UNBLOCK_REQUEST)) != SKF_OK)
        return e;
    put_names(&c, dev, app, NULL);
    skf_wire_u32(&c.w, SKF_TAG_LENGTH, (uint32_t)len);
    if ((e = call_run(&c, h->o.pin_ms)) == SKF_OK) {
        if (!(f = skf_frame_get(&h->resp, SKF_TAG_BLOB)) || f->len != len)
            e = SKF_E_MALFORMED;
        else
            memcpy(challenge, f->val, len);
    }
    call_end(&c);
    return e;
}

skf_err skf_host_remote_unblock(struct skf_host *h, const char *dev, const char *app,
                                const uint8_t *answer, size_t len, uint32_t *tries_left)
{
    struct call c;
    skf_err e;

    *tries_left = RETRY_UNKNOWN;
    if (!name_ok(dev) || !name_ok(app) || !answer || len == 0 || len > SKF_WIRE_BYTES_MAX)
        return SKF_E_INVALID_ARG;
    if ((e = call_begin(&c, h, SKF_OP_REMOTE_UNBLOCK)) != SKF_OK)
        return e;
    put_names(&c, dev, app, NULL);
    skf_wire_bytes(&c.w, SKF_TAG_BLOB, answer, len);
    e = call_run(&c, h->o.pin_ms);
    if (e == SKF_E_PIN_INCORRECT || e == SKF_E_PIN_LOCKED)
        skf_frame_u32(&h->resp, SKF_TAG_TRIES_LEFT, tries_left);
    call_end(&c);
    return e;
}

/* --- certificate writes ---------------------------------------------------------- */

/* A fixed-size bytes field of the answer into `out`; MALFORMED otherwise. */
static skf_err take_fixed(struct skf_host *h, unsigned tag, uint8_t *out, size_t len)
{
    const struct skf_field *f = skf_frame_get(&h->resp, tag);

    if (!f || f->len != len)
        return SKF_E_MALFORMED;
    memcpy(out, f->val, len);
    return SKF_OK;
}

skf_err skf_host_export_public_key(struct skf_host *h, const char *dev, const char *app,
                                   const char *con, bool sign,
                                   uint8_t point[2 * SKF_EC_COORD_LEN])
{
    struct call c;
    skf_err e;

    if (!name_ok(dev) || !name_ok(app) || !name_ok(con))
        return SKF_E_INVALID_ARG;
    if ((e = call_begin(&c, h, SKF_OP_EXPORT_PUBLIC_KEY)) != SKF_OK)
        return e;
    put_names(&c, dev, app, con);
    skf_wire_u32(&c.w, SKF_TAG_SIGN, sign);
    if ((e = call_run(&c, h->o.read_ms)) == SKF_OK)
        e = take_fixed(h, SKF_TAG_EC_POINT, point, 2 * SKF_EC_COORD_LEN);
    call_end(&c);
    return e;
}

/* One write call: names, the user PIN (checked against the profile first),
 * the op's own fields from `put`; the answer's tries on a PIN refusal. */
struct write_call {
    unsigned op;
    const uint8_t *digest;
    const uint8_t *der;
    size_t der_len;
    bool sign;
    unsigned out_tag;            /* 0: no bytes in the answer */
    uint8_t *out;
};

static skf_err write_call(struct skf_host *h, const char *dev, const char *app, const char *con,
                          const char *pin, const struct write_call *wc, uint32_t *tries_left)
{
    struct call c;
    skf_err e;

    *tries_left = RETRY_UNKNOWN;
    if (!name_ok(dev) || !name_ok(app) || !name_ok(con))
        return SKF_E_INVALID_ARG;
    if (!skf_profile_pin_acceptable(&h->profile, pin))
        return SKF_E_PIN_POLICY;
    if ((e = call_begin(&c, h, wc->op)) != SKF_OK)
        return e;
    put_names(&c, dev, app, con);
    skf_wire_str(&c.w, SKF_TAG_PIN, pin);
    if (wc->digest)
        skf_wire_bytes(&c.w, SKF_TAG_DIGEST, wc->digest, SKF_SM3_LEN);
    if (wc->der) {
        skf_wire_u32(&c.w, SKF_TAG_SIGN, wc->sign);
        skf_wire_bytes(&c.w, SKF_TAG_CERT, wc->der, wc->der_len);
    }
    e = call_run(&c, h->o.pin_ms);
    if (e == SKF_E_PIN_INCORRECT || e == SKF_E_PIN_LOCKED)
        skf_frame_u32(&h->resp, SKF_TAG_TRIES_LEFT, tries_left);
    else if (e == SKF_OK && wc->out_tag)
        e = take_fixed(h, wc->out_tag, wc->out, 2 * SKF_EC_COORD_LEN);
    call_end(&c);
    return e;
}

skf_err skf_host_gen_sign_key(struct skf_host *h, const char *dev, const char *app,
                              const char *con, const char *pin,
                              uint8_t point[2 * SKF_EC_COORD_LEN], uint32_t *tries_left)
{
    struct write_call wc = { .op = SKF_OP_GEN_SIGN_KEY, .out_tag = SKF_TAG_EC_POINT,
                             .out = point };

    return write_call(h, dev, app, con, pin, &wc, tries_left);
}

skf_err skf_host_sign_digest(struct skf_host *h, const char *dev, const char *app,
                             const char *con, const char *pin,
                             const uint8_t digest[SKF_SM3_LEN],
                             uint8_t signature[2 * SKF_EC_COORD_LEN], uint32_t *tries_left)
{
    struct write_call wc = { .op = SKF_OP_SIGN_DIGEST, .digest = digest,
                             .out_tag = SKF_TAG_SIGNATURE, .out = signature };

    return write_call(h, dev, app, con, pin, &wc, tries_left);
}

skf_err skf_host_import_cert(struct skf_host *h, const char *dev, const char *app,
                             const char *con, const char *pin, bool sign, const uint8_t *der,
                             size_t len, uint32_t *tries_left)
{
    struct write_call wc = { .op = SKF_OP_IMPORT_CERT, .der = der, .der_len = len,
                             .sign = sign };

    *tries_left = RETRY_UNKNOWN;
    if (!der || len == 0 || len > SKF_WIRE_BYTES_MAX)
        return SKF_E_INVALID_ARG;
    return write_call(h, dev, app, con, pin, &wc, tries_left);
}

/* ---- a whole device (SKF_OP_READ_DEVICE) ---- */

void skf_device_read_free(struct skf_device_read *r)
{
    for (size_t i = 0; r && i < r->n_certs; i++) {
        free(r->certs[i].container);
        free(r->certs[i].der);
    }
    if (r) {
        free(r->certs);
        free(r->app);
        memset(r, 0, sizeof *r);
    }
}

static bool cert_seen(const struct skf_device_read *r, const struct skf_cert_entry *ce)
{
    for (size_t i = 0; i < r->n_certs; i++)
        if (r->certs[i].sign == ce->sign && strlen(r->certs[i].container) == ce->container_len &&
            memcmp(r->certs[i].container, ce->container, ce->container_len) == 0)
            return true;
    return false;
}

static skf_err add_read_cert(struct skf_device_read *r, const struct skf_cert_entry *ce)
{
    struct skf_read_cert *c = realloc(r->certs, (r->n_certs + 1) * sizeof *c);

    if (!c)
        return SKF_E_NO_MEMORY;
    r->certs = c;
    c = &r->certs[r->n_certs];
    c->container = strndup(ce->container, ce->container_len);
    c->der = malloc(ce->der_len);
    if (!c->container || !c->der) {
        free(c->container);
        free(c->der);
        return SKF_E_NO_MEMORY;
    }
    memcpy(c->der, ce->der, ce->der_len);
    c->len = ce->der_len;
    c->sign = ce->sign;
    c->container_type = ce->container_type;
    r->n_certs++;
    return SKF_OK;
}

/* The certificates of one answer; one listed twice makes it malformed. */
static skf_err take_read_certs(const struct skf_frame *f, struct skf_device_read *out)
{
    struct skf_cert_entry ce;
    size_t cursor = 0;
    skf_err e = SKF_OK;
    int got;

    while (e == SKF_OK && (got = skf_frame_next_cert(f, &cursor, &ce)) != 0)
        e = got < 0 || cert_seen(out, &ce) ? SKF_E_MALFORMED : add_read_cert(out, &ce);
    return e;
}

/* The first answer's device information, PIN application and PIN info. */
static skf_err take_read_head(const struct skf_frame *f, struct skf_device_read *out)
{
    const struct skf_field *app = skf_frame_get(f, SKF_TAG_APP);
    uint32_t def = 0;

    if (!app || app->len == 0 || app->len > SKF_WIRE_NAME_MAX ||
        !skf_frame_u32(f, SKF_TAG_TRIES_MAX, &out->pin.tries_max) ||
        !skf_frame_u32(f, SKF_TAG_TRIES_LEFT, &out->pin.tries_left) ||
        !skf_frame_u32(f, SKF_TAG_DEFAULT_PIN, &def))
        return SKF_E_MALFORMED;
    out->pin.default_pin = def != 0;
    out->seals_counted = skf_frame_u32(f, SKF_TAG_SEALS, &out->seals);
    take_devinfo(f, &out->info);
    return (out->app = strndup((const char *)app->val, app->len)) ? SKF_OK : SKF_E_NO_MEMORY;
}

/* One answer of the sequence: `from` 0 is the first; *next gets where the
 * following one starts, 0 when none does. */
static skf_err read_device_frame(struct skf_host *h, const char *dev, uint32_t from, unsigned ms,
                                 struct skf_device_read *out, uint32_t *next)
{
    struct call c;
    skf_err e;

    *next = 0;
    if ((e = call_begin(&c, h, SKF_OP_READ_DEVICE)) != SKF_OK)
        return e;
    put_names(&c, dev, from ? out->app : NULL, NULL);
    if (from)
        skf_wire_u32(&c.w, SKF_TAG_RESUME, from);
    if ((e = call_run(&c, ms)) == SKF_OK && from == 0)
        e = take_read_head(&h->resp, out);
    if (e == SKF_OK)
        e = take_read_certs(&h->resp, out);
    if (e == SKF_OK && skf_frame_u32(&h->resp, SKF_TAG_RESUME, next) && *next <= from)
        e = SKF_E_MALFORMED;     /* a sequence that does not move on would never end */
    if (e == SKF_OK)
        out->frames++;
    call_end(&c);
    return e;
}

skf_err skf_host_read_device(struct skf_host *h, const char *dev, struct skf_device_read *out)
{
    long long end = now_ms() + h->o.read_ms;
    uint32_t from = 0, next = 0;
    skf_err e;

    memset(out, 0, sizeof *out);
    if (!name_ok(dev))
        return SKF_E_INVALID_ARG;
    e = read_device_frame(h, dev, 0, h->o.read_ms, out, &next);
    while (e == SKF_OK && next != 0) {
        long long left = end - now_ms();

        from = next;
        e = left > 0 ? read_device_frame(h, dev, from, (unsigned)left, out, &next) : SKF_E_HELPER_TIMEOUT;
    }
    if (e != SKF_OK)
        skf_device_read_free(out);
    return e;
}
