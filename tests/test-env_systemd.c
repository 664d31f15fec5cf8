/* SPDX-License-Identifier: MIT */
/*
 * Tests api/env/env_systemd.c against a fake systemd manager on a private
 * D-Bus bus (dbus-daemon, found by $DBUS_SYSTEM_BUS_ADDRESS): unit states
 * read with LoadUnit and the Unit properties, pcscd.service failed or not
 * installed, RestartUnit("pcscd.service", "replace") granted and refused,
 * timedated's NTPSynchronized true and false (and env_clock_ntp choosing
 * timedated when the kernel refuses), systemd without timedated, a bus
 * without systemd on it, and no bus at all.
 *
 * The same program is the fake systemd of tests/test-environment.sh:
 *
 *   test-env_systemd --serve [--deny] [--service-state failed]
 *                    [--timedated synchronized|unsynchronized] [-- PROGRAM ARG...]
 *
 * serves org.freedesktop.systemd1 (and with --timedated, timedate1) on
 * $DBUS_SYSTEM_BUS_ADDRESS until SIGTERM; RestartUnit answers at once (as
 * systemd queues a job) and then runs PROGRAM, standing in for the restart.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timex.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "api/env/env_clock.h"
#include "api/env/env_spawn.h"
#include "api/env/env_systemd.h"
#include "tests/tap.h"

#define SYSTEMD_NAME     "org.freedesktop.systemd1"
#define MANAGER_PATH     "/org/freedesktop/systemd1"
#define MANAGER_IFACE    "org.freedesktop.systemd1.Manager"
#define UNIT_IFACE       "org.freedesktop.systemd1.Unit"
#define SERVICE_PATH     "/org/freedesktop/systemd1/unit/pcscd_2eservice"
#define SOCKET_PATH      "/org/freedesktop/systemd1/unit/pcscd_2esocket"
#define JOB_PATH         "/org/freedesktop/systemd1/job/1"
#define STATE_MAX        32
#define PATH_TEXT_MAX    256
#define WAIT_US          100000       /* one turn of the serving loop */
#define TIMEOUT_MS       2000
#define HOOK_TIMEOUT_MS  20000
#define START_TRIES      50
#define START_STEP_US    100000

/* --- the fake systemd ------------------------------------------------------ */

struct fake_unit {
    char load[STATE_MAX], active[STATE_MAX], sub[STATE_MAX];
};

struct fake_systemd {
    pthread_mutex_t lock;
    struct fake_unit service, socket;
    bool deny;
    bool timedated;                    /* timedate1 is on the bus too */
    bool ntp_synchronized;             /* what it says */
    char *const *on_restart;           /* argv run after a granted restart, or NULL */
    bool restart_pending;
    unsigned restarts;
    char last_unit[STATE_MAX], last_mode[STATE_MAX];
    atomic_bool stop;
    atomic_bool ready;                 /* the name is ours */
};

static void set_unit(struct fake_unit *u, const char *load, const char *active, const char *sub)
{
    snprintf(u->load, sizeof u->load, "%s", load);
    snprintf(u->active, sizeof u->active, "%s", active);
    snprintf(u->sub, sizeof u->sub, "%s", sub);
}

static void fake_healthy(struct fake_systemd *f)
{
    pthread_mutex_lock(&f->lock);
    set_unit(&f->service, "loaded", "active", "running");
    set_unit(&f->socket, "loaded", "active", "running");
    f->deny = false;
    pthread_mutex_unlock(&f->lock);
}

static int get_state(sd_bus *bus, const char *path, const char *iface, const char *property,
                     sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
    struct fake_systemd *f = userdata;
    const struct fake_unit *u = strcmp(path, SERVICE_PATH) == 0 ? &f->service : &f->socket;
    const char *value = strcmp(property, "LoadState") == 0     ? u->load
                        : strcmp(property, "ActiveState") == 0 ? u->active
                                                               : u->sub;
    int r;

    (void)bus;
    (void)iface;
    (void)error;
    pthread_mutex_lock(&f->lock);
    r = sd_bus_message_append(reply, "s", value);
    pthread_mutex_unlock(&f->lock);
    return r;
}

static int load_unit(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    const char *name;
    int r = sd_bus_message_read(m, "s", &name);

    (void)userdata;
    if (r < 0)
        return r;
    if (strcmp(name, ENV_PCSCD_SERVICE) == 0)
        return sd_bus_reply_method_return(m, "o", SERVICE_PATH);
    if (strcmp(name, ENV_PCSCD_SOCKET) == 0)
        return sd_bus_reply_method_return(m, "o", SOCKET_PATH);
    return sd_bus_error_setf(error, "org.freedesktop.systemd1.NoSuchUnit", "Unit %s not known.",
                             name);
}

static int restart_unit(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    struct fake_systemd *f = userdata;
    const char *name, *mode;
    bool deny;
    int r = sd_bus_message_read(m, "ss", &name, &mode);

    if (r < 0)
        return r;
    pthread_mutex_lock(&f->lock);
    deny = f->deny;
    if (!deny) {
        f->restarts++;
        snprintf(f->last_unit, sizeof f->last_unit, "%s", name);
        snprintf(f->last_mode, sizeof f->last_mode, "%s", mode);
        set_unit(&f->service, "loaded", "active", "running");
        f->restart_pending = f->on_restart != NULL;
    }
    pthread_mutex_unlock(&f->lock);
    if (deny)
        return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED,
                                "Access denied by the test's polkit");
    return sd_bus_reply_method_return(m, "o", JOB_PATH);
}

static int get_ntp(sd_bus *bus, const char *path, const char *iface, const char *property,
                   sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
    struct fake_systemd *f = userdata;
    int synchronized, r;

    (void)bus;
    (void)path;
    (void)iface;
    (void)property;
    (void)error;
    pthread_mutex_lock(&f->lock);
    synchronized = f->ntp_synchronized;
    r = sd_bus_message_append(reply, "b", synchronized);
    pthread_mutex_unlock(&f->lock);
    return r;
}

static const sd_bus_vtable manager_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("LoadUnit", "s", "o", load_unit, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("RestartUnit", "ss", "o", restart_unit, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END
};

static const sd_bus_vtable unit_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("LoadState", "s", get_state, 0, 0),
    SD_BUS_PROPERTY("ActiveState", "s", get_state, 0, 0),
    SD_BUS_PROPERTY("SubState", "s", get_state, 0, 0),
    SD_BUS_VTABLE_END
};

static const sd_bus_vtable timedate_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY(ENV_TIMEDATED_NTP_SYNC, "b", get_ntp, 0, 0),
    SD_BUS_VTABLE_END
};

/* Runs the stand-in for the restart once the caller has had its answer. */
static void run_pending_restart(struct fake_systemd *f, sd_bus *bus)
{
    struct env_spawn_result res;
    bool pending;

    pthread_mutex_lock(&f->lock);
    pending = f->restart_pending;
    f->restart_pending = false;
    pthread_mutex_unlock(&f->lock);
    if (!pending)
        return;
    sd_bus_flush(bus);
    env_spawn_run(f->on_restart, HOOK_TIMEOUT_MS, &res);
    fprintf(stderr, "fake systemd: restart stand-in ended (%d, %d)\n", (int)res.how, res.status);
}

static int fake_serve(struct fake_systemd *f)
{
    sd_bus *bus = NULL;
    int r = sd_bus_open_system(&bus);

    if (r >= 0)
        r = sd_bus_add_object_vtable(bus, NULL, MANAGER_PATH, MANAGER_IFACE, manager_vtable, f);
    if (r >= 0)
        r = sd_bus_add_object_vtable(bus, NULL, SERVICE_PATH, UNIT_IFACE, unit_vtable, f);
    if (r >= 0)
        r = sd_bus_add_object_vtable(bus, NULL, SOCKET_PATH, UNIT_IFACE, unit_vtable, f);
    if (r >= 0 && f->timedated)
        r = sd_bus_add_object_vtable(bus, NULL, ENV_TIMEDATED_PATH, ENV_TIMEDATED_IFACE,
                                     timedate_vtable, f);
    if (r >= 0 && f->timedated)
        r = sd_bus_request_name(bus, ENV_TIMEDATED_NAME, 0);
    /* systemd1 last: once it is on the bus, so is the rest. */
    if (r >= 0)
        r = sd_bus_request_name(bus, SYSTEMD_NAME, 0);
    if (r < 0) {
        fprintf(stderr, "fake systemd: %s\n", strerror(-r));
        sd_bus_flush_close_unref(bus);
        return r;
    }
    atomic_store(&f->ready, true);
    while (!atomic_load(&f->stop)) {
        while ((r = sd_bus_process(bus, NULL)) > 0)
            ;
        if (r < 0)
            break;
        run_pending_restart(f, bus);
        sd_bus_wait(bus, WAIT_US);
    }
    sd_bus_flush_close_unref(bus);
    return r < 0 ? r : 0;
}

/* --- serve mode ---------------------------------------------------------- */

static struct fake_systemd *served;

static void on_signal(int sig)
{
    (void)sig;
    if (served)
        atomic_store(&served->stop, true);
}

static int serve_main(int argc, char **argv)
{
    static struct fake_systemd f = { .lock = PTHREAD_MUTEX_INITIALIZER };
    int i;

    fake_healthy(&f);
    for (i = 2; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--deny") == 0)
            f.deny = true;
        else if (strcmp(argv[i], "--service-state") == 0 && i + 1 < argc) {
            const char *state = argv[++i];

            set_unit(&f.service, "loaded", state, state);
        } else if (strcmp(argv[i], "--timedated") == 0 && i + 1 < argc) {
            f.timedated = true;
            f.ntp_synchronized = strcmp(argv[++i], "synchronized") == 0;
        }
    }
    if (i + 1 < argc)
        f.on_restart = &argv[i + 1];
    served = &f;
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    return fake_serve(&f) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* --- test mode: a private dbus-daemon ------------------------------------- */

static char dir[] = "/tmp/ukeyd-test-systemd.XXXXXX";
static char bus_path[PATH_TEXT_MAX], conf_path[PATH_TEXT_MAX];

static int write_bus_config(void)
{
    FILE *c = fopen(conf_path, "w");

    if (!c)
        return -1;
    fprintf(c, "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
               " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
               "<busconfig>\n  <listen>unix:path=%s</listen>\n  <auth>EXTERNAL</auth>\n"
               "  <policy context=\"default\">\n    <allow send_destination=\"*\"/>\n"
               "    <allow receive_sender=\"*\"/>\n    <allow own=\"*\"/>\n"
               "  </policy>\n</busconfig>\n",
            bus_path);
    return fclose(c);
}

/* Whether the bus accepts connections: its socket file appears when bound,
 * a moment before it listens. */
static bool bus_listens(void)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t len = strlen(bus_path);
    int fd;
    bool ok;

    if (len >= sizeof sa.sun_path)
        return false;
    memcpy(sa.sun_path, bus_path, len + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static pid_t start_bus(void)
{
    char config_arg[PATH_TEXT_MAX + 16];
    char *argv[] = { "dbus-daemon", config_arg, "--nofork", "--nopidfile", NULL };
    pid_t pid;

    snprintf(config_arg, sizeof config_arg, "--config-file=%s", conf_path);
    if (posix_spawnp(&pid, "dbus-daemon", NULL, NULL, argv, NULL) != 0)
        return -1;
    for (int i = 0; i < START_TRIES; i++) {
        if (bus_listens())
            return pid;
        usleep(START_STEP_US);
    }
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    return -1;
}

static void *fake_thread(void *arg)
{
    fake_serve(arg);
    return NULL;
}

static bool start_fake(struct fake_systemd *f, pthread_t *t)
{
    atomic_store(&f->stop, false);
    atomic_store(&f->ready, false);
    if (pthread_create(t, NULL, fake_thread, f) != 0)
        return false;
    for (int i = 0; i < START_TRIES && !atomic_load(&f->ready); i++)
        usleep(START_STEP_US);
    if (atomic_load(&f->ready))
        return true;
    atomic_store(&f->stop, true);
    pthread_join(*t, NULL);
    return false;
}

static void stop_fake(struct fake_systemd *f, pthread_t t)
{
    atomic_store(&f->stop, true);
    pthread_join(t, NULL);
}

static enum env_state systemd_check_state(const struct env_systemd *sd, enum env_msg *found)
{
    struct env_report r = { 0 };
    enum env_state s;

    env_systemd_check(&r, sd, TIMEOUT_MS);
    s = r.checks[0]->state;
    *found = r.checks[0]->found.msg;
    env_report_free(&r);
    return s;
}

static void test_query(struct fake_systemd *f)
{
    struct env_systemd sd;
    enum env_msg found;

    env_systemd_query(TIMEOUT_MS, &sd);
    tap_ok(sd.systemd && sd.queried, "systemd answers (%s)", sd.error);
    TAP_EQ_STR(sd.service.active_state, "active", "pcscd.service active");
    TAP_EQ_STR(sd.socket.sub_state, "running", "pcscd.socket running");
    TAP_EQ_INT(systemd_check_state(&sd, &found), ENV_OK, "healthy units: ok");
    tap_ok(found == ENV_SYSTEMD_STATE, "found names the units' states");

    pthread_mutex_lock(&f->lock);
    set_unit(&f->service, "loaded", "failed", "failed");
    pthread_mutex_unlock(&f->lock);
    env_systemd_query(TIMEOUT_MS, &sd);
    tap_ok(env_systemd_pcscd_failed(&sd), "pcscd.service failed is seen");
    TAP_EQ_INT(systemd_check_state(&sd, &found), ENV_WARN, "a failed unit: warn");
    tap_ok(found == ENV_SYSTEMD_FAILED, "found says it failed");

    pthread_mutex_lock(&f->lock);
    set_unit(&f->service, "not-found", "inactive", "dead");
    set_unit(&f->socket, "not-found", "inactive", "dead");
    pthread_mutex_unlock(&f->lock);
    env_systemd_query(TIMEOUT_MS, &sd);
    tap_ok(!env_systemd_has_pcscd(&sd), "no pcscd unit is seen");
    TAP_EQ_INT(systemd_check_state(&sd, &found), ENV_WARN, "pcscd not installed: warn");
    tap_ok(found == ENV_SYSTEMD_MISSING, "found says it is missing");
    fake_healthy(f);
}

static void test_restart(struct fake_systemd *f)
{
    char error[ENV_BUS_ERROR_MAX];

    pthread_mutex_lock(&f->lock);
    set_unit(&f->service, "loaded", "failed", "failed");
    pthread_mutex_unlock(&f->lock);
    TAP_EQ_INT(env_systemd_restart_pcscd(TIMEOUT_MS, error, sizeof error), ENV_RESTART_DONE,
               "RestartUnit granted: done");
    pthread_mutex_lock(&f->lock);
    TAP_EQ_INT(f->restarts, 1, "one restart asked");
    TAP_EQ_STR(f->last_unit, "pcscd.service", "of pcscd.service");
    TAP_EQ_STR(f->last_mode, "replace", "in mode replace");
    f->deny = true;
    pthread_mutex_unlock(&f->lock);
    TAP_EQ_INT(env_systemd_restart_pcscd(TIMEOUT_MS, error, sizeof error), ENV_RESTART_DENIED,
               "RestartUnit refused: denied");
    tap_ok(strstr(error, "Access denied") != NULL, "with the bus error's words (%s)", error);
    fake_healthy(f);
}

static void set_ntp(struct fake_systemd *f, bool synchronized)
{
    pthread_mutex_lock(&f->lock);
    f->ntp_synchronized = synchronized;
    pthread_mutex_unlock(&f->lock);
}

static void test_timedated(struct fake_systemd *f)
{
    struct env_clock_ntp ntp;

    set_ntp(f, true);
    tap_ok(env_systemd_ntp_synchronized(TIMEOUT_MS) == ENV_NTP_SYNCHRONIZED,
           "timedated says NTPSynchronized true: synchronised");
    env_clock_ntp(-1, TIMEOUT_MS, &ntp);
    tap_ok(ntp.state == ENV_NTP_SYNCHRONIZED, "adjtimex refused: env_clock_ntp asks timedated");
    TAP_EQ_STR(ntp.source ? ntp.source : "(null)", "timedated", "... and says so");
    set_ntp(f, false);
    tap_ok(env_systemd_ntp_synchronized(TIMEOUT_MS) == ENV_NTP_UNSYNCHRONIZED,
           "timedated says NTPSynchronized false: not synchronised");
    env_clock_ntp(-1, TIMEOUT_MS, &ntp);
    tap_ok(ntp.state == ENV_NTP_UNSYNCHRONIZED && ntp.source != NULL,
           "... env_clock_ntp too, from timedated");
    env_clock_ntp(TIME_OK, TIMEOUT_MS, &ntp);
    tap_ok(ntp.state == ENV_NTP_SYNCHRONIZED,
           "adjtimex answering: the kernel's word, not timedated's");
    TAP_EQ_STR(ntp.source ? ntp.source : "(null)", "kernel", "... and says so");
}

/* systemd answers, timedated is not on the bus (not installed). */
static void test_without_timedated(void)
{
    struct env_systemd sd;
    struct env_clock_ntp ntp;

    env_systemd_query(TIMEOUT_MS, &sd);
    tap_ok(sd.systemd && sd.queried, "systemd without timedated answers (%s)", sd.error);
    tap_ok(env_systemd_ntp_synchronized(TIMEOUT_MS) == ENV_NTP_UNKNOWN,
           "... and NTPSynchronized is unknown");
    env_clock_ntp(-1, TIMEOUT_MS, &ntp);
    tap_ok(ntp.state == ENV_NTP_UNKNOWN && ntp.source == NULL,
           "... env_clock_ntp: unknown, from nowhere");
}

static void test_without_systemd(void)
{
    struct env_systemd sd;
    char error[ENV_BUS_ERROR_MAX];
    enum env_msg found;

    env_systemd_query(TIMEOUT_MS, &sd);
    tap_ok(!sd.systemd, "a bus without systemd on it: no systemd (%s)", sd.error);
    TAP_EQ_INT(systemd_check_state(&sd, &found), ENV_OK, "... is ok, with a note");
    TAP_EQ_INT(env_systemd_restart_pcscd(TIMEOUT_MS, error, sizeof error),
               ENV_RESTART_NO_SYSTEMD, "... and RestartUnit finds no systemd");
    tap_ok(env_systemd_ntp_synchronized(TIMEOUT_MS) == ENV_NTP_UNKNOWN,
           "... and NTPSynchronized is unknown");

    setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/ukeyd-test-bus", 1);
    env_systemd_query(TIMEOUT_MS, &sd);
    tap_ok(!sd.systemd && strncmp(sd.error, "no system bus", strlen("no system bus")) == 0,
           "no bus at all: no systemd (%s)", sd.error);
    TAP_EQ_INT(systemd_check_state(&sd, &found), ENV_OK, "... is ok, with a note");
    tap_ok(found == ENV_SYSTEMD_NO_BUS, "... the note says there is no system bus");
    tap_ok(env_systemd_ntp_synchronized(TIMEOUT_MS) == ENV_NTP_UNKNOWN,
           "... NTPSynchronized is unknown");
}

static void cleanup_dir(void)
{
    unlink(bus_path);
    unlink(conf_path);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    static struct fake_systemd f = { .lock = PTHREAD_MUTEX_INITIALIZER };
    char address[PATH_TEXT_MAX + 16];
    pthread_t t;
    pid_t bus;

    if (argc > 1 && strcmp(argv[1], "--serve") == 0)
        return serve_main(argc, argv);
    if (!mkdtemp(dir))
        tap_skip_all("mkdtemp failed");
    snprintf(bus_path, sizeof bus_path, "%s/bus", dir);
    snprintf(conf_path, sizeof conf_path, "%s/bus.conf", dir);
    if (write_bus_config() != 0 || (bus = start_bus()) < 0) {
        cleanup_dir();
        tap_skip_all("could not start a private dbus-daemon (is dbus-daemon installed?)");
    }
    snprintf(address, sizeof address, "unix:path=%s", bus_path);
    setenv("DBUS_SYSTEM_BUS_ADDRESS", address, 1);
    fake_healthy(&f);
    f.timedated = true;
    if (tap_ok(start_fake(&f, &t), "the fake systemd owns %s and %s", SYSTEMD_NAME,
               ENV_TIMEDATED_NAME)) {
        test_query(&f);
        test_restart(&f);
        test_timedated(&f);
        stop_fake(&f, t);
    }
    f.timedated = false;
    if (tap_ok(start_fake(&f, &t), "the fake systemd, without timedated, owns %s",
               SYSTEMD_NAME)) {
        test_without_timedated();
        stop_fake(&f, t);
    }
    test_without_systemd();
    kill(bus, SIGTERM);
    waitpid(bus, NULL, 0);
    cleanup_dir();
    return tap_done();
}
