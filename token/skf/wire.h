/* SPDX-License-Identifier: MIT */
/*
 * token/skf/wire.h — the framed protocol between ukeyd and its SKF helper
 * processes (docs/skf-helper.md): frame layout, operations, field tags, the
 * strict parser and the encoder. Both sides use this one module.
 *
 *   frame  = length:u32be  version:u8  kind:u8  op:u16be  id:u32be  field*
 *   field  = tag:u8  type:u8  length:u32be  value[length]
 *
 * `length` counts every byte after itself. The parser refuses anything
 * outside the limits below, any unknown version, kind, op or tag, a type that
 * is not the tag's, a u32 that is not 4 bytes, a string holding a NUL, a
 * field repeated that may not be, and trailing bytes. A parsed frame points
 * into the caller's buffer; whoever owns the buffer wipes it (PINs travel).
 */
#ifndef UKEYD_TOKEN_SKF_WIRE_H
#define UKEYD_TOKEN_SKF_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SKF_WIRE_VERSION       1
#define SKF_WIRE_PREFIX_LEN    4                     /* the length prefix */
#define SKF_WIRE_HEADER_LEN    8                     /* version, kind, op, id */
#define SKF_WIRE_FIELD_HEADER  6                     /* tag, type, length */
#define SKF_WIRE_FRAME_MAX     (64 * 1024)           /* whole frame, prefix included */
#define SKF_WIRE_FIELDS_MAX    80                    /* a device list of 64 names and more */
#define SKF_WIRE_STR_MAX       1024                  /* labels, details */
#define SKF_WIRE_NAME_MAX      256                   /* a device, application or container name */
#define SKF_WIRE_BYTES_MAX     (48 * 1024)           /* a certificate, a challenge */

enum skf_wire_kind {
    SKF_KIND_REQUEST = 1,     /* ukeyd -> helper, on the call channel */
    SKF_KIND_RESPONSE = 2,    /* helper -> ukeyd, same op and id, on the call channel */
    SKF_KIND_EVENT = 3,       /* helper -> ukeyd, id 0, on the event channel */
};

enum skf_op {
    SKF_OP_HELLO = 1,                  /* profile in; capabilities out */
    SKF_OP_LIST_DEVICES = 2,
    SKF_OP_DEVICE_INFO = 3,
    SKF_OP_LIST_APPS = 4,
    SKF_OP_LIST_CONTAINERS = 5,
    SKF_OP_CONTAINER_TYPE = 6,
    SKF_OP_EXPORT_CERT = 7,
    SKF_OP_PIN_INFO = 8,
    SKF_OP_VERIFY_PIN = 9,
    SKF_OP_CHANGE_PIN = 10,
    SKF_OP_UNBLOCK_PIN = 11,
    SKF_OP_CLEAR_STATE = 12,
    SKF_OP_REMOTE_UNBLOCK_REQUEST = 13,
    SKF_OP_REMOTE_UNBLOCK = 14,
    SKF_OP_WATCH = 15,                 /* start sending device events */
    SKF_OP_DEVICE_EVENT = 16,          /* the one event op */
    /* certificate writes (docs/cert-protocol.md, "SKF keys"): each verifies
     * the user PIN it carries, acts, and clears the secure state */
    SKF_OP_EXPORT_PUBLIC_KEY = 17,     /* a container's signing key; no PIN */
    SKF_OP_GEN_SIGN_KEY = 18,          /* a new SM2 signing key pair in the container */
    SKF_OP_SIGN_DIGEST = 19,           /* SKF_ECCSignData with the container's signing key */
    SKF_OP_IMPORT_CERT = 20,           /* SKF_ImportCertificate, signing or encryption */
    /* 21 was FILE_HEADS (each file's first bytes, for the seal count): the
     * count is READ_DEVICE's SEALS now. Retired: never reused, never parsed */
    /* a whole device in one round trip (docs/skf-helper.md, "Reading a
     * device"): device info, the PIN application with its user PIN's info and
     * the certificates of its containers and how many of its files are
     * electronic seals; RESUME asks for the rest of the certificates when
     * they did not all fit in one frame. No PIN. */
    SKF_OP_READ_DEVICE = 22,
    SKF_OP__END
};

enum skf_wire_type {
    SKF_T_U32 = 1,
    SKF_T_STR = 2,            /* bytes without NUL, at most SKF_WIRE_STR_MAX */
    SKF_T_BYTES = 3,          /* at most SKF_WIRE_BYTES_MAX */
};

/* Field tags; each has one type (skf_wire_tag_type). Numbers are for good. */
enum skf_tag {
    SKF_TAG_STATUS = 1,        /* u32 skf_err: every response has it */
    SKF_TAG_SAR = 2,           /* u32 the library's raw SAR_* code, when it gave one */
    SKF_TAG_DETAIL = 3,        /* str one line for the log: never a secret */
    SKF_TAG_DEVICE = 4,        /* str device name */
    SKF_TAG_APP = 5,           /* str application name */
    SKF_TAG_CONTAINER = 6,     /* str container name */
    SKF_TAG_NAME = 7,          /* str, repeatable: the entries of a list */
    SKF_TAG_PIN_ROLE = 8,      /* u32 enum skf_pin_role */
    SKF_TAG_PIN = 9,           /* str secret: the PIN (or the admin PIN to unblock with) */
    SKF_TAG_NEW_PIN = 10,      /* str secret */
    SKF_TAG_SIGN = 11,         /* u32 1: the signing certificate, 0: the encryption one */
    SKF_TAG_CERT = 12,         /* bytes DER */
    SKF_TAG_TRIES_LEFT = 13,   /* u32 */
    SKF_TAG_TRIES_MAX = 14,    /* u32 */
    SKF_TAG_DEFAULT_PIN = 15,  /* u32 1 if the PIN is still the factory's */
    SKF_TAG_CONTAINER_TYPE = 16, /* u32 0 empty, 1 RSA, 2 ECC */
    SKF_TAG_LENGTH = 17,       /* u32 challenge length asked for */
    SKF_TAG_BLOB = 18,         /* bytes challenge, or the CA's answer */
    SKF_TAG_EVENT = 19,        /* u32 enum skf_event_kind */
    SKF_TAG_MANUFACTURER = 20, /* str */
    SKF_TAG_ISSUER = 21,       /* str */
    SKF_TAG_LABEL = 22,        /* str */
    SKF_TAG_SERIAL = 23,       /* str */
    SKF_TAG_VERSIONS = 24,     /* u32 DEVINFO Version << 16 | HWVersion; FirmwareVersion apart */
    SKF_TAG_FW_VERSION = 25,   /* u32 */
    SKF_TAG_ALG_SYM = 26,      /* u32 */
    SKF_TAG_ALG_ASYM = 27,     /* u32 */
    SKF_TAG_ALG_HASH = 28,     /* u32 */
    SKF_TAG_TOTAL_SPACE = 29,  /* u32 */
    SKF_TAG_FREE_SPACE = 30,   /* u32 */
    SKF_TAG_CAPS = 31,         /* u32 SKF_CAP_* the library has */
    SKF_TAG_BOOL_BITS = 32,    /* u32 profile fields, in HELLO */
    SKF_TAG_ULONG_BITS = 33,
    SKF_TAG_DEVINFO_PACKED = 34,
    SKF_TAG_PIN_SWAPPED = 35,
    SKF_TAG_GLOBAL_DEVICE = 36,
    SKF_TAG_EVENT_MODE = 37,
    SKF_TAG_POLL_MS = 38,
    SKF_TAG_PID = 39,          /* u32 the helper's pid, in its HELLO answer */
    SKF_TAG_EC_POINT = 40,     /* bytes an SM2 public key: X || Y, SKF_EC_COORD_LEN each */
    SKF_TAG_DIGEST = 41,       /* bytes e = SM3(Z || M), SKF_SM3_LEN */
    SKF_TAG_SIGNATURE = 42,    /* bytes r || s, SKF_EC_COORD_LEN each */
    /* 43 was FILE_HEAD, FILE_HEADS's answer: retired with it, never reused */
    /* READ_DEVICE: the certificate slot (2 * container index, + 1 for the
     * encryption one) to go on from; in an answer, that more are left */
    SKF_TAG_RESUME = 44,       /* u32 */
    /* READ_DEVICE's certificates, each as three fields in this order (see
     * skf_frame_next_cert): the container, its type, the certificate */
    SKF_TAG_ENTRY_CONTAINER = 45, /* str, repeatable */
    SKF_TAG_ENTRY_TYPE = 46,   /* u32, repeatable */
    SKF_TAG_SIGN_CERT = 47,    /* bytes DER, repeatable */
    SKF_TAG_ENC_CERT = 48,     /* bytes DER, repeatable */
    /* READ_DEVICE's first answer: how many files of the PIN application are
     * seals (token/skf/seal.h); absent when they could not be read */
    SKF_TAG_SEALS = 49,        /* u32 */
    SKF_TAG__END
};

/* What the library offers beyond the required functions (SKF_TAG_CAPS). */
#define SKF_CAP_WAIT_FOR_DEV_EVENT   (1u << 0)
#define SKF_CAP_CANCEL_WAIT          (1u << 1)
#define SKF_CAP_REMOTE_UNBLOCK       (1u << 2)   /* both functions of the extension */
/* SKF_GenECCKeyPair, SKF_ECCSignData, SKF_ImportCertificate, SKF_ExportPublicKey */
#define SKF_CAP_CERT_WRITE           (1u << 3)
/* SKF_EnumFiles and SKF_ReadFile: the application's files can be read */
#define SKF_CAP_FILES                (1u << 4)

/* How much of each file the helper reads to count seals: enough for the DER
 * headers that tell an electronic seal (token/skf/seal.h). */
#define SKF_FILE_HEAD_LEN            32

/* SM2 values as the protocol carries them: 256-bit coordinates and scalars,
 * big-endian without the blobs' left padding; an SM3 digest. */
#define SKF_EC_COORD_LEN             32
#define SKF_SM3_LEN                  32

enum skf_event_kind {
    SKF_EVENT_INSERTED = 1,
    SKF_EVENT_REMOVED = 2,
};

enum skf_wire_err {
    SKF_WIRE_OK = 0,
    SKF_WIRE_E_SHORT,          /* fewer bytes than a header, or than the prefix says */
    SKF_WIRE_E_TOO_LONG,       /* prefix beyond SKF_WIRE_FRAME_MAX, or bytes beyond the prefix */
    SKF_WIRE_E_VERSION,
    SKF_WIRE_E_KIND,
    SKF_WIRE_E_OP,             /* unknown op, or an op the kind cannot carry */
    SKF_WIRE_E_FIELD_TRUNCATED,
    SKF_WIRE_E_TAG,
    SKF_WIRE_E_TYPE,
    SKF_WIRE_E_VALUE,          /* u32 not 4 bytes, string with NUL or too long, bytes too long */
    SKF_WIRE_E_DUPLICATE,
    SKF_WIRE_E_TOO_MANY_FIELDS,
    SKF_WIRE_E__COUNT
};

const char *skf_wire_err_name(enum skf_wire_err e);

/* "VERIFY_PIN" and so on, for logs; never NULL. */
const char *skf_wire_op_name(unsigned op);

struct skf_field {
    uint8_t tag;
    uint8_t type;
    uint32_t len;
    const uint8_t *val;        /* into the parsed buffer */
};

struct skf_frame {
    uint8_t version;
    uint8_t kind;
    uint16_t op;
    uint32_t id;
    size_t nfields;
    struct skf_field fields[SKF_WIRE_FIELDS_MAX];
};

/* From the first SKF_WIRE_PREFIX_LEN bytes: the whole frame's size, prefix
 * included, or an error if it cannot be a frame (read no further). */
enum skf_wire_err skf_wire_frame_size(const uint8_t *prefix, size_t *total);

/* Parses exactly one whole frame of `len` bytes (prefix included). */
enum skf_wire_err skf_wire_parse(const uint8_t *buf, size_t len, struct skf_frame *out);

/* The type a tag carries, or 0 for an unknown tag. */
enum skf_wire_type skf_wire_tag_type(unsigned tag);

/* Field access. `get` finds the first field with the tag; `next` walks the
 * repeated ones (start with *cursor = 0). `str` copies and terminates, false
 * if absent or if it does not fit. */
const struct skf_field *skf_frame_get(const struct skf_frame *f, unsigned tag);
const struct skf_field *skf_frame_next(const struct skf_frame *f, unsigned tag, size_t *cursor);
bool skf_frame_u32(const struct skf_frame *f, unsigned tag, uint32_t *out);
bool skf_frame_str(const struct skf_frame *f, unsigned tag, char *dst, size_t cap);

/* One certificate of a READ_DEVICE answer; pointers into the frame. */
struct skf_cert_entry {
    const char *container;     /* not terminated: container_len bytes */
    size_t container_len;      /* 1 .. SKF_WIRE_NAME_MAX */
    uint32_t container_type;
    bool sign;
    const uint8_t *der;
    size_t der_len;            /* at least 1 */
};

/* Walks a READ_DEVICE answer's certificates in order (start with *cursor =
 * 0): 1 and *out filled, 0 at the end, -1 if the entries break their shape
 * (a field out of its triple, an empty name or certificate, a name too long). */
int skf_frame_next_cert(const struct skf_frame *f, size_t *cursor, struct skf_cert_entry *out);

/* The encoder writes into a caller's buffer; a field that would overflow it
 * or break a limit marks the frame failed, and skf_wire_end says so. */
struct skf_wire_out {
    uint8_t *buf;
    size_t cap;
    size_t len;
    bool failed;
};

void skf_wire_begin(struct skf_wire_out *w, uint8_t *buf, size_t cap,
                    enum skf_wire_kind kind, unsigned op, uint32_t id);
void skf_wire_u32(struct skf_wire_out *w, unsigned tag, uint32_t v);
void skf_wire_str(struct skf_wire_out *w, unsigned tag, const char *s);
void skf_wire_bytes(struct skf_wire_out *w, unsigned tag, const void *p, size_t n);
/* Writes the length prefix; returns the frame's size, or 0 if it failed. */
size_t skf_wire_end(struct skf_wire_out *w);

/* Wipes a buffer that held frames (they may have carried PINs). */
void skf_wire_wipe(void *buf, size_t len);

#endif
