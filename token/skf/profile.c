/* SPDX-License-Identifier: MIT */
/* token/skf/profile.c — vendor profiles, known library paths, DEVINFO layouts (see profile.h). */
#include <stdio.h>
#include <string.h>

#include "token/skf/abi.h"
#include "token/skf/profile.h"

#define POLL_DEFAULT_MS  250
/* What CA portals' 修改密码 pages ask for; Longmai's header gives MIN_PIN_LEN 6. */
#define PIN_MIN_DEFAULT  6
#define PIN_MAX_DEFAULT  16
#define ASCII_FIRST_VISIBLE 0x21
#define ASCII_LAST_VISIBLE  0x7e

/*
 * Each profile says only what a public source shows about that library; a
 * vendor whose header ukeyd has not seen gets the standard's values, and an
 * administrator who observes a deviation sets it in the configuration.
 */
static const struct skf_profile profiles[] = {
    {
        /* GM/T 0016-2012 as the Longmai header reads it on Linux: ULONG and
         * BOOL are 32-bit ints, structures packed */
        .name = "standard", .vendor = "GM/T 0016-2012",
        .bool_bits = 32, .ulong_bits = 32, .devinfo_packed = true,
        .sm2_alg_id = SGD_SM2_1, .events = SKF_EVENTS_WAIT, .poll_ms = POLL_DEFAULT_MS,
        .pin_min_len = PIN_MIN_DEFAULT, .pin_max_len = PIN_MAX_DEFAULT,
    },
    {
        /* GmSSL's sgd.h declares BOOL as long: 64 bits on LP64 Linux */
        .name = "gmssl", .vendor = "GM/T 0016-2012 as GmSSL declares it",
        .bool_bits = 64, .ulong_bits = 32, .devinfo_packed = true,
        .sm2_alg_id = SGD_SM2_1, .events = SKF_EVENTS_WAIT, .poll_ms = POLL_DEFAULT_MS,
        .pin_min_len = PIN_MIN_DEFAULT, .pin_max_len = PIN_MAX_DEFAULT,
    },
    {
        .name = "longmai-gm3000", .vendor = "龙脉 mToken GM3000",
        .bool_bits = 32, .ulong_bits = 32, .devinfo_packed = true,
        .sm2_alg_id = SGD_SM2_1, .events = SKF_EVENTS_WAIT, .poll_ms = POLL_DEFAULT_MS,
        .pin_min_len = PIN_MIN_DEFAULT, .pin_max_len = PIN_MAX_DEFAULT,
    },
    {
        /* header not seen: the standard's values */
        .name = "feitian-epass3000gm", .vendor = "飞天诚信 ePass3000GM",
        .bool_bits = 32, .ulong_bits = 32, .devinfo_packed = true,
        .sm2_alg_id = SGD_SM2_1, .events = SKF_EVENTS_WAIT, .poll_ms = POLL_DEFAULT_MS,
        .pin_min_len = PIN_MIN_DEFAULT, .pin_max_len = PIN_MAX_DEFAULT,
    },
    {
        /* header not seen: the standard's values */
        .name = "yuweng", .vendor = "渔翁 UKey",
        .bool_bits = 32, .ulong_bits = 32, .devinfo_packed = true,
        .sm2_alg_id = SGD_SM2_1, .events = SKF_EVENTS_WAIT, .poll_ms = POLL_DEFAULT_MS,
        .pin_min_len = PIN_MIN_DEFAULT, .pin_max_len = PIN_MAX_DEFAULT,
    },
};

#define KIRAN_SKF_DIR "/usr/lib64/kiran-authentication-devices-sdk/ukey/skf/"
#define KIRAN_SOURCE  "openeuler-mirror/kiran-authentication-devices data/device.conf"

static const char *const longmai_paths[] = { "libgm3000.1.0.so", NULL };
static const char *const feitian_paths[] = { KIRAN_SKF_DIR "libes_3000gm.so", "libes_3000gm.so", NULL };
static const char *const yuweng_paths[] = { KIRAN_SKF_DIR "libGDBapi.so", "libGDBapi.so", NULL };

/* The known paths, in one place. Only what a public source names: the
 * Longmai SDK ships the file without saying where a package installs it, so
 * only the dynamic linker's search finds it. */
static const struct skf_known_library known[] = {
    { "longmai-gm3000", "libgm3000.1.0.so", longmai_paths,
      "willyu2019/gm3000-sdk (file name only)" },
    { "feitian-epass3000gm", "libes_3000gm.so", feitian_paths, KIRAN_SOURCE },
    { "yuweng", "libGDBapi.so", yuweng_paths, KIRAN_SOURCE },
};

const struct skf_profile *skf_profile_standard(void)
{
    return &profiles[0];
}

const struct skf_profile *skf_profile_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof profiles / sizeof profiles[0]; i++)
        if (strcmp(profiles[i].name, name) == 0)
            return &profiles[i];
    return NULL;
}

const struct skf_known_library *skf_known_libraries(size_t *count)
{
    *count = sizeof known / sizeof known[0];
    return known;
}

static bool fail(char *why, size_t why_len, const char *what)
{
    if (why && why_len)
        snprintf(why, why_len, "%s", what);
    return false;
}

bool skf_profile_valid(const struct skf_profile *p, char *why, size_t why_len)
{
    if (!p)
        return fail(why, why_len, "no profile");
    if (p->bool_bits != 32 && p->bool_bits != 64)
        return fail(why, why_len, "bool_bits must be 32 or 64");
    if (p->ulong_bits != 32 && p->ulong_bits != 64)
        return fail(why, why_len, "ulong_bits must be 32 or 64");
    if (p->events != SKF_EVENTS_WAIT && p->events != SKF_EVENTS_POLL)
        return fail(why, why_len, "events must be wait or poll");
    if (p->poll_ms < SKF_PROFILE_POLL_MIN_MS || p->poll_ms > SKF_PROFILE_POLL_MAX_MS)
        return fail(why, why_len, "poll_ms out of range (100..5000)");
    if (p->pin_min_len < 1 || p->pin_min_len > p->pin_max_len ||
        p->pin_max_len > SKF_PROFILE_PIN_LEN_LIMIT)
        return fail(why, why_len, "PIN lengths must satisfy 1 <= min <= max <= 64");
    if (p->sm2_alg_id != SGD_SM2_1 && p->sm2_alg_id != SGD_SM2_2)
        return fail(why, why_len, "sm2_alg_id must be 0x00020100 or 0x00020200");
    return true;
}

uint32_t skf_profile_pin_type(const struct skf_profile *p, enum skf_pin_role role)
{
    bool admin = role == SKF_PIN_ADMIN;

    if (p->pin_types_swapped)
        admin = !admin;
    return admin ? SKF_ADMIN_TYPE : SKF_USER_TYPE;
}

bool skf_profile_pin_acceptable(const struct skf_profile *p, const char *pin)
{
    size_t n;

    if (!pin)
        return false;
    n = strlen(pin);
    if (n < p->pin_min_len || n > p->pin_max_len)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)pin[i] < ASCII_FIRST_VISIBLE || (unsigned char)pin[i] > ASCII_LAST_VISIBLE)
            return false;
    return true;
}

/* --- DEVINFO ------------------------------------------------------------- */

#define OFF_VERSION       0
#define OFF_MANUFACTURER  (OFF_VERSION + SKF_VERSION_SIZE)
#define OFF_ISSUER        (OFF_MANUFACTURER + SKF_DEVINFO_MANUFACTURER_LEN)
#define OFF_LABEL         (OFF_ISSUER + SKF_DEVINFO_ISSUER_LEN)
#define OFF_SERIAL        (OFF_LABEL + SKF_DEVINFO_LABEL_LEN)
#define OFF_HW_VERSION    (OFF_SERIAL + SKF_DEVINFO_SERIAL_LEN)
#define OFF_FW_VERSION    (OFF_HW_VERSION + SKF_VERSION_SIZE)
#define OFF_AFTER_VERSIONS (OFF_FW_VERSION + SKF_VERSION_SIZE)

enum devinfo_ulong { U_ALG_SYM, U_ALG_ASYM, U_ALG_HASH, U_DEV_AUTH_ALG, U_TOTAL_SPACE, U_FREE_SPACE };

static size_t align_up(size_t n, size_t a)
{
    return (n + a - 1) / a * a;
}

static size_t first_ulong_offset(const struct skf_profile *p)
{
    size_t w = p->ulong_bits / 8;

    return p->devinfo_packed ? OFF_AFTER_VERSIONS : align_up(OFF_AFTER_VERSIONS, w);
}

size_t skf_devinfo_size(const struct skf_profile *p)
{
    size_t w = p->ulong_bits / 8;
    size_t end = first_ulong_offset(p) + SKF_DEVINFO_ULONG_COUNT * w + SKF_DEVINFO_RESERVED_LEN;

    return p->devinfo_packed ? end : align_up(end, w);
}

static void copy_text(char *dst, const uint8_t *src, size_t n)
{
    size_t len = strnlen((const char *)src, n);

    memcpy(dst, src, len);
    dst[len] = '\0';
}

static uint16_t version_at(const uint8_t *buf, size_t off)
{
    return (uint16_t)(buf[off] << 8 | buf[off + 1]);
}

/* ULONGs are the library's native (little-endian) integers; a 64-bit one
 * carries values that fit in 32 bits. */
static uint32_t ulong_at(const struct skf_profile *p, const uint8_t *buf, enum devinfo_ulong i)
{
    size_t w = p->ulong_bits / 8, off = first_ulong_offset(p) + (size_t)i * w;
    uint32_t v = 0;

    for (size_t b = 0; b < sizeof v; b++)
        v |= (uint32_t)buf[off + b] << (8 * b);
    return v;
}

bool skf_devinfo_decode(const struct skf_profile *p, const uint8_t *buf, size_t len,
                        struct skf_devinfo *out)
{
    if (len < skf_devinfo_size(p))
        return false;
    memset(out, 0, sizeof *out);
    out->version = version_at(buf, OFF_VERSION);
    copy_text(out->manufacturer, buf + OFF_MANUFACTURER, SKF_DEVINFO_MANUFACTURER_LEN);
    copy_text(out->issuer, buf + OFF_ISSUER, SKF_DEVINFO_ISSUER_LEN);
    copy_text(out->label, buf + OFF_LABEL, SKF_DEVINFO_LABEL_LEN);
    copy_text(out->serial, buf + OFF_SERIAL, SKF_DEVINFO_SERIAL_LEN);
    out->hw_version = version_at(buf, OFF_HW_VERSION);
    out->fw_version = version_at(buf, OFF_FW_VERSION);
    out->alg_sym = ulong_at(p, buf, U_ALG_SYM);
    out->alg_asym = ulong_at(p, buf, U_ALG_ASYM);
    out->alg_hash = ulong_at(p, buf, U_ALG_HASH);
    out->dev_auth_alg = ulong_at(p, buf, U_DEV_AUTH_ALG);
    out->total_space = ulong_at(p, buf, U_TOTAL_SPACE);
    out->free_space = ulong_at(p, buf, U_FREE_SPACE);
    return true;
}

bool skf_devinfo_has_sm2(const struct skf_devinfo *d)
{
    return (d->alg_asym & SGD_SM2_1) == SGD_SM2_1 || (d->alg_asym & SGD_SM2_2) == SGD_SM2_2;
}
