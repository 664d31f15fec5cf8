/* SPDX-License-Identifier: MIT */
/*
 * tests/vskf/app.c — applications (GM/T 0016-2012 7.3) and their files
 * (7.4): creating and deleting an application needs device authentication;
 * files and containers are created under the application's create rights,
 * read and written under each file's own rights.
 */
#include "tests/vskf/lib.h"

#include <stdlib.h>
#include <string.h>

static HANDLE open_app_handle(const struct vskf_op *op, HANDLE hDev, const char *name)
{
    struct vskf_ref ref = op->ref;

    ref.kind = VSKF_KIND_APP;
    ref.parent = hDev;
    vskf_strlcpy(ref.app, name, sizeof ref.app);
    return vskf_handle_open(&ref);
}

static bool tries_valid(DWORD tries)
{
    return tries >= 1 && tries <= VSKF_TRIES_MAX;
}

ULONG SKF_CreateApplication(DEVHANDLE hDev, LPSTR szAppName, LPSTR szAdminPin,
                            DWORD dwAdminPinRetryCount, LPSTR szUserPin,
                            DWORD dwUserPinRetryCount, DWORD dwCreateFileRights,
                            HAPPLICATION *phApplication)
{
    struct vskf_op op;
    struct vskf_app *app;
    ULONG rv;

    if (!phApplication || !tries_valid(dwAdminPinRetryCount) ||
        !tries_valid(dwUserPinRetryCount))
        return SAR_INVALIDPARAMERR;
    rv = vskf_check_name(szAppName, VSKF_APP_NAME_MAX);
    if (rv == SAR_OK)
        rv = vskf_check_pin(szAdminPin);
    if (rv == SAR_OK)
        rv = vskf_check_pin(szUserPin);
    if (rv != SAR_OK)
        return rv;
    rv = vskf_op_begin(hDev, VSKF_KIND_DEV, &op);
    if (rv == SAR_OK && !op.ram.dev_authed)
        rv = SAR_USER_NOT_LOGGED_IN;
    else if (rv == SAR_OK && vskf_find_app(&op.st, szAppName))
        rv = SAR_APPLICATION_EXISTS;
    else if (rv == SAR_OK && op.st.n_apps == VSKF_APPS_MAX)
        rv = SAR_NO_ROOM;
    if (rv != SAR_OK)
        return vskf_op_end(&op, rv);
    app = &op.st.apps[op.st.n_apps++];
    memset(app, 0, sizeof *app);
    vskf_strlcpy(app->name, szAppName, sizeof app->name);
    vskf_strlcpy(app->admin.value, szAdminPin, sizeof app->admin.value);
    app->admin.max_tries = app->admin.tries_left = dwAdminPinRetryCount;
    app->admin.is_default = true;
    vskf_strlcpy(app->user.value, szUserPin, sizeof app->user.value);
    app->user.max_tries = app->user.tries_left = dwUserPinRetryCount;
    app->user.is_default = true;
    app->create_rights = dwCreateFileRights;
    op.st_dirty = true;
    *phApplication = open_app_handle(&op, hDev, szAppName);
    if (!*phApplication)
        rv = SAR_MEMORYERR;
    return vskf_op_end(&op, rv);
}

static size_t app_names(const struct vskf_state *st, char *out)
{
    size_t len = 0;

    for (size_t i = 0; i < st->n_apps; i++) {
        size_t n = strlen(st->apps[i].name) + 1;

        if (out)
            memcpy(out + len, st->apps[i].name, n);
        len += n;
    }
    if (out)
        out[len] = '\0';
    return len + 1;
}

ULONG SKF_EnumApplication(DEVHANDLE hDev, LPSTR szAppName, ULONG *pulSize)
{
    struct vskf_op op;
    char *names = NULL;
    ULONG rv = vskf_op_begin(hDev, VSKF_KIND_DEV, &op);

    if (rv == SAR_OK) {
        size_t len = app_names(&op.st, NULL);

        names = malloc(len);
        if (!names) {
            rv = SAR_MEMORYERR;
        } else {
            app_names(&op.st, names);
            rv = vskf_out(names, len, szAppName, pulSize);
        }
    }
    free(names);
    return vskf_op_end(&op, rv);
}

ULONG SKF_DeleteApplication(DEVHANDLE hDev, LPSTR szAppName)
{
    struct vskf_op op;
    struct vskf_app *app;
    ULONG rv;

    rv = vskf_check_name(szAppName, VSKF_APP_NAME_MAX);
    if (rv != SAR_OK)
        return rv;
    rv = vskf_op_begin(hDev, VSKF_KIND_DEV, &op);
    if (rv == SAR_OK && !op.ram.dev_authed)
        rv = SAR_USER_NOT_LOGGED_IN;
    if (rv != SAR_OK)
        return vskf_op_end(&op, rv);
    app = vskf_find_app(&op.st, szAppName);
    if (!app)
        return vskf_op_end(&op, SAR_APPLICATION_NOT_EXISTS);
    vskf_ram_set_role(&op.ram, app->name, VSKF_ROLE_NONE);
    op.ram_dirty = true;
    vskf_app_free(app);
    *app = op.st.apps[op.st.n_apps - 1];
    memset(&op.st.apps[op.st.n_apps - 1], 0, sizeof op.st.apps[0]);
    op.st.n_apps--;
    op.st_dirty = true;
    return vskf_op_end(&op, SAR_OK);
}

ULONG SKF_OpenApplication(DEVHANDLE hDev, LPSTR szAppName, HAPPLICATION *phApplication)
{
    struct vskf_op op;
    ULONG rv;

    if (!phApplication)
        return SAR_INVALIDPARAMERR;
    rv = vskf_check_name(szAppName, VSKF_APP_NAME_MAX);
    if (rv != SAR_OK)
        return rv == SAR_NAMELENERR ? SAR_APPLICATION_NOT_EXISTS : rv;
    rv = vskf_op_begin(hDev, VSKF_KIND_DEV, &op);
    if (rv == SAR_OK && !vskf_find_app(&op.st, szAppName))
        rv = SAR_APPLICATION_NOT_EXISTS;
    if (rv == SAR_OK) {
        *phApplication = open_app_handle(&op, hDev, szAppName);
        if (!*phApplication)
            rv = SAR_MEMORYERR;
    }
    return vskf_op_end(&op, rv);
}

/* Under the quirk, a pending remote-unblock challenge does not outlive the
 * application it was drawn in: the key's random register holds a fresh one
 * nobody has seen, so an answer to the old one is wrong and costs an
 * admin-PIN try (docs/virtual-skf.md). */
static void lose_challenge(HAPPLICATION hApplication)
{
    struct vskf_op op;

    if (!vskf_quirk(VSKF_Q_CHALLENGE_LOST_ON_CLOSE) ||
        vskf_op_begin(hApplication, VSKF_KIND_APP, &op) != SAR_OK)
        return;
    if (op.ram.challenge_len && vskf_random(op.ram.challenge, op.ram.challenge_len) == 0)
        op.ram_dirty = true;
    vskf_op_end(&op, SAR_OK);
}

ULONG SKF_CloseApplication(HAPPLICATION hApplication)
{
    vskf_ensure_init();
    lose_challenge(hApplication);
    return vskf_handle_close(hApplication, VSKF_KIND_APP);
}

/* --- files --------------------------------------------------------------------------- */

static enum vskf_role role_of(const struct vskf_op *op)
{
    return vskf_ram_role(&op->ram, op->app->name);
}

ULONG SKF_CreateFile(HAPPLICATION hApplication, LPSTR szFileName, ULONG ulFileSize,
                     ULONG ulReadRights, ULONG ulWriteRights)
{
    struct vskf_op op;
    struct vskf_file *f;
    uint8_t *zero;
    ULONG rv;

    rv = vskf_check_name(szFileName, VSKF_FILE_NAME_MAX);
    if (rv != SAR_OK)
        return rv;
    if (ulFileSize == 0 || ulFileSize > VSKF_FILE_SIZE_MAX)
        return SAR_INVALIDPARAMERR;
    rv = vskf_op_begin(hApplication, VSKF_KIND_APP, &op);
    if (rv == SAR_OK && !vskf_rights_allow(op.app->create_rights, role_of(&op)))
        rv = SAR_USER_NOT_LOGGED_IN;
    else if (rv == SAR_OK && vskf_find_file(op.app, szFileName))
        rv = SAR_FILE_ALREADY_EXIST;
    else if (rv == SAR_OK && (op.app->n_files == VSKF_FILES_MAX ||
                              vskf_used_space(&op.st) + ulFileSize > op.st.total_space))
        rv = SAR_NO_ROOM;
    if (rv != SAR_OK)
        return vskf_op_end(&op, rv);
    zero = calloc(1, ulFileSize);
    f = &op.app->files[op.app->n_files];
    memset(f, 0, sizeof *f);
    if (!zero || vskf_bytes_set(&f->data, zero, ulFileSize) < 0) {
        free(zero);
        return vskf_op_end(&op, SAR_MEMORYERR);
    }
    free(zero);
    vskf_strlcpy(f->name, szFileName, sizeof f->name);
    f->read_rights = ulReadRights;
    f->write_rights = ulWriteRights;
    op.app->n_files++;
    op.st_dirty = true;
    return vskf_op_end(&op, SAR_OK);
}

ULONG SKF_DeleteFile(HAPPLICATION hApplication, LPSTR szFileName)
{
    struct vskf_op op;
    struct vskf_file *f = NULL;
    ULONG rv;

    rv = vskf_check_name(szFileName, VSKF_FILE_NAME_MAX);
    if (rv != SAR_OK)
        return rv == SAR_NAMELENERR ? SAR_FILE_NOT_EXIST : rv;
    rv = vskf_op_begin(hApplication, VSKF_KIND_APP, &op);
    if (rv == SAR_OK && !(f = vskf_find_file(op.app, szFileName)))
        rv = SAR_FILE_NOT_EXIST;
    else if (rv == SAR_OK && !vskf_rights_allow(op.app->create_rights, role_of(&op)))
        rv = SAR_USER_NOT_LOGGED_IN;
    if (rv == SAR_OK) {
        vskf_bytes_free(&f->data);
        *f = op.app->files[op.app->n_files - 1];
        memset(&op.app->files[op.app->n_files - 1], 0, sizeof *f);
        op.app->n_files--;
        op.st_dirty = true;
    }
    return vskf_op_end(&op, rv);
}

static size_t file_names(const struct vskf_app *app, char *out)
{
    size_t len = 0;

    for (size_t i = 0; i < app->n_files; i++) {
        size_t n = strlen(app->files[i].name) + 1;

        if (out)
            memcpy(out + len, app->files[i].name, n);
        len += n;
    }
    if (out)
        out[len] = '\0';
    return len + 1;
}

ULONG SKF_EnumFiles(HAPPLICATION hApplication, LPSTR szFileList, ULONG *pulSize)
{
    struct vskf_op op;
    char *names = NULL;
    ULONG rv = vskf_op_begin(hApplication, VSKF_KIND_APP, &op);

    if (rv == SAR_OK) {
        size_t len = file_names(op.app, NULL);

        names = malloc(len);
        if (!names) {
            rv = SAR_MEMORYERR;
        } else {
            file_names(op.app, names);
            rv = vskf_out(names, len, szFileList, pulSize);
        }
    }
    free(names);
    return vskf_op_end(&op, rv);
}

ULONG SKF_GetFileInfo(HAPPLICATION hApplication, LPSTR szFileName, FILEATTRIBUTE *pFileInfo)
{
    struct vskf_op op;
    const struct vskf_file *f = NULL;
    ULONG rv;

    if (!szFileName || !pFileInfo)
        return SAR_INVALIDPARAMERR;
    rv = vskf_op_begin(hApplication, VSKF_KIND_APP, &op);
    if (rv == SAR_OK && !(f = vskf_find_file(op.app, szFileName)))
        rv = SAR_FILE_NOT_EXIST;
    if (rv == SAR_OK) {
        memset(pFileInfo, 0, sizeof *pFileInfo);
        memcpy(pFileInfo->FileName, f->name, strnlen(f->name, sizeof pFileInfo->FileName));
        pFileInfo->FileSize = (ULONG)f->data.len;
        pFileInfo->ReadRights = f->read_rights;
        pFileInfo->WriteRights = f->write_rights;
    }
    return vskf_op_end(&op, rv);
}

ULONG SKF_ReadFile(HAPPLICATION hApplication, LPSTR szFileName, ULONG ulOffset, ULONG ulSize,
                   BYTE *pbOutData, ULONG *pulOutLen)
{
    struct vskf_op op;
    const struct vskf_file *f = NULL;
    ULONG rv;

    if (!szFileName || !pulOutLen)
        return SAR_INVALIDPARAMERR;
    rv = vskf_op_begin(hApplication, VSKF_KIND_APP, &op);
    if (rv == SAR_OK && !(f = vskf_find_file(op.app, szFileName)))
        rv = SAR_FILE_NOT_EXIST;
    else if (rv == SAR_OK && !vskf_rights_allow(f->read_rights, role_of(&op)))
        rv = SAR_USER_NOT_LOGGED_IN;
    else if (rv == SAR_OK && ulOffset > f->data.len)
        rv = SAR_INDATALENERR;
    if (rv == SAR_OK) {
        size_t n = f->data.len - ulOffset;

        if (n > ulSize)
            n = ulSize;
        rv = vskf_out(f->data.data + ulOffset, n, pbOutData, pulOutLen);
    }
    return vskf_op_end(&op, rv);
}

ULONG SKF_WriteFile(HAPPLICATION hApplication, LPSTR szFileName, ULONG ulOffset, BYTE *pbData,
                    ULONG ulSize)
{
    struct vskf_op op;
    struct vskf_file *f = NULL;
    ULONG rv;

    if (!szFileName || (!pbData && ulSize))
        return SAR_INVALIDPARAMERR;
    rv = vskf_op_begin(hApplication, VSKF_KIND_APP, &op);
    if (rv == SAR_OK && !(f = vskf_find_file(op.app, szFileName)))
        rv = SAR_FILE_NOT_EXIST;
    else if (rv == SAR_OK && !vskf_rights_allow(f->write_rights, role_of(&op)))
        rv = SAR_USER_NOT_LOGGED_IN;
    else if (rv == SAR_OK && ((size_t)ulOffset + ulSize > f->data.len))
        rv = SAR_INDATALENERR;
    if (rv == SAR_OK && ulSize) {
        memcpy(f->data.data + ulOffset, pbData, ulSize);
        op.st_dirty = true;
    }
    return vskf_op_end(&op, rv);
}
