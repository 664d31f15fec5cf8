/* SPDX-License-Identifier: MIT */
/*
 * tests/vtoken/main.c — `vtoken`, a PIV card emulator for tests: picks the
 * subcommand. See docs/virtual-token.md.
 */
#include <stdio.h>
#include <string.h>

#include "tests/vtoken/commands.h"

#define EXIT_USAGE 2

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} subcommands[] = {
    { "provision", vt_cmd_provision },
    { "run",       vt_cmd_run },
    { "show",      vt_cmd_show },
    { "ctl",       vt_cmd_ctl },
};

static void usage(FILE *to)
{
    fputs("usage: vtoken provision --state FILE --pin PIN --puk PUK [--serial N] [--model TEXT]\n"
          "                        [--guid HEX32] [--version X.Y.Z] [--pin-retries N]\n"
          "                        [--puk-retries N] [--cert SLOT:FILE.pem]... "
          "[--key SLOT:FILE.pem]...\n"
          "                        [--mgmt-key ALG:HEX]\n"
          "       vtoken run --state FILE --port PORT [--control SOCKET] [--log FILE] [--removed]\n"
          "       vtoken show --state FILE\n"
          "       vtoken ctl SOCKET remove|insert|status|stats|reset-stats|"
          "fault INS before|after [N]|fault clear\n"
          "SLOT is 9a, 9c, 9d, 9e or a retired slot 82..95; ALG is 3DES, AES-128, AES-192\n"
          "or AES-256 (default: 3DES 010203040506070801020304050607080102030405060708).\n",
          to);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        if (strcmp(argv[1], subcommands[i].name) == 0)
            return subcommands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "vtoken: unknown subcommand \"%s\"\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
