/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/main.c — ukey-ca, the reference CA service (unlock
 * and certificates): start-up (options, issuing CAs, database, seed,
 * listening socket, HTTP), the wait for SIGTERM or SIGINT, and an orderly
 * shutdown that frees everything.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ca.h"
#include "db.h"
#include "http.h"
#include "issuing.h"
#include "log.h"
#include "options.h"
#include "secret.h"
#include "seed.h"

#define URL_MAX 256

/* Written to a temporary name and renamed, so a reader never sees half. */
static bool write_ready_file(const char *path, const char *url)
{
    char tmp[URL_MAX * 4];
    FILE *f;
    bool ok;

    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp || !(f = fopen(tmp, "w")))
        return false;
    ok = fprintf(f, "%s\n", url) > 0;
    ok = fclose(f) == 0 && ok;
    if (ok && rename(tmp, path) == 0)
        return true;
    unlink(tmp);
    return false;
}

/* Blocked in every thread (libmicrohttpd's inherits the mask), taken by sigwait. */
static bool block_stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    return pthread_sigmask(SIG_BLOCK, set, NULL) == 0;
}

static int wait_for_stop(const sigset_t *set)
{
    int sig = 0;

    while (sigwait(set, &sig) != 0)
        ;
    return sig;
}

static bool start_serving(struct ca *ca, const struct ca_options *o, char *url, size_t size,
                          struct http_server **srv)
{
    unsigned port = 0;
    int fd = http_listen((const struct sockaddr *)&o->listen, o->listen_len, &port);

    if (fd < 0)
        return false;
    snprintf(url, size, "http://%s:%u", o->listen_host, port);
    ca->public_url = o->public_url ? o->public_url : url;
    if (!http_start(ca, fd, srv))
        return false;
    ca_log("serving on %s (public URL %s)", url, ca->public_url);
    return !o->ready_file || write_ready_file(o->ready_file, url);
}

/* Every --issuer, or none at all: a CA that cannot sign says so at start. */
static bool load_issuers(const struct ca_options *o, struct issuers **set)
{
    for (size_t i = 0; i < o->n_issuers; i++)
        if (!issuers_add(set, o->issuers[i]))
            return false;
    if (o->n_issuers)
        ca_log("%zu issuing CAs loaded", issuers_count(*set));
    return true;
}

int main(int argc, char **argv)
{
    struct ca_options o;
    struct ca ca = { 0 };
    struct http_server *srv = NULL;
    struct issuers *issuers = NULL;
    char url[URL_MAX];
    sigset_t stop;
    int rc = EXIT_FAILURE;

    secret_json_allocator();
    switch (options_parse(argc, argv, &o)) {
    case OPTIONS_EXIT_OK: return EXIT_SUCCESS;
    case OPTIONS_EXIT_USAGE: return EXIT_FAILURE;
    case OPTIONS_RUN: break;
    }
    ca.t = o.t;
    ca.static_dir = o.static_dir;
    ca.ukeyd_port = o.ukeyd_port;
    ca.hotline = o.hotline;
    ca.portal_min_ukeyd = o.portal_min_ukeyd;
    if (!load_issuers(&o, &issuers))
        goto out;
    ca.issuers = issuers;
    if (!block_stop_signals(&stop) || !db_open(o.db_path, &ca.db) ||
        (o.seed_path && !seed_load(ca.db, o.seed_path)) ||
        !start_serving(&ca, &o, url, sizeof url, &srv))
        goto out;
    ca_log("stopping on signal %d", wait_for_stop(&stop));
    rc = EXIT_SUCCESS;
out:
    http_stop(srv);
    db_close(ca.db);
    issuers_free(issuers);
    return rc;
}
