/* SPDX-License-Identifier: MIT */
/*
 * tests/vtoken/apdu.h — the card's transport layer between vpcd and the
 * application: parsing short and extended command APDUs (ISO 7816-3 cases
 * 1-4), command chaining, and cutting long answers to the client's Le with
 * 61xx / GET RESPONSE. The application sees only complete commands and
 * returns complete answers.
 */
#ifndef UKEYD_VTOKEN_APDU_H
#define UKEYD_VTOKEN_APDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/vtoken/buf.h"

struct apdu_cmd {
    uint8_t cla, ins, p1, p2;
    const uint8_t *data;
    size_t lc;           /* 0 when the command has no data field */
    size_t ne;           /* bytes the client accepts (Le=00 → 256 or 65536) */
    bool has_data;
    bool has_le;
    bool extended;
};

/* 0, or -1 when the bytes are no well-formed APDU (answer 6700). */
int vt_apdu_parse(const uint8_t *raw, size_t len, struct apdu_cmd *cmd);

/* The application: fills `out` with the answer's data and returns the SW. */
typedef uint16_t (*apdu_handler_fn)(void *app, const struct apdu_cmd *cmd, struct vt_buf *out);

/* Per-connection transport state; zero-initialise, reset on power cycle. */
struct apdu_link {
    struct vt_buf pending;     /* answer bytes not yet fetched by GET RESPONSE */
    size_t pending_off;
    struct vt_buf chain;       /* data of a chained command so far */
    bool chaining;
    uint8_t chain_ins, chain_p1, chain_p2;
};

/* What one APDU exchange was, for the log (never any data bytes). */
struct apdu_trace {
    uint8_t cla, ins, p1, p2;
    size_t lc;
    size_t resp_len;
    uint16_t sw;
};

/* Handles one raw command APDU; `resp` receives response data + SW1 SW2.
 * -1 only when memory runs out building the response. */
int vt_apdu_link_process(struct apdu_link *link, const uint8_t *raw, size_t len,
                      apdu_handler_fn handler, void *app, struct vt_buf *resp,
                      struct apdu_trace *trace);

void vt_apdu_link_reset(struct apdu_link *link);
void vt_apdu_link_free(struct apdu_link *link);

#endif
