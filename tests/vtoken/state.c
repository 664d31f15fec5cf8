/* SPDX-License-Identifier: MIT */
/*
 * tests/vtoken/state.c — the PIV slot table and the token state file:
 * strict parsing (a damaged file is refused with the reason and line, never
 * half-loaded) and atomic replacement (temp file in the same directory,
 * fsync, rename, fsync of the directory) so a crash leaves the old or the new
 * state, never a mix.
 */
#include "tests/vtoken/state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <zlib.h>

#define STATE_FORMAT        "ukeyd-vtoken-state-1"
#define STATE_MAX_BYTES     (4u << 20)
#define STATE_CRC_KEY       "crc32="
#define STATE_CRC_HEX_LEN   8
/* "crc32=" + 8 hex digits + "\n" */
#define STATE_CRC_LINE_LEN  (sizeof STATE_CRC_KEY - 1 + STATE_CRC_HEX_LEN + 1)
#define STATE_SMALL_LINE    256
#define STATE_READ_CHUNK    4096
#define STATE_CERT_PREFIX   "cert."
#define STATE_KEY_PREFIX    "key."
#define STATE_CERT_INFO_PREFIX "certinfo."
#define STATE_KEY_INFO_PREFIX  "keyinfo."
#define STATE_OBJECT_PREFIX "object."
#define STATE_MGMT_KEY      "mgmt-key"
#define KEY_INFO_LEN        3   /* origin, PIN policy, touch policy */
#define HEX_BASE            16
#define OBJECT_TAG_HEX_LEN  6
/* Tags a client may write as plain objects: the PIV data objects of
 * SP 800-73-4 part 1 table 3 (5FC101..5FC123) other than certificates, and
 * Yubico's vendor range 5FFFxx. */
#define PIV_OBJECT_TAG_FIRST 0x5FC101
#define PIV_OBJECT_TAG_LAST  0x5FC123
#define YK_OBJECT_TAG_FIRST  0x5FFF00
#define YK_OBJECT_TAG_LAST   0x5FFFFF
#define DECIMAL_BASE        10

/* --- slots ---------------------------------------------------------------- */

#define PIV_FIRST_RETIRED_INDEX  4

/* SP 800-73-4 table 4b: each key reference and the tag of the data object
 * that holds its certificate. Retired slots 82..95 map to 5FC10D..5FC120. */
static const struct vt_slot slots[VT_SLOT_COUNT] = {
    { 0x9A, 0x5FC105, "9a" },   /* PIV authentication */
    { 0x9C, 0x5FC10A, "9c" },   /* digital signature */
    { 0x9D, 0x5FC10B, "9d" },   /* key management */
    { 0x9E, 0x5FC101, "9e" },   /* card authentication */
    { 0x82, 0x5FC10D, "82" },
    { 0x83, 0x5FC10E, "83" },
    { 0x84, 0x5FC10F, "84" },
    { 0x85, 0x5FC110, "85" },
    { 0x86, 0x5FC111, "86" },
    { 0x87, 0x5FC112, "87" },
    { 0x88, 0x5FC113, "88" },
    { 0x89, 0x5FC114, "89" },
    { 0x8A, 0x5FC115, "8a" },
    { 0x8B, 0x5FC116, "8b" },
    { 0x8C, 0x5FC117, "8c" },
    { 0x8D, 0x5FC118, "8d" },
    { 0x8E, 0x5FC119, "8e" },
    { 0x8F, 0x5FC11A, "8f" },
    { 0x90, 0x5FC11B, "90" },
    { 0x91, 0x5FC11C, "91" },
    { 0x92, 0x5FC11D, "92" },
    { 0x93, 0x5FC11E, "93" },
    { 0x94, 0x5FC11F, "94" },
    { 0x95, 0x5FC120, "95" },
};

const struct vt_slot *vt_slot_at(int index)
{
    if (index < 0 || index >= VT_SLOT_COUNT)
        return NULL;
    return &slots[index];
}

int vt_slot_by_key_ref(uint8_t key_ref)
{
    for (int i = 0; i < VT_SLOT_COUNT; i++)
        if (slots[i].key_ref == key_ref)
            return i;
    return -1;
}

int vt_slot_by_name(const char *name)
{
    for (int i = 0; i < VT_SLOT_COUNT; i++)
        if (strcasecmp(slots[i].name, name) == 0)
            return i;
    return -1;
}

int vt_slot_by_object_tag(uint32_t tag)
{
    for (int i = 0; i < VT_SLOT_COUNT; i++)
        if (slots[i].object_tag == tag)
            return i;
    return -1;
}

bool vt_slot_is_retired(int index)
{
    return index >= PIV_FIRST_RETIRED_INDEX && index < VT_SLOT_COUNT;
}

#define SLOT_INDEX_9C  1
#define SLOT_INDEX_9E  3

struct vt_key_info vt_key_info_default(int slot, uint8_t origin)
{
    uint8_t pin = VT_PIN_POLICY_ONCE;

    if (slot == SLOT_INDEX_9E)
        pin = VT_PIN_POLICY_NEVER;
    else if (slot == SLOT_INDEX_9C)
        pin = VT_PIN_POLICY_ALWAYS;
    return (struct vt_key_info){ origin, pin, VT_TOUCH_POLICY_NEVER };
}

/* --- stored objects and the management key ----------------------------------- */

bool vt_object_tag_storable(uint32_t tag)
{
    if (vt_slot_by_object_tag(tag) >= 0)
        return false;
    return (tag >= PIV_OBJECT_TAG_FIRST && tag <= PIV_OBJECT_TAG_LAST) ||
           (tag >= YK_OBJECT_TAG_FIRST && tag <= YK_OBJECT_TAG_LAST);
}

const struct vt_object *vt_state_object_const(const struct vt_state *st, uint32_t tag)
{
    for (int i = 0; i < VT_OBJECTS_MAX; i++)
        if (st->objects[i].tag == tag && tag != 0)
            return &st->objects[i];
    return NULL;
}

struct vt_object *vt_state_object(struct vt_state *st, uint32_t tag)
{
    return (struct vt_object *)vt_state_object_const(st, tag);
}

int vt_state_set_object(struct vt_state *st, uint32_t tag, const uint8_t *value, size_t len)
{
    struct vt_object *o = vt_state_object(st, tag);

    if (len == 0) {
        if (o) {
            vt_buf_free(&o->value);
            o->tag = 0;
        }
        return 0;
    }
    for (int i = 0; !o && i < VT_OBJECTS_MAX; i++)
        if (st->objects[i].tag == 0)
            o = &st->objects[i];
    if (!o || vt_buf_set(&o->value, value, len) < 0)
        return -1;
    o->tag = tag;
    return 0;
}

void vt_state_default_mgmt_key(struct vt_state *st)
{
    st->mgmt_alg = PIV_MGMT_ALG_3DES;
    OPENSSL_cleanse(st->mgmt_key, sizeof st->mgmt_key);
    memcpy(st->mgmt_key, vt_mgmt_default_key, VT_MGMT_DEFAULT_KEY_LEN);
}

/* --- PIN / PUK values ----------------------------------------------------- */

bool vt_ref_data_well_formed(const uint8_t value[VT_REF_DATA_LEN])
{
    size_t n = 0;

    while (n < VT_REF_DATA_LEN && value[n] != VT_REF_DATA_PAD)
        n++;
    if (n < VT_REF_DATA_MIN_LEN)
        return false;
    for (size_t i = n; i < VT_REF_DATA_LEN; i++)
        if (value[i] != VT_REF_DATA_PAD)
            return false;
    return true;
}

int vt_ref_data_from_text(const char *text, uint8_t out[VT_REF_DATA_LEN])
{
    size_t n = strlen(text);

    if (n < VT_REF_DATA_MIN_LEN || n > VT_REF_DATA_LEN)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (text[i] < ' ' || text[i] > '~')
            return -1;
    memset(out, VT_REF_DATA_PAD, VT_REF_DATA_LEN);
    memcpy(out, text, n);
    return 0;
}

/* --- freeing -------------------------------------------------------------- */

void vt_state_free(struct vt_state *st)
{
    free(st->model);
    for (int i = 0; i < VT_SLOT_COUNT; i++) {
        vt_buf_free(&st->cert[i]);
        vt_buf_free(&st->key[i]);
    }
    for (int i = 0; i < VT_OBJECTS_MAX; i++)
        vt_buf_free(&st->objects[i].value);
    OPENSSL_cleanse(st, sizeof *st);
}

/* --- parsing -------------------------------------------------------------- */

enum state_field {
    FIELD_FORMAT,
    FIELD_SERIAL,
    FIELD_MODEL,
    FIELD_GUID,
    FIELD_VERSION,
    FIELD_PIN,
    FIELD_PUK,
    FIELD_PIN_RETRIES,
    FIELD_PIN_TRIES_LEFT,
    FIELD_PUK_RETRIES,
    FIELD_PUK_TRIES_LEFT,
    FIELD__COUNT
};

static const char *const field_names[FIELD__COUNT] = {
    [FIELD_FORMAT]         = "format",
    [FIELD_SERIAL]         = "serial",
    [FIELD_MODEL]          = "model",
    [FIELD_GUID]           = "guid",
    [FIELD_VERSION]        = "version",
    [FIELD_PIN]            = "pin",
    [FIELD_PUK]            = "puk",
    [FIELD_PIN_RETRIES]    = "pin-retries",
    [FIELD_PIN_TRIES_LEFT] = "pin-tries-left",
    [FIELD_PUK_RETRIES]    = "puk-retries",
    [FIELD_PUK_TRIES_LEFT] = "puk-tries-left",
};

struct state_parser {
    const char *path;
    unsigned line_no;
    bool seen[FIELD__COUNT];
    bool seen_cert[VT_SLOT_COUNT];
    bool seen_key[VT_SLOT_COUNT];
    bool seen_cert_info[VT_SLOT_COUNT];
    bool seen_key_info[VT_SLOT_COUNT];
    bool seen_mgmt_key;
};

__attribute__((format(printf, 2, 3)))
static int parse_error(const struct state_parser *p, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "vtoken: %s:%u: corrupt state file: ", p->path, p->line_no);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return -1;
}

static int parse_uint(const char *text, unsigned long max, unsigned long *out)
{
    char *end;

    if (text[0] < '0' || text[0] > '9')
        return -1;
    errno = 0;
    *out = strtoul(text, &end, DECIMAL_BASE);
    if (errno || *end || *out > max)
        return -1;
    return 0;
}

int vt_version_from_text(const char *text, uint8_t out[VT_VERSION_LEN])
{
    unsigned a, b, c;
    int used = 0;

    if (sscanf(text, "%3u.%3u.%3u%n", &a, &b, &c, &used) != VT_VERSION_LEN ||
        text[used] != '\0' ||
        a > UINT8_MAX || b > UINT8_MAX || c > UINT8_MAX)
        return -1;
    out[0] = (uint8_t)a;
    out[1] = (uint8_t)b;
    out[2] = (uint8_t)c;
    return 0;
}

static bool model_text_ok(const char *text)
{
    size_t n = strlen(text);

    if (n == 0 || n > VT_MODEL_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)text[i] < ' ' || text[i] == '\x7f')
            return false;
    return true;
}

static int parse_retries(const struct state_parser *p, const char *value, unsigned *out)
{
    unsigned long v;

    if (parse_uint(value, VT_RETRIES_MAX, &v) < 0)
        return parse_error(p, "retry count must be 0..%d", VT_RETRIES_MAX);
    *out = (unsigned)v;
    return 0;
}

static int parse_ref_data(const struct state_parser *p, const char *value,
                          uint8_t out[VT_REF_DATA_LEN])
{
    if (vt_hex_decode_fixed(value, out, VT_REF_DATA_LEN) < 0 || !vt_ref_data_well_formed(out))
        return parse_error(p, "PIN/PUK must be %d hex bytes, FF-padded", VT_REF_DATA_LEN);
    return 0;
}

static int parse_field(const struct state_parser *p, struct vt_state *st,
                       enum state_field f, const char *value)
{
    unsigned long serial;

    switch (f) {
    case FIELD_FORMAT:
        if (strcmp(value, STATE_FORMAT) != 0)
            return parse_error(p, "unknown format \"%s\" (want %s)", value, STATE_FORMAT);
        return 0;
    case FIELD_SERIAL:
        if (parse_uint(value, UINT32_MAX, &serial) < 0)
            return parse_error(p, "serial must be a 32-bit decimal number");
        st->serial = (uint32_t)serial;
        return 0;
    case FIELD_MODEL:
        if (!model_text_ok(value))
            return parse_error(p, "model must be 1..%d printable characters", VT_MODEL_MAX);
        st->model = strdup(value);
        return st->model ? 0 : parse_error(p, "out of memory");
    case FIELD_GUID:
        if (vt_hex_decode_fixed(value, st->guid, VT_GUID_LEN) < 0)
            return parse_error(p, "guid must be %d hex digits", 2 * VT_GUID_LEN);
        return 0;
    case FIELD_VERSION:
        if (vt_version_from_text(value, st->version) < 0)
            return parse_error(p, "version must look like 5.7.0");
        return 0;
    case FIELD_PIN:
        return parse_ref_data(p, value, st->pin);
    case FIELD_PUK:
        return parse_ref_data(p, value, st->puk);
    case FIELD_PIN_RETRIES:
        return parse_retries(p, value, &st->pin_retries);
    case FIELD_PIN_TRIES_LEFT:
        return parse_retries(p, value, &st->pin_tries_left);
    case FIELD_PUK_RETRIES:
        return parse_retries(p, value, &st->puk_retries);
    case FIELD_PUK_TRIES_LEFT:
        return parse_retries(p, value, &st->puk_tries_left);
    case FIELD__COUNT:
        break;
    }
    return parse_error(p, "internal: unknown field");
}

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool der_is_certificate(const struct vt_buf *der)
{
    const unsigned char *q = der->data;
    X509 *x = d2i_X509(NULL, &q, (long)der->len);
    bool ok = x && q == der->data + der->len;

    X509_free(x);
    return ok;
}

static int parse_slot_entry(struct state_parser *p, struct vt_state *st, const char *key,
                            const char *value)
{
    bool is_cert = has_prefix(key, STATE_CERT_PREFIX);
    int slot = vt_slot_by_name(strchr(key, '.') + 1);
    bool *seen;
    struct vt_buf *dest;

    if (slot < 0)
        return parse_error(p, "unknown slot in \"%s\"", key);
    seen = is_cert ? &p->seen_cert[slot] : &p->seen_key[slot];
    dest = is_cert ? &st->cert[slot] : &st->key[slot];
    if (*seen)
        return parse_error(p, "\"%s\" given twice", key);
    *seen = true;
    if (vt_hex_decode(value, strlen(value), dest) < 0 || dest->len == 0)
        return parse_error(p, "\"%s\" is not hex", key);
    return 0;
}

/* certinfo.SLOT=HH (only written when not plain) and keyinfo.SLOT=OOPPTT. */
static int parse_slot_info(struct state_parser *p, struct vt_state *st, const char *key,
                           const char *value)
{
    bool is_cert_info = has_prefix(key, STATE_CERT_INFO_PREFIX);
    int slot = vt_slot_by_name(strchr(key, '.') + 1);
    uint8_t bytes[KEY_INFO_LEN];
    bool *seen;

    if (slot < 0)
        return parse_error(p, "unknown slot in \"%s\"", key);
    seen = is_cert_info ? &p->seen_cert_info[slot] : &p->seen_key_info[slot];
    if (*seen)
        return parse_error(p, "\"%s\" given twice", key);
    *seen = true;
    if (is_cert_info) {
        if (vt_hex_decode_fixed(value, bytes, 1) < 0 ||
            (bytes[0] != VT_CERT_INFO_PLAIN && bytes[0] != VT_CERT_INFO_GZIP))
            return parse_error(p, "\"%s\" must be 00 or 01", key);
        st->cert_info[slot] = bytes[0];
        return 0;
    }
    if (vt_hex_decode_fixed(value, bytes, KEY_INFO_LEN) < 0 ||
        (bytes[0] != VT_KEY_ORIGIN_GENERATED && bytes[0] != VT_KEY_ORIGIN_IMPORTED) ||
        bytes[1] < VT_PIN_POLICY_NEVER || bytes[1] > VT_PIN_POLICY_ALWAYS ||
        bytes[2] < VT_TOUCH_POLICY_NEVER || bytes[2] > VT_TOUCH_POLICY_CACHED)
        return parse_error(p, "\"%s\" must be origin, PIN and touch policy (3 hex bytes)", key);
    st->key_info[slot] = (struct vt_key_info){ bytes[0], bytes[1], bytes[2] };
    return 0;
}

/* object.5FC10C=HEX: a data object as a client wrote it. */
static int parse_object(struct state_parser *p, struct vt_state *st, const char *key,
                        const char *value)
{
    VT_AUTO_BUF bytes = {0};
    const char *tag_hex = strchr(key, '.') + 1;
    char *end;
    unsigned long tag;

    errno = 0;
    tag = strtoul(tag_hex, &end, HEX_BASE);
    if (strlen(tag_hex) != OBJECT_TAG_HEX_LEN || errno || *end || !vt_object_tag_storable((uint32_t)tag))
        return parse_error(p, "\"%s\" is no storable object tag", key);
    if (vt_state_object(st, (uint32_t)tag))
        return parse_error(p, "\"%s\" given twice", key);
    if (vt_hex_decode(value, strlen(value), &bytes) < 0 || bytes.len == 0)
        return parse_error(p, "\"%s\" is not hex", key);
    if (vt_state_set_object(st, (uint32_t)tag, bytes.data, bytes.len) < 0)
        return parse_error(p, "too many objects (at most %d)", VT_OBJECTS_MAX);
    return 0;
}

static int parse_mgmt_key(struct state_parser *p, struct vt_state *st, const char *value)
{
    size_t len;

    if (p->seen_mgmt_key)
        return parse_error(p, "\"%s\" given twice", STATE_MGMT_KEY);
    p->seen_mgmt_key = true;
    if (vt_mgmt_parse(value, &st->mgmt_alg, st->mgmt_key, &len) < 0)
        return parse_error(p, "%s must be ALG:HEX (3DES, AES-128, AES-192, AES-256)",
                           STATE_MGMT_KEY);
    return 0;
}

static int parse_line(struct state_parser *p, struct vt_state *st, char *line)
{
    char *eq;

    if (line[0] == '\0' || line[0] == '#')
        return 0;
    eq = strchr(line, '=');
    if (!eq)
        return parse_error(p, "line without '='");
    *eq = '\0';
    if (has_prefix(line, STATE_CERT_PREFIX) || has_prefix(line, STATE_KEY_PREFIX))
        return parse_slot_entry(p, st, line, eq + 1);
    if (has_prefix(line, STATE_CERT_INFO_PREFIX) || has_prefix(line, STATE_KEY_INFO_PREFIX))
        return parse_slot_info(p, st, line, eq + 1);
    if (has_prefix(line, STATE_OBJECT_PREFIX))
        return parse_object(p, st, line, eq + 1);
    if (strcmp(line, STATE_MGMT_KEY) == 0)
        return parse_mgmt_key(p, st, eq + 1);
    for (int f = 0; f < FIELD__COUNT; f++) {
        if (strcmp(line, field_names[f]) != 0)
            continue;
        if (p->seen[f])
            return parse_error(p, "\"%s\" given twice", line);
        p->seen[f] = true;
        return parse_field(p, st, (enum state_field)f, eq + 1);
    }
    return parse_error(p, "unknown key \"%s\"", line);
}

/* A gzip certificate is kept as the client wrote it; a plain one must be
 * a certificate, as PUT DATA made sure. */
static int check_slots(struct state_parser *p, struct vt_state *st)
{
    for (int i = 0; i < VT_SLOT_COUNT; i++) {
        const char *name = slots[i].name;

        if (p->seen_cert_info[i] && !st->cert[i].len)
            return parse_error(p, "certinfo.%s without cert.%s", name, name);
        if (p->seen_key_info[i] && !st->key[i].len)
            return parse_error(p, "keyinfo.%s without key.%s", name, name);
        if (st->cert[i].len && st->cert_info[i] == VT_CERT_INFO_PLAIN &&
            !der_is_certificate(&st->cert[i]))
            return parse_error(p, "\"cert.%s\" is not an X.509 certificate in DER", name);
        if (st->key[i].len && !p->seen_key_info[i])
            st->key_info[i] = vt_key_info_default(i, VT_KEY_ORIGIN_IMPORTED);
    }
    return 0;
}

static int check_complete(struct state_parser *p, struct vt_state *st)
{
    for (int f = 0; f < FIELD__COUNT; f++)
        if (!p->seen[f])
            return parse_error(p, "\"%s\" missing", field_names[f]);
    if (st->pin_retries == 0 || st->puk_retries == 0)
        return parse_error(p, "retry limits must be at least 1");
    if (st->pin_tries_left > st->pin_retries || st->puk_tries_left > st->puk_retries)
        return parse_error(p, "tries left exceed the retry limit");
    /* Older state files have no management key: they get the PIV default. */
    if (!p->seen_mgmt_key)
        vt_state_default_mgmt_key(st);
    return check_slots(p, st);
}

static int read_whole_file(const char *path, struct vt_buf *out)
{
    uint8_t chunk[STATE_READ_CHUNK];
    FILE *f = fopen(path, "rbe");
    size_t n;
    int rc = 0;

    if (!f) {
        fprintf(stderr, "vtoken: cannot open state file %s: %s\n", path, strerror(errno));
        return -1;
    }
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (out->len + n > STATE_MAX_BYTES || vt_buf_append(out, chunk, n) < 0) {
            fprintf(stderr, "vtoken: %s: state file too large\n", path);
            rc = -1;
            break;
        }
    }
    if (ferror(f)) {
        fprintf(stderr, "vtoken: cannot read %s: %s\n", path, strerror(errno));
        rc = -1;
    }
    OPENSSL_cleanse(chunk, sizeof chunk);
    fclose(f);
    return rc;
}

static uint32_t text_crc32(const uint8_t *data, size_t len)
{
    return (uint32_t)crc32(crc32(0L, Z_NULL, 0), data, (uInt)len);
}

/* The last line is "crc32=XXXXXXXX" over every byte before it: it catches a
 * truncated or hand-damaged file that would otherwise still parse. */
static int check_crc(const char *path, const struct vt_buf *text, size_t *body_len)
{
    char want_hex[STATE_CRC_HEX_LEN + 1];
    const char *line;
    uint32_t want;

    if (text->len < STATE_CRC_LINE_LEN || text->data[text->len - 1] != '\n')
        goto bad;
    line = (const char *)text->data + text->len - STATE_CRC_LINE_LEN;
    if (line != (const char *)text->data && line[-1] != '\n')
        goto bad;
    if (strncmp(line, STATE_CRC_KEY, sizeof STATE_CRC_KEY - 1) != 0)
        goto bad;
    memcpy(want_hex, line + sizeof STATE_CRC_KEY - 1, STATE_CRC_HEX_LEN);
    want_hex[STATE_CRC_HEX_LEN] = '\0';
    if (sscanf(want_hex, "%8" SCNx32, &want) != 1)
        goto bad;
    *body_len = text->len - STATE_CRC_LINE_LEN;
    if (text_crc32(text->data, *body_len) != want) {
        fprintf(stderr, "vtoken: %s: corrupt state file: checksum mismatch (edited or damaged)\n",
                path);
        return -1;
    }
    return 0;
bad:
    fprintf(stderr, "vtoken: %s: corrupt state file: no final crc32= line (truncated?)\n", path);
    return -1;
}

static int parse_body(struct state_parser *p, struct vt_state *st, char *body)
{
    char *save = NULL;
    char *line;

    /* strtok_r skips empty lines, which the format allows anyway. */
    for (line = strtok_r(body, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        p->line_no++;
        if (parse_line(p, st, line) < 0)
            return -1;
    }
    return check_complete(p, st);
}

int vt_state_load(const char *path, struct vt_state *st)
{
    VT_AUTO_BUF text = {0};
    struct state_parser p = { .path = path };
    size_t body_len;

    memset(st, 0, sizeof *st);
    if (read_whole_file(path, &text) < 0 || check_crc(path, &text, &body_len) < 0)
        return -1;
    if (memchr(text.data, '\0', body_len)) {
        fprintf(stderr, "vtoken: %s: corrupt state file: NUL byte\n", path);
        return -1;
    }
    text.data[body_len] = '\0';
    if (parse_body(&p, st, (char *)text.data) < 0) {
        vt_state_free(st);
        return -1;
    }
    return 0;
}

/* --- writing -------------------------------------------------------------- */

__attribute__((format(printf, 2, 3)))
static int render_line(struct vt_buf *out, const char *fmt, ...)
{
    char line[STATE_SMALL_LINE];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line)
        return -1;
    return vt_buf_append(out, line, (size_t)n);
}

/* Hex of data and the end of the line; the hex may be a secret. */
static int render_hex_value(struct vt_buf *out, const uint8_t *data, size_t len)
{
    char *hex = malloc(2 * len + 1);
    int rc;

    if (!hex)
        return -1;
    vt_hex_encode(data, len, hex);
    rc = vt_buf_append(out, hex, 2 * len) < 0 || vt_buf_append_byte(out, '\n') < 0 ? -1 : 0;
    OPENSSL_cleanse(hex, 2 * len + 1);
    free(hex);
    return rc;
}

static int render_hex_line(struct vt_buf *out, const char *prefix, const char *slot,
                           const uint8_t *data, size_t len)
{
    if (render_line(out, "%s%s=", prefix, slot) < 0)
        return -1;
    return render_hex_value(out, data, len);
}

static int render_identity(struct vt_buf *out, const struct vt_state *st)
{
    char guid[2 * VT_GUID_LEN + 1];

    vt_hex_encode(st->guid, VT_GUID_LEN, guid);
    if (render_line(out, "# ukeyd virtual PIV token state: see docs/virtual-token.md\n") < 0 ||
        render_line(out, "format=%s\n", STATE_FORMAT) < 0 ||
        render_line(out, "serial=%" PRIu32 "\n", st->serial) < 0 ||
        render_line(out, "model=%s\n", st->model) < 0 ||
        render_line(out, "guid=%s\n", guid) < 0 ||
        render_line(out, "version=%u.%u.%u\n", st->version[0], st->version[1],
                    st->version[2]) < 0)
        return -1;
    return 0;
}

static int render_secrets(struct vt_buf *out, const struct vt_state *st)
{
    char pin[2 * VT_REF_DATA_LEN + 1], puk[2 * VT_REF_DATA_LEN + 1];
    int rc;

    vt_hex_encode(st->pin, VT_REF_DATA_LEN, pin);
    vt_hex_encode(st->puk, VT_REF_DATA_LEN, puk);
    rc = render_line(out, "pin=%s\npin-retries=%u\npin-tries-left=%u\n", pin,
                     st->pin_retries, st->pin_tries_left) < 0 ||
         render_line(out, "puk=%s\npuk-retries=%u\npuk-tries-left=%u\n", puk,
                     st->puk_retries, st->puk_tries_left) < 0 ? -1 : 0;
    OPENSSL_cleanse(pin, sizeof pin);
    OPENSSL_cleanse(puk, sizeof puk);
    return rc;
}

static int render_slot_infos(struct vt_buf *out, const struct vt_state *st, int i)
{
    const struct vt_key_info *ki = &st->key_info[i];

    if (st->cert[i].len && st->cert_info[i] != VT_CERT_INFO_PLAIN &&
        render_line(out, "%s%s=%02X\n", STATE_CERT_INFO_PREFIX, slots[i].name,
                    st->cert_info[i]) < 0)
        return -1;
    if (st->key[i].len &&
        render_line(out, "%s%s=%02X%02X%02X\n", STATE_KEY_INFO_PREFIX, slots[i].name,
                    ki->origin, ki->pin_policy, ki->touch_policy) < 0)
        return -1;
    return 0;
}

static int render_slots(struct vt_buf *out, const struct vt_state *st)
{
    for (int i = 0; i < VT_SLOT_COUNT; i++) {
        const char *name = slots[i].name;

        if (st->cert[i].len && render_hex_line(out, STATE_CERT_PREFIX, name, st->cert[i].data,
                                               st->cert[i].len) < 0)
            return -1;
        if (st->key[i].len && render_hex_line(out, STATE_KEY_PREFIX, name, st->key[i].data,
                                              st->key[i].len) < 0)
            return -1;
        if (render_slot_infos(out, st, i) < 0)
            return -1;
    }
    return 0;
}

static int render_objects(struct vt_buf *out, const struct vt_state *st)
{
    for (int i = 0; i < VT_OBJECTS_MAX; i++) {
        char tag[sizeof "FFFFFFFF"];

        if (st->objects[i].tag == 0)
            continue;
        snprintf(tag, sizeof tag, "%06" PRIX32, st->objects[i].tag);
        if (render_hex_line(out, STATE_OBJECT_PREFIX, tag, st->objects[i].value.data,
                            st->objects[i].value.len) < 0)
            return -1;
    }
    return 0;
}

static int render_mgmt_key(struct vt_buf *out, const struct vt_state *st)
{
    const struct vt_mgmt_alg *alg = vt_mgmt_alg_by_id(st->mgmt_alg);

    if (!alg || render_line(out, "%s=%s:", STATE_MGMT_KEY, alg->name) < 0)
        return -1;
    return render_hex_value(out, st->mgmt_key, alg->key_len);
}

static int render_state(struct vt_buf *out, const struct vt_state *st)
{
    if (render_identity(out, st) < 0 || render_secrets(out, st) < 0 ||
        render_mgmt_key(out, st) < 0 || render_slots(out, st) < 0 ||
        render_objects(out, st) < 0)
        return -1;
    return render_line(out, STATE_CRC_KEY "%08" PRIX32 "\n", text_crc32(out->data, out->len));
}

static int write_all(int fd, const uint8_t *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static int fsync_parent_dir(const char *path)
{
    char *copy = strdup(path);
    int fd, rc = -1;

    if (!copy)
        return -1;
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        rc = fsync(fd);
        close(fd);
    }
    free(copy);
    return rc;
}

/* tmp_path ends in XXXXXX, which mkostemp replaces with the name it made. */
static int write_temp_file(char *tmp_path, const struct vt_buf *text)
{
    int fd = mkostemp(tmp_path, O_CLOEXEC);
    int fd_to_close, saved;

    if (fd < 0)
        return -1;
    if (write_all(fd, text->data, text->len) < 0 || fsync(fd) < 0)
        goto fail;
    fd_to_close = fd;
    fd = -1;
    if (close(fd_to_close) < 0)
        goto fail;
    return 0;
fail:
    saved = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp_path);
    errno = saved;
    return -1;
}

int vt_state_save(const char *path, const struct vt_state *st)
{
    VT_AUTO_BUF text = {0};
    char *tmp_path = NULL;
    int rc = -1;

    if (render_state(&text, st) < 0) {
        fprintf(stderr, "vtoken: cannot render state (out of memory or model too long)\n");
        return -1;
    }
    if (asprintf(&tmp_path, "%s.tmp-XXXXXX", path) < 0) {
        tmp_path = NULL;
        fprintf(stderr, "vtoken: out of memory saving %s\n", path);
        goto out;
    }
    if (write_temp_file(tmp_path, &text) < 0) {
        fprintf(stderr, "vtoken: cannot write a temporary file beside %s: %s\n", path,
                strerror(errno));
        goto out;
    }
    if (rename(tmp_path, path) < 0) {
        fprintf(stderr, "vtoken: cannot rename to %s: %s\n", path, strerror(errno));
        unlink(tmp_path);
        goto out;
    }
    if (fsync_parent_dir(path) < 0) {
        fprintf(stderr, "vtoken: cannot sync directory of %s: %s\n", path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    free(tmp_path);
    return rc;
}
