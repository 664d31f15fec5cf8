/* SPDX-License-Identifier: MIT */
/*
 * api/env/env_spawn.h — running the administrator's pcscd restart hook
 * (`pcscd-restart-command`): a fixed argv from the configuration file,
 * started with posix_spawn — never through a shell, never with anything a
 * request sent — and bounded in time.
 */
#ifndef UKEYD_API_ENV_SPAWN_H
#define UKEYD_API_ENV_SPAWN_H

enum env_spawn_how {
    ENV_SPAWN_EXITED,          /* `status` is the exit status */
    ENV_SPAWN_SIGNALLED,       /* `status` is the signal */
    ENV_SPAWN_TIMED_OUT,       /* killed (SIGKILL) after the time allowed */
    ENV_SPAWN_FAILED,          /* could not start: `status` is the errno */
};

struct env_spawn_result {
    enum env_spawn_how how;
    int status;
    long elapsed_ms;
};

/*
 * Runs argv[0] (an absolute path) with argv and ukeyd's environment, stdin
 * from /dev/null, stdout and stderr to ukeyd's stderr (so its words reach the
 * journal), no other file descriptor, and waits at most `timeout_ms`.
 */
void env_spawn_run(char *const argv[], unsigned timeout_ms, struct env_spawn_result *out);

#endif
