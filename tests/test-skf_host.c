/* SPDX-License-Identifier: MIT */
/*
 * test-skf_host — the SKF helper process and its supervisor (token/skf/host.c,
 * token/skf/host-main.c) against real libraries: the virtual SKF token
 * ($UKEYD_BUILD/vskf), seen through tests/skf-faulty, which crashes, hangs
 * or talks nonsense on command. What a user would notice: certificates and
 * tries read, PINs checked and changed, a remote unblock, plug and unplug
 * followed; and a library that crashes or hangs costs one call a clean error,
 * never the daemon, and the next call works. No zombie is left behind. The
 * library cannot open a network socket, while the local ones it needs work.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "tests/tap.h"
#include "token/skf/host.h"
#include "token/skf/wire.h"

extern char **environ;

#define DEV              "VSKF-1"
#define APP              "DEFAULT_APP"
#define CON              "SIGN1"
#define USER_PIN         "123456"
#define ADMIN_PIN        "12345678"
#define HANG_DEADLINE_MS 3000
#define EVENT_WAIT_S     20     /* generous: a bound on a hang, never a timing claim */
#define CHALLENGE_LEN    16
#define PATH_LEN         512
#define BASE_LEN         256    /* build and work dirs: room for a file name after */
#define CMD_LEN          2048

static char build[BASE_LEN], work[BASE_LEN], helper[PATH_LEN], vskf_cli[PATH_LEN];
static char vskf_lib[PATH_LEN], faulty[PATH_LEN], faulty_nowait[PATH_LEN], faulty_noverify[PATH_LEN];
static char devdir[PATH_LEN], control[PATH_LEN];
static char vskf_bool64[PATH_LEN], vskf_nowait[PATH_LEN];

/* --- commands and files ------------------------------------------------------ */

__attribute__((format(printf, 1, 2)))
static int run(const char *fmt, ...)
{
    char cmd[CMD_LEN];
    char *argv[] = { "sh", "-c", cmd, NULL };
    va_list ap;
    pid_t pid;
    int st;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) != 0)
        return -1;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void command(const char *line)
{
    FILE *f = fopen(control, "w");

    if (f) {
        fputs(line, f);
        fclose(f);
    }
}

static bool read_file(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    long n;

    if (!f)
        return false;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    *out = malloc((size_t)n);
    *len = *out ? fread(*out, 1, (size_t)n, f) : 0;
    fclose(f);
    return *out && *len == (size_t)n;
}

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* The process is gone and reaped: no /proc entry, or not a zombie of ours. */
static bool gone(pid_t pid)
{
    char path[64], state = 0;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (!(f = fopen(path, "r")))
        return true;
    if (fscanf(f, "%*d (%*[^)]) %c", &state) != 1)
        state = 0;
    fclose(f);
    return state != 'Z' && kill(pid, 0) != 0;
}

static bool no_children_left(void)
{
    int st;

    return waitpid(-1, &st, WNOHANG) < 0 && errno == ECHILD;
}

/* --- events -------------------------------------------------------------------- */

#define EVENTS_MAX 64

static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cond = PTHREAD_COND_INITIALIZER;
static struct {
    enum skf_host_event_kind kind;
    char dev[64];
} events[EVENTS_MAX];
static size_t nevents;

static void on_event(void *ud, const struct skf_host_event *ev)
{
    (void)ud;
    pthread_mutex_lock(&ev_lock);
    if (nevents < EVENTS_MAX) {
        events[nevents].kind = ev->kind;
        snprintf(events[nevents].dev, sizeof events[nevents].dev, "%s", ev->device ? ev->device : "");
        nevents++;
    }
    pthread_cond_broadcast(&ev_cond);
    pthread_mutex_unlock(&ev_lock);
}

static void forget_events(void)
{
    pthread_mutex_lock(&ev_lock);
    nevents = 0;
    pthread_mutex_unlock(&ev_lock);
}

static bool wait_event(enum skf_host_event_kind kind, const char *dev)
{
    struct timespec until;
    bool found = false;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += EVENT_WAIT_S;
    pthread_mutex_lock(&ev_lock);
    while (!found) {
        for (size_t i = 0; i < nevents && !found; i++)
            found = events[i].kind == kind && (!dev || strcmp(events[i].dev, dev) == 0);
        if (!found && pthread_cond_timedwait(&ev_cond, &ev_lock, &until) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&ev_lock);
    return found;
}

/* --- hosts --------------------------------------------------------------------- */

static void log_line(void *ud, int prio, const char *msg)
{
    (void)ud;
    tap_diag("log %d: %s", prio, msg);
}

static skf_err start(const char *lib, const struct skf_profile *p, bool events_on, unsigned backoff_ms,
                     struct skf_host **h, char *why, size_t why_len)
{
    struct skf_host_options o = {
        .helper_path = helper, .library_path = lib, .profile = p,
        .pin_ms = HANG_DEADLINE_MS, .read_ms = HANG_DEADLINE_MS * 2,
        .backoff_first_ms = backoff_ms,
        .on_event = events_on ? on_event : NULL, .log = log_line,
    };

    return skf_host_start(&o, h, why, why_len);
}

static bool lists(const struct skf_name_list *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->name[i], name) == 0)
            return true;
    return false;
}

/* --- the tests ------------------------------------------------------------------- */

static void test_library_refused(void)
{
    struct skf_host *h = (struct skf_host *)1;
    char why[512] = "";
    char missing[PATH_LEN + 16];
    skf_err e;

    e = start(faulty_noverify, NULL, false, 0, &h, why, sizeof why);
    TAP_EQ_STR(skf_err_name(e), "LIBRARY_SYMBOL", "a library without SKF_VerifyPIN is refused");
    tap_ok(strstr(why, "SKF_VerifyPIN") != NULL, "naming the missing function (%s)", why);
    tap_ok(h == NULL, "and nothing is left to stop");
    snprintf(missing, sizeof missing, "%s/no-such-lib.so", work);
    e = start(missing, NULL, false, 0, &h, why, sizeof why);
    TAP_EQ_STR(skf_err_name(e), "LIBRARY_LOAD", "a library that is not there does not load");
    tap_ok(strstr(why, "no-such-lib.so") != NULL, "and the reason names it (%s)", why);
    {
        struct skf_host_options o = { .helper_path = missing, .library_path = faulty };

        e = skf_host_start(&o, &h, why, sizeof why);
        TAP_EQ_STR(skf_err_name(e), "HELPER_START", "a helper program that is not there");
    }
    tap_ok(no_children_left(), "no helper process left behind by the refusals");
}

static void test_reads(struct skf_host *h, const uint8_t *der, size_t der_len)
{
    struct skf_name_list l = { 0 };
    struct skf_devinfo d;
    struct skf_pin_info pi;
    uint8_t *got = NULL;
    size_t got_len = 0;
    uint32_t type = 0;

    TAP_EQ_STR(skf_err_name(skf_host_list_devices(h, &l)), "OK", "devices listed");
    tap_ok(lists(&l, DEV), "the virtual token among them (%zu)", l.n);
    skf_name_list_free(&l);
    TAP_EQ_STR(skf_err_name(skf_host_device_info(h, DEV, &d)), "OK", "device info read");
    TAP_EQ_STR(d.serial, "SN-0001", "serial number");
    TAP_EQ_STR(d.label, "测试钥匙", "label, Chinese intact");
    tap_ok(skf_devinfo_has_sm2(&d), "SM2 among its algorithms (0x%08x)", d.alg_asym);
    TAP_EQ_STR(skf_err_name(skf_host_list_apps(h, DEV, &l)), "OK", "applications listed");
    tap_ok(lists(&l, APP), "DEFAULT_APP there");
    skf_name_list_free(&l);
    TAP_EQ_STR(skf_err_name(skf_host_list_containers(h, DEV, APP, &l)), "OK", "containers listed");
    tap_ok(lists(&l, CON), "the signing container there");
    skf_name_list_free(&l);
    TAP_EQ_STR(skf_err_name(skf_host_container_type(h, DEV, APP, CON, &type)), "OK", "container type read");
    TAP_EQ_INT(type, 2, "an ECC container");
    TAP_EQ_STR(skf_err_name(skf_host_export_cert(h, DEV, APP, CON, true, &got, &got_len)), "OK",
               "signing certificate exported");
    tap_ok(got_len == der_len && memcmp(got, der, der_len) == 0, "the very DER provisioned (%zu bytes)", got_len);
    free(got);
    TAP_EQ_STR(skf_err_name(skf_host_export_cert(h, DEV, APP, CON, false, &got, &got_len)), "CERT_NOT_FOUND",
               "no encryption certificate: said so");
    TAP_EQ_STR(skf_err_name(skf_host_export_cert(h, DEV, APP, "NOPE", true, &got, &got_len)),
               "CONTAINER_NOT_FOUND", "an unknown container");
    TAP_EQ_STR(skf_err_name(skf_host_list_containers(h, DEV, "NO_APP", &l)), "APP_NOT_FOUND",
               "an unknown application");
    TAP_EQ_STR(skf_err_name(skf_host_device_info(h, "NO-SUCH-KEY", &d)), "DEVICE_NOT_FOUND",
               "an unknown device");
    TAP_EQ_STR(skf_err_name(skf_host_pin_info(h, DEV, APP, SKF_PIN_USER, &pi)), "OK", "PIN info read");
    tap_ok(pi.tries_max == 6 && pi.tries_left == 6 && pi.default_pin, "6 of 6 tries, factory PIN (%u/%u %d)",
           pi.tries_left, pi.tries_max, pi.default_pin);
}

/* A whole device in one round trip (skf_host_read_device), what ukeyd reads
 * for a key it has not seen: the same as the calls one by one. */
static void test_read_device(struct skf_host *h, const uint8_t *der, size_t der_len)
{
    struct skf_device_read r;

    TAP_EQ_STR(skf_err_name(skf_host_read_device(h, DEV, &r)), "OK", "a whole device read");
    TAP_EQ_STR(r.info.serial, "SN-0001", "its serial number");
    TAP_EQ_STR(r.info.label, "测试钥匙", "its label, Chinese intact");
    TAP_EQ_STR(r.app ? r.app : "(none)", APP, "the PIN application");
    tap_ok(r.pin.tries_max == 6 && r.pin.tries_left == 6 && r.pin.default_pin,
           "the user PIN's 6 of 6 tries, factory PIN (%u/%u %d)", r.pin.tries_left, r.pin.tries_max,
           r.pin.default_pin);
    TAP_EQ_INT(r.n_certs, 1, "one certificate: the encryption slot is empty");
    tap_ok(r.n_certs == 1 && strcmp(r.certs[0].container, CON) == 0 && r.certs[0].sign &&
               r.certs[0].container_type == 2 && r.certs[0].len == der_len &&
               memcmp(r.certs[0].der, der, der_len) == 0,
           "the signing certificate of the ECC container, the very DER provisioned");
    TAP_EQ_INT(r.frames, 1, "in one frame");
    skf_device_read_free(&r);
    TAP_EQ_STR(skf_err_name(skf_host_read_device(h, "NO-SUCH-KEY", &r)), "DEVICE_NOT_FOUND",
               "an unknown device");
    tap_ok(r.app == NULL && r.n_certs == 0, "and nothing handed back");
}

/* A GM/T 0031 SESeal's opening, SEQUENCE { SEQUENCE { SEQUENCE { "ES", 1,
 * "v" } ... } ... }, all a count reads, written to `path`. */
static void write_seal_opening(const char *path)
{
    static const uint8_t opening[] = { 0x30, 0x40, 0x30, 0x30, 0x30, 0x0a, 0x16, 0x02, 'E', 'S',
                                       0x02, 0x01, 0x01, 0x16, 0x01, 'v' };
    FILE *f = fopen(path, "we");

    if (f) {
        fwrite(opening, 1, sizeof opening, f);
        fclose(f);
    }
}

#define MANY_DEV         "VSKF-MANY"
#define BLANK_DEV        "VSKF-BLANK"
#define MANY_CONTAINERS  8       /* the virtual token's most */
#define BIG_COMMENT_LEN  7000    /* a certificate of about 7.5 KB: the token holds 8 KiB */

/* Copies container C0's lines of a vskf state file to C1..C7 and seals the
 * file with its crc32 again (the virtual token provisions one container). */
static const char many_containers_py[] =
    "import sys,zlib\n"
    "p=sys.argv[1]; n=int(sys.argv[2])\n"
    "t=open(p).read().split('\\n')\n"
    "t=[l for l in t if l and not l.startswith('crc32=')]\n"
    "i=t.index('container=C0'); j=i+1\n"
    "while j<len(t) and not t[j].startswith(('container=','file=','app=')): j+=1\n"
    "block=t[i+1:j]\n"
    "for k in range(1,n): t[j:j]=['container=C%d'%k]+block; j+=1+len(block)\n"
    "s='\\n'.join(t)+'\\n'\n"
    "open(p,'w').write(s+'crc32=%08X\\n'%zlib.crc32(s.encode()))\n";

/* Sixteen certificates of 7.5 KB in eight containers: more than one frame
 * holds, so the read takes a sequence, and still every certificate comes
 * once, in order, signing before encryption. A key without applications is
 * APP_NOT_FOUND, as the calls one by one say. */
static void test_read_device_many(struct skf_host *h)
{
    char key[PATH_LEN], cert[PATH_LEN], derpath[PATH_LEN], state[PATH_LEN + 16], py[PATH_LEN];
    struct skf_device_read r;
    uint8_t *big = NULL;
    size_t big_len = 0, in_order = 0;
    FILE *f;

    snprintf(key, sizeof key, "%s/sign.key", work);
    snprintf(cert, sizeof cert, "%s/big.pem", work);
    snprintf(derpath, sizeof derpath, "%s/big.der", work);
    snprintf(state, sizeof state, "%s/%s.skf", devdir, MANY_DEV);
    snprintf(py, sizeof py, "%s/many.py", work);
    if ((f = fopen(py, "we"))) {
        fputs(many_containers_py, f);
        fclose(f);
    }
    tap_ok(run("openssl req -new -x509 -key '%s' -sm3 -subj '/CN=many' -days 30 "
               "-addext \"nsComment=$(head -c %d /dev/zero | tr '\\0' x)\" -out '%s' && "
               "openssl x509 -in '%s' -outform DER -out '%s' && "
               "'%s' provision '%s' %s --container C0 --sign-cert '%s' --sign-key '%s' "
               "--enc-cert '%s' --enc-key '%s' && python3 '%s' '%s' %d && '%s' plug '%s' %s",
               key, BIG_COMMENT_LEN, cert, cert, derpath, vskf_cli, devdir, MANY_DEV, cert, key, cert,
               key, py, state, MANY_CONTAINERS, vskf_cli, devdir, MANY_DEV) == 0 &&
               read_file(derpath, &big, &big_len),
           "a key with %d containers, each with two certificates of %d characters' comment",
           MANY_CONTAINERS, BIG_COMMENT_LEN);
    snprintf(py, sizeof py, "%s/many-seal.der", work);
    write_seal_opening(py);
    tap_ok(run("'%s' put-file '%s' %s DEFAULT_APP ES01 '%s'", vskf_cli, devdir, MANY_DEV, py) == 0,
           "and a seal");
    TAP_EQ_STR(skf_err_name(skf_host_read_device(h, MANY_DEV, &r)), "OK", "the whole key read");
    TAP_EQ_INT(r.n_certs, 2 * MANY_CONTAINERS, "every certificate");
    tap_ok(r.frames > 1, "in a sequence of %u frames (%zu bytes of certificates)", r.frames,
           r.n_certs * big_len);
    for (size_t i = 0; i < r.n_certs; i++) {
        char want[24];

        snprintf(want, sizeof want, "C%zu", i / 2);
        if (strcmp(r.certs[i].container, want) == 0 && r.certs[i].sign == (i % 2 == 0) &&
            r.certs[i].container_type == 2 && r.certs[i].len == big_len &&
            memcmp(r.certs[i].der, big, big_len) == 0)
            in_order++;
    }
    TAP_EQ_INT(in_order, 2 * MANY_CONTAINERS, "each once, C0 to C7, signing before encryption, DER intact");
    TAP_EQ_STR(r.app ? r.app : "(none)", "DEFAULT_APP", "the PIN application");
    tap_ok(r.seals_counted && r.seals == 1, "its seal counted, though the certificates took %u frames",
           r.frames);
    skf_device_read_free(&r);
    run("'%s' unplug '%s' %s", vskf_cli, devdir, MANY_DEV);
    tap_ok(run("'%s' provision '%s' %s --no-app && '%s' plug '%s' %s", vskf_cli, devdir, BLANK_DEV,
               vskf_cli, devdir, BLANK_DEV) == 0, "a key without applications");
    TAP_EQ_STR(skf_err_name(skf_host_read_device(h, BLANK_DEV, &r)), "APP_NOT_FOUND", "read: APP_NOT_FOUND");
    run("'%s' unplug '%s' %s", vskf_cli, devdir, BLANK_DEV);
    free(big);
}

/* The seals of a device's PIN application as the read counts them, or -1
 * when the read failed or left them uncounted. */
static long seals_read(struct skf_host *h, const char *dev)
{
    struct skf_device_read r;
    long seals = -1;

    if (skf_host_read_device(h, dev, &r) == SKF_OK && r.seals_counted)
        seals = r.seals;
    skf_device_read_free(&r);
    return seals;
}

/* The seals among the application's files: counted by content in the
 * helper, within the device's read, as files come and go; none before any
 * is written. */
static void test_seals(struct skf_host *h)
{
    char seal[PATH_LEN], der[PATH_LEN];

    TAP_EQ_INT(seals_read(h, DEV), 0, "seals counted in the read: none on a fresh key");
    snprintf(seal, sizeof seal, "%s/seal.der", work);
    snprintf(der, sizeof der, "%s/sign.der", work);
    write_seal_opening(seal);
    tap_ok(run("'%s' put-file '%s' %s %s ES01 '%s' && '%s' put-file '%s' %s %s ES02 '%s' && "
               "'%s' put-file '%s' %s %s cert '%s'",
               vskf_cli, devdir, DEV, APP, seal, vskf_cli, devdir, DEV, APP, seal,
               vskf_cli, devdir, DEV, APP, der) == 0,
           "two seals and a certificate written to the key");
    TAP_EQ_INT(seals_read(h, DEV), 2, "two seals, the certificate not among them");
    tap_ok(run("'%s' rm-file '%s' %s %s ES01", vskf_cli, devdir, DEV, APP) == 0, "a seal taken away");
    TAP_EQ_INT(seals_read(h, DEV), 1, "one seal left");
}

static uint32_t user_tries(struct skf_host *h)
{
    struct skf_pin_info pi = { 0 };

    skf_host_pin_info(h, DEV, APP, SKF_PIN_USER, &pi);
    return pi.tries_left;
}

static void test_pins(struct skf_host *h)
{
    uint32_t tries = 0;

    TAP_EQ_STR(skf_err_name(skf_host_verify_pin(h, DEV, APP, SKF_PIN_USER, "654321", &tries)),
               "PIN_INCORRECT", "a wrong PIN is incorrect");
    TAP_EQ_INT(tries, 5, "with 5 tries left");
    TAP_EQ_STR(skf_err_name(skf_host_verify_pin(h, DEV, APP, SKF_PIN_USER, "12", &tries)), "PIN_POLICY",
               "a PIN too short is refused here");
    TAP_EQ_INT(user_tries(h), 5, "at no cost to the token");
    TAP_EQ_STR(skf_err_name(skf_host_verify_pin(h, DEV, APP, SKF_PIN_USER, USER_PIN, &tries)), "OK",
               "the right PIN verifies");
    TAP_EQ_INT(user_tries(h), 6, "and restores the tries");
    TAP_EQ_STR(skf_err_name(skf_host_change_pin(h, DEV, APP, SKF_PIN_USER, USER_PIN, "24681357", &tries)),
               "OK", "PIN changed");
    TAP_EQ_STR(skf_err_name(skf_host_verify_pin(h, DEV, APP, SKF_PIN_USER, "24681357", &tries)), "OK",
               "the new PIN verifies");
    TAP_EQ_STR(skf_err_name(skf_host_unblock_pin(h, DEV, APP, "87654321", USER_PIN, &tries)),
               "PIN_INCORRECT", "unblocking with a wrong admin PIN is refused");
    TAP_EQ_INT(tries, 9, "the admin PIN's tries said (9)");
    TAP_EQ_STR(skf_err_name(skf_host_unblock_pin(h, DEV, APP, ADMIN_PIN, USER_PIN, &tries)), "OK",
               "unblocked with the admin PIN, the user PIN set anew");
    TAP_EQ_STR(skf_err_name(skf_host_verify_pin(h, DEV, APP, SKF_PIN_USER, USER_PIN, &tries)), "OK",
               "which verifies");
    TAP_EQ_STR(skf_err_name(skf_host_clear_state(h, DEV, APP)), "OK", "secure state cleared on request");
}

/* --- certificate writes -------------------------------------------------------- */

#define SM2_POINT_LEN (1 + 2 * SKF_EC_COORD_LEN)   /* 04 || X || Y */

/* The certificate's public key as X || Y (what the wire carries). */
static bool cert_point(const uint8_t *der, size_t len, uint8_t out[2 * SKF_EC_COORD_LEN])
{
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    uint8_t enc[SM2_POINT_LEN];
    size_t n = 0;
    bool ok = x && EVP_PKEY_get_octet_string_param(X509_get0_pubkey(x),
                                                   OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, enc,
                                                   sizeof enc, &n) && n == sizeof enc;

    if (ok)
        memcpy(out, enc + 1, 2 * SKF_EC_COORD_LEN);
    X509_free(x);
    return ok;
}

/* GM/T 0003 verification of r || s over the digest e, with the key X || Y:
 * OpenSSL's SM2 signature on a digest it is given (no Z taken again). */
static bool sm2_verifies(const uint8_t point[2 * SKF_EC_COORD_LEN], const uint8_t *e,
                         const uint8_t rs[2 * SKF_EC_COORD_LEN])
{
    uint8_t enc[SM2_POINT_LEN] = { 0x04 };
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *from = EVP_PKEY_CTX_new_from_name(NULL, "SM2", NULL), *ctx = NULL;
    EVP_PKEY *key = NULL;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(rs, SKF_EC_COORD_LEN, NULL);
    BIGNUM *sv = BN_bin2bn(rs + SKF_EC_COORD_LEN, SKF_EC_COORD_LEN, NULL);
    unsigned char *der = NULL;
    int der_len = -1;
    bool ok = false;

    memcpy(enc + 1, point, 2 * SKF_EC_COORD_LEN);
    if (sig && r && sv && ECDSA_SIG_set0(sig, r, sv)) {
        r = sv = NULL;
        der_len = i2d_ECDSA_SIG(sig, &der);
    }
    if (bld && from && der_len > 0 &&
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "SM2", 0) &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, enc, sizeof enc) &&
        (params = OSSL_PARAM_BLD_to_param(bld)) && EVP_PKEY_fromdata_init(from) > 0 &&
        EVP_PKEY_fromdata(from, &key, EVP_PKEY_PUBLIC_KEY, params) > 0 &&
        (ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL)) && EVP_PKEY_verify_init(ctx) > 0)
        ok = EVP_PKEY_verify(ctx, der, (size_t)der_len, e, SKF_SM3_LEN) == 1;
    OPENSSL_free(der);
    BN_free(r);
    BN_free(sv);
    ECDSA_SIG_free(sig);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(key);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(from);
    return ok;
}

static bool logged_in(void)
{
    return run("'%s' show '%s' %s | grep -q logged-in", vskf_cli, devdir, DEV) == 0;
}

/*
 * What a renewal on an SKF key asks of the helper: the container's key read
 * without a PIN, a new key pair made under the PIN (a wrong one costs a try
 * and makes none), a digest signed by the new key that verifies under it,
 * and a certificate imported and read back; the PIN never stays verified.
 */
static void test_cert_writes(struct skf_host *h, const uint8_t *der, size_t der_len)
{
    uint8_t p0[2 * SKF_EC_COORD_LEN], now[2 * SKF_EC_COORD_LEN], p1[2 * SKF_EC_COORD_LEN];
    uint8_t digest[SKF_SM3_LEN], rs[2 * SKF_EC_COORD_LEN], *back = NULL;
    size_t back_len = 0;
    uint32_t tries = 0;

    for (size_t i = 0; i < sizeof digest; i++)
        digest[i] = (uint8_t)(i * 13 + 1);
    tap_ok(skf_host_caps(h) & SKF_CAP_CERT_WRITE, "the library can write certificates");
    TAP_EQ_STR(skf_err_name(skf_host_export_public_key(h, DEV, APP, CON, true, p0)), "OK",
               "the container's signing key is read without a PIN");
    tap_ok(cert_point(der, der_len, now) && memcmp(now, p0, sizeof p0) == 0,
           "…and it is the signing certificate's key");
    TAP_EQ_STR(skf_err_name(skf_host_export_public_key(h, DEV, APP, CON, false, now)),
               "CERT_NOT_FOUND", "a container without an encryption key says so");
    TAP_EQ_STR(skf_err_name(skf_host_gen_sign_key(h, DEV, APP, CON, "654321", p1, &tries)),
               "PIN_INCORRECT", "a new key pair with a wrong PIN is refused");
    TAP_EQ_INT(tries, 5, "…for one try");
    tap_ok(skf_host_export_public_key(h, DEV, APP, CON, true, now) == SKF_OK &&
           memcmp(now, p0, sizeof p0) == 0, "…and the container keeps its key");
    TAP_EQ_STR(skf_err_name(skf_host_gen_sign_key(h, DEV, APP, CON, USER_PIN, p1, &tries)), "OK",
               "a new SM2 signing key pair under the PIN");
    tap_ok(memcmp(p1, p0, sizeof p0) != 0 &&
           skf_host_export_public_key(h, DEV, APP, CON, true, now) == SKF_OK &&
           memcmp(now, p1, sizeof p1) == 0, "…replaces the container's key");
    TAP_EQ_INT(user_tries(h), 6, "…and restores the tries");
    TAP_EQ_STR(skf_err_name(skf_host_sign_digest(h, DEV, APP, CON, USER_PIN, digest, rs, &tries)),
               "OK", "the new key signs a digest");
    tap_ok(sm2_verifies(p1, digest, rs), "…a signature that verifies under the new key (GM/T 0003)");
    digest[0] ^= 1;
    tap_ok(!sm2_verifies(p1, digest, rs), "…and not for another digest");
    TAP_EQ_STR(skf_err_name(skf_host_import_cert(h, DEV, APP, CON, "654321", true, der, der_len,
                                                 &tries)),
               "PIN_INCORRECT", "an import with a wrong PIN is refused");
    TAP_EQ_STR(skf_err_name(skf_host_import_cert(h, DEV, APP, CON, USER_PIN, false, der, der_len,
                                                 &tries)),
               "OK", "a certificate is imported as the encryption one");
    tap_ok(skf_host_export_cert(h, DEV, APP, CON, false, &back, &back_len) == SKF_OK &&
           back_len == der_len && memcmp(back, der, der_len) == 0, "…and reads back whole");
    free(back);
    back = NULL;
    tap_ok(skf_host_export_cert(h, DEV, APP, CON, true, &back, &back_len) == SKF_OK &&
           back_len == der_len && memcmp(back, der, der_len) == 0,
           "…the signing one untouched");
    free(back);
    tap_ok(!logged_in(), "no PIN stays verified after the writes");
    TAP_EQ_STR(skf_err_name(skf_host_import_cert(h, DEV, APP, CON, USER_PIN, true, der, 0, &tries)),
               "INVALID_ARG", "an empty certificate is refused before the helper");
}

/* The CA's side of the remote unblock (the vskf CLI): the answer to
 * `challenge` that sets `pin`, into `answer`; its length, 0 on failure. */
static size_t ca_answer_for(const uint8_t *challenge, size_t len, const char *pin,
                            uint8_t *answer, size_t room)
{
    char hex[2 * CHALLENGE_LEN + 1], out[PATH_LEN];
    size_t n = 0;
    FILE *f;

    for (size_t i = 0; i < len && i < CHALLENGE_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", challenge[i]);
    snprintf(out, sizeof out, "%s/answer", work);
    run("'%s' unblock-answer %s %s %s >'%s'", vskf_cli, ADMIN_PIN, pin, hex, out);
    if ((f = fopen(out, "r"))) {
        unsigned byte;

        while (n < room && fscanf(f, "%2x", &byte) == 1)
            answer[n++] = (uint8_t)byte;
        fclose(f);
    }
    return n;
}

static void test_remote_unblock(struct skf_host *h)
{
    uint8_t challenge[CHALLENGE_LEN], answer[64];
    size_t n = 0;
    uint32_t tries = 0;

    tap_ok(skf_host_caps(h) & SKF_CAP_REMOTE_UNBLOCK, "the library offers the remote unblock extension");
    TAP_EQ_STR(skf_err_name(skf_host_remote_unblock_request(h, DEV, APP, challenge, sizeof challenge)), "OK",
               "the token's challenge fetched");
    n = ca_answer_for(challenge, sizeof challenge, "13572468", answer, sizeof answer);
    tap_ok(n > 0, "the CA's answer computed (%zu bytes)", n);
    TAP_EQ_STR(skf_err_name(skf_host_remote_unblock(h, DEV, APP, answer, n, &tries)), "OK",
               "the answer applied");
    TAP_EQ_STR(skf_err_name(skf_host_verify_pin(h, DEV, APP, SKF_PIN_USER, "13572468", &tries)), "OK",
               "the PIN the CA's answer carried verifies");
    skf_host_change_pin(h, DEV, APP, SKF_PIN_USER, "13572468", USER_PIN, &tries);
}

static uint32_t admin_tries(struct skf_host *h)
{
    struct skf_pin_info pi = { 0 };

    skf_host_pin_info(h, DEV, APP, SKF_PIN_ADMIN, &pi);
    return pi.tries_left;
}

/*
 * A key that loses its challenge when the application closes
 * (challenge-lost-on-close): the answer given in the application the
 * challenge was drawn in, which the helper holds open, is taken, even after
 * a call on another key of the same library; after a call on the key itself
 * closed that application, the answer (now wrong to the key, and an
 * admin-PIN try) is not presented at all: CHALLENGE_STALE, ask again.
 */
#define OTHER_DEV "VSKF-OTHER"

static void test_remote_unblock_held(struct skf_host *h)
{
    uint8_t challenge[CHALLENGE_LEN], answer[64];
    char quirks[PATH_LEN + sizeof "/quirks"];
    struct skf_devinfo info;
    uint32_t tries = 0, before;
    size_t n;

    snprintf(quirks, sizeof quirks, "%s/quirks", devdir);
    if (!tap_ok(run("echo challenge-lost-on-close >'%s' && '%s' provision '%s' %s --serial SN-0002 && "
                    "'%s' plug '%s' %s", quirks, vskf_cli, devdir, OTHER_DEV, vskf_cli, devdir,
                    OTHER_DEV) == 0,
                "the key loses its challenge when its application closes; another key is plugged"))
        return;
    before = admin_tries(h);
    skf_host_remote_unblock_request(h, DEV, APP, challenge, sizeof challenge);
    n = ca_answer_for(challenge, sizeof challenge, "24681357", answer, sizeof answer);
    TAP_EQ_STR(skf_err_name(skf_host_device_info(h, OTHER_DEV, &info)), "OK",
               "the other key of the library read meanwhile");
    TAP_EQ_STR(skf_err_name(skf_host_remote_unblock(h, DEV, APP, answer, n, &tries)), "OK",
               "an answer in the application the challenge was drawn in is taken");
    TAP_EQ_STR(skf_err_name(skf_host_verify_pin(h, DEV, APP, SKF_PIN_USER, "24681357", &tries)), "OK",
               "and its PIN verifies");
    TAP_EQ_INT(admin_tries(h), before, "at no admin-PIN try");

    skf_host_remote_unblock_request(h, DEV, APP, challenge, sizeof challenge);
    n = ca_answer_for(challenge, sizeof challenge, USER_PIN, answer, sizeof answer);
    TAP_EQ_INT(admin_tries(h), before, "another call on the key between: the challenge's application closed");
    TAP_EQ_STR(skf_err_name(skf_host_remote_unblock(h, DEV, APP, answer, n, &tries)), "CHALLENGE_STALE",
               "then the answer is not presented");
    TAP_EQ_INT(admin_tries(h), before, "and costs no admin-PIN try");
    unlink(quirks);
    run("'%s' unplug '%s' %s", vskf_cli, devdir, OTHER_DEV);
    skf_host_change_pin(h, DEV, APP, SKF_PIN_USER, "24681357", USER_PIN, &tries);
}

/* A fault that kills or wedges the helper: a clean error, a new helper, and
 * the same call works. */
static void fault_case(struct skf_host *h, const char *fn, const char *mode, const char *want,
                       skf_err (*op)(struct skf_host *))
{
    char line[128];
    pid_t before = skf_host_pid(h), after;
    skf_err e;

    snprintf(line, sizeof line, "%s %s\n", fn, mode);
    command(line);
    e = op(h);
    tap_ok(strcmp(skf_err_name(e), want) == 0, "%s %s: %s (want %s)", fn, mode, skf_err_name(e), want);
    tap_ok(gone(before), "%s %s: the old helper %d is gone and reaped", fn, mode, (int)before);
    e = op(h);
    after = skf_host_pid(h);
    tap_ok(e == SKF_OK, "%s %s: the next call works (%s)", fn, mode, skf_err_name(e));
    tap_ok(after != 0 && after != before, "%s %s: in a new helper (%d)", fn, mode, (int)after);
}

/* A library answering nonsense: MALFORMED, and the helper lives on. */
static void nonsense_case(struct skf_host *h, const char *fn, skf_err (*op)(struct skf_host *))
{
    char line[128];
    pid_t before = skf_host_pid(h);
    skf_err e;

    snprintf(line, sizeof line, "%s nonsense\n", fn);
    command(line);
    e = op(h);
    TAP_EQ_STR(skf_err_name(e), "MALFORMED", fn);
    tap_ok(skf_host_pid(h) == before, "%s nonsense: the same helper serves on", fn);
    TAP_EQ_STR(skf_err_name(op(h)), "OK", "and the next call works");
}

static skf_err op_list(struct skf_host *h)
{
    struct skf_name_list l;
    skf_err e = skf_host_list_devices(h, &l);

    skf_name_list_free(&l);
    return e;
}

static skf_err op_info(struct skf_host *h)
{
    struct skf_devinfo d;

    return skf_host_device_info(h, DEV, &d);
}

static skf_err op_pin_info(struct skf_host *h)
{
    struct skf_pin_info pi;

    return skf_host_pin_info(h, DEV, APP, SKF_PIN_USER, &pi);
}

static skf_err op_verify(struct skf_host *h)
{
    uint32_t tries;

    return skf_host_verify_pin(h, DEV, APP, SKF_PIN_USER, USER_PIN, &tries);
}

static skf_err op_containers(struct skf_host *h)
{
    struct skf_name_list l;
    skf_err e = skf_host_list_containers(h, DEV, APP, &l);

    skf_name_list_free(&l);
    return e;
}

static skf_err op_apps(struct skf_host *h)
{
    struct skf_name_list l;
    skf_err e = skf_host_list_apps(h, DEV, &l);

    skf_name_list_free(&l);
    return e;
}

static skf_err op_cert(struct skf_host *h)
{
    uint8_t *der;
    size_t len;
    skf_err e = skf_host_export_cert(h, DEV, APP, CON, true, &der, &len);

    free(der);
    return e;
}

static skf_err op_container_type(struct skf_host *h)
{
    uint32_t type;

    return skf_host_container_type(h, DEV, APP, CON, &type);
}

static void test_faults(struct skf_host *h)
{
    fault_case(h, "SKF_EnumDev", "abort", "HELPER_DIED", op_list);
    fault_case(h, "SKF_GetDevInfo", "segv", "HELPER_DIED", op_info);
    fault_case(h, "SKF_GetPINInfo", "exit", "HELPER_DIED", op_pin_info);
    fault_case(h, "SKF_VerifyPIN", "hang", "HELPER_TIMEOUT", op_verify);
    TAP_EQ_INT(user_tries(h), 6, "a verify that hung cost no try");
    fault_case(h, "SKF_EnumContainer", "wire", "HELPER_GARBAGE", op_containers);
    nonsense_case(h, "SKF_EnumDev", op_list);
    nonsense_case(h, "SKF_EnumApplication", op_apps);
    nonsense_case(h, "SKF_GetPINInfo", op_pin_info);
    nonsense_case(h, "SKF_ExportCertificate", op_cert);
    command("SKF_GetContainerType nonsense\n");
    TAP_EQ_STR(skf_err_name(op_container_type(h)), "LIBRARY_FAIL", "an unknown SAR code: a clean error");
    TAP_EQ_STR(skf_err_name(op_container_type(h)), "OK", "and the next call works");
}

/* The helper's seccomp filter: tests/skf-faulty's `network` command tries
 * AF_INET, AF_INET6 and netlink routing sockets, then AF_UNIX ones and a
 * uevent socket, and answers NOT_SUPPORTED only when every network socket
 * failed with EACCES and every local one opened. */
static void test_no_network(struct skf_host *h)
{
    pid_t before = skf_host_pid(h);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    /* so that a refusal below is the helper's filter, not this machine's */
    if (!tap_ok(fd >= 0, "this test itself may open an AF_INET socket"))
        tap_diag("socket: %s", strerror(errno));
    if (fd >= 0)
        close(fd);
    command("SKF_GetContainerType network\n");
    TAP_EQ_STR(skf_err_name(op_container_type(h)), "NOT_SUPPORTED",
               "the library in the helper cannot open a network socket, and AF_UNIX works "
               "(NOT_LOGGED_IN: a network socket opened; LIBRARY_FAIL: a local one refused)");
    tap_ok(skf_host_pid(h) == before, "the helper that refused it serves on");
    TAP_EQ_STR(skf_err_name(op_container_type(h)), "OK", "and the next call works");
}

static void test_events(const char *what)
{
    forget_events();
    tap_ok(run("'%s' unplug '%s' %s", vskf_cli, devdir, DEV) == 0, "%s: token pulled", what);
    tap_ok(wait_event(SKF_HOST_EVENT_REMOVED, DEV), "%s: the removal reported", what);
    tap_ok(run("'%s' plug '%s' %s", vskf_cli, devdir, DEV) == 0, "%s: token plugged back", what);
    tap_ok(wait_event(SKF_HOST_EVENT_INSERTED, DEV), "%s: the insertion reported", what);
}

static void test_event_thread_crash(struct skf_host *h)
{
    pid_t before = skf_host_pid(h);

    forget_events();
    command("SKF_WaitForDevEvent abort\n");
    /* the event thread is inside SKF_WaitForDevEvent: a plug makes it return,
     * and the next call into it crashes */
    run("'%s' unplug '%s' %s && '%s' plug '%s' %s", vskf_cli, devdir, DEV, vskf_cli, devdir, DEV);
    tap_ok(wait_event(SKF_HOST_EVENT_HELPER_LOST, NULL), "a crash in the event thread: helper lost reported");
    TAP_EQ_STR(skf_err_name(op_list(h)), "OK", "the next call works");
    tap_ok(skf_host_pid(h) != before && gone(before), "in a new helper; the old one reaped");
}

static void test_backoff(void)
{
    struct skf_host *h;
    char why[256];

    if (start(faulty, NULL, false, 60000, &h, why, sizeof why) != SKF_OK) {
        tap_ok(0, "host for the backoff test starts: %s", why);
        return;
    }
    command("SKF_EnumDev abort always\n");
    TAP_EQ_STR(skf_err_name(op_list(h)), "HELPER_DIED", "a library crashing on every call: first call");
    TAP_EQ_STR(skf_err_name(op_list(h)), "HELPER_DIED", "restarted at once, crashes again");
    TAP_EQ_STR(skf_err_name(op_list(h)), "HELPER_BACKOFF", "then not restarted before its backoff");
    command("");
    skf_host_stop(h);
}

static void test_optional_absent(void)
{
    struct skf_host *h;
    uint8_t challenge[CHALLENGE_LEN];
    char why[256];

    if (start(faulty_nowait, NULL, true, 0, &h, why, sizeof why) != SKF_OK) {
        tap_ok(0, "a library without the optional functions starts: %s", why);
        return;
    }
    tap_ok(1, "a library without the optional functions starts");
    tap_ok(!(skf_host_caps(h) & (SKF_CAP_WAIT_FOR_DEV_EVENT | SKF_CAP_REMOTE_UNBLOCK)),
           "and is known to lack them");
    TAP_EQ_STR(skf_err_name(skf_host_remote_unblock_request(h, DEV, APP, challenge, sizeof challenge)),
               "NOT_SUPPORTED", "remote unblock: not supported, cleanly");
    TAP_EQ_STR(skf_err_name(op_verify(h)), "OK", "the rest works");
    test_events("without SKF_WaitForDevEvent (polled)");
    skf_host_stop(h);
}

static void test_wait_at_once(void)
{
    struct skf_host *h;
    char why[256];

    command("SKF_WaitForDevEvent instant always\n");
    if (start(faulty, NULL, true, 0, &h, why, sizeof why) != SKF_OK) {
        tap_ok(0, "host starts: %s", why);
        return;
    }
    test_events("SKF_WaitForDevEvent returning at once (polled)");
    skf_host_stop(h);
    command("");
}

/* Each deviation of the field, switched on in the virtual token (its quirk,
 * or a build of it), against the profile that says so. */
struct deviation {
    const char *what;
    const char *quirks;
    const char *lib;          /* NULL: libvskf.so */
    void (*adjust)(struct skf_profile *p);
    bool events;
};

static void p_swapped(struct skf_profile *p) { p->pin_types_swapped = true; }
static void p_global(struct skf_profile *p) { p->global_device = true; }
static void p_natural(struct skf_profile *p) { p->devinfo_packed = false; }
static void p_bool64(struct skf_profile *p) { p->bool_bits = 64; }

static void deviation_case(const struct deviation *d, const uint8_t *der, size_t der_len)
{
    struct skf_profile p = *skf_profile_standard();
    struct skf_host *h;
    struct skf_devinfo info;
    struct skf_pin_info pi;
    struct skf_name_list l = { 0 };
    uint8_t *got = NULL;
    size_t got_len = 0;
    uint32_t tries = 0;
    char why[256];
    skf_err e;

    if (d->adjust)
        d->adjust(&p);
    setenv("VSKF_QUIRKS", d->quirks, 1);
    if (start(d->lib ? d->lib : vskf_lib, &p, d->events, 0, &h, why, sizeof why) != SKF_OK) {
        tap_ok(0, "%s: the helper starts (%s)", d->what, why);
        unsetenv("VSKF_QUIRKS");
        return;
    }
    /* each call before its check: the check's message shows what it returned */
    e = skf_host_list_devices(h, &l);
    tap_ok(e == SKF_OK && lists(&l, DEV), "%s: devices listed", d->what);
    skf_name_list_free(&l);
    memset(&info, 0, sizeof info);
    e = skf_host_device_info(h, DEV, &info);
    tap_ok(e == SKF_OK && strcmp(info.serial, "SN-0001") == 0 && strcmp(info.label, "测试钥匙") == 0 &&
           skf_devinfo_has_sm2(&info),
           "%s: device info right (serial \"%s\", SM2 0x%08x)", d->what, info.serial, info.alg_asym);
    e = skf_host_list_containers(h, DEV, APP, &l);
    tap_ok(e == SKF_OK && lists(&l, CON), "%s: containers listed", d->what);
    skf_name_list_free(&l);
    e = skf_host_export_cert(h, DEV, APP, CON, true, &got, &got_len);
    tap_ok(e == SKF_OK && got_len == der_len && memcmp(got, der, der_len) == 0,
           "%s: the certificate exported whole", d->what);
    free(got);
    memset(&pi, 0, sizeof pi);
    e = skf_host_pin_info(h, DEV, APP, SKF_PIN_USER, &pi);
    tap_ok(e == SKF_OK && pi.tries_max == 6 && pi.tries_left == 6 && !pi.default_pin,
           "%s: the user PIN's tries (%u/%u), not the factory PIN", d->what, pi.tries_left, pi.tries_max);
    e = skf_host_verify_pin(h, DEV, APP, SKF_PIN_USER, "000000", &tries);
    tap_ok(e == SKF_E_PIN_INCORRECT && tries == 5, "%s: a wrong user PIN costs a user try (%s, %u left)",
           d->what, skf_err_name(e), tries);
    TAP_EQ_STR(skf_err_name(skf_host_verify_pin(h, DEV, APP, SKF_PIN_USER, USER_PIN, &tries)), "OK",
               d->what);
    if (d->events) {
        forget_events();
        run("'%s' unplug '%s' %s", vskf_cli, devdir, DEV);
        tap_ok(wait_event(SKF_HOST_EVENT_REMOVED, DEV), "%s: the removal reported", d->what);
        run("'%s' plug '%s' %s", vskf_cli, devdir, DEV);
        tap_ok(wait_event(SKF_HOST_EVENT_INSERTED, DEV), "%s: the insertion reported", d->what);
    }
    skf_host_stop(h);
    unsetenv("VSKF_QUIRKS");
}

static void test_deviations(const uint8_t *der, size_t der_len)
{
    const struct deviation cases[] = {
        { "the standard", "", NULL, NULL, true },
        { "size queries answered SAR_BUFFER_TOO_SMALL", "size-query-too-small", NULL, NULL, false },
        { "SM2 announced as 0x00020200", "sm2-id-0x00020200", NULL, NULL, false },
        { "PIN types swapped", "pin-types-swapped", NULL, p_swapped, false },
        { "one global current device", "global-device", NULL, p_global, false },
        { "DEVINFO not packed", "natural-devinfo", NULL, p_natural, false },
        { "BOOL of 64 bits", "", vskf_bool64, p_bool64, false },
        { "SKF_WaitForDevEvent returning at once", "wait-returns-at-once", NULL, NULL, true },
        { "no SKF_WaitForDevEvent", "", vskf_nowait, NULL, true },
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        deviation_case(&cases[i], der, der_len);
}

static bool setup_paths(void)
{
    const char *b = getenv("UKEYD_BUILD");

    snprintf(build, sizeof build, "%s", b ? b : "build");
    snprintf(work, sizeof work, "/tmp/ukeyd-test-skf-host.XXXXXX");
    if (!mkdtemp(work))
        return false;
    snprintf(helper, sizeof helper, "%s/ukeyd-skf-host", build);
    snprintf(vskf_cli, sizeof vskf_cli, "%s/vskf/vskf", build);
    snprintf(vskf_lib, sizeof vskf_lib, "%s/vskf/libvskf.so", build);
    snprintf(faulty, sizeof faulty, "%s/skf-faulty/libskf-faulty.so", build);
    snprintf(faulty_nowait, sizeof faulty_nowait, "%s/skf-faulty/libskf-faulty-nowait.so", build);
    snprintf(faulty_noverify, sizeof faulty_noverify, "%s/skf-faulty/libskf-faulty-noverify.so", build);
    snprintf(vskf_bool64, sizeof vskf_bool64, "%s/vskf/libvskf-bool64.so", build);
    snprintf(vskf_nowait, sizeof vskf_nowait, "%s/vskf/libvskf-nowait.so", build);
    snprintf(devdir, sizeof devdir, "%s/devices", work);
    snprintf(control, sizeof control, "%s/control", work);
    return true;
}

static bool setup_token(uint8_t **der, size_t *der_len)
{
    char key[PATH_LEN], cert[PATH_LEN], derpath[PATH_LEN];

    snprintf(key, sizeof key, "%s/sign.key", work);
    snprintf(cert, sizeof cert, "%s/sign.pem", work);
    snprintf(derpath, sizeof derpath, "%s/sign.der", work);
    mkdir(devdir, 0700);
    command("");
    setenv("VSKF_DIR", devdir, 1);
    setenv("SKF_FAULTY_TARGET", vskf_lib, 1);
    setenv("SKF_FAULTY_CONTROL", control, 1);
    tap_ok(exists(helper), "the helper program is built (%s)", helper);
    tap_ok(exists(faulty) && exists(faulty_nowait) && exists(faulty_noverify), "the faulty libraries are built");
    return tap_ok(run("openssl genpkey -algorithm SM2 -out '%s' && "
                      "openssl req -new -x509 -key '%s' -sm3 -subj '/CN=测试用户' -days 30 -out '%s' && "
                      "openssl x509 -in '%s' -outform DER -out '%s' && "
                      "'%s' provision '%s' %s --serial SN-0001 --label 测试钥匙 --container %s "
                      "--sign-cert '%s' --sign-key '%s' && '%s' plug '%s' %s",
                      key, key, cert, cert, derpath, vskf_cli, devdir, DEV, CON, cert, key,
                      vskf_cli, devdir, DEV) == 0 &&
                  read_file(derpath, der, der_len),
                  "a virtual token provisioned with an SM2 signing certificate and plugged");
}

int main(void)
{
    struct skf_host *h;
    uint8_t *der = NULL;
    size_t der_len = 0;
    char why[512] = "";

    signal(SIGPIPE, SIG_IGN);
    if (!setup_paths())
        tap_skip_all("cannot make a temporary directory");
    if (!exists(vskf_lib) || !exists(vskf_cli)) {
        rmdir(work);
        tap_skip_all("the virtual SKF token (tests/vskf) is not built in this build directory");
    }
    test_library_refused();
    if (setup_token(&der, &der_len)) {
        if (TAP_EQ_STR(skf_err_name(start(faulty, NULL, true, 0, &h, why, sizeof why)), "OK",
                       "the helper starts over the virtual token")) {
            test_reads(h, der, der_len);
            test_read_device(h, der, der_len);
            test_read_device_many(h);
            test_seals(h);
            test_pins(h);
            test_cert_writes(h, der, der_len);
            test_remote_unblock(h);
            test_remote_unblock_held(h);
            test_events("SKF_WaitForDevEvent");
            test_faults(h);
            test_no_network(h);
            test_event_thread_crash(h);
            skf_host_stop(h);
        } else {
            tap_diag("%s", why);
        }
        test_backoff();
        test_optional_absent();
        test_wait_at_once();
        test_deviations(der, der_len);
    }
    tap_ok(no_children_left(), "no helper process left behind, no zombie");
    free(der);
    run("rm -rf '%s'", work);
    return tap_done();
}
