/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/html.c — the page frame and escaping (see html.h).
 * Pages are written into an open_memstream buffer, so building one is
 * plain fprintf and the result is one malloc'd block for the answer.
 */
#include "html.h"

#include <stdarg.h>
#include <stdlib.h>

#include "problem.h"
#include "secret.h"

static const char *const page_style =
    "body{font-family:'Noto Sans CJK SC','Microsoft YaHei',sans-serif;max-width:46em;"
    "margin:2em auto;padding:0 1em;color:#222}"
    ".demo{background:#fff3cd;border:1px solid #e0c36a;padding:.5em 1em;margin-bottom:1.5em}"
    ".en{color:#666;font-size:.9em}"
    "table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.3em .5em;"
    "text-align:left;vertical-align:top}"
    "label{display:block;margin:.6em 0}input[type=text],input[type=email]{width:20em}"
    "button{padding:.4em 1.2em;margin-top:.8em}.code{font-size:1.4em;letter-spacing:.15em}";

bool html_begin(struct html *h, const char *title_zh, const char *title_en)
{
    h->buf = NULL;
    h->len = 0;
    h->f = open_memstream(&h->buf, &h->len);
    if (!h->f)
        return false;
    html_raw(h, "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                "<title>");
    html_text(h, title_zh);
    html_raw(h, " / ");
    html_text(h, title_en);
    html_raw(h, "</title><style>%s</style></head><body>"
                "<div class=\"demo\">演示环境：本页由参考 CA 服务 ukey-ca 模拟，不涉及真实支付、"
                "短信或审核。<br><span class=\"en\">Demo: a page of the reference CA service "
                "ukey-ca; no real payment, SMS or review happens.</span></div><h1>",
             page_style);
    html_text(h, title_zh);
    html_raw(h, "<br><span class=\"en\">");
    html_text(h, title_en);
    html_raw(h, "</span></h1>\n");
    return true;
}

void html_raw(struct html *h, const char *fmt, ...)
{
    va_list ap;

    if (!h->f)
        return;
    va_start(ap, fmt);
    vfprintf(h->f, fmt, ap);
    va_end(ap);
}

void html_text(struct html *h, const char *s)
{
    if (!h->f || !s)
        return;
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", h->f); break;
        case '<': fputs("&lt;", h->f); break;
        case '>': fputs("&gt;", h->f); break;
        case '"': fputs("&quot;", h->f); break;
        case '\'': fputs("&#39;", h->f); break;
        default: fputc(*s, h->f); break;
        }
    }
}

void html_discard(struct html *h)
{
    if (h->f)
        fclose(h->f);
    h->f = NULL;
    secret_free(h->buf);
    h->buf = NULL;
}

void html_reply(struct html *h, struct http_req *r, unsigned status)
{
    struct ca_problem p = ca_fail(CA_INTERNAL);
    bool written;

    if (!h->f) {
        reply_problem(r, &p);
        return;
    }
    html_raw(h, "</body></html>\n");
    written = !ferror(h->f);
    if (fclose(h->f) != 0)
        written = false;
    h->f = NULL;
    if (!written) {
        html_discard(h);
        reply_problem(r, &p);
        return;
    }
    reply_html(r, status, h->buf, h->len);
    h->buf = NULL;      /* the answer owns it now */
}
