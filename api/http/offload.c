/* SPDX-License-Identifier: MIT */
/*
 * api/http/offload.c — a fixed pool of threads taking requests in arrival order.
 * Jobs are few and short-lived, so a mutex, a condition and a list do.
 */
#include "api/http/offload.h"

#include <pthread.h>
#include <stdlib.h>

#include "api/http/request.h"

struct job {
    struct request *r;
    struct job *next;
};

struct offload {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct job *head, *tail;
    bool stopping;
    unsigned n_threads;
    pthread_t threads[];
};

/* The next job, or NULL once stopping and nothing is left. */
static struct job *take_job(struct offload *o)
{
    struct job *j;

    pthread_mutex_lock(&o->lock);
    while (!o->head && !o->stopping)
        pthread_cond_wait(&o->wake, &o->lock);
    j = o->head;
    if (j) {
        o->head = j->next;
        if (!o->head)
            o->tail = NULL;
    }
    pthread_mutex_unlock(&o->lock);
    return j;
}

static void *worker(void *arg)
{
    struct offload *o = arg;
    struct job *j;

    while ((j = take_job(o))) {
        struct request *r = j->r;

        free(j);
        r->match.route->handler(r);
        /* The request may be freed as soon as libmicrohttpd has it back. */
        MHD_resume_connection(r->conn);
    }
    return NULL;
}

struct offload *offload_new(unsigned threads)
{
    struct offload *o = calloc(1, sizeof *o + threads * sizeof o->threads[0]);

    if (!o)
        return NULL;
    pthread_mutex_init(&o->lock, NULL);
    pthread_cond_init(&o->wake, NULL);
    for (; o->n_threads < threads; o->n_threads++) {
        if (pthread_create(&o->threads[o->n_threads], NULL, worker, o)) {
            offload_free(o);
            return NULL;
        }
    }
    return o;
}

bool offload_submit(struct offload *o, struct request *r)
{
    struct job *j = malloc(sizeof *j);

    if (!j)
        return false;
    j->r = r;
    j->next = NULL;
    r->offloaded = true;
    MHD_suspend_connection(r->conn);
    pthread_mutex_lock(&o->lock);
    if (o->tail)
        o->tail->next = j;
    else
        o->head = j;
    o->tail = j;
    pthread_cond_signal(&o->wake);
    pthread_mutex_unlock(&o->lock);
    return true;
}

enum MHD_Result offload_answer(struct request *r)
{
    struct MHD_Response *resp = r->deferred;

    r->deferred = NULL;
    if (!resp)
        return MHD_NO;   /* the handler built no answer: only closing is left */
    r->queued = MHD_queue_response(r->conn, r->status, resp);
    MHD_destroy_response(resp);
    return r->queued;
}

void offload_free(struct offload *o)
{
    if (!o)
        return;
    pthread_mutex_lock(&o->lock);
    o->stopping = true;
    pthread_cond_broadcast(&o->wake);
    pthread_mutex_unlock(&o->lock);
    for (unsigned i = 0; i < o->n_threads; i++)
        pthread_join(o->threads[i], NULL);
    pthread_cond_destroy(&o->wake);
    pthread_mutex_destroy(&o->lock);
    free(o);
}
