/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/files.c — static files (see files.h). The path is
 * resolved with realpath and must stay inside the directory's own real
 * path, so neither ".." nor a symbolic link leads out of it.
 */
#include "files.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define INDEX_FILE "index.html"

static const struct {
    const char *ext;
    const char *type;
} types[] = {
    { ".html", "text/html; charset=utf-8" },
    { ".js", "text/javascript; charset=utf-8" },
    { ".mjs", "text/javascript; charset=utf-8" },
    { ".css", "text/css; charset=utf-8" },
    { ".json", "application/json" },
    { ".svg", "image/svg+xml" },
    { ".png", "image/png" },
    { ".jpg", "image/jpeg" },
    { ".ico", "image/x-icon" },
    { ".txt", "text/plain; charset=utf-8" },
    { ".woff2", "font/woff2" },
};

static const char *type_of(const char *path)
{
    size_t n = strlen(path);

    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        size_t e = strlen(types[i].ext);

        if (n > e && strcmp(path + n - e, types[i].ext) == 0)
            return types[i].type;
    }
    return "application/octet-stream";
}

static void free_charp(char **p)
{
    free(*p);
}

/* dir + path (+ index.html for a directory path), resolved; NULL if outside. */
static char *resolve(const char *dir, const char *path)
{
    char *root __attribute__((cleanup(free_charp))) = realpath(dir, NULL);
    char joined[PATH_MAX];
    char *real;
    size_t rn;
    int n;

    if (!root)
        return NULL;
    n = snprintf(joined, sizeof joined, "%s%s%s", root, path,
                 path[strlen(path) - 1] == '/' ? INDEX_FILE : "");
    if (n < 0 || (size_t)n >= sizeof joined || !(real = realpath(joined, NULL)))
        return NULL;
    rn = strlen(root);
    if (strncmp(real, root, rn) == 0 && real[rn] == '/')
        return real;
    free(real);
    return NULL;
}

bool files_serve(struct http_req *r, const char *dir)
{
    char *real __attribute__((cleanup(free_charp))) = NULL;
    struct stat st;
    int fd;

    if (r->path[0] != '/' || !(real = resolve(dir, r->path)))
        return false;
    fd = open(real, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return false;
    }
    reply_fd(r, type_of(real), fd, (size_t)st.st_size);
    return true;
}
