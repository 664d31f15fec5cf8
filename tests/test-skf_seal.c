/* SPDX-License-Identifier: MIT */
/*
 * test-skf_seal — an electronic seal told among an SKF key's files by its
 * first bytes (token/skf/seal.c): the opening of a GB/T 38540 or GM/T 0031
 * SESeal is one, a certificate or other DER is not, nor is anything cut
 * short, lying about its lengths, or naming another header id.
 */
#include <stdint.h>
#include <string.h>

#include "tests/tap.h"
#include "token/skf/seal.h"
#include "token/skf/wire.h"

/* The first SKF_FILE_HEAD_LEN bytes of the demo key's seal.1 (GB/T 38540,
 * version 4, vendor "ukeyd-demo"), as tests/vskf/make-demo-skf makes it. */
static const uint8_t seal_v4[] = {
    0x30, 0x82, 0x04, 0xf7, 0x30, 0x82, 0x02, 0xd4, 0x30, 0x13, 0x16, 0x02, 'E', 'S', 0x02, 0x01,
    0x04, 0x16, 0x0a, 'u', 'k', 'e', 'y', 'd', '-', 'd', 'e', 'm', 'o', 0x16, 0x11, 'G',
};

/* A small GM/T 0031-2014 seal: short lengths throughout, version 1. */
static const uint8_t seal_v1_short[] = {
    0x30, 0x40, 0x30, 0x30, 0x30, 0x0b, 0x16, 0x02, 'E', 'S', 0x02, 0x01, 0x01, 0x16, 0x02, 'v',
    'x',
};

/* An X.509 certificate opens SEQUENCE, SEQUENCE, then [0] version: DER, not a seal. */
static const uint8_t certificate[] = {
    0x30, 0x82, 0x01, 0xf5, 0x30, 0x82, 0x01, 0x9b, 0xa0, 0x03, 0x02, 0x01, 0x02, 0x02, 0x08, 0x25,
};

static bool recognised_with(const uint8_t *base, size_t len, size_t at, uint8_t byte)
{
    uint8_t copy[SKF_FILE_HEAD_LEN];

    memcpy(copy, base, len);
    copy[at] = byte;
    return skf_seal_recognised(copy, len);
}

int main(void)
{
    tap_ok(sizeof seal_v4 == SKF_FILE_HEAD_LEN, "the demo seal's head is as long as the helper reads");
    tap_ok(skf_seal_recognised(seal_v4, sizeof seal_v4), "a GB/T 38540 seal (long lengths) is a seal");
    tap_ok(skf_seal_recognised(seal_v1_short, sizeof seal_v1_short),
           "a GM/T 0031-2014 seal (short lengths) is a seal");
    tap_ok(skf_seal_recognised(seal_v4, 14), "the 14 bytes up to \"ES\" are enough");
    tap_ok(!skf_seal_recognised(seal_v4, 13), "…13 are not: cut inside the id");
    tap_ok(!skf_seal_recognised(certificate, sizeof certificate), "a certificate is not a seal");
    tap_ok(!recognised_with(seal_v4, sizeof seal_v4, 13, 'T'), "a header id \"ET\" is not a seal's");
    tap_ok(!recognised_with(seal_v4, sizeof seal_v4, 10, 0x0c),
           "the id as a UTF8String, not an IA5String, is not a seal's");
    tap_ok(!recognised_with(seal_v4, sizeof seal_v4, 11, 0x03), "an id of three bytes is not \"ES\"");
    tap_ok(!recognised_with(seal_v4, sizeof seal_v4, 8, 0x31), "a SET where the header's SEQUENCE is: no");
    tap_ok(!recognised_with(seal_v1_short, sizeof seal_v1_short, 1, 0x80),
           "an indefinite length (BER, not DER): no");
    tap_ok(!recognised_with(seal_v1_short, sizeof seal_v1_short, 3, 0x41),
           "the seal info longer than the seal holding it: no");
    tap_ok(!recognised_with(seal_v1_short, sizeof seal_v1_short, 5, 0x03),
           "the header too short to hold its id: no");
    tap_ok(!recognised_with(seal_v4, sizeof seal_v4, 1, 0x85), "a length of five octets: no");
    tap_ok(!skf_seal_recognised((const uint8_t *)"ES\x01\x02 picture", 12),
           "a pre-standard file opening with a raw \"ES\" is not counted");
    tap_ok(!skf_seal_recognised(seal_v4, 0) && !skf_seal_recognised(NULL, 0), "nothing is no seal");
    return tap_done();
}
