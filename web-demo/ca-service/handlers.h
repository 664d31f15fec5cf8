/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/handlers.h — the route handlers: the unlock protocol
 * (api_unlock.c), the certificate protocol (api_cert.c), the portal's and
 * staff's certificate requests (api_portal.c, pages_cert.c), the demo's
 * JSON API (api_demo.c) and its browser pages (pages.c). Each reads the request and answers it through http.h.
 */
#ifndef UKEY_CA_HANDLERS_H
#define UKEY_CA_HANDLERS_H

#include "http.h"

/* the unlock protocol, spoken by ukeyd */
void api_health(struct http_req *r);
void api_open(struct http_req *r);
void api_get(struct http_req *r);
void api_sms(struct http_req *r);
void api_verify(struct http_req *r);
void api_authorize(struct http_req *r);
void api_confirm(struct http_req *r);
void api_reconcile(struct http_req *r);
void api_report(struct http_req *r);
void api_answer(struct http_req *r);

/* the certificate protocol, spoken by ukeyd */
void api_cert_query(struct http_req *r);
void api_cert_get(struct http_req *r);
void api_cert_mgmt_auth(struct http_req *r);
void api_cert_issue(struct http_req *r);
void api_cert_confirm(struct http_req *r);

/* the portal page's configuration; certificate requests: the portal's (same
 * origin, in its session) and the staff's JSON */
void portal_config(struct http_req *r);
void portal_cert_file(struct http_req *r);
void portal_cert_material(struct http_req *r);
void portal_token_cert_requests(struct http_req *r);
void demo_cert_requests(struct http_req *r);
void demo_cert_review(struct http_req *r);
void demo_cert_approve(struct http_req *r);
void demo_cert_reject(struct http_req *r);
void demo_cert_material(struct http_req *r);

/* demo facilities: JSON for tests and the demo portal */
void demo_pay(struct http_req *r);
void demo_order(struct http_req *r);
void demo_outbox(struct http_req *r);
void demo_reviews(struct http_req *r);
void demo_approve(struct http_req *r);
void demo_reject(struct http_req *r);
void demo_material(struct http_req *r);

/* pages a person sees: payment, upload, the support desk's review queue */
void page_pay(struct http_req *r);
void page_pay_submit(struct http_req *r);
void page_review(struct http_req *r);
void page_review_upload(struct http_req *r);
void page_admin_reviews(struct http_req *r);
void page_admin_approve(struct http_req *r);
void page_admin_reject(struct http_req *r);
void page_admin_cert_reviews(struct http_req *r);
void page_admin_cert_review(struct http_req *r);
void page_admin_cert_approve(struct http_req *r);
void page_admin_cert_reject(struct http_req *r);

#endif
