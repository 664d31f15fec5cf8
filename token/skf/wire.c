/* SPDX-License-Identifier: MIT */
/* token/skf/wire.c — frames of the SKF helper protocol: parser and encoder (see wire.h). */
#include <string.h>

#include "token/skf/wire.h"

struct tag_rule {
    uint8_t type;
    bool repeatable;
};

static const struct tag_rule tag_rules[SKF_TAG__END] = {
    [SKF_TAG_STATUS] = { SKF_T_U32, false },
    [SKF_TAG_SAR] = { SKF_T_U32, false },
    [SKF_TAG_DETAIL] = { SKF_T_STR, false },
    [SKF_TAG_DEVICE] = { SKF_T_STR, false },
    [SKF_TAG_APP] = { SKF_T_STR, false },
    [SKF_TAG_CONTAINER] = { SKF_T_STR, false },
    [SKF_TAG_NAME] = { SKF_T_STR, true },
    [SKF_TAG_PIN_ROLE] = { SKF_T_U32, false },
    [SKF_TAG_PIN] = { SKF_T_STR, false },
    [SKF_TAG_NEW_PIN] = { SKF_T_STR, false },
    [SKF_TAG_SIGN] = { SKF_T_U32, false },
    [SKF_TAG_CERT] = { SKF_T_BYTES, false },
    [SKF_TAG_TRIES_LEFT] = { SKF_T_U32, false },
    [SKF_TAG_TRIES_MAX] = { SKF_T_U32, false },
    [SKF_TAG_DEFAULT_PIN] = { SKF_T_U32, false },
    [SKF_TAG_CONTAINER_TYPE] = { SKF_T_U32, false },
    [SKF_TAG_LENGTH] = { SKF_T_U32, false },
    [SKF_TAG_BLOB] = { SKF_T_BYTES, false },
    [SKF_TAG_EVENT] = { SKF_T_U32, false },
    [SKF_TAG_MANUFACTURER] = { SKF_T_STR, false },
    [SKF_TAG_ISSUER] = { SKF_T_STR, false },
    [SKF_TAG_LABEL] = { SKF_T_STR, false },
    [SKF_TAG_SERIAL] = { SKF_T_STR, false },
    [SKF_TAG_VERSIONS] = { SKF_T_U32, false },
    [SKF_TAG_FW_VERSION] = { SKF_T_U32, false },
    [SKF_TAG_ALG_SYM] = { SKF_T_U32, false },
    [SKF_TAG_ALG_ASYM] = { SKF_T_U32, false },
    [SKF_TAG_ALG_HASH] = { SKF_T_U32, false },
    [SKF_TAG_TOTAL_SPACE] = { SKF_T_U32, false },
    [SKF_TAG_FREE_SPACE] = { SKF_T_U32, false },
    [SKF_TAG_CAPS] = { SKF_T_U32, false },
    [SKF_TAG_BOOL_BITS] = { SKF_T_U32, false },
    [SKF_TAG_ULONG_BITS] = { SKF_T_U32, false },
    [SKF_TAG_DEVINFO_PACKED] = { SKF_T_U32, false },
    [SKF_TAG_PIN_SWAPPED] = { SKF_T_U32, false },
    [SKF_TAG_GLOBAL_DEVICE] = { SKF_T_U32, false },
    [SKF_TAG_EVENT_MODE] = { SKF_T_U32, false },
    [SKF_TAG_POLL_MS] = { SKF_T_U32, false },
    [SKF_TAG_PID] = { SKF_T_U32, false },
    [SKF_TAG_EC_POINT] = { SKF_T_BYTES, false },
    [SKF_TAG_DIGEST] = { SKF_T_BYTES, false },
    [SKF_TAG_SIGNATURE] = { SKF_T_BYTES, false },
    [SKF_TAG_RESUME] = { SKF_T_U32, false },
    [SKF_TAG_ENTRY_CONTAINER] = { SKF_T_STR, true },
    [SKF_TAG_ENTRY_TYPE] = { SKF_T_U32, true },
    [SKF_TAG_SIGN_CERT] = { SKF_T_BYTES, true },
    [SKF_TAG_ENC_CERT] = { SKF_T_BYTES, true },
    [SKF_TAG_SEALS] = { SKF_T_U32, false },
};

#define U32_LEN 4

const char *skf_wire_err_name(enum skf_wire_err e)
{
    static const char *const names[SKF_WIRE_E__COUNT] = {
        [SKF_WIRE_OK] = "ok",
        [SKF_WIRE_E_SHORT] = "short frame",
        [SKF_WIRE_E_TOO_LONG] = "frame too long",
        [SKF_WIRE_E_VERSION] = "unknown version",
        [SKF_WIRE_E_KIND] = "unknown kind",
        [SKF_WIRE_E_OP] = "unknown op for its kind",
        [SKF_WIRE_E_FIELD_TRUNCATED] = "field truncated",
        [SKF_WIRE_E_TAG] = "unknown tag",
        [SKF_WIRE_E_TYPE] = "type is not the tag's",
        [SKF_WIRE_E_VALUE] = "value breaks its type's rules",
        [SKF_WIRE_E_DUPLICATE] = "field repeated",
        [SKF_WIRE_E_TOO_MANY_FIELDS] = "too many fields",
    };

    return (unsigned)e < SKF_WIRE_E__COUNT ? names[e] : "unknown";
}

const char *skf_wire_op_name(unsigned op)
{
    static const char *const names[SKF_OP__END] = {
        [SKF_OP_HELLO] = "HELLO",
        [SKF_OP_LIST_DEVICES] = "LIST_DEVICES",
        [SKF_OP_DEVICE_INFO] = "DEVICE_INFO",
        [SKF_OP_LIST_APPS] = "LIST_APPS",
        [SKF_OP_LIST_CONTAINERS] = "LIST_CONTAINERS",
        [SKF_OP_CONTAINER_TYPE] = "CONTAINER_TYPE",
        [SKF_OP_EXPORT_CERT] = "EXPORT_CERT",
        [SKF_OP_PIN_INFO] = "PIN_INFO",
        [SKF_OP_VERIFY_PIN] = "VERIFY_PIN",
        [SKF_OP_CHANGE_PIN] = "CHANGE_PIN",
        [SKF_OP_UNBLOCK_PIN] = "UNBLOCK_PIN",
        [SKF_OP_CLEAR_STATE] = "CLEAR_STATE",
        [SKF_OP_REMOTE_UNBLOCK_REQUEST] = "REMOTE_UNBLOCK_REQUEST",
        [SKF_OP_REMOTE_UNBLOCK] = "REMOTE_UNBLOCK",
        [SKF_OP_WATCH] = "WATCH",
        [SKF_OP_DEVICE_EVENT] = "DEVICE_EVENT",
        [SKF_OP_EXPORT_PUBLIC_KEY] = "EXPORT_PUBLIC_KEY",
        [SKF_OP_GEN_SIGN_KEY] = "GEN_SIGN_KEY",
        [SKF_OP_SIGN_DIGEST] = "SIGN_DIGEST",
        [SKF_OP_IMPORT_CERT] = "IMPORT_CERT",
        [SKF_OP_READ_DEVICE] = "READ_DEVICE",
    };

    return op < SKF_OP__END && names[op] ? names[op] : "UNKNOWN";
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

enum skf_wire_type skf_wire_tag_type(unsigned tag)
{
    return tag < SKF_TAG__END ? (enum skf_wire_type)tag_rules[tag].type : 0;
}

enum skf_wire_err skf_wire_frame_size(const uint8_t *prefix, size_t *total)
{
    uint32_t declared = get_be32(prefix);

    if (declared < SKF_WIRE_HEADER_LEN)
        return SKF_WIRE_E_SHORT;
    if (declared > SKF_WIRE_FRAME_MAX - SKF_WIRE_PREFIX_LEN)
        return SKF_WIRE_E_TOO_LONG;
    *total = SKF_WIRE_PREFIX_LEN + (size_t)declared;
    return SKF_WIRE_OK;
}

/* An op number that was and is no more (wire.h): a frame naming it is
 * refused, so it can never mean anything again. */
#define RETIRED_OP_FILE_HEADS 21

static bool op_fits_kind(unsigned kind, unsigned op)
{
    if (kind == SKF_KIND_EVENT)
        return op == SKF_OP_DEVICE_EVENT;
    return op >= SKF_OP_HELLO && op < SKF_OP__END && op != SKF_OP_DEVICE_EVENT &&
           op != RETIRED_OP_FILE_HEADS;
}

static enum skf_wire_err check_value(unsigned type, const uint8_t *val, uint32_t len)
{
    switch (type) {
    case SKF_T_U32:
        return len == U32_LEN ? SKF_WIRE_OK : SKF_WIRE_E_VALUE;
    case SKF_T_STR:
        if (len > SKF_WIRE_STR_MAX || (len && memchr(val, '\0', len)))
            return SKF_WIRE_E_VALUE;
        return SKF_WIRE_OK;
    default:
        return len <= SKF_WIRE_BYTES_MAX ? SKF_WIRE_OK : SKF_WIRE_E_VALUE;
    }
}

static bool seen_before(const struct skf_frame *f, unsigned tag)
{
    for (size_t i = 0; i < f->nfields; i++)
        if (f->fields[i].tag == tag)
            return true;
    return false;
}

static enum skf_wire_err parse_fields(const uint8_t *p, size_t left, struct skf_frame *out)
{
    while (left > 0) {
        struct skf_field *fl;
        unsigned tag, type;
        uint32_t len;
        enum skf_wire_err e;

        if (left < SKF_WIRE_FIELD_HEADER)
            return SKF_WIRE_E_FIELD_TRUNCATED;
        tag = p[0];
        type = p[1];
        len = get_be32(p + 2);
        p += SKF_WIRE_FIELD_HEADER;
        left -= SKF_WIRE_FIELD_HEADER;
        if (len > left)
            return SKF_WIRE_E_FIELD_TRUNCATED;
        if (skf_wire_tag_type(tag) == 0)
            return SKF_WIRE_E_TAG;
        if (type != skf_wire_tag_type(tag))
            return SKF_WIRE_E_TYPE;
        if ((e = check_value(type, p, len)) != SKF_WIRE_OK)
            return e;
        if (!tag_rules[tag].repeatable && seen_before(out, tag))
            return SKF_WIRE_E_DUPLICATE;
        if (out->nfields == SKF_WIRE_FIELDS_MAX)
            return SKF_WIRE_E_TOO_MANY_FIELDS;
        fl = &out->fields[out->nfields++];
        fl->tag = (uint8_t)tag;
        fl->type = (uint8_t)type;
        fl->len = len;
        fl->val = p;
        p += len;
        left -= len;
    }
    return SKF_WIRE_OK;
}

enum skf_wire_err skf_wire_parse(const uint8_t *buf, size_t len, struct skf_frame *out)
{
    const uint8_t *h = buf + SKF_WIRE_PREFIX_LEN;
    size_t total;
    enum skf_wire_err e;

    out->nfields = 0;
    if (len < SKF_WIRE_PREFIX_LEN + SKF_WIRE_HEADER_LEN)
        return SKF_WIRE_E_SHORT;
    if ((e = skf_wire_frame_size(buf, &total)) != SKF_WIRE_OK)
        return e;
    if (len < total)
        return SKF_WIRE_E_SHORT;
    if (len > total)
        return SKF_WIRE_E_TOO_LONG;
    out->version = h[0];
    out->kind = h[1];
    out->op = (uint16_t)(h[2] << 8 | h[3]);
    out->id = get_be32(h + 4);
    if (out->version != SKF_WIRE_VERSION)
        return SKF_WIRE_E_VERSION;
    if (out->kind < SKF_KIND_REQUEST || out->kind > SKF_KIND_EVENT)
        return SKF_WIRE_E_KIND;
    if (!op_fits_kind(out->kind, out->op))
        return SKF_WIRE_E_OP;
    return parse_fields(h + SKF_WIRE_HEADER_LEN, total - SKF_WIRE_PREFIX_LEN - SKF_WIRE_HEADER_LEN, out);
}

const struct skf_field *skf_frame_next(const struct skf_frame *f, unsigned tag, size_t *cursor)
{
    for (; *cursor < f->nfields; (*cursor)++)
        if (f->fields[*cursor].tag == tag)
            return &f->fields[(*cursor)++];
    return NULL;
}

const struct skf_field *skf_frame_get(const struct skf_frame *f, unsigned tag)
{
    size_t cursor = 0;

    return skf_frame_next(f, tag, &cursor);
}

bool skf_frame_u32(const struct skf_frame *f, unsigned tag, uint32_t *out)
{
    const struct skf_field *fl = skf_frame_get(f, tag);

    if (!fl || fl->type != SKF_T_U32)
        return false;
    *out = get_be32(fl->val);
    return true;
}

bool skf_frame_str(const struct skf_frame *f, unsigned tag, char *dst, size_t cap)
{
    const struct skf_field *fl = skf_frame_get(f, tag);

    if (!fl || fl->type != SKF_T_STR || fl->len >= cap)
        return false;
    memcpy(dst, fl->val, fl->len);
    dst[fl->len] = '\0';
    return true;
}

static bool is_entry_tag(unsigned tag)
{
    return tag == SKF_TAG_ENTRY_CONTAINER || tag == SKF_TAG_ENTRY_TYPE || tag == SKF_TAG_SIGN_CERT ||
           tag == SKF_TAG_ENC_CERT;
}

int skf_frame_next_cert(const struct skf_frame *f, size_t *cursor, struct skf_cert_entry *out)
{
    const struct skf_field *con, *type, *cert;

    while (*cursor < f->nfields && !is_entry_tag(f->fields[*cursor].tag))
        (*cursor)++;
    if (*cursor >= f->nfields)
        return 0;
    if (f->nfields - *cursor < 3)
        return -1;
    con = &f->fields[*cursor];
    type = con + 1;
    cert = con + 2;
    if (con->tag != SKF_TAG_ENTRY_CONTAINER || con->len == 0 || con->len > SKF_WIRE_NAME_MAX ||
        type->tag != SKF_TAG_ENTRY_TYPE ||
        (cert->tag != SKF_TAG_SIGN_CERT && cert->tag != SKF_TAG_ENC_CERT) || cert->len == 0)
        return -1;
    out->container = (const char *)con->val;
    out->container_len = con->len;
    out->container_type = get_be32(type->val);
    out->sign = cert->tag == SKF_TAG_SIGN_CERT;
    out->der = cert->val;
    out->der_len = cert->len;
    *cursor += 3;
    return 1;
}

/* --- encoder ------------------------------------------------------------ */

void skf_wire_begin(struct skf_wire_out *w, uint8_t *buf, size_t cap,
                    enum skf_wire_kind kind, unsigned op, uint32_t id)
{
    w->buf = buf;
    w->cap = cap < SKF_WIRE_FRAME_MAX ? cap : SKF_WIRE_FRAME_MAX;
    w->len = SKF_WIRE_PREFIX_LEN + SKF_WIRE_HEADER_LEN;
    w->failed = w->cap < w->len;
    if (w->failed)
        return;
    buf[4] = SKF_WIRE_VERSION;
    buf[5] = (uint8_t)kind;
    buf[6] = (uint8_t)(op >> 8);
    buf[7] = (uint8_t)op;
    put_be32(buf + 8, id);
}

static void put_field(struct skf_wire_out *w, unsigned tag, unsigned type, const void *p, size_t n)
{
    if (w->failed)
        return;
    if (skf_wire_tag_type(tag) != type || n > UINT32_MAX ||
        check_value(type, p, (uint32_t)n) != SKF_WIRE_OK ||
        w->cap - w->len < SKF_WIRE_FIELD_HEADER + n) {
        w->failed = true;
        return;
    }
    w->buf[w->len] = (uint8_t)tag;
    w->buf[w->len + 1] = (uint8_t)type;
    put_be32(w->buf + w->len + 2, (uint32_t)n);
    if (n)
        memcpy(w->buf + w->len + SKF_WIRE_FIELD_HEADER, p, n);
    w->len += SKF_WIRE_FIELD_HEADER + n;
}

void skf_wire_u32(struct skf_wire_out *w, unsigned tag, uint32_t v)
{
    uint8_t be[U32_LEN];

    put_be32(be, v);
    put_field(w, tag, SKF_T_U32, be, sizeof be);
}

void skf_wire_str(struct skf_wire_out *w, unsigned tag, const char *s)
{
    if (!s) {
        w->failed = true;
        return;
    }
    put_field(w, tag, SKF_T_STR, s, strnlen(s, SKF_WIRE_STR_MAX + 1));
}

void skf_wire_bytes(struct skf_wire_out *w, unsigned tag, const void *p, size_t n)
{
    put_field(w, tag, SKF_T_BYTES, p, n);
}

size_t skf_wire_end(struct skf_wire_out *w)
{
    if (w->failed)
        return 0;
    put_be32(w->buf, (uint32_t)(w->len - SKF_WIRE_PREFIX_LEN));
    return w->len;
}

void skf_wire_wipe(void *buf, size_t len)
{
    if (buf && len)
        explicit_bzero(buf, len);
}
