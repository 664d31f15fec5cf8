/* SPDX-License-Identifier: MIT */
/*
 * tests/vtoken/state.h — everything a virtual PIV token remembers between
 * connections and process restarts (PIN, PUK, retry counters, identity,
 * certificates, keys), the PIV key slots it knows, and the state file that
 * holds it. The file format is described in docs/virtual-token.md.
 */
#ifndef UKEYD_VTOKEN_STATE_H
#define UKEYD_VTOKEN_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "tests/vtoken/buf.h"
#include "tests/vtoken/mgmt.h"

/* PIV reference data (PIN, PUK) travels and is stored padded with FF. */
#define VT_REF_DATA_LEN      8
#define VT_REF_DATA_MIN_LEN  6
#define VT_REF_DATA_PAD      0xFF
#define VT_GUID_LEN          16
#define VT_VERSION_LEN       3
/* 63Cx carries the tries left in four bits. */
#define VT_RETRIES_MAX       15
#define VT_RETRIES_DEFAULT   3
#define VT_MODEL_MAX         127

/* 9A, 9C, 9D, 9E and the twenty retired key-management slots 82..95. */
#define VT_SLOT_COUNT        24

/* GET METADATA's key origin, PIN policy and touch policy values (YubiKey). */
#define VT_KEY_ORIGIN_GENERATED  0x01
#define VT_KEY_ORIGIN_IMPORTED   0x02
#define VT_PIN_POLICY_NEVER      0x01
#define VT_PIN_POLICY_ONCE       0x02
#define VT_PIN_POLICY_ALWAYS     0x03
#define VT_TOUCH_POLICY_NEVER    0x01
#define VT_TOUCH_POLICY_ALWAYS   0x02
#define VT_TOUCH_POLICY_CACHED   0x03

/* Certificate object CertInfo (SP 800-73-4 part 1 table 10): bit 0 says
 * the certificate is gzip-compressed. */
#define VT_CERT_INFO_PLAIN       0x00
#define VT_CERT_INFO_GZIP        0x01

/* Data objects other than certificates a client has written (CHUID, CCC,
 * key history, ...), kept as written; at most this many. */
#define VT_OBJECTS_MAX           16

struct vt_key_info {
    uint8_t origin;
    uint8_t pin_policy;
    uint8_t touch_policy;
};

struct vt_object {
    uint32_t tag;          /* 0 when the entry is unused */
    struct vt_buf value;   /* the content of the 53 container */
};

struct vt_slot {
    uint8_t key_ref;       /* 0x9A ... */
    uint32_t object_tag;   /* 0x5FC105 ... : where its certificate lives */
    const char *name;      /* "9a" */
};

struct vt_state {
    uint32_t serial;
    char *model;
    uint8_t guid[VT_GUID_LEN];
    uint8_t version[VT_VERSION_LEN];
    uint8_t pin[VT_REF_DATA_LEN];
    uint8_t puk[VT_REF_DATA_LEN];
    unsigned pin_retries;
    unsigned pin_tries_left;
    unsigned puk_retries;
    unsigned puk_tries_left;
    struct vt_buf cert[VT_SLOT_COUNT];   /* X.509 DER, empty when the slot has none */
    struct vt_buf key[VT_SLOT_COUNT];    /* PKCS#8 DER private key, empty when none */
    uint8_t cert_info[VT_SLOT_COUNT];    /* CertInfo as written: plain or gzip */
    struct vt_key_info key_info[VT_SLOT_COUNT];   /* meaningful where key[] is set */
    uint8_t mgmt_alg;                    /* PIV_MGMT_ALG_* */
    uint8_t mgmt_key[VT_MGMT_KEY_MAX];   /* the first key_len bytes are the key */
    struct vt_object objects[VT_OBJECTS_MAX];
};

const struct vt_slot *vt_slot_at(int index);
/* Slot index for a key reference (0x9A) or a name ("9a", "9A"); -1 if none. */
int vt_slot_by_key_ref(uint8_t key_ref);
int vt_slot_by_name(const char *name);
/* Slot index whose certificate object has this tag; -1 if none. */
int vt_slot_by_object_tag(uint32_t tag);
bool vt_slot_is_retired(int index);

/* What a key put into this slot gets unless told otherwise: imported, the
 * slot's YubiKey default PIN policy (9E never, 9C always, others once),
 * touch never. */
struct vt_key_info vt_key_info_default(int slot, uint8_t origin);

/* The stored object with this tag, or NULL. */
struct vt_object *vt_state_object(struct vt_state *st, uint32_t tag);
const struct vt_object *vt_state_object_const(const struct vt_state *st, uint32_t tag);
/* Sets (value non-empty) or deletes (len 0) a stored object. -1 when memory
 * runs out or every entry is in use. */
int vt_state_set_object(struct vt_state *st, uint32_t tag, const uint8_t *value, size_t len);
/* True for the tags PUT DATA may store as plain objects (not certificates). */
bool vt_object_tag_storable(uint32_t tag);

/* Sets the management key to the PIV default (3DES 0102..08 x3). */
void vt_state_default_mgmt_key(struct vt_state *st);

/* True for 6..8 bytes followed only by FF padding, with no FF inside. */
bool vt_ref_data_well_formed(const uint8_t value[VT_REF_DATA_LEN]);
/* Pads a PIN/PUK given as text; -1 unless 6..8 printable ASCII characters. */
int vt_ref_data_from_text(const char *text, uint8_t out[VT_REF_DATA_LEN]);

/* Parses "5.7.0"; -1 unless three numbers 0..255. */
int vt_version_from_text(const char *text, uint8_t out[VT_VERSION_LEN]);

/* Both return 0, or -1 after printing why to stderr. A failed load leaves
 * nothing to free; a failed save leaves the previous file untouched. */
int vt_state_load(const char *path, struct vt_state *st);
int vt_state_save(const char *path, const struct vt_state *st);
/* Wipes secrets and frees; safe on a zeroed state. */
void vt_state_free(struct vt_state *st);

#endif
