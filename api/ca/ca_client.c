/* SPDX-License-Identifier: MIT */
/*
 * api/ca/ca_client.c — the unlock/v1 client: one libcurl exchange per call
 * (no redirects, bounded time, bounded answer, TLS verified), the CA's
 * problem codes mapped to ca_err, and every answer checked member by member
 * with jansson before any of it is used.
 *
 * Answers are read into one buffer of the largest size accepted, allocated
 * once and wiped when freed, because authorize and reconcile answers carry
 * PUKs; jansson's allocator (api/base/json.c) wipes the parsed values too.
 */
#include "api/ca/ca_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/ca/ca_http.h"
#include "api/base/curl.h"
#include "api/base/json.h"
#include "api/base/log.h"
#include "api/base/scoped.h"

#define ANSWER_MAX           (32 * 1024)
#define FULL_URL_MAX         (CA_URL_MAX + sizeof CA_UNLOCK_PREFIX + CA_CALL_PATH_MAX)
#define USER_AGENT           "ukeyd/" UKEYD_VERSION
#define MEDIA_JSON           "application/json"
#define MEDIA_PROBLEM        "application/problem+json"
#define HTTP_SUCCESS_MIN     200
#define HTTP_SUCCESS_MAX     299
#define HTTP_CLIENT_ERROR_MIN 400
#define HTTP_SERVER_ERROR_MIN 500
#define SECONDS_MAX          86400       /* the longest wait or life a service may name */
#define ATTEMPTS_MAX         100
#define REVIEW_REASON_MAX    512
#define UPPER_CASE           "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define LETTERS              "abcdefghijklmnopqrstuvwxyz" UPPER_CASE
#define DIGITS               "0123456789"

struct ca_client {
    char *base_url;                      /* without a trailing '/' */
    char *ca_bundle;
    unsigned connect_timeout_ms;
    unsigned timeout_ms;
};

/* --- names ---------------------------------------------------------------- */

static const char *const err_names[CA_E__COUNT] = {
    [CA_OK] = "OK",
    [CA_E_NO_MEMORY] = "NO_MEMORY",
    [CA_E_UNAVAILABLE] = "UNAVAILABLE",
    [CA_E_BAD_REQUEST] = "BAD_REQUEST",
    [CA_E_PAYMENT_REQUIRED] = "PAYMENT_REQUIRED",
    [CA_E_PHONE_MISMATCH] = "PHONE_MISMATCH",
    [CA_E_CODE_INCORRECT] = "CODE_INCORRECT",
    [CA_E_CODE_NOT_ISSUED] = "CODE_NOT_ISSUED",
    [CA_E_CODE_EXPIRED] = "CODE_EXPIRED",
    [CA_E_TOO_MANY_ATTEMPTS] = "TOO_MANY_ATTEMPTS",
    [CA_E_RATE_LIMITED] = "RATE_LIMITED",
    [CA_E_TOKEN_UNKNOWN] = "TOKEN_UNKNOWN",
    [CA_E_REQUEST_UNKNOWN] = "REQUEST_UNKNOWN",
    [CA_E_REQUEST_EXPIRED] = "REQUEST_EXPIRED",
    [CA_E_STATE_CONFLICT] = "STATE_CONFLICT",
    [CA_E_ROTATION_UNKNOWN] = "ROTATION_UNKNOWN",
    [CA_E_ROTATION_CONFLICT] = "ROTATION_CONFLICT",
    [CA_E_ROTATION_CLOSED] = "ROTATION_CLOSED",
    [CA_E_ACTION_UNKNOWN] = "ACTION_UNKNOWN",
    [CA_E_PUK_RECORD_MISMATCH] = "PUK_RECORD_MISMATCH",
    [CA_E_MECHANISM_UNSUPPORTED] = "MECHANISM_UNSUPPORTED",
};

static const char *const mechanism_names[CA_MECH__COUNT] = {
    [CA_MECH_PUK] = "puk",
    [CA_MECH_ADMIN_PIN] = "admin-pin",
    [CA_MECH_REMOTE] = "remote-challenge",
};

/* The members that carry each mechanism's pair of secrets; none for the remote one. */
static const char *const secret_members[CA_MECH__COUNT][2] = {
    [CA_MECH_PUK] = { "puk", "nextPuk" },
    [CA_MECH_ADMIN_PIN] = { "adminPin", "nextAdminPin" },
};

const char *ca_mechanism_name(enum ca_mechanism m)
{
    return (unsigned)m < CA_MECH__COUNT ? mechanism_names[m] : NULL;
}

static bool mechanism_of_name(const char *name, enum ca_mechanism *out)
{
    for (int m = 0; m < CA_MECH__COUNT; m++)
        if (strcmp(name, mechanism_names[m]) == 0) {
            *out = (enum ca_mechanism)m;
            return true;
        }
    return false;
}

const char *ca_err_name(ca_err err)
{
    return (unsigned)err < CA_E__COUNT ? err_names[err] : err_names[CA_E_UNAVAILABLE];
}

/* The CA's codes this client acts on; any other refusal is a service it cannot use. */
static ca_err err_of_code(const char *code)
{
    for (int e = CA_E_BAD_REQUEST; e < CA_E__COUNT; e++)
        if (strcmp(code, err_names[e]) == 0)
            return (ca_err)e;
    return CA_E_UNAVAILABLE;
}

static const char *const state_names[CA_STATE__COUNT] = {
    [CA_STATE_AWAITING_PAYMENT] = "awaiting-payment",
    [CA_STATE_AWAITING_IDENTITY] = "awaiting-identity",
    [CA_STATE_REVIEW_PENDING] = "review-pending",
    [CA_STATE_REVIEW_APPROVED] = "review-approved",
    [CA_STATE_REVIEW_REJECTED] = "review-rejected",
    [CA_STATE_AUTHORIZED] = "authorized",
    [CA_STATE_COMPLETED] = "completed",
    [CA_STATE_EXPIRED] = "expired",
};

const char *ca_state_name(enum ca_state state)
{
    return (unsigned)state < CA_STATE__COUNT ? state_names[state] : state_names[CA_STATE_EXPIRED];
}

static bool state_of_name(const char *name, enum ca_state *out)
{
    for (int s = 0; s < CA_STATE__COUNT; s++) {
        if (strcmp(name, state_names[s]) == 0) {
            *out = (enum ca_state)s;
            return true;
        }
    }
    return false;
}

static const char *const review_names[] = {
    [CA_REVIEW_NONE] = NULL,
    [CA_REVIEW_PENDING] = "pending",
    [CA_REVIEW_APPROVED] = "approved",
    [CA_REVIEW_REJECTED] = "rejected",
};

/* The state a STATE_CONFLICT of unlock/v1 may carry (ca_http.h). */
static bool unlock_state_known(const char *name)
{
    enum ca_state ignored;

    return state_of_name(name, &ignored);
}

static const struct ca_protocol unlock_v1 = {
    .prefix = CA_UNLOCK_PREFIX, .service = "unlock service", .state_known = unlock_state_known,
};

const char *ca_review_name(enum ca_review review)
{
    return (unsigned)review < sizeof review_names / sizeof review_names[0] ? review_names[review]
                                                                          : NULL;
}

/* --- checks on text from the service ------------------------------------- */

bool ca_chars_in(const char *s, const char *set, size_t max)
{
    size_t n = strlen(s);

    return n > 0 && n <= max && strspn(s, set) == n;
}

bool ca_id_valid(const char *id)
{
    return id && ca_chars_in(id, LETTERS DIGITS "-_", CA_ID_MAX);
}

/* "30.00": digits, a point, two digits. */
static bool amount_valid(const char *s)
{
    const char *point = strchr(s, '.');

    return point && point > s && strlen(point + 1) == 2 && strlen(s) <= CA_AMOUNT_MAX &&
           strspn(s, DIGITS) == (size_t)(point - s) && strspn(point + 1, DIGITS) == 2;
}

static bool currency_valid(const char *s)
{
    return strlen(s) == CA_CURRENCY_LEN && ca_chars_in(s, UPPER_CASE, CA_CURRENCY_LEN);
}

static bool puk_valid(const char *s)
{
    for (const char *p = s; *p; p++)
        if (*p < ' ' || *p > '~')
            return false;
    return *s && strlen(s) <= CA_PUK_MAX;
}

/* A link for the portal to open: an absolute http(s) URL with a host. */
static bool link_valid(const char *s)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    bool ok = false;

    if (u && strlen(s) <= CA_URL_MAX && curl_url_set(u, CURLUPART_URL, s, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
        ok = strcmp(scheme, "https") == 0 || strcmp(scheme, "http") == 0;
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

struct url_parts {
    char *scheme, *host, *user, *query, *fragment;
};

static void url_parts_free(struct url_parts *p)
{
    curl_free(p->scheme);
    curl_free(p->host);
    curl_free(p->user);
    curl_free(p->query);
    curl_free(p->fragment);
}

/* Whether `url` parses, with its scheme and host in `p`. */
static bool url_split(const char *url, struct url_parts *p)
{
    CURLU *u = curl_url();
    bool ok = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_SCHEME, &p->scheme, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_HOST, &p->host, 0) == CURLUE_OK;

    if (ok) {
        /* Absent parts answer an error code and leave the pointer NULL. */
        curl_url_get(u, CURLUPART_USER, &p->user, 0);
        curl_url_get(u, CURLUPART_QUERY, &p->query, 0);
        curl_url_get(u, CURLUPART_FRAGMENT, &p->fragment, 0);
    }
    curl_url_cleanup(u);
    return ok;
}

bool ca_url_check(const char *url, char *why, size_t why_size)
{
    struct url_parts p = { 0 };
    const char *problem = NULL;

    if (strlen(url) > CA_URL_MAX)
        problem = "is too long";
    else if (!url_split(url, &p))
        problem = "is not a URL with a scheme and a host";
    else if (p.user)
        problem = "must not carry a user name";
    else if (p.query || p.fragment)
        problem = "must not carry a query or a fragment";
    else if (strcmp(p.scheme, "https") != 0 &&
             !(strcmp(p.scheme, "http") == 0 && httpc_host_is_loopback(p.host)))
        problem = "must be an https:// URL (plain http:// only to a loopback address: "
                  "127.0.0.1 or [::1])";
    url_parts_free(&p);
    if (problem && why)
        snprintf(why, why_size, "%s", problem);
    return problem == NULL;
}

/* --- the client ------------------------------------------------------------ */

int ca_client_global_init(void)
{
    return httpc_global_init();
}

void ca_client_global_cleanup(void)
{
    httpc_global_cleanup();
}

ca_err ca_client_new(const struct ca_client_config *cfg, struct ca_client **out)
{
    struct ca_client *c;
    struct url_parts p = { 0 };
    size_t n;

    *out = NULL;
    if (!cfg->base_url || !ca_url_check(cfg->base_url, NULL, 0))
        return CA_E_UNAVAILABLE;
    c = calloc(1, sizeof *c);
    if (!c || !(c->base_url = strdup(cfg->base_url)) ||
        (cfg->ca_bundle && !(c->ca_bundle = strdup(cfg->ca_bundle)))) {
        ca_client_free(c);
        return CA_E_NO_MEMORY;
    }
    n = strlen(c->base_url);
    while (n > 0 && c->base_url[n - 1] == '/')
        c->base_url[--n] = '\0';
    if (url_split(c->base_url, &p))
    url_parts_free(&p);
    c->connect_timeout_ms = cfg->connect_timeout_ms;
    c->timeout_ms = cfg->timeout_ms;
    *out = c;
    return CA_OK;
}

void ca_client_free(struct ca_client *c)
{
    if (!c)
        return;
    free(c->base_url);
    free(c->ca_bundle);
    free(c);
}

struct ca_client_config ca_client_config_of(const struct ca_client *c)
{
    return (struct ca_client_config){ .base_url = c->base_url, .ca_bundle = c->ca_bundle,
                                      .connect_timeout_ms = c->connect_timeout_ms,
                                      .timeout_ms = c->timeout_ms };
}

const char *ca_client_base_url(const struct ca_client *c)
{
    return c->base_url;
}

/* --- one exchange ---------------------------------------------------------- */

struct answer {
    char *data;                          /* ANSWER_MAX bytes once anything arrived */
    size_t len;
};

static void answer_wipe(struct answer *a)
{
    wipe_free(a->data, a->data ? ANSWER_MAX : 0);
    a->data = NULL;
    a->len = 0;
}

/* One buffer of the largest size allowed, never moved, so no unwiped copy is left. */
static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct answer *a = userdata;
    size_t n = size * nmemb;

    if (n > ANSWER_MAX - a->len)
        return 0;                        /* too big: libcurl ends the transfer with an error */
    if (!a->data && !(a->data = malloc(ANSWER_MAX)))
        return 0;
    memcpy(a->data + a->len, ptr, n);
    a->len += n;
    return n;
}


static bool media_is_json(const char *type)
{
    return type && (strncasecmp(type, MEDIA_JSON, strlen(MEDIA_JSON)) == 0 ||
                    strncasecmp(type, MEDIA_PROBLEM, strlen(MEDIA_PROBLEM)) == 0);
}

static void headers_free(struct curl_slist **h)
{
    curl_slist_free_all(*h);
}

static void easy_free(CURL **h)
{
    if (*h)
        curl_easy_cleanup(*h);
}

static void text_free(char **text)
{
    if (*text)
        json_text_free(*text);
}

/* Options every exchange shares (api/base/curl.h), and a bound on the answer. */
static bool set_common_options(CURL *h, const struct ca_client *c, const char *url,
                               struct answer *a, char *errbuf)
{
    const struct httpc_request rq = {
        .url = url, .ca_bundle = c->ca_bundle, .connect_timeout_ms = c->connect_timeout_ms,
        .timeout_ms = c->timeout_ms, .user_agent = USER_AGENT, .write = on_data,
        .write_data = a, .errbuf = errbuf,
    };

    return httpc_setup(h, &rq) &&
           curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)ANSWER_MAX) == CURLE_OK;
}

static bool set_body(CURL *h, const struct ca_call *call, const char *text,
                     struct curl_slist **headers)
{
    struct curl_slist *more;

    if (!call->post)
        return true;
    if (text) {
        more = curl_slist_append(*headers, "Content-Type: " MEDIA_JSON);
        if (!more)
            return false;
        *headers = more;
    }
    return curl_easy_setopt(h, CURLOPT_POST, 1L) == CURLE_OK &&
           curl_easy_setopt(h, CURLOPT_POSTFIELDS, text ? text : "") == CURLE_OK &&
           curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)(text ? strlen(text) : 0)) == CURLE_OK;
}

/* For the log: which of the CA's services a line is about. */
static const char *service_of(const struct ca_call *call)
{
    return call->protocol->service;
}

static ca_err unavailable(const struct ca_call *call, const char *why)
{
    log_msg(LOG_WARNING, NULL, "%s: %s: %s", service_of(call), call->what, why);
    return CA_E_UNAVAILABLE;
}

/* Copies a string member into `out` when it is there and fits; else leaves it "". */
static void copy_member(json_t *obj, const char *name, char *out, size_t size)
{
    const char *s = json_string_value(json_object_get(obj, name));

    if (s && strlen(s) < size && ca_chars_in(s, LETTERS "-_", size - 1))
        snprintf(out, size, "%s", s);
}

static void read_refusal(const struct ca_call *call, json_t *problem, struct ca_refusal *why)
{
    json_t *attempts = json_object_get(problem, "attemptsLeft");
    json_t *retry = json_object_get(problem, "retryAfter");
    if (json_is_integer(attempts) && json_integer_value(attempts) >= 0 &&
        json_integer_value(attempts) <= ATTEMPTS_MAX)
        why->attempts_left = (int)json_integer_value(attempts);
    if (json_is_integer(retry) && json_integer_value(retry) > 0 &&
        json_integer_value(retry) <= SECONDS_MAX)
        why->retry_after_s = (unsigned)json_integer_value(retry);
    copy_member(problem, "state", why->state, sizeof why->state);
    if (why->state[0] && !call->protocol->state_known(why->state))
        why->state[0] = '\0';
    copy_member(problem, "result", why->result, sizeof why->result);
    if (strcmp(why->result, "rotated") != 0 && strcmp(why->result, "unchanged") != 0)
        why->result[0] = '\0';
    copy_member(problem, "field", why->field, sizeof why->field);
}

/* A refusal: its code when the client knows it, else the service is of no use. */
static ca_err refusal_of(const struct ca_call *call, long status, json_t *problem,
                         struct ca_refusal *why)
{
    const char *code = json_string_value(json_object_get(problem, "code"));
    char text[CA_CODE_NAME_MAX + CA_WHY_MAX];
    ca_err err;

    if (status >= HTTP_SERVER_ERROR_MIN || !code) {
        snprintf(text, sizeof text, "HTTP %ld%s", status, code ? "" : " without a problem code");
        return unavailable(call, text);
    }
    err = err_of_code(code);
    if (err == CA_E_UNAVAILABLE) {
        snprintf(text, sizeof text, "HTTP %ld with an unexpected code%s%s", status,
                 ca_chars_in(code, UPPER_CASE "_", CA_CODE_NAME_MAX) ? " " : "",
                 ca_chars_in(code, UPPER_CASE "_", CA_CODE_NAME_MAX) ? code : "");
        return unavailable(call, text);
    }
    read_refusal(call, problem, why);
    log_msg(LOG_INFO, NULL, "%s: %s: %s", service_of(call), call->what, ca_err_name(err));
    return err;
}

/* The answer's JSON object, or NULL (an answer that is not one is garbage). */
static json_t *parse_answer(const struct answer *a)
{
    json_error_t jerr;
    json_t *root = a->data ? json_loadb(a->data, a->len, JSON_REJECT_DUPLICATES, &jerr) : NULL;

    OPENSSL_cleanse(&jerr, sizeof jerr);   /* its text quotes the answer */
    if (root && !json_is_object(root)) {
        json_decref(root);
        root = NULL;
    }
    return root;
}

/* Runs one exchange with a prepared handle; CA_OK with *out set for a 2xx object. */
static ca_err perform(CURL *h, const struct ca_call *call, struct answer *a, const char *errbuf,
                      json_t **out, struct ca_refusal *why)
{
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    char *type = NULL;
    json_t *root;

    if (rc != CURLE_OK)
        return unavailable(call, errbuf[0] ? errbuf : curl_easy_strerror(rc));
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &type);
    if (status < HTTP_SUCCESS_MIN || (status > HTTP_SUCCESS_MAX && status < HTTP_CLIENT_ERROR_MIN))
        return unavailable(call, "an unexpected HTTP status");
    root = media_is_json(type) ? parse_answer(a) : NULL;
    if (status >= HTTP_CLIENT_ERROR_MIN) {
        ca_err err = refusal_of(call, status, root, why);

        json_decref(root);
        return err;
    }
    if (!root)
        return unavailable(call, "the answer is not a JSON object");
    *out = root;
    return CA_OK;
}

/* A call with a bound of its own tighter than the client's ca-timeout. */
static bool bound_call(CURL *h, const struct ca_client *c, const struct ca_call *call)
{
    if (!call->timeout_ms || call->timeout_ms >= c->timeout_ms)
        return true;
    return curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)call->timeout_ms) == CURLE_OK;
}

/* Every call starts with an empty refusal, so a caller may read it whatever happened. */
void ca_refusal_reset(struct ca_refusal *why)
{
    if (why)
        *why = (struct ca_refusal){ .attempts_left = -1 };
}

ca_err ca_exchange(const struct ca_client *c, const struct ca_call *call, json_t **out,
                   struct ca_refusal *why)
{
    SCOPED(easy_free) CURL *h = curl_easy_init();
    SCOPED(headers_free) struct curl_slist *headers = NULL;
    SCOPED(text_free) char *text = NULL;
    char url[FULL_URL_MAX], errbuf[CURL_ERROR_SIZE] = "";
    struct answer a = { 0 };
    ca_err err;

    *out = NULL;
    snprintf(url, sizeof url, "%s%s%s", c->base_url, call->protocol->prefix, call->path);
    if (!h || (call->body && !(text = json_dumps(call->body, JSON_COMPACT))))
        return CA_E_NO_MEMORY;
    headers = curl_slist_append(NULL, "Accept: " MEDIA_JSON ", " MEDIA_PROBLEM);
    /* No "Expect: 100-continue" round trip: the bodies are small. */
    if (!headers || !curl_slist_append(headers, "Expect:") ||
        !set_common_options(h, c, url, &a, errbuf) || !bound_call(h, c, call) ||
        !set_body(h, call, text, &headers) ||
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers) != CURLE_OK)
        return CA_E_NO_MEMORY;
    err = perform(h, call, &a, errbuf, out, why ? why : &(struct ca_refusal){ 0 });
    answer_wipe(&a);
    return err;
}

/* --- answers --------------------------------------------------------------- */

/* Logs why an answer has the wrong shape (jansson names the member, never its value). */
ca_err ca_shape_error(const struct ca_call *call, json_error_t *jerr, const char *member)
{
    char text[CA_WHY_MAX + sizeof jerr->text];

    if (jerr)
        snprintf(text, sizeof text, "unexpected answer: %s", jerr->text);
    else
        snprintf(text, sizeof text, "unexpected answer: member \"%s\" is not valid", member);
    if (jerr)
        OPENSSL_cleanse(jerr, sizeof *jerr);
    return unavailable(call, text);
}

static char *dup_link(json_t *v, bool *ok)
{
    const char *s = json_string_value(v);
    char *copy;

    if (json_is_null(v))
        return NULL;
    if (!s || !link_valid(s)) {
        *ok = false;
        return NULL;
    }
    copy = strdup(s);
    if (!copy)
        *ok = false;
    return copy;
}

static bool read_fee(json_t *fee, struct ca_request *out)
{
    int required = 0, paid = 0;
    const char *amount = NULL, *currency = NULL;

    if (json_unpack(fee, "{s:b, s:s, s:s, s:b}", "required", &required, "amount", &amount,
                    "currency", &currency, "paid", &paid) || !amount_valid(amount) ||
        !currency_valid(currency))
        return false;
    out->fee_required = required;
    out->fee_paid = paid;
    snprintf(out->fee_amount, sizeof out->fee_amount, "%s", amount);
    snprintf(out->fee_currency, sizeof out->fee_currency, "%s", currency);
    return true;
}

static bool read_methods(json_t *methods, struct ca_request *out)
{
    size_t i;
    json_t *m;

    if (!json_is_array(methods))
        return false;
    json_array_foreach(methods, i, m) {
        const char *name = json_string_value(m);

        out->method_sms |= name && strcmp(name, "sms") == 0;
        out->method_review |= name && strcmp(name, "review") == 0;
    }
    return true;
}

static bool read_review(json_t *review, struct ca_request *out)
{
    const char *state = NULL;
    json_t *reason = NULL;

    out->review = CA_REVIEW_NONE;
    if (json_is_null(review))
        return true;
    if (json_unpack(review, "{s:s, s?o}", "state", &state, "reason", &reason))
        return false;
    for (int r = CA_REVIEW_PENDING; r <= CA_REVIEW_REJECTED; r++)
        if (strcmp(state, review_names[r]) == 0)
            out->review = (enum ca_review)r;
    if (out->review == CA_REVIEW_NONE)
        return false;
    if (!reason || json_is_null(reason))
        return true;
    if (!json_is_string(reason) || json_string_length(reason) > REVIEW_REASON_MAX)
        return false;
    out->review_reason = strdup(json_string_value(reason));
    return out->review_reason != NULL;
}

static ca_err read_request(const struct ca_call *call, json_t *root, struct ca_request *out)
{
    const char *id, *state, *masked, *expires;
    json_t *fee, *pay, *methods, *review_url, *review;
    json_error_t jerr;
    bool links_ok = true;

    *out = (struct ca_request){ 0 };
    if (json_unpack_ex(root, &jerr, 0, "{s:s, s:s, s:o, s:o, s:s, s:o, s:o, s:o, s:s}",
                       "requestId", &id, "state", &state, "fee", &fee, "paymentUrl", &pay,
                       "maskedPhone", &masked, "methods", &methods, "reviewUrl", &review_url,
                       "review", &review, "expiresAt", &expires))
        return ca_shape_error(call, &jerr, NULL);
    if (!ca_id_valid(id))
        return ca_shape_error(call, NULL, "requestId");
    if (!state_of_name(state, &out->state))
        return ca_shape_error(call, NULL, "state");
    if (!read_fee(fee, out))
        return ca_shape_error(call, NULL, "fee");
    if (!ca_chars_in(masked, DIGITS "*", CA_MASKED_PHONE_MAX))
        return ca_shape_error(call, NULL, "maskedPhone");
    if (!ca_chars_in(expires, DIGITS "TZ:.+-", CA_TIME_MAX))
        return ca_shape_error(call, NULL, "expiresAt");
    if (!read_methods(methods, out))
        return ca_shape_error(call, NULL, "methods");
    snprintf(out->id, sizeof out->id, "%s", id);
    snprintf(out->masked_phone, sizeof out->masked_phone, "%s", masked);
    snprintf(out->expires_at, sizeof out->expires_at, "%s", expires);
    out->payment_url = dup_link(pay, &links_ok);
    out->review_url = dup_link(review_url, &links_ok);
    if (!links_ok || !read_review(review, out)) {
        ca_request_clear(out);
        return ca_shape_error(call, NULL, links_ok ? "review" : "paymentUrl/reviewUrl");
    }
    return CA_OK;
}

void ca_request_clear(struct ca_request *r)
{
    free(r->payment_url);
    free(r->review_url);
    free(r->review_reason);
    *r = (struct ca_request){ 0 };
}

/* The pair of secrets a mechanism hands out, checked; nothing for the remote one. */
static ca_err read_secrets(const struct ca_call *call, json_t *root, struct ca_puk_pair *out)
{
    const char *const *names = secret_members[out->mechanism];
    const char *puk, *next;

    if (out->mechanism == CA_MECH_REMOTE)
        return CA_OK;
    puk = json_string_value(json_object_get(root, names[0]));
    next = json_string_value(json_object_get(root, names[1]));
    if (!puk || !next || !puk_valid(puk) || !puk_valid(next) || strcmp(puk, next) == 0)
        return ca_shape_error(call, NULL, names[0]);
    snprintf(out->puk, sizeof out->puk, "%s", puk);
    snprintf(out->next_puk, sizeof out->next_puk, "%s", next);
    return CA_OK;
}

/* `allowed`: the mechanisms the answer may name (CA_MECH_BIT()s). Without
 * one the answer is a PUK pair, as before mechanisms were named. */
static ca_err read_pair(const struct ca_call *call, json_t *root, const char *expect_rotation,
                        unsigned allowed, struct ca_puk_pair *out)
{
    const char *rotation, *mechanism = NULL;
    int resumed = 0;
    json_error_t jerr;

    if (json_unpack_ex(root, &jerr, 0, "{s:s, s?s, s?b}", "rotationId", &rotation, "mechanism",
                       &mechanism, "resumed", &resumed))
        return ca_shape_error(call, &jerr, NULL);
    if (!ca_id_valid(rotation) || (expect_rotation && strcmp(rotation, expect_rotation) != 0))
        return ca_shape_error(call, NULL, "rotationId");
    out->mechanism = CA_MECH_PUK;
    if ((mechanism && !mechanism_of_name(mechanism, &out->mechanism)) ||
        !(allowed & CA_MECH_BIT(out->mechanism)))
        return ca_shape_error(call, NULL, "mechanism");
    snprintf(out->rotation_id, sizeof out->rotation_id, "%s", rotation);
    out->resumed = resumed;
    return read_secrets(call, root, out);
}

void ca_puk_pair_wipe(struct ca_puk_pair *p)
{
    OPENSSL_cleanse(p, sizeof *p);
}

/* --- the calls --------------------------------------------------------------- */


/* {"interface": …, "mechanisms": […]} into `body`; false when out of memory. */
static bool add_offer(json_t *body, const struct ca_offer *offer)
{
    json_t *list = json_array();

    for (int m = 0; list && m < CA_MECH__COUNT; m++)
        if ((offer->mechanisms & CA_MECH_BIT(m)) &&
            json_array_append_new(list, json_string(mechanism_names[m])))
            break;
    return list && json_object_set_new(body, "mechanisms", list) == 0 &&
           json_object_set_new(body, "interface", json_string(offer->interface)) == 0;
}

ca_err ca_open_request(const struct ca_client *c, const char *token_id, const char *cert_serial,
                       const char *cert_issuer, const struct ca_offer *offer, unsigned within_ms,
                       struct ca_request *out, struct ca_refusal *why)
{
    SCOPED_JSON *body = json_pack("{s:s, s:s, s:s}", "tokenId", token_id, "certSerial",
                                  cert_serial, "certIssuer", cert_issuer);
    struct ca_call call = { .protocol = &unlock_v1, .what = "POST /requests",
                            .path = "/requests", .body = body, .post = true,
                            .timeout_ms = within_ms };
    SCOPED_JSON *root = NULL;
    ca_err err;

    ca_refusal_reset(why);
    if (!body || !add_offer(body, offer))
        return CA_E_NO_MEMORY;
    err = ca_exchange(c, &call, &root, why);
    return err ? err : read_request(&call, root, out);
}

ca_err ca_get_request(const struct ca_client *c, const char *request_id, struct ca_request *out,
                      struct ca_refusal *why)
{
    struct ca_call call = { .protocol = &unlock_v1, .what = "GET /requests/{id}" };
    SCOPED_JSON *root = NULL;
    ca_err err;

    ca_refusal_reset(why);
    if (!ca_id_valid(request_id))
        return CA_E_REQUEST_UNKNOWN;
    snprintf(call.path, sizeof call.path, "/requests/%s", request_id);
    err = ca_exchange(c, &call, &root, why);
    return err ? err : read_request(&call, root, out);
}

static bool read_seconds(json_t *root, const char *name, unsigned *out)
{
    json_t *v = json_object_get(root, name);

    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > SECONDS_MAX)
        return false;
    *out = (unsigned)json_integer_value(v);
    return true;
}

ca_err ca_send_sms(const struct ca_client *c, const char *request_id, const char *phone,
                   struct ca_sms_sent *out, struct ca_refusal *why)
{
    SCOPED_JSON *body = json_pack("{s:s}", "phone", phone);
    struct ca_call call = { .protocol = &unlock_v1, .what = "POST /requests/{id}/sms",
                            .body = body, .post = true };
    SCOPED_JSON *root = NULL;
    ca_err err;

    ca_refusal_reset(why);
    if (!body)
        return CA_E_NO_MEMORY;
    if (!ca_id_valid(request_id))
        return CA_E_REQUEST_UNKNOWN;
    snprintf(call.path, sizeof call.path, "/requests/%s/sms", request_id);
    err = ca_exchange(c, &call, &root, why);
    if (err)
        return err;
    if (!read_seconds(root, "resendAfter", &out->resend_after_s) ||
        !read_seconds(root, "expiresIn", &out->expires_in_s))
        return ca_shape_error(&call, NULL, "resendAfter/expiresIn");
    return CA_OK;
}

ca_err ca_verify(const struct ca_client *c, const char *request_id, enum ca_code_kind kind,
                 const char *code, struct ca_request *out, struct ca_refusal *why)
{
    SCOPED_JSON *body = json_pack("{s:s}", kind == CA_CODE_SMS ? "smsCode" : "unlockCode", code);
    struct ca_call call = { .protocol = &unlock_v1, .what = "POST /requests/{id}/verify",
                            .body = body, .post = true };
    SCOPED_JSON *root = NULL;
    ca_err err;

    ca_refusal_reset(why);
    if (!body)
        return CA_E_NO_MEMORY;
    if (!ca_id_valid(request_id))
        return CA_E_REQUEST_UNKNOWN;
    snprintf(call.path, sizeof call.path, "/requests/%s/verify", request_id);
    err = ca_exchange(c, &call, &root, why);
    return err ? err : read_request(&call, root, out);
}

ca_err ca_authorize(const struct ca_client *c, const char *request_id,
                    const struct ca_offer *offer, struct ca_puk_pair *out,
                    struct ca_refusal *why)
{
    SCOPED_JSON *body = json_object();
    struct ca_call call = { .protocol = &unlock_v1, .what = "POST /requests/{id}/authorize",
                            .body = body, .post = true };
    SCOPED_JSON *root = NULL;
    ca_err err;

    ca_refusal_reset(why);
    if (!body || !add_offer(body, offer))
        return CA_E_NO_MEMORY;
    if (!ca_id_valid(request_id))
        return CA_E_REQUEST_UNKNOWN;
    snprintf(call.path, sizeof call.path, "/requests/%s/authorize", request_id);
    err = ca_exchange(c, &call, &root, why);
    return err ? err : read_pair(&call, root, NULL, offer->mechanisms, out);
}

ca_err ca_confirm(const struct ca_client *c, const char *rotation_id,
                  enum ca_rotation_result result, bool pin_reset, struct ca_refusal *why)
{
    SCOPED_JSON *body = json_pack("{s:s, s:b}", "result",
                                  result == CA_ROTATION_ROTATED ? "rotated" : "unchanged",
                                  "pinReset", pin_reset);
    struct ca_call call = { .protocol = &unlock_v1, .what = "POST /rotations/{id}/confirm",
                            .body = body, .post = true };
    SCOPED_JSON *root = NULL;

    ca_refusal_reset(why);
    if (!body)
        return CA_E_NO_MEMORY;
    if (!ca_id_valid(rotation_id))
        return CA_E_ROTATION_UNKNOWN;
    snprintf(call.path, sizeof call.path, "/rotations/%s/confirm", rotation_id);
    return ca_exchange(c, &call, &root, why);
}

ca_err ca_reconcile(const struct ca_client *c, const char *rotation_id, struct ca_puk_pair *out,
                    struct ca_refusal *why)
{
    struct ca_call call = { .protocol = &unlock_v1, .what = "POST /rotations/{id}/reconcile",
                            .post = true };
    SCOPED_JSON *root = NULL;
    ca_err err;

    ca_refusal_reset(why);
    if (!ca_id_valid(rotation_id))
        return CA_E_ROTATION_UNKNOWN;
    snprintf(call.path, sizeof call.path, "/rotations/%s/reconcile", rotation_id);
    err = ca_exchange(c, &call, &root, why);
    return err ? err : read_pair(&call, root, rotation_id, ~0u, out);
}

ca_err ca_report(const struct ca_client *c, const char *rotation_id, enum ca_puk_problem problem,
                 int puk_tries_left, struct ca_refusal *why)
{
    static const char *const problems[] = {
        [CA_PUK_INCORRECT] = "puk-incorrect",
        [CA_PUK_UNFIT] = "puk-unfit",
        [CA_ANSWER_INCORRECT] = "answer-incorrect",
    };
    SCOPED_JSON *body = json_pack("{s:s}", "cardRefused", problems[problem]);
    struct ca_call call = { .protocol = &unlock_v1, .what = "POST /rotations/{id}/report",
                            .body = body, .post = true };
    SCOPED_JSON *root = NULL;

    ca_refusal_reset(why);
    if (!body || (puk_tries_left >= 0 &&
                  json_object_set_new(body, "pukTriesLeft", json_integer(puk_tries_left))))
        return CA_E_NO_MEMORY;
    if (!ca_id_valid(rotation_id))
        return CA_E_ROTATION_UNKNOWN;
    snprintf(call.path, sizeof call.path, "/rotations/%s/report", rotation_id);
    return ca_exchange(c, &call, &root, why);
}

static void hex_free(char **hex)
{
    OPENSSL_clear_free(*hex, strlen(*hex ? *hex : ""));
}

/* Upper-case hex without separators (OpenSSL's), or NULL. */
static char *hex_of(const uint8_t *buf, size_t len)
{
    size_t size = 2 * len + 1;
    char *hex = OPENSSL_malloc(size);

    if (hex && !OPENSSL_buf2hexstr_ex(hex, size, NULL, buf, len, '\0')) {
        OPENSSL_free(hex);
        hex = NULL;
    }
    return hex;
}

/* The remote-unblock answer's length: 16·n + 4 bytes, n = 1 or 2. */
static bool answer_len_valid(size_t len)
{
    enum { SM4_BLOCK = 16, MAC_LEN = 4 };

    return len > MAC_LEN && len <= CA_ANSWER_MAX && (len - MAC_LEN) % SM4_BLOCK == 0;
}

ca_err ca_answer(const struct ca_client *c, const char *rotation_id, const uint8_t *challenge,
                 size_t challenge_len, const char *pin, uint8_t *answer, size_t *answer_len,
                 struct ca_refusal *why)
{
    SCOPED(hex_free) char *hex = hex_of(challenge, challenge_len);
    SCOPED_JSON *body = hex ? json_pack("{s:s, s:s}", "challenge", hex, "pin", pin) : NULL;
    struct ca_call call = { .protocol = &unlock_v1, .what = "POST /rotations/{id}/answer",
                            .body = body, .post = true };
    SCOPED_JSON *root = NULL;
    const char *given;
    ca_err err;

    ca_refusal_reset(why);
    if (!body)
        return CA_E_NO_MEMORY;
    if (!ca_id_valid(rotation_id))
        return CA_E_ROTATION_UNKNOWN;
    snprintf(call.path, sizeof call.path, "/rotations/%s/answer", rotation_id);
    if ((err = ca_exchange(c, &call, &root, why)) != CA_OK)
        return err;
    given = json_string_value(json_object_get(root, "answer"));
    if (!given || strlen(given) > 2 * CA_ANSWER_MAX ||
        !ca_chars_in(given, DIGITS "ABCDEF", 2 * CA_ANSWER_MAX) ||
        !OPENSSL_hexstr2buf_ex(answer, CA_ANSWER_MAX, answer_len, given, '\0') ||
        !answer_len_valid(*answer_len))
        return ca_shape_error(&call, NULL, "answer");
    return CA_OK;
}
