/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/html.h — building the demo's HTML pages: a page frame
 * (Chinese first, English second, a banner saying it is a demo) and text
 * that is always escaped. Markup goes in through html_raw with constant
 * formats; anything that came from a person or a database goes through
 * html_text.
 */
#ifndef UKEY_CA_HTML_H
#define UKEY_CA_HTML_H

#include <stdbool.h>
#include <stdio.h>

#include "http.h"

struct html {
    FILE *f;
    char *buf;
    size_t len;
};

/* Opens a page: <head>, title "zh / en", the demo banner, <h1>. */
bool html_begin(struct html *h, const char *title_zh, const char *title_en);

__attribute__((format(printf, 2, 3)))
void html_raw(struct html *h, const char *fmt, ...);

/* s, HTML-escaped (NULL as nothing). */
void html_text(struct html *h, const char *s);

/* Closes the page and answers with it; frees on any failure. */
void html_reply(struct html *h, struct http_req *r, unsigned status);

/* Frees a page that will not be sent (for cleanup attributes). */
void html_discard(struct html *h);
#define HTML_PAGE __attribute__((cleanup(html_discard))) struct html

#endif
