/* SPDX-License-Identifier: MIT */
/*
 * tests/vtoken/run.c — `vtoken run`: serves the card to vpcd in one poll
 * loop together with the control socket and signals. "Inserted" means we
 * keep a connection to vpcd (reconnecting every RECONNECT_INTERVAL_MS while
 * pcscd is away); "removed" means we hold none.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "tests/vtoken/apdu.h"
#include "tests/vtoken/commands.h"
#include "tests/vtoken/control.h"
#include "tests/vtoken/log.h"
#include "tests/vtoken/piv.h"
#include "tests/vtoken/state.h"
#include "tests/vtoken/vpcd.h"

#define RECONNECT_INTERVAL_MS 100
#define MIN_OUT_OF_READER_MS  600
#define PORT_MAX              65535
#define EXIT_USAGE            2
#define DECIMAL_BASE          10
#define HEX_BASE              16
#define APDU_INS_OFFSET       1
#define APDU_HEADER_LEN       4
#define FAULT_WORDS_MAX       4    /* fault INS WHEN [N] */

enum {
    POLL_SIGNAL,
    POLL_VPCD,
    POLL_CONTROL,
    POLL_COUNT = POLL_CONTROL + CTL_POLL_SLOTS
};

struct run_options {
    const char *state_path;
    const char *control_path;
    const char *log_path;
    uint16_t port;
    bool removed;
};

/*
 * A one-shot yank: on the Nth command APDU with this INS the token leaves the
 * reader, as a pulled USB token, either before the command takes effect or
 * after it did (its state change saved) but before the answer goes out.
 */
struct fault_plan {
    bool armed;
    bool after;
    uint8_t ins;
    unsigned long countdown;     /* APDUs with that INS still to let through, +1 */
};

struct vt_run {
    struct vt_state state;
    struct piv_app app;
    struct apdu_link link;
    struct ctl_server ctl;
    struct vt_buf msg;
    struct vt_buf resp;
    uint16_t port;
    int vpcd_fd;
    int signal_fd;
    bool want_inserted;
    struct timespec out_since;   /* when the card last left the reader */
    bool waiting_logged;   /* "waiting for vpcd" said once per wait */
    bool quit;
    unsigned long apdus;
    struct fault_plan fault;
};

/* --- card presence ---------------------------------------------------------- */

/* What a card forgets when it loses power. */
static void power_cycle(struct vt_run *r)
{
    vt_piv_power_cycle(&r->app);
    vt_apdu_link_reset(&r->link);
}

static void disconnect_vpcd(struct vt_run *r, const char *why)
{
    if (r->vpcd_fd < 0)
        return;
    close(r->vpcd_fd);
    r->vpcd_fd = -1;
    clock_gettime(CLOCK_MONOTONIC, &r->out_since);
    power_cycle(r);
    vt_log("card out: %s", why);
}

/*
 * A USB token cannot be back sooner than it takes to enumerate, well over
 * pcscd's presence poll. A card that came back faster would meet pcscd still
 * handling its removal: pcscd's power-off for the old card lands on the new
 * connection and pcscd never notices the card again.
 */
static bool out_long_enough(const struct vt_run *r)
{
    struct timespec now;
    long ms;

    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (now.tv_sec - r->out_since.tv_sec) * 1000L +
         (now.tv_nsec - r->out_since.tv_nsec) / 1000000L;
    return ms >= MIN_OUT_OF_READER_MS;
}

static void try_connect(struct vt_run *r)
{
    r->vpcd_fd = vt_vpcd_connect(r->port);
    if (r->vpcd_fd >= 0) {
        r->waiting_logged = false;
        power_cycle(r);
        vt_log("card in: connected to vpcd on port %u", r->port);
    } else if (!r->waiting_logged) {
        r->waiting_logged = true;
        vt_log("waiting for vpcd on port %u (%s)", r->port, strerror(errno));
    }
}

static void card_remove(struct vt_run *r)
{
    r->want_inserted = false;
    disconnect_vpcd(r, "removed");
}

static void card_insert(struct vt_run *r)
{
    r->want_inserted = true;
}

/* --- vpcd messages -------------------------------------------------------- */

static void log_trace(const struct apdu_trace *t)
{
    vt_log("apdu cla=%02X ins=%02X p1=%02X p2=%02X lc=%zu -> %zu bytes sw=%04X", t->cla,
           t->ins, t->p1, t->p2, t->lc, t->resp_len, t->sw);
}

static int answer_control(struct vt_run *r, uint8_t control)
{
    uint8_t atr[PIV_ATR_MAX];

    switch (control) {
    case VPCD_CTRL_POWER_OFF:
        vt_log("power off");
        power_cycle(r);
        return 0;
    case VPCD_CTRL_POWER_ON:
        vt_log("power on");
        power_cycle(r);
        return 0;
    case VPCD_CTRL_RESET:
        vt_log("reset");
        power_cycle(r);
        return 0;
    case VPCD_CTRL_GET_ATR:
        /* Not logged: vpcd asks for the ATR on every presence poll. */
        return vt_vpcd_send(r->vpcd_fd, atr, vt_piv_build_atr(atr));
    default:
        vt_log("unknown vpcd control byte %02X ignored", control);
        return 0;
    }
}

/* True when this APDU is the one the armed fault waits for. */
static bool fault_due(struct vt_run *r)
{
    if (!r->fault.armed || r->msg.len < APDU_HEADER_LEN ||
        r->msg.data[APDU_INS_OFFSET] != r->fault.ins)
        return false;
    if (--r->fault.countdown > 0)
        return false;
    r->fault.armed = false;
    return true;
}

static void fault_pull(struct vt_run *r, const char *when)
{
    vt_log("fault: INS %02X %s, card pulled", r->fault.ins, when);
    card_remove(r);
}

static int answer_apdu(struct vt_run *r)
{
    struct apdu_trace trace;
    bool fault = fault_due(r);

    if (fault && !r->fault.after) {
        fault_pull(r, "before it took effect");
        return 0;
    }
    if (vt_apdu_link_process(&r->link, r->msg.data, r->msg.len, vt_piv_handle, &r->app, &r->resp,
                          &trace) < 0) {
        vt_warn("out of memory answering an APDU");
        return -1;
    }
    r->apdus++;
    log_trace(&trace);
    if (fault) {
        /* The state file already holds whatever the command changed. */
        fault_pull(r, "after it took effect, unanswered");
        return 0;
    }
    return vt_vpcd_send(r->vpcd_fd, r->resp.data, r->resp.len);
}

static void serve_vpcd(struct vt_run *r)
{
    int rc;

    if (vt_vpcd_recv(r->vpcd_fd, &r->msg) < 0) {
        disconnect_vpcd(r, "vpcd closed the connection");
        return;
    }
    rc = r->msg.len == 1 ? answer_control(r, r->msg.data[0]) : answer_apdu(r);
    vt_buf_clear(&r->msg);
    vt_buf_clear(&r->resp);
    if (rc < 0)
        disconnect_vpcd(r, "could not answer vpcd");
}

/* --- control socket and signals ----------------------------------------------- */

/* "fault INS before|after [N]" or "fault clear". */
static void arm_fault(struct vt_run *r, const char *command, char *reply, size_t size)
{
    char copy[CTL_LINE_MAX];
    char *words[FAULT_WORDS_MAX + 1] = {0};
    char *save = NULL, *end;
    unsigned long ins, count = 1;
    int n = 0;

    snprintf(copy, sizeof copy, "%s", command);
    for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save))
        if (n <= FAULT_WORDS_MAX)
            words[n++] = w;
    if (n == 2 && strcmp(words[1], "clear") == 0) {
        r->fault.armed = false;
        snprintf(reply, size, "ok fault cleared");
        return;
    }
    if (n < 3 || n > FAULT_WORDS_MAX)
        goto usage;
    errno = 0;
    ins = strtoul(words[1], &end, HEX_BASE);
    if (errno || *end || strlen(words[1]) != 2 || ins > UINT8_MAX)
        goto usage;
    if (strcmp(words[2], "before") != 0 && strcmp(words[2], "after") != 0)
        goto usage;
    if (n == FAULT_WORDS_MAX) {
        count = strtoul(words[3], &end, DECIMAL_BASE);
        if (errno || *end || count == 0 || words[3][0] == '-')
            goto usage;
    }
    r->fault = (struct fault_plan){ .armed = true, .after = words[2][0] == 'a',
                                    .ins = (uint8_t)ins, .countdown = count };
    snprintf(reply, size, "ok fault armed: INS %02lX %s, APDU %lu", ins, words[2], count);
    return;
usage:
    snprintf(reply, size, "error usage: fault INS(2 hex digits) before|after [N>=1] | "
                          "fault clear");
}

static void exec_control(void *ctx, const char *command, char *reply, size_t size)
{
    struct vt_run *r = ctx;

    if (strncmp(command, "fault ", sizeof "fault " - 1) == 0) {
        arm_fault(r, command, reply, size);
    } else if (strcmp(command, "remove") == 0) {
        card_remove(r);
        snprintf(reply, size, "ok removed");
    } else if (strcmp(command, "insert") == 0) {
        card_insert(r);
        snprintf(reply, size, "ok inserted");
    } else if (strcmp(command, "status") == 0) {
        snprintf(reply, size, "ok %s", r->want_inserted ? "inserted" : "removed");
    } else if (strcmp(command, "stats") == 0) {
        snprintf(reply, size, "ok apdus %lu", r->apdus);
    } else if (strcmp(command, "reset-stats") == 0) {
        r->apdus = 0;
        snprintf(reply, size, "ok");
    } else {
        snprintf(reply, size, "error unknown command (remove, insert, status, stats, "
                              "reset-stats, fault)");
    }
}

static int open_signal_fd(void)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static void handle_signals(struct vt_run *r)
{
    struct signalfd_siginfo si;

    while (read(r->signal_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGUSR1)
            card_remove(r);
        else if (si.ssi_signo == SIGUSR2)
            card_insert(r);
        else
            r->quit = true;
    }
}

/* --- the loop ------------------------------------------------------------------ */

static int run_loop(struct vt_run *r)
{
    while (!r->quit) {
        struct pollfd fds[POLL_COUNT];
        bool reconnecting;

        if (r->want_inserted && r->vpcd_fd < 0 && out_long_enough(r))
            try_connect(r);
        reconnecting = r->want_inserted && r->vpcd_fd < 0;
        fds[POLL_SIGNAL] = (struct pollfd){ .fd = r->signal_fd, .events = POLLIN };
        fds[POLL_VPCD] = (struct pollfd){ .fd = r->vpcd_fd, .events = POLLIN };
        vt_ctl_server_poll_fds(&r->ctl, fds + POLL_CONTROL);
        if (poll(fds, POLL_COUNT, reconnecting ? RECONNECT_INTERVAL_MS : -1) < 0) {
            if (errno == EINTR)
                continue;
            vt_warn("poll: %s", strerror(errno));
            return -1;
        }
        if (fds[POLL_SIGNAL].revents)
            handle_signals(r);
        if (r->vpcd_fd >= 0 && fds[POLL_VPCD].fd == r->vpcd_fd && fds[POLL_VPCD].revents)
            serve_vpcd(r);
        vt_ctl_server_handle(&r->ctl, fds + POLL_CONTROL, exec_control, r);
    }
    return 0;
}

/* --- options and setup ----------------------------------------------------------- */

static int parse_port(const char *text, uint16_t *port)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(text, &end, DECIMAL_BASE);
    if (errno || *end || v <= 0 || v > PORT_MAX)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

static int parse_run_options(int argc, char **argv, struct run_options *o)
{
    static const struct option longopts[] = {
        { "state",   required_argument, NULL, 's' },
        { "port",    required_argument, NULL, 'p' },
        { "control", required_argument, NULL, 'c' },
        { "log",     required_argument, NULL, 'l' },
        { "removed", no_argument,       NULL, 'r' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 's': o->state_path = optarg; break;
        case 'c': o->control_path = optarg; break;
        case 'l': o->log_path = optarg; break;
        case 'r': o->removed = true; break;
        case 'p':
            if (parse_port(optarg, &o->port) < 0) {
                fprintf(stderr, "vtoken run: bad --port %s\n", optarg);
                return -1;
            }
            break;
        default:
            return -1;
        }
    }
    if (optind != argc || !o->state_path || !o->port) {
        fprintf(stderr, "usage: vtoken run --state FILE --port PORT [--control SOCKET] "
                        "[--log FILE] [--removed]\n");
        return -1;
    }
    return 0;
}

static int setup(struct vt_run *r, const struct run_options *o)
{
    if (vt_state_load(o->state_path, &r->state) < 0)
        return -1;
    r->app.state = &r->state;
    r->app.state_path = o->state_path;
    r->port = o->port;
    r->want_inserted = !o->removed;
    if (o->log_path && vt_log_open(o->log_path) < 0)
        return -1;
    if (o->control_path && vt_ctl_server_open(&r->ctl, o->control_path) < 0)
        return -1;
    r->signal_fd = open_signal_fd();
    if (r->signal_fd < 0) {
        vt_warn("signalfd: %s", strerror(errno));
        return -1;
    }
    vt_log("serving %s (serial %u) on vpcd port %u, %s", o->state_path, r->state.serial,
           r->port, r->want_inserted ? "inserted" : "removed");
    return 0;
}

static void teardown(struct vt_run *r)
{
    disconnect_vpcd(r, "token stopped");
    power_cycle(r);   /* wipes a pending management key challenge */
    vt_ctl_server_close(&r->ctl);
    if (r->signal_fd >= 0)
        close(r->signal_fd);
    vt_apdu_link_free(&r->link);
    vt_buf_free(&r->msg);
    vt_buf_free(&r->resp);
    vt_state_free(&r->state);
    vt_log("stopped");
    vt_log_close();
}

int vt_cmd_run(int argc, char **argv)
{
    struct run_options o = {0};
    struct vt_run r = { .vpcd_fd = -1, .signal_fd = -1 };
    int rc = 1;

    vt_ctl_server_init(&r.ctl);
    if (parse_run_options(argc, argv, &o) < 0)
        return EXIT_USAGE;
    if (setup(&r, &o) == 0 && run_loop(&r) == 0)
        rc = 0;
    teardown(&r);
    return rc;
}
