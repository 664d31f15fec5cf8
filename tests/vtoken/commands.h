/* SPDX-License-Identifier: MIT */
/*
 * tests/vtoken/commands.h — the `vtoken` subcommands. Each takes the
 * arguments after its name (argv[0] is the subcommand) and returns the exit
 * status.
 */
#ifndef UKEYD_VTOKEN_COMMANDS_H
#define UKEYD_VTOKEN_COMMANDS_H

int vt_cmd_provision(int argc, char **argv);
int vt_cmd_run(int argc, char **argv);
int vt_cmd_show(int argc, char **argv);
int vt_cmd_ctl(int argc, char **argv);

#endif
