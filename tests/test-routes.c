/* SPDX-License-Identifier: MIT */
/* Tests api/v1/routes.c against docs/openapi.yaml: the router's (method, path)
 * pairs and the spec's are the same set, and every API error code is listed
 * in the spec's Problem schema and documented in docs/api.md. The YAML is
 * read line by line: paths are the two-space-indented keys under "paths:",
 * methods the four-space-indented keys under each path. */
#include <ctype.h>

#include "api/render/problem.h"
#include "api/v1/routes.h"
#include "tests/tap.h"

#define SPEC_ROUTES_MAX 64
#define LINE_MAX_LEN    512

struct spec_route {
    char method[16];
    char path[128];
    bool matched;
};

static struct spec_route spec[SPEC_ROUTES_MAX];
static size_t n_spec;

static bool is_http_method(const char *word)
{
    static const char *const methods[] = { "get", "post", "put", "patch", "delete", "options",
                                           "head" };

    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strcmp(word, methods[i]) == 0)
            return true;
    return false;
}

static void read_spec_paths(FILE *f)
{
    char line[LINE_MAX_LEN], path[128] = "";
    bool in_paths = false;

    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] && line[0] != ' ' && line[0] != '#') {
            in_paths = strcmp(line, "paths:") == 0;
            continue;
        }
        if (!in_paths)
            continue;
        if (strncmp(line, "  /", 3) == 0 && line[strlen(line) - 1] == ':') {
            snprintf(path, sizeof path, "%.*s", (int)strlen(line) - 3, line + 2);
        } else if (strncmp(line, "    ", 4) == 0 && isalpha((unsigned char)line[4])) {
            char word[16];

            if (sscanf(line + 4, "%15[a-z]:", word) == 1 && is_http_method(word) &&
                n_spec < SPEC_ROUTES_MAX) {
                for (char *p = word; *p; p++)
                    *p = (char)toupper((unsigned char)*p);
                snprintf(spec[n_spec].method, sizeof spec[n_spec].method, "%s", word);
                snprintf(spec[n_spec].path, sizeof spec[n_spec].path, "%s", path);
                n_spec++;
            }
        }
    }
}

static struct spec_route *find_spec(const char *method, const char *path)
{
    for (size_t i = 0; i < n_spec; i++)
        if (strcmp(spec[i].method, method) == 0 && strcmp(spec[i].path, path) == 0)
            return &spec[i];
    return NULL;
}

static char *read_all(const char *file)
{
    FILE *f = fopen(file, "r");
    char *text;
    long size;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    rewind(f);
    text = calloc(1, (size_t)size + 1);
    if (text && fread(text, 1, (size_t)size, f) != (size_t)size) {
        free(text);
        text = NULL;
    }
    fclose(f);
    return text;
}

static void test_codes_documented(const char *top)
{
    char file[512], needle[64];
    char *yaml, *md;

    snprintf(file, sizeof file, "%s/docs/openapi.yaml", top);
    yaml = read_all(file);
    snprintf(file, sizeof file, "%s/docs/api.md", top);
    md = read_all(file);
    tap_ok(md != NULL, "docs/api.md is there");
    for (int c = API_OK + 1; c < API_CODE__COUNT; c++) {
        snprintf(needle, sizeof needle, "            - %s\n", api_code_name(c));
        tap_ok(yaml && strstr(yaml, needle), "%s in the spec's Problem.code enum",
               api_code_name(c));
        snprintf(needle, sizeof needle, "`%s`", api_code_name(c));
        tap_ok(md && strstr(md, needle), "%s documented in docs/api.md", api_code_name(c));
    }
    free(yaml);
    free(md);
}

int main(void)
{
    const char *top = getenv("UKEYD_TOP") ? getenv("UKEYD_TOP") : ".";
    char file[512];
    size_t n;
    const struct route *routes = api_routes(&n);
    FILE *f;

    snprintf(file, sizeof file, "%s/docs/openapi.yaml", top);
    f = fopen(file, "r");
    if (!f)
        tap_skip_all("docs/openapi.yaml not found (set UKEYD_TOP)");
    read_spec_paths(f);
    fclose(f);
    tap_ok(n_spec > 0, "spec has paths (%zu operations)", n_spec);

    for (size_t i = 0; i < n; i++) {
        struct spec_route *s = find_spec(routes[i].method, routes[i].pattern);

        tap_ok(s != NULL, "route %s %s is in the spec", routes[i].method, routes[i].pattern);
        if (s)
            s->matched = true;
    }
    for (size_t i = 0; i < n_spec; i++)
        tap_ok(spec[i].matched, "spec operation %s %s has a route", spec[i].method, spec[i].path);
    test_codes_documented(top);
    return tap_done();
}
