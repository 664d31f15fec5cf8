/* SPDX-License-Identifier: MIT */
/*
 * tests/rig/pcsc-apdu.c — sends raw APDUs to the card in one reader, inside
 * one PC/SC transaction, and prints each response (data and SW1 SW2) as one
 * line of upper-case hex. Nothing is added: no GET RESPONSE after 61xx, no
 * Le fixing, so tests see exactly what the card answers.
 *
 *   pcsc-apdu [--reset] READER APDU-HEX...
 *       e.g. pcsc-apdu "Virtual PCD 00 00" 00A4040005A000000308
 *
 * --reset resets the card first (a warm reset: the card forgets the selected
 * application and any verified PIN), as a fresh power-up would.
 * Spaces and colons inside an APDU argument are ignored. Exit 0 when every
 * APDU got an answer, 1 on a PC/SC error, 2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winscard.h>

/* Extended APDUs: 65535 data bytes plus header and length fields. */
#define APDU_MAX       (4 + 3 + 65535 + 2)
#define RESPONSE_MAX   (65536 + 2)
#define EXIT_PCSC      1
#define EXIT_USAGE     2

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Parses hex with optional separators; -1 on a bad digit or odd count. */
static long parse_hex(const char *text, unsigned char *out, size_t cap)
{
    size_t n = 0;
    int high = -1;

    for (const char *p = text; *p; p++) {
        int v;

        if (*p == ' ' || *p == ':')
            continue;
        v = hex_value(*p);
        if (v < 0)
            return -1;
        if (high < 0) {
            high = v;
            continue;
        }
        if (n == cap)
            return -1;
        out[n++] = (unsigned char)(high << 4 | v);
        high = -1;
    }
    return high < 0 ? (long)n : -1;
}

static void print_hex(const unsigned char *data, size_t len)
{
    for (size_t i = 0; i < len; i++)
        printf("%02X", data[i]);
    putchar('\n');
}

static LONG transmit_all(SCARDHANDLE card, DWORD protocol, char **apdus, int n)
{
    static unsigned char command[APDU_MAX], response[RESPONSE_MAX];
    const SCARD_IO_REQUEST *pci = protocol == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1;

    for (int i = 0; i < n; i++) {
        long len = parse_hex(apdus[i], command, sizeof command);
        DWORD resp_len = sizeof response;
        LONG rc;

        if (len < 4) {
            fprintf(stderr, "pcsc-apdu: not an APDU: %s\n", apdus[i]);
            return SCARD_E_INVALID_PARAMETER;
        }
        rc = SCardTransmit(card, pci, command, (DWORD)len, NULL, response, &resp_len);
        if (rc != SCARD_S_SUCCESS)
            return rc;
        print_hex(response, resp_len);
    }
    return SCARD_S_SUCCESS;
}

static LONG reset_card(SCARDHANDLE card, DWORD *protocol)
{
    return SCardReconnect(card, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1,
                          SCARD_RESET_CARD, protocol);
}

int main(int argc, char **argv)
{
    SCARDCONTEXT ctx;
    SCARDHANDLE card;
    DWORD protocol;
    int reset = argc > 1 && strcmp(argv[1], "--reset") == 0;
    LONG rc;

    argc -= reset;
    argv += reset;
    if (argc < 3) {
        fprintf(stderr, "usage: pcsc-apdu [--reset] READER APDU-HEX...\n");
        return EXIT_USAGE;
    }
    rc = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx);
    if (rc != SCARD_S_SUCCESS) {
        fprintf(stderr, "pcsc-apdu: %s\n", pcsc_stringify_error(rc));
        return EXIT_PCSC;
    }
    rc = SCardConnect(ctx, argv[1], SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1,
                      &card, &protocol);
    if (rc == SCARD_S_SUCCESS) {
        rc = reset ? reset_card(card, &protocol) : SCARD_S_SUCCESS;
        if (rc == SCARD_S_SUCCESS)
            rc = SCardBeginTransaction(card);
        if (rc == SCARD_S_SUCCESS) {
            rc = transmit_all(card, protocol, argv + 2, argc - 2);
            SCardEndTransaction(card, SCARD_LEAVE_CARD);
        }
        SCardDisconnect(card, SCARD_LEAVE_CARD);
    }
    SCardReleaseContext(ctx);
    if (rc != SCARD_S_SUCCESS) {
        fprintf(stderr, "pcsc-apdu: %s: %s\n", argv[1], pcsc_stringify_error(rc));
        return EXIT_PCSC;
    }
    return 0;
}
