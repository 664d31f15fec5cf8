/* SPDX-License-Identifier: MIT */
/*
 * api/base/recovery.c — the recovery worker's thread: it sleeps until it is
 * woken or its back-off ends, then runs every job; while a job says the CA
 * service is away (or its journal failed), it retries, doubling the wait up
 * to a limit. An absent token is waited for by its insertion, not by polling.
 */
#include "api/base/recovery.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "api/base/log.h"
#include "api/base/timeutil.h"

#define RECOVERY_JOBS_MAX    4
#define BACKOFF_FIRST_S      5
#define BACKOFF_MAX_S        300

struct recovery_job {
    recovery_job_fn run;
    void *arg;
};

struct recovery_worker {
    struct recovery_job jobs[RECOVERY_JOBS_MAX];
    size_t n_jobs;
    pthread_mutex_t lock;
    pthread_cond_t wake;                 /* CLOCK_MONOTONIC */
    bool pending;
    bool stopping;
    pthread_t thread;
    bool started;
};

struct recovery_worker *recovery_worker_new(void)
{
    struct recovery_worker *w = calloc(1, sizeof *w);
    pthread_condattr_t attr;
    bool ok;

    if (!w || pthread_condattr_init(&attr) != 0) {
        free(w);
        return NULL;
    }
    ok = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0 &&
         pthread_cond_init(&w->wake, &attr) == 0;
    pthread_condattr_destroy(&attr);
    if (!ok) {
        free(w);
        return NULL;
    }
    pthread_mutex_init(&w->lock, NULL);
    return w;
}

int recovery_worker_add(struct recovery_worker *w, recovery_job_fn job, void *arg)
{
    if (w->n_jobs == RECOVERY_JOBS_MAX)
        return -1;
    w->jobs[w->n_jobs++] = (struct recovery_job){ .run = job, .arg = arg };
    return 0;
}

void recovery_worker_wake(struct recovery_worker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->pending = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

/* Waits for a wake-up, or for `backoff_s` when it is not 0; false when stopping. */
static bool wait_for_work(struct recovery_worker *w, unsigned backoff_s)
{
    struct timespec deadline = deadline_after_ms(backoff_s * MS_PER_SEC);
    bool timed_out = false, go;

    pthread_mutex_lock(&w->lock);
    while (!w->stopping && !w->pending && !timed_out) {
        if (backoff_s)
            timed_out = pthread_cond_timedwait(&w->wake, &w->lock, &deadline) == ETIMEDOUT;
        else
            pthread_cond_wait(&w->wake, &w->lock);
    }
    w->pending = false;
    go = !w->stopping;
    pthread_mutex_unlock(&w->lock);
    return go;
}

static unsigned next_backoff(unsigned backoff_s)
{
    if (backoff_s == 0)
        return BACKOFF_FIRST_S;
    return backoff_s >= BACKOFF_MAX_S / 2 ? BACKOFF_MAX_S : backoff_s * 2;
}

static enum recovery_result run_jobs(struct recovery_worker *w)
{
    enum recovery_result worst = RECOVERY_DONE;

    for (size_t i = 0; i < w->n_jobs; i++) {
        enum recovery_result r = w->jobs[i].run(w->jobs[i].arg);

        if (r > worst)
            worst = r;
    }
    return worst;
}

static void *worker_main(void *arg)
{
    struct recovery_worker *w = arg;
    unsigned backoff_s = 0;
    enum recovery_result r;

    while (wait_for_work(w, backoff_s)) {
        r = run_jobs(w);
        backoff_s = r == RECOVERY_SERVICE_DOWN || r == RECOVERY_FAILED ? next_backoff(backoff_s)
                                                                       : 0;
        if (backoff_s)
            log_msg(LOG_NOTICE, NULL, "unlock: a rotation is pending; retrying in %u s "
                    "(or a certificate write)", backoff_s);
    }
    return NULL;
}

int recovery_worker_start(struct recovery_worker *w)
{
    w->pending = true;                   /* the start-up recovery */
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
        return -1;
    w->started = true;
    return 0;
}

void recovery_worker_free(struct recovery_worker *w)
{
    if (!w)
        return;
    if (w->started) {
        pthread_mutex_lock(&w->lock);
        w->stopping = true;
        pthread_cond_signal(&w->wake);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
    }
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
