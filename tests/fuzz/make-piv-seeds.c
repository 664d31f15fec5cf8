/* SPDX-License-Identifier: MIT */
/*
 * make-piv-seeds — seeds for fuzz-piv: runs the fuzz target's flow
 * (tests/fuzz/piv-flow.h) against the virtual token's card code in-process
 * and writes what the card answered, in fuzz-piv's input format (the ATR,
 * then one frame per command APDU, each a 2-byte big-endian length and the
 * bytes). The virtual token is a separate implementation of the card side,
 * so the seeds are what a real PIV card says, certificates and all.
 *
 *     make-piv-seeds STATEFILE OUTFILE
 *
 * The state file is copied first: the flow changes the PIN and the PUK.
 */
#include <errno.h>
#include <unistd.h>

#include "tests/fuzz/piv-flow.h"
#include "tests/vtoken/piv.h"

#define FRAME_LEN_BYTES 2
#define BYTE_BITS       8
#define BYTE_MASK       0xFFu

struct recorder {
    struct piv_app app;
    struct apdu_link link;
    FILE *out;
    bool failed;
};

static void write_frame(struct recorder *rec, const uint8_t *data, size_t len)
{
    uint8_t prefix[FRAME_LEN_BYTES] = { (uint8_t)(len >> BYTE_BITS), (uint8_t)(len & BYTE_MASK) };

    if (fwrite(prefix, 1, sizeof prefix, rec->out) != sizeof prefix ||
        fwrite(data, 1, len, rec->out) != len)
        rec->failed = true;
}

static token_err record_transmit(void *ctx, const uint8_t *cmd, size_t cmd_len, uint8_t *rsp,
                                 size_t *rsp_len)
{
    struct recorder *rec = ctx;
    struct vt_buf answer = { 0 };
    struct apdu_trace trace;
    token_err err = TOKEN_OK;

    if (vt_apdu_link_process(&rec->link, cmd, cmd_len, vt_piv_handle, &rec->app, &answer,
                             &trace) < 0 || answer.len > *rsp_len) {
        rec->failed = true;
        err = TOKEN_E_CARD_ERROR;
    } else {
        write_frame(rec, answer.data, answer.len);
        memcpy(rsp, answer.data, answer.len);
        *rsp_len = answer.len;
    }
    vt_buf_free(&answer);
    return err;
}

/* A private copy of the state file for the card to write to. */
static int copy_state(const char *from, char *to)
{
    struct vt_state st = { 0 };
    int fd = mkstemp(to);
    int rc;

    if (fd < 0)
        return -1;
    close(fd);
    rc = vt_state_load(from, &st) < 0 || vt_state_save(to, &st) < 0 ? -1 : 0;
    vt_state_free(&st);
    return rc;
}

/* The management key's holder, with the key of the token's state file. */
static token_err state_respond(void *userdata, uint8_t alg, const uint8_t *challenge, size_t len,
                               uint8_t *response)
{
    const struct vt_state *st = userdata;

    (void)len;
    return vt_mgmt_encrypt_block(alg, st->mgmt_key, challenge, response) < 0 ? TOKEN_E_CARD_ERROR
                                                                             : TOKEN_OK;
}

static int record(struct recorder *rec, const char *state_path)
{
    static struct vt_state state;
    const struct apdu_transport t = { record_transmit, rec };
    struct token_mgmt_relay relay = { 0, state_respond, &state };
    uint8_t atr[PIV_ATR_MAX];
    size_t atr_len;

    if (vt_state_load(state_path, &state) < 0)
        return -1;
    rec->app.state = &state;
    rec->app.state_path = state_path;
    atr_len = vt_piv_build_atr(atr);
    write_frame(rec, atr, atr_len);
    relay.algorithm = state.mgmt_alg;
    piv_flow(&t, atr, atr_len, &relay);
    vt_apdu_link_free(&rec->link);
    vt_state_free(&state);
    return rec->failed ? -1 : 0;
}

int main(int argc, char **argv)
{
    char copy[] = "/tmp/make-piv-seeds.XXXXXX";
    struct recorder rec = { 0 };
    int rc;

    if (argc != 3) {
        fprintf(stderr, "usage: make-piv-seeds STATEFILE OUTFILE\n");
        return 2;
    }
    fuzz_setup_once();
    if (copy_state(argv[1], copy) < 0) {
        fprintf(stderr, "make-piv-seeds: cannot copy %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    rec.out = fopen(argv[2], "wb");
    if (!rec.out) {
        fprintf(stderr, "make-piv-seeds: %s: %s\n", argv[2], strerror(errno));
        unlink(copy);
        return 1;
    }
    rc = record(&rec, copy);
    if (fclose(rec.out) != 0)
        rc = -1;
    unlink(copy);
    if (rc < 0)
        fprintf(stderr, "make-piv-seeds: recording failed\n");
    return rc < 0 ? 1 : 0;
}
