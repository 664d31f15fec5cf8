/* SPDX-License-Identifier: MIT */
/*
 * tests/vtoken/apdu.c — command APDU parsing, command chaining and response
 * chunking with 61xx / GET RESPONSE, as a T=1 contact card does it.
 */
#include "tests/vtoken/apdu.h"

#include <string.h>

#include "tests/vtoken/iso7816.h"

#define APDU_HEADER_LEN        4
enum { APDU_OFF_CLA, APDU_OFF_INS, APDU_OFF_P1, APDU_OFF_P2 };
#define APDU_SHORT_NE_MAX      256
#define APDU_EXTENDED_NE_MAX   65536
/* A zero where a short Lc/Le would be announces extended length fields. */
#define APDU_EXTENDED_MARKER   0x00
#define APDU_EXTENDED_LEN_BYTES 2
#define APDU_SW_LEN            2
/* vpcd frames carry at most 65535 bytes, SW included. */
#define APDU_RESPONSE_CHUNK_MAX (65535 - APDU_SW_LEN)
#define APDU_CHAIN_MAX         65536
#define BYTE_BITS              8

static size_t be16(const uint8_t *p)
{
    return (size_t)p[0] << BYTE_BITS | p[1];
}

static int parse_short_body(const uint8_t *body, size_t n, struct apdu_cmd *cmd)
{
    size_t lc = body[0];

    if (n == 1) {                                   /* case 2S */
        cmd->has_le = true;
        cmd->ne = lc ? lc : APDU_SHORT_NE_MAX;
        return 0;
    }
    if (n != 1 + lc && n != 2 + lc)
        return -1;
    cmd->has_data = true;
    cmd->lc = lc;
    cmd->data = body + 1;
    if (n == 2 + lc) {                              /* case 4S */
        cmd->has_le = true;
        cmd->ne = body[n - 1] ? body[n - 1] : APDU_SHORT_NE_MAX;
    }
    return 0;
}

static int parse_extended_body(const uint8_t *body, size_t n, struct apdu_cmd *cmd)
{
    const size_t fields = 1 + APDU_EXTENDED_LEN_BYTES;
    size_t lc;

    cmd->extended = true;
    if (n < fields)
        return -1;
    if (n == fields) {                              /* case 2E */
        size_t le = be16(body + 1);

        cmd->has_le = true;
        cmd->ne = le ? le : APDU_EXTENDED_NE_MAX;
        return 0;
    }
    lc = be16(body + 1);
    if (lc == 0 || (n != fields + lc && n != fields + lc + APDU_EXTENDED_LEN_BYTES))
        return -1;
    cmd->has_data = true;
    cmd->lc = lc;
    cmd->data = body + fields;
    if (n == fields + lc + APDU_EXTENDED_LEN_BYTES) {   /* case 4E */
        size_t le = be16(body + n - APDU_EXTENDED_LEN_BYTES);

        cmd->has_le = true;
        cmd->ne = le ? le : APDU_EXTENDED_NE_MAX;
    }
    return 0;
}

int vt_apdu_parse(const uint8_t *raw, size_t len, struct apdu_cmd *cmd)
{
    const uint8_t *body = raw + APDU_HEADER_LEN;
    size_t n;
    int rc;

    memset(cmd, 0, sizeof *cmd);
    if (len < APDU_HEADER_LEN)
        return -1;
    cmd->cla = raw[APDU_OFF_CLA];
    cmd->ins = raw[APDU_OFF_INS];
    cmd->p1 = raw[APDU_OFF_P1];
    cmd->p2 = raw[APDU_OFF_P2];
    n = len - APDU_HEADER_LEN;
    if (n == 0)                                     /* case 1 */
        rc = 0;
    else if (body[0] != APDU_EXTENDED_MARKER || n == 1)
        rc = parse_short_body(body, n, cmd);
    else
        rc = parse_extended_body(body, n, cmd);
    /* Le absent: a T=1 card answers with what it has rather than nothing,
     * which is what clients that forget Le on GET DATA rely on. */
    if (rc == 0 && !cmd->has_le)
        cmd->ne = cmd->extended ? APDU_EXTENDED_NE_MAX : APDU_SHORT_NE_MAX;
    return rc;
}

void vt_apdu_link_reset(struct apdu_link *link)
{
    vt_buf_clear(&link->pending);
    link->pending_off = 0;
    vt_buf_clear(&link->chain);
    link->chaining = false;
}

void vt_apdu_link_free(struct apdu_link *link)
{
    vt_buf_free(&link->pending);
    vt_buf_free(&link->chain);
    link->pending_off = 0;
    link->chaining = false;
}

static int append_sw(struct vt_buf *resp, uint16_t sw)
{
    uint8_t bytes[APDU_SW_LEN] = { (uint8_t)(sw >> BYTE_BITS), (uint8_t)(sw & SW_LOW_BYTE_MASK) };

    return vt_buf_append(resp, bytes, sizeof bytes);
}

/* Hands out up to `ne` bytes of the pending answer: 9000 when that was the
 * rest, else 61xx saying how much is left (00 = 256 or more). */
static uint16_t emit_pending(struct apdu_link *link, size_t ne, struct vt_buf *resp, int *oom)
{
    size_t remaining = link->pending.len - link->pending_off;
    size_t n = remaining;

    if (n > ne)
        n = ne;
    if (n > APDU_RESPONSE_CHUNK_MAX)
        n = APDU_RESPONSE_CHUNK_MAX;
    if (vt_buf_append(resp, link->pending.data + link->pending_off, n) < 0) {
        *oom = 1;
        return SW_MEMORY_FAILURE;
    }
    link->pending_off += n;
    remaining -= n;
    if (remaining == 0) {
        vt_buf_clear(&link->pending);
        link->pending_off = 0;
        return SW_OK;
    }
    return (uint16_t)(SW_BYTES_REMAINING |
                      (remaining >= APDU_SHORT_NE_MAX ? 0 : remaining));
}

static uint16_t check_class(uint8_t cla)
{
    if (cla & CLA_PROPRIETARY)
        return SW_CLA_NOT_SUPPORTED;
    if (cla & CLA_SECURE_MESSAGING)
        return SW_SECURE_MESSAGING_UNSUPPORTED;
    if (cla & CLA_LOGICAL_CHANNEL)
        return SW_LOGICAL_CHANNEL_UNSUPPORTED;
    return SW_OK;
}

static bool chain_matches(const struct apdu_link *link, const struct apdu_cmd *cmd)
{
    return link->chain_ins == cmd->ins && link->chain_p1 == cmd->p1 &&
           link->chain_p2 == cmd->p2;
}

/* Collects one link of a chain (CLA bit 0x10); the command runs when the
 * last link, without the bit, arrives. */
static uint16_t collect_chain_link(struct apdu_link *link, const struct apdu_cmd *cmd)
{
    if (link->chaining && !chain_matches(link, cmd)) {
        vt_apdu_link_reset(link);
        return SW_LAST_COMMAND_EXPECTED;
    }
    if (!link->chaining) {
        link->chaining = true;
        link->chain_ins = cmd->ins;
        link->chain_p1 = cmd->p1;
        link->chain_p2 = cmd->p2;
    }
    if (link->chain.len + cmd->lc > APDU_CHAIN_MAX) {
        vt_apdu_link_reset(link);
        return SW_WRONG_LENGTH;
    }
    if (vt_buf_append(&link->chain, cmd->data, cmd->lc) < 0) {
        vt_apdu_link_reset(link);
        return SW_MEMORY_FAILURE;
    }
    return SW_OK;
}

/* Runs a complete command, joining it to its chain first if there is one. */
static uint16_t run_command(struct apdu_link *link, struct apdu_cmd *cmd,
                            apdu_handler_fn handler, void *app, struct vt_buf *out)
{
    uint16_t sw;

    if (!link->chaining)
        return handler(app, cmd, out);
    if (!chain_matches(link, cmd)) {
        vt_apdu_link_reset(link);
        return SW_LAST_COMMAND_EXPECTED;
    }
    sw = collect_chain_link(link, cmd);
    if (sw != SW_OK)
        return sw;
    cmd->data = link->chain.data;
    cmd->lc = link->chain.len;
    cmd->has_data = cmd->lc > 0;
    sw = handler(app, cmd, out);
    vt_buf_clear(&link->chain);
    link->chaining = false;
    return sw;
}

static uint16_t dispatch(struct apdu_link *link, struct apdu_cmd *cmd, apdu_handler_fn handler,
                         void *app, struct vt_buf *resp, int *oom)
{
    VT_AUTO_BUF out = {0};
    uint16_t sw = check_class(cmd->cla);

    if (sw != SW_OK)
        return sw;
    if (cmd->ins == INS_GET_RESPONSE && !(cmd->cla & CLA_CHAINING)) {
        if (link->pending.len == 0)
            return SW_CONDITIONS_NOT_SATISFIED;
        return emit_pending(link, cmd->ne, resp, oom);
    }
    /* Any other command forfeits an answer the client did not fetch. */
    vt_buf_clear(&link->pending);
    link->pending_off = 0;
    if (cmd->cla & CLA_CHAINING)
        return collect_chain_link(link, cmd);
    sw = run_command(link, cmd, handler, app, &out);
    if (sw != SW_OK || out.len == 0)
        return sw;
    if (vt_buf_set(&link->pending, out.data, out.len) < 0) {
        *oom = 1;
        return SW_MEMORY_FAILURE;
    }
    return emit_pending(link, cmd->ne, resp, oom);
}

int vt_apdu_link_process(struct apdu_link *link, const uint8_t *raw, size_t len,
                      apdu_handler_fn handler, void *app, struct vt_buf *resp,
                      struct apdu_trace *trace)
{
    struct apdu_cmd cmd;
    int oom = 0;
    uint16_t sw;

    vt_buf_clear(resp);
    memset(trace, 0, sizeof *trace);
    if (vt_apdu_parse(raw, len, &cmd) < 0) {
        sw = SW_WRONG_LENGTH;
    } else {
        sw = dispatch(link, &cmd, handler, app, resp, &oom);
    }
    trace->cla = cmd.cla;
    trace->ins = cmd.ins;
    trace->p1 = cmd.p1;
    trace->p2 = cmd.p2;
    trace->lc = cmd.lc;
    trace->resp_len = resp->len;
    trace->sw = sw;
    if (oom)
        vt_buf_clear(resp);
    if (append_sw(resp, sw) < 0)
        return -1;
    return 0;
}
