/* SPDX-License-Identifier: MIT */
/* Tests token/skf/certname.c: an SKF container's name in a certificate id
 * and back. The ids are what a portal puts in a URL and a CA keeps in its
 * records, so each must be URL-safe, name exactly one container, and come
 * back as the container it was made from, Chinese names included. */
#include <stdlib.h>
#include <string.h>

#include "token/skf/certname.h"
#include "tests/tap.h"

#define NAME_CAP 64

static void round_trip(const char *container, bool sign, const char *want_id)
{
    char *id = skf_cert_id_new(container, sign);
    char back[NAME_CAP];
    bool back_sign = !sign;

    tap_ok(id && strcmp(id, want_id) == 0, "the id of %s's %s certificate is %s (got %s)", container,
           sign ? "signing" : "encryption", want_id, id ? id : "none");
    tap_ok(id && skf_cert_id_parse(id, back, sizeof back, &back_sign) &&
               strcmp(back, container) == 0 && back_sign == sign,
           "%s comes back as its container and certificate", want_id);
    free(id);
}

static void refused(const char *id, const char *why)
{
    char back[NAME_CAP];
    bool sign;

    tap_ok(!skf_cert_id_parse(id, back, sizeof back, &sign), "refused: %s (%s)", why, id);
}

static void test_round_trips(void)
{
    round_trip("DEMO_SM2", true, "DEMO_SM2.sign");
    round_trip("DEMO_SM2", false, "DEMO_SM2.enc");
    round_trip("容器1", true, "~e5~ae~b9~e5~99~a8" "1.sign");
    round_trip("a b/c~d", false, "a~20b~2fc~7ed.enc");
    round_trip("x.sign", true, "x.sign.sign");
}

static void test_refusals(void)
{
    char back[4];
    bool sign;

    refused("DEMO_SM2", "no certificate suffix");
    refused(".sign", "an empty container name");
    refused("A~4.sign", "a cut escape");
    refused("A~zz.sign", "an escape that is not hex");
    refused("A~E6.sign", "upper-case hex, which the escape never writes");
    refused("~41.sign", "an escaped safe byte: a second id for container A");
    refused("A~00.sign", "a NUL byte");
    refused("容器.sign", "raw bytes the escape would have written ~xx");
    refused("A B.enc", "a raw space");
    tap_ok(!skf_cert_id_parse("ABCDEFG.sign", back, sizeof back, &sign),
           "a name longer than the caller's buffer is refused, not cut");
    tap_ok(!skf_cert_id_parse(NULL, back, sizeof back, &sign), "no id at all");
}

static void test_escape_bounds(void)
{
    char out[SKF_ESCAPED_SIZE(2)];
    char wide[SKF_ESCAPED_SIZE(sizeof "容" - 1)];

    tap_ok(skf_name_escape("容", wide, sizeof wide) && strcmp(wide, "~e5~ae~b9") == 0,
           "SKF_ESCAPED_SIZE holds a name with every byte escaped");
    tap_ok(!skf_name_escape("容", wide, sizeof wide - 1), "one byte less does not");
    tap_ok(skf_name_escape("abcdef", out, sizeof out) && strcmp(out, "abcdef") == 0,
           "safe bytes as they are, up to the last byte of the buffer");
    tap_ok(!skf_name_escape("abcdefg", out, sizeof out) && out[0] == '\0',
           "a name that does not fit is refused and leaves no partial id");
}

int main(void)
{
    test_round_trips();
    test_refusals();
    test_escape_bounds();
    return tap_done();
}
