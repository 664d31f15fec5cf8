/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/pages_cert.c — the support desk's queue of
 * certificate requests (证书变更、延期、重装、下载): who asks for what, the
 * subject the new certificate will carry, fee and materials, and the
 * buttons to take it under review, approve it, or reject it with a reason.
 * Chinese first, English second, like the other demo pages.
 */
#include <string.h>

#include "certreq.h"
#include "form.h"
#include "handlers.h"
#include "html.h"

#define QUEUE_PATH "/demo/admin/cert-reviews"

struct zh_name {
    const char *name, *zh;
};

static const struct zh_name kinds_zh[] = {
    { "change", "证书变更" }, { "renewal", "证书延期" },
    { "reinstall", "证书重装" }, { "issue", "证书下载" },
};

static const struct zh_name states_zh[] = {
    { "awaiting-payment", "待支付" }, { "submitted", "已提交" }, { "under-review", "审核中" },
    { "approved", "已通过" }, { "issued", "已签发，待写入" }, { "rejected", "已驳回" },
    { "done", "已完成" }, { "expired", "已过期" },
};

#define ZH_OF(table, name) zh_of(table, sizeof table / sizeof table[0], name)

static const char *zh_of(const struct zh_name *t, size_t n, const char *name)
{
    for (size_t i = 0; name && i < n; i++)
        if (strcmp(t[i].name, name) == 0)
            return t[i].zh;
    return "";
}

static const char *member(json_t *o, const char *name)
{
    return json_string_value(json_object_get(o, name));
}

static void problem_page(struct http_req *r, const struct ca_problem *p)
{
    HTML_PAGE h = { 0 };

    if (req_wants_json(r) || !html_begin(&h, "无法完成", "Cannot be done")) {
        reply_problem(r, p);
        return;
    }
    html_raw(&h, "<p>错误代码 / Error code: <b>%s</b></p>", ca_code_name(p->code));
    if (p->state) {
        html_raw(&h, "<p>申请当前状态 / The request is: ");
        html_text(&h, p->state);
        html_raw(&h, "</p>");
    }
    html_raw(&h, "<p><a href=\"" QUEUE_PATH "\">返回队列 / Back to the queue</a></p>");
    html_reply(&h, r, ca_code_status(p->code));
    r->outcome = ca_code_name(p->code);
}

static void materials_cell(struct html *h, const char *number, json_t *materials)
{
    json_t *m;
    size_t i;

    json_array_foreach(materials, i, m) {
        html_raw(h, "<a href=\"/demo/api/cert-requests/%s/materials/%" JSON_INTEGER_FORMAT "\">",
                 number, json_integer_value(json_object_get(m, "id")));
        html_text(h, member(m, "kind"));
        html_raw(h, ": ");
        html_text(h, member(m, "filename"));
        html_raw(h, "</a><br>");
    }
    if (json_array_size(materials) == 0)
        html_raw(h, "无 / none");
}

static void fee_cell(struct html *h, json_t *fee)
{
    if (!json_is_object(fee)) {
        html_raw(h, "免费 / free");
        return;
    }
    html_text(h, member(fee, "amount"));
    html_raw(h, " ");
    html_text(h, member(fee, "currency"));
    html_raw(h, json_is_true(json_object_get(fee, "paid")) ? "<br>已支付 / paid"
                                                           : "<br><b>未支付 / unpaid</b>");
}

/* One decision button; extra goes inside the form (the reason field). */
static void decision_form(struct html *h, const char *number, const char *decision,
                          const char *extra, const char *label)
{
    html_raw(h, "<form method=\"post\" action=\"" QUEUE_PATH "/%s/%s\">%s<button>%s</button>"
                "</form>", number, decision, extra, label);
}

static void actions_cell(struct html *h, const char *number, const char *state)
{
    bool submitted = strcmp(state, "submitted") == 0;
    bool open = submitted || strcmp(state, "under-review") == 0;

    if (submitted)
        decision_form(h, number, "review", "", "开始审核 / Review");
    if (open)
        decision_form(h, number, "approve", "", "通过 / Approve");
    if (open || strcmp(state, "awaiting-payment") == 0)
        decision_form(h, number, "reject", "<input type=\"text\" name=\"reason\" required "
                                           "placeholder=\"原因 / reason\">", "驳回 / Reject");
}

static void request_row(struct html *h, json_t *q)
{
    const char *number = member(q, "number"), *state = member(q, "serviceState");

    html_raw(h, "<tr><td>");
    html_text(h, number);
    html_raw(h, "<br><small>");
    html_text(h, member(q, "createdAt"));
    html_raw(h, "</small></td><td>");
    html_text(h, member(q, "owner"));
    html_raw(h, "<br><small>");
    html_text(h, member(q, "tokenId"));
    html_raw(h, "</small></td><td>");
    html_text(h, ZH_OF(kinds_zh, member(q, "kind")));
    html_raw(h, "<br><span class=\"en\">");
    html_text(h, member(q, "kind"));
    html_raw(h, ", slot ");
    html_text(h, member(q, "slot"));
    html_raw(h, ", ");
    html_text(h, member(q, "keyAlgorithm"));
    html_raw(h, "</span></td><td>");
    html_text(h, member(q, "subject"));
    html_raw(h, "</td><td>");
    fee_cell(h, json_object_get(q, "fee"));
    html_raw(h, "</td><td>");
    materials_cell(h, number, json_object_get(q, "materials"));
    html_raw(h, "</td><td>");
    html_text(h, ZH_OF(states_zh, state));
    html_raw(h, "<br><span class=\"en\">");
    html_text(h, state);
    html_raw(h, "</span>");
    if (member(q, "reason")) {
        html_raw(h, "<br>原因 / reason: ");
        html_text(h, member(q, "reason"));
    }
    html_raw(h, "</td><td>");
    actions_cell(h, number, state);
    html_raw(h, "</td></tr>\n");
}

void page_admin_cert_reviews(struct http_req *r)
{
    json_auto_t *list = certreq_staff_list(r->ca);
    struct ca_problem p = ca_fail(CA_INTERNAL);
    HTML_PAGE h = { 0 };
    json_t *q;
    size_t i;

    if (!list) {
        problem_page(r, &p);
        return;
    }
    if (!html_begin(&h, "证书业务审核队列", "Certificate requests (support desk)"))
        return;
    html_raw(&h, "<p>核对申请与材料后通过或驳回；通过后，用户在证书助手页面把证书写入 Ukey。<br>"
                 "<span class=\"en\">Check the request and its materials, then approve or "
                 "reject. Once approved, the user writes the certificate to the token on the "
                 "certificate assistant page.</span></p>"
                 "<table><tr><th>申请 / Request</th><th>持有人 / Holder</th>"
                 "<th>业务 / Kind</th><th>新证书主题 / New subject</th><th>费用 / Fee</th>"
                 "<th>材料 / Materials</th><th>状态 / State</th><th>操作 / Action</th></tr>\n");
    json_array_foreach(json_object_get(list, "requests"), i, q)
        request_row(&h, q);
    html_raw(&h, "</table>");
    html_reply(&h, r, HTTP_OK);
}

static void decide_and_return(struct http_req *r, enum cr_decision d, const char *reason)
{
    struct ca_problem p = certreq_decide(r->ca, r->captures[0], d, reason);

    if (p.code != CA_OK)
        problem_page(r, &p);
    else
        reply_redirect(r, QUEUE_PATH);
}

void page_admin_cert_review(struct http_req *r)
{
    decide_and_return(r, CR_DECIDE_REVIEW, NULL);
}

void page_admin_cert_approve(struct http_req *r)
{
    decide_and_return(r, CR_DECIDE_APPROVE, NULL);
}

enum { REJ_REASON, REJ__COUNT };

void page_admin_cert_reject(struct http_req *r)
{
    struct form_field f[REJ__COUNT] = {
        [REJ_REASON] = { .name = "reason", .cap = REVIEW_REASON_MAX },
    };
    struct ca_problem p;

    if (!form_read(r, f, REJ__COUNT)) {
        p = ca_fail(CA_UNSUPPORTED_MEDIA_TYPE);
        problem_page(r, &p);
    } else if (f[REJ_REASON].overflow) {
        p = ca_bad_field("reason");
        problem_page(r, &p);
    } else {
        decide_and_return(r, CR_DECIDE_REJECT, form_text(&f[REJ_REASON]));
    }
    form_free(f, REJ__COUNT);
}
