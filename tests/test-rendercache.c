/* SPDX-License-Identifier: MIT */
/* Tests api/render/rendercache.c: GET /v1/tokens is rendered once per set of
 * snapshots and form, again when a snapshot changes or a daysLeft ticks
 * over, and the cache's references to snapshots are dropped by a clear. A
 * snapshot is immutable to the code under test; the test changes one behind
 * its back only to see whether the text was rendered anew. */
#include <time.h>

#include "api/base/json.h"
#include "api/render/rendercache.h"
#include "tests/tap.h"

#define DAY 86400
#define DAYS_LEFT 10
#define SECONDS_INTO_DAY 100

static struct cert_summary summary = {
    .subject = { "CN=A", "A", NULL, 0 },
    .issuer = { "CN=B", "B", NULL, 0 },
    .serial_hex = "01",
    .not_before_iso = "2026-01-01T00:00:00Z",
    .not_after_iso = "2027-01-01T00:00:00Z",
    .key_type = CERT_KEY_EC,
    .key_bits = 256,
    .key_algorithm = "EC P-256",
    .curve = "P-256",
    .signature_algorithm = "SHA256withECDSA",
    .sha256_hex = "aa",
    .sm3_hex = "bb",
};
static uint8_t der[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
static struct token_cert certs[] = { { 0x9A, "9a", "PIV Authentication", der, sizeof der, &summary, "9a", NULL } };

static struct token_snapshot snap_a = { .id = "piv-aa", .reader = "R 00 00", .edge = "PIV",
                                        .model = "first", .certs = certs, .n_certs = 1,
                                        .refs = 1 };
static struct token_snapshot snap_b = { .id = "piv-bb", .reader = "R 00 00", .edge = "PIV",
                                        .model = "second", .certs = certs, .n_certs = 1,
                                        .refs = 1 };

static bool render_has(struct token_snapshot *s, bool pretty, time_t now, const char *text)
{
    struct token_snapshot *list[] = { s };
    size_t len = 0;
    char *body = rendercache_tokens(list, 1, pretty, now, &len);
    bool has = body && strlen(body) == len && strstr(body, text) != NULL;

    free(body);
    return has;
}

int main(void)
{
    time_t now = time(NULL);

    json_wipe_install();
    summary.not_after = now + DAYS_LEFT * DAY + SECONDS_INTO_DAY;

    tap_ok(render_has(&snap_a, false, now, "\"model\":\"first\""), "first render (compact)");
    TAP_EQ_INT(snap_a.refs, 2, "the cache holds a reference to what it rendered");
    snap_a.model = "changed";
    tap_ok(render_has(&snap_a, false, now, "\"model\":\"first\""), "same snapshot: cached text");
    tap_ok(render_has(&snap_a, true, now, "\"model\": \"changed\""),
           "the pretty form is a cache of its own");
    tap_ok(render_has(&snap_b, false, now, "\"model\":\"second\""), "another snapshot: rendered");
    TAP_EQ_INT(snap_a.refs, 2, "the compact entry let go of the old snapshot (pretty holds it)");

    snap_b.model = "second, changed";
    tap_ok(render_has(&snap_b, false, now + SECONDS_INTO_DAY, "\"model\":\"second\""),
           "cached up to the last second daysLeft reads the same");
    tap_ok(render_has(&snap_b, false, now + SECONDS_INTO_DAY + 1, "second, changed"),
           "rendered again once daysLeft has ticked over");

    rendercache_clear();
    TAP_EQ_INT(snap_a.refs, 1, "clear drops the references (a)");
    TAP_EQ_INT(snap_b.refs, 1, "clear drops the references (b)");
    return tap_done();
}
