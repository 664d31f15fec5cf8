/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/options.c — parsing and checking ukey-ca's command
 * line. The service speaks plain HTTP (TLS belongs to the CA's front end in
 * production), so it refuses to listen anywhere but on loopback.
 */
#include "options.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define DEFAULT_LISTEN          "127.0.0.1:17991"
#define DEFAULT_SMS_RESEND_S    60
#define DEFAULT_SMS_CODE_TTL_S  300
#define DEFAULT_UNLOCK_TTL_S    (24 * 3600)
#define DEFAULT_REQUEST_TTL_S   (24 * 3600)
#define DEFAULT_CERT_ACTION_TTL_S (30L * 24 * 3600)
#define DEFAULT_UKEYD_PORT      17990
#define PORT_MAX                65535
#define SECONDS_MAX             (30L * 24 * 3600)
#define DECIMAL_BASE            10
#define PORTAL_TEXT_MAX         64
#define LOOPBACK_NET_V4         0x7F000000u    /* 127.0.0.0/8 */
#define LOOPBACK_MASK_V4        0xFF000000u

enum {
    OPT_LISTEN = 'l', OPT_DB = 'd', OPT_SEED = 's', OPT_STATIC = 'S', OPT_PUBLIC_URL = 'u',
    OPT_HELP = 'h', OPT_VERSION = 'V',
    OPT_SMS_RESEND = 256, OPT_CODE_TTL, OPT_UNLOCK_TTL, OPT_REQUEST_TTL, OPT_READY_FILE,
    OPT_ISSUER, OPT_CERT_ACTION_TTL, OPT_UKEYD_PORT, OPT_HOTLINE, OPT_PORTAL_MIN_UKEYD,
};

static const struct option long_options[] = {
    { "listen", required_argument, NULL, OPT_LISTEN },
    { "db", required_argument, NULL, OPT_DB },
    { "seed", required_argument, NULL, OPT_SEED },
    { "static", required_argument, NULL, OPT_STATIC },
    { "public-url", required_argument, NULL, OPT_PUBLIC_URL },
    { "sms-resend-seconds", required_argument, NULL, OPT_SMS_RESEND },
    { "code-ttl-seconds", required_argument, NULL, OPT_CODE_TTL },
    { "unlock-code-ttl-seconds", required_argument, NULL, OPT_UNLOCK_TTL },
    { "request-ttl-seconds", required_argument, NULL, OPT_REQUEST_TTL },
    { "ready-file", required_argument, NULL, OPT_READY_FILE },
    { "issuer", required_argument, NULL, OPT_ISSUER },
    { "cert-action-ttl-seconds", required_argument, NULL, OPT_CERT_ACTION_TTL },
    { "ukeyd-port", required_argument, NULL, OPT_UKEYD_PORT },
    { "hotline", required_argument, NULL, OPT_HOTLINE },
    { "portal-min-ukeyd", required_argument, NULL, OPT_PORTAL_MIN_UKEYD },
    { "help", no_argument, NULL, OPT_HELP },
    { "version", no_argument, NULL, OPT_VERSION },
    { NULL, 0, NULL, 0 },
};

static void usage(FILE *to)
{
    fputs("usage: ukey-ca --db FILE [--listen 127.0.0.1:PORT] [--seed seed.json]\n"
          "               [--static DIR] [--public-url URL] [--ready-file FILE]\n"
          "               [--sms-resend-seconds N] [--code-ttl-seconds N]\n"
          "               [--unlock-code-ttl-seconds N] [--request-ttl-seconds N]\n"
          "               [--issuer CERT.pem:KEY.pem]... [--cert-action-ttl-seconds N]\n"
          "               [--ukeyd-port PORT] [--hotline NUMBER] [--portal-min-ukeyd VERSION]\n"
          "The reference CA service for ukeyd: unlock/v1 and cert/v1 (a demo and test\n"
          "facility). --issuer names a CA that issues certificates (repeatable).\n"
          "--ukeyd-port tells the portal page where ukeyd listens (default 17990);\n"
          "--hotline, the support number its 客服中心 shows; --portal-min-ukeyd, the\n"
          "oldest ukeyd it works with (older: it asks the user to update).\n"
          "--listen takes a loopback address only; port 0 picks a free one, which\n"
          "--ready-file then tells (the file gets the service's URL once it serves).\n",
          to);
}

static bool parse_seconds(const char *text, const char *name, long *out)
{
    char *end = NULL;
    long v = strtol(text, &end, DECIMAL_BASE);

    if (!*text || *end || v < 1 || v > SECONDS_MAX) {
        fprintf(stderr, "ukey-ca: --%s wants seconds from 1 to %ld\n", name, SECONDS_MAX);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_port(const char *text, const char *name, unsigned *out)
{
    char *end = NULL;
    long v = strtol(text, &end, DECIMAL_BASE);

    if (!*text || *end || v < 1 || v > PORT_MAX) {
        fprintf(stderr, "ukey-ca: --%s wants a port from 1 to %d\n", name, PORT_MAX);
        return false;
    }
    *out = (unsigned)v;
    return true;
}

/* Words the portal page shows or compares: printable, one short line. */
static bool portal_text(const char *text, const char *name, const char **out)
{
    size_t n = strlen(text);

    if (n == 0 || n >= PORTAL_TEXT_MAX || strpbrk(text, "\r\n\t")) {
        fprintf(stderr, "ukey-ca: --%s wants one line of at most %d bytes\n", name,
                PORTAL_TEXT_MAX - 1);
        return false;
    }
    *out = text;
    return true;
}

static bool is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) & LOOPBACK_MASK_V4) ==
               LOOPBACK_NET_V4;
    return sa->sa_family == AF_INET6 &&
           IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
}

/* "127.0.0.1:8080" or "[::1]:8080" into host and port text. */
static bool split_host_port(const char *text, char *host, size_t size, const char **port)
{
    const char *colon;

    if (text[0] == '[') {
        const char *close = strchr(text, ']');

        if (!close || close[1] != ':' || (size_t)(close - text - 1) >= size)
            return false;
        snprintf(host, size, "%.*s", (int)(close - text - 1), text + 1);
        *port = close + 2;
        return true;
    }
    colon = strrchr(text, ':');
    if (!colon || (size_t)(colon - text) >= size)
        return false;
    snprintf(host, size, "%.*s", (int)(colon - text), text);
    *port = colon + 1;
    return true;
}

static bool parse_listen(const char *text, struct ca_options *o)
{
    struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
                              .ai_socktype = SOCK_STREAM };
    struct addrinfo *ai = NULL;
    char host[OPTIONS_HOST_MAX];
    const char *port;
    bool ok;

    if (!split_host_port(text, host, sizeof host, &port) || !*port ||
        getaddrinfo(host, port, &hints, &ai) != 0) {
        fprintf(stderr, "ukey-ca: --listen wants ADDRESS:PORT, e.g. 127.0.0.1:17991\n");
        return false;
    }
    ok = is_loopback(ai->ai_addr) && ai->ai_addrlen <= sizeof o->listen;
    if (ok) {
        memcpy(&o->listen, ai->ai_addr, ai->ai_addrlen);
        o->listen_len = ai->ai_addrlen;
        snprintf(o->listen_host, sizeof o->listen_host, ai->ai_family == AF_INET6 ? "[%s]" : "%s",
                 host);
    } else {
        fprintf(stderr, "ukey-ca: --listen %s: only loopback addresses (plain HTTP)\n", text);
    }
    freeaddrinfo(ai);
    return ok;
}

static bool apply_option(int opt, const char *arg, struct ca_options *o)
{
    switch (opt) {
    case OPT_LISTEN: return parse_listen(arg, o);
    case OPT_DB: o->db_path = arg; return true;
    case OPT_SEED: o->seed_path = arg; return true;
    case OPT_STATIC: o->static_dir = arg; return true;
    case OPT_PUBLIC_URL: o->public_url = arg; return true;
    case OPT_READY_FILE: o->ready_file = arg; return true;
    case OPT_SMS_RESEND: return parse_seconds(arg, "sms-resend-seconds", &o->t.sms_resend_s);
    case OPT_CODE_TTL: return parse_seconds(arg, "code-ttl-seconds", &o->t.sms_code_ttl_s);
    case OPT_UNLOCK_TTL:
        return parse_seconds(arg, "unlock-code-ttl-seconds", &o->t.unlock_code_ttl_s);
    case OPT_REQUEST_TTL: return parse_seconds(arg, "request-ttl-seconds", &o->t.request_ttl_s);
    case OPT_CERT_ACTION_TTL:
        return parse_seconds(arg, "cert-action-ttl-seconds", &o->t.cert_action_ttl_s);
    case OPT_UKEYD_PORT: return parse_port(arg, "ukeyd-port", &o->ukeyd_port);
    case OPT_HOTLINE: return portal_text(arg, "hotline", &o->hotline);
    case OPT_PORTAL_MIN_UKEYD: return portal_text(arg, "portal-min-ukeyd", &o->portal_min_ukeyd);
    case OPT_ISSUER:
        if (o->n_issuers == OPTIONS_ISSUERS_MAX) {
            fprintf(stderr, "ukey-ca: at most %d --issuer\n", OPTIONS_ISSUERS_MAX);
            return false;
        }
        o->issuers[o->n_issuers++] = arg;
        return true;
    default: return false;
    }
}

enum options_result options_parse(int argc, char **argv, struct ca_options *o)
{
    int opt;

    memset(o, 0, sizeof *o);
    o->t = (struct ca_timings){ DEFAULT_SMS_RESEND_S, DEFAULT_SMS_CODE_TTL_S,
                                DEFAULT_UNLOCK_TTL_S, DEFAULT_REQUEST_TTL_S,
                                DEFAULT_CERT_ACTION_TTL_S };
    o->ukeyd_port = DEFAULT_UKEYD_PORT;
    if (!parse_listen(DEFAULT_LISTEN, o))
        return OPTIONS_EXIT_USAGE;
    while ((opt = getopt_long(argc, argv, "l:d:s:S:u:hV", long_options, NULL)) != -1) {
        if (opt == OPT_HELP) {
            usage(stdout);
            return OPTIONS_EXIT_OK;
        }
        if (opt == OPT_VERSION) {
            printf("ukey-ca %s\n", UKEYD_VERSION);
            return OPTIONS_EXIT_OK;
        }
        if (!apply_option(opt, optarg, o)) {
            usage(stderr);
            return OPTIONS_EXIT_USAGE;
        }
    }
    if (optind != argc || !o->db_path) {
        fprintf(stderr, "ukey-ca: --db is required\n");
        usage(stderr);
        return OPTIONS_EXIT_USAGE;
    }
    return OPTIONS_RUN;
}
