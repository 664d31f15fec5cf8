/* SPDX-License-Identifier: MIT */
/*
 * tests/vtoken/piv.h — the PIV card application (NIST SP 800-73-4 part 2):
 * SELECT, GET DATA, VERIFY, CHANGE REFERENCE DATA, RESET RETRY COUNTER and
 * Yubico's version/serial instructions, over the token's persistent state.
 * Every change of PIN, PUK or retry counter is written to the state file
 * before the answer leaves the card, as a real card commits to EEPROM first.
 */
#ifndef UKEYD_VTOKEN_PIV_H
#define UKEYD_VTOKEN_PIV_H

#include <stdbool.h>
#include <stdint.h>

#include "tests/vtoken/apdu.h"
#include "tests/vtoken/state.h"

struct piv_app {
    struct vt_state *state;
    const char *state_path;
    bool selected;        /* the PIV application is the current one */
    bool pin_verified;    /* security status of key reference 80 */
};

#define PIV_ATR_MAX 33

/* The ATR the token answers to vpcd's "get ATR" (docs/virtual-token.md);
 * returns its length. */
size_t vt_piv_build_atr(uint8_t out[PIV_ATR_MAX]);

/* apdu_handler_fn for struct piv_app. */
uint16_t vt_piv_handle(void *app, const struct apdu_cmd *cmd, struct vt_buf *out);

/* Power off, reset or removal: nothing selected, PIN no longer verified. */
void vt_piv_power_cycle(struct piv_app *app);

#endif
