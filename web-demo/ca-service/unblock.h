/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/unblock.h — the CA's half of the SKF vendor remote
 * unblock (the Longmai GM3000 SDK's SKF_GenRemoteUnblockRequest /
 * SKF_RemoteUnblockPIN, docs/unlock-protocol.md "remote-challenge"): the
 * answer to a token's challenge that sets its user PIN, computed from the
 * admin PIN the service keeps, which never leaves it.
 */
#ifndef UKEY_CA_UNBLOCK_H
#define UKEY_CA_UNBLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UNBLOCK_CHALLENGE_MAX 16
#define UNBLOCK_PIN_MIN       6
#define UNBLOCK_PIN_MAX       16
#define UNBLOCK_ANSWER_MAX    36         /* 32 bytes of PIN block + a 4-byte MAC */

/*
 * K = the first 16 bytes of SHA-1 over the admin PIN in 16 zero bytes;
 * answer = SM4-ECB_K(LE16(len) || pin || 80 00.. to whole blocks) ||
 * the first 4 bytes of SM4-CBC-MAC_K(pin || 80 00.., IV = challenge || 00..).
 * false when an argument is out of range or OpenSSL fails.
 */
bool unblock_answer(const char *admin_pin, const uint8_t *challenge, size_t challenge_len,
                    const char *pin, uint8_t out[UNBLOCK_ANSWER_MAX], size_t *out_len);

#endif
