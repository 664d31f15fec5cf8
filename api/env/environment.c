/* SPDX-License-Identifier: MIT */
/*
 * api/env/environment.c — the environment report (GET /v1/environment's
 * body, api/v1/environment_api.c), built within a fixed time even when the
 * CA service or pcscd hangs.
 *
 * The slow looks — the CA service probe (libcurl), systemd (sd-bus) and the
 * token service — each run on a detached thread of their own, sharing one
 * reference-counted job with the request. The request waits for them until
 * its deadline, then reports what has arrived and calls the rest timed out;
 * a late thread finishes into the job, drops its reference and is counted
 * out, so the environment (and the token service behind it) is never freed
 * under it. The quick looks (os-release, uname, the clock, the driver
 * directory, the allow-list) take microseconds and run on the request's own
 * thread once the slow ones are in or timed out; the clock's NTP state is
 * read on the systemd thread, since under ProtectClock it takes the bus.
 */
#include "api/env/environment.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "api/env/env_browser.h"
#include "api/env/env_clock.h"
#include "api/env/env_os.h"
#include "api/env/env_pcsc.h"
#include "api/env/env_probe.h"
#include "api/env/env_run.h"
#include "api/env/env_systemd.h"
#include "api/base/log.h"
#include "api/base/timeutil.h"

/* Time kept back from the deadline: the threads' own bounds are a little
 * looser than they say, and the answer still has to be written. */
#define WORKER_MARGIN_MS   300
#define WAIT_MARGIN_MS     150
#define ISO_UTC_MAX        21

struct environment {
    struct token_service *svc;
    pthread_mutex_t lock;              /* settings, workers */
    pthread_cond_t idle;               /* signalled when workers drops to 0 */
    unsigned workers;                  /* threads still running */
    struct env_config settings;        /* the origins members stay empty */
    pthread_mutex_t repair;
};

/* --- settings ------------------------------------------------------------ */

static void free_argv(char **argv)
{
    for (size_t i = 0; argv && argv[i]; i++)
        free(argv[i]);
    free(argv);
}

static char **copy_argv(const char *const *argv, bool *oom)
{
    size_t n = 0;
    char **copy;

    while (argv && argv[n])
        n++;
    if (n == 0)
        return NULL;
    copy = calloc(n + 1, sizeof *copy);
    for (size_t i = 0; copy && i < n; i++) {
        if (!(copy[i] = strdup(argv[i]))) {
            free_argv(copy);
            copy = NULL;
        }
    }
    *oom = *oom || !copy;
    return copy;
}

static char *copy_string(const char *s, bool *oom)
{
    char *copy = s ? strdup(s) : NULL;

    *oom = *oom || (s && !copy);
    return copy;
}

void env_config_free(struct env_config *c)
{
    free(c->ca_service_url);
    free(c->ca_bundle);
    free(c->drivers_dir);
    free_argv(c->restart_argv);
    for (size_t i = 0; i < c->n_origins; i++)
        free(c->origins[i]);
    free(c->origins);
    memset(c, 0, sizeof *c);
}

/* A copy of `from` without its origins; -1 when out of memory. */
static int config_copy(struct env_config *to, const struct env_config *from)
{
    bool oom = false;

    memset(to, 0, sizeof *to);
    to->ca_service_url = copy_string(from->ca_service_url, &oom);
    to->ca_bundle = copy_string(from->ca_bundle, &oom);
    to->drivers_dir = copy_string(from->drivers_dir, &oom);
    to->restart_argv = copy_argv((const char *const *)from->restart_argv, &oom);
    to->timeout_ms = from->timeout_ms;
    if (oom)
        env_config_free(to);
    return oom ? -1 : 0;
}

static unsigned clamp_timeout(unsigned ms)
{
    if (ms == 0)
        return ENVIRONMENT_TIMEOUT_MS_DEFAULT;
    if (ms < ENVIRONMENT_TIMEOUT_MS_MIN)
        return ENVIRONMENT_TIMEOUT_MS_MIN;
    return ms > ENVIRONMENT_TIMEOUT_MS_MAX ? ENVIRONMENT_TIMEOUT_MS_MAX : ms;
}

int environment_configure(struct environment *env, const struct environment_settings *s)
{
    struct env_config fresh = { .timeout_ms = clamp_timeout(s->timeout_ms) };
    bool oom = false;

    fresh.ca_service_url = copy_string(s->ca_service_url, &oom);
    fresh.ca_bundle = copy_string(s->ca_bundle, &oom);
    fresh.drivers_dir = copy_string(s->pcsc_drivers_dir ? s->pcsc_drivers_dir
                                                        : ENV_PCSC_DRIVERS_DIR, &oom);
    fresh.restart_argv = copy_argv(s->pcscd_restart_argv, &oom);
    if (oom) {
        env_config_free(&fresh);
        return -1;
    }
    pthread_mutex_lock(&env->lock);
    env_config_free(&env->settings);
    env->settings = fresh;
    pthread_mutex_unlock(&env->lock);
    return 0;
}

int env_config_take(struct environment *env, struct env_config *out)
{
    int rc;

    pthread_mutex_lock(&env->lock);
    rc = config_copy(out, &env->settings);
    pthread_mutex_unlock(&env->lock);
    return rc;
}

int env_config_add_origins(struct env_config *c, const char *const *origins, size_t n)
{
    if (n && !(c->origins = calloc(n, sizeof *c->origins)))
        return -1;
    for (size_t i = 0; i < n; i++, c->n_origins++)
        if (!(c->origins[i] = strdup(origins[i])))
            return -1;
    return 0;
}

struct token_service *environment_tokens(const struct environment *env)
{
    return env->svc;
}

void environment_repair_lock(struct environment *env)
{
    pthread_mutex_lock(&env->repair);
}

void environment_repair_unlock(struct environment *env)
{
    pthread_mutex_unlock(&env->repair);
}

/* --- life ----------------------------------------------------------------- */

static void init_monotonic_cond(pthread_cond_t *cond)
{
    pthread_condattr_t ca;

    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(cond, &ca);
    pthread_condattr_destroy(&ca);
}

struct environment *environment_new(struct token_service *svc)
{
    struct environment *env = calloc(1, sizeof *env);

    if (!env)
        return NULL;
    if (env_probe_global_init() < 0) {
        free(env);
        return NULL;
    }
    env->svc = svc;
    pthread_mutex_init(&env->lock, NULL);
    pthread_mutex_init(&env->repair, NULL);
    init_monotonic_cond(&env->idle);
    env->settings.timeout_ms = ENVIRONMENT_TIMEOUT_MS_DEFAULT;
    return env;
}

void environment_free(struct environment *env)
{
    if (!env)
        return;
    pthread_mutex_lock(&env->lock);
    if (env->workers)
        log_msg(LOG_NOTICE, NULL, "waiting for %u environment check(s) to finish",
                env->workers);
    while (env->workers)
        pthread_cond_wait(&env->idle, &env->lock);
    pthread_mutex_unlock(&env->lock);
    env_config_free(&env->settings);
    pthread_cond_destroy(&env->idle);
    pthread_mutex_destroy(&env->repair);
    pthread_mutex_destroy(&env->lock);
    env_probe_global_cleanup();
    free(env);
}

/* --- the job the slow looks share with the request ----------------------- */

enum env_worker {
    WORKER_PROBE,
    WORKER_SYSTEMD,
    WORKER_PCSC,
    WORKER__COUNT
};

struct env_job {
    atomic_uint refs;
    struct environment *env;
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    unsigned pending;
    bool done[WORKER__COUNT];          /* a result is read only once its flag is set */
    /* inputs */
    struct env_config cfg;             /* the job's own copy */
    unsigned budget_ms;
    /* results */
    struct env_probe probe;
    struct env_systemd systemd;
    struct env_clock_ntp ntp;         /* read by the systemd worker */
    struct env_pcsc_facts pcsc;
};

static void job_unref(struct env_job *job)
{
    if (atomic_fetch_sub(&job->refs, 1) != 1)
        return;
    env_pcsc_facts_free(&job->pcsc);
    env_config_free(&job->cfg);
    pthread_cond_destroy(&job->done_cond);
    pthread_mutex_destroy(&job->lock);
    free(job);
}

/* What each slow look may take: the whole time less the margin, but never
 * less than half of it (short timeouts leave little else). */
static unsigned worker_budget(unsigned timeout_ms)
{
    unsigned half = timeout_ms / 2;

    return half > WORKER_MARGIN_MS ? timeout_ms - WORKER_MARGIN_MS : half;
}

static struct env_job *job_new(struct environment *env, const struct env_config *cfg)
{
    struct env_job *job = calloc(1, sizeof *job);

    if (!job)
        return NULL;
    if (config_copy(&job->cfg, cfg) < 0) {
        free(job);
        return NULL;
    }
    atomic_init(&job->refs, 1);
    job->env = env;
    job->budget_ms = worker_budget(cfg->timeout_ms);
    pthread_mutex_init(&job->lock, NULL);
    init_monotonic_cond(&job->done_cond);
    return job;
}

/* The end of every worker: publish, let go of the job, be counted out. */
static void worker_finish(struct env_job *job, enum env_worker w)
{
    struct environment *env = job->env;

    pthread_mutex_lock(&job->lock);
    job->done[w] = true;
    job->pending--;
    pthread_cond_broadcast(&job->done_cond);
    pthread_mutex_unlock(&job->lock);
    job_unref(job);
    pthread_mutex_lock(&env->lock);
    if (--env->workers == 0)
        pthread_cond_broadcast(&env->idle);
    pthread_mutex_unlock(&env->lock);
}

static void *probe_worker(void *arg)
{
    struct env_job *job = arg;
    struct env_probe p;

    env_probe_run(job->cfg.ca_service_url, job->cfg.ca_bundle, job->budget_ms, &p);
    pthread_mutex_lock(&job->lock);
    job->probe = p;
    pthread_mutex_unlock(&job->lock);
    worker_finish(job, WORKER_PROBE);
    return NULL;
}

static void *systemd_worker(void *arg)
{
    struct env_job *job = arg;
    struct env_systemd sd;

    struct env_clock_ntp ntp;

    env_systemd_query(job->budget_ms, &sd);
    /* On this thread: under ProtectClock the answer comes over the bus too. */
    env_clock_ntp_read(job->budget_ms, &ntp);
    pthread_mutex_lock(&job->lock);
    job->systemd = sd;
    job->ntp = ntp;
    pthread_mutex_unlock(&job->lock);
    worker_finish(job, WORKER_SYSTEMD);
    return NULL;
}

static void *pcsc_worker(void *arg)
{
    struct env_job *job = arg;
    struct env_pcsc_facts f;

    env_pcsc_collect(job->env->svc, &f);
    pthread_mutex_lock(&job->lock);
    job->pcsc = f;
    pthread_mutex_unlock(&job->lock);
    worker_finish(job, WORKER_PCSC);
    return NULL;
}

static int start_worker(struct env_job *job, void *(*fn)(void *))
{
    struct environment *env = job->env;
    pthread_attr_t attr;
    pthread_t t;
    int rc;

    atomic_fetch_add(&job->refs, 1);
    pthread_mutex_lock(&job->lock);
    job->pending++;
    pthread_mutex_unlock(&job->lock);
    pthread_mutex_lock(&env->lock);
    env->workers++;
    pthread_mutex_unlock(&env->lock);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&t, &attr, fn, job);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        log_msg(LOG_WARNING, NULL, "environment check thread: %s", strerror(rc));
        pthread_mutex_lock(&job->lock);
        job->pending--;
        pthread_mutex_unlock(&job->lock);
        pthread_mutex_lock(&env->lock);
        env->workers--;
        pthread_mutex_unlock(&env->lock);
        atomic_fetch_sub(&job->refs, 1);
    }
    return rc;
}

/* Waits until every worker is done or the deadline passes; copies the flags
 * of the results that may be read. */
static void wait_workers(struct env_job *job, const struct timespec *deadline,
                         bool done[WORKER__COUNT])
{
    pthread_mutex_lock(&job->lock);
    while (job->pending > 0 &&
           pthread_cond_timedwait(&job->done_cond, &job->lock, deadline) != ETIMEDOUT)
        ;
    memcpy(done, job->done, sizeof job->done);
    pthread_mutex_unlock(&job->lock);
}

/* --- the report ------------------------------------------------------------- */

static void quick_checks(struct env_report *rep, const struct env_config *cfg,
                         const struct env_job *job, const bool done[WORKER__COUNT])
{
    const struct env_probe *probe = done[WORKER_PROBE] ? &job->probe : NULL;
    bool answered = probe && probe->outcome == PROBE_ANSWERED;
    struct env_clock_reference ref = {
        .configured = cfg->ca_service_url != NULL,
        .have_date = answered && probe->have_date,
        .skew_s = probe ? probe->skew_s : 0,
        .ntp = done[WORKER_SYSTEMD] ? &job->ntp : NULL,
    };
    struct os_release os;
    struct utsname uts;
    bool have_os = env_os_release_read(&os) == 0;

    if (uname(&uts) < 0)
        memset(&uts, 0, sizeof uts);
    env_os_check(rep, have_os ? &os : NULL, &uts);
    env_ukeyd_check(rep, UKEYD_VERSION, answered && probe->latest[0] ? probe->latest : NULL);
    env_clock_check(rep, time(NULL), &ref);
    env_network_check(rep, ref.configured, probe, cfg->timeout_ms);
}

static void pcsc_checks(struct env_report *rep, const struct env_config *cfg,
                        const struct env_job *job, const bool done[WORKER__COUNT])
{
    const struct env_pcsc_facts *facts = done[WORKER_PCSC] ? &job->pcsc : NULL;
    const char *dir = cfg->drivers_dir ? cfg->drivers_dir : ENV_PCSC_DRIVERS_DIR;
    struct env_drivers drivers;

    env_pcsc_checks(rep, facts, cfg->timeout_ms);
    env_systemd_check(rep, done[WORKER_SYSTEMD] ? &job->systemd : NULL, cfg->timeout_ms);
    env_drivers_scan(dir, &drivers);
    env_drivers_check(rep, dir, &drivers);
    env_drivers_free(&drivers);
    env_token_checks(rep, facts, time(NULL));
}

int env_collect(struct environment *env, const struct env_config *cfg, struct env_report *out)
{
    struct env_job *job = job_new(env, cfg);
    bool done[WORKER__COUNT] = { false };
    struct timespec deadline;

    memset(out, 0, sizeof *out);
    if (!job)
        return -1;
    deadline = deadline_after_ms(cfg->timeout_ms - WAIT_MARGIN_MS);
    if (cfg->ca_service_url)
        start_worker(job, probe_worker);
    start_worker(job, systemd_worker);
    start_worker(job, pcsc_worker);
    wait_workers(job, &deadline, done);
    quick_checks(out, cfg, job, done);
    pcsc_checks(out, cfg, job, done);
    env_browser_check(out, cfg->origins, cfg->n_origins);
    job_unref(job);
    return 0;
}

static json_t *iso_utc(time_t t)
{
    char text[ISO_UTC_MAX];
    struct tm tm;

    if (!gmtime_r(&t, &tm) || !strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm))
        return json_null();
    return json_string(text);
}

json_t *env_report_body(const struct env_report *rep, enum api_lang lang, time_t checked_at,
                        long elapsed_ms, unsigned timeout_ms)
{
    json_t *body = env_report_json(rep, lang);

    if (body && (json_object_set_new(body, "version", json_string(UKEYD_VERSION)) ||
                 json_object_set_new(body, "checkedAt", iso_utc(checked_at)) ||
                 json_object_set_new(body, "elapsedMs", json_integer(elapsed_ms)) ||
                 json_object_set_new(body, "timeoutMs", json_integer(timeout_ms)))) {
        json_decref(body);
        return NULL;
    }
    return body;
}

json_t *environment_check(struct environment *env, const struct env_config *cfg,
                          enum api_lang lang, const struct timespec *started)
{
    struct env_report rep;
    time_t checked_at = time(NULL);
    json_t *body;

    if (env_collect(env, cfg, &rep) < 0)
        return NULL;
    body = env_report_body(&rep, lang, checked_at, ms_since(started), cfg->timeout_ms);
    env_report_free(&rep);
    return body;
}
