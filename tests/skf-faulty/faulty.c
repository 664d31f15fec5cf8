/* SPDX-License-Identifier: MIT */
/*
 * tests/skf-faulty/faulty.c — an SKF library that misbehaves on command, for
 * tests/test-skf_host.c: it exports the SKF functions ukeyd's helper calls
 * and forwards each to the library named by $SKF_FAULTY_TARGET (the virtual
 * SKF token), unless the control file named by $SKF_FAULTY_CONTROL says
 * otherwise for that function:
 *
 *   FUNCTION MODE [always]
 *
 *   abort     abort()
 *   segv      SIGSEGV, as a library's stray pointer would bring
 *   exit      _exit(3), as a library "handling" an error might
 *   hang      never return
 *   nonsense  return answers no library should: sizes beyond the buffer, a
 *             list without its NULs, more tries left than the maximum, or an
 *             unknown SAR code
 *   wire      write a frame of an unknown protocol version on the helper's
 *             request channel (fd 3), then forward: garbage from the helper
 *   instant   (SKF_WaitForDevEvent) return SAR_NOT_EVENTERR at once
 *   network   (the forwarding functions) try what a library phoning home
 *             would: sockets of AF_INET, AF_INET6 and AF_NETLINK routing,
 *             then the local ones a library needs: AF_UNIX (pcscd), an
 *             AF_UNIX socketpair and AF_NETLINK uevents (hotplug). Returns
 *             instead of forwarding: R_NET_DENIED (SAR_NOTSUPPORTYETERR,
 *             NOT_SUPPORTED to the supervisor) when every network socket
 *             failed with EACCES and every local one opened; R_NET_OPENED
 *             (SAR_SECURITY_INVALID, NOT_LOGGED_IN) when a network socket
 *             opened or failed for another reason; R_LOCAL_REFUSED (SAR_FAIL,
 *             LIBRARY_FAIL) when a local one failed. stderr says which.
 *
 * A fault fires once (the control file is emptied before it acts) unless
 * `always` follows. Built three ways (see the Makefile): whole; without the
 * event functions and the remote-unblock extension (optional functions
 * absent); without SKF_VerifyPIN (a required function missing).
 *
 * Its declarations are its own and width-neutral: by-value ULONG and BOOL
 * pass as 64-bit values, pointers pass through untouched, so whatever widths
 * the target uses arrive as the caller sent them.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONTROL_ENV          "SKF_FAULTY_CONTROL"
#define TARGET_ENV           "SKF_FAULTY_TARGET"
#define HELPER_CALL_FD       3
#define LINE_MAX_LEN         256

#define R_OK_                0x00000000u
#define R_FAIL               0x0A000001u
#define R_NOT_EVENT          0x0A000022u
#define R_NONSENSE           0xDEADBEEFu
#define SIZE_NONSENSE        0x7FFFFFF0u
#define TRIES_NONSENSE       99u
#define R_NET_DENIED         0x0A000003u    /* SAR_NOTSUPPORTYETERR */
#define R_NET_OPENED         0x0B000033u    /* SAR_SECURITY_INVALID */
#define R_LOCAL_REFUSED      R_FAIL

typedef uint32_t rv_t;
typedef uint64_t arg_t;

enum mode { M_NONE, M_ABORT, M_SEGV, M_EXIT, M_HANG, M_NONSENSE, M_WIRE, M_INSTANT, M_NETWORK };

static const struct {
    const char *name;
    enum mode mode;
} modes[] = {
    { "abort", M_ABORT }, { "segv", M_SEGV }, { "exit", M_EXIT }, { "hang", M_HANG },
    { "nonsense", M_NONSENSE }, { "wire", M_WIRE }, { "instant", M_INSTANT },
    { "network", M_NETWORK },
};

static void *target;
static pthread_once_t target_once = PTHREAD_ONCE_INIT;

static void open_target(void)
{
    const char *path = getenv(TARGET_ENV);

    if (path && !(target = dlopen(path, RTLD_NOW | RTLD_LOCAL)))
        fprintf(stderr, "skf-faulty: cannot load %s: %s\n", path, dlerror());
}

static void *target_fn(const char *name)
{
    pthread_once(&target_once, open_target);
    return target ? dlsym(target, name) : NULL;
}

static enum mode parse_mode(const char *word)
{
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (strcmp(modes[i].name, word) == 0)
            return modes[i].mode;
    return M_NONE;
}

/* The mode commanded for `fn`, consuming a one-shot command. */
static enum mode commanded(const char *fn)
{
    const char *path = getenv(CONTROL_ENV);
    char line[LINE_MAX_LEN] = "", name[LINE_MAX_LEN], word[LINE_MAX_LEN], always[LINE_MAX_LEN] = "";
    enum mode m;
    FILE *f;
    int n;

    if (!path || !(f = fopen(path, "r")))
        return M_NONE;
    if (!fgets(line, sizeof line, f))
        line[0] = '\0';
    fclose(f);
    n = sscanf(line, "%255s %255s %255s", name, word, always);
    if (n < 2 || strcmp(name, fn) != 0)
        return M_NONE;
    m = parse_mode(word);
    if (n < 3 || strcmp(always, "always") != 0) {
        int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);

        if (fd >= 0)
            close(fd);
    }
    return m;
}

static void write_wire_garbage(void)
{
    /* a well-sized frame of protocol version 9 */
    static const uint8_t frame[] = { 0, 0, 0, 8, 9, 2, 0, 2, 0, 0, 0, 1 };

    if (write(HELPER_CALL_FD, frame, sizeof frame) < 0)
        perror("skf-faulty: write");
}

static const struct {
    const char *name;
    int family, type, protocol;
} network_sockets[] = {
    { "AF_INET", AF_INET, SOCK_STREAM, 0 },
    { "AF_INET6", AF_INET6, SOCK_DGRAM, 0 },
    { "AF_NETLINK routing", AF_NETLINK, SOCK_RAW, NETLINK_ROUTE },
}, local_sockets[] = {
    { "AF_UNIX", AF_UNIX, SOCK_STREAM, 0 },
    { "AF_NETLINK uevents", AF_NETLINK, SOCK_RAW, NETLINK_KOBJECT_UEVENT },
};

/* 0 if the socket opened (and is closed again), else errno */
static int try_socket(int family, int type, int protocol)
{
    int fd = socket(family, type | SOCK_CLOEXEC, protocol);

    if (fd < 0)
        return errno;
    close(fd);
    return 0;
}

static rv_t probe_network(void)
{
    rv_t rv = R_NET_DENIED;
    int pair[2];

    for (size_t i = 0; i < sizeof network_sockets / sizeof network_sockets[0]; i++) {
        int err = try_socket(network_sockets[i].family, network_sockets[i].type, network_sockets[i].protocol);

        if (err != EACCES) {
            fprintf(stderr, "skf-faulty: %s socket: %s\n", network_sockets[i].name,
                    err ? strerror(err) : "opened");
            rv = R_NET_OPENED;
        }
    }
    for (size_t i = 0; i < sizeof local_sockets / sizeof local_sockets[0]; i++) {
        int err = try_socket(local_sockets[i].family, local_sockets[i].type, local_sockets[i].protocol);

        if (err) {
            fprintf(stderr, "skf-faulty: %s socket refused: %s\n", local_sockets[i].name, strerror(err));
            rv = rv == R_NET_DENIED ? R_LOCAL_REFUSED : rv;
        }
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        fprintf(stderr, "skf-faulty: AF_UNIX socketpair refused: %s\n", strerror(errno));
        rv = rv == R_NET_DENIED ? R_LOCAL_REFUSED : rv;
    } else {
        close(pair[0]);
        close(pair[1]);
    }
    return rv;
}

/* Acts on the crashing and hanging modes; returns the others. */
static enum mode fault_point(const char *fn)
{
    enum mode m = commanded(fn);

    switch (m) {
    case M_ABORT:
        abort();
    case M_SEGV:
        raise(SIGSEGV);
        abort();
    case M_EXIT:
        _exit(3);
    case M_HANG:
        for (;;)
            pause();
    case M_WIRE:
        write_wire_garbage();
        return M_NONE;
    default:
        return m;
    }
}

static void put_u32(void *slot, uint32_t v)
{
    if (slot)
        memcpy(slot, &v, sizeof v);
}

#define TARGET(name, type) ((type)target_fn(name))

/* A forwarding function whose nonsense is an unknown SAR code, and which
 * probes the network on command. */
#define FORWARD(fname, params, args, types) \
    rv_t fname params; \
    rv_t fname params \
    { \
        rv_t (*fn) types = TARGET(#fname, rv_t (*) types); \
        enum mode m = fault_point(#fname); \
        if (m == M_NONSENSE) \
            return R_NONSENSE; \
        if (m == M_NETWORK) \
            return probe_network(); \
        return fn ? fn args : R_FAIL; \
    }

#ifndef FAULTY_WITHOUT_EVENTS
rv_t SKF_WaitForDevEvent(char *name, void *len, void *event);
rv_t SKF_WaitForDevEvent(char *name, void *len, void *event)
{
    rv_t (*fn)(char *, void *, void *) = TARGET("SKF_WaitForDevEvent", rv_t (*)(char *, void *, void *));
    /* `instant` is read on every call, as it must stay in force */
    enum mode m = fault_point("SKF_WaitForDevEvent");

    if (m == M_INSTANT)
        return R_NOT_EVENT;
    return fn ? fn(name, len, event) : R_FAIL;
}

FORWARD(SKF_CancelWaitForDevEvent, (void), (), (void))
#endif

rv_t SKF_EnumDev(arg_t present, char *names, void *size);
rv_t SKF_EnumDev(arg_t present, char *names, void *size)
{
    rv_t (*fn)(arg_t, char *, void *) = TARGET("SKF_EnumDev", rv_t (*)(arg_t, char *, void *));

    if (fault_point("SKF_EnumDev") == M_NONSENSE) {
        put_u32(size, SIZE_NONSENSE);     /* more than any list could need */
        return R_OK_;
    }
    return fn ? fn(present, names, size) : R_FAIL;
}

FORWARD(SKF_ConnectDev, (const char *name, void *dev), (name, dev), (const char *, void *))
FORWARD(SKF_DisConnectDev, (void *dev), (dev), (void *))
FORWARD(SKF_GetDevInfo, (void *dev, void *info), (dev, info), (void *, void *))

rv_t SKF_EnumApplication(void *dev, char *names, void *size);
rv_t SKF_EnumApplication(void *dev, char *names, void *size)
{
    rv_t (*fn)(void *, char *, void *) = TARGET("SKF_EnumApplication", rv_t (*)(void *, char *, void *));
    uint32_t cap = 0;
    rv_t rv;

    /* the size query (NULL buffer) passes: the nonsense is in the list itself */
    if (!names || fault_point("SKF_EnumApplication") != M_NONSENSE)
        return fn ? fn(dev, names, size) : R_FAIL;
    /* a buffer filled to its end with no NUL in it */
    memcpy(&cap, size, sizeof cap);
    rv = fn ? fn(dev, names, size) : R_FAIL;
    memset(names, 'A', cap);
    put_u32(size, cap);
    return rv;
}

FORWARD(SKF_OpenApplication, (void *dev, const char *name, void *app), (dev, name, app),
        (void *, const char *, void *))
FORWARD(SKF_CloseApplication, (void *app), (app), (void *))
FORWARD(SKF_EnumContainer, (void *app, char *names, void *size), (app, names, size),
        (void *, char *, void *))
FORWARD(SKF_OpenContainer, (void *app, const char *name, void *con), (app, name, con),
        (void *, const char *, void *))
FORWARD(SKF_CloseContainer, (void *con), (con), (void *))
FORWARD(SKF_GetContainerType, (void *con, void *type), (con, type), (void *, void *))

rv_t SKF_ExportCertificate(void *con, arg_t sign, uint8_t *cert, void *len);
rv_t SKF_ExportCertificate(void *con, arg_t sign, uint8_t *cert, void *len)
{
    rv_t (*fn)(void *, arg_t, uint8_t *, void *) =
        TARGET("SKF_ExportCertificate", rv_t (*)(void *, arg_t, uint8_t *, void *));
    uint32_t cap = 0;
    rv_t rv;

    if (!cert || fault_point("SKF_ExportCertificate") != M_NONSENSE)
        return fn ? fn(con, sign, cert, len) : R_FAIL;
    /* claims to have written more than the buffer holds */
    memcpy(&cap, len, sizeof cap);
    rv = fn ? fn(con, sign, cert, len) : R_FAIL;
    put_u32(len, cap + 1);
    return rv;
}

rv_t SKF_GetPINInfo(void *app, arg_t type, void *max, void *left, void *def);
rv_t SKF_GetPINInfo(void *app, arg_t type, void *max, void *left, void *def)
{
    rv_t (*fn)(void *, arg_t, void *, void *, void *) =
        TARGET("SKF_GetPINInfo", rv_t (*)(void *, arg_t, void *, void *, void *));
    rv_t rv = fn ? fn(app, type, max, left, def) : R_FAIL;

    if (fault_point("SKF_GetPINInfo") == M_NONSENSE)
        put_u32(left, TRIES_NONSENSE);     /* more tries left than the maximum */
    return rv;
}

#ifndef FAULTY_WITHOUT_VERIFY_PIN
FORWARD(SKF_VerifyPIN, (void *app, arg_t type, const char *pin, void *retry), (app, type, pin, retry),
        (void *, arg_t, const char *, void *))
#endif
FORWARD(SKF_ChangePIN, (void *app, arg_t type, const char *old_pin, const char *new_pin, void *retry),
        (app, type, old_pin, new_pin, retry), (void *, arg_t, const char *, const char *, void *))
FORWARD(SKF_UnblockPIN, (void *app, const char *admin_pin, const char *new_pin, void *retry),
        (app, admin_pin, new_pin, retry), (void *, const char *, const char *, void *))
FORWARD(SKF_ClearSecureState, (void *app), (app), (void *))

/* certificate writes */
FORWARD(SKF_GenECCKeyPair, (void *con, arg_t alg, uint8_t *blob), (con, alg, blob),
        (void *, arg_t, uint8_t *))
FORWARD(SKF_ExportPublicKey, (void *con, arg_t sign, uint8_t *blob, void *len),
        (con, sign, blob, len), (void *, arg_t, uint8_t *, void *))
FORWARD(SKF_ECCSignData, (void *con, const uint8_t *digest, arg_t len, uint8_t *sig),
        (con, digest, len, sig), (void *, const uint8_t *, arg_t, uint8_t *))
FORWARD(SKF_ImportCertificate, (void *con, arg_t sign, const uint8_t *cert, arg_t len),
        (con, sign, cert, len), (void *, arg_t, const uint8_t *, arg_t))

/* files: where electronic seals live */
FORWARD(SKF_EnumFiles, (void *app, char *names, void *size), (app, names, size),
        (void *, char *, void *))
FORWARD(SKF_ReadFile, (void *app, const char *name, arg_t offset, arg_t size, uint8_t *out, void *len),
        (app, name, offset, size, out, len), (void *, const char *, arg_t, arg_t, uint8_t *, void *))

#ifndef FAULTY_WITHOUT_REMOTE_UNBLOCK
FORWARD(SKF_GenRemoteUnblockRequest, (void *app, uint8_t *random, arg_t len), (app, random, len),
        (void *, uint8_t *, arg_t))
FORWARD(SKF_RemoteUnblockPIN, (void *app, const uint8_t *cipher, arg_t len, void *retry),
        (app, cipher, len, retry), (void *, const uint8_t *, arg_t, void *))
#endif
