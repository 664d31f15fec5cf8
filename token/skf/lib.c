/* SPDX-License-Identifier: MIT */
/* token/skf/lib.c — a vendor SKF library in this process: loading and each operation (see lib.h). */
#include <dlfcn.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "token/skf/lib.h"
#include "token/skf/wire.h"

/* A retry slot the library did not write still holds this. */
#define RETRY_UNSET 0xFFFFFFFFu

struct fn_entry {
    const char *name;
    const char *alt;          /* a spelling some libraries export instead */
    size_t offset;
    bool required;
};

#define FN(field, name, alt, req) { name, alt, offsetof(struct skf_lib, fn.field), req }

static const struct fn_entry fn_table[] = {
    FN(enum_dev, "SKF_EnumDev", NULL, true),
    FN(connect_dev, "SKF_ConnectDev", NULL, true),
    FN(disconnect_dev, "SKF_DisConnectDev", "SKF_DisconnectDev", true),
    FN(get_dev_info, "SKF_GetDevInfo", NULL, true),
    FN(enum_application, "SKF_EnumApplication", NULL, true),
    FN(open_application, "SKF_OpenApplication", NULL, true),
    FN(close_application, "SKF_CloseApplication", NULL, true),
    FN(enum_container, "SKF_EnumContainer", NULL, true),
    FN(open_container, "SKF_OpenContainer", NULL, true),
    FN(close_container, "SKF_CloseContainer", NULL, true),
    FN(get_container_type, "SKF_GetContainerType", NULL, true),
    FN(export_certificate, "SKF_ExportCertificate", NULL, true),
    FN(get_pin_info, "SKF_GetPINInfo", NULL, true),
    FN(verify_pin, "SKF_VerifyPIN", NULL, true),
    FN(change_pin, "SKF_ChangePIN", NULL, true),
    FN(unblock_pin, "SKF_UnblockPIN", NULL, true),
    /* required: without it a verified PIN would outlive the operation */
    FN(clear_secure_state, "SKF_ClearSecureState", NULL, true),
    FN(wait_for_dev_event, "SKF_WaitForDevEvent", NULL, false),
    FN(cancel_wait_for_dev_event, "SKF_CancelWaitForDevEvent", NULL, false),
    FN(gen_remote_unblock_request, "SKF_GenRemoteUnblockRequest", NULL, false),
    FN(remote_unblock_pin, "SKF_RemoteUnblockPIN", NULL, false),
    /* certificate writes: a library without them is read-only to ukeyd */
    FN(gen_ecc_key_pair, "SKF_GenECCKeyPair", NULL, false),
    FN(export_public_key, "SKF_ExportPublicKey", NULL, false),
    FN(ecc_sign_data, "SKF_ECCSignData", NULL, false),
    FN(import_certificate, "SKF_ImportCertificate", NULL, false),
    /* files: without them a key's seals are not counted */
    FN(enum_files, "SKF_EnumFiles", NULL, false),
    FN(read_file, "SKF_ReadFile", NULL, false),
};

#define FN_COUNT (sizeof fn_table / sizeof fn_table[0])

const char *const *skf_lib_required_functions(size_t *count)
{
    static const char *names[FN_COUNT];
    size_t n = 0;

    for (size_t i = 0; i < FN_COUNT; i++)
        if (fn_table[i].required)
            names[n++] = fn_table[i].name;
    *count = n;
    return names;
}

static void *resolve(void *dl, const struct fn_entry *e)
{
    void *sym = dlsym(dl, e->name);

    if (!sym && e->alt)
        sym = dlsym(dl, e->alt);
    return sym;
}

skf_err skf_lib_open(struct skf_lib *lib, const char *path, char *why, size_t why_len)
{
    memset(lib, 0, sizeof *lib);
    lib->profile = *skf_profile_standard();
    pthread_mutex_init(&lib->lock, NULL);
    /* RTLD_LOCAL: two vendors' libraries never meet in one helper anyway, but
     * nothing of theirs should satisfy another library's undefined symbols */
    lib->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib->dl) {
        const char *e = dlerror();

        snprintf(why, why_len, "cannot load %s: %s", path, e ? e : "unknown error");
        return SKF_E_LIBRARY_LOAD;
    }
    for (size_t i = 0; i < FN_COUNT; i++) {
        void *sym = resolve(lib->dl, &fn_table[i]);

        if (!sym && fn_table[i].required) {
            snprintf(why, why_len, "%s does not export the required function %s", path, fn_table[i].name);
            dlclose(lib->dl);
            lib->dl = NULL;
            return SKF_E_LIBRARY_SYMBOL;
        }
        memcpy((char *)lib + fn_table[i].offset, &sym, sizeof sym);
    }
    if (lib->fn.wait_for_dev_event)
        lib->caps |= SKF_CAP_WAIT_FOR_DEV_EVENT;
    if (lib->fn.cancel_wait_for_dev_event)
        lib->caps |= SKF_CAP_CANCEL_WAIT;
    if (lib->fn.gen_remote_unblock_request && lib->fn.remote_unblock_pin)
        lib->caps |= SKF_CAP_REMOTE_UNBLOCK;
    if (lib->fn.gen_ecc_key_pair && lib->fn.export_public_key && lib->fn.ecc_sign_data &&
        lib->fn.import_certificate)
        lib->caps |= SKF_CAP_CERT_WRITE;
    if (lib->fn.enum_files && lib->fn.read_file)
        lib->caps |= SKF_CAP_FILES;
    return SKF_OK;
}

void skf_lib_set_profile(struct skf_lib *lib, const struct skf_profile *p)
{
    pthread_mutex_lock(&lib->lock);
    lib->profile = *p;
    pthread_mutex_unlock(&lib->lock);
}

/* Closes the remote unblock's held application (its challenge is gone). */
static void release_held(struct skf_lib *lib)
{
    if (!lib->held.on)
        return;
    lib->fn.close_application(lib->held.app);
    if (lib->held.own_dev)
        lib->fn.disconnect_dev(lib->held.dev);
    memset(&lib->held, 0, sizeof lib->held);
}

/* Forgets the kept connection; one the held application lives in passes to
 * the hold instead of closing (that would lose its challenge). */
static void unkeep_dev(struct skf_lib *lib)
{
    if (!lib->kept_name[0])
        return;
    if (lib->held.on && !lib->held.own_dev && lib->held.dev == lib->kept_dev)
        lib->held.own_dev = true;
    else
        lib->fn.disconnect_dev(lib->kept_dev);
    lib->kept_name[0] = '\0';
    lib->kept_dev = NULL;
}

static void drop_kept(struct skf_lib *lib)
{
    release_held(lib);
    unkeep_dev(lib);
}

/* A session on `dev` is about to open. A library with one global current
 * device loses the held application to any other connection; otherwise only
 * a session on the held device itself may disturb it, and a call on another
 * key of the same library leaves the challenge alone. */
static void release_held_before(struct skf_lib *lib, const char *dev)
{
    if (lib->held.on && (lib->profile.global_device || strcmp(lib->held.dev_name, dev) == 0))
        release_held(lib);
}

void skf_lib_close(struct skf_lib *lib)
{
    if (lib->dl) {
        drop_kept(lib);
        dlclose(lib->dl);
        lib->dl = NULL;
    }
    pthread_mutex_destroy(&lib->lock);
}

void skf_lib_forget_device(struct skf_lib *lib, const char *dev)
{
    pthread_mutex_lock(&lib->lock);
    if (lib->kept_name[0] && strcmp(lib->kept_name, dev) == 0)
        drop_kept(lib);
    pthread_mutex_unlock(&lib->lock);
}

/* --- width-neutral values -------------------------------------------------- */

static uint32_t ulong_of(const struct skf_lib *lib, skf_slot s)
{
    if (lib->profile.ulong_bits == 32)
        return (uint32_t)s;
    return s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

static bool bool_of(const struct skf_lib *lib, skf_slot s)
{
    return lib->profile.bool_bits == 32 ? (uint32_t)s != 0 : s != 0;
}

static skf_err note(uint32_t *sar, skf_rv rv)
{
    if (sar)
        *sar = rv;
    return skf_err_from_sar(rv);
}

/* A library failing in a way the SAR code does not pin down, in a context
 * where the cause is clear (opening an application that is not there). */
static skf_err or_else(skf_err e, skf_err fallback)
{
    return e == SKF_E_LIBRARY_FAIL ? fallback : e;
}

/* --- names ------------------------------------------------------------------ */

void skf_names_free(struct skf_names *l)
{
    free(l->buf);
    memset(l, 0, sizeof *l);
}

skf_err skf_names_split(char *buf, size_t len, struct skf_names *out)
{
    size_t i = 0;

    memset(out, 0, sizeof *out);
    out->buf = buf;
    while (i < len) {
        const char *name = buf + i;
        size_t n = strnlen(name, len - i);

        if (n == len - i || n > SKF_NAME_MAX || (n > 0 && out->n == SKF_NAMES_MAX)) {
            skf_names_free(out);
            return SKF_E_MALFORMED;
        }
        if (n == 0)
            break;
        out->name[out->n++] = name;
        i += n + 1;
    }
    return SKF_OK;
}

/* --- sized answers: ask the size with a NULL buffer, then fetch --------------- */

typedef skf_rv (*sized_fn)(void *ctx, uint8_t *buf, skf_slot *len);

#define SIZE_RETRIES 2   /* the answer grew between the two calls (a key plugged) */

static skf_err fetch_sized(struct skf_lib *lib, sized_fn call, void *ctx, size_t max,
                           uint8_t **out, size_t *out_len, uint32_t *sar)
{
    *out = NULL;
    *out_len = 0;
    for (int attempt = 0; attempt < SIZE_RETRIES; attempt++) {
        skf_slot slot = 0;
        size_t need;
        uint8_t *buf;
        skf_rv rv = call(ctx, NULL, &slot);

        /* both answers to a size query are in the field */
        if (rv == SAR_OK || rv == SAR_BUFFER_TOO_SMALL)
            need = ulong_of(lib, slot);
        else if (rv == SAR_INVALIDPARAMERR)
            need = max;     /* a library that wants a buffer even to say the size */
        else
            return note(sar, rv);
        if (need == 0)
            return note(sar, SAR_OK);
        if (need > max)
            return note(sar, rv), SKF_E_MALFORMED;
        /* two NULs beyond what the library may write end any multi-string */
        if (!(buf = calloc(1, need + 2)))
            return SKF_E_NO_MEMORY;
        slot = need;
        rv = call(ctx, buf, &slot);
        if (rv == SAR_BUFFER_TOO_SMALL && attempt + 1 < SIZE_RETRIES) {
            free(buf);
            continue;
        }
        if (rv != SAR_OK || ulong_of(lib, slot) > need) {
            free(buf);
            return rv != SAR_OK ? note(sar, rv) : (note(sar, rv), SKF_E_MALFORMED);
        }
        note(sar, rv);
        *out = buf;
        *out_len = ulong_of(lib, slot);
        return SKF_OK;
    }
    return SKF_E_MALFORMED;
}

static skf_err fetch_names(struct skf_lib *lib, sized_fn call, void *ctx, struct skf_names *out,
                           uint32_t *sar)
{
    uint8_t *buf;
    size_t len;
    skf_err e = fetch_sized(lib, call, ctx, SKF_LIST_BYTES_MAX, &buf, &len, sar);

    memset(out, 0, sizeof *out);
    if (e != SKF_OK)
        return e;
    return skf_names_split((char *)buf, len, out);
}

/* --- sessions: device, application, container for one operation ------------ */

struct session {
    struct skf_lib *lib;
    uint32_t *sar;
    skf_handle dev, app, con;
    bool have_dev, have_app, have_con;
};

static skf_err open_dev(struct session *s, const char *name)
{
    struct skf_lib *lib = s->lib;
    skf_handle h = NULL;
    skf_rv rv;

    if (strlen(name) > SKF_NAME_MAX)
        return SKF_E_INVALID_ARG;
    if (!lib->profile.global_device && lib->kept_name[0] && strcmp(lib->kept_name, name) == 0) {
        s->dev = lib->kept_dev;
        s->have_dev = true;
        return SKF_OK;
    }
    unkeep_dev(lib);
    if ((rv = lib->fn.connect_dev(name, &h)) != SAR_OK)
        return or_else(note(s->sar, rv), SKF_E_DEVICE_NOT_FOUND);
    s->dev = h;
    s->have_dev = true;
    if (!lib->profile.global_device) {
        snprintf(lib->kept_name, sizeof lib->kept_name, "%s", name);
        lib->kept_dev = h;
    }
    return SKF_OK;
}

static skf_err session_open(struct session *s, struct skf_lib *lib, uint32_t *sar,
                            const char *dev, const char *app, const char *con)
{
    skf_rv rv;
    skf_err e;

    release_held_before(lib, dev);
    memset(s, 0, sizeof *s);
    s->lib = lib;
    s->sar = sar;
    if (sar)
        *sar = SAR_OK;
    if ((e = open_dev(s, dev)) != SKF_OK)
        return e;
    if (!app)
        return SKF_OK;
    if (strlen(app) > SKF_NAME_MAX)
        return SKF_E_INVALID_ARG;
    if ((rv = lib->fn.open_application(s->dev, app, &s->app)) != SAR_OK)
        return or_else(note(sar, rv), SKF_E_APP_NOT_FOUND);
    s->have_app = true;
    if (!con)
        return SKF_OK;
    if (strlen(con) > SKF_NAME_MAX)
        return SKF_E_INVALID_ARG;
    if ((rv = lib->fn.open_container(s->app, con, &s->con)) != SAR_OK)
        return or_else(note(sar, rv), SKF_E_CONTAINER_NOT_FOUND);
    s->have_con = true;
    return SKF_OK;
}

static void session_close(struct session *s, skf_err result)
{
    struct skf_lib *lib = s->lib;
    uint32_t last = s->sar ? *s->sar : SAR_OK;

    if (s->have_con)
        lib->fn.close_container(s->con);
    if (s->have_app)
        lib->fn.close_application(s->app);
    if (!s->have_dev)
        return;
    if (lib->profile.global_device)
        lib->fn.disconnect_dev(s->dev);
    else if (result == SKF_E_DEVICE_REMOVED || last == SAR_INVALIDHANDLEERR)
        drop_kept(lib);
}

/* --- operations ------------------------------------------------------------- */

struct enum_dev_ctx {
    struct skf_lib *lib;
};

static skf_rv call_enum_dev(void *ctx, uint8_t *buf, skf_slot *len)
{
    struct enum_dev_ctx *c = ctx;

    return c->lib->fn.enum_dev(SKF_TRUE, (char *)buf, len);
}

skf_err skf_lib_list_devices(struct skf_lib *lib, struct skf_names *out, uint32_t *sar)
{
    struct enum_dev_ctx c = { lib };
    skf_err e;

    pthread_mutex_lock(&lib->lock);
    if (sar)
        *sar = SAR_OK;
    e = fetch_names(lib, call_enum_dev, &c, out, sar);
    pthread_mutex_unlock(&lib->lock);
    return e;
}

skf_err skf_lib_device_info(struct skf_lib *lib, const char *dev, struct skf_devinfo *out, uint32_t *sar)
{
    uint8_t buf[SKF_DEVINFO_BUFFER] = { 0 };
    struct session s;
    skf_err e;

    pthread_mutex_lock(&lib->lock);
    if ((e = session_open(&s, lib, sar, dev, NULL, NULL)) == SKF_OK) {
        e = note(sar, lib->fn.get_dev_info(s.dev, buf));
        if (e == SKF_OK && !skf_devinfo_decode(&lib->profile, buf, sizeof buf, out))
            e = SKF_E_MALFORMED;
    }
    session_close(&s, e);
    pthread_mutex_unlock(&lib->lock);
    return e;
}

struct handle_ctx {
    struct skf_lib *lib;
    skf_handle h;
};

static skf_rv call_enum_app(void *ctx, uint8_t *buf, skf_slot *len)
{
    struct handle_ctx *c = ctx;

    return c->lib->fn.enum_application(c->h, (char *)buf, len);
}

static skf_rv call_enum_container(void *ctx, uint8_t *buf, skf_slot *len)
{
    struct handle_ctx *c = ctx;

    return c->lib->fn.enum_container(c->h, (char *)buf, len);
}

skf_err skf_lib_list_apps(struct skf_lib *lib, const char *dev, struct skf_names *out, uint32_t *sar)
{
    struct session s;
    skf_err e;

    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&lib->lock);
    if ((e = session_open(&s, lib, sar, dev, NULL, NULL)) == SKF_OK) {
        struct handle_ctx c = { lib, s.dev };

        e = fetch_names(lib, call_enum_app, &c, out, sar);
    }
    session_close(&s, e);
    pthread_mutex_unlock(&lib->lock);
    return e;
}

skf_err skf_lib_list_containers(struct skf_lib *lib, const char *dev, const char *app,
                                struct skf_names *out, uint32_t *sar)
{
    struct session s;
    skf_err e;

    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&lib->lock);
    if ((e = session_open(&s, lib, sar, dev, app, NULL)) == SKF_OK) {
        struct handle_ctx c = { lib, s.app };

        e = fetch_names(lib, call_enum_container, &c, out, sar);
    }
    session_close(&s, e);
    pthread_mutex_unlock(&lib->lock);
    return e;
}

skf_err skf_lib_container_type(struct skf_lib *lib, const char *dev, const char *app,
                               const char *con, uint32_t *type, uint32_t *sar)
{
    struct session s;
    skf_slot slot = 0;
    skf_err e;

    pthread_mutex_lock(&lib->lock);
    if ((e = session_open(&s, lib, sar, dev, app, con)) == SKF_OK &&
        (e = note(sar, lib->fn.get_container_type(s.con, &slot))) == SKF_OK)
        *type = ulong_of(lib, slot);
    session_close(&s, e);
    pthread_mutex_unlock(&lib->lock);
    return e;
}

struct cert_ctx {
    struct skf_lib *lib;
    skf_handle con;
    bool sign;
};

static skf_rv call_export_cert(void *ctx, uint8_t *buf, skf_slot *len)
{
    struct cert_ctx *c = ctx;

    return c->lib->fn.export_certificate(c->con, c->sign ? SKF_TRUE : SKF_FALSE, buf, len);
}

skf_err skf_lib_export_cert(struct skf_lib *lib, const char *dev, const char *app, const char *con,
                            bool sign, uint8_t **der, size_t *len, uint32_t *sar)
{
    struct session s;
    skf_err e;

    *der = NULL;
    *len = 0;
    pthread_mutex_lock(&lib->lock);
    if ((e = session_open(&s, lib, sar, dev, app, con)) == SKF_OK) {
        struct cert_ctx c = { lib, s.con, sign };

        e = fetch_sized(lib, call_export_cert, &c, SKF_WIRE_BYTES_MAX, der, len, sar);
        /* "no certificate" comes as a size of 0 or as one of several codes */
        if (e == SKF_OK && *len == 0)
            e = SKF_E_CERT_NOT_FOUND;
        else if (e == SKF_E_LIBRARY_FAIL && sar &&
                 (*sar == SAR_FILE_NOT_EXIST || *sar == SAR_KEYNOTFOUNTERR))
            e = SKF_E_CERT_NOT_FOUND;
        if (e != SKF_OK) {
            free(*der);
            *der = NULL;
            *len = 0;
        }
    }
    session_close(&s, e);
    pthread_mutex_unlock(&lib->lock);
    return e;
}

static skf_err pin_info_locked(struct skf_lib *lib, skf_handle app, enum skf_pin_role role,
                               struct skf_pin_info *out, uint32_t *sar)
{
    skf_slot max = 0, left = 0, def = 0;
    skf_err e = note(sar, lib->fn.get_pin_info(app, skf_profile_pin_type(&lib->profile, role),
                                               &max, &left, &def));

    if (e != SKF_OK)
        return e;
    out->tries_max = ulong_of(lib, max);
    out->tries_left = ulong_of(lib, left);
    out->default_pin = bool_of(lib, def);
    if (out->tries_left > out->tries_max)
        return SKF_E_MALFORMED;
    return SKF_OK;
}

skf_err skf_lib_pin_info(struct skf_lib *lib, const char *dev, const char *app,
                         enum skf_pin_role role, struct skf_pin_info *out, uint32_t *sar)
{
    struct session s;
    skf_err e;

    pthread_mutex_lock(&lib->lock);
    if ((e = session_open(&s, lib, sar, dev, app, NULL)) == SKF_OK)
        e = pin_info_locked(lib, s.app, role, out, sar);
    session_close(&s, e);
    pthread_mutex_unlock(&lib->lock);
    return e;
}

/*
 * What a PIN attempt's answer means for the caller. A library that says
 * "incorrect" with 0 tries left has blocked the PIN; one that did not write
 * the retry count is asked for it (GetPINInfo costs no try).
 */
static skf_err pin_outcome(struct skf_lib *lib, skf_handle app, enum skf_pin_role role, skf_err e,
                           skf_slot retry, uint32_t *tries_left)
{
    struct skf_pin_info info;

    if (e != SKF_E_PIN_INCORRECT && e != SKF_E_PIN_LOCKED)
        return e;
    if (e == SKF_E_PIN_LOCKED) {
        *tries_left = 0;
        return e;
    }
    if (ulong_of(lib, retry) != RETRY_UNSET)
        *tries_left = ulong_of(lib, retry);
    else if (pin_info_locked(lib, app, role, &info, NULL) == SKF_OK)
        *tries_left = info.tries_left;
    else
        *tries_left = RETRY_UNSET;
    return *tries_left == 0 ? SKF_E_PIN_LOCKED : SKF_E_PIN_INCORRECT;
}

static void clear_state_locked(struct skf_lib *lib, skf_handle app)
{
    lib->fn.clear_secure_state(app);
}

skf_err skf_lib_verify_pin(struct skf_lib *lib, const char *dev, const char *app,
                           enum skf_pin_role role, const char *pin, uint32_t *tries_left, uint32_t *sar)
{
    struct session s;
    skf_slot retry = RETRY_UNSET;
    skf_err e;

    pthread_mutex_lock(&lib->lock);
    if ((e = session_open(&s, lib, sar, dev, app, NULL)) == SKF_OK) {
        e = note(sar, lib->fn.verify_pin(s.app, skf_profile_pin_type(&lib->profile, role), pin, &retry));
        e = pin_outcome(lib, s.app, role, e, retry, tries_left);
        clear_state_locked(lib, s.app);
    }
    session_close(&s, e);
    pthread_mutex_unlock(&lib->lock);
    return e;
}

skf_err skf_lib_change_pin(struct skf_lib *lib, const char *dev, const char *app, enum skf_pin_role role,
                           const char *old_pin, const char *new_pin, uint32_t *tries_left, uint32_t *sar)
{
    struct session s;
    skf_slot retry = RETRY_UNSET;
    skf_err e;

    pthread_mutex_lock(&lib->lock);
    if ((e = session_open(&s, lib, sar, dev, app, NULL)) == SKF_OK) {
        e = note(sar, lib->fn.change_pin(s.app, skf_profile_pin_type(&lib->profile, role),
                                         old_pin, new_pin, &retry));
        e = pin_outcome(lib, s.app, role, e, retry, tries_left);
        clear_state_locked(lib, s.app);
    }
    session_close(&s, e);
    pthread_mutex_unlock(&lib->lock);
    return e;
}

skf_err skf_lib_unblock_pin(struct skf_lib *lib, const char *dev, const char *app, const char *admin_pin,
                            const char *new_pin, uint32_t *tries_left, uint32_t *sar)
{
    struct session s;
    skf_slot retry = RETRY_UNSET;
    skf_err e;

    pthread_mutex_lock(&lib->lock);
    if ((e = session_open(&s, lib, sar, dev, app, NULL)) == SKF_OK) {
        e = note(sar, lib->fn.unblock_pin(s.app, admin_pin, new_pin, &retry));
        e = pin_outcome(lib, s.app, SKF_PIN_ADMIN, e, retry, tries_left);
        clear_state_locked(lib, s.app);
    }
    session_close(&s, e);
    pthread_mutex_unlock(&lib->lock);
    return e;
}

skf_err skf_lib_clear_state(struct skf_lib *lib, const char *dev, const char *app, uint32_t *sar)
{
    struct session s;
    skf_err e;

    pthread_mutex_lock(&lib->lock);
    if ((e = session_open(&s, lib, sar, dev, app, NULL)) == SKF_OK)
        e = note(sar, lib->fn.clear_secure_state(s.app));
    session_close(&s, e);
    pthread_mutex_unlock(&lib->lock);
    return e;
}

/* The session's application (and with global_device its connection) passes
 * to lib->held; what is left of `s` closes as usual. */
static void hold_session(struct skf_lib *lib, struct session *s, const char *dev, const char *app)
{
    lib->held.on = true;
    lib->held.dev = s->dev;
    lib->held.app = s->app;
    lib->held.own_dev = lib->profile.global_device;
    snprintf(lib->held.dev_name, sizeof lib->held.dev_name, "%s", dev);
    snprintf(lib->held.app_name, sizeof lib->held.app_name, "%s", app);
    s->have_app = false;
    if (lib->held.own_dev)
        s->have_dev = false;
}

/* A session made of the held application when it is `dev`'s `app`. */
static bool take_held(struct skf_lib *lib, struct session *s, uint32_t *sar, const char *dev,
                      const char *app)
{
    if (!lib->held.on || strcmp(lib->held.dev_name, dev) != 0 ||
        strcmp(lib->held.app_name, app) != 0)
        return false;
    memset(s, 0, sizeof *s);
    s->lib = lib;
    s->sar = sar;
    if (sar)
        *sar = SAR_OK;
    s->dev = lib->held.dev;
    s->app = lib->held.app;
    s->have_dev = true;
    s->have_app = true;
    /* a connection the hold took over from the kept one is kept again */
    if (lib->held.own_dev && !lib->profile.global_device) {
        unkeep_dev(lib);
        snprintf(lib->kept_name, sizeof lib->kept_name, "%s", dev);
        lib->kept_dev = lib->held.dev;
    }
    memset(&lib->held, 0, sizeof lib->held);
    return true;
}

skf_err skf_lib_remote_unblock_request(struct skf_lib *lib, const char *dev, const char *app,
                                       uint8_t *challenge, size_t len, uint32_t *sar)
{
    struct session s;
    skf_err e;

    if (!(lib->caps & SKF_CAP_REMOTE_UNBLOCK))
        return SKF_E_NOT_SUPPORTED;
    if (len == 0 || len > SKF_CHALLENGE_MAX)
        return SKF_E_INVALID_ARG;
    pthread_mutex_lock(&lib->lock);
    if ((e = session_open(&s, lib, sar, dev, app, NULL)) == SKF_OK)
        e = note(sar, lib->fn.gen_remote_unblock_request(s.app, challenge, len));
    if (e == SKF_OK)
        hold_session(lib, &s, dev, app);
    session_close(&s, e);
    pthread_mutex_unlock(&lib->lock);
    return e;
}

skf_err skf_lib_remote_unblock(struct skf_lib *lib, const char *dev, const char *app,
                               const uint8_t *answer, size_t len, uint32_t *tries_left, uint32_t *sar)
{
    struct session s;
    skf_slot retry = RETRY_UNSET;
    skf_err e;

    if (!(lib->caps & SKF_CAP_REMOTE_UNBLOCK))
        return SKF_E_NOT_SUPPORTED;
    if (len == 0 || len > SKF_ANSWER_MAX)
        return SKF_E_INVALID_ARG;
    pthread_mutex_lock(&lib->lock);
    /* Without its challenge's application the answer is never presented: a
     * key that drew a fresh random would count it as a wrong admin PIN. */
    if (!take_held(lib, &s, sar, dev, app)) {
        pthread_mutex_unlock(&lib->lock);
        if (sar)
            *sar = SAR_OK;             /* the library was not asked */
        return SKF_E_CHALLENGE_STALE;
    }
    e = note(sar, lib->fn.remote_unblock_pin(s.app, answer, len, &retry));
    e = pin_outcome(lib, s.app, SKF_PIN_ADMIN, e, retry, tries_left);
    clear_state_locked(lib, s.app);
    session_close(&s, e);
    pthread_mutex_unlock(&lib->lock);
    return e;
}

/* --- certificate writes ------------------------------------------------------ */

/* A 256-bit number from a blob field of SKF_ECC_MAX_COORD_LEN bytes, where it
 * sits right-aligned; MALFORMED when the padding is not zero. */
static skf_err coord_from_field(const uint8_t *field, uint8_t out[SKF_EC_COORD_LEN])
{
    size_t pad = SKF_ECC_MAX_COORD_LEN - SKF_EC_COORD_LEN;

    for (size_t i = 0; i < pad; i++)
        if (field[i])
            return SKF_E_MALFORMED;
    memcpy(out, field + pad, SKF_EC_COORD_LEN);
    return SKF_OK;
}

/* ECCPUBLICKEYBLOB, whose BitLen is a ULONG of the library's width. */
static skf_err point_from_blob(const struct skf_lib *lib, const uint8_t *blob, size_t len,
                               uint8_t x[SKF_EC_COORD_LEN], uint8_t y[SKF_EC_COORD_LEN])
{
    size_t ulong_len = lib->profile.ulong_bits / CHAR_BIT;
    uint32_t bits;
    skf_err e;

    if (len < ulong_len + 2 * SKF_ECC_MAX_COORD_LEN)
        return SKF_E_MALFORMED;
    memcpy(&bits, blob, sizeof bits);      /* little-endian ABI (abi.h) */
    if (bits != SKF_SM2_BITS)
        return SKF_E_MALFORMED;
    e = coord_from_field(blob + ulong_len, x);
    return e != SKF_OK ? e : coord_from_field(blob + ulong_len + SKF_ECC_MAX_COORD_LEN, y);
}

/* A session on `con` with the user PIN verified; the caller clears the state. */
static skf_err open_verified(struct session *s, struct skf_lib *lib, const char *dev,
                             const char *app, const char *con, const char *pin,
                             uint32_t *tries_left, uint32_t *sar)
{
    skf_slot retry = RETRY_UNSET;
    skf_err e;

    if (!(lib->caps & SKF_CAP_CERT_WRITE)) {
        memset(s, 0, sizeof *s);           /* nothing open for close_verified */
        s->lib = lib;
        return SKF_E_NOT_SUPPORTED;
    }
    if ((e = session_open(s, lib, sar, dev, app, con)) != SKF_OK)
        return e;
    e = note(sar, lib->fn.verify_pin(s->app, skf_profile_pin_type(&lib->profile, SKF_PIN_USER),
                                     pin, &retry));
    return pin_outcome(lib, s->app, SKF_PIN_USER, e, retry, tries_left);
}

static void close_verified(struct session *s, skf_err e)
{
    if (s->have_app)
        clear_state_locked(s->lib, s->app);
    session_close(s, e);
}

skf_err skf_lib_export_public_key(struct skf_lib *lib, const char *dev, const char *app,
                                  const char *con, bool sign, uint8_t x[SKF_EC_COORD_LEN],
                                  uint8_t y[SKF_EC_COORD_LEN], uint32_t *sar)
{
    uint8_t blob[SKF_ECC_PUBLIC_BLOB_MAX] = { 0 };
    skf_slot len = sizeof blob;
    struct session s;
    skf_err e;

    if (!(lib->caps & SKF_CAP_CERT_WRITE))
        return SKF_E_NOT_SUPPORTED;
    pthread_mutex_lock(&lib->lock);
    if ((e = session_open(&s, lib, sar, dev, app, con)) == SKF_OK) {
        e = note(sar, lib->fn.export_public_key(s.con, sign ? SKF_TRUE : SKF_FALSE, blob, &len));
        if (e == SKF_E_LIBRARY_FAIL && sar && *sar == SAR_KEYNOTFOUNTERR)
            e = SKF_E_CERT_NOT_FOUND;
        else if (e == SKF_OK)
            e = point_from_blob(lib, blob, ulong_of(lib, len) < sizeof blob ? ulong_of(lib, len)
                                                                          : sizeof blob, x, y);
    }
    session_close(&s, e);
    pthread_mutex_unlock(&lib->lock);
    return e;
}

skf_err skf_lib_gen_sign_key(struct skf_lib *lib, const char *dev, const char *app,
                             const char *con, const char *pin, uint8_t x[SKF_EC_COORD_LEN],
                             uint8_t y[SKF_EC_COORD_LEN], uint32_t *tries_left, uint32_t *sar)
{
    uint8_t blob[SKF_ECC_PUBLIC_BLOB_MAX] = { 0 };
    struct session s;
    skf_err e;

    pthread_mutex_lock(&lib->lock);
    if ((e = open_verified(&s, lib, dev, app, con, pin, tries_left, sar)) == SKF_OK) {
        e = note(sar, lib->fn.gen_ecc_key_pair(s.con, lib->profile.sm2_alg_id, blob));
        /* SM2 numbered the other way (0x00020200, as GmSSL's sgd.h has it):
         * a refused id changed nothing, so the other is asked once. */
        if (e == SKF_E_NOT_SUPPORTED || (e == SKF_E_LIBRARY_FAIL && sar &&
                                         *sar == SAR_INVALIDPARAMERR))
            e = note(sar, lib->fn.gen_ecc_key_pair(s.con, lib->profile.sm2_alg_id == SGD_SM2_1
                                                              ? SGD_SM2_2
                                                              : SGD_SM2_1,
                                                   blob));
        if (e == SKF_OK)
            e = point_from_blob(lib, blob, sizeof blob, x, y);
    }
    close_verified(&s, e);
    pthread_mutex_unlock(&lib->lock);
    return e;
}

skf_err skf_lib_sign_digest(struct skf_lib *lib, const char *dev, const char *app,
                            const char *con, const char *pin, const uint8_t *digest,
                            size_t digest_len, uint8_t r[SKF_EC_COORD_LEN],
                            uint8_t s_out[SKF_EC_COORD_LEN], uint32_t *tries_left, uint32_t *sar)
{
    uint8_t sig[SKF_ECC_SIGNATURE_LEN] = { 0 };
    struct session s;
    skf_err e;

    if (digest_len != SKF_SM3_LEN)
        return SKF_E_INVALID_ARG;
    pthread_mutex_lock(&lib->lock);
    if ((e = open_verified(&s, lib, dev, app, con, pin, tries_left, sar)) == SKF_OK) {
        e = note(sar, lib->fn.ecc_sign_data(s.con, digest, digest_len, sig));
        if (e == SKF_OK)
            e = coord_from_field(sig, r);
        if (e == SKF_OK)
            e = coord_from_field(sig + SKF_ECC_MAX_COORD_LEN, s_out);
    }
    close_verified(&s, e);
    pthread_mutex_unlock(&lib->lock);
    return e;
}

skf_err skf_lib_import_cert(struct skf_lib *lib, const char *dev, const char *app,
                            const char *con, const char *pin, bool sign, const uint8_t *der,
                            size_t len, uint32_t *tries_left, uint32_t *sar)
{
    struct session s;
    skf_err e;

    if (!der || len == 0 || len > SKF_WIRE_BYTES_MAX)
        return SKF_E_INVALID_ARG;
    pthread_mutex_lock(&lib->lock);
    if ((e = open_verified(&s, lib, dev, app, con, pin, tries_left, sar)) == SKF_OK)
        e = note(sar, lib->fn.import_certificate(s.con, sign ? SKF_TRUE : SKF_FALSE, der, len));
    close_verified(&s, e);
    pthread_mutex_unlock(&lib->lock);
    return e;
}

/* --- files ------------------------------------------------------------------ */

static skf_rv call_enum_files(void *ctx, uint8_t *buf, skf_slot *len)
{
    struct handle_ctx *c = ctx;

    return c->lib->fn.enum_files(c->h, (char *)buf, len);
}

/* One file's head into out; false when the library would not read it. A
 * pulled device ends the whole operation (*e). */
static bool read_head(struct skf_lib *lib, skf_handle app, const char *name,
                      struct skf_file_heads *out, skf_err *e)
{
    uint8_t *head = out->head[out->n];
    skf_slot got = SKF_FILE_HEAD_LEN;   /* some libraries read it as the buffer's size */
    skf_rv rv = lib->fn.read_file(app, name, 0, SKF_FILE_HEAD_LEN, head, &got);

    if (skf_err_from_sar(rv) == SKF_E_DEVICE_REMOVED) {
        *e = SKF_E_DEVICE_REMOVED;
        return false;
    }
    if (rv != SAR_OK || ulong_of(lib, got) > SKF_FILE_HEAD_LEN)
        return false;
    out->len[out->n++] = ulong_of(lib, got);
    return true;
}

skf_err skf_lib_file_heads(struct skf_lib *lib, const char *dev, const char *app,
                           struct skf_file_heads *out, uint32_t *sar)
{
    struct skf_names names = { 0 };
    struct session s;
    skf_err e;

    memset(out, 0, sizeof *out);
    if (!(lib->caps & SKF_CAP_FILES))
        return SKF_E_NOT_SUPPORTED;
    pthread_mutex_lock(&lib->lock);
    if ((e = session_open(&s, lib, sar, dev, app, NULL)) == SKF_OK) {
        struct handle_ctx c = { lib, s.app };

        e = fetch_names(lib, call_enum_files, &c, &names, sar);
    }
    for (size_t i = 0; e == SKF_OK && i < names.n; i++)
        read_head(lib, s.app, names.name[i], out, &e);
    session_close(&s, e);
    pthread_mutex_unlock(&lib->lock);
    skf_names_free(&names);
    return e;
}
