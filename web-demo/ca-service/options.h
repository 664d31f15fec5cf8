/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/options.h — ukey-ca's command line.
 */
#ifndef UKEY_CA_OPTIONS_H
#define UKEY_CA_OPTIONS_H

#include <stdbool.h>
#include <sys/socket.h>

#include "ca.h"

#define OPTIONS_HOST_MAX 64
#define OPTIONS_ISSUERS_MAX 8

struct ca_options {
    struct sockaddr_storage listen;
    socklen_t listen_len;
    char listen_host[OPTIONS_HOST_MAX];  /* "127.0.0.1" or "[::1]", for the default URL */
    const char *db_path;
    const char *seed_path;               /* NULL: no seeding */
    const char *static_dir;              /* NULL: no static files */
    const char *public_url;              /* NULL: http://<listen host>:<port> */
    const char *ready_file;              /* NULL: none; gets the URL once serving */
    const char *issuers[OPTIONS_ISSUERS_MAX];  /* "CERT.pem:KEY.pem", loaded by main */
    size_t n_issuers;
    unsigned ukeyd_port;                 /* for the portal page's configuration */
    const char *hotline;                 /* NULL: the page names no number */
    const char *portal_min_ukeyd;        /* NULL: the page's own minimum */
    struct ca_timings t;
};

enum options_result { OPTIONS_RUN, OPTIONS_EXIT_OK, OPTIONS_EXIT_USAGE };

enum options_result options_parse(int argc, char **argv, struct ca_options *o);

#endif
