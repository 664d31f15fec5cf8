/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/pages.c — the pages a person sees, all demo
 * facilities: the payment page with its electronic-invoice form, the
 * materials upload page of the forgotten-phone path, and the support desk's
 * review queue (which shows the unlock code to read out on the phone).
 * Chinese first, English second. Forms post back here; a client that asks
 * for JSON gets JSON from the same endpoints.
 */
#include <string.h>

#include "form.h"
#include "handlers.h"
#include "html.h"
#include "pages.h"
#include "payment.h"
#include "requests.h"
#include "review.h"
#include "secret.h"
#include "text.h"
#include "tokens.h"

#define BYTES_PER_MIB  (1024 * 1024)

enum { HTTP_BAD_REQUEST_PAGE = 400 };

/* A refusal as the client wants it: problem+json, or a page a person reads. */
static void page_problem(struct http_req *r, const struct ca_problem *p)
{
    HTML_PAGE h = { 0 };

    if (req_wants_json(r) || !html_begin(&h, "无法完成", "Cannot be done")) {
        reply_problem(r, p);
        return;
    }
    html_raw(&h, "<p>错误代码 / Error code: <b>%s</b></p>", ca_code_name(p->code));
    if (p->field) {
        html_raw(&h, "<p>请检查 / Please check: ");
        html_text(&h, p->field);
        html_raw(&h, "</p>");
    }
    html_reply(&h, r, ca_code_status(p->code));
    r->outcome = ca_code_name(p->code);
}

void page_index(struct http_req *r)
{
    HTML_PAGE h = { 0 };

    if (!html_begin(&h, "参考 CA 解锁服务", "Reference CA unlock service"))
        return;
    html_raw(&h, "<p>ukeyd 的远程解锁协议在 <code>/unlock/v1/</code>（仅供 ukeyd 调用）。<br>"
                 "<span class=\"en\">The unlock protocol for ukeyd is under "
                 "<code>/unlock/v1/</code> (server to server only).</span></p>"
                 "<p>证书写入协议在 <code>/cert/v1/</code>（仅供 ukeyd 调用）。<br>"
                 "<span class=\"en\">The certificate protocol is under <code>/cert/v1/</code>."
                 "</span></p>"
                 "<ul><li><a href=\"/demo/admin/reviews\">人工审核队列 / Review queue</a></li>"
                 "<li><a href=\"/demo/admin/cert-reviews\">证书业务审核 / Certificate requests"
                 "</a></li>"
                 "<li><a href=\"/demo/api/outbox\">短信发件箱 / SMS outbox (JSON)</a></li></ul>");
    html_reply(&h, r, HTTP_OK);
}

/* --- payment ----------------------------------------------------------------- */

static void pay_form(struct html *h, const struct order *o)
{
    html_raw(h, "<form method=\"post\" action=\"/pay/%s\">"
                "<h2>电子发票 <span class=\"en\">Electronic invoice (optional)</span></h2>"
                "<label>发票抬头 / Title <input type=\"text\" name=\"title\" maxlength=\"%d\">"
                "</label>"
                "<label>税号 / Tax number <input type=\"text\" name=\"tax_number\" "
                "maxlength=\"%d\" pattern=\"[0-9A-Z]{%d,%d}\"></label>"
                "<label>手机 / Phone <input type=\"text\" name=\"phone\" inputmode=\"numeric\">"
                "</label>"
                "<label>邮箱 / Email <input type=\"email\" name=\"email\"></label>"
                "<button type=\"submit\">确认支付 / Pay</button></form>",
             o->id, INVOICE_TEXT_MAX, TAX_NUMBER_MAX, TAX_NUMBER_MIN, TAX_NUMBER_MAX);
}

void page_pay(struct http_req *r)
{
    struct ca_problem p = ca_ok();
    HTML_PAGE h = { 0 };
    struct token_rec t;
    struct order o;
    char amount[CA_AMOUNT_MAX];

    if ((p.code = order_load(r->ca->db, r->captures[0], &o)) != CA_OK ||
        (p.code = token_load(r->ca->db, o.token_id, &t)) != CA_OK) {
        page_problem(r, &p);
        return;
    }
    if (!(o.for_cert ? html_begin(&h, "证书业务服务费", "Certificate service fee")
                     : html_begin(&h, "证书解锁服务费", "Certificate unlock fee")))
        return;
    text_format_amount(o.amount_cents, amount, sizeof amount);
    html_raw(&h, "<p>证书持有人 / Certificate holder: ");
    html_text(&h, t.owner);
    html_raw(&h, "</p><p>金额 / Amount: <b>%s ", amount);
    html_text(&h, o.currency);
    html_raw(&h, "</b></p>");
    if (o.paid)
        html_raw(&h, "<p><b>已支付。</b>请回到证书助手页面继续。<br><span class=\"en\">"
                     "Paid. Go back to the certificate assistant page to continue.</span></p>");
    else
        pay_form(&h, &o);
    html_reply(&h, r, HTTP_OK);
}

enum { PAY_TITLE, PAY_TAX, PAY_PHONE, PAY_EMAIL, PAY__COUNT };

void page_pay_submit(struct http_req *r)
{
    struct form_field f[PAY__COUNT] = {
        [PAY_TITLE] = { .name = "title", .cap = INVOICE_TEXT_MAX },
        [PAY_TAX] = { .name = "tax_number", .cap = INVOICE_TEXT_MAX },
        [PAY_PHONE] = { .name = "phone", .cap = INVOICE_TEXT_MAX },
        [PAY_EMAIL] = { .name = "email", .cap = INVOICE_TEXT_MAX },
    };
    struct ca_problem p = ca_ok();
    struct invoice inv;
    HTML_PAGE h = { 0 };
    const char *bad;

    if (req_content_type_is(r, "application/json")) {
        demo_pay(r);
        return;
    }
    if (!form_read(r, f, PAY__COUNT))
        p = ca_fail(CA_UNSUPPORTED_MEDIA_TYPE);
    inv = (struct invoice){ form_text(&f[PAY_TITLE]), form_text(&f[PAY_TAX]),
                            form_text(&f[PAY_PHONE]), form_text(&f[PAY_EMAIL]) };
    if (p.code == CA_OK && (bad = invoice_bad_field(&inv)))
        p = ca_bad_field(bad);
    if (p.code == CA_OK)
        p = order_pay(r->ca->db, r->captures[0], &inv);
    form_free(f, PAY__COUNT);
    if (p.code != CA_OK) {
        page_problem(r, &p);
        return;
    }
    if (!html_begin(&h, "支付成功", "Payment complete"))
        return;
    html_raw(&h, "<p>请回到证书助手页面继续。<br><span class=\"en\">Go back to the "
                 "certificate assistant page to continue.</span></p>");
    html_reply(&h, r, HTTP_OK);
}

/* --- materials upload ------------------------------------------------------------ */

static void review_status(struct html *h, const struct unlock_request *q)
{
    static const struct { enum req_state state; const char *text; } lines[] = {
        { RS_REVIEW_PENDING, "已提交，等待人工审核。<br><span class=\"en\">Submitted, "
                             "awaiting review.</span>" },
        { RS_REVIEW_APPROVED, "审核已通过：客服将致电告知 6 位解锁码。<br><span class=\"en\">"
                              "Approved: support will call you with a 6-digit unlock code."
                              "</span>" },
        { RS_REVIEW_REJECTED, "审核未通过，可重新上传材料。<br><span class=\"en\">Rejected: "
                              "you may upload again.</span>" },
    };

    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        if (q->state == lines[i].state)
            html_raw(h, "<p><b>%s</b></p>", lines[i].text);
}

static void upload_form(struct html *h, const struct unlock_request *q)
{
    html_raw(h, "<form method=\"post\" action=\"/review/%s/materials\" "
                "enctype=\"multipart/form-data\">"
                "<label>材料类型 / Kind <select name=\"kind\">"
                "<option value=\"business-licence\">营业执照（单位证书） / Business licence</option>"
                "<option value=\"id-copy\">身份证复印件（个人证书） / ID copy</option>"
                "</select></label>"
                "<label>文件 / File (≤ %d MiB) <input type=\"file\" name=\"file\" "
                "accept=\"image/png,image/jpeg,application/pdf\" required></label>"
                "<button type=\"submit\">提交审核 / Submit for review</button></form>",
             q->review_ticket, MATERIAL_MAX_BYTES / BYTES_PER_MIB);
}

void page_review(struct http_req *r)
{
    struct unlock_request q;
    struct ca_problem p = request_load_by_ticket(r->ca, r->captures[0], &q);
    HTML_PAGE h = { 0 };
    struct token_rec t;

    if (p.code == CA_OK && (p.code = token_load(r->ca->db, q.token_id, &t)) != CA_OK)
        p.code = CA_INTERNAL;
    if (p.code != CA_OK) {
        page_problem(r, &p);
        return;
    }
    if (!html_begin(&h, "上传审核材料", "Upload materials for review"))
        return;
    html_raw(&h, "<p>证书持有人 / Certificate holder: ");
    html_text(&h, t.owner);
    html_raw(&h, "</p>");
    review_status(&h, &q);
    if (request_in_identity_phase(&q).code == CA_OK)
        upload_form(&h, &q);
    else
        html_raw(&h, "<p>此解锁申请当前状态 / This unlock request is: <b>%s</b></p>",
                 req_state_name(q.state));
    html_reply(&h, r, HTTP_OK);
}

void page_review_upload(struct http_req *r)
{
    struct ca_problem p = form_store_material(r, review_add_material, r->captures[0]);
    HTML_PAGE h = { 0 };

    if (p.code != CA_OK) {
        page_problem(r, &p);
        return;
    }
    if (req_wants_json(r)) {
        reply_json(r, HTTP_CREATED, json_pack("{s:s}", "state",
                                              req_state_name(RS_REVIEW_PENDING)));
        return;
    }
    if (!html_begin(&h, "材料已提交", "Materials submitted"))
        return;
    html_raw(&h, "<p>客服审核通过后会致电告知 6 位解锁码，请在证书助手页面输入。<br>"
                 "<span class=\"en\">Once support approves, they will call you with a 6-digit "
                 "unlock code to enter on the certificate assistant page.</span></p>"
                 "<p><a href=\"/review/%s\">继续上传 / Upload more</a></p>", r->captures[0]);
    html_reply(&h, r, HTTP_CREATED);
}

/* --- the support desk ------------------------------------------------------------- */

static void review_materials_cell(struct html *h, const char *review_id, json_t *materials)
{
    size_t i;
    json_t *m;

    json_array_foreach(materials, i, m) {
        html_raw(h, "<a href=\"/demo/api/reviews/%s/materials/%" JSON_INTEGER_FORMAT "\">",
                 review_id, json_integer_value(json_object_get(m, "id")));
        html_text(h, json_string_value(json_object_get(m, "kind")));
        html_raw(h, ": ");
        html_text(h, json_string_value(json_object_get(m, "filename")));
        html_raw(h, "</a><br>");
    }
}

static void review_actions_cell(struct html *h, const char *id, json_t *review)
{
    const char *state = json_string_value(json_object_get(review, "state"));
    json_t *code = json_object_get(review, "unlockCode");

    if (strcmp(state, "pending") == 0) {
        html_raw(h, "<form method=\"post\" action=\"/demo/admin/reviews/%s/approve\">"
                    "<button>通过 / Approve</button></form>"
                    "<form method=\"post\" action=\"/demo/admin/reviews/%s/reject\">"
                    "<input type=\"text\" name=\"reason\" required placeholder=\"原因 / reason\">"
                    "<button>驳回 / Reject</button></form>", id, id);
    } else if (json_is_object(code)) {
        html_raw(h, "解锁码 / Unlock code: <span class=\"code\">");
        html_text(h, json_string_value(json_object_get(code, "code")));
        html_raw(h, "</span><br>有效期至 / valid until ");
        html_text(h, json_string_value(json_object_get(code, "expiresAt")));
    } else {
        html_text(h, json_string_value(json_object_get(review, "reason")));
    }
}

static void review_row(struct html *h, json_t *review)
{
    const char *id = json_string_value(json_object_get(review, "reviewId"));

    html_raw(h, "<tr><td>");
    html_text(h, id);
    html_raw(h, "<br>");
    html_text(h, json_string_value(json_object_get(review, "createdAt")));
    html_raw(h, "</td><td>");
    html_text(h, json_string_value(json_object_get(review, "owner")));
    html_raw(h, "<br><small>");
    html_text(h, json_string_value(json_object_get(review, "tokenId")));
    html_raw(h, "</small></td><td>");
    html_text(h, json_string_value(json_object_get(review, "state")));
    html_raw(h, "</td><td>");
    review_materials_cell(h, id, json_object_get(review, "materials"));
    html_raw(h, "</td><td>");
    review_actions_cell(h, id, review);
    html_raw(h, "</td></tr>\n");
}

void page_admin_reviews(struct http_req *r)
{
    json_auto_t *list = review_list(r->ca->db);
    struct ca_problem p = ca_fail(CA_INTERNAL);
    HTML_PAGE h = { 0 };
    json_t *review;
    size_t i;

    if (!list) {
        page_problem(r, &p);
        return;
    }
    if (!html_begin(&h, "人工审核队列", "Review queue (support desk)"))
        return;
    html_raw(&h, "<p>核对材料后通过，并电话告知用户解锁码。<br><span class=\"en\">Check the "
                 "materials, approve, and read the unlock code to the user on the phone."
                 "</span></p><table><tr><th>审核 / Review</th><th>持有人 / Holder</th>"
                 "<th>状态 / State</th><th>材料 / Materials</th><th>操作 / Action</th></tr>\n");
    json_array_foreach(json_object_get(list, "reviews"), i, review)
        review_row(&h, review);
    html_raw(&h, "</table>");
    html_reply(&h, r, HTTP_OK);
}

void page_admin_approve(struct http_req *r)
{
    struct review_decision d;
    struct ca_problem p = review_approve(r->ca, r->captures[0], &d);

    secret_wipe(d.unlock_code, sizeof d.unlock_code);
    if (p.code != CA_OK)
        page_problem(r, &p);
    else
        reply_redirect(r, "/demo/admin/reviews");
}

enum { REJ_REASON, REJ__COUNT };

void page_admin_reject(struct http_req *r)
{
    struct form_field f[REJ__COUNT] = {
        [REJ_REASON] = { .name = "reason", .cap = REVIEW_REASON_MAX },
    };
    struct ca_problem p = ca_ok();

    if (!form_read(r, f, REJ__COUNT))
        p = ca_fail(CA_UNSUPPORTED_MEDIA_TYPE);
    else if (!*form_text(&f[REJ_REASON]) || f[REJ_REASON].overflow)
        p = ca_bad_field("reason");
    else
        p = review_reject(r->ca, r->captures[0], form_text(&f[REJ_REASON]));
    form_free(f, REJ__COUNT);
    if (p.code != CA_OK)
        page_problem(r, &p);
    else
        reply_redirect(r, "/demo/admin/reviews");
}
