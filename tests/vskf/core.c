/* SPDX-License-Identifier: MIT */
/*
 * tests/vskf/core.c — the library's handle table and operation frame (see
 * lib.h), and the small rules every entry point applies the same way: size
 * queries, PIN types, access rights, name and PIN arguments.
 */
#include "tests/vskf/lib.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <openssl/crypto.h>

/* Handle values are (generation << HANDLE_SLOT_BITS) | (slot + 1): never
 * NULL, and a closed handle's value never comes back soon. */
#define HANDLE_SLOTS      256
#define HANDLE_SLOT_BITS  8
#define HANDLE_SLOT_MASK  ((1u << HANDLE_SLOT_BITS) - 1)
#define HANDLE_GEN_MAX    0xFFFFFFu
#define KIND_COUNT        (VSKF_KIND_CON + 1)

struct slot {
    bool used;
    uint32_t gen;
    struct vskf_ref ref;
    int excl_fd;
};

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot slots[HANDLE_SLOTS];
static uint32_t next_gen = 1;
/* Under "global-device": the latest opened handle of each kind. */
static HANDLE current[KIND_COUNT];

static HANDLE slot_handle(size_t i)
{
    return (HANDLE)(uintptr_t)((slots[i].gen << HANDLE_SLOT_BITS) | (uint32_t)(i + 1));
}

static struct slot *slot_of(HANDLE h)
{
    uintptr_t v = (uintptr_t)h;
    size_t i;

    if (!v || (v & HANDLE_SLOT_MASK) == 0)
        return NULL;
    i = (v & HANDLE_SLOT_MASK) - 1;
    if (i >= HANDLE_SLOTS || !slots[i].used || slots[i].gen != (uint32_t)(v >> HANDLE_SLOT_BITS))
        return NULL;
    return &slots[i];
}

HANDLE vskf_handle_open(const struct vskf_ref *ref)
{
    HANDLE h = NULL;

    pthread_mutex_lock(&table_lock);
    for (size_t i = 0; i < HANDLE_SLOTS; i++) {
        if (slots[i].used)
            continue;
        slots[i].used = true;
        slots[i].gen = next_gen;
        next_gen = next_gen == HANDLE_GEN_MAX ? 1 : next_gen + 1;
        slots[i].ref = *ref;
        slots[i].excl_fd = -1;
        h = slot_handle(i);
        current[ref->kind] = h;
        break;
    }
    pthread_mutex_unlock(&table_lock);
    return h;
}

ULONG vskf_handle_ref(HANDLE h, enum vskf_kind kind, struct vskf_ref *out)
{
    bool global = vskf_quirk(VSKF_Q_GLOBAL_DEVICE);
    ULONG rv = SAR_INVALIDHANDLEERR;
    struct slot *s, *dev;

    pthread_mutex_lock(&table_lock);
    s = slot_of(global && kind != VSKF_KIND_ANY ? current[kind] : h);
    if (s && (kind == VSKF_KIND_ANY || s->ref.kind == kind)) {
        *out = s->ref;
        /* One global current device: whatever was opened on another device
         * now works on the latest connected one. */
        dev = global ? slot_of(current[VSKF_KIND_DEV]) : NULL;
        if (dev) {
            memcpy(out->dev, dev->ref.dev, sizeof out->dev);
            memcpy(out->session, dev->ref.session, sizeof out->session);
        }
        rv = SAR_OK;
    }
    pthread_mutex_unlock(&table_lock);
    return rv;
}

static void slot_close(struct slot *s)
{
    for (size_t k = 0; k < KIND_COUNT; k++)
        if (slot_of(current[k]) == s)
            current[k] = NULL;
    if (s->excl_fd >= 0)
        close(s->excl_fd);
    memset(&s->ref, 0, sizeof s->ref);
    s->excl_fd = -1;
    s->used = false;
}

ULONG vskf_handle_close(HANDLE h, enum vskf_kind kind)
{
    ULONG rv = SAR_INVALIDHANDLEERR;
    struct slot *s;

    pthread_mutex_lock(&table_lock);
    s = slot_of(h);
    if (s && (kind == VSKF_KIND_ANY || s->ref.kind == kind)) {
        if (s->ref.kind == VSKF_KIND_DEV)
            for (size_t i = 0; i < HANDLE_SLOTS; i++)
                if (slots[i].used && slots[i].ref.parent == h)
                    slot_close(&slots[i]);
        slot_close(s);
        rv = SAR_OK;
    }
    pthread_mutex_unlock(&table_lock);
    return rv;
}

int vskf_handle_excl_fd(HANDLE dev)
{
    struct slot *s;
    int fd = -1;

    pthread_mutex_lock(&table_lock);
    s = slot_of(dev);
    if (s)
        fd = s->excl_fd;
    pthread_mutex_unlock(&table_lock);
    return fd;
}

void vskf_handle_set_excl_fd(HANDLE dev, int fd)
{
    struct slot *s;

    pthread_mutex_lock(&table_lock);
    s = slot_of(dev);
    if (s)
        s->excl_fd = fd;
    else if (fd >= 0)
        close(fd);
    pthread_mutex_unlock(&table_lock);
}

bool vskf_locked_by_other(HANDLE h, const struct vskf_ref *ref, const char *excl_path)
{
    HANDLE dev = ref->kind == VSKF_KIND_DEV ? h : ref->parent;
    bool other = false;
    int fd;

    if (vskf_handle_excl_fd(dev) >= 0)
        return false;                 /* this handle holds the lock itself */
    fd = open(excl_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;                 /* nobody ever locked it */
    if (flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK)
        other = true;
    close(fd);
    return other;
}

/* --- operations -------------------------------------------------------------------- */

const char *vskf_dir(void)
{
    const char *dir = getenv(VSKF_DIR_ENV);

    return dir && *dir ? dir : NULL;
}

static ULONG op_load(struct vskf_op *op, bool need_plugged, bool *plugged)
{
    char err[512];
    int r;

    op->lock_fd = vskf_lock(op->paths.lock);
    if (op->lock_fd < 0)
        return SAR_FAIL;
    r = vskf_ram_load(op->paths.ram, &op->ram);
    if (r < 0)
        return SAR_FAIL;
    if (plugged)
        *plugged = r == 0;
    if (need_plugged && (r == 1 || memcmp(op->ram.session, op->ref.session,
                                          sizeof op->ram.session) != 0))
        return SAR_DEVICE_REMOVED;
    if (vskf_state_load(op->paths.state, &op->st, err, sizeof err) < 0)
        return SAR_FAIL;
    op->loaded = true;
    return SAR_OK;
}

ULONG vskf_op_begin(HANDLE h, enum vskf_kind kind, struct vskf_op *op)
{
    ULONG rv;

    vskf_ensure_init();
    memset(op, 0, sizeof *op);
    op->lock_fd = -1;
    rv = vskf_handle_ref(h, kind, &op->ref);
    if (rv != SAR_OK)
        return rv;
    if (vskf_paths_for(vskf_dir(), op->ref.dev, &op->paths) < 0)
        return SAR_DEVICE_REMOVED;
    if (vskf_locked_by_other(h, &op->ref, op->paths.excl))
        return SAR_FAIL;
    rv = op_load(op, true, NULL);
    if (rv != SAR_OK)
        return rv;
    if (kind == VSKF_KIND_APP || kind == VSKF_KIND_CON) {
        op->app = vskf_find_app(&op->st, op->ref.app);
        if (!op->app)
            return SAR_APPLICATION_NOT_EXISTS;
    }
    if (kind == VSKF_KIND_CON) {
        op->con = vskf_find_container(op->app, op->ref.con);
        if (!op->con)
            return SAR_FILE_NOT_EXIST;
    }
    return SAR_OK;
}

ULONG vskf_op_begin_name(const char *name, struct vskf_op *op, bool *plugged)
{
    vskf_ensure_init();
    memset(op, 0, sizeof *op);
    op->lock_fd = -1;
    *plugged = false;
    if (!name || vskf_paths_for(vskf_dir(), name, &op->paths) < 0 ||
        access(op->paths.state, F_OK) < 0)
        return SAR_INVALIDPARAMERR;
    vskf_strlcpy(op->ref.dev, name, sizeof op->ref.dev);
    return op_load(op, false, plugged);
}

ULONG vskf_op_end(struct vskf_op *op, ULONG rv)
{
    char err[512];

    if (op->loaded && op->st_dirty &&
        vskf_state_save(op->paths.state, &op->st, err, sizeof err) < 0)
        rv = SAR_FAIL;
    if (op->ram_dirty && vskf_ram_save(op->paths.ram, &op->ram) < 0)
        rv = SAR_FAIL;
    vskf_unlock(op->lock_fd);
    if (op->loaded)
        vskf_state_free(&op->st);
    OPENSSL_cleanse(&op->ram, sizeof op->ram);
    op->lock_fd = -1;
    op->loaded = false;
    return rv;
}

/* --- shared rules --------------------------------------------------------------------- */

ULONG vskf_out(const void *src, size_t len, void *dst, ULONG *plen)
{
    if (!plen)
        return SAR_INVALIDPARAMERR;
    if (!dst) {
        *plen = (ULONG)len;
        return vskf_quirk(VSKF_Q_SIZE_QUERY_TOO_SMALL) ? SAR_BUFFER_TOO_SMALL : SAR_OK;
    }
    if (*plen < len) {
        *plen = (ULONG)len;
        return SAR_BUFFER_TOO_SMALL;
    }
    memcpy(dst, src, len);
    *plen = (ULONG)len;
    return SAR_OK;
}

ULONG vskf_pin_role(ULONG type, enum vskf_role *role)
{
    bool swapped = vskf_quirk(VSKF_Q_PIN_TYPES_SWAPPED);

    if (type == ADMIN_TYPE)
        *role = swapped ? VSKF_ROLE_USER : VSKF_ROLE_ADMIN;
    else if (type == USER_TYPE)
        *role = swapped ? VSKF_ROLE_ADMIN : VSKF_ROLE_USER;
    else
        return SAR_USER_TYPE_INVALID;
    return SAR_OK;
}

ULONG vskf_sm2_sign_alg(void)
{
    return vskf_quirk(VSKF_Q_SM2_ALT_ID) ? SGD_SM2_1_ALT : SGD_SM2_1;
}

ULONG vskf_sm2_cap(void)
{
    if (vskf_quirk(VSKF_Q_SM2_ALT_ID))
        return SGD_SM2_1_ALT | SGD_SM2_3_ALT;
    return SGD_SM2_1 | SGD_SM2_3;
}

bool vskf_rights_allow(uint32_t rights, enum vskf_role role)
{
    if (rights == SECURE_ANYONE_ACCOUNT)
        return true;
    if ((rights & SECURE_USER_ACCOUNT) && role == VSKF_ROLE_USER)
        return true;
    if ((rights & SECURE_ADM_ACCOUNT) && role == VSKF_ROLE_ADMIN)
        return true;
    return false;
}

bool vskf_text_storable(const char *text)
{
    for (; *text; text++)
        if ((unsigned char)*text < ' ' || *text == '\x7f')
            return false;
    return true;
}

ULONG vskf_check_name(const char *name, size_t max)
{
    if (!name || !*name || !vskf_text_storable(name))
        return SAR_INVALIDPARAMERR;
    if (strlen(name) > max)
        return SAR_NAMELENERR;
    return SAR_OK;
}

ULONG vskf_check_pin(const char *pin)
{
    size_t n;

    if (!pin)
        return SAR_INVALIDPARAMERR;
    n = strlen(pin);
    if (n < VSKF_PIN_MIN || n > VSKF_PIN_MAX)
        return SAR_PIN_LEN_RANGE;
    return SAR_OK;
}
