/* SPDX-License-Identifier: MIT */
/*
 * fuzz-piv — card answers as the PIV driver (token/piv.c over token/pcsc/apdu.c)
 * sees them: a transport replays the input as the card's responses while
 * the driver does what the token service does with a new token (select,
 * identify from the ATR, read every certificate and summarize it, PIN
 * state), then every PIN and PUK operation, then the key side of a
 * certificate write (GET METADATA and GENERATE answers to SPKI, the key
 * history).
 *
 * Input: frames of a 2-byte big-endian length and that many bytes, as vpcd
 * carries them. The first frame is the ATR; each later one answers one
 * command APDU (data, SW1, SW2). A frame shorter than a status word, or the
 * end of the input, is a card pulled out; a frame longer than the driver's
 * buffer is what PC/SC refuses to deliver.
 *
 * Properties: every command the driver sends is a well-formed short APDU;
 * what the driver reports is consistent (tests/fuzz/piv-flow.h). Seeds come
 * from make-piv-seeds, which runs the same flow against the virtual token.
 */
#include "tests/fuzz/piv-flow.h"

#define FRAME_LEN_BYTES   2
#define SW_LEN            2
#define APDU_HEADER       4

struct replay {
    struct fuzz_input in;
};

/* Length of the next frame; false at the end of the input. */
static bool next_frame(struct fuzz_input *in, size_t *len)
{
    if (in->left < FRAME_LEN_BYTES)
        return false;
    *len = (size_t)fuzz_byte(in) << 8;
    *len |= fuzz_byte(in);
    if (*len > in->left)
        *len = in->left;
    return true;
}

/* ISO 7816-3 short cases 1-4, as apdu.c must build them. */
static void check_command(const uint8_t *cmd, size_t len)
{
    size_t lc;

    FUZZ_ASSERT(len >= APDU_HEADER);
    if (len == APDU_HEADER || len == APDU_HEADER + 1)
        return;                                   /* case 1, case 2 */
    lc = cmd[APDU_HEADER];
    FUZZ_ASSERT(lc != 0);                         /* short Lc is 1..255 */
    FUZZ_ASSERT(len == APDU_HEADER + 1 + lc || len == APDU_HEADER + 1 + lc + 1);
}

static token_err replay_transmit(void *ctx, const uint8_t *cmd, size_t cmd_len, uint8_t *rsp,
                                 size_t *rsp_len)
{
    struct replay *r = ctx;
    const uint8_t *frame;
    size_t len;

    check_command(cmd, cmd_len);
    if (!next_frame(&r->in, &len))
        return TOKEN_E_TOKEN_REMOVED;
    frame = r->in.p;
    r->in.p += len;
    r->in.left -= len;
    if (len < SW_LEN)
        return TOKEN_E_TOKEN_REMOVED;
    if (len > *rsp_len)
        return TOKEN_E_CARD_ERROR;
    memcpy(rsp, frame, len);
    *rsp_len = len;
    return TOKEN_OK;
}

/* The management key's holder: any answer will do, the card's verdict is replayed. */
static token_err fixed_respond(void *userdata, uint8_t alg, const uint8_t *challenge, size_t len,
                               uint8_t *response)
{
    (void)userdata;
    (void)alg;
    memcpy(response, challenge, len);
    return TOKEN_OK;
}

static void read_atr(struct fuzz_input *in, uint8_t atr[TOKEN_ATR_MAX], size_t *atr_len)
{
    size_t len = 0;

    *atr_len = 0;
    if (!next_frame(in, &len))
        return;
    *atr_len = len < TOKEN_ATR_MAX ? len : TOKEN_ATR_MAX;
    memcpy(atr, in->p, *atr_len);
    in->p += len;
    in->left -= len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct replay r = { .in = { data, size } };
    const struct apdu_transport t = { replay_transmit, &r };
    const struct token_mgmt_relay relay = { TOKEN_MGMT_ALG_AES128, fixed_respond, NULL };
    uint8_t atr[TOKEN_ATR_MAX];
    size_t atr_len;

    fuzz_setup_once();
    read_atr(&r.in, atr, &atr_len);
    piv_flow(&t, atr, atr_len, &relay);
    return 0;
}
