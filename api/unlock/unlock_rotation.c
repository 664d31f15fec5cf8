/* SPDX-License-Identifier: MIT */
/*
 * api/unlock/unlock_rotation.c — `complete` and the recovery of its journal, as
 * docs/unlock-protocol.md describes them step by step.
 *
 * The rule that keeps a token unlockable: a journal record is made durable
 * before each step that changes the card or the CA's records, and the CA is
 * only ever told what the card is known to hold. Whatever a step's outcome,
 * the card holds the PUK the CA calls `puk` or the one it calls `nextPuk`,
 * and the CA keeps both until a confirmation says which.
 *
 * A PUK the card refuses means the CA's record is wrong: one such try per
 * unlock at most, reported to the CA, and the token layer never lets any
 * PUK attempt spend the card's last try.
 *
 * PUKs live in one ca_puk_pair on the stack, wiped on every way out.
 *
 * The same steps serve an SKF token's admin PIN (SKF_UnblockPIN, then
 * SKF_ChangePIN of the admin PIN): the token layer maps them. The SKF
 * challenge-response ("remote-challenge") changes no secret: the token's
 * challenge goes to the CA with a random temporary PIN made here, the CA's
 * answer sets that PIN (the challenge, the CA's answer and the token's
 * taking it are one hold of the token, bounded by the CA client's
 * deadline), and it is changed at once to the user's, which never
 * leaves the machine. The temporary PIN lives only in memory: a crash
 * before it was changed leaves the request authorised for the user to
 * complete again (a fresh answer costs the token nothing), so there is
 * nothing to recover that a journalled secret could help with.
 */
#include "api/unlock/unlock_rotation.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "api/base/log.h"
#include "api/base/scoped.h"

#define SCOPED_PAIR SCOPED(ca_puk_pair_wipe) struct ca_puk_pair

/* The temporary PIN's length (within the token's policy), and the token's
 * challenge: 8 bytes, as the vendor's published sample draws it. */
#define TEMP_PIN_LEN         12
#define TEMP_PIN_MAX         16
#define REMOTE_CHALLENGE_LEN 8
#define DIGIT_BYTE_LIMIT     250        /* bytes below it are digits without modulo bias */
#define DECIMAL              10

/* Which PUK a recovery tries first; the other costs at most one wasted try. */
enum puk_guess {
    GUESS_CARD_HAS_PUK,
    GUESS_CARD_HAS_NEXT,
};

enum puk_state {
    PUK_NOW_NEXT,                /* the card holds nextPuk */
    PUK_NEITHER,                 /* the card takes neither PUK, or its PUK is blocked */
    PUK_LAST_TRY_LEFT,           /* the card's PUK has one try left: it is not risked */
    PUK_UNREACHABLE,             /* the card could not be asked: try again later */
};

/* The log fields of a line about one token. */
#define TOKEN_FIELDS(id) (&(struct log_fields){ .token_id = (id) })

/* The test hook (docs/unlock-protocol.md): die where a crash would hurt most,
 * or, with the UNLOCK_STOP_PREFIX, stop there (SIGSTOP) so that a test pulls
 * the token, kills the helper or takes the CA down before it continues. */
static void crash_point(const struct rotation_env *env, enum journal_step step,
                        const char *token_id)
{
    const char *want = env->crash_after;
    bool stop = want && strncmp(want, UNLOCK_STOP_PREFIX, strlen(UNLOCK_STOP_PREFIX)) == 0;

    if (stop)
        want += strlen(UNLOCK_STOP_PREFIX);
    if (!want || strcmp(want, journal_step_name(step)) != 0)
        return;
    log_msg(LOG_WARNING, TOKEN_FIELDS(token_id), "test hook " UNLOCK_CRASH_ENV ": %s after %s",
            stop ? "SIGSTOP" : "SIGKILL", journal_step_name(step));
    raise(stop ? SIGSTOP : SIGKILL);
}

/* The card or its policy refused the secrets: the card is as it was. */
static bool puk_refused(token_err err)
{
    return err == TOKEN_E_PUK_INCORRECT || err == TOKEN_E_PUK_BLOCKED ||
           err == TOKEN_E_PIN_POLICY || err == TOKEN_E_PUK_POLICY;
}

/* The operation never reached the card. */
static bool card_untouched(token_err err)
{
    return err == TOKEN_E_TOKEN_NOT_FOUND || err == TOKEN_E_TOKEN_BUSY ||
           err == TOKEN_E_CARD_UNSUPPORTED || err == TOKEN_E_INVALID_ARG ||
           err == TOKEN_E_PUK_LAST_TRY;
}

/* The card says the CA's PUK is not its PUK, or cannot be: the CA's record is wrong. */
static bool record_mismatch(token_err err)
{
    return err == TOKEN_E_PUK_INCORRECT || err == TOKEN_E_PUK_POLICY;
}

/* The session's token was there when `complete` began: not finding it now means it was pulled. */
static token_err as_seen_by_session(token_err err)
{
    return err == TOKEN_E_TOKEN_NOT_FOUND ? TOKEN_E_TOKEN_REMOVED : err;
}

static int token_failure(struct unlock_error *e, token_err err, int tries_left)
{
    *e = (struct unlock_error){ .kind = UNLOCK_ERR_TOKEN, .token = as_seen_by_session(err),
                                .tries_left = tries_left };
    return -1;
}

static int ca_failure(struct unlock_error *e, ca_err err)
{
    struct ca_refusal refusal = e->refusal;

    *e = (struct unlock_error){ .kind = UNLOCK_ERR_CA, .ca = err, .refusal = refusal };
    return -1;
}

static int journal_failure(struct unlock_error *e)
{
    *e = (struct unlock_error){ .kind = UNLOCK_ERR_JOURNAL };
    return -1;
}

static int mismatch_failure(struct unlock_error *e, int puk_tries_left)
{
    *e = (struct unlock_error){ .kind = UNLOCK_ERR_RECORD_MISMATCH, .tries_left = puk_tries_left };
    return -1;
}

/* --- confirmations ----------------------------------------------------------- */

static int record_confirmation(const struct rotation_env *env, struct journal_record *rec,
                               bool rotated, bool pin_reset)
{
    rec->step = JOURNAL_CONFIRMED;
    rec->rotated = rotated;
    rec->pin_reset = pin_reset;
    return journal_write(env->journal, rec);
}

/* Sends the recorded confirmation; any settled answer ends the record. */
static enum recovery_result deliver_confirmation(const struct rotation_env *env,
                                                 const struct ca_client *c,
                                                 const struct journal_record *rec)
{
    const struct log_fields *f = TOKEN_FIELDS(rec->token_id);
    struct ca_refusal why;
    ca_err err = ca_confirm(c, rec->rotation_id, rec->rotated ? CA_ROTATION_ROTATED
                                                              : CA_ROTATION_UNCHANGED,
                            rec->pin_reset, &why);

    switch (err) {
    case CA_OK:
    case CA_E_ROTATION_CLOSED:
        break;
    case CA_E_ROTATION_CONFLICT:
        log_msg(LOG_ERR, f,
                "unlock: the CA recorded \"%s\" for rotation %.*s…, not what the card holds; "
                "the CA must check this token", why.result, CA_ID_LOG_PREFIX, rec->rotation_id);
        break;
    case CA_E_ROTATION_UNKNOWN:
        log_msg(LOG_ERR, f, "unlock: the CA does not know rotation %.*s…; record dropped",
                CA_ID_LOG_PREFIX, rec->rotation_id);
        break;
    default:
        return RECOVERY_SERVICE_DOWN;
    }
    log_msg(LOG_NOTICE, f, "unlock: rotation %.*s… confirmed %s (PIN reset: %s)",
            CA_ID_LOG_PREFIX, rec->rotation_id, rec->rotated ? "rotated" : "unchanged",
            rec->pin_reset ? "yes" : "no");
    return journal_remove(env->journal, rec->rotation_id) == 0 ? RECOVERY_DONE : RECOVERY_FAILED;
}

static enum recovery_result settle(const struct rotation_env *env, const struct ca_client *c,
                                   struct journal_record *rec, bool rotated, bool pin_reset)
{
    if (record_confirmation(env, rec, rotated, pin_reset) < 0)
        return RECOVERY_FAILED;
    return deliver_confirmation(env, c, rec);
}

/* The journal forgets a rotation it cannot settle: the CA keeps both PUKs. */
static enum recovery_result leave_pending(const struct rotation_env *env,
                                          const struct journal_record *rec, const char *why)
{
    log_msg(LOG_ERR, TOKEN_FIELDS(rec->token_id),
            "unlock: rotation %.*s… left pending at the CA (%s); only the CA can help this "
            "token now", CA_ID_LOG_PREFIX, rec->rotation_id, why);
    return journal_remove(env->journal, rec->rotation_id) == 0 ? RECOVERY_DONE : RECOVERY_FAILED;
}

/*
 * Sends the recorded report of a refused PUK, then settles what the card is
 * known to hold: a fresh pair's card cannot hold nextPuk, so it kept puk
 * ("unchanged"); a resumed pair's card may hold nextPuk, which was not
 * tried, so the rotation stays pending at the CA with both PUKs.
 */
static enum recovery_result deliver_report(const struct rotation_env *env,
                                           const struct ca_client *c, struct journal_record *rec)
{
    struct ca_refusal why;
    ca_err err = ca_report(c, rec->rotation_id, rec->refused, rec->puk_tries_left, &why);

    if (err != CA_OK && err != CA_E_ROTATION_CLOSED && err != CA_E_ROTATION_UNKNOWN)
        return RECOVERY_SERVICE_DOWN;
    log_msg(LOG_NOTICE, TOKEN_FIELDS(rec->token_id),
            "unlock: the CA was told its unlock secret of rotation %.*s… is wrong (%s)",
            CA_ID_LOG_PREFIX, rec->rotation_id, err == CA_OK ? "recorded" : ca_err_name(err));
    /* A remote-challenge rotation has no second secret the token might hold. */
    if (!rec->resumed || rec->mechanism == CA_MECH_REMOTE)
        return settle(env, c, rec, false, false);
    return leave_pending(env, rec, "the card may hold nextPuk, which was not tried");
}

/* --- recovery ------------------------------------------------------------------ */

/* CHANGE REFERENCE DATA that leaves nextPuk on the card: from puk, or from
 * nextPuk onto itself (which only checks it). */
static token_err change_to_next(const struct rotation_env *env, const char *token_id,
                                const struct ca_puk_pair *pair, bool from_next)
{
    int tries = -1;

    return token_service_change_puk(env->svc, token_id, from_next ? pair->next_puk : pair->puk,
                                    pair->next_puk, &tries);
}

/*
 * The step being recovered was cut short, so the card holds one PUK of the
 * pair or the other: the journal's step says which is likelier, and that one
 * goes first. The token layer reads the PUK counter before each try and
 * refuses the last, so the guess that fails costs a try the card can spare,
 * and the success that follows restores the counter.
 */
static enum puk_state ensure_next_puk(const struct rotation_env *env, const char *token_id,
                                      const struct ca_puk_pair *pair, enum puk_guess guess)
{
    bool from_next = guess == GUESS_CARD_HAS_NEXT;
    token_err err = change_to_next(env, token_id, pair, from_next);

    if (err == TOKEN_E_PUK_INCORRECT)
        err = change_to_next(env, token_id, pair, !from_next);
    if (err == TOKEN_OK)
        return PUK_NOW_NEXT;
    if (err == TOKEN_E_PUK_LAST_TRY)
        return PUK_LAST_TRY_LEFT;
    if (puk_refused(err)) {
        log_msg(LOG_ERR, TOKEN_FIELDS(token_id),
                "unlock: the card takes neither PUK of rotation %.*s… (%s); only the CA can "
                "help this token now", CA_ID_LOG_PREFIX, pair->rotation_id, token_err_name(err));
        return PUK_NEITHER;
    }
    return PUK_UNREACHABLE;
}

/* Whether the PIN reset of an interrupted step took: it did if the PIN was
 * blocked and is not now; a PIN that was not blocked cannot tell, and then the
 * CA is told "not reset" so that the user may unlock again at no cost. */
static token_err pin_reset_took(const struct rotation_env *env, const struct journal_record *rec,
                                bool *took)
{
    struct token_pin_info now;
    token_err err;

    if (rec->step == JOURNAL_PUK_CHANGED) {
        *took = true;
        return TOKEN_OK;
    }
    if (rec->step == JOURNAL_AUTHORIZED) {
        *took = false;
        return TOKEN_OK;
    }
    err = token_service_pin_info(env->svc, rec->token_id, &now);
    *took = err == TOKEN_OK && rec->pin_blocked_before && !now.blocked;
    return err;
}

/* After authorized (resumed), pin-reset or puk-changed: put nextPuk on the
 * card, whichever PUK it holds, and confirm that. */
static enum recovery_result finish_rotation(const struct rotation_env *env,
                                            const struct ca_client *c, struct journal_record *rec)
{
    SCOPED_PAIR pair = { 0 };
    struct ca_refusal why;
    ca_err err = ca_reconcile(c, rec->rotation_id, &pair, &why);
    bool took = false;

    if (err == CA_E_ROTATION_CLOSED || err == CA_E_ROTATION_UNKNOWN) {
        /* Closed: settled before a crash, or elsewhere. Unknown: the service forgot it. */
        log_msg(err == CA_E_ROTATION_CLOSED ? LOG_NOTICE : LOG_ERR, TOKEN_FIELDS(rec->token_id),
                "unlock: rotation %.*s… is settled (%s); record dropped", CA_ID_LOG_PREFIX,
                rec->rotation_id, ca_err_name(err));
        return journal_remove(env->journal, rec->rotation_id) == 0 ? RECOVERY_DONE
                                                                  : RECOVERY_FAILED;
    }
    if (err != CA_OK)
        return RECOVERY_SERVICE_DOWN;
    switch (ensure_next_puk(env, rec->token_id, &pair,
                            rec->step == JOURNAL_PUK_CHANGED ? GUESS_CARD_HAS_NEXT
                                                             : GUESS_CARD_HAS_PUK)) {
    case PUK_UNREACHABLE:
        return RECOVERY_TOKEN_ABSENT;
    case PUK_LAST_TRY_LEFT:
        return leave_pending(env, rec, "the card's PUK has one try left");
    case PUK_NEITHER:
        /* Both tried: the card holds neither, the CA's record is wrong. */
        rec->refused = CA_PUK_INCORRECT;
        rec->puk_tries_left = -1;
        rec->resumed = false;
        rec->step = JOURNAL_PUK_REFUSED;
        if (journal_write(env->journal, rec) < 0)
            return RECOVERY_FAILED;
        return deliver_report(env, c, rec);
    case PUK_NOW_NEXT:
        break;
    }
    if (pin_reset_took(env, rec, &took) != TOKEN_OK)
        return RECOVERY_TOKEN_ABSENT;
    return settle(env, c, rec, true, took);
}

static bool token_present(const struct rotation_env *env, const char *token_id)
{
    struct token_snapshot *s = NULL;

    if (token_service_get(env->svc, token_id, &s) != TOKEN_OK)
        return false;
    token_snapshot_unref(s);
    return true;
}

/*
 * A remote-challenge rotation cut short: the CA's admin PIN is what it was,
 * and the token holds the old PIN, the temporary one (which nobody knows any
 * more), or the user's. "unchanged" with no PIN set keeps the request
 * authorised and its fee unspent, so the user completes again and a fresh
 * answer sets the PIN; the card needs nothing from the recovery.
 */
static enum recovery_result recover_remote(const struct rotation_env *env,
                                           const struct ca_client *c, struct journal_record *rec)
{
    switch (rec->step) {
    case JOURNAL_CONFIRMED:
        return deliver_confirmation(env, c, rec);
    case JOURNAL_PUK_REFUSED:
        return deliver_report(env, c, rec);
    case JOURNAL_PIN_TEMPORARY:
        log_msg(LOG_NOTICE, TOKEN_FIELDS(rec->token_id),
                "unlock: interrupted after the CA's answer; the request stays authorised and "
                "the user completes the unlock again");
        break;
    default:
        break;
    }
    return settle(env, c, rec, false, false);
}

static enum recovery_result recover_with(const struct rotation_env *env,
                                         const struct ca_client *c, struct journal_record *rec)
{
    log_msg(LOG_NOTICE, TOKEN_FIELDS(rec->token_id),
            "unlock: recovering rotation %.*s… (%s) from step %s", CA_ID_LOG_PREFIX,
            rec->rotation_id, ca_mechanism_name(rec->mechanism), journal_step_name(rec->step));
    if (rec->mechanism == CA_MECH_REMOTE)
        return recover_remote(env, c, rec);
    switch (rec->step) {
    case JOURNAL_CONFIRMED:
        return deliver_confirmation(env, c, rec);
    case JOURNAL_AUTHORIZED:
        /* A fresh pair never reached the card; a resumed one may have. */
        if (!rec->resumed)
            return settle(env, c, rec, false, false);
        return finish_rotation(env, c, rec);
    case JOURNAL_PIN_RESET:
    case JOURNAL_PUK_CHANGED:
        return finish_rotation(env, c, rec);
    case JOURNAL_PUK_REFUSED:
        return deliver_report(env, c, rec);
    case JOURNAL_PIN_TEMPORARY:
    case JOURNAL_STEP__COUNT:
        break;
    }
    return RECOVERY_FAILED;
}

static enum recovery_result recover_record(const struct rotation_env *env,
                                           struct journal_record *rec)
{
    struct ca_client_config cfg = env->ca_cfg;
    struct ca_client *own = NULL;
    const struct ca_client *c = env->ca;
    enum recovery_result r;

    /* a remote-challenge recovery asks the token nothing */
    if (rec->step != JOURNAL_CONFIRMED && rec->mechanism != CA_MECH_REMOTE &&
        !token_present(env, rec->token_id))
        return RECOVERY_TOKEN_ABSENT;
    /* The rotation lives at the service that started it, even after a change of configuration. */
    if (strcmp(rec->ca_url, ca_client_base_url(env->ca)) != 0) {
        cfg.base_url = rec->ca_url;
        if (ca_client_new(&cfg, &own) != CA_OK) {
            log_msg(LOG_ERR, TOKEN_FIELDS(rec->token_id),
                    "unlock: a journal record names a service URL this ukeyd refuses; left alone");
            return RECOVERY_FAILED;
        }
        c = own;
    }
    r = recover_with(env, c, rec);
    ca_client_free(own);
    return r;
}

enum recovery_result rotation_recover(const struct rotation_env *env, const char *token_id)
{
    struct journal_record *recs = NULL;
    enum recovery_result worst = RECOVERY_DONE;
    size_t n = 0;

    if (journal_list(env->journal, &recs, &n) < 0)
        return RECOVERY_FAILED;
    for (size_t i = 0; i < n; i++) {
        enum recovery_result r;

        if (token_id && strcmp(recs[i].token_id, token_id) != 0)
            continue;
        r = recover_record(env, &recs[i]);
        if (r > worst)
            worst = r;
    }
    OPENSSL_cleanse(recs, n * sizeof *recs);
    free(recs);
    return worst;
}

/* --- complete ------------------------------------------------------------------- */

static int recover_token_first(const struct rotation_env *env, const char *token_id,
                               struct unlock_error *e)
{
    switch (rotation_recover(env, token_id)) {
    case RECOVERY_DONE:
        return 0;
    case RECOVERY_TOKEN_ABSENT:
        return token_failure(e, TOKEN_E_TOKEN_REMOVED, -1);
    case RECOVERY_SERVICE_DOWN:
        return ca_failure(e, CA_E_UNAVAILABLE);
    case RECOVERY_FAILED:
        break;
    }
    return journal_failure(e);
}

static void read_pin_tries(const struct rotation_env *env, const char *token_id, int *pin_tries)
{
    struct token_pin_info after;

    if (token_service_pin_info(env->svc, token_id, &after) == TOKEN_OK)
        *pin_tries = after.tries_left;
}

/* Step 5 and 6: the card is done; confirm, and say how many PIN tries it has.
 * `rotated`: the card took nextPuk (a remote-challenge rotation rotates nothing). */
static int confirm_rotation(const struct rotation_env *env, struct journal_record *rec,
                            bool rotated, int *pin_tries, bool *left_pending)
{
    if (record_confirmation(env, rec, rotated, true) < 0) {
        *left_pending = true;          /* the step's record stays: recovery confirms */
    } else {
        crash_point(env, JOURNAL_CONFIRMED, rec->token_id);
        if (deliver_confirmation(env, env->ca, rec) != RECOVERY_DONE)
            *left_pending = true;
    }
    read_pin_tries(env, rec->token_id, pin_tries);
    return 0;
}

/* Step 4: 0 when the card took nextPuk, 1 when it definitely kept puk (the
 * PIN is reset all the same), -1 with `e` when it could not be told. */
static int rotate_puk(const struct rotation_env *env, struct journal_record *rec,
                      const struct ca_puk_pair *pair, struct unlock_error *e, bool *left_pending)
{
    int tries = -1;
    token_err err;

    rec->step = JOURNAL_PUK_CHANGED;
    if (journal_write(env->journal, rec) < 0) {
        *left_pending = true;
        return journal_failure(e);
    }
    err = token_service_change_puk(env->svc, rec->token_id, pair->puk, pair->next_puk, &tries);
    if (err == TOKEN_OK) {
        crash_point(env, JOURNAL_PUK_CHANGED, rec->token_id);
        return 0;
    }
    if (puk_refused(err) || card_untouched(err)) {
        log_msg(LOG_ERR, TOKEN_FIELDS(rec->token_id),
                "unlock: PIN reset, but the card kept its PUK (%s); the CA keeps it too",
                token_err_name(err));
        if (settle(env, env->ca, rec, false, true) != RECOVERY_DONE)
            *left_pending = true;
        return 1;
    }
    *left_pending = true;
    return token_failure(e, err, tries);
}

/* Step 3 refused or cut short: confirm "unchanged" when the card surely kept
 * puk and the old PIN, else leave the record for the recovery. A resumed
 * pair's card may hold nextPuk: unless the card was asked, its rotation
 * stays pending at the CA. */
static int reset_failed(const struct rotation_env *env, struct journal_record *rec,
                        token_err err, int puk_tries, struct unlock_error *e, bool *left_pending)
{
    enum recovery_result r = RECOVERY_FAILED;

    log_msg(LOG_WARNING, TOKEN_FIELDS(rec->token_id), "unlock: PIN reset failed: %s",
            token_err_name(err));
    if (rec->resumed && card_untouched(err))
        r = leave_pending(env, rec, token_err_name(err));
    else if (puk_refused(err) || card_untouched(err))
        r = settle(env, env->ca, rec, false, false);
    if (r != RECOVERY_DONE)
        *left_pending = true;
    return token_failure(e, err, puk_tries);
}

/*
 * Step 3 refused the CA's PUK: the CA's record does not match the token.
 * That is the unlock's one wrong PUK: the pair's other PUK is not tried, the
 * CA is told (journalled, so a crash or an outage does not lose it), and the
 * session fails with UNLOCK_RECORD_MISMATCH.
 */
static int puk_mismatch(const struct rotation_env *env, struct journal_record *rec,
                        token_err err, int puk_tries, struct unlock_error *e, bool *left_pending)
{
    log_msg(LOG_ERR, TOKEN_FIELDS(rec->token_id),
            "unlock: the card refuses the CA's PUK of rotation %.*s… (%s, %d PUK tries left): "
            "the CA's record of this token is wrong", CA_ID_LOG_PREFIX, rec->rotation_id,
            token_err_name(err), puk_tries);
    rec->step = JOURNAL_PUK_REFUSED;
    rec->refused = rec->mechanism == CA_MECH_REMOTE ? CA_ANSWER_INCORRECT
                   : err == TOKEN_E_PUK_POLICY      ? CA_PUK_UNFIT
                                                    : CA_PUK_INCORRECT;
    rec->puk_tries_left = puk_tries;
    if (journal_write(env->journal, rec) < 0) {
        *left_pending = true;
        return journal_failure(e);
    }
    if (deliver_report(env, env->ca, rec) != RECOVERY_DONE)
        *left_pending = true;
    return mismatch_failure(e, puk_tries);
}

/* Steps 3 to 6. The PUK tried is the one the journal says the card holds:
 * for a fresh pair and for a resumed one alike that is puk, since a pair
 * this machine carried further has a record that step 0 finished. */
static int reset_and_rotate(const struct rotation_env *env, struct journal_record *rec,
                            const struct ca_puk_pair *pair, const char *new_pin, int *pin_tries,
                            struct unlock_error *e, bool *left_pending)
{
    int puk_tries = -1, rotated;
    token_err err;

    rec->step = JOURNAL_PIN_RESET;
    if (journal_write(env->journal, rec) < 0) {
        *left_pending = true;
        return journal_failure(e);
    }
    err = token_service_unblock_pin(env->svc, rec->token_id, pair->puk, new_pin, &puk_tries);
    if (record_mismatch(err))
        return puk_mismatch(env, rec, err, puk_tries, e, left_pending);
    if (err != TOKEN_OK)
        return reset_failed(env, rec, err, puk_tries, e, left_pending);
    crash_point(env, JOURNAL_PIN_RESET, rec->token_id);
    log_msg(LOG_NOTICE, TOKEN_FIELDS(rec->token_id), "unlock: PIN reset (rotation %.*s…)",
            CA_ID_LOG_PREFIX, rec->rotation_id);
    rotated = rotate_puk(env, rec, pair, e, left_pending);
    if (rotated < 0)
        return -1;
    if (rotated == 0)
        return confirm_rotation(env, rec, true, pin_tries, left_pending);
    read_pin_tries(env, rec->token_id, pin_tries);
    return 0;
}

/* --- the challenge-response (remote-challenge) ------------------------------------ */

/* Digits from the CSPRNG, as long as the token's PIN policy lets TEMP_PIN_LEN be. */
static bool make_temporary_pin(const struct token_pin_info *policy, char out[TEMP_PIN_MAX + 1])
{
    size_t len = TEMP_PIN_LEN;

    if (len < policy->min_len)
        len = policy->min_len;
    if (policy->max_len && len > policy->max_len)
        len = policy->max_len;
    if (len > TEMP_PIN_MAX)
        return false;
    for (size_t i = 0; i < len;) {
        unsigned char b;

        if (RAND_bytes(&b, 1) != 1)
            return false;
        if (b < DIGIT_BYTE_LIMIT)
            out[i++] = (char)('0' + b % DECIMAL);
    }
    out[len] = '\0';
    return true;
}

static void wipe_temporary_pin(char (*pin)[TEMP_PIN_MAX + 1])
{
    OPENSSL_cleanse(*pin, sizeof *pin);
}

/* Nothing changed that the CA must know of: "unchanged", the PIN not set,
 * so the request stays authorised for another `complete`. */
static void give_up_remote(const struct rotation_env *env, struct journal_record *rec,
                           bool *left_pending)
{
    if (settle(env, env->ca, rec, false, false) != RECOVERY_DONE)
        *left_pending = true;
}

_Static_assert(CA_ANSWER_MAX <= TOKEN_UNBLOCK_ANSWER_MAX, "the CA's answer fits the token's");

/* The relay of the token's challenge to the CA, called while the token is
 * held; its deadline is the CA client's (ca-timeout, the whole exchange). */
struct answer_relay {
    const struct rotation_env *env;
    struct journal_record *rec;
    const char *temp;
    struct ca_refusal *refusal;
    ca_err ca;                   /* what the CA's answer came to */
    bool journal_failed;         /* the answer came, its step could not be recorded */
};

/* The CA's answer to the token's challenge, setting the temporary PIN; the
 * step is made durable before the token sees it. */
static token_err relay_answer(void *userdata, const uint8_t *challenge, size_t len,
                              uint8_t *answer, size_t *answer_len)
{
    struct answer_relay *r = userdata;

    r->ca = ca_answer(r->env->ca, r->rec->rotation_id, challenge, len, r->temp, answer,
                      answer_len, r->refusal);
    if (r->ca != CA_OK)
        return TOKEN_E_RELAY_FAILED;
    r->rec->step = JOURNAL_PIN_TEMPORARY;
    if (journal_write(r->env->journal, r->rec) < 0) {
        r->journal_failed = true;
        OPENSSL_cleanse(answer, *answer_len);
        return TOKEN_E_RELAY_FAILED;
    }
    return TOKEN_OK;
}

/* The relay gave up: the CA did not answer (the token was asked nothing
 * that costs a try), or its answer's step could not be recorded. */
static int relay_failure(const struct rotation_env *env, struct journal_record *rec,
                         const struct answer_relay *relay, struct unlock_error *e,
                         bool *left_pending)
{
    if (relay->journal_failed) {
        *left_pending = true;
        return journal_failure(e);
    }
    give_up_remote(env, rec, left_pending);
    return ca_failure(e, relay->ca);
}

/*
 * One hold of the token from its challenge to the CA's answer (a wrong one
 * costs an admin-PIN try, so the token layer's guard keeps the last); then
 * the temporary PIN the answer set is changed to the user's new one, and the
 * CA is told.
 */
static int remote_unblock(const struct rotation_env *env, struct journal_record *rec,
                          const struct token_pin_info *policy, const char *new_pin,
                          int *pin_tries, struct unlock_error *e, bool *left_pending)
{
    SCOPED(wipe_temporary_pin) char temp[TEMP_PIN_MAX + 1] = "";
    struct answer_relay relay = { .env = env, .rec = rec, .temp = temp, .refusal = &e->refusal,
                                  .ca = CA_OK };
    struct token_unblock_relay r = { .challenge_len = REMOTE_CHALLENGE_LEN,
                                     .answer = relay_answer, .userdata = &relay };
    int admin_tries = -1, tries = -1;
    token_err err;

    if (!make_temporary_pin(policy, temp)) {
        give_up_remote(env, rec, left_pending);
        return token_failure(e, TOKEN_E_INTERNAL, -1);
    }
    err = token_service_unblock_remote(env->svc, rec->token_id, &r, &admin_tries);
    if (err == TOKEN_E_RELAY_FAILED)
        return relay_failure(env, rec, &relay, e, left_pending);
    if (record_mismatch(err))
        return puk_mismatch(env, rec, err, admin_tries, e, left_pending);
    if (err != TOKEN_OK) {
        log_msg(LOG_WARNING, TOKEN_FIELDS(rec->token_id), "unlock: remote unblock failed: %s",
                token_err_name(err));
        give_up_remote(env, rec, left_pending);
        return token_failure(e, err, admin_tries);
    }
    crash_point(env, JOURNAL_PIN_TEMPORARY, rec->token_id);
    err = token_service_change_pin(env->svc, rec->token_id, temp, new_pin, 0, &tries);
    if (err != TOKEN_OK) {
        log_msg(LOG_ERR, TOKEN_FIELDS(rec->token_id),
                "unlock: the temporary PIN could not be changed (%s); the request stays "
                "authorised", token_err_name(err));
        give_up_remote(env, rec, left_pending);
        return token_failure(e, err, tries);
    }
    log_msg(LOG_NOTICE, TOKEN_FIELDS(rec->token_id),
            "unlock: PIN set by the CA's answer (rotation %.*s…)", CA_ID_LOG_PREFIX,
            rec->rotation_id);
    return confirm_rotation(env, rec, false, pin_tries, left_pending);
}

/* --- complete: the start ----------------------------------------------------------- */

struct ca_offer rotation_offer_of(const struct token_snapshot *s)
{
    struct ca_offer offer = { .interface = s->edge, .mechanisms = 0 };

    if (s->caps & TOKEN_CAP_UNLOCK_PUK)
        offer.mechanisms |= CA_MECH_BIT(CA_MECH_PUK);
    if (s->caps & TOKEN_CAP_UNLOCK_ADMIN_PIN)
        offer.mechanisms |= CA_MECH_BIT(CA_MECH_ADMIN_PIN);
    if (s->caps & TOKEN_CAP_UNLOCK_REMOTE)
        offer.mechanisms |= CA_MECH_BIT(CA_MECH_REMOTE);
    return offer;
}

/* The token's offer as it is now; 0, or -1 with `e`. */
static int offer_now(const struct rotation_env *env, const char *token_id, struct ca_offer *out,
                     struct unlock_error *e)
{
    struct token_snapshot *s = NULL;
    token_err err = token_service_get(env->svc, token_id, &s);

    if (err != TOKEN_OK)
        return token_failure(e, err, -1);
    *out = rotation_offer_of(s);
    token_snapshot_unref(s);   /* `edge` is static */
    return out->mechanisms ? 0 : token_failure(e, TOKEN_E_NOT_SUPPORTED, -1);
}

int rotation_complete(const struct rotation_env *env, const char *token_id,
                      const char *request_id, const char *new_pin, int *pin_tries,
                      struct unlock_error *e, bool *left_pending)
{
    SCOPED_PAIR pair = { 0 };
    struct token_pin_info before;
    struct journal_record rec;
    struct ca_offer offer;
    token_err terr;
    ca_err cerr;

    *left_pending = false;
    *pin_tries = -1;
    *e = (struct unlock_error){ .refusal = { .attempts_left = -1 } };
    if (recover_token_first(env, token_id, e) < 0)
        return -1;
    terr = token_service_pin_info(env->svc, token_id, &before);
    if (terr != TOKEN_OK)
        return token_failure(e, terr, -1);
    if (offer_now(env, token_id, &offer, e) < 0)
        return -1;
    cerr = ca_authorize(env->ca, request_id, &offer, &pair, &e->refusal);
    if (cerr != CA_OK)
        return ca_failure(e, cerr);
    rec = (struct journal_record){ .step = JOURNAL_AUTHORIZED, .mechanism = pair.mechanism,
                                   .resumed = pair.resumed,
                                   .pin_blocked_before = before.blocked };
    snprintf(rec.token_id, sizeof rec.token_id, "%s", token_id);
    snprintf(rec.ca_url, sizeof rec.ca_url, "%s", ca_client_base_url(env->ca));
    snprintf(rec.request_id, sizeof rec.request_id, "%s", request_id);
    snprintf(rec.rotation_id, sizeof rec.rotation_id, "%s", pair.rotation_id);
    if (journal_write(env->journal, &rec) < 0)
        return journal_failure(e);
    crash_point(env, JOURNAL_AUTHORIZED, token_id);
    if (pair.mechanism == CA_MECH_REMOTE)
        return remote_unblock(env, &rec, &before, new_pin, pin_tries, e, left_pending);
    return reset_and_rotate(env, &rec, &pair, new_pin, pin_tries, e, left_pending);
}
