/* SPDX-License-Identifier: MIT */
/*
 * token/skf/profile.h — what differs between vendors' SKF libraries, the
 * vendors ukeyd knows and where their Linux packages put their libraries,
 * and the decoding of what depends on those differences (DEVINFO, PIN types).
 *
 * A profile is data: the supervisor sends it to the helper in its HELLO, the
 * helper calls the library accordingly. Deviations tolerated always, whatever
 * the profile says, are not profile fields: a size query with a NULL buffer
 * may answer SAR_OK or SAR_BUFFER_TOO_SMALL; SM2 may be announced as
 * 0x00020100 or 0x00020200; optional functions may be absent.
 */
#ifndef UKEYD_TOKEN_SKF_PROFILE_H
#define UKEYD_TOKEN_SKF_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How the helper learns of plugged and pulled tokens. */
enum skf_event_mode {
    SKF_EVENTS_WAIT = 1,   /* SKF_WaitForDevEvent; falls back to polling when it is
                              missing or keeps returning at once */
    SKF_EVENTS_POLL = 2,   /* SKF_EnumDev at poll_ms, compared with the last list */
};

/* Which PIN a call is about (wire values; the library's numbers come from
 * skf_profile_pin_type). */
enum skf_pin_role {
    SKF_PIN_USER = 1,
    SKF_PIN_ADMIN = 2,
};

#define SKF_PROFILE_POLL_MIN_MS     100    /* never poll faster: the key's chip is slow */
#define SKF_PROFILE_POLL_MAX_MS     5000   /* nor so slowly that a plug goes unseen */
#define SKF_PROFILE_PIN_LEN_LIMIT   64     /* no SKF PIN is longer (and the wire says so) */

struct skf_profile {
    const char *name;          /* as a configuration names it, e.g. "longmai-gm3000" */
    const char *vendor;        /* for people: the maker and the product */
    uint8_t bool_bits;         /* width of BOOL: 32 or 64 */
    uint8_t ulong_bits;        /* width of ULONG: 32 or 64 */
    bool devinfo_packed;       /* DEVINFO without padding before its first ULONG */
    uint32_t sm2_alg_id;       /* the id ukeyd passes when it names SM2 (key generation) */
    bool pin_types_swapped;    /* USER_TYPE 0 and ADMIN_TYPE 1, the other way round */
    bool global_device;        /* the library keeps one current device and ignores
                                  handles: connect before every call, never keep one */
    enum skf_event_mode events;
    unsigned poll_ms;          /* polling interval when events are polled */
    unsigned pin_min_len;      /* PIN policy: bytes */
    unsigned pin_max_len;
};

/* The standard as the public headers give it: the profile for a library
 * ukeyd knows nothing else about. */
const struct skf_profile *skf_profile_standard(void);

/* A built-in profile by name, or NULL. */
const struct skf_profile *skf_profile_find(const char *name);

/* Whether the fields make sense (widths, intervals, PIN lengths). On false,
 * `why` (if non-NULL) gets one line naming the field. */
bool skf_profile_valid(const struct skf_profile *p, char *why, size_t why_len);

/* The library's number for a PIN role under this profile. */
uint32_t skf_profile_pin_type(const struct skf_profile *p, enum skf_pin_role role);

/* Whether a PIN meets the profile's policy: length within [min, max], visible
 * ASCII only. Checked before the token sees it, so a refusal costs no try. */
bool skf_profile_pin_acceptable(const struct skf_profile *p, const char *pin);

/* A vendor's library as its Linux package installs it: known paths, each
 * with the public source that gives it. Tried in order when no library is
 * configured; a bare file name is looked up by the dynamic linker. */
struct skf_known_library {
    const char *profile;       /* skf_profile_find name */
    const char *file;
    const char *const *paths;  /* NULL-terminated */
    const char *source;        /* where the name and the paths were read */
};

const struct skf_known_library *skf_known_libraries(size_t *count);

/* DEVINFO, decoded. Strings are NUL-terminated copies of the library's
 * fixed-size fields, in whatever encoding the library used (often GBK). */
struct skf_devinfo {
    uint16_t version;          /* major << 8 | minor */
    char manufacturer[65];
    char issuer[65];
    char label[33];
    char serial[33];
    uint16_t hw_version;
    uint16_t fw_version;
    uint32_t alg_sym;
    uint32_t alg_asym;
    uint32_t alg_hash;
    uint32_t dev_auth_alg;
    uint32_t total_space;
    uint32_t free_space;
};

/* SKF_GetPINInfo, decoded. */
struct skf_pin_info {
    uint32_t tries_max;
    uint32_t tries_left;
    bool default_pin;          /* still the factory's PIN: the user should change it */
};

/* Bytes a DEVINFO occupies under this profile's layout. */
size_t skf_devinfo_size(const struct skf_profile *p);

/* Decodes a DEVINFO the library wrote into `buf`; false if `len` is short. */
bool skf_devinfo_decode(const struct skf_profile *p, const uint8_t *buf, size_t len,
                        struct skf_devinfo *out);

/* Whether the asymmetric capabilities include SM2, under either id. */
bool skf_devinfo_has_sm2(const struct skf_devinfo *d);

#endif
