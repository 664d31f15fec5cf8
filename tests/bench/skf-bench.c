/* SPDX-License-Identifier: MIT */
/*
 * skf-bench — what the SKF helper process costs, for `make bench`: the same
 * SKF calls made through the helper (token/skf/host.c supervising
 * ukeyd-skf-host) and on the library loaded in this process (token/skf/lib.c,
 * the very code the helper runs), so the difference is the process boundary:
 *
 *   1. a cold read (load the library or start the helper, then list the
 *      device, its information, applications, containers, both certificates
 *      of each container, the user PIN's tries and the seal count, every
 *      file's first bytes; through the helper as ukeyd does it, the list and
 *      one READ_DEVICE), each round with the
 *      library loaded afresh and a new helper, and the median of warm reads;
 *   2. a PIN verify (with the secure state cleared afterwards, as ukeyd
 *      does), median of rounds; warm reads and verifies run twice, first with
 *      nobody waiting for device events, then with both sides waiting (as
 *      ukeyd runs: the virtual library's waiter wakes at its own file writes);
 *   3. memory: the helper's RSS and PSS (/proc/PID/smaps), less the mappings
 *      of the library and of what it pulled in (the files that appeared in
 *      this process's own maps when it loaded the library), beside what the
 *      library costs in this process;
 *   4. plug to event: from `vskf plug|unplug` to SKF_WaitForDevEvent
 *      returning in a thread of this process (the library's own report) and
 *      to the supervisor's event callback.
 *
 *   skf-bench --helper PATH --lib PATH --vskf PATH --dir VSKF_DIR --device NAME
 *             --pin PIN [--rounds N]
 *
 * VSKF_DIR must hold the device, plugged; the PIN is the demo key's (it
 * would show in ps: never a real one). Prints figures and ratios, never a
 * pass or a fail on them; exits non-zero only when a call fails outright.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "token/skf/host.h"
#include "token/skf/lib.h"
#include "token/skf/seal.h"

#define ROUNDS_DEFAULT   20
#define ROUNDS_MAX       200
#define EVENT_WAIT_MS    10000
#define SETTLE_MS        50        /* lets the waiters go back into SKF_WaitForDevEvent */
#define MS_PER_SEC       1000
#define NS_PER_MS        1000000L
#define NS_PER_SEC       1000000000L
#define KIB_PER_MIB      1024.0
#define OWN_TARGET_KIB   2048      /* the target for the helper's own memory */
#define TIME_TARGET      1.2       /* the target, helper over in-process */
#define EVENT_TARGET_MS  150.0     /* the target, supervisor after the library */
#define PATHS_MAX        64
#define LINE_MAX_BYTES   4096
#define ERR_TEXT         256
#define DEV_NAME_BYTES   256
#define US_PER_MS        1000
/* list devices, device info, list applications, list containers, container
 * type, two certificates, PIN info, list files, and one file read for each
 * of the demo key's three files (two seals and a certificate,
 * docs/virtual-skf.md); the demo key has one of the rest */
#define READ_CALLS       12u
/* through the helper, as ukeyd reads: the device list, then READ_DEVICE */
#define READ_ROUND_TRIPS 2u

static double now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * MS_PER_SEC + (double)t.tv_nsec / NS_PER_MS;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, by_value);
    return n ? v[n / 2] : 0;
}

static void die(const char *what, skf_err e)
{
    fprintf(stderr, "skf-bench: %s: %s\n", what, skf_err_name(e));
    exit(1);
}

/* --- the two ways to the library ------------------------------------------ */

struct target {
    struct skf_lib lib;          /* in process */
    struct skf_host *host;       /* through the helper */
    const char *device;
    const char *pin;
};

/* The seals among the application's files, as the helper counts them. */
static unsigned count_seals_in_process(struct target *t, const char *app)
{
    static struct skf_file_heads heads;
    unsigned seals = 0;
    skf_err e = skf_lib_file_heads(&t->lib, t->device, app, &heads, NULL);

    if (e != SKF_OK)
        die("in process: file heads", e);
    for (size_t i = 0; i < heads.n; i++)
        seals += skf_seal_recognised(heads.head[i], heads.len[i]);
    return seals;
}

/* One read as ukeyd's provider makes it of a token it has not seen:
 * returns the number of certificate bytes read, or dies. */
static size_t read_token_in_process(struct target *t)
{
    struct skf_names devs = { 0 }, apps = { 0 }, cons = { 0 };
    struct skf_devinfo info;
    struct skf_pin_info pin;
    size_t total = 0;
    skf_err e;

    if ((e = skf_lib_list_devices(&t->lib, &devs, NULL)) != SKF_OK)
        die("in process: list devices", e);
    if ((e = skf_lib_device_info(&t->lib, t->device, &info, NULL)) != SKF_OK)
        die("in process: device info", e);
    if ((e = skf_lib_list_apps(&t->lib, t->device, &apps, NULL)) != SKF_OK)
        die("in process: list applications", e);
    for (size_t a = 0; a < apps.n; a++) {
        if ((e = skf_lib_list_containers(&t->lib, t->device, apps.name[a], &cons, NULL)) != SKF_OK)
            die("in process: list containers", e);
        for (size_t c = 0; c < cons.n; c++) {
            uint32_t type;

            if ((e = skf_lib_container_type(&t->lib, t->device, apps.name[a], cons.name[c], &type,
                                            NULL)) != SKF_OK)
                die("in process: container type", e);
            for (int sign = 0; sign <= 1; sign++) {
                uint8_t *der = NULL;
                size_t len = 0;

                e = skf_lib_export_cert(&t->lib, t->device, apps.name[a], cons.name[c], sign, &der,
                                        &len, NULL);
                if (e != SKF_OK && e != SKF_E_CERT_NOT_FOUND)
                    die("in process: export certificate", e);
                total += len;
                free(der);
            }
        }
        skf_names_free(&cons);
        if ((e = skf_lib_pin_info(&t->lib, t->device, apps.name[a], SKF_PIN_USER, &pin, NULL)) != SKF_OK)
            die("in process: PIN info", e);
        (void)count_seals_in_process(t, apps.name[a]);
    }
    skf_names_free(&apps);
    skf_names_free(&devs);
    return total;
}

/* The same read as ukeyd makes it through the helper (token/skf/provider.c
 * publish_device): the device list, then the whole device in one READ_DEVICE. */
static size_t read_token_through_helper(struct target *t)
{
    struct skf_name_list devs = { 0 };
    struct skf_device_read r;
    size_t total = 0;
    skf_err e;

    if ((e = skf_host_list_devices(t->host, &devs)) != SKF_OK)
        die("helper: list devices", e);
    if ((e = skf_host_read_device(t->host, t->device, &r)) != SKF_OK)
        die("helper: read device", e);
    if (!r.seals_counted)
        die("helper: read device without its seals", SKF_E_MALFORMED);
    for (size_t i = 0; i < r.n_certs; i++)
        total += r.certs[i].len;
    skf_device_read_free(&r);
    skf_name_list_free(&devs);
    return total;
}

/* The application the PIN is verified in: the device's first. */
static char *first_app(struct target *t)
{
    struct skf_names apps = { 0 };
    char *name;
    skf_err e;

    if ((e = skf_lib_list_apps(&t->lib, t->device, &apps, NULL)) != SKF_OK || apps.n == 0)
        die("in process: list applications", e);
    name = strdup(apps.name[0]);
    skf_names_free(&apps);
    if (!name)
        die("first application", SKF_E_NO_MEMORY);
    return name;
}

static void verify_in_process(struct target *t, const char *app)
{
    uint32_t left;
    skf_err e = skf_lib_verify_pin(&t->lib, t->device, app, SKF_PIN_USER, t->pin, &left, NULL);

    if (e != SKF_OK)
        die("in process: verify PIN", e);
}

static void verify_through_helper(struct target *t, const char *app)
{
    uint32_t left;
    skf_err e = skf_host_verify_pin(t->host, t->device, app, SKF_PIN_USER, t->pin, &left);

    if (e != SKF_OK)
        die("helper: verify PIN", e);
}

/* --- memory ----------------------------------------------------------------- */

struct paths {
    size_t n;
    char *path[PATHS_MAX];
};

static bool paths_has(const struct paths *p, const char *path)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->path[i], path) == 0)
            return true;
    return false;
}

static void paths_free(struct paths *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->path[i]);
    p->n = 0;
}

/* The path of a /proc/PID/maps or smaps mapping line, or NULL (anonymous,
 * or a field line of smaps). */
static const char *mapping_path(char *line)
{
    char *slash;
    unsigned long lo, hi;

    if (sscanf(line, "%lx-%lx ", &lo, &hi) != 2 || !(slash = strchr(line, '/')))
        return NULL;
    slash[strcspn(slash, "\n")] = '\0';
    return slash;
}

/* The files this process maps now. */
static void mapped_files(struct paths *out)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[LINE_MAX_BYTES];

    out->n = 0;
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        const char *p = mapping_path(line);

        if (p && !paths_has(out, p) && out->n < PATHS_MAX)
            out->path[out->n++] = strdup(p);
    }
    fclose(f);
}

struct memory {
    long rss_kib, pss_kib;              /* every mapping */
    long lib_rss_kib, lib_pss_kib;      /* the library's files */
    long anon_kib;                      /* anonymous and heap (Anonymous:) */
};

/* Sums /proc/PID/smaps, setting apart the mappings of the files in `lib`. */
static void measure(pid_t pid, const struct paths *lib, struct memory *m)
{
    char name[64], line[LINE_MAX_BYTES];
    bool in_lib = false;
    FILE *f;

    memset(m, 0, sizeof *m);
    snprintf(name, sizeof name, "/proc/%d/smaps", (int)pid);
    if (!(f = fopen(name, "r")))
        return;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        long kib;

        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
            const char *p = mapping_path(line);

            in_lib = p && paths_has(lib, p);
        } else if (sscanf(line, "Rss: %ld kB", &kib) == 1) {
            m->rss_kib += kib;
            if (in_lib)
                m->lib_rss_kib += kib;
        } else if (sscanf(line, "Pss: %ld kB", &kib) == 1) {
            m->pss_kib += kib;
            if (in_lib)
                m->lib_pss_kib += kib;
        } else if (sscanf(line, "Anonymous: %ld kB", &kib) == 1) {
            m->anon_kib += kib;
        }
    }
    fclose(f);
}

static double mib(long kib)
{
    return (double)kib / KIB_PER_MIB;
}

/* --- plug to event ------------------------------------------------------------ */

struct arrivals {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    const char *device;
    double lib_ms[3], host_ms[3];     /* by SKF_DEV_EVENT_* / SKF_HOST_EVENT_*; 0: not yet */
};

static struct arrivals arrivals = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .cond = PTHREAD_COND_INITIALIZER,
};

static void arrived(double *slot)
{
    double t = now_ms();

    pthread_mutex_lock(&arrivals.lock);
    if (*slot == 0)
        *slot = t;
    pthread_cond_broadcast(&arrivals.cond);
    pthread_mutex_unlock(&arrivals.lock);
}

static void on_host_event(void *userdata, const struct skf_host_event *ev)
{
    (void)userdata;
    if (ev->kind != SKF_HOST_EVENT_INSERTED && ev->kind != SKF_HOST_EVENT_REMOVED)
        return;
    if (ev->device && strcmp(ev->device, arrivals.device) == 0)
        arrived(&arrivals.host_ms[ev->kind]);
}

/* SKF_WaitForDevEvent in this process, until cancelled: the moment the
 * library itself reports the event. */
static void *lib_waiter(void *arg)
{
    struct skf_lib *lib = arg;

    for (;;) {
        char name[DEV_NAME_BYTES] = "";
        skf_slot len = sizeof name, event = 0;
        skf_rv rv = lib->fn.wait_for_dev_event(name, &len, &event);

        if (rv != SAR_OK)
            return NULL;
        if ((event == SKF_DEV_EVENT_INSERTED || event == SKF_DEV_EVENT_REMOVED) &&
            strncmp(name, arrivals.device, sizeof name) == 0)
            arrived(&arrivals.lib_ms[event]);
    }
}

/* Runs `vskf plug|unplug DIR NAME`; returns the time just before. */
static double run_vskf(const char *vskf, const char *verb, const char *dir, const char *dev)
{
    double t0 = now_ms();
    pid_t pid = fork();
    int status;

    if (pid == 0) {
        execl(vskf, vskf, verb, dir, dev, (char *)NULL);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "skf-bench: vskf %s failed\n", verb);
        exit(1);
    }
    return t0;
}

/* Waits until both the library and the supervisor have reported `kind`. */
static bool await_both(unsigned kind)
{
    struct timespec deadline;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += EVENT_WAIT_MS / MS_PER_SEC;
    pthread_mutex_lock(&arrivals.lock);
    while (arrivals.lib_ms[kind] == 0 || arrivals.host_ms[kind] == 0)
        if (pthread_cond_timedwait(&arrivals.cond, &arrivals.lock, &deadline) == ETIMEDOUT)
            break;
    bool both = arrivals.lib_ms[kind] != 0 && arrivals.host_ms[kind] != 0;
    pthread_mutex_unlock(&arrivals.lock);
    return both;
}

static void clear_arrivals(void)
{
    pthread_mutex_lock(&arrivals.lock);
    memset(arrivals.lib_ms, 0, sizeof arrivals.lib_ms);
    memset(arrivals.host_ms, 0, sizeof arrivals.host_ms);
    pthread_mutex_unlock(&arrivals.lock);
}

static void pause_ms(long ms)
{
    struct timespec t = { .tv_sec = ms / MS_PER_SEC, .tv_nsec = (ms % MS_PER_SEC) * NS_PER_MS };

    nanosleep(&t, NULL);
}

struct plug_figures {
    double lib[ROUNDS_MAX], host[ROUNDS_MAX], gap[ROUNDS_MAX];
    size_t n;
};

static void plug_round(const char *vskf, const char *verb, unsigned kind, const char *dir,
                       const char *dev, struct plug_figures *f)
{
    clear_arrivals();
    double t0 = run_vskf(vskf, verb, dir, dev);

    if (!await_both(kind)) {
        fprintf(stderr, "skf-bench: no %s event within %d ms (library %s, supervisor %s)\n", verb,
                EVENT_WAIT_MS, arrivals.lib_ms[kind] ? "yes" : "no",
                arrivals.host_ms[kind] ? "yes" : "no");
        exit(1);
    }
    f->lib[f->n] = arrivals.lib_ms[kind] - t0;
    f->host[f->n] = arrivals.host_ms[kind] - t0;
    f->gap[f->n] = arrivals.host_ms[kind] - arrivals.lib_ms[kind];
    f->n++;
    pause_ms(SETTLE_MS);
}

static void print_plug(const char *what, struct plug_figures *f)
{
    double gap_max = 0;

    for (size_t i = 0; i < f->n; i++)
        if (f->gap[i] > gap_max)
            gap_max = f->gap[i];
    double lib = median(f->lib, f->n), host = median(f->host, f->n), gap = median(f->gap, f->n);
    printf("%-9s %14.1f %18.1f %16.1f %12.1f   target <= %.0f ms after the library\n", what, lib,
           host, gap, gap_max, EVENT_TARGET_MS);
}

/* --- main ----------------------------------------------------------------------- */

struct args {
    const char *helper, *lib, *vskf, *dir, *device, *pin;
    unsigned rounds;
};

static void parse(int argc, char **argv, struct args *a)
{
    a->rounds = ROUNDS_DEFAULT;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];

        if (strcmp(k, "--helper") == 0)
            a->helper = v;
        else if (strcmp(k, "--lib") == 0)
            a->lib = v;
        else if (strcmp(k, "--vskf") == 0)
            a->vskf = v;
        else if (strcmp(k, "--dir") == 0)
            a->dir = v;
        else if (strcmp(k, "--device") == 0)
            a->device = v;
        else if (strcmp(k, "--pin") == 0)
            a->pin = v;
        else if (strcmp(k, "--rounds") == 0)
            a->rounds = (unsigned)strtoul(v, NULL, 10);
    }
    if (!a->helper || !a->lib || !a->vskf || !a->dir || !a->device || !a->pin || a->rounds == 0 ||
        a->rounds > ROUNDS_MAX) {
        fprintf(stderr, "usage: skf-bench --helper PATH --lib PATH --vskf PATH --dir VSKF_DIR "
                        "--device NAME --pin PIN [--rounds 1..%d]\n", ROUNDS_MAX);
        exit(2);
    }
}

static double ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

static void print_pair(const char *what, double helper, double in_process)
{
    printf("%-40s %12.3f %12.3f %8.2f   target <= %.1fx\n", what, helper, in_process,
           ratio(helper, in_process), TIME_TARGET);
}

struct warm {
    double lib_read[ROUNDS_MAX], host_read[ROUNDS_MAX], lib_pin[ROUNDS_MAX], host_pin[ROUNDS_MAX];
};

/* Warm reads and PIN verifies, taking turns so a busy moment hits both. */
static void warm_rounds(struct target *t, const char *app, unsigned rounds, struct warm *w)
{
    for (unsigned r = 0; r < rounds; r++) {
        double t0 = now_ms();
        read_token_in_process(t);
        w->lib_read[r] = now_ms() - t0;
        t0 = now_ms();
        read_token_through_helper(t);
        w->host_read[r] = now_ms() - t0;
        t0 = now_ms();
        verify_in_process(t, app);
        w->lib_pin[r] = now_ms() - t0;
        t0 = now_ms();
        verify_through_helper(t, app);
        w->host_pin[r] = now_ms() - t0;
    }
}

static void print_warm(const char *how, struct warm *w, unsigned rounds)
{
    char what[64];
    double host = median(w->host_read, rounds), lib = median(w->lib_read, rounds);

    snprintf(what, sizeof what, "warm read, %s", how);
    print_pair(what, host, lib);
    snprintf(what, sizeof what, "PIN verify, %s", how);
    print_pair(what, median(w->host_pin, rounds), median(w->lib_pin, rounds));
    printf("  (a read is %u library calls, %u round trips to the helper: it adds %.0f us a round trip)\n",
           READ_CALLS, READ_ROUND_TRIPS, (host - lib) * US_PER_MS / READ_ROUND_TRIPS);
}

int main(int argc, char **argv)
{
    static struct warm calm, watching;
    static double lib_load[ROUNDS_MAX], lib_cold[ROUNDS_MAX], host_start[ROUNDS_MAX], host_cold[ROUNDS_MAX];
    static double lib_first[ROUNDS_MAX], host_first[ROUNDS_MAX];
    static struct plug_figures removed, inserted;
    struct target t = { 0 };
    struct paths before = { 0 }, after = { 0 }, lib_files = { 0 };
    struct memory self0, self1, helper_mem;
    char why[ERR_TEXT];
    struct args a = { 0 };
    pthread_t waiter;
    skf_err e;

    parse(argc, argv, &a);
    setenv("VSKF_DIR", a.dir, 1);
    t.device = a.device;
    t.pin = a.pin;
    arrivals.device = a.device;

    /* 1. cold reads: the library loaded here, the helper started; the first
     * load also says which files are the library's */
    mapped_files(&before);
    measure(getpid(), &before, &self0);
    size_t cert_bytes = 0;
    struct skf_host_options o = { .helper_path = a.helper, .library_path = a.lib };
    for (unsigned r = 0; r < a.rounds; r++) {
        if (r > 0) {
            skf_host_stop(t.host);
            skf_lib_close(&t.lib);
        }
        double t0 = now_ms();
        if (skf_lib_open(&t.lib, a.lib, why, sizeof why) != SKF_OK) {
            fprintf(stderr, "skf-bench: %s: %s\n", a.lib, why);
            return 1;
        }
        skf_lib_set_profile(&t.lib, skf_profile_standard());
        lib_load[r] = now_ms() - t0;
        cert_bytes = read_token_in_process(&t);
        lib_cold[r] = now_ms() - t0;
        if (r == 0) {
            mapped_files(&after);
            for (size_t i = 0; i < after.n; i++)
                if (!paths_has(&before, after.path[i]) && lib_files.n < PATHS_MAX)
                    lib_files.path[lib_files.n++] = strdup(after.path[i]);
            measure(getpid(), &lib_files, &self1);
        }
        t0 = now_ms();
        if ((e = skf_host_start(&o, &t.host, why, sizeof why)) != SKF_OK) {
            fprintf(stderr, "skf-bench: helper: %s: %s\n", skf_err_name(e), why);
            return 1;
        }
        host_start[r] = now_ms() - t0;
        read_token_through_helper(&t);
        host_cold[r] = now_ms() - t0;
        host_first[r] = host_cold[r] - host_start[r];
        lib_first[r] = lib_cold[r] - lib_load[r];
    }

    /* warm reads and PIN verifies: first with nobody waiting for device
     * events, then with both sides waiting, as ukeyd runs */
    char *app = first_app(&t);
    warm_rounds(&t, app, a.rounds, &calm);
    skf_host_stop(t.host);
    o.on_event = on_host_event;
    if ((e = skf_host_start(&o, &t.host, why, sizeof why)) != SKF_OK) {
        fprintf(stderr, "skf-bench: helper: %s: %s\n", skf_err_name(e), why);
        return 1;
    }
    if (!t.lib.fn.wait_for_dev_event || !t.lib.fn.cancel_wait_for_dev_event ||
        pthread_create(&waiter, NULL, lib_waiter, &t.lib) != 0) {
        fprintf(stderr, "skf-bench: the library cannot wait for device events\n");
        return 1;
    }
    pause_ms(SETTLE_MS);
    warm_rounds(&t, app, a.rounds, &watching);
    free(app);

    printf("SKF token %s: %zu certificate bytes a read; %u rounds, medians\n", a.device, cert_bytes,
           a.rounds);
    printf("%-40s %12s %12s %8s\n", "ms", "helper", "in process", "ratio");
    print_pair("cold read (load/start + read)", median(host_cold, a.rounds), median(lib_cold, a.rounds));
    print_pair("  of which load/start", median(host_start, a.rounds), median(lib_load, a.rounds));
    print_pair("  of which the first read", median(host_first, a.rounds), median(lib_first, a.rounds));
    print_warm("no event waiter", &calm, a.rounds);
    print_warm("waiting for events, as ukeyd", &watching, a.rounds);

    /* 2. memory, after the reads: the helper's own is all but the library's files */
    measure(skf_host_pid(t.host), &lib_files, &helper_mem);
    long own_rss = helper_mem.rss_kib - helper_mem.lib_rss_kib;
    long own_pss = helper_mem.pss_kib - helper_mem.lib_pss_kib;
    printf("memory, MiB (/proc/PID/smaps; the library = %zu files it mapped, itself and its dependencies)\n",
           lib_files.n);
    printf("helper: RSS %.2f PSS %.2f; of it the library's files RSS %.2f PSS %.2f; "
           "its own RSS %.2f PSS %.2f (anonymous %.2f, which includes the library's heap)   "
           "target own <= %.1f\n",
           mib(helper_mem.rss_kib), mib(helper_mem.pss_kib), mib(helper_mem.lib_rss_kib),
           mib(helper_mem.lib_pss_kib), mib(own_rss), mib(own_pss), mib(helper_mem.anon_kib),
           mib(OWN_TARGET_KIB));
    printf("library in this process: its files RSS %.2f PSS %.2f; RSS grew %.2f, anonymous %.2f, "
           "from loading it and the first read\n",
           mib(self1.lib_rss_kib), mib(self1.lib_pss_kib), mib(self1.rss_kib - self0.rss_kib),
           mib(self1.anon_kib - self0.anon_kib));

    /* 3. plug to event */
    for (unsigned r = 0; r < a.rounds; r++) {
        plug_round(a.vskf, "unplug", SKF_DEV_EVENT_REMOVED, a.dir, a.device, &removed);
        plug_round(a.vskf, "plug", SKF_DEV_EVENT_INSERTED, a.dir, a.device, &inserted);
    }
    printf("plug to event, ms from `vskf plug|unplug` (%u rounds, medians)\n", a.rounds);
    printf("%-9s %14s %18s %16s %12s\n", "event", "library reports", "supervisor's event",
           "supervisor after", "after, max");
    print_plug("removed", &removed);
    print_plug("inserted", &inserted);

    /* the waiter returns once cancelled; a cancel before it waits is lost, so repeat */
    for (;;) {
        t.lib.fn.cancel_wait_for_dev_event();
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += SETTLE_MS * NS_PER_MS;
        if (until.tv_nsec >= NS_PER_SEC) {
            until.tv_sec++;
            until.tv_nsec -= NS_PER_SEC;
        }
        if (pthread_timedjoin_np(waiter, NULL, &until) == 0)
            break;
    }
    skf_host_stop(t.host);
    skf_lib_close(&t.lib);
    paths_free(&before);
    paths_free(&after);
    paths_free(&lib_files);
    return 0;
}
