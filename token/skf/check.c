/* SPDX-License-Identifier: MIT */
/*
 * token/skf/check.c — what `ukeyd --check-config` says of the SKF libraries
 * (token_skf_check in token/token.h): each library the provider would load,
 * loaded once in a helper process exactly as the provider loads it (same
 * helper, same profile), described in one line, and stopped. No device is
 * asked anything, so a check never touches a token.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "token/skf/host.h"
#include "token/skf/profile.h"
#include "token/skf/wire.h"
#include "token/token.h"

#define CHECK_LINE_MAX 768
#define CHECK_WHY_MAX  256

struct check_run {
    const struct token_service_config *cfg;
    token_skf_report_fn report;
    void *userdata;
};

bool token_skf_profile_exists(const char *name)
{
    return name && skf_profile_find(name) != NULL;
}

/* "; optional: …" — what the library has beyond the required functions, and
 * what ukeyd does without the rest. */
static void describe_caps(uint32_t caps, char *out, size_t cap)
{
    snprintf(out, cap, "%s; %s",
             caps & SKF_CAP_WAIT_FOR_DEV_EVENT
                 ? (caps & SKF_CAP_CANCEL_WAIT ? "SKF_WaitForDevEvent and SKF_CancelWaitForDevEvent"
                                               : "SKF_WaitForDevEvent (no SKF_CancelWaitForDevEvent)")
                 : "no SKF_WaitForDevEvent (devices are polled)",
             caps & SKF_CAP_REMOTE_UNBLOCK
                 ? "remote unblock (SKF_GenRemoteUnblockRequest, SKF_RemoteUnblockPIN)"
                 : "no remote unblock extension");
}

static void say(const struct check_run *r, bool loaded, const char *path, const char *origin,
                const char *profile, const char *what)
{
    char line[CHECK_LINE_MAX];

    snprintf(line, sizeof line, "SKF library %s (%s, profile %s): %s", path, origin, profile,
             what);
    r->report(r->userdata, loaded, line);
}

/* Loads `path` in a helper and says how it went. `quiet_missing`: a
 * discovered path that is not there is no news. */
static bool check_one(const struct check_run *r, const char *path, const struct skf_profile *p,
                      const char *origin, bool quiet_missing)
{
    struct skf_host_options o = { .helper_path = r->cfg->skf_helper_path,
                                  .library_path = path, .profile = p };
    struct skf_host *h = NULL;
    char why[CHECK_WHY_MAX] = "", what[CHECK_LINE_MAX / 2];
    skf_err e;

    if (path[0] == '/' && access(path, F_OK) != 0) {
        if (!quiet_missing) {
            snprintf(what, sizeof what, "missing (%s)", strerror(errno));
            say(r, false, path, origin, p->name, what);
        }
        return false;
    }
    e = skf_host_start(&o, &h, why, sizeof why);
    if (e == SKF_E_LIBRARY_LOAD && quiet_missing && path[0] != '/')
        return false;
    if (e == SKF_E_LIBRARY_SYMBOL && strrchr(why, ' ')) {
        /* the helper's why names the path again; the function is its last word */
        snprintf(what, sizeof what, "lacks the required function %s", strrchr(why, ' ') + 1);
        say(r, false, path, origin, p->name, what);
        return false;
    }
    if (e != SKF_OK) {
        snprintf(what, sizeof what, "%s: %s",
                 e == SKF_E_LIBRARY_LOAD ? "does not load" : "its helper failed",
                 why[0] ? why : skf_err_name(e));
        say(r, false, path, origin, p->name, what);
        return false;
    }
    strcpy(what, "loaded; ");
    describe_caps(skf_host_caps(h), what + strlen(what), sizeof what - strlen(what));
    skf_host_stop(h);
    say(r, true, path, origin, p->name, what);
    return true;
}

static bool profile_configured(const struct token_service_config *cfg, const char *profile)
{
    for (size_t i = 0; i < cfg->n_skf_libraries; i++)
        if (cfg->skf_libraries[i].profile && strcmp(cfg->skf_libraries[i].profile, profile) == 0)
            return true;
    return false;
}

/* The provider's discovery (start_discovered in provider.c), checked. */
static void check_discovered(const struct check_run *r)
{
    size_t n, found = 0;
    const struct skf_known_library *known = skf_known_libraries(&n);

    for (size_t i = 0; i < n; i++) {
        const struct skf_profile *p = skf_profile_find(known[i].profile);

        if (!p || profile_configured(r->cfg, known[i].profile))
            continue;
        for (const char *const *path = known[i].paths; *path; path++)
            if (check_one(r, *path, p, "found", true)) {
                found++;
                break;
            }
    }
    if (!found)
        r->report(r->userdata, true, "SKF discovery: no known vendor's library found");
}

size_t token_skf_check(const struct token_service_config *cfg, token_skf_report_fn report,
                       void *userdata)
{
    const struct check_run r = { .cfg = cfg, .report = report, .userdata = userdata };
    char line[CHECK_LINE_MAX];
    size_t failed = 0;

    if (!cfg->n_skf_libraries && !cfg->skf_discover)
        return 0;
    if (!cfg->skf_helper_path || access(cfg->skf_helper_path, X_OK) != 0) {
        snprintf(line, sizeof line, "SKF helper %s: cannot run it (%s): no SKF library is loaded",
                 cfg->skf_helper_path ? cfg->skf_helper_path : "(none)",
                 cfg->skf_helper_path ? strerror(errno) : "none configured");
        report(userdata, false, line);
        return cfg->n_skf_libraries;
    }
    for (size_t i = 0; i < cfg->n_skf_libraries; i++) {
        const struct token_skf_library *lib = &cfg->skf_libraries[i];
        const struct skf_profile *p = lib->profile ? skf_profile_find(lib->profile)
                                                   : skf_profile_standard();

        if (!p) {
            snprintf(line, sizeof line, "SKF library %s: no profile named \"%s\"", lib->path,
                     lib->profile);
            report(userdata, false, line);
            failed++;
        } else if (!check_one(&r, lib->path, p, "configured", false)) {
            failed++;
        }
    }
    if (cfg->skf_discover)
        check_discovered(&r);
    return failed;
}
