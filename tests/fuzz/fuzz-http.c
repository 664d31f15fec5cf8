/* SPDX-License-Identifier: MIT */
/*
 * fuzz-http — one HTTP request through everything ukeyd does before a
 * handler touches a card: language negotiation, the Last-Event-ID parser,
 * the gate (Host, Origin, fetch metadata, router, Content-Type and
 * Content-Length: api/http/gate.c, which api/http/server.c runs on every request), the
 * body size bound, the JSON body of the matched handler, the problem body of
 * a refusal, and the log line the server writes for it.
 *
 * Input, as text (libmicrohttpd has parsed the bytes by this point; what
 * reaches our code is method, path and header values):
 *
 *     METHOD SP PATH LF
 *     Name: value LF        (any number; unknown names are ignored)
 *     LF
 *     body
 */
#include "api/http/events.h"
#include "api/http/gate.h"
#include "api/render/lang.h"
#include "api/v1/routes.h"
#include "tests/fuzz/bodies.h"

#include <strings.h>

#define SERVER_PORT      17990
#define RUN_TAG          0x0badc0deu
#define PORTAL_ORIGIN    "https://portal.example.cn"
#define DEMO_ORIGIN      "http://localhost:8080"
#define EVENT_ID_TEXT_MAX 40      /* "0badc0de-" and a 64-bit number */

enum header_slot {
    H_HOST,
    H_ORIGIN,
    H_SEC_FETCH_SITE,
    H_CONTENT_TYPE,
    H_CONTENT_LENGTH,
    H_ACCEPT_LANGUAGE,
    H_LAST_EVENT_ID,
    H__COUNT
};

static const char *const header_names[H__COUNT] = {
    [H_HOST] = "Host",
    [H_ORIGIN] = "Origin",
    [H_SEC_FETCH_SITE] = "Sec-Fetch-Site",
    [H_CONTENT_TYPE] = "Content-Type",
    [H_CONTENT_LENGTH] = "Content-Length",
    [H_ACCEPT_LANGUAGE] = "Accept-Language",
    [H_LAST_EVENT_ID] = "Last-Event-ID",
};

struct parsed {
    char *method, *path;
    char *headers[H__COUNT];     /* the first of each name, as libmicrohttpd's lookup gives */
    const char *body;
    size_t body_len;
};

/* The next line (without LF) as a new string; NULL at the end of the input. */
static char *next_line(struct fuzz_input *in)
{
    const uint8_t *lf;
    char *line;

    if (!in->left)
        return NULL;
    lf = memchr(in->p, '\n', in->left);
    line = fuzz_string(in, lf ? (size_t)(lf - in->p) : in->left);
    if (lf)
        fuzz_byte(in);
    return line;
}

static void take_header(struct parsed *r, char *line)
{
    char *colon = strchr(line, ':');

    if (!colon)
        return;
    *colon = '\0';
    for (size_t i = 0; i < H__COUNT; i++) {
        if (!r->headers[i] && strcasecmp(line, header_names[i]) == 0) {
            const char *value = colon + 1 + strspn(colon + 1, " \t");

            r->headers[i] = strdup(value);
            return;
        }
    }
}

static void parse_request(struct fuzz_input *in, struct parsed *r)
{
    char *line = next_line(in), *space;

    r->method = line ? line : strdup("");
    space = strchr(r->method, ' ');
    r->path = strdup(space ? space + 1 : "/");
    if (space)
        *space = '\0';
    while ((line = next_line(in)) && line[0]) {
        take_header(r, line);
        free(line);
    }
    free(line);
    r->body = (const char *)in->p;
    r->body_len = in->left;
}

static void parsed_free(struct parsed *r)
{
    free(r->method);
    free(r->path);
    for (size_t i = 0; i < H__COUNT; i++)
        free(r->headers[i]);
}

static void check_last_event_id(const char *id)
{
    uint64_t number = 0;
    char again[EVENT_ID_TEXT_MAX];

    if (!id || !events_id_number(id, RUN_TAG, &number))
        return;
    /* An id the parser accepts is one this run could have issued: it reads
     * back as the same text, or as a shorter one when it had leading zeros. */
    snprintf(again, sizeof again, "%08x-%llu", RUN_TAG, (unsigned long long)number);
    FUZZ_ASSERT(strcmp(again, id) == 0 || strlen(id) > strlen(again));
}

/* What the server does with a refused request: the problem body and the log line. */
static void refuse(const struct parsed *r, const struct gate_verdict *v, enum api_lang lang)
{
    struct problem p = problem_of(v->code);

    FUZZ_ASSERT(v->code != API_METHOD_NOT_ALLOWED || v->match.allow[0]);
    fuzz_render_problem(&p, lang);
    log_msg(LOG_NOTICE, &(struct log_fields){ .origin = r->headers[H_ORIGIN],
                                              .request_id = "0badc0de-1" },
            "refused %s %s: %s", r->method, r->path, api_code_name(v->code));
}

static void check_params(const struct gate_verdict *v)
{
    for (size_t i = 0; i < v->match.n_params; i++) {
        const char *value = v->match.params[i].value;

        /* router.h: parameters are letters, digits, '-', '_', '.' and '~'
         * only (URL-safe), and never "." or ".." (no path step). */
        FUZZ_ASSERT(value[0] && strspn(value, "abcdefghijklmnopqrstuvwxyz"
                                              "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~") ==
                                    strlen(value));
        FUZZ_ASSERT(strcmp(value, ".") != 0 && strcmp(value, "..") != 0);
    }
}

static void pass(const struct parsed *r, const struct gate_verdict *v, enum api_lang lang)
{
    const struct fuzz_body_spec *spec;

    FUZZ_ASSERT(v->options || v->match.route != NULL);
    if (v->options)
        return;
    check_params(v);
    if (!(v->match.route->flags & ROUTE_JSON_BODY))
        return;
    if (r->body_len > GUARD_BODY_MAX) {
        struct problem p = problem_of(API_PAYLOAD_TOO_LARGE);

        fuzz_render_problem(&p, lang);
        return;
    }
    spec = fuzz_body_of(v->match.route->handler);
    FUZZ_ASSERT(spec != NULL);   /* a POST route without a body list in bodies.h */
    fuzz_body_run(spec, r->body, r->body_len, lang);
}

static void setup_rules(struct gate_rules *rules)
{
    static struct guard_hosts hosts;
    static struct origin_list *origins;
    static const char *const allowed[] = { PORTAL_ORIGIN, DEMO_ORIGIN };

    if (!origins) {
        guard_hosts_init(&hosts);
        guard_hosts_add_port(&hosts, SERVER_PORT);
        origins = origin_list_new(allowed, sizeof allowed / sizeof allowed[0]);
        FUZZ_ASSERT(origins != NULL);
    }
    rules->hosts = &hosts;
    rules->origins = origins;
    rules->routes = api_routes(&rules->n_routes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in = { data, size };
    struct parsed r = { 0 };
    struct gate_rules rules;
    struct gate_verdict v;
    enum api_lang lang;

    fuzz_setup_once();
    setup_rules(&rules);
    parse_request(&in, &r);
    lang = lang_negotiate(r.headers[H_ACCEPT_LANGUAGE], LANG_ZH_CN);
    FUZZ_ASSERT((unsigned)lang < LANG__COUNT);
    check_last_event_id(r.headers[H_LAST_EVENT_ID]);
    gate_evaluate(&(struct gate_request){
                      .method = r.method,
                      .path = r.path,
                      .host = r.headers[H_HOST],
                      .origin = r.headers[H_ORIGIN],
                      .sec_fetch_site = r.headers[H_SEC_FETCH_SITE],
                      .content_type = r.headers[H_CONTENT_TYPE],
                      .content_length = r.headers[H_CONTENT_LENGTH],
                  },
                  &rules, &v);
    if (v.code == API_OK)
        pass(&r, &v, lang);
    else
        refuse(&r, &v, lang);
    parsed_free(&r);
    return 0;
}
