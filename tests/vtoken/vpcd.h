/* SPDX-License-Identifier: MIT */
/*
 * tests/vtoken/vpcd.h — the card's side of vsmartcard's vpcd protocol:
 * a TCP client to the reader driver inside pcscd; every message either way
 * is a two-byte big-endian length and the payload. One-byte messages from
 * vpcd are control requests, longer ones are command APDUs.
 */
#ifndef UKEYD_VTOKEN_VPCD_H
#define UKEYD_VTOKEN_VPCD_H

#include <stddef.h>
#include <stdint.h>

#include "tests/vtoken/buf.h"

enum vpcd_control {
    VPCD_CTRL_POWER_OFF = 0x00,
    VPCD_CTRL_POWER_ON  = 0x01,
    VPCD_CTRL_RESET     = 0x02,
    VPCD_CTRL_GET_ATR   = 0x04,
};

#define VPCD_MSG_MAX 0xFFFF

/* Connects to vpcd on 127.0.0.1:port with Nagle off and quick ACKs on;
 * returns the socket, or -1 (errno set) when nothing listens yet. */
int vt_vpcd_connect(uint16_t port);

/* Reads one whole message into msg. 0, or -1 when the connection is gone. */
int vt_vpcd_recv(int fd, struct vt_buf *msg);

/* Sends one message in a single write. 0, or -1 when the connection is gone. */
int vt_vpcd_send(int fd, const uint8_t *payload, size_t len);

#endif
