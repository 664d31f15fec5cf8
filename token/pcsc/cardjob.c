/* SPDX-License-Identifier: MIT */
/* token/pcsc/cardjob.c — card work on its own thread, with a deadline for the card (see cardjob.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "token/pcsc/cardjob.h"

/*
 * Every job thread not yet joined, so that stopping can wait for each one: a
 * thread left running after the service is gone would still be inside
 * pcsc-lite when the process exits and the library's destructor frees its
 * contexts. Threads that ended are joined when the next job starts.
 */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct card_job *live_jobs;

enum job_state {
    JOB_WAITING,     /* for the transaction */
    JOB_RUNNING,     /* the work is under way; the caller waits it out */
    JOB_DONE,
    JOB_ABANDONED,   /* the caller gave up while the job was waiting */
    JOB_FINISHED,    /* an abandoned job's thread has ended */
};

struct card_job {
    pthread_mutex_t m;
    pthread_cond_t cond;
    enum job_state state;
    unsigned refs;
    char *reader;
    const struct card_edge *want;
    const struct card_edge *edge_used;
    card_work_fn work;
    void *arg;
    token_err err;
    /* the connection while the job waits for the transaction, so that
     * card_jobs_stop can drop it; NULL once the job has claimed the card */
    struct pcsc_card *waiting_card;
    bool cancelled;                /* by card_jobs_stop: never touches the card */
    pthread_t thread;
    bool thread_ended;             /* under live_lock */
    struct card_job *next_live;    /* under live_lock */
};

void card_job_unref(struct card_job *job)
{
    bool last;

    if (!job)
        return;
    pthread_mutex_lock(&job->m);
    last = --job->refs == 0;
    pthread_mutex_unlock(&job->m);
    if (!last)
        return;
    pthread_cond_destroy(&job->cond);
    pthread_mutex_destroy(&job->m);
    free(job->reader);
    free(job);
}

bool card_job_still_waiting(struct card_job *job)
{
    bool waiting;

    pthread_mutex_lock(&job->m);
    waiting = job->state == JOB_ABANDONED;
    pthread_mutex_unlock(&job->m);
    return waiting;
}

static void session_close(struct card_session *cs)
{
    if (cs->card) {
        pcsc_card_end(cs->card, cs->needs_reset);
        pcsc_card_free(cs->card);
    }
    pcsc_ctx_free(cs->ctx);
    memset(cs, 0, sizeof(*cs));
}

/* Shows the connection to card_jobs_stop while the job waits for the card;
 * false when the job was cancelled already. */
static bool job_show_waiting_card(struct card_job *job, struct pcsc_card *card)
{
    bool shown;

    pthread_mutex_lock(&job->m);
    shown = !job->cancelled;
    if (shown)
        job->waiting_card = card;
    pthread_mutex_unlock(&job->m);
    return shown;
}

static token_err session_begin(struct card_job *job, struct card_session *cs)
{
    token_err err;

    memset(cs, 0, sizeof(*cs));
    err = pcsc_ctx_open(&cs->ctx);
    if (!err)
        err = pcsc_card_connect(cs->ctx, job->reader, &cs->card);
    if (!err && !job_show_waiting_card(job, cs->card))
        err = TOKEN_E_TOKEN_BUSY;
    if (!err)
        err = pcsc_card_begin(cs->card);
    if (!err)
        cs->t = pcsc_card_transport(cs->card);
    return err;
}

/* Selects the wanted application, or the first one a driver knows. */
static token_err session_select(struct card_session *cs, const struct card_edge *want)
{
    const struct card_edge *const *e;
    token_err err;

    for (e = card_edges; *e; e++) {
        if (want && *e != want)
            continue;
        err = (*e)->select(cs->t);
        if (err == TOKEN_OK) {
            cs->edge = *e;
            return TOKEN_OK;
        }
        if (err != TOKEN_E_CARD_UNSUPPORTED)
            return err;
    }
    return TOKEN_E_CARD_UNSUPPORTED;
}

/*
 * Moves WAITING to RUNNING; false when the caller has already given up or the
 * job was cancelled, and then the card is never touched. Either way the
 * connection is the job's alone from here on.
 */
static bool job_claim(struct card_job *job)
{
    bool claimed;

    pthread_mutex_lock(&job->m);
    job->waiting_card = NULL;
    claimed = job->state == JOB_WAITING && !job->cancelled;
    if (claimed) {
        job->state = JOB_RUNNING;
    } else if (job->state == JOB_WAITING) {
        /* cancelled while a caller still waits: the card was never had */
        job->err = TOKEN_E_TOKEN_BUSY;
        job->state = JOB_DONE;
        pthread_cond_broadcast(&job->cond);
    } else {
        job->state = JOB_FINISHED;
    }
    pthread_mutex_unlock(&job->m);
    return claimed;
}

static void job_finish(struct card_job *job, token_err err, const struct card_edge *edge)
{
    pthread_mutex_lock(&job->m);
    job->err = err;
    job->edge_used = edge;
    job->state = JOB_DONE;
    pthread_cond_broadcast(&job->cond);
    pthread_mutex_unlock(&job->m);
}

static void deadline_in(struct timespec *ts, unsigned ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void thread_ends(struct card_job *job)
{
    /* the work may have used OpenSSL (certificate summaries): free its
     * per-thread state now rather than in a destructor after we are joined */
    OPENSSL_thread_stop();
    pthread_mutex_lock(&live_lock);
    job->thread_ended = true;
    pthread_mutex_unlock(&live_lock);
}

/* The thread's reference is dropped by whoever joins it (job_reap). */
static void *job_main(void *vjob)
{
    struct card_job *job = vjob;
    struct card_session cs;
    token_err err;

    err = session_begin(job, &cs);
    if (!job_claim(job)) {
        session_close(&cs);   /* ends the transaction without a single APDU */
        thread_ends(job);
        return NULL;
    }
    if (!err)
        err = session_select(&cs, job->want);
    if (!err)
        err = job->work(&cs, job->arg);
    job_finish(job, err, cs.edge);
    session_close(&cs);
    thread_ends(job);
    return NULL;
}

/* Joins each job of `list` and drops its thread's reference. */
static void job_reap(struct card_job *list)
{
    struct card_job *job;

    while (list) {
        job = list;
        list = job->next_live;
        pthread_join(job->thread, NULL);
        card_job_unref(job);
    }
}

/* Unlinks the jobs whose threads have ended (all of them when `all`). */
static struct card_job *live_jobs_take(bool all)
{
    struct card_job **link, *taken = NULL, *job;

    pthread_mutex_lock(&live_lock);
    link = &live_jobs;
    while ((job = *link)) {
        if (all || job->thread_ended) {
            *link = job->next_live;
            job->next_live = taken;
            taken = job;
        } else {
            link = &job->next_live;
        }
    }
    pthread_mutex_unlock(&live_lock);
    return taken;
}

/*
 * A job still waiting for its card is given up: dropping its connection
 * makes pcsc-lite's SCardBeginTransaction, which polls while another process
 * holds the card, return at its next poll. A job still connecting cannot be:
 * pcscd answers SCardConnect only once the other program's transaction ends,
 * and nothing withdraws the request, so card_jobs_stop waits for that answer.
 * A job already at work is left to finish: card I/O is bounded by pcscd and
 * the reader.
 */
static void job_cancel(struct card_job *job)
{
    pthread_mutex_lock(&job->m);
    if (job->state == JOB_WAITING || job->state == JOB_ABANDONED) {
        job->cancelled = true;
        if (job->waiting_card)
            pcsc_card_abort(job->waiting_card);
    }
    pthread_mutex_unlock(&job->m);
}

void card_jobs_stop(void)
{
    struct card_job *list, *job;

    /* jobs started meanwhile are taken on the next round */
    while ((list = live_jobs_take(true))) {
        for (job = list; job; job = job->next_live)
            job_cancel(job);
        job_reap(list);
    }
}

static struct card_job *job_new(const char *reader, const struct card_edge *want,
                                card_work_fn work, void *arg)
{
    struct card_job *job = calloc(1, sizeof(*job));
    pthread_condattr_t ca;

    if (!job)
        return NULL;
    job->reader = strdup(reader);
    if (!job->reader) {
        free(job);
        return NULL;
    }
    pthread_mutex_init(&job->m, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&job->cond, &ca);
    pthread_condattr_destroy(&ca);
    job->refs = 2;   /* the caller's and the thread's, which its joiner drops */
    job->want = want;
    job->work = work;
    job->arg = arg;
    return job;
}

static bool job_start(struct card_job *job)
{
    int rc;

    job_reap(live_jobs_take(false));
    pthread_mutex_lock(&live_lock);
    rc = pthread_create(&job->thread, NULL, job_main, job);
    if (rc == 0) {
        job->next_live = live_jobs;
        live_jobs = job;
    }
    pthread_mutex_unlock(&live_lock);
    return rc == 0;
}

/* Waits for the job; gives up only while it still waits for the card. */
static token_err job_wait(struct card_job *job, unsigned wait_ms, bool *abandoned,
                          const struct card_edge **edge_used)
{
    struct timespec deadline;
    token_err err;

    deadline_in(&deadline, wait_ms);
    pthread_mutex_lock(&job->m);
    while (job->state == JOB_WAITING) {
        if (pthread_cond_timedwait(&job->cond, &job->m, &deadline) == ETIMEDOUT &&
            job->state == JOB_WAITING) {
            job->state = JOB_ABANDONED;
            break;
        }
    }
    while (job->state == JOB_RUNNING)
        pthread_cond_wait(&job->cond, &job->m);
    *abandoned = job->state == JOB_ABANDONED;
    err = *abandoned ? TOKEN_E_TOKEN_BUSY : job->err;
    if (edge_used)
        *edge_used = job->edge_used;
    pthread_mutex_unlock(&job->m);
    return err;
}

token_err card_job_run(const char *reader, const struct card_edge *want, unsigned wait_ms,
                       card_work_fn work, void *arg, const struct card_edge **edge_used,
                       struct card_job **stuck)
{
    struct card_job *job;
    bool abandoned = false;
    token_err err;

    if (stuck)
        *stuck = NULL;
    job = job_new(reader, want, work, arg);
    if (!job)
        return TOKEN_E_NO_MEMORY;
    if (!job_start(job)) {
        job->refs = 1;
        card_job_unref(job);
        return TOKEN_E_NO_MEMORY;
    }
    err = job_wait(job, wait_ms, &abandoned, edge_used);
    if (abandoned && stuck)
        *stuck = job;   /* the caller's reference passes on */
    else
        card_job_unref(job);
    return err;
}
