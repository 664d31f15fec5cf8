/* SPDX-License-Identifier: MIT */
/*
 * api/env/env_spawn.c — posix_spawn of the pcscd restart hook and a bounded
 * wait for it.
 *
 * The child gets no descriptor but 0, 1 and 2: the daemon's listening
 * sockets are not all close-on-exec, and a pcscd started by the hook would
 * otherwise keep ukeyd's port open after ukeyd is gone.
 */
#include "api/env/env_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api/base/timeutil.h"

#define FIRST_EXTRA_FD  3
#define WAIT_STEP_MS    20

static void sleep_ms(long ms)
{
    struct timespec t = { .tv_sec = ms / MS_PER_SEC, .tv_nsec = (ms % MS_PER_SEC) * NS_PER_MS };

    nanosleep(&t, NULL);
}

static int spawn_child(char *const argv[], pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    int rc;

    if ((rc = posix_spawn_file_actions_init(&fa)) != 0)
        return rc;
    rc = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO);
    if (rc == 0)
        rc = posix_spawn_file_actions_addclosefrom_np(&fa, FIRST_EXTRA_FD);
    if (rc == 0)
        rc = posix_spawn(pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    return rc;
}

/* Reaps the child: 1 when it ended, 0 when it was still running after the
 * time allowed (it has then been killed and reaped), -errno when waiting
 * failed. */
static int wait_child(pid_t pid, unsigned timeout_ms, const struct timespec *t0, int *status)
{
    pid_t got;

    for (;;) {
        got = waitpid(pid, status, WNOHANG);
        if (got < 0 && errno == EINTR)
            continue;
        if (got != 0 || ms_since(t0) >= (long)timeout_ms)
            break;
        sleep_ms(WAIT_STEP_MS);
    }
    if (got == pid)
        return 1;
    if (got < 0)
        return -errno;
    kill(pid, SIGKILL);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR)
        ;
    return 0;
}

void env_spawn_run(char *const argv[], unsigned timeout_ms, struct env_spawn_result *out)
{
    struct timespec t0;
    pid_t pid;
    int status = 0, rc;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = spawn_child(argv, &pid);
    if (rc != 0) {
        *out = (struct env_spawn_result){ .how = ENV_SPAWN_FAILED, .status = rc };
        return;
    }
    rc = wait_child(pid, timeout_ms, &t0, &status);
    if (rc < 0)
        *out = (struct env_spawn_result){ .how = ENV_SPAWN_FAILED, .status = -rc };
    else if (rc == 0)
        *out = (struct env_spawn_result){ .how = ENV_SPAWN_TIMED_OUT };
    else if (WIFSIGNALED(status))
        *out = (struct env_spawn_result){ .how = ENV_SPAWN_SIGNALLED,
                                          .status = WTERMSIG(status) };
    else
        *out = (struct env_spawn_result){ .how = ENV_SPAWN_EXITED,
                                          .status = WEXITSTATUS(status) };
    out->elapsed_ms = ms_since(&t0);
}
