/* SPDX-License-Identifier: MIT */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "token/pcsc/apdu.h"
#include "token/token.h"

#define APDU_HEADER_LEN     4
#define APDU_SW_LEN         2
#define APDU_CMD_BUF        (APDU_HEADER_LEN + 1 + APDU_SHORT_MAX_LC + 1)
/* Bounds the GET RESPONSE loop against a card that answers 61xx forever. */
#define APDU_MAX_EXCHANGES  (APDU_RESPONSE_MAX / APDU_SHORT_MAX_LE + 4)
#define US_PER_SEC          1000000LL
#define NS_PER_US           1000

static _Atomic(apdu_recorder_fn) recorder;

static uint8_t apdu_encode_le(size_t le)
{
    return le >= APDU_SHORT_MAX_LE ? 0 : (uint8_t)le;
}

/* Builds one short APDU; the buffer may hold a PIN, so callers wipe it. */
static size_t apdu_encode(uint8_t *buf, uint8_t cla, uint8_t ins, uint8_t p1, uint8_t p2,
                          const uint8_t *data, size_t lc, size_t le)
{
    size_t n = 0;

    buf[n++] = cla;
    buf[n++] = ins;
    buf[n++] = p1;
    buf[n++] = p2;
    if (lc) {
        buf[n++] = (uint8_t)lc;
        memcpy(buf + n, data, lc);
        n += lc;
    }
    if (le)
        buf[n++] = apdu_encode_le(le);
    return n;
}

struct rsp_acc {
    uint8_t *data;
    size_t len, cap;
};

static token_err rsp_append(struct rsp_acc *acc, const uint8_t *p, size_t n)
{
    if (n == 0)
        return TOKEN_OK;
    if (acc->len + n > APDU_RESPONSE_MAX)
        return TOKEN_E_CARD_ERROR;
    if (acc->len + n > acc->cap) {
        size_t cap = acc->cap ? acc->cap * 2 : 512;
        uint8_t *d;

        while (cap < acc->len + n)
            cap *= 2;
        d = malloc(cap);
        if (!d)
            return TOKEN_E_NO_MEMORY;
        if (acc->len)
            memcpy(d, acc->data, acc->len);
        if (acc->data) {
            OPENSSL_cleanse(acc->data, acc->cap);
            free(acc->data);
        }
        acc->data = d;
        acc->cap = cap;
    }
    memcpy(acc->data + acc->len, p, n);
    acc->len += n;
    return TOKEN_OK;
}

static void rsp_acc_clear(struct rsp_acc *acc)
{
    if (acc->data) {
        OPENSSL_cleanse(acc->data, acc->cap);
        free(acc->data);
    }
    memset(acc, 0, sizeof(*acc));
}

/* One raw exchange: returns data (without SW) appended to acc, and the SW. */
static token_err apdu_exchange(const struct apdu_transport *t, const uint8_t *cmd, size_t cmd_len,
                               struct rsp_acc *acc, uint16_t *sw)
{
    uint8_t rsp[APDU_RESPONSE_BUF];
    size_t rsp_len = sizeof(rsp);
    token_err err;

    err = t->transmit(t->ctx, cmd, cmd_len, rsp, &rsp_len);
    if (err)
        goto out;
    if (rsp_len < APDU_SW_LEN || rsp_len > sizeof(rsp)) {
        err = TOKEN_E_CARD_ERROR;
        goto out;
    }
    *sw = (uint16_t)(rsp[rsp_len - 2] << 8 | rsp[rsp_len - 1]);
    err = rsp_append(acc, rsp, rsp_len - APDU_SW_LEN);
out:
    OPENSSL_cleanse(rsp, sizeof(rsp));
    return err;
}

/*
 * Sends all but the last chunk of long command data with the chaining bit.
 * Stops early, with *sw set, when the card refuses a chunk.
 */
static token_err apdu_send_chained_head(const struct apdu_transport *t, const struct apdu *cmd,
                                        size_t *offset, uint16_t *sw)
{
    uint8_t buf[APDU_CMD_BUF];
    token_err err = TOKEN_OK;

    while (cmd->lc - *offset > APDU_SHORT_MAX_LC) {
        struct rsp_acc ignored = {0};
        size_t n = apdu_encode(buf, cmd->cla | ISO_CLA_CHAINING, cmd->ins, cmd->p1, cmd->p2,
                               cmd->data + *offset, APDU_SHORT_MAX_LC, 0);

        err = apdu_exchange(t, buf, n, &ignored, sw);
        rsp_acc_clear(&ignored);
        if (err || *sw != SW_OK)
            break;
        *offset += APDU_SHORT_MAX_LC;
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    return err;
}

static token_err apdu_get_remaining(const struct apdu_transport *t, uint8_t cla,
                                    struct rsp_acc *acc, uint16_t *sw)
{
    int rounds = 0;

    while ((*sw >> 8) == SW1_MORE_DATA) {
        uint8_t cmd[APDU_HEADER_LEN + 1];
        size_t le = (*sw & 0xFF) ? (*sw & 0xFF) : APDU_SHORT_MAX_LE;
        size_t n = apdu_encode(cmd, cla & ~ISO_CLA_CHAINING, ISO_INS_GET_RESPONSE, 0, 0,
                               NULL, 0, le);
        token_err err;

        if (++rounds > APDU_MAX_EXCHANGES)
            return TOKEN_E_CARD_ERROR;
        err = apdu_exchange(t, cmd, n, acc, sw);
        if (err)
            return err;
    }
    return TOKEN_OK;
}

static token_err transmit_logical(const struct apdu_transport *t, const struct apdu *cmd,
                                  struct apdu_response *rsp)
{
    uint8_t buf[APDU_CMD_BUF];
    struct rsp_acc acc = {0};
    const uint8_t *last_data;
    size_t offset = 0, n, last_lc;
    uint16_t sw = 0;
    token_err err;

    if (!t || !t->transmit || !cmd || !rsp || (cmd->lc && !cmd->data) ||
        cmd->le > APDU_SHORT_MAX_LE)
        return TOKEN_E_INVALID_ARG;
    memset(rsp, 0, sizeof(*rsp));

    sw = SW_OK;
    err = apdu_send_chained_head(t, cmd, &offset, &sw);
    if (err)
        goto out;
    if (sw != SW_OK)
        goto done;   /* the card refused part of the data: its word is the answer */
    last_lc = cmd->lc - offset;
    /* no data: NULL stays NULL (NULL + 0 is undefined behaviour in C) */
    last_data = cmd->lc ? cmd->data + offset : NULL;
    n = apdu_encode(buf, cmd->cla, cmd->ins, cmd->p1, cmd->p2, last_data, last_lc, cmd->le);
    err = apdu_exchange(t, buf, n, &acc, &sw);
    if (err)
        goto out;
    if ((sw >> 8) == SW1_WRONG_LE && cmd->le) {
        /* the card wants the exact length: ask once more with it */
        rsp_acc_clear(&acc);
        n = apdu_encode(buf, cmd->cla, cmd->ins, cmd->p1, cmd->p2, last_data, last_lc,
                        (sw & 0xFF) ? (sw & 0xFF) : APDU_SHORT_MAX_LE);
        err = apdu_exchange(t, buf, n, &acc, &sw);
        if (err)
            goto out;
    }
    err = apdu_get_remaining(t, cmd->cla, &acc, &sw);
    if (err)
        goto out;
done:
    rsp->data = acc.data;
    rsp->len = acc.len;
    rsp->sw = sw;
    acc.data = NULL;
out:
    OPENSSL_cleanse(buf, sizeof(buf));
    rsp_acc_clear(&acc);
    return err;
}

void apdu_set_recorder(apdu_recorder_fn fn)
{
    atomic_store(&recorder, fn);
}

static uint64_t us_since(const struct timespec *t0)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)((now.tv_sec - t0->tv_sec) * US_PER_SEC +
                      (now.tv_nsec - t0->tv_nsec) / NS_PER_US);
}

token_err apdu_transmit(const struct apdu_transport *t, const struct apdu *cmd,
                        struct apdu_response *rsp)
{
    apdu_recorder_fn record = atomic_load(&recorder);
    struct timespec t0;
    token_err err;

    if (!record || !cmd || !rsp)
        return transmit_logical(t, cmd, rsp);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    err = transmit_logical(t, cmd, rsp);
    record(&(struct apdu_summary){ .cla = cmd->cla, .ins = cmd->ins, .p1 = cmd->p1,
                                   .p2 = cmd->p2, .lc = cmd->lc, .le = cmd->le,
                                   .rsp_len = err ? 0 : rsp->len, .sw = err ? 0 : rsp->sw,
                                   .err = err, .duration_us = us_since(&t0) });
    return err;
}

void apdu_response_clear(struct apdu_response *rsp)
{
    if (!rsp)
        return;
    if (rsp->data) {
        OPENSSL_cleanse(rsp->data, rsp->len);
        free(rsp->data);
    }
    memset(rsp, 0, sizeof(*rsp));
}

int apdu_sw_tries_left(uint16_t sw)
{
    if ((sw >> 8) == SW1_WARNING_COUNTER && (sw & 0xF0) == SW2_COUNTER_MASK_HI)
        return sw & 0x0F;
    return -1;
}

static const struct {
    uint8_t ins;
    const char *name;
} ins_names[] = {
    { ISO_INS_SELECT, "SELECT" },
    { ISO_INS_VERIFY, "VERIFY" },
    { ISO_INS_CHANGE_REF_DATA, "CHANGE REFERENCE DATA" },
    { ISO_INS_RESET_RETRY_COUNTER, "RESET RETRY COUNTER" },
    { ISO_INS_GET_RESPONSE, "GET RESPONSE" },
    { ISO_INS_GET_DATA_ODD, "GET DATA" },
};

const char *apdu_ins_name(uint8_t ins)
{
    for (size_t i = 0; i < sizeof ins_names / sizeof ins_names[0]; i++)
        if (ins_names[i].ins == ins)
            return ins_names[i].name;
    return NULL;
}
