/* SPDX-License-Identifier: MIT */
/*
 * tests/vtoken/piv.h — the PIV card application (NIST SP 800-73-4 part 2):
 * SELECT, GET DATA, PUT DATA, VERIFY, CHANGE REFERENCE DATA, RESET RETRY
 * COUNTER, GENERAL AUTHENTICATE (management key and slot keys), GENERATE
 * ASYMMETRIC KEY PAIR and Yubico's version, serial, GET METADATA and MOVE
 * KEY instructions, over the token's persistent state. Every change is
 * written to the state file before the answer leaves the card, as a real
 * card commits to EEPROM first.
 */
#ifndef UKEYD_VTOKEN_PIV_H
#define UKEYD_VTOKEN_PIV_H

#include <stdbool.h>
#include <stdint.h>

#include "tests/vtoken/apdu.h"
#include "tests/vtoken/mgmt.h"
#include "tests/vtoken/state.h"

/* The management key protocol step the card waits for. */
enum piv_mgmt_step {
    MGMT_STEP_NONE,
    MGMT_STEP_RESPONSE,    /* external: a challenge went out, its encryption comes back */
    MGMT_STEP_WITNESS,     /* mutual: an encrypted witness went out, the plain one comes back */
};

struct piv_app {
    struct vt_state *state;
    const char *state_path;
    bool selected;        /* the PIV application is the current one */
    bool pin_verified;    /* security status of key reference 80 */
    /* The PIN was verified since a key with PIN policy "always" last signed. */
    bool pin_fresh;
    bool mgmt_authenticated;   /* security status of key reference 9B */
    enum piv_mgmt_step mgmt_step;
    uint8_t mgmt_expect[VT_MGMT_BLOCK_MAX];  /* the single-use challenge or witness */
};

#define PIV_ATR_MAX 33

/* The ATR the token answers to vpcd's "get ATR" (docs/virtual-token.md);
 * returns its length. */
size_t vt_piv_build_atr(uint8_t out[PIV_ATR_MAX]);

/* apdu_handler_fn for struct piv_app. */
uint16_t vt_piv_handle(void *app, const struct apdu_cmd *cmd, struct vt_buf *out);

/* Power off, reset or removal: nothing selected, neither PIN nor
 * management key verified, no challenge pending. */
void vt_piv_power_cycle(struct piv_app *app);

#endif
