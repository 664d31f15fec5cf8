/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/files.h — static files under / (the demo portal),
 * from one directory, never outside it.
 */
#ifndef UKEY_CA_FILES_H
#define UKEY_CA_FILES_H

#include <stdbool.h>

#include "http.h"

/* Answers with the file the path names in dir; false when there is none. */
bool files_serve(struct http_req *r, const char *dir);

#endif
