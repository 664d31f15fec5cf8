/* SPDX-License-Identifier: MIT */
/*
 * tests/vskf/lib.h — what the SKF entry points of the library share: the
 * handle table (device, application and container handles as small numbers,
 * so a stale or forged handle is an error, never a crash) and the frame of
 * every operation (lock the device, check it is still plugged in the same
 * session, load its memory, save what changed, unlock).
 */
#ifndef UKEYD_VSKF_LIB_H
#define UKEYD_VSKF_LIB_H

#include "tests/vskf/vskf.h"

enum vskf_kind {
    VSKF_KIND_ANY = 0,
    VSKF_KIND_DEV,
    VSKF_KIND_APP,
    VSKF_KIND_CON,
};

/* What a handle names. */
struct vskf_ref {
    enum vskf_kind kind;
    char dev[VSKF_DEV_NAME_MAX + 1];
    uint8_t session[VSKF_SESSION_LEN];
    char app[VSKF_APP_NAME_MAX + 1];
    char con[VSKF_CON_NAME_MAX + 1];
    HANDLE parent;          /* the device handle an application or container hangs from */
};

HANDLE vskf_handle_open(const struct vskf_ref *ref);
/* Resolves h; under the quirk "global-device" h is ignored and the
 * latest opened device/application/container answers instead. */
ULONG vskf_handle_ref(HANDLE h, enum vskf_kind kind, struct vskf_ref *out);
/* Closing a device handle closes what hangs from it. */
ULONG vskf_handle_close(HANDLE h, enum vskf_kind kind);
/* The fd holding SKF_LockDev's exclusive lock for a device handle, or -1. */
int vskf_handle_excl_fd(HANDLE dev);
void vskf_handle_set_excl_fd(HANDLE dev, int fd);
/* True when another handle of this process, or another process, holds the
 * device locked with SKF_LockDev. */
bool vskf_locked_by_other(HANDLE h, const struct vskf_ref *ref, const char *excl_path);

struct vskf_op {
    struct vskf_ref ref;
    struct vskf_paths paths;
    int lock_fd;
    bool loaded;
    struct vskf_state st;
    struct vskf_ram ram;
    bool st_dirty;
    bool ram_dirty;
    struct vskf_app *app;
    struct vskf_container *con;
};

const char *vskf_dir(void);
/* Starts an operation on what h names (kind VSKF_KIND_DEV/APP/CON). */
ULONG vskf_op_begin(HANDLE h, enum vskf_kind kind, struct vskf_op *op);
/* Starts an operation on a device by name, plugged or not (*plugged says). */
ULONG vskf_op_begin_name(const char *name, struct vskf_op *op, bool *plugged);
/* Saves what changed (even when rv is an error: a wrong PIN's lost try must
 * stick), unlocks, frees; returns rv, or SAR_FAIL when saving failed. */
ULONG vskf_op_end(struct vskf_op *op, ULONG rv);

/* Copies an answer out under the standard's size-query rules: NULL buffer
 * → the size (SAR_OK, or SAR_BUFFER_TOO_SMALL under the quirk); too small
 * → SAR_BUFFER_TOO_SMALL with the size. */
ULONG vskf_out(const void *src, size_t len, void *dst, ULONG *plen);
/* Maps a caller's PIN type to the role it names (quirk "pin-types-swapped"). */
ULONG vskf_pin_role(ULONG type, enum vskf_role *role);
ULONG vskf_sm2_sign_alg(void);
ULONG vskf_sm2_cap(void);
bool vskf_rights_allow(uint32_t rights, enum vskf_role role);
/* True when text has no control characters: the state file keeps one
 * value a line, so a name with a newline could never be read back. */
bool vskf_text_storable(const char *text);
/* Validates a name argument: SAR_INVALIDPARAMERR for NULL, empty or with
 * control characters, SAR_NAMELENERR when longer than max. */
ULONG vskf_check_name(const char *name, size_t max);
/* A PIN argument: SAR_INVALIDPARAMERR for NULL, SAR_PIN_LEN_RANGE when its
 * length is outside the device's limits. */
ULONG vskf_check_pin(const char *pin);
void vskf_ensure_init(void);

/* The devices under $VSKF_DIR, sorted by name. */
struct vskf_dev_entry {
    char name[VSKF_DEV_NAME_MAX + 1];
    bool present;
    uint8_t session[VSKF_SESSION_LEN];
};
#define VSKF_DEVS_MAX 64
struct vskf_dev_list {
    size_t n;
    struct vskf_dev_entry devs[VSKF_DEVS_MAX];
};
int vskf_scan(const char *dir, struct vskf_dev_list *out);

#endif
