/* SPDX-License-Identifier: MIT */
/* Tests api/render/render.c: the JSON shapes of status, readers, PIN state, tokens and
 * certificates, built from hand-made token layer structures. */
#include "api/base/json.h"
#include "api/render/render.h"
#include "tests/tap.h"

static const char *str_at(json_t *v, const char *path)
{
    json_t *cur = v;
    char copy[128], *save = NULL;

    snprintf(copy, sizeof copy, "%s", path);
    for (char *k = strtok_r(copy, ".", &save); k && cur; k = strtok_r(NULL, ".", &save))
        cur = json_is_array(cur) ? json_array_get(cur, (size_t)atoi(k)) : json_object_get(cur, k);
    return json_string_value(cur);
}

static json_t *at(json_t *v, const char *path)
{
    json_t *cur = v;
    char copy[128], *save = NULL;

    snprintf(copy, sizeof copy, "%s", path);
    for (char *k = strtok_r(copy, ".", &save); k && cur; k = strtok_r(NULL, ".", &save))
        cur = json_is_array(cur) ? json_array_get(cur, (size_t)atoi(k)) : json_object_get(cur, k);
    return cur;
}

static struct cert_name_attr attrs[] = {
    { "C", "2.5.4.6", "CN" },
    { "O", "2.5.4.10", "演示科技有限公司" },
    { "CN", "2.5.4.3", "演示专用" },
};
static char *usages[] = { "digitalSignature", "keyEncipherment" };
static char *ext_usages[] = { "clientAuth" };

static struct cert_summary summary = {
    .subject = { "CN=演示专用, O=演示科技有限公司, C=CN", "演示专用", attrs, 3 },
    .issuer = { "CN=演示根CA", NULL, attrs, 0 },
    .serial_hex = "00ABCDEF",
    .not_before_iso = "2026-01-01T00:00:00Z",
    .not_after_iso = "2027-01-01T00:00:00Z",
    .days_left = 41,
    .key_type = CERT_KEY_SM2,
    .key_bits = 256,
    .key_algorithm = "SM2",
    .curve = "SM2",
    .signature_algorithm = "SM3withSM2",
    .key_usage = usages,
    .n_key_usage = 2,
    .ext_key_usage = ext_usages,
    .n_ext_key_usage = 1,
    .sha256_hex = "aa",
    .sm3_hex = "bb",
    .pem = "-----BEGIN CERTIFICATE-----\n",
};

static uint8_t der[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };

static struct token_cert certs[] = {
    { 0x9A, "9a", "PIV Authentication", der, sizeof der, &summary, "9a", NULL },
    { 0x9C, "9c", "Digital Signature", der, sizeof der, NULL, "9c", NULL },
};

static struct token_snapshot snap = {
    .id = "piv-0011",
    .reader = "Virtual PCD 00 00",
    .edge = "PIV",
    .model = "ukeyd virtual PIV token",
    .serial = NULL,
    .version = "5.7.0",
    .atr = { 0x3B, 0xF8, 0x0A },
    .atr_len = 3,
    .pin = { .tries_left = 3, .blocked = false, .min_len = 6, .max_len = 8, .charset = "digits" },
    .certs = certs,
    .n_certs = 2,
};

static void test_token(void)
{
    json_t *t = render_token(&snap);

    tap_ok(t != NULL, "token renders");
    TAP_EQ_STR(str_at(t, "id"), "piv-0011", "id");
    TAP_EQ_STR(str_at(t, "edge"), "PIV", "edge");
    TAP_EQ_STR(str_at(t, "atr"), "3BF80A", "ATR in upper-case hex");
    tap_ok(json_is_null(at(t, "serial")), "unknown serial is null");
    TAP_EQ_INT(json_integer_value(at(t, "pin.triesLeft")), 3, "pin.triesLeft");
    tap_ok(json_is_false(at(t, "pin.blocked")), "pin.blocked");
    TAP_EQ_INT(json_integer_value(at(t, "pin.minLength")), 6, "pin.minLength");
    TAP_EQ_STR(str_at(t, "pin.charset"), "digits", "pin.charset");
    TAP_EQ_INT(json_array_size(at(t, "certificates")), 2, "two certificates");
    TAP_EQ_STR(str_at(t, "certificates.0.slot"), "9a", "slot");
    TAP_EQ_STR(str_at(t, "certificates.0.subject.commonName"), "演示专用", "Chinese CN intact");
    TAP_EQ_STR(str_at(t, "certificates.0.subject.attributes.1.value"), "演示科技有限公司",
               "attribute value");
    TAP_EQ_STR(str_at(t, "certificates.0.subject.attributes.1.oid"), "2.5.4.10", "attribute oid");
    tap_ok(json_is_null(at(t, "certificates.0.issuer.commonName")), "missing CN is null");
    TAP_EQ_STR(str_at(t, "certificates.0.keyType"), "SM2", "keyType");
    TAP_EQ_INT(json_integer_value(at(t, "certificates.0.keyBits")), 256, "keyBits");
    TAP_EQ_INT(json_integer_value(at(t, "certificates.0.daysLeft")), 41, "daysLeft");
    TAP_EQ_STR(str_at(t, "certificates.0.keyUsage.1"), "keyEncipherment", "keyUsage");
    TAP_EQ_STR(str_at(t, "certificates.0.extendedKeyUsage.0"), "clientAuth", "extendedKeyUsage");
    TAP_EQ_STR(str_at(t, "certificates.0.fingerprints.sm3"), "bb", "sm3 fingerprint");
    TAP_EQ_STR(str_at(t, "certificates.0.notAfter"), "2027-01-01T00:00:00Z", "notAfter");
    tap_ok(json_is_true(at(t, "certificates.0.decoded")), "decoded certificate");
    tap_ok(json_is_false(at(t, "certificates.1.decoded")), "undecodable certificate says so");
    tap_ok(at(t, "certificates.1.subject") == NULL, "and has no subject");
    json_decref(t);
}

static void test_lists(void)
{
    struct token_snapshot *list[] = { &snap };
    struct token_reader readers[] = {
        { "Reader A", true, { 0x3B, 0x00 }, 2, "piv-0011" },
        { "Reader B", false, { 0 }, 0, NULL },
    };
    struct token_status st = { .pcsc_available = true, .n_readers = 2, .n_tokens = 1 };
    json_t *v;

    v = render_tokens(list, 1);
    TAP_EQ_INT(json_array_size(at(v, "tokens")), 1, "tokens list");
    json_decref(v);
    v = render_tokens(NULL, 0);
    TAP_EQ_INT(json_array_size(at(v, "tokens")), 0, "empty tokens list");
    json_decref(v);

    v = render_readers(readers, 2);
    TAP_EQ_STR(str_at(v, "readers.0.atr"), "3B00", "reader ATR");
    TAP_EQ_STR(str_at(v, "readers.0.tokenId"), "piv-0011", "reader token id");
    tap_ok(json_is_null(at(v, "readers.1.atr")), "no card, no ATR");
    tap_ok(json_is_null(at(v, "readers.1.tokenId")), "no card, no token id");
    json_decref(v);

    v = render_status(&st, 42);
    TAP_EQ_STR(str_at(v, "version"), UKEYD_VERSION, "status version");
    TAP_EQ_INT(json_integer_value(at(v, "uptimeSeconds")), 42, "uptime");
    TAP_EQ_INT(json_integer_value(at(v, "readerCount")), 2, "reader count");
    tap_ok(json_is_true(at(v, "pcscAvailable")), "pcscd available");
    json_decref(v);

    v = render_certificates(&snap);
    TAP_EQ_STR(str_at(v, "tokenId"), "piv-0011", "certificates carry the token id");
    TAP_EQ_INT(json_array_size(at(v, "certificates")), 2, "certificates list");
    json_decref(v);

    struct token_pin_info unknown = { .tries_left = -1, .blocked = true, .charset = "ascii" };
    v = render_pin(&unknown);
    tap_ok(json_is_null(at(v, "triesLeft")), "unknown tries are null");
    tap_ok(json_is_true(at(v, "blocked")), "blocked");
    json_decref(v);
}

static void test_find(void)
{
    tap_ok(render_find_cert(&snap, "9a") == &certs[0], "find 9a");
    tap_ok(render_find_cert(&snap, "9C") == &certs[1], "find 9C, any case");
    tap_ok(render_find_cert(&snap, "9d") == NULL, "no 9d");
}

int main(void)
{
    /* daysLeft is counted when the answer is made, from notAfter: an hour
     * past 41 days from now is 41 whole days, whatever the summary's
     * days_left said when the card was read */
    summary.not_after = time(NULL) + 41 * 86400 + 3600;
    summary.days_left = 999;
    json_wipe_install();
    test_token();
    test_lists();
    test_find();
    return tap_done();
}
