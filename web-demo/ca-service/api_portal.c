/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/api_portal.c — the browser-facing JSON of
 * certificate requests: the portal page's own configuration (where ukeyd
 * listens), what the demo portal (same origin, --static) files and shows in
 * its personal centre (/portal/api/), and the staff's queue and decisions
 * for tests and scripts (/demo/api/cert-requests). A request is named by its
 * number here, never by its action id, and a person reaches it only in the
 * portal session that filed it (portal_session.h). The staff's side is a
 * demo facility: no login, as the rest of /demo/.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certreq.h"
#include "form.h"
#include "handlers.h"
#include "html.h"
#include "portal_session.h"

#define NAME_MAX_BYTES  16
#define LOOPBACK_URL_MAX sizeof "http://127.0.0.1:65535"

/* An optional string member: absent or null is NULL, anything else but a
 * string is refused naming `field`. */
static bool optional_string(json_t *obj, const char *name, const char *field, const char **out,
                            struct ca_problem *p)
{
    json_t *v = json_object_get(obj, name);

    *out = NULL;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_string(v)) {
        *p = ca_bad_field(field);
        return false;
    }
    *out = json_string_value(v);
    return true;
}

static bool details_member(json_t *body, struct subject_details *d, struct ca_problem *p)
{
    json_t *j = json_object_get(body, "details");

    *d = (struct subject_details){ 0 };
    if (!j || json_is_null(j))
        return true;
    if (!json_is_object(j)) {
        *p = ca_bad_field("details");
        return false;
    }
    return optional_string(j, "organization", "details.organization", &d->organization, p) &&
           optional_string(j, "organizationalUnit", "details.organizationalUnit",
                           &d->organizational_unit, p) &&
           optional_string(j, "commonName", "details.commonName", &d->common_name, p) &&
           optional_string(j, "email", "details.email", &d->email, p);
}

static bool filing_of(json_t *body, struct cert_filing *f, struct ca_problem *p)
{
    memset(f, 0, sizeof *f);
    return (f->token_id = req_member_string(body, "tokenId", CA_TOKEN_ID_MAX, p)) &&
           (f->kind = req_member_string(body, "kind", NAME_MAX_BYTES, p)) &&
           (f->slot = req_member_string(body, "slot", NAME_MAX_BYTES, p)) &&
           optional_string(body, "certSerial", "certSerial", &f->cert_serial, p) &&
           optional_string(body, "keyAlgorithm", "keyAlgorithm", &f->key_algorithm, p) &&
           details_member(body, &f->details, p);
}

/*
 * Where the page's client finds ukeyd: set by the CA (--ukeyd-port), never
 * taken from the page's URL, where a link could point the client, PINs and
 * all, at whatever another local user listens on. With it, the support
 * hotline and the oldest ukeyd the page accepts (null: not set).
 */
void portal_config(struct http_req *r)
{
    char base[LOOPBACK_URL_MAX];

    snprintf(base, sizeof base, "http://127.0.0.1:%u", r->ca->ukeyd_port);
    reply_json(r, HTTP_OK, json_pack("{s:s, s:s?, s:s?}", "ukeydBase", base,
                                     "hotline", r->ca->hotline,
                                     "minUkeydVersion", r->ca->portal_min_ukeyd));
}

/* Files in the browser's portal session, opening one (and setting its
 * cookie) for a browser that has none yet. */
void portal_cert_file(struct http_req *r)
{
    struct ca_problem p = ca_ok();
    json_auto_t *body = req_json_object(r, &p);
    char session[CA_ID_MAX] = "";
    struct cert_request req;
    struct cert_filing f;
    bool fresh = false;

    if (body && filing_of(body, &f, &p) &&
        (p = ca_fail(portal_session_open(r, session, &fresh))).code == CA_OK) {
        f.session_id = session;
        p = certreq_file(r->ca, &f, &req);
    }
    reply_outcome(r, HTTP_CREATED, &p, p.code == CA_OK ? certreq_person_view(r->ca, &req) : NULL);
    if (fresh)
        portal_session_send_cookie(r, session);
}

/* A request of this browser's portal session; REQUEST_UNKNOWN otherwise. */
static struct ca_problem own_request(struct http_req *r, const char *number,
                                     struct cert_request *out)
{
    char session[CA_ID_MAX];
    struct ca_problem p = ca_fail(portal_session_of(r, session));

    return p.code == CA_OK ? certreq_load_in_session(r->ca, number, session, out) : p;
}

void portal_cert_material(struct http_req *r)
{
    struct cert_request req;
    struct ca_problem p = own_request(r, r->captures[0], &req);
    HTML_PAGE h = { 0 };

    if (p.code == CA_OK)
        p = form_store_material(r, certreq_add_material, r->captures[0]);
    if (p.code == CA_OK)
        p = certreq_load(r->ca, r->captures[0], &req);
    if (p.code != CA_OK || req_wants_json(r)) {
        reply_outcome(r, HTTP_CREATED, &p, p.code == CA_OK
                      ? json_pack("{s:s, s:s}", "number", req.number, "state",
                                  cr_person_state(req.state)) : NULL);
        return;
    }
    if (!html_begin(&h, "材料已提交", "Materials submitted"))
        return;
    html_raw(&h, "<p>请回到个人中心查看申请进度。<br><span class=\"en\">Go back to the personal "
                 "centre to follow the request.</span></p>");
    html_reply(&h, r, HTTP_CREATED);
}

void portal_token_cert_requests(struct http_req *r)
{
    char session[CA_ID_MAX];
    enum ca_code code = portal_session_of(r, session);
    json_t *list = code == CA_OK ? certreq_token_list(r->ca, r->captures[0], session, &code)
                                 : NULL;
    struct ca_problem p = ca_fail(code);

    reply_outcome(r, HTTP_OK, &p, list);
}

/* --- the staff's JSON ------------------------------------------------------------ */

void demo_cert_requests(struct http_req *r)
{
    struct ca_problem p = ca_ok();

    reply_outcome(r, HTTP_OK, &p, certreq_staff_list(r->ca));
}

static void decide(struct http_req *r, enum cr_decision d, const char *reason)
{
    struct ca_problem p = certreq_decide(r->ca, r->captures[0], d, reason);
    struct cert_request req;

    if (p.code == CA_OK)
        p = certreq_load(r->ca, r->captures[0], &req);
    reply_outcome(r, HTTP_OK, &p, p.code == CA_OK ? certreq_person_view(r->ca, &req) : NULL);
}

void demo_cert_review(struct http_req *r)
{
    decide(r, CR_DECIDE_REVIEW, NULL);
}

void demo_cert_approve(struct http_req *r)
{
    decide(r, CR_DECIDE_APPROVE, NULL);
}

void demo_cert_reject(struct http_req *r)
{
    struct ca_problem p = ca_ok();
    json_auto_t *body = req_json_object(r, &p);

    if (!body) {
        reply_problem(r, &p);
        return;
    }
    decide(r, CR_DECIDE_REJECT, json_string_value(json_object_get(body, "reason")));
}
