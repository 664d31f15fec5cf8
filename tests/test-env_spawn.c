/* SPDX-License-Identifier: MIT */
/* Tests api/env/env_spawn.c: exit status, signal, a program that does not
 * exist, the time bound (the child is killed and reaped), and that the child
 * inherits no descriptor beyond 0, 1 and 2. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/env/env_spawn.h"
#include "tests/tap.h"

#define TIMEOUT_MS    5000
#define SHORT_MS      200
#define SLACK_MS      2000
#define FD_TEXT_MAX   64

static struct env_spawn_result run(char *const argv[], unsigned timeout_ms)
{
    struct env_spawn_result res;

    env_spawn_run(argv, timeout_ms, &res);
    return res;
}

int main(void)
{
    char *truth[] = { "/bin/true", NULL };
    char *lie[] = { "/bin/false", NULL };
    char *missing[] = { "/nonexistent/ukeyd-hook", NULL };
    char *slow[] = { "/bin/sleep", "30", NULL };
    char *suicide[] = { "/bin/sh", "-c", "kill -TERM $$", NULL };
    char fd_path[FD_TEXT_MAX];
    char *inherits[] = { "/usr/bin/test", "-e", fd_path, NULL };
    struct env_spawn_result res;
    int fd;

    if (access("/bin/true", X_OK) != 0 || access("/usr/bin/test", X_OK) != 0)
        tap_skip_all("no /bin/true or /usr/bin/test");

    res = run(truth, TIMEOUT_MS);
    tap_ok(res.how == ENV_SPAWN_EXITED && res.status == 0, "/bin/true exits 0");
    res = run(lie, TIMEOUT_MS);
    tap_ok(res.how == ENV_SPAWN_EXITED && res.status == 1, "/bin/false exits 1");
    res = run(missing, TIMEOUT_MS);
    tap_ok(res.how == ENV_SPAWN_FAILED && res.status == ENOENT,
           "a missing program: FAILED with ENOENT (how %d, status %d)", res.how, res.status);
    res = run(suicide, TIMEOUT_MS);
    tap_ok(res.how == ENV_SPAWN_SIGNALLED && res.status == SIGTERM, "killed by SIGTERM");
    res = run(slow, SHORT_MS);
    tap_ok(res.how == ENV_SPAWN_TIMED_OUT, "sleep 30 with a 200 ms bound: timed out");
    tap_ok(res.elapsed_ms >= SHORT_MS && res.elapsed_ms < SHORT_MS + SLACK_MS,
           "and it took about 200 ms (%ld)", res.elapsed_ms);
    tap_ok(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD, "no child left behind");

    fd = open("/dev/null", O_RDONLY);   /* not close-on-exec, like a dup()ed socket */
    snprintf(fd_path, sizeof fd_path, "/proc/self/fd/%d", fd);
    res = run(inherits, TIMEOUT_MS);
    tap_ok(res.how == ENV_SPAWN_EXITED && res.status == 1,
           "descriptor %d is not inherited (test -e exits %d)", fd, res.status);
    close(fd);
    return tap_done();
}
