/* SPDX-License-Identifier: MIT */
/*
 * fuzz-config — the configuration file (daemon/config.c, through inih), read
 * from a memory file so every input is a fresh file without touching disk.
 *
 * Properties: a failed load leaves the configuration as it was and says
 * where ("PATH:LINE: ..." or "PATH: ..."); a successful one holds only
 * origins and listen addresses that pass the same checks again.
 */
#include <sys/mman.h>
#include <unistd.h>

#include "daemon/config.h"
#include "daemon/listen.h"
#include "api/http/guard.h"
#include "tests/fuzz/fuzz.h"

#define PATH_MAX_TEXT 64

static void check_loaded(const struct config *c)
{
    const char *why = NULL;
    struct listen_addr addr;

    FUZZ_ASSERT(c->n_origins <= CONFIG_ORIGINS_MAX && c->n_listen <= CONFIG_LISTEN_MAX);
    for (size_t i = 0; i < c->n_origins; i++)
        FUZZ_ASSERT(guard_origin_valid(c->origins[i], &why));
    for (size_t i = 0; i < c->n_listen; i++)
        FUZZ_ASSERT(listen_parse(c->listen[i], &addr, &why) == 0);
    FUZZ_ASSERT(c->max_connections >= 1 && c->worker_threads >= 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    char path[PATH_MAX_TEXT], error[CONFIG_ERROR_MAX] = "";
    struct config c;

    fuzz_setup_once();
    if (fd < 0)
        fd = memfd_create("fuzz-config", MFD_CLOEXEC);
    FUZZ_ASSERT(fd >= 0);
    FUZZ_ASSERT(ftruncate(fd, 0) == 0);
    FUZZ_ASSERT(pwrite(fd, data, size, 0) == (ssize_t)size);
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    config_defaults(&c);
    if (config_load(&c, path, error, sizeof error) == 0) {
        check_loaded(&c);
    } else {
        struct config defaults;

        config_defaults(&defaults);
        FUZZ_ASSERT(strncmp(error, path, strlen(path)) == 0 && error[strlen(path)] == ':');
        FUZZ_ASSERT(c.n_origins == 0 && c.n_listen == 0 && !c.ca_service_url);
        FUZZ_ASSERT(c.max_connections == defaults.max_connections);
    }
    config_free(&c);
    return 0;
}
