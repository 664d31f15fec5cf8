/* SPDX-License-Identifier: MIT */
/*
 * api/env/env_token.c — one check per token (token.<id>): its PIN state and its
 * certificates' validity, from the token service's snapshot, so the check
 * costs no PIN try and reads no card.
 *
 * A token can have several problems at once; the check's state is the worst
 * of them, its sentence names the most pressing one (a blocked PIN before an
 * expired certificate before one about to expire), and details list them all.
 */
#include <stdio.h>
#include <string.h>

#include "api/env/env_clock.h"
#include "api/env/env_pcsc.h"

#define TOKEN_ID_PREFIX "token."
#define NO_SERIAL       "—"
#define LAST_TRY        1               /* a wrong PIN now blocks the token */

/* The problems a token can have, most pressing first. */
enum token_issue {
    ISSUE_PIN_BLOCKED,
    ISSUE_CERT_EXPIRED,
    ISSUE_CERT_NOT_YET_VALID,
    ISSUE_CERT_EXPIRING,
    ISSUE_PIN_LAST_TRY,
    ISSUE_CERT_UNREADABLE,
    ISSUE_NO_CERT,
    ISSUE__COUNT
};

struct issue_words {
    const char *name;                   /* for details.problems */
    enum env_state state;
    enum env_msg found, hint;
};

static const struct issue_words issue_words[ISSUE__COUNT] = {
    [ISSUE_PIN_BLOCKED] = { "pin-blocked", ENV_FAIL, ENV_TOKEN_PIN_BLOCKED,
                              ENV_TOKEN_HINT_BLOCKED },
    [ISSUE_CERT_EXPIRED] = { "certificate-expired", ENV_FAIL, ENV_TOKEN_CERT_EXPIRED,
                               ENV_TOKEN_HINT_EXPIRED },
    [ISSUE_CERT_NOT_YET_VALID] = { "certificate-not-yet-valid", ENV_WARN,
                                     ENV_TOKEN_CERT_NOT_YET, ENV_TOKEN_HINT_NOT_YET },
    [ISSUE_CERT_EXPIRING] = { "certificate-expiring", ENV_WARN, ENV_TOKEN_CERT_EXPIRING,
                                ENV_TOKEN_HINT_EXPIRING },
    [ISSUE_PIN_LAST_TRY] = { "pin-last-try", ENV_WARN, ENV_TOKEN_PIN_LAST,
                               ENV_TOKEN_HINT_LAST },
    [ISSUE_CERT_UNREADABLE] = { "certificate-unreadable", ENV_WARN,
                                  ENV_TOKEN_CERT_UNREADABLE, ENV_TOKEN_HINT_UNREADABLE },
    [ISSUE_NO_CERT] = { "no-certificate", ENV_WARN, ENV_TOKEN_NO_CERT,
                          ENV_TOKEN_HINT_NO_CERT },
};

/* What one look at a token found. */
struct token_findings {
    bool has[ISSUE__COUNT];
    const struct token_cert *cert_of[ISSUE__COUNT];   /* the certificate concerned */
    const struct token_cert *first_to_expire;
};

static long days_left(const struct token_cert *c, time_t now)
{
    return cert_days_left(c->summary, now);
}

/* Notes a certificate problem, keeping the certificate it is most urgent for:
 * the one that expired or expires first. */
static void note_cert(struct token_findings *tf, enum token_issue p,
                      const struct token_cert *c)
{
    const struct token_cert *old = tf->cert_of[p];

    tf->has[p] = true;
    if (!old || (c->summary && old->summary && c->summary->not_after < old->summary->not_after))
        tf->cert_of[p] = c;
}

static void judge_cert(struct token_findings *tf, const struct token_cert *c, time_t now)
{
    long days;

    if (!c->summary) {
        note_cert(tf, ISSUE_CERT_UNREADABLE, c);
        return;
    }
    days = days_left(c, now);
    if (c->summary->not_after < now)
        note_cert(tf, ISSUE_CERT_EXPIRED, c);
    else if (c->summary->not_before > now)
        note_cert(tf, ISSUE_CERT_NOT_YET_VALID, c);
    else if (days <= ENV_CERT_WARN_DAYS)
        note_cert(tf, ISSUE_CERT_EXPIRING, c);
    if (!tf->first_to_expire || c->summary->not_after < tf->first_to_expire->summary->not_after)
        tf->first_to_expire = c;
}

static void judge_token(struct token_findings *tf, const struct token_snapshot *s, time_t now)
{
    memset(tf, 0, sizeof *tf);
    tf->has[ISSUE_PIN_BLOCKED] = s->pin.blocked;
    tf->has[ISSUE_PIN_LAST_TRY] = !s->pin.blocked && s->pin.tries_left == LAST_TRY;
    tf->has[ISSUE_NO_CERT] = s->n_certs == 0;
    for (size_t i = 0; i < s->n_certs; i++)
        judge_cert(tf, &s->certs[i], now);
}

static enum env_state worst_state(const struct token_findings *tf)
{
    enum env_state worst = ENV_OK;

    for (int p = 0; p < ISSUE__COUNT; p++)
        if (tf->has[p] && issue_words[p].state > worst)
            worst = issue_words[p].state;
    return worst;
}

static int headline(const struct token_findings *tf)
{
    for (int p = 0; p < ISSUE__COUNT; p++)
        if (tf->has[p])
            return p;
    return -1;
}

static void cert_words(struct env_words *w, const struct token_cert *c, time_t now)
{
    char date[ENV_CLOCK_TEXT_MAX];

    if (!c)
        return;
    /* Named for what it does (env_text.c), never by its slot: "9a" is for
     * the details support staff read. */
    env_words_arg(w, "cert", "%s", c->slot_label ? c->slot_label : "");
    if (!c->summary)
        return;
    /* The moment it begins or ends, in the user's time: a certificate that
     * ends at 23:00 UTC ends the next day in Beijing. */
    env_clock_text(c->summary->not_before > now ? c->summary->not_before : c->summary->not_after,
                   date, sizeof date);
    env_words_arg(w, "date", "%s", date);
    env_words_arg(w, "days", "%ld", days_left(c, now));
}

static void say_findings(struct env_check *c, const struct token_snapshot *s,
                         const struct token_findings *tf, time_t now)
{
    int p = headline(tf);

    if (p < 0) {
        env_check_say(c, ENV_OK, ENV_TOKEN_OK, ENV_MSG_NONE);
        env_words_arg(&c->found, "count", "%zu", s->n_certs);
        cert_words(&c->found, tf->first_to_expire, now);
        return;
    }
    env_check_say(c, worst_state(tf), issue_words[p].found, issue_words[p].hint);
    env_words_arg(&c->found, "tries", "%d", s->pin.tries_left);
    cert_words(&c->found, tf->cert_of[p], now);
}

static json_t *problems_json(const struct token_findings *tf)
{
    json_t *a = json_array();

    for (int p = 0; a && p < ISSUE__COUNT; p++)
        if (tf->has[p])
            json_array_append_new(a, json_string(issue_words[p].name));
    return a;
}

static const char *cert_state(const struct token_cert *c, time_t now)
{
    if (!c->summary)
        return "unreadable";
    if (c->summary->not_after < now)
        return "expired";
    if (c->summary->not_before > now)
        return "not-yet-valid";
    return days_left(c, now) <= ENV_CERT_WARN_DAYS ? "expiring" : "valid";
}

static json_t *certs_json(const struct token_snapshot *s, time_t now)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < s->n_certs; i++) {
        const struct token_cert *c = &s->certs[i];

        json_array_append_new(
            a, json_pack("{s:s, s:s, s:o, s:o}", "slot", c->slot_name, "state",
                         cert_state(c, now), "notAfter",
                         c->summary ? json_string(c->summary->not_after_iso) : json_null(),
                         "daysLeft",
                         c->summary ? json_integer(days_left(c, now)) : json_null()));
    }
    return a;
}

static void add_token_details(struct env_check *c, const struct token_snapshot *s,
                              const struct token_findings *tf, time_t now)
{
    env_check_detail(c, "tokenId", json_string(s->id));
    env_check_detail(c, "reader", json_string(s->reader ? s->reader : ""));
    env_check_detail(c, "model", s->model ? json_string(s->model) : json_null());
    env_check_detail(c, "serial", s->serial ? json_string(s->serial) : json_null());
    env_check_detail(c, "pin", json_pack("{s:o, s:b}", "triesLeft",
                                         s->pin.tries_left >= 0 ? json_integer(s->pin.tries_left)
                                                                : json_null(),
                                         "blocked", s->pin.blocked));
    env_check_detail(c, "certificates", certs_json(s, now));
    env_check_detail(c, "problems", problems_json(tf));
}

static void token_check(struct env_report *r, const struct token_snapshot *s, time_t now)
{
    char id[ENV_CHECK_ID_MAX];
    struct token_findings tf;
    struct env_check *c;

    snprintf(id, sizeof id, TOKEN_ID_PREFIX "%s", s->id);
    c = env_report_add(r, "token", id, ENV_TOKEN_TITLE);
    if (!c)
        return;
    env_words_arg(&c->title, "model", "%s", s->model ? s->model : s->edge);
    env_words_arg(&c->title, "serial", "%s", s->serial ? s->serial : NO_SERIAL);
    judge_token(&tf, s, now);
    say_findings(c, s, &tf, now);
    add_token_details(c, s, &tf, now);
}

void env_token_checks(struct env_report *r, const struct env_pcsc_facts *f, time_t now)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n_tokens; i++)
        token_check(r, f->tokens[i], now);
}
