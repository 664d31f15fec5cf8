/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/pages.h — pages outside the route table: the index
 * shown at / when no portal is served.
 */
#ifndef UKEY_CA_PAGES_H
#define UKEY_CA_PAGES_H

#include "http.h"

void page_index(struct http_req *r);

#endif
