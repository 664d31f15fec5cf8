/* SPDX-License-Identifier: MIT */
/*
 * tests/vskf/device.c — device management and device authentication
 * (GM/T 0016-2012 7.1, 7.2.2-7.2.3): enumerating the devices under
 * $VSKF_DIR, connecting, DEVINFO in the packed or natural layout, the label,
 * exclusive use (SKF_LockDev), random numbers (the last one is the device's
 * challenge, as a card's GET CHALLENGE), device authentication with SM4,
 * signature verification with an outside key, and SKF_CloseHandle.
 */
#include "tests/vskf/lib.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define DEVINFO_VERSION_MAJOR  1
#define DEVINFO_VERSION_MINOR  0
#define MAX_ECC_BUFFER         256
#define MAX_BUFFER             2048
#define LOCK_POLL_NS           10000000L    /* 10 ms between SKF_LockDev tries */
#define NS_PER_MS              1000000L

/* --- the device list ---------------------------------------------------------------- */

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct vskf_dev_entry *)a)->name,
                  ((const struct vskf_dev_entry *)b)->name);
}

int vskf_scan(const char *dir, struct vskf_dev_list *out)
{
    const size_t suffix_len = strlen(VSKF_STATE_SUFFIX);
    struct dirent *e;
    DIR *d;

    out->n = 0;
    if (!dir)
        return 0;
    d = opendir(dir);
    if (!d)
        return -1;
    while ((e = readdir(d)) && out->n < VSKF_DEVS_MAX) {
        struct vskf_dev_entry *dev = &out->devs[out->n];
        size_t n = strlen(e->d_name);
        struct vskf_paths paths;
        struct vskf_ram ram;

        if (n <= suffix_len || strcmp(e->d_name + n - suffix_len, VSKF_STATE_SUFFIX) != 0 ||
            n - suffix_len > VSKF_DEV_NAME_MAX)
            continue;
        memcpy(dev->name, e->d_name, n - suffix_len);
        dev->name[n - suffix_len] = '\0';
        if (vskf_paths_for(dir, dev->name, &paths) < 0)
            continue;
        dev->present = vskf_ram_load(paths.ram, &ram) == 0;
        memcpy(dev->session, ram.session, sizeof dev->session);
        OPENSSL_cleanse(&ram, sizeof ram);
        out->n++;
    }
    closedir(d);
    qsort(out->devs, out->n, sizeof out->devs[0], by_name);
    return 0;
}

static size_t name_list(const struct vskf_dev_list *list, bool present_only, char *out)
{
    size_t len = 0;

    for (size_t i = 0; i < list->n; i++) {
        size_t n;

        if (present_only && !list->devs[i].present)
            continue;
        n = strlen(list->devs[i].name) + 1;
        if (out)
            memcpy(out + len, list->devs[i].name, n);
        len += n;
    }
    if (out)
        out[len] = '\0';
    return len + 1;       /* the list ends with an empty name */
}

ULONG SKF_EnumDev(BOOL bPresent, LPSTR szNameList, ULONG *pulSize)
{
    struct vskf_dev_list *list = malloc(sizeof *list);
    char *names = NULL;
    size_t len;
    ULONG rv = SAR_MEMORYERR;

    vskf_ensure_init();
    if (!list)
        return SAR_MEMORYERR;
    if (vskf_scan(vskf_dir(), list) < 0)
        list->n = 0;          /* no directory: no devices */
    len = name_list(list, bPresent != SKF_FALSE, NULL);
    names = malloc(len);
    if (names) {
        name_list(list, bPresent != SKF_FALSE, names);
        rv = vskf_out(names, len, szNameList, pulSize);
    }
    free(names);
    free(list);
    return rv;
}

ULONG SKF_GetDevState(LPSTR szDevName, ULONG *pulDevState)
{
    struct vskf_paths paths;
    struct vskf_ram ram;

    vskf_ensure_init();
    if (!szDevName || !pulDevState)
        return SAR_INVALIDPARAMERR;
    if (vskf_paths_for(vskf_dir(), szDevName, &paths) < 0 || access(paths.state, F_OK) < 0) {
        *pulDevState = DEV_ABSENT_STATE;
        return SAR_OK;
    }
    switch (vskf_ram_load(paths.ram, &ram)) {
    case 0:
        *pulDevState = DEV_PRESENT_STATE;
        break;
    case 1:
        *pulDevState = DEV_ABSENT_STATE;
        break;
    default:
        *pulDevState = DEV_UNKNOW_STATE;
        break;
    }
    OPENSSL_cleanse(&ram, sizeof ram);
    return SAR_OK;
}

/* --- connecting ------------------------------------------------------------------------ */

ULONG SKF_ConnectDev(LPSTR szName, DEVHANDLE *phDev)
{
    struct vskf_op op;
    bool plugged;
    ULONG rv;

    if (!szName || !phDev)
        return SAR_INVALIDPARAMERR;
    rv = vskf_op_begin_name(szName, &op, &plugged);
    if (rv == SAR_OK && !plugged)
        rv = SAR_DEVICE_REMOVED;
    if (rv == SAR_OK) {
        op.ref.kind = VSKF_KIND_DEV;
        memcpy(op.ref.session, op.ram.session, sizeof op.ref.session);
        *phDev = vskf_handle_open(&op.ref);
        if (!*phDev)
            rv = SAR_MEMORYERR;
    }
    return vskf_op_end(&op, rv);
}

ULONG SKF_DisConnectDev(DEVHANDLE hDev)
{
    vskf_ensure_init();
    return vskf_handle_close(hDev, VSKF_KIND_DEV);
}

ULONG SKF_CloseHandle(HANDLE hHandle)
{
    vskf_ensure_init();
    return vskf_handle_close(hHandle, VSKF_KIND_ANY);
}

/* --- device information ------------------------------------------------------------------ */

static void copy_field(char *dst, size_t size, const char *src)
{
    memset(dst, 0, size);
    memcpy(dst, src, strnlen(src, size - 1));
}

/* Fills either layout: the fields are the same, only the offsets differ. */
#define FILL_DEVINFO(info, st)                                                     \
    do {                                                                           \
        (info)->Version.major = DEVINFO_VERSION_MAJOR;                             \
        (info)->Version.minor = DEVINFO_VERSION_MINOR;                             \
        copy_field((info)->Manufacturer, sizeof (info)->Manufacturer, (st)->manufacturer); \
        copy_field((info)->Issuer, sizeof (info)->Issuer, (st)->issuer);           \
        copy_field((info)->Label, sizeof (info)->Label, (st)->label);              \
        copy_field((info)->SerialNumber, sizeof (info)->SerialNumber, (st)->serial); \
        (info)->HWVersion.major = (st)->hw_version[0];                             \
        (info)->HWVersion.minor = (st)->hw_version[1];                             \
        (info)->FirmwareVersion.major = (st)->fw_version[0];                       \
        (info)->FirmwareVersion.minor = (st)->fw_version[1];                       \
        (info)->AlgSymCap = SGD_SM4_ECB;                                           \
        (info)->AlgAsymCap = vskf_sm2_cap();                                       \
        (info)->AlgHashCap = SGD_SM3;                                              \
        (info)->DevAuthAlgId = SGD_SM4_ECB;                                        \
        (info)->TotalSpace = (st)->total_space;                                    \
        (info)->FreeSpace = free_space(st);                                        \
        (info)->MaxECCBufferSize = MAX_ECC_BUFFER;                                 \
        (info)->MaxBufferSize = MAX_BUFFER;                                        \
        memset((info)->Reserved, 0, sizeof (info)->Reserved);                      \
    } while (0)

static ULONG free_space(const struct vskf_state *st)
{
    size_t used = vskf_used_space(st);

    return used >= st->total_space ? 0 : (ULONG)(st->total_space - used);
}

ULONG SKF_GetDevInfo(DEVHANDLE hDev, DEVINFO *pDevInfo)
{
    struct vskf_op op;
    ULONG rv;

    if (!pDevInfo)
        return SAR_INVALIDPARAMERR;
    rv = vskf_op_begin(hDev, VSKF_KIND_DEV, &op);
    if (rv == SAR_OK) {
        if (vskf_quirk(VSKF_Q_NATURAL_DEVINFO)) {
            DEVINFO_NATURAL natural;

            FILL_DEVINFO(&natural, &op.st);
            memcpy(pDevInfo, &natural, sizeof natural);
        } else {
            FILL_DEVINFO(pDevInfo, &op.st);
        }
    }
    return vskf_op_end(&op, rv);
}

ULONG SKF_SetLabel(DEVHANDLE hDev, LPSTR szLabel)
{
    struct vskf_op op;
    ULONG rv;

    if (!szLabel)
        return SAR_INVALIDPARAMERR;
    if (strlen(szLabel) > VSKF_LABEL_MAX || !vskf_text_storable(szLabel))
        return SAR_INVALIDPARAMERR;
    rv = vskf_op_begin(hDev, VSKF_KIND_DEV, &op);
    if (rv == SAR_OK) {
        vskf_strlcpy(op.st.label, szLabel, sizeof op.st.label);
        op.st_dirty = true;
    }
    return vskf_op_end(&op, rv);
}

/* --- exclusive use ------------------------------------------------------------------------- */

static void sleep_poll(void)
{
    struct timespec ts = { 0, LOCK_POLL_NS };

    nanosleep(&ts, NULL);
}

ULONG SKF_LockDev(DEVHANDLE hDev, ULONG ulTimeOut)
{
    struct vskf_ref ref;
    struct vskf_paths paths;
    long waited_ms = 0;
    int fd;
    ULONG rv;

    vskf_ensure_init();
    rv = vskf_handle_ref(hDev, VSKF_KIND_DEV, &ref);
    if (rv != SAR_OK)
        return rv;
    if (vskf_handle_excl_fd(hDev) >= 0)
        return SAR_OK;
    if (vskf_paths_for(vskf_dir(), ref.dev, &paths) < 0)
        return SAR_DEVICE_REMOVED;
    fd = open(paths.excl, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return SAR_FAIL;
    while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            close(fd);
            return SAR_FAIL;
        }
        if (ulTimeOut != SKF_TIMEOUT_INFINITE && waited_ms >= (long)ulTimeOut) {
            close(fd);
            return SAR_TIMEOUTERR;
        }
        sleep_poll();
        waited_ms += LOCK_POLL_NS / NS_PER_MS;
    }
    vskf_handle_set_excl_fd(hDev, fd);
    return SAR_OK;
}

ULONG SKF_UnlockDev(DEVHANDLE hDev)
{
    struct vskf_ref ref;
    ULONG rv;
    int fd;

    vskf_ensure_init();
    rv = vskf_handle_ref(hDev, VSKF_KIND_DEV, &ref);
    if (rv != SAR_OK)
        return rv;
    fd = vskf_handle_excl_fd(hDev);
    if (fd >= 0) {
        vskf_handle_set_excl_fd(hDev, -1);
        close(fd);
    }
    return SAR_OK;
}

/* --- random numbers and device authentication ------------------------------------------- */

ULONG SKF_GenRandom(DEVHANDLE hDev, BYTE *pbRandom, ULONG ulRandomLen)
{
    struct vskf_op op;
    ULONG rv;

    if (!pbRandom || ulRandomLen == 0 || ulRandomLen > VSKF_RANDOM_MAX)
        return SAR_INVALIDPARAMERR;
    rv = vskf_op_begin(hDev, VSKF_KIND_DEV, &op);
    if (rv == SAR_OK && vskf_random(pbRandom, ulRandomLen) < 0)
        rv = SAR_GENRANDERR;
    if (rv == SAR_OK) {
        op.ram.challenge_len = ulRandomLen < VSKF_CHALLENGE_MAX ? ulRandomLen
                                                                : VSKF_CHALLENGE_MAX;
        memcpy(op.ram.challenge, pbRandom, op.ram.challenge_len);
        op.ram_dirty = true;
    }
    return vskf_op_end(&op, rv);
}

/* GM/T 0016-2012 7.2.3: the application takes an 8-byte random from
 * SKF_GenRandom, pads it with zeros to one SM4 block, encrypts it with the
 * device authentication key and hands the block to SKF_DevAuth. */
ULONG SKF_DevAuth(DEVHANDLE hDev, BYTE *pbAuthData, ULONG ulLen)
{
    uint8_t block[VSKF_SM4_BLOCK] = { 0 }, want[VSKF_SM4_BLOCK];
    struct vskf_op op;
    ULONG rv;

    if (!pbAuthData)
        return SAR_INVALIDPARAMERR;
    rv = vskf_op_begin(hDev, VSKF_KIND_DEV, &op);
    if (rv != SAR_OK)
        return vskf_op_end(&op, rv);
    if (op.ram.challenge_len == 0) {
        rv = SAR_NOTINITIALIZEERR;      /* no random asked for first */
        return vskf_op_end(&op, rv);
    }
    memcpy(block, op.ram.challenge, op.ram.challenge_len);
    /* The challenge answers once, right or wrong. */
    op.ram.challenge_len = 0;
    op.ram.dev_authed = false;
    op.ram_dirty = true;
    if (vskf_sm4_ecb(op.st.dev_auth_key, block, sizeof block, want, true) < 0)
        rv = SAR_FAIL;
    else if (ulLen != sizeof want || CRYPTO_memcmp(want, pbAuthData, sizeof want) != 0)
        rv = SAR_FAIL;
    else
        op.ram.dev_authed = true;
    OPENSSL_cleanse(want, sizeof want);
    return vskf_op_end(&op, rv);
}

ULONG SKF_ChangeDevAuthKey(DEVHANDLE hDev, BYTE *pbKeyValue, ULONG ulKeyLen)
{
    struct vskf_op op;
    ULONG rv;

    if (!pbKeyValue || ulKeyLen != VSKF_SM4_KEY_LEN)
        return SAR_INVALIDPARAMERR;
    rv = vskf_op_begin(hDev, VSKF_KIND_DEV, &op);
    if (rv == SAR_OK && !op.ram.dev_authed)
        rv = SAR_USER_NOT_LOGGED_IN;
    if (rv == SAR_OK) {
        memcpy(op.st.dev_auth_key, pbKeyValue, VSKF_SM4_KEY_LEN);
        op.st_dirty = true;
    }
    return vskf_op_end(&op, rv);
}

/* --- verification with an outside key ---------------------------------------------------- */

ULONG SKF_ECCVerify(DEVHANDLE hDev, ECCPUBLICKEYBLOB *pECCPubKeyBlob, BYTE *pbData,
                    ULONG ulDataLen, ECCSIGNATUREBLOB *pSignature)
{
    struct vskf_op op;
    EVP_PKEY *key = NULL;
    ULONG rv;

    if (!pECCPubKeyBlob || !pbData || !pSignature)
        return SAR_INVALIDPARAMERR;
    if (ulDataLen != VSKF_SM3_LEN)
        return SAR_INDATALENERR;
    rv = vskf_op_begin(hDev, VSKF_KIND_DEV, &op);
    if (rv == SAR_OK) {
        key = vskf_key_from_blob(pECCPubKeyBlob);
        if (!key)
            rv = SAR_INVALIDPARAMERR;
        else if (vskf_verify_digest(key, pbData, ulDataLen, pSignature) != 1)
            rv = SAR_FAIL;
    }
    EVP_PKEY_free(key);
    return vskf_op_end(&op, rv);
}
