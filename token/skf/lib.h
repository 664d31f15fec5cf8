/* SPDX-License-Identifier: MIT */
/*
 * token/skf/lib.h — one vendor SKF library loaded in the current process:
 * dlopen, the required and optional functions, and each operation ukeyd
 * needs carried out the way the profile says, with the field's deviations
 * tolerated. Only the helper program (host-main.c) loads a library; the
 * daemon reaches it through host.h.
 *
 * Calls into one library are serialised by `lock` (the event thread takes it
 * too, except around SKF_WaitForDevEvent, which the standard means to block
 * beside other calls). No handle outlives an operation except, unless the
 * profile says the library has one global device, the last device connected.
 */
#ifndef UKEYD_TOKEN_SKF_LIB_H
#define UKEYD_TOKEN_SKF_LIB_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "token/skf/abi.h"
#include "token/skf/profile.h"
#include "token/skf/status.h"
#include "token/skf/wire.h"

#define SKF_NAMES_MAX        64      /* devices, applications or containers in one list */
#define SKF_NAME_MAX         SKF_WIRE_NAME_MAX   /* bytes of one name */
#define SKF_LIST_BYTES_MAX   (SKF_NAMES_MAX * (SKF_NAME_MAX + 1) + 1)
#define SKF_CHALLENGE_MAX    64      /* remote unblock: the token's random bytes */
#define SKF_ANSWER_MAX       1024    /* remote unblock: the CA's cipher PIN and MAC */

struct skf_lib {
    void *dl;
    struct skf_profile profile;
    uint32_t caps;                   /* SKF_CAP_* of wire.h */
    pthread_mutex_t lock;
    struct {
        skf_fn_wait_for_dev_event wait_for_dev_event;
        skf_fn_cancel_wait_for_dev_event cancel_wait_for_dev_event;
        skf_fn_enum_dev enum_dev;
        skf_fn_connect_dev connect_dev;
        skf_fn_disconnect_dev disconnect_dev;
        skf_fn_get_dev_info get_dev_info;
        skf_fn_enum_application enum_application;
        skf_fn_open_application open_application;
        skf_fn_close_application close_application;
        skf_fn_enum_container enum_container;
        skf_fn_open_container open_container;
        skf_fn_close_container close_container;
        skf_fn_get_container_type get_container_type;
        skf_fn_export_certificate export_certificate;
        skf_fn_get_pin_info get_pin_info;
        skf_fn_verify_pin verify_pin;
        skf_fn_change_pin change_pin;
        skf_fn_unblock_pin unblock_pin;
        skf_fn_clear_secure_state clear_secure_state;
        skf_fn_gen_remote_unblock_request gen_remote_unblock_request;
        skf_fn_remote_unblock_pin remote_unblock_pin;
        skf_fn_gen_ecc_key_pair gen_ecc_key_pair;
        skf_fn_export_public_key export_public_key;
        skf_fn_ecc_sign_data ecc_sign_data;
        skf_fn_import_certificate import_certificate;
        skf_fn_enum_files enum_files;
        skf_fn_read_file read_file;
    } fn;
    /* the device kept connected between operations (not with global_device) */
    char kept_name[SKF_NAME_MAX + 1];
    skf_handle kept_dev;
    /* The application a remote unblock's challenge was drawn in, held open
     * until its answer or the library's next call on the same device (on any
     * device with global_device): a key may draw a fresh random when an
     * application is reopened, and the CA's answer to the old one would then
     * cost an admin-PIN try. */
    struct {
        bool on;
        bool own_dev;             /* the connection is the hold's: with global_device, or
                                     taken over from the kept one for another device */
        skf_handle dev, app;
        char dev_name[SKF_NAME_MAX + 1];
        char app_name[SKF_NAME_MAX + 1];
    } held;
};

/* A list of names, as the library's double-NUL-terminated multi-string. */
struct skf_names {
    size_t n;
    const char *name[SKF_NAMES_MAX];
    char *buf;
};

void skf_names_free(struct skf_names *l);

/* Splits a multi-string the library wrote ("a\0b\0\0"), `len` bytes as it
 * reported them. Tolerated: the final empty name missing, NULs after the end.
 * Refused (MALFORMED): a name without its NUL within `len`, a name longer
 * than SKF_NAME_MAX, more than SKF_NAMES_MAX names. Takes `buf` (freed by
 * skf_names_free, or here on error). */
skf_err skf_names_split(char *buf, size_t len, struct skf_names *out);

/* Loads the library and resolves its functions. On SKF_E_LIBRARY_LOAD or
 * SKF_E_LIBRARY_SYMBOL, `why` says what (dlerror, or the missing function's
 * name). The profile is set apart (skf_lib_set_profile), as it arrives later. */
skf_err skf_lib_open(struct skf_lib *lib, const char *path, char *why, size_t why_len);
void skf_lib_set_profile(struct skf_lib *lib, const struct skf_profile *p);
void skf_lib_close(struct skf_lib *lib);

/* The functions every library must export, in the order checked. */
const char *const *skf_lib_required_functions(size_t *count);

/* Each takes lib->lock for its whole run. `sar` (may be NULL) gets the last
 * SAR_* code the library returned. */
skf_err skf_lib_list_devices(struct skf_lib *lib, struct skf_names *out, uint32_t *sar);
skf_err skf_lib_device_info(struct skf_lib *lib, const char *dev, struct skf_devinfo *out, uint32_t *sar);
skf_err skf_lib_list_apps(struct skf_lib *lib, const char *dev, struct skf_names *out, uint32_t *sar);
skf_err skf_lib_list_containers(struct skf_lib *lib, const char *dev, const char *app,
                                struct skf_names *out, uint32_t *sar);
skf_err skf_lib_container_type(struct skf_lib *lib, const char *dev, const char *app,
                               const char *con, uint32_t *type, uint32_t *sar);
/* `*der` is malloc'd; SKF_E_CERT_NOT_FOUND when the container holds none. */
skf_err skf_lib_export_cert(struct skf_lib *lib, const char *dev, const char *app, const char *con,
                            bool sign, uint8_t **der, size_t *len, uint32_t *sar);

skf_err skf_lib_pin_info(struct skf_lib *lib, const char *dev, const char *app,
                         enum skf_pin_role role, struct skf_pin_info *out, uint32_t *sar);
/* PIN operations clear the application's secure state afterwards, whatever
 * the outcome: no later operation inherits a verified PIN. On
 * SKF_E_PIN_INCORRECT, *tries_left holds what the library reported. */
skf_err skf_lib_verify_pin(struct skf_lib *lib, const char *dev, const char *app,
                           enum skf_pin_role role, const char *pin, uint32_t *tries_left, uint32_t *sar);
skf_err skf_lib_change_pin(struct skf_lib *lib, const char *dev, const char *app, enum skf_pin_role role,
                           const char *old_pin, const char *new_pin, uint32_t *tries_left, uint32_t *sar);
/* *tries_left: the admin PIN's, on SKF_E_PIN_INCORRECT. */
skf_err skf_lib_unblock_pin(struct skf_lib *lib, const char *dev, const char *app, const char *admin_pin,
                            const char *new_pin, uint32_t *tries_left, uint32_t *sar);
skf_err skf_lib_clear_state(struct skf_lib *lib, const char *dev, const char *app, uint32_t *sar);
/* The challenge leaves its application open (lib->held); the answer to the
 * same device and application is given in it, and closes it. A call that
 * opens a session on the same device (on any, with global_device) closes it
 * first; an answer that finds it closed is SKF_E_CHALLENGE_STALE, never
 * presented. */
skf_err skf_lib_remote_unblock_request(struct skf_lib *lib, const char *dev, const char *app,
                                       uint8_t *challenge, size_t len, uint32_t *sar);
skf_err skf_lib_remote_unblock(struct skf_lib *lib, const char *dev, const char *app,
                               const uint8_t *answer, size_t len, uint32_t *tries_left, uint32_t *sar);

/*
 * Certificate writes (SKF_CAP_CERT_WRITE; SKF_E_NOT_SUPPORTED without). The
 * ones that change the container verify the user PIN `pin` first and clear
 * the secure state afterwards, whatever the outcome; a wrong PIN is
 * SKF_E_PIN_INCORRECT with *tries_left, and nothing else is done. Points and
 * signatures are SKF_EC_COORD_LEN-byte big-endian numbers (wire.h).
 */
/* The container's signing (`sign`) or encryption public key (SKF_ExportPublicKey); no PIN.
 * SKF_E_CERT_NOT_FOUND when the container holds no key. */
skf_err skf_lib_export_public_key(struct skf_lib *lib, const char *dev, const char *app,
                                  const char *con, bool sign, uint8_t x[SKF_EC_COORD_LEN],
                                  uint8_t y[SKF_EC_COORD_LEN], uint32_t *sar);
/* A new SM2 signing key pair replaces the container's (SKF_GenECCKeyPair). */
skf_err skf_lib_gen_sign_key(struct skf_lib *lib, const char *dev, const char *app,
                             const char *con, const char *pin, uint8_t x[SKF_EC_COORD_LEN],
                             uint8_t y[SKF_EC_COORD_LEN], uint32_t *tries_left, uint32_t *sar);
/* The container's signing key signs `digest` (SKF_SM3_LEN bytes, e of GM/T 0009). */
skf_err skf_lib_sign_digest(struct skf_lib *lib, const char *dev, const char *app,
                            const char *con, const char *pin, const uint8_t *digest,
                            size_t digest_len, uint8_t r[SKF_EC_COORD_LEN],
                            uint8_t s[SKF_EC_COORD_LEN], uint32_t *tries_left, uint32_t *sar);
/* `der` becomes the container's signing (`sign`) or encryption certificate. */
skf_err skf_lib_import_cert(struct skf_lib *lib, const char *dev, const char *app,
                            const char *con, const char *pin, bool sign, const uint8_t *der,
                            size_t len, uint32_t *tries_left, uint32_t *sar);

/* The first bytes (up to SKF_FILE_HEAD_LEN) of each file of the application
 * that reads without a PIN, in the library's order (SKF_CAP_FILES;
 * SKF_E_NOT_SUPPORTED without). A file the library will not read (a PIN
 * needed, shorter than asked and refused) is left out: no seal is that short. */
struct skf_file_heads {
    size_t n;
    size_t len[SKF_NAMES_MAX];
    uint8_t head[SKF_NAMES_MAX][SKF_FILE_HEAD_LEN];
};

skf_err skf_lib_file_heads(struct skf_lib *lib, const char *dev, const char *app,
                           struct skf_file_heads *out, uint32_t *sar);

/* Forgets the kept device connection (it was pulled). Takes lib->lock. */
void skf_lib_forget_device(struct skf_lib *lib, const char *dev);

#endif
