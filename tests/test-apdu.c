/* SPDX-License-Identifier: MIT */
/*
 * Tests for token/pcsc/apdu.c. A scripted card stands in for the transport: each
 * step names the command it expects and the response it gives, so the framing
 * (GET RESPONSE, 6Cxx, command chaining) is checked byte for byte. The same
 * code runs against pcscd and the virtual token in test-service.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "tests/tap.h"
#include "token/pcsc/apdu.h"

#define MAX_STEPS 400

struct step {
    uint8_t cmd[300];
    size_t cmd_len;
    uint8_t rsp[APDU_RESPONSE_BUF];
    size_t rsp_len;
    token_err fail;     /* the transport fails instead of answering */
};

struct script {
    struct step steps[MAX_STEPS];
    size_t n, at;
    bool mismatch;
    bool loop_last;     /* repeat the last step forever */
};

static struct script sc;

static token_err scripted_transmit(void *ctx, const uint8_t *cmd, size_t cmd_len, uint8_t *rsp,
                                   size_t *rsp_len)
{
    struct step *s;

    (void)ctx;
    if (sc.at >= sc.n) {
        if (!sc.loop_last || sc.n == 0) {
            sc.mismatch = true;
            return TOKEN_E_TOKEN_REMOVED;
        }
        sc.at = sc.n - 1;
    }
    s = &sc.steps[sc.at++];
    if (s->cmd_len != cmd_len || memcmp(s->cmd, cmd, cmd_len) != 0)
        sc.mismatch = true;
    if (s->fail)
        return s->fail;
    memcpy(rsp, s->rsp, s->rsp_len);
    *rsp_len = s->rsp_len;
    return TOKEN_OK;
}

static const struct apdu_transport transport = {scripted_transmit, NULL};

static void script_reset(void)
{
    memset(&sc, 0, sizeof(sc));
}

static struct step *expect(const uint8_t *cmd, size_t cmd_len)
{
    struct step *s = &sc.steps[sc.n++];

    memcpy(s->cmd, cmd, cmd_len);
    s->cmd_len = cmd_len;
    return s;
}

static void answer(struct step *s, const uint8_t *data, size_t len, uint16_t sw)
{
    if (len)
        memcpy(s->rsp, data, len);
    s->rsp[len] = (uint8_t)(sw >> 8);
    s->rsp[len + 1] = (uint8_t)sw;
    s->rsp_len = len + 2;
}

static const uint8_t get_response_00[] = {0x00, 0xC0, 0x00, 0x00, 0x00};

static void test_plain_exchange(void)
{
    static const uint8_t aid[] = {0xA0, 0x00, 0x00, 0x03, 0x08};
    static const uint8_t wire[] = {0x00, 0xA4, 0x04, 0x00, 0x05, 0xA0, 0x00, 0x00, 0x03, 0x08, 0x00};
    struct apdu cmd = {0x00, 0xA4, 0x04, 0x00, aid, sizeof(aid), APDU_LE_ANY};
    struct apdu_response rsp;

    script_reset();
    answer(expect(wire, sizeof(wire)), (const uint8_t *)"\x61\x00", 2, SW_OK);
    TAP_EQ_INT(apdu_transmit(&transport, &cmd, &rsp), TOKEN_OK, "SELECT goes through");
    tap_ok(!sc.mismatch, "SELECT is encoded as a case 4 short APDU with Le=00");
    TAP_EQ_INT(rsp.sw, SW_OK, "status word 9000");
    TAP_EQ_INT(rsp.len, 2, "response data without the status word");
    apdu_response_clear(&rsp);
}

static void test_get_response_chain(void)
{
    static const uint8_t wire[] = {0x00, 0xCB, 0x3F, 0xFF, 0x00};
    struct apdu cmd = {0x00, 0xCB, 0x3F, 0xFF, NULL, 0, APDU_LE_ANY};
    struct apdu_response rsp;
    uint8_t chunk[256];
    uint8_t gr_last[] = {0x00, 0xC0, 0x00, 0x00, 0x2C};
    bool pattern_ok = true;
    size_t i;

    script_reset();
    for (i = 0; i < sizeof(chunk); i++)
        chunk[i] = (uint8_t)i;
    answer(expect(wire, sizeof(wire)), chunk, 256, 0x6100);
    answer(expect(get_response_00, sizeof(get_response_00)), chunk, 256, 0x612C);
    answer(expect(gr_last, sizeof(gr_last)), chunk, 0x2C, SW_OK);
    TAP_EQ_INT(apdu_transmit(&transport, &cmd, &rsp), TOKEN_OK, "61xx chain followed");
    tap_ok(!sc.mismatch, "GET RESPONSE asks for exactly what 61xx announced");
    TAP_EQ_INT(rsp.len, 256 + 256 + 0x2C, "all pieces joined");
    for (i = 0; i < rsp.len && pattern_ok; i++)
        pattern_ok = rsp.data[i] == (uint8_t)(i % 256);
    tap_ok(pattern_ok, "pieces joined in order");
    apdu_response_clear(&rsp);
}

static void test_wrong_le_resend(void)
{
    static const uint8_t first[] = {0x00, 0xFD, 0x00, 0x00, 0x00};
    static const uint8_t again[] = {0x00, 0xFD, 0x00, 0x00, 0x03};
    struct apdu cmd = {0x00, 0xFD, 0x00, 0x00, NULL, 0, APDU_LE_ANY};
    struct apdu_response rsp;

    script_reset();
    answer(expect(first, sizeof(first)), NULL, 0, 0x6C03);
    answer(expect(again, sizeof(again)), (const uint8_t *)"\x05\x07\x00", 3, SW_OK);
    TAP_EQ_INT(apdu_transmit(&transport, &cmd, &rsp), TOKEN_OK, "6Cxx re-sent");
    tap_ok(!sc.mismatch && rsp.len == 3 && rsp.sw == SW_OK, "re-sent with Le=03 and answered");
    apdu_response_clear(&rsp);
}

static void test_command_chaining(void)
{
    uint8_t data[600], wire[300];
    struct apdu cmd = {0x00, 0xDB, 0x3F, 0xFF, data, sizeof(data), 0};
    struct apdu_response rsp;
    size_t i, off;

    script_reset();
    for (i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7);
    for (off = 0; off < sizeof(data); off += 255) {
        size_t n = sizeof(data) - off > 255 ? 255 : sizeof(data) - off;
        bool last = off + n == sizeof(data);

        wire[0] = last ? 0x00 : 0x10;
        wire[1] = 0xDB;
        wire[2] = 0x3F;
        wire[3] = 0xFF;
        wire[4] = (uint8_t)n;
        memcpy(wire + 5, data + off, n);
        answer(expect(wire, 5 + n), NULL, 0, SW_OK);
    }
    TAP_EQ_INT(apdu_transmit(&transport, &cmd, &rsp), TOKEN_OK, "600 bytes of data sent");
    tap_ok(!sc.mismatch && sc.at == 3, "in three APDUs, chaining bit on all but the last");
    apdu_response_clear(&rsp);

    script_reset();
    memcpy(wire, (const uint8_t[]){0x10, 0xDB, 0x3F, 0xFF, 0xFF}, 5);
    memcpy(wire + 5, data, 255);
    answer(expect(wire, 260), NULL, 0, SW_SECURITY_STATUS);
    TAP_EQ_INT(apdu_transmit(&transport, &cmd, &rsp), TOKEN_OK, "refused chunk is an answer");
    TAP_EQ_INT(rsp.sw, SW_SECURITY_STATUS, "the card's refusal is reported as its status word");
    TAP_EQ_INT(sc.at, 1, "nothing more is sent after a refused chunk");
    apdu_response_clear(&rsp);
}

static void test_faults(void)
{
    static const uint8_t wire[] = {0x00, 0xCB, 0x3F, 0xFF, 0x00};
    struct apdu cmd = {0x00, 0xCB, 0x3F, 0xFF, NULL, 0, APDU_LE_ANY};
    struct apdu_response rsp;
    struct step *s;

    script_reset();
    s = expect(wire, sizeof(wire));
    s->fail = TOKEN_E_TOKEN_REMOVED;
    TAP_EQ_INT(apdu_transmit(&transport, &cmd, &rsp), TOKEN_E_TOKEN_REMOVED,
               "transport error passes through");
    tap_ok(rsp.data == NULL && rsp.len == 0, "no response data after an error");

    script_reset();
    answer(expect(wire, sizeof(wire)), NULL, 0, 0x6110);
    s = expect(get_response_00, sizeof(get_response_00));
    s->cmd[4] = 0x10;
    s->fail = TOKEN_E_TOKEN_REMOVED;
    TAP_EQ_INT(apdu_transmit(&transport, &cmd, &rsp), TOKEN_E_TOKEN_REMOVED,
               "card pulled during GET RESPONSE");

    script_reset();
    s = expect(wire, sizeof(wire));
    s->rsp[0] = 0x90;
    s->rsp_len = 1;
    TAP_EQ_INT(apdu_transmit(&transport, &cmd, &rsp), TOKEN_E_CARD_ERROR,
               "a one-byte response is a card error");

    script_reset();
    answer(expect(wire, sizeof(wire)), (const uint8_t *)"x", 1, 0x6101);
    answer(expect((const uint8_t[]){0x00, 0xC0, 0x00, 0x00, 0x01}, 5), (const uint8_t *)"x", 1,
           0x6101);
    sc.loop_last = true;
    TAP_EQ_INT(apdu_transmit(&transport, &cmd, &rsp), TOKEN_E_CARD_ERROR,
               "a card that answers 61xx forever is cut off");
    tap_ok(sc.at < MAX_STEPS, "and cut off after a bounded number of exchanges");

    TAP_EQ_INT(apdu_transmit(&transport, NULL, &rsp), TOKEN_E_INVALID_ARG, "NULL command");
    cmd.le = 1000;
    TAP_EQ_INT(apdu_transmit(&transport, &cmd, &rsp), TOKEN_E_INVALID_ARG,
               "Le beyond a short APDU is refused");
}

static void test_tries_left(void)
{
    TAP_EQ_INT(apdu_sw_tries_left(0x63C2), 2, "63C2 is two tries");
    TAP_EQ_INT(apdu_sw_tries_left(0x63C0), 0, "63C0 is none");
    TAP_EQ_INT(apdu_sw_tries_left(0x6300), -1, "6300 says nothing about tries");
    TAP_EQ_INT(apdu_sw_tries_left(SW_OK), -1, "9000 says nothing about tries");
}

int main(void)
{
    test_plain_exchange();
    test_get_response_chain();
    test_wrong_le_resend();
    test_command_chaining();
    test_faults();
    test_tries_left();
    return tap_done();
}
