/* SPDX-License-Identifier: MIT */
/*
 * tests/vskf/access.c — PINs (GM/T 0016-2012 7.2.4-7.2.8) and the vendor
 * remote unblock: every wrong PIN costs a try and is saved before the answer
 * goes back; a blocked PIN answers SAR_PIN_LOCKED without being compared; a
 * right one restores its tries and logs its role in, in the device's RAM,
 * where every process sees it until SKF_ClearSecureState or an unplug.
 */
#include "tests/vskf/lib.h"

#include <string.h>

#include <openssl/crypto.h>

static struct vskf_pin *pin_of(struct vskf_app *app, enum vskf_role role)
{
    return role == VSKF_ROLE_ADMIN ? &app->admin : &app->user;
}

static bool pin_equal(const struct vskf_pin *pin, const char *given)
{
    size_t a = strlen(pin->value), b = strlen(given);

    return a == b && CRYPTO_memcmp(pin->value, given, a) == 0;
}

/* Compares a PIN, counting the try; SAR_OK logs role in. */
static ULONG check_pin(struct vskf_op *op, enum vskf_role role, const char *given,
                       ULONG *retry)
{
    struct vskf_pin *pin = pin_of(op->app, role);

    if (pin->tries_left == 0) {
        if (retry)
            *retry = 0;
        return SAR_PIN_LOCKED;
    }
    if (!pin_equal(pin, given)) {
        pin->tries_left--;
        op->st_dirty = true;
        /* A failed verification ends whatever was verified before. */
        vskf_ram_set_role(&op->ram, op->app->name, VSKF_ROLE_NONE);
        op->ram_dirty = true;
        if (retry)
            *retry = pin->tries_left;
        return pin->tries_left ? SAR_PIN_INCORRECT : SAR_PIN_LOCKED;
    }
    if (pin->tries_left != pin->max_tries) {
        pin->tries_left = pin->max_tries;
        op->st_dirty = true;
    }
    vskf_ram_set_role(&op->ram, op->app->name, role);
    op->ram_dirty = true;
    if (retry)
        *retry = pin->tries_left;
    return SAR_OK;
}

static void set_pin(struct vskf_op *op, struct vskf_pin *pin, const char *value)
{
    vskf_strlcpy(pin->value, value, sizeof pin->value);
    pin->tries_left = pin->max_tries;
    pin->is_default = false;
    op->st_dirty = true;
}

ULONG SKF_VerifyPIN(HAPPLICATION hApplication, ULONG ulPINType, LPSTR szPIN,
                    ULONG *pulRetryCount)
{
    enum vskf_role role;
    struct vskf_op op;
    ULONG rv;

    if (!szPIN)
        return SAR_INVALIDPARAMERR;
    rv = vskf_pin_role(ulPINType, &role);
    if (rv != SAR_OK)
        return rv;
    rv = vskf_op_begin(hApplication, VSKF_KIND_APP, &op);
    if (rv == SAR_OK)
        rv = check_pin(&op, role, szPIN, pulRetryCount);
    return vskf_op_end(&op, rv);
}

ULONG SKF_ChangePIN(HAPPLICATION hApplication, ULONG ulPINType, LPSTR szOldPin, LPSTR szNewPin,
                    ULONG *pulRetryCount)
{
    enum vskf_role role;
    struct vskf_op op;
    ULONG rv;

    if (!szOldPin)
        return SAR_INVALIDPARAMERR;
    rv = vskf_pin_role(ulPINType, &role);
    if (rv == SAR_OK)
        rv = vskf_check_pin(szNewPin);
    if (rv != SAR_OK)
        return rv;
    rv = vskf_op_begin(hApplication, VSKF_KIND_APP, &op);
    if (rv == SAR_OK)
        rv = check_pin(&op, role, szOldPin, pulRetryCount);
    if (rv == SAR_OK)
        set_pin(&op, pin_of(op.app, role), szNewPin);
    return vskf_op_end(&op, rv);
}

ULONG SKF_GetPINInfo(HAPPLICATION hApplication, ULONG ulPINType, ULONG *pulMaxRetryCount,
                     ULONG *pulRemainRetryCount, BOOL *pbDefaultPin)
{
    enum vskf_role role;
    struct vskf_op op;
    ULONG rv;

    if (!pulMaxRetryCount || !pulRemainRetryCount || !pbDefaultPin)
        return SAR_INVALIDPARAMERR;
    rv = vskf_pin_role(ulPINType, &role);
    if (rv != SAR_OK)
        return rv;
    rv = vskf_op_begin(hApplication, VSKF_KIND_APP, &op);
    if (rv == SAR_OK) {
        const struct vskf_pin *pin = pin_of(op.app, role);

        *pulMaxRetryCount = pin->max_tries;
        *pulRemainRetryCount = pin->tries_left;
        *pbDefaultPin = pin->is_default ? SKF_TRUE : SKF_FALSE;
    }
    return vskf_op_end(&op, rv);
}

ULONG SKF_UnblockPIN(HAPPLICATION hApplication, LPSTR szAdminPIN, LPSTR szNewUserPIN,
                     ULONG *pulRetryCount)
{
    struct vskf_op op;
    ULONG rv;

    if (!szAdminPIN)
        return SAR_INVALIDPARAMERR;
    rv = vskf_check_pin(szNewUserPIN);
    if (rv != SAR_OK)
        return rv;
    rv = vskf_op_begin(hApplication, VSKF_KIND_APP, &op);
    if (rv == SAR_OK)
        rv = check_pin(&op, VSKF_ROLE_ADMIN, szAdminPIN, pulRetryCount);
    if (rv == SAR_OK)
        set_pin(&op, &op.app->user, szNewUserPIN);
    return vskf_op_end(&op, rv);
}

ULONG SKF_ClearSecureState(HAPPLICATION hApplication)
{
    struct vskf_op op;
    ULONG rv = vskf_op_begin(hApplication, VSKF_KIND_APP, &op);

    if (rv == SAR_OK) {
        vskf_ram_set_role(&op.ram, op.app->name, VSKF_ROLE_NONE);
        op.ram_dirty = true;
    }
    return vskf_op_end(&op, rv);
}

/* --- remote unblock (Longmai GM3000 vendor extension; unblock.c) --------------------- */

ULONG SKF_GenRemoteUnblockRequest(HAPPLICATION hApplication, BYTE *pbRandom, ULONG ulRandomLen)
{
    struct vskf_op op;
    ULONG rv;

    if (!pbRandom || ulRandomLen == 0 || ulRandomLen > VSKF_CHALLENGE_MAX)
        return SAR_INVALIDPARAMERR;
    rv = vskf_op_begin(hApplication, VSKF_KIND_APP, &op);
    if (rv == SAR_OK && vskf_random(pbRandom, ulRandomLen) < 0)
        rv = SAR_GENRANDERR;
    if (rv == SAR_OK) {
        memcpy(op.ram.challenge, pbRandom, ulRandomLen);
        op.ram.challenge_len = ulRandomLen;
        op.ram_dirty = true;
    }
    return vskf_op_end(&op, rv);
}

ULONG SKF_RemoteUnblockPIN(HAPPLICATION hApplication, BYTE *pbCipherPIN, ULONG ulCipherPINLen,
                           ULONG *pulRetryCount)
{
    char new_pin[VSKF_PIN_MAX + 1];
    struct vskf_op op;
    uint8_t challenge[VSKF_CHALLENGE_MAX];
    size_t challenge_len;
    ULONG rv;

    if (!pbCipherPIN)
        return SAR_INVALIDPARAMERR;
    rv = vskf_op_begin(hApplication, VSKF_KIND_APP, &op);
    if (rv != SAR_OK)
        return vskf_op_end(&op, rv);
    if (op.app->admin.tries_left == 0) {
        if (pulRetryCount)
            *pulRetryCount = 0;
        return vskf_op_end(&op, SAR_PIN_LOCKED);
    }
    if (op.ram.challenge_len == 0)
        return vskf_op_end(&op, SAR_NOTINITIALIZEERR);
    /* One answer per challenge, whatever it turns out to be. */
    challenge_len = op.ram.challenge_len;
    memcpy(challenge, op.ram.challenge, challenge_len);
    op.ram.challenge_len = 0;
    op.ram_dirty = true;
    switch (vskf_unblock_open(op.app->admin.value, challenge, challenge_len, pbCipherPIN,
                              ulCipherPINLen, new_pin)) {
    case VSKF_UNBLOCK_OK:
        rv = vskf_check_pin(new_pin);
        if (rv == SAR_OK) {
            set_pin(&op, &op.app->user, new_pin);
            op.app->admin.tries_left = op.app->admin.max_tries;
        }
        if (pulRetryCount)
            *pulRetryCount = op.app->admin.tries_left;
        break;
    case VSKF_UNBLOCK_MALFORMED:
        rv = SAR_INDATALENERR;
        break;
    case VSKF_UNBLOCK_WRONG:
        /* Only the admin PIN's key opens an answer: a wrong one is a wrong
         * admin PIN, and costs its try like SKF_UnblockPIN's. */
        op.app->admin.tries_left--;
        op.st_dirty = true;
        if (pulRetryCount)
            *pulRetryCount = op.app->admin.tries_left;
        rv = op.app->admin.tries_left ? SAR_PIN_INCORRECT : SAR_PIN_LOCKED;
        break;
    case VSKF_UNBLOCK_ERROR:
        rv = SAR_FAIL;
        break;
    }
    OPENSSL_cleanse(new_pin, sizeof new_pin);
    OPENSSL_cleanse(challenge, sizeof challenge);
    return vskf_op_end(&op, rv);
}
